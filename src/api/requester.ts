// The calling side of requests: correlation ids, per-attempt timeouts, and
// the retry loop that follows not_leader hints to the leader. A command is
// retried only after a definite rejection (it did not enter the log), never
// after a timeout, whose outcome is unknown. Callback-based inside, so that
// simulated clients stay on virtual time; promise wrappers for the public API.
import { TimeoutError, ConcordError } from '../lib/errors.js';
import type { Clock, TimerHandle } from '../io/clock.js';
import type { Random } from '../io/random.js';
import type { Request, RequestEnvelope, Response, ResponseEnvelope } from '../transport/transport.js';
import { ClusterNotFoundError, NoLeaderError, ShutdownError, fromWire } from './errors.js';

/** Options of one request. */
export interface RequestOptions {
  /** Overall deadline, retries included (default: the requester's default, 5000 ms). */
  timeoutMs?: number;
  /** Ask this member (no leader following) instead of the leader. */
  member?: string;
}

/** Completion of a request: an error, or the value. */
export type RequestCallback = (error: ConcordError | null, value: unknown) => void;

/** Hears of every request as it starts; what `begin` returns hears of its end. */
export interface RequestProbe {
  /** A request for `cluster` starts at `startMs` (the requester's clock). */
  begin(cluster: string, body: Request, startMs: number): RequestEnd;
}

/** Hears that a request ended at `endMs`, after `attempts` attempts (sends to a member, retries included). */
export interface RequestEnd {
  (error: ConcordError | null, attempts: number, endMs: number): void;
  /** The request's span as a W3C traceparent, sent with every attempt so that the serving node's span joins the trace. */
  readonly traceparent?: string | undefined;
}

/** Deadlines are checked by one sweep, at most this often: a timeout may fire this much late. */
const sweepGranularityMs = 20;

const retryable = new Set(['not_leader', 'no_leader', 'overloaded', 'cluster_not_found', 'member_failed']);

/** Requests that may be sent again after a timeout without risk of applying twice. */
function repeatable(body: Request): boolean {
  switch (body.type) {
    case 'query':
    case 'members':
      return true;
    case 'command':
      return body.session !== undefined;
    default:
      return false;
  }
}

/** A random first request id (see Requester's `firstId`), leaving room for 2^51 requests. */
export function firstRequestId(random: Random): number {
  return Math.floor(random.next() * 2 ** 51) + 1;
}

/** Sends requests to the members of clusters and follows leader hints. */
export class Requester {
  /** Best known leader per cluster. */
  readonly leaders = new Map<string, string>();
  /** Known members per cluster. */
  readonly members = new Map<string, readonly string[]>();
  private readonly pending = new Map<number, Call>();
  private sweepTimer: TimerHandle | undefined;
  private sweepAt = Infinity;
  private nextId: number;
  private closed = false;
  /** Told of every request, when set (telemetry). */
  probe: RequestProbe | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly nodeId: string,
    private readonly deliver: (node: string, env: RequestEnvelope) => void,
    private readonly defaultTimeoutMs = 5000,
    /** @internal Whether the transport believes `node` is up: a request to a down node would only time out. */
    readonly isLive: (node: string) => boolean = () => true,
    /**
     * Where request ids start. Responses are matched by id, and a process that
     * restarts under the same node id receives late responses meant for its
     * previous incarnation: starting each incarnation at a random point keeps
     * those from answering new requests (simulator, seed 4097: an increment
     * answered with another request's result).
     */
    firstId = 1,
  ) {
    this.nextId = firstId;
  }

  /** @internal One attempt of `call`: sends to `call.node`; the call hears of its response, or of a timeout after `timeoutMs`. */
  send(call: Call, timeoutMs: number, now: number): void {
    if (this.closed) return call.settle(new ShutdownError(), undefined);
    const id = this.nextId++;
    call.attemptId = id;
    call.attemptDeadline = now + timeoutMs;
    call.attemptMs = timeoutMs;
    this.pending.set(id, call);
    this.armSweep(call.attemptDeadline, now);
    const trace = call.end?.traceparent;
    if (trace === undefined) this.deliver(call.node, { type: 'request', id, from: this.nodeId, cluster: call.cluster, body: call.body });
    else this.deliver(call.node, { type: 'request', id, from: this.nodeId, cluster: call.cluster, body: call.body, trace });
  }

  /**
   * One timer for all deadlines (thousands of requests may be in flight):
   * it is armed for the earliest deadline, but never sooner than the granularity.
   */
  private armSweep(deadline: number, now: number): void {
    const at = Math.max(deadline, now + sweepGranularityMs);
    if (this.sweepTimer !== undefined && this.sweepAt <= at) return;
    if (this.sweepTimer !== undefined) this.clock.clearTimer(this.sweepTimer);
    this.sweepAt = at;
    this.sweepTimer = this.clock.setTimer(at - now, () => this.sweep());
  }

  private sweep(): void {
    this.sweepTimer = undefined;
    this.sweepAt = Infinity;
    const now = this.clock.now();
    let earliest = Infinity;
    const expired: Call[] = [];
    // By value, not by entry: an entry is a new array, and thousands are in flight under load.
    for (const call of this.pending.values()) {
      if (call.attemptDeadline <= now) {
        this.pending.delete(call.attemptId);
        expired.push(call);
      } else if (call.attemptDeadline < earliest) earliest = call.attemptDeadline;
    }
    if (earliest < Infinity) this.armSweep(earliest, now);
    for (const call of expired) call.onAttempt(new TimeoutError(`no answer from ${call.node} for ${call.cluster} within ${call.attemptMs} ms`), undefined);
  }

  /** Delivers a response to its waiting request (unknown ids are late answers: dropped). */
  onResponse(env: Pick<ResponseEnvelope, 'id' | 'body'>): void {
    const call = this.pending.get(env.id);
    if (call === undefined) return;
    this.pending.delete(env.id);
    call.onAttempt(null, env.body);
  }

  /**
   * `node` went down: its pending attempts end now, as if timed out, so that
   * repeatable requests move on to another member at once.
   */
  nodeDown(node: string): void {
    // Collected first: a callback may retry at once, to the same node (a cluster of one), and
    // adding to the map while iterating it would visit the retry too, for ever.
    const ended: Call[] = [];
    for (const call of this.pending.values()) {
      if (call.node !== node) continue;
      this.pending.delete(call.attemptId);
      ended.push(call);
    }
    for (const call of ended) call.onAttempt(new TimeoutError(`${node} went down before answering`), undefined);
  }

  /**
   * Sends `body` to the cluster's leader (or `options.member`), following
   * not_leader hints and retrying definite rejections until the deadline.
   */
  request(cluster: string, body: Request, options: RequestOptions, cb: RequestCallback): void {
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const member = options.member;
    const node = member ?? this.liveLeader(cluster) ?? this.firstMember(cluster);
    const now = this.clock.now(); // read once per request: a clock read is a measurable share of a small request
    const call = new Call(this, cluster, body, member, node, timeoutMs, now + timeoutMs, cb);
    if (this.probe !== undefined) call.end = this.probe.begin(cluster, body, now);
    call.next(now);
  }

  /** `request` as a promise. */
  requestAsync(cluster: string, body: Request, options: RequestOptions = {}): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.request(cluster, body, options, (err, value) => (err === null ? resolve(value) : reject(err)));
    });
  }

  /** Fails every pending request with ShutdownError. */
  close(): void {
    this.closed = true;
    if (this.sweepTimer !== undefined) this.clock.clearTimer(this.sweepTimer);
    this.sweepTimer = undefined;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const call of all) call.settle(new ShutdownError(), undefined);
  }

  /** `node` hosts no member of `cluster` (any more): stop asking it. */
  /** @internal */
  forget(cluster: string, node: string): void {
    if (this.leaders.get(cluster) === node) this.leaders.delete(cluster);
    const members = this.members.get(cluster);
    if (members !== undefined && members.includes(node) && members.length > 1) {
      this.members.set(cluster, members.filter((m) => m !== node));
    }
  }

  /** @internal The clock's time. */
  now(): number {
    return this.clock.now();
  }

  /** @internal Runs `fn` after `ms`. */
  later(ms: number, fn: () => void): void {
    this.clock.setTimer(ms, fn);
  }

  private liveLeader(cluster: string): string | undefined {
    const hint = this.leaders.get(cluster);
    return hint !== undefined && this.isLive(hint) ? hint : undefined;
  }

  private firstMember(cluster: string): string {
    const members = this.members.get(cluster);
    if (members === undefined || members.length === 0) return this.nodeId;
    if (members.includes(this.nodeId)) return this.nodeId;
    return members.find((m) => this.isLive(m)) ?? (members[0] as string);
  }

  /** The next member after `current` that looks alive (or simply the next one). */
  /** @internal */
  nextMember(cluster: string, current: string, round: number): string {
    const members = this.members.get(cluster);
    if (members === undefined || members.length === 0) return current;
    const at = members.indexOf(current);
    for (let k = 1; k <= members.length; k++) {
      const m = members[(at + k + round) % members.length] as string;
      if (m !== current && this.isLive(m)) return m;
    }
    return members[(at + 1 + round) % members.length] as string;
  }
}

/**
 * One request in progress: where it is being sent, what went wrong so far,
 * and, while an attempt is out, that attempt's deadline. One object per
 * request instead of a closure per step: thousands are in flight under load.
 */
class Call {
  /** Set while an attempt is out (the sweep reads them). */
  attemptId = 0;
  attemptDeadline = 0;
  attemptMs = 0;
  private lastError: ConcordError | undefined;
  private round = 0;
  private hops = 0;
  /**
   * A command that times out may have been applied: never retry it (unless a
   * client session makes it exactly-once). Reads are safe to repeat, so one
   * silent member must not use up the whole deadline.
   */
  private readonly idempotent: boolean;
  /** Whether the current attempt has the rest of the deadline (no retry after it times out). */
  private finalAttempt = false;
  /** `next` as a timer callback, made only when a retry waits. */
  private nextFn: (() => void) | undefined;
  /** Told of the end, when a probe watches requests. */
  end: RequestEnd | undefined;

  constructor(
    private readonly requester: Requester,
    readonly cluster: string,
    readonly body: Request,
    /** Ask this member only (no leader following). */
    private readonly member: string | undefined,
    /** Where the current attempt goes. */
    public node: string,
    private readonly timeoutMs: number,
    private readonly deadline: number,
    private readonly callback: RequestCallback,
  ) {
    this.idempotent = member === undefined && repeatable(body);
  }

  /** Sends the next attempt, or gives up past the deadline. */
  next(now = this.requester.now()): void {
    const left = this.deadline - now;
    if (left <= 0) return this.giveUp();
    const slice = this.idempotent ? Math.min(left, Math.min(2000, Math.max(250, this.timeoutMs / 4))) : left;
    this.finalAttempt = slice >= left;
    this.requester.send(this, slice, now);
  }

  /** Ends the call. */
  settle(error: ConcordError | null, value: unknown): void {
    this.end?.(error, this.round, this.requester.now());
    this.callback(error, value);
  }

  /** The current attempt ended: a response, or an error (a timeout, or the node went down). */
  onAttempt(err: ConcordError | null, response: Response | undefined): void {
    const r = this.requester;
    this.round++;
    if (err !== null) {
      if (!(err instanceof TimeoutError) || this.finalAttempt) return this.settle(err, undefined);
      this.lastError = err;
      r.leaders.delete(this.cluster);
      this.node = r.nextMember(this.cluster, this.node, this.round);
      return this.next();
    }
    const res = response as Response;
    if (res.ok) {
      if (this.member === undefined) r.leaders.set(this.cluster, this.node);
      return this.settle(null, res.value);
    }
    const error = fromWire(res.error);
    if (!retryable.has(error.code) || this.member !== undefined) return this.settle(error, undefined);
    this.lastError = error;
    if (error.code === 'cluster_not_found' || error.code === 'member_failed') r.forget(this.cluster, this.node);
    const pause = Math.min(10 * 2 ** Math.min(this.round, 5), Math.max(0, this.deadline - r.now()));
    const hint = res.error.leader;
    if (hint !== undefined && hint !== this.node && r.isLive(hint)) {
      r.leaders.set(this.cluster, hint);
      this.node = hint;
      // Hints can point at each other for a while (a leadership transfer, an election):
      // follow the first two at once, then back off instead of bouncing at network speed.
      if (++this.hops <= 2) return this.next();
      r.later(pause, (this.nextFn ??= () => this.next()));
      return;
    }
    r.leaders.delete(this.cluster);
    this.node = r.nextMember(this.cluster, this.node, this.round);
    r.later(pause, (this.nextFn ??= () => this.next()));
  }

  private giveUp(): void {
    const code = this.lastError?.code;
    if (code === 'cluster_not_found') return this.settle(new ClusterNotFoundError(this.cluster), undefined);
    if (code === 'not_leader' || code === 'no_leader') return this.settle(new NoLeaderError(`no leader for ${this.cluster} within ${this.timeoutMs} ms`), undefined);
    this.settle(this.lastError ?? new TimeoutError(`${this.cluster}: timed out after ${this.timeoutMs} ms`), undefined);
  }
}
