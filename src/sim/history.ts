// The history of one simulated run: every client operation with its virtual
// invoke and completion times and how it ended (ok / fail / unknown), in the
// checker's Operation form, plus what the simulator needs to resolve unknown
// operations from the committed log.
import type { Call, Operation, OpStatus } from './checker/history.js';

/** How a recorded operation reached the cluster. */
export type OpKind = 'command' | 'query';

/** One operation as the simulator records it (mutable until it completes). */
export interface SimOp {
  readonly id: number;
  readonly client: string;
  readonly cluster: string;
  readonly call: Call;
  readonly kind: OpKind;
  /** Tags that name the command in the committed log (op tag, session tag). */
  readonly tags: readonly string[];
  /** Sent through a client session (may legitimately appear more than once in the log). */
  readonly session: boolean;
  /** Virtual ms since the run began. */
  readonly invoke: number;
  complete: number;
  status: OpStatus | 'pending';
  output: unknown;
  /** The error code, for fail and unknown. */
  error: string | undefined;
}

/** Records operations as clients run them. */
export class History {
  readonly ops: SimOp[] = [];

  constructor(private readonly now: () => number) {}

  /** A client sends an operation. */
  invoke(client: string, cluster: string, call: Call, kind: OpKind, tags: readonly string[], session: boolean): SimOp {
    const op: SimOp = { id: this.ops.length, client, cluster, call, kind, tags, session, invoke: this.now(), complete: Infinity, status: 'pending', output: undefined, error: undefined };
    this.ops.push(op);
    return op;
  }

  /** The operation ended: `ok` with its output, `fail` (certainly no effect) or `unknown`. */
  complete(op: SimOp, status: OpStatus, output: unknown, error: string | undefined): void {
    op.status = status;
    op.complete = this.now();
    op.output = output;
    op.error = error;
  }

  /** Operations still waiting for an answer. */
  pending(): number {
    let n = 0;
    for (const op of this.ops) if (op.status === 'pending') n++;
    return n;
  }

  /** The operations of `cluster` in the checker's form (pending ones count as unknown). */
  operations(cluster: string): Operation<Call, unknown>[] {
    const out: Operation<Call, unknown>[] = [];
    for (const op of this.ops) {
      if (op.cluster !== cluster) continue;
      const status: OpStatus = op.status === 'pending' ? 'unknown' : op.status;
      const key = op.call.key === undefined ? {} : { key: op.call.key };
      out.push({ f: op.call.f, ...key, input: op.call.input, id: op.id, client: op.client, invoke: op.invoke, complete: op.complete, status, output: op.output });
    }
    return out;
  }

  /** The recorded operation behind a checker operation. */
  byId(id: number | string): SimOp | undefined {
    return typeof id === 'number' ? this.ops[id] : undefined;
  }
}
