// Simulated clients: each runs one operation at a time against one cluster,
// through the System of a live node (as a process embedding Concord would),
// with a timeout, and records it in the History. Plain clients rely on
// the requester's rules (a command is retried only after a definite
// rejection); session clients tag commands with a session and a sequence
// number, so retries after timeouts are safe and every command can be
// found in the log.
import type { ConcordError } from '../lib/errors.js';
import type { Random } from '../io/random.js';
import type { Request } from '../transport/transport.js';
import { commandRequest } from '../api/session.js';
import { sessionTag } from './committed_log.js';
import type { OpStatus } from './checker/history.js';
import type { History, SimOp } from './history.js';
import type { AnyWorkload, ClientMemory, PlannedOp } from './workload.js';
import type { World } from './world.js';

/** How one client behaves. */
export interface ClientSpec {
  readonly id: string;
  readonly cluster: string;
  readonly workload: AnyWorkload;
  /** Commands through a client session (exactly-once, retried after timeouts). */
  readonly session: boolean;
  /** Deadline of each operation (default 1500 ms). */
  readonly timeoutMs?: number;
  /** Pause between operations, in ms (default [0, 20]). */
  readonly thinkMs?: readonly [number, number];
  /** Nodes the client may call through (default: any live node). */
  readonly via?: readonly string[];
  /** Probability of drawing again when the workload offers a command (up to 3 times): more reads (default 0). */
  readBias?: number;
}

/** What the run learns from clients (coverage and trace). */
export interface ClientHooks {
  /** An operation was sent through `node`. */
  readonly invoked?: (op: SimOp, node: string) => void;
  /** An operation ended. */
  readonly completed?: (op: SimOp, error: ConcordError | null) => void;
  /** Anything else worth a trace line (session registrations). */
  readonly note?: (client: string, text: string) => void;
}

/** Codes after which a plain command certainly did not take effect (every attempt was refused before entering a log). */
const definite = new Set(['not_leader', 'no_leader', 'cluster_not_found', 'overloaded', 'invalid_argument', 'membership_change_in_progress', 'membership_changed', 'transfer_in_progress']);

/**
 * How an operation ended. Reads have no effect, so any error is a failure.
 * A plain command that timed out or met a shutdown may have taken effect;
 * one refused with a definite code (the requester never retries after a
 * timeout) did not. A session command is retried after timeouts, so an
 * error at the end says nothing about earlier attempts: always unknown.
 */
export function classify(op: SimOp, session: boolean, error: ConcordError): OpStatus {
  if (op.kind === 'query') return 'fail';
  if (session) return 'unknown';
  return definite.has(error.code) ? 'fail' : 'unknown';
}

/** One simulated client. */
export class SimClient {
  private node: string | undefined;
  private sessionId: number | undefined;
  private seq = 0;
  private count = 0;
  private running = false;
  private inFlight = false;
  private readonly memory: ClientMemory = { seen: new Map() };

  constructor(
    private readonly world: World,
    private readonly history: History,
    readonly spec: ClientSpec,
    private readonly random: Random,
    private readonly hooks: ClientHooks = {},
  ) {}

  /** Starts issuing operations. */
  start(): void {
    this.running = true;
    this.later(0);
  }

  /** Issues no new operation (the one in flight still completes). */
  stop(): void {
    this.running = false;
  }

  /** True while an operation waits for its answer. */
  get busy(): boolean {
    return this.inFlight;
  }

  private later(ms: number): void {
    this.world.clock.setTimer(ms, () => this.next());
  }

  private think(): number {
    const [lo, hi] = this.spec.thinkMs ?? [0, 20];
    return lo + this.random.next() * (hi - lo);
  }

  /** A live node to call through: the same one while it lives, sometimes another. */
  private pickNode(): string | undefined {
    const via = this.spec.via;
    const live = [...this.world.systems.keys()].filter((n) => via === undefined || via.includes(n));
    if (live.length === 0) return undefined;
    if (this.node === undefined || !this.world.systems.has(this.node) || this.random.chance(0.1)) this.node = this.random.pick(live);
    return this.node;
  }

  private next(): void {
    if (!this.running) return;
    const node = this.pickNode();
    if (node === undefined) return this.later(20);
    if (this.spec.session && this.sessionId === undefined) return this.register(node);
    this.run(node, this.plan());
  }

  private plan(): PlannedOp {
    const draw = (): PlannedOp => this.spec.workload.next(this.random, `${this.spec.id}.${++this.count}`, this.memory) as PlannedOp;
    let planned = draw();
    const bias = this.spec.readBias ?? 0;
    for (let i = 0; i < 3 && planned.request.type === 'command' && bias > 0 && this.random.chance(bias); i++) planned = draw();
    return planned;
  }

  private register(node: string): void {
    this.inFlight = true;
    this.hooks.note?.(this.spec.id, `opens a session via ${node}`);
    this.world.system(node).submit(this.spec.cluster, { type: 'register_session' }, { timeoutMs: this.spec.timeoutMs ?? 1500 }, (err, id) => {
      this.inFlight = false;
      if (err === null) this.sessionId = id as number;
      this.hooks.note?.(this.spec.id, err === null ? `has session ${String(id)}` : `could not open a session: ${err.code}`);
      this.later(err === null ? 0 : 50);
    });
  }

  private run(node: string, planned: PlannedOp): void {
    const s = this.spec;
    const req = planned.request;
    const tags: string[] = [];
    let body: Request;
    if (req.type === 'query') {
      body = { type: 'query', mode: 'consistent', query: { type: 'named', name: req.name, args: req.args ?? null } };
    } else {
      const session = this.sessionId === undefined ? undefined : { id: this.sessionId, seq: ++this.seq, acked: this.seq - 1 };
      if (s.workload.tagged === true) tags.push(`${s.id}.${this.count}`);
      if (session !== undefined) tags.push(sessionTag(session.id, session.seq));
      body = commandRequest(req.command, session);
    }
    const op = this.history.invoke(s.id, s.cluster, planned.call, req.type, tags, this.sessionId !== undefined && req.type === 'command');
    this.hooks.invoked?.(op, node);
    this.inFlight = true;
    this.world.system(node).submit(s.cluster, body, { timeoutMs: s.timeoutMs ?? 1500 }, (err, value) => {
      this.inFlight = false;
      this.finish(op, err, value);
      this.later(this.think());
    });
  }

  private finish(op: SimOp, err: ConcordError | null, value: unknown): void {
    const w = this.spec.workload;
    if (err === null) {
      const output = w.output === undefined ? value : w.output(op.call, value);
      this.history.complete(op, 'ok', output, undefined);
      w.remember?.(this.memory, op.call, output);
    } else {
      this.history.complete(op, classify(op, this.spec.session, err), undefined, err.code);
      if (err.code === 'session_expired') this.sessionId = undefined;
    }
    this.hooks.completed?.(op, err);
  }
}
