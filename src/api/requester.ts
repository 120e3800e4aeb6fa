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

interface Pending {
  cb: (error: ConcordError | null, response: Response | undefined) => void;
  deadline: number;
  node: string;
  cluster: string;
  timeoutMs: number;
}

/** Deadlines are checked by one sweep, at most this often: a timeout may fire this much late. */
const sweepGranularityMs = 20;

const retryable = new Set(['not_leader', 'no_leader', 'overloaded', 'cluster_not_found']);

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
  private readonly pending = new Map<number, Pending>();
  private sweepTimer: TimerHandle | undefined;
  private sweepAt = Infinity;
  private nextId: number;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly nodeId: string,
    private readonly deliver: (node: string, env: RequestEnvelope) => void,
    private readonly defaultTimeoutMs = 5000,
    /** Whether the transport believes `node` is up: a request to a down node would only time out. */
    private readonly isLive: (node: string) => boolean = () => true,
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

  /** One attempt: sends to `node`; `cb` gets its response, or a TimeoutError after `timeoutMs`. */
  attempt(node: string, cluster: string, body: Request, timeoutMs: number, cb: Pending['cb']): void {
    if (this.closed) return cb(new ShutdownError(), undefined);
    const id = this.nextId++;
    const deadline = this.clock.now() + timeoutMs;
    this.pending.set(id, { cb, deadline, node, cluster, timeoutMs });
    this.armSweep(deadline);
    this.deliver(node, { type: 'request', id, from: this.nodeId, cluster, body });
  }

  /**
   * One timer for all deadlines (thousands of requests may be in flight):
   * it is armed for the earliest deadline, but never sooner than the granularity.
   */
  private armSweep(deadline: number): void {
    const at = Math.max(deadline, this.clock.now() + sweepGranularityMs);
    if (this.sweepTimer !== undefined && this.sweepAt <= at) return;
    if (this.sweepTimer !== undefined) this.clock.clearTimer(this.sweepTimer);
    this.sweepAt = at;
    this.sweepTimer = this.clock.setTimer(at - this.clock.now(), () => this.sweep());
  }

  private sweep(): void {
    this.sweepTimer = undefined;
    this.sweepAt = Infinity;
    const now = this.clock.now();
    let earliest = Infinity;
    const expired: Pending[] = [];
    for (const [id, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(id);
        expired.push(p);
      } else if (p.deadline < earliest) earliest = p.deadline;
    }
    if (earliest < Infinity) this.armSweep(earliest);
    for (const p of expired) p.cb(new TimeoutError(`no answer from ${p.node} for ${p.cluster} within ${p.timeoutMs} ms`), undefined);
  }

  /** Delivers a response to its waiting request (unknown ids are late answers: dropped). */
  onResponse(env: Pick<ResponseEnvelope, 'id' | 'body'>): void {
    const p = this.pending.get(env.id);
    if (p === undefined) return;
    this.pending.delete(env.id);
    p.cb(null, env.body);
  }

  /**
   * `node` went down: its pending attempts end now, as if timed out, so that
   * repeatable requests move on to another member at once.
   */
  nodeDown(node: string): void {
    // Collected first: a callback may retry at once, to the same node (a cluster of one), and
    // adding to the map while iterating it would visit the retry too, for ever.
    const ended: Pending[] = [];
    for (const [id, p] of this.pending) {
      if (p.node !== node) continue;
      this.pending.delete(id);
      ended.push(p);
    }
    for (const p of ended) p.cb(new TimeoutError(`${node} went down before answering`), undefined);
  }

  /**
   * Sends `body` to the cluster's leader (or `options.member`), following
   * not_leader hints and retrying definite rejections until the deadline.
   */
  request(cluster: string, body: Request, options: RequestOptions, cb: RequestCallback): void {
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const deadline = this.clock.now() + timeoutMs;
    // A command that times out may have been applied: never retry it (unless a client
    // session makes it exactly-once). Reads are safe to repeat, so one silent member
    // must not use up the whole deadline.
    const idempotent = options.member === undefined && repeatable(body);
    let node = options.member ?? this.liveLeader(cluster) ?? this.firstMember(cluster);
    let lastError: ConcordError | undefined;
    let round = 0;
    let hops = 0;
    const giveUp = (): void => {
      if (lastError?.code === 'cluster_not_found') return cb(new ClusterNotFoundError(cluster), undefined);
      if (lastError?.code === 'not_leader' || lastError?.code === 'no_leader') {
        return cb(new NoLeaderError(`no leader for ${cluster} within ${timeoutMs} ms`), undefined);
      }
      cb(lastError ?? new TimeoutError(`${cluster}: timed out after ${timeoutMs} ms`), undefined);
    };
    const next = (): void => {
      const left = deadline - this.clock.now();
      if (left <= 0) return giveUp();
      const slice = idempotent ? Math.min(left, Math.min(2000, Math.max(250, timeoutMs / 4))) : left;
      this.attempt(node, cluster, body, slice, (err, response) => {
        round++;
        if (err !== null) {
          if (!(err instanceof TimeoutError) || slice >= left) return cb(err, undefined);
          lastError = err;
          this.leaders.delete(cluster);
          node = this.nextMember(cluster, node, round);
          return next();
        }
        const r = response as Response;
        if (r.ok) {
          if (options.member === undefined) this.leaders.set(cluster, node);
          return cb(null, r.value);
        }
        const error = fromWire(r.error);
        if (!retryable.has(error.code) || options.member !== undefined) return cb(error, undefined);
        lastError = error;
        if (error.code === 'cluster_not_found') this.forget(cluster, node);
        const pause = Math.min(10 * 2 ** Math.min(round, 5), Math.max(0, deadline - this.clock.now()));
        const hint = r.error.leader;
        if (hint !== undefined && hint !== node && this.isLive(hint)) {
          this.leaders.set(cluster, hint);
          node = hint;
          // Hints can point at each other for a while (a leadership transfer, an election):
          // follow the first two at once, then back off instead of bouncing at network speed.
          if (++hops <= 2) return next();
          this.clock.setTimer(pause, next);
          return;
        }
        this.leaders.delete(cluster);
        node = this.nextMember(cluster, node, round);
        this.clock.setTimer(pause, next);
      });
    };
    next();
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
    for (const p of all) p.cb(new ShutdownError(), undefined);
  }

  /** `node` hosts no member of `cluster` (any more): stop asking it. */
  private forget(cluster: string, node: string): void {
    if (this.leaders.get(cluster) === node) this.leaders.delete(cluster);
    const members = this.members.get(cluster);
    if (members !== undefined && members.includes(node) && members.length > 1) {
      this.members.set(cluster, members.filter((m) => m !== node));
    }
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
  private nextMember(cluster: string, current: string, round: number): string {
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
