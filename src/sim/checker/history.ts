// Histories: the operations clients ran against a replicated machine, with
// virtual invoke/complete times, and the invoke/ok/fail/unknown event form.
import { InvalidArgumentError } from '../../lib/errors.js';

/** What a client asked for: a function, the key it touches (if any) and its argument (plain JSON). */
export interface Call {
  readonly f: string;
  readonly key?: string;
  readonly input: unknown;
}

/**
 * How an operation ended: `ok` (output known), `fail` (definitely did not
 * take effect), `unknown` (timed out: may or may not have taken effect, at
 * any time after its invoke).
 */
export type OpStatus = 'ok' | 'fail' | 'unknown';

/** Who ran an operation, when, and how it ended; the part of an Operation beside its Call. */
export interface OpRecord<O> {
  readonly id: number | string;
  readonly client: number | string;
  /** The result; read only when `status` is `ok`. */
  readonly output?: O | undefined;
  /** Virtual time the client sent the call. */
  readonly invoke: number;
  /** Virtual time the client saw the result; ignored (taken as +Infinity) when `status` is `unknown`. */
  readonly complete: number;
  readonly status: OpStatus;
}

/** One operation of a history. Intervals are closed: touching intervals count as concurrent. */
export type Operation<C extends Call = Call, O = unknown> = C & OpRecord<O>;

/** Fields every history event carries. */
interface EventBase {
  readonly client: number | string;
  readonly time: number;
}

/**
 * One event of a history in Jepsen's form. A client has at most one call in
 * flight: a completion event completes that client's pending invoke.
 */
export type HistoryEvent<C extends Call = Call, O = unknown> =
  | (C & EventBase & { readonly type: 'invoke'; readonly id?: number | string })
  | (EventBase & { readonly type: 'ok'; readonly output: O })
  | (EventBase & { readonly type: 'fail' })
  | (EventBase & { readonly type: 'unknown' });

type InvokeEvent<C extends Call> = C & EventBase & { readonly type: 'invoke'; readonly id?: number | string };

function toOperation<C extends Call, O>(
  invoke: InvokeEvent<C>,
  id: number | string,
  end: { status: OpStatus; complete: number; output?: O },
): Operation<C, O> {
  const { type: _type, time, id: _id, ...call } = invoke;
  const record: OpRecord<O> = { id, client: invoke.client, invoke: time, ...end };
  return { ...call, ...record } as unknown as Operation<C, O>;
}

/**
 * Converts an event list to operations, in invoke order. Invokes left
 * pending at the end of the list become `unknown`. Throws
 * InvalidArgumentError on a completion without a pending invoke, a second
 * invoke while one is pending, or time going backwards for a client.
 */
export function fromEvents<C extends Call, O>(events: readonly HistoryEvent<C, O>[]): Operation<C, O>[] {
  const pending = new Map<number | string, { event: InvokeEvent<C>; slot: number }>();
  const ops: (Operation<C, O> | undefined)[] = [];
  events.forEach((event, i) => {
    const open = pending.get(event.client);
    if (event.type === 'invoke') {
      if (open !== undefined) throw new InvalidArgumentError(`event ${i}: client ${event.client} invoked twice`);
      pending.set(event.client, { event: event as InvokeEvent<C>, slot: ops.length });
      ops.push(undefined);
      return;
    }
    if (open === undefined) throw new InvalidArgumentError(`event ${i}: ${event.type} without a pending invoke`);
    if (event.time < open.event.time) throw new InvalidArgumentError(`event ${i}: completes before its invoke`);
    pending.delete(event.client);
    const id = open.event.id ?? open.slot;
    const end = event.type === 'ok' ? { output: event.output } : {};
    ops[open.slot] = toOperation<C, O>(open.event, id, { status: event.type, complete: event.time, ...end });
  });
  for (const { event, slot } of pending.values()) {
    ops[slot] = toOperation<C, O>(event, event.id ?? slot, { status: 'unknown', complete: Infinity });
  }
  return ops as Operation<C, O>[];
}

/** Throws InvalidArgumentError unless every operation has a finite invoke and, unless unknown, complete >= invoke. */
export function validateHistory(ops: readonly Operation<Call, unknown>[]): void {
  for (const op of ops) {
    if (!Number.isFinite(op.invoke)) throw new InvalidArgumentError(`operation ${op.id}: invoke must be finite`);
    if (op.status === 'unknown') continue;
    if (!(op.complete >= op.invoke)) {
      throw new InvalidArgumentError(`operation ${op.id}: complete ${op.complete} before invoke ${op.invoke}`);
    }
    if (op.status !== 'ok' && op.status !== 'fail') {
      throw new InvalidArgumentError(`operation ${op.id}: unknown status ${JSON.stringify(op.status)}`);
    }
  }
}
