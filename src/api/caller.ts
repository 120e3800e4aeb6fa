// The calling side of the public API, shared by System (a node that may host
// members) and Client (a process that hosts none): commands, pipelined
// commands, the three queries, membership changes, leadership transfer and
// exactly-once sessions, all sent through a Requester that follows leaders.
import { ConcordError } from '../lib/errors.js';
import { isName } from '../lib/names.js';
import { sleep, type Clock } from '../io/clock.js';
import type { Random } from '../io/random.js';
import type { ServerStatus } from '../raft/server/server.js';
import type { Role } from '../raft/core/types.js';
import type { QuerySpec, Request } from '../transport/transport.js';
import type { Requester, RequestCallback, RequestOptions, RequestProbe } from './requester.js';
import { Session, commandRequest, openSession } from './session.js';

/** What `nodeOverview` returns. */
export interface NodeOverview {
  readonly node: string;
  /** Every member's status (empty when asked for `brief`). */
  readonly servers: ServerStatus[];
  /** How many members the node hosts in each role. */
  readonly roles: Partial<Record<Role, number>>;
  /** Members that crashed too often or could not start, with the last reason (`restartServer` tries one again). */
  readonly failed: readonly { readonly cluster: string; readonly reason: string }[];
}
/** What changeMembership answers when another change got in first. */
const changedMeanwhile = Symbol('changed meanwhile');

/** Options of a command or query call. */
export type CallOptions = RequestOptions;

/** Options of `addMember` and `removeMember`. */
export interface MembershipOptions extends CallOptions {
  /**
   * Apply the change only to the configuration at this index (a `members`
   * answer's `configIndex`, read once its `commitIndex` had reached it), or
   * fail with `membership_changed`. Without it, the call reads the members
   * itself and asks again when another change got in first.
   */
  readonly configIndex?: number | undefined;
}

/** A query: a function of the state (in process only) or a machine's named query with its arguments. */
export type Query<R> = ((state: any) => R) | { readonly name: string; readonly args?: unknown }; // eslint-disable-line @typescript-eslint/no-explicit-any

/** What `startCluster` reports. */
export interface StartClusterResult {
  readonly started: readonly string[];
  readonly notStarted: readonly { readonly node: string; readonly error: Error }[];
}

/** What `deleteCluster` reports. */
export interface DeleteClusterResult {
  readonly deleted: readonly string[];
  readonly notDeleted: readonly { readonly node: string; readonly error: Error }[];
}

/** A command's outcome, as delivered to `onApplied` for pipelined commands. */
export type PipelineResult =
  | { readonly correlation: unknown; readonly ok: true; readonly value: unknown }
  | { readonly correlation: unknown; readonly ok: false; readonly error: ConcordError };

/** Checks a cluster or node name. */
export function validName(kind: string, name: unknown): string {
  if (!isName(name)) {
    throw new ConcordError('invalid_argument', `${kind} must be 1-64 characters of [A-Za-z0-9_.-], got ${JSON.stringify(name)}`);
  }
  return name;
}

function querySpec<R>(query: Query<R>): QuerySpec {
  if (typeof query === 'function') return { type: 'fn', fn: query as (state: unknown) => unknown };
  return { type: 'named', name: query.name, args: query.args ?? null };
}

/** Everything a caller of clusters can do. */
export abstract class Caller {
  protected abstract readonly requester: Requester;
  /** The source of time for deadlines and pauses. */
  abstract readonly clock: Clock;
  /** Where new clusters' incarnations come from. */
  protected abstract readonly random: Random;
  private readonly pipelineHandlers = new Map<string, (batch: PipelineResult[]) => void>();
  private readonly pipelineBuffer = new Map<string, PipelineResult[]>();
  private pipelineFlushScheduled = false;

  /**
   * Starts a cluster: a member on each of `members` (node ids), running the
   * machine registered under `machine` on every node. Resolves once each
   * member has answered; members that could not start are listed.
   */
  async startCluster(
    cluster: string,
    machine: string,
    members: readonly string[],
    options: { config?: unknown; timeoutMs?: number; sessionTimeoutMs?: number } = {},
  ): Promise<StartClusterResult> {
    validName('cluster', cluster);
    if (members.length === 0) throw new ConcordError('invalid_argument', 'a cluster needs at least one member');
    for (const m of members) validName('member', m);
    if (new Set(members).size !== members.length) throw new ConcordError('invalid_argument', 'members must be distinct');
    this.requester.members.set(cluster, [...members]);
    // A new cluster, told apart by its incarnation from any earlier one of the name whose members
    // deleteCluster could not reach.
    const incarnation = 1 + this.random.int(0xffff_ffff);
    const body: Request = { type: 'start_server', machine, members, config: options.config ?? null, sessionTimeoutMs: options.sessionTimeoutMs ?? 60_000, incarnation };
    const [started, notStarted] = await this.askEach(cluster, members, body, options.timeoutMs ?? 10_000);
    if (started.length === 0) throw new ConcordError('no_quorum', `no member of ${cluster} started: ${notStarted.map((n) => `${n.node}: ${n.error.message}`).join('; ')}`);
    return { started, notStarted };
  }

  /**
   * Deletes a cluster: each member stops and deletes its data, and its node
   * forgets it. The members are the cluster's own answer (voters and
   * non-voters), or, when it cannot answer (a majority is gone for good),
   * `options.members` or the members this caller knows. Not atomic: members
   * that could not be reached are listed, and those left may go on as a
   * cluster if they are a majority; call again to finish. A new cluster of
   * the name (startCluster) does not hear a member that was missed: it has
   * another incarnation (RaftEnvelope.incarnation).
   */
  async deleteCluster(cluster: string, options: CallOptions & { members?: readonly string[] } = {}): Promise<DeleteClusterResult> {
    validName('cluster', cluster);
    for (const m of options.members ?? []) validName('member', m);
    const timeoutMs = options.timeoutMs ?? 10_000;
    const members = options.members ?? (await this.membersToDelete(cluster, timeoutMs));
    const body: Request = { type: 'delete_server', removedAt: null };
    const [deleted, notDeleted] = await this.askEach(cluster, members, body, timeoutMs);
    if (notDeleted.length === 0) {
      this.requester.members.delete(cluster);
      this.requester.leaders.delete(cluster);
    }
    return { deleted, notDeleted };
  }

  /** Sends `body` to each of `nodes` at once: the nodes that answered, and those that did not with why. */
  private async askEach(cluster: string, nodes: readonly string[], body: Request, timeoutMs: number): Promise<[string[], { node: string; error: Error }[]]> {
    const outcomes = await Promise.allSettled(nodes.map((node) => this.requester.requestAsync(cluster, body, { member: node, timeoutMs })));
    const ok: string[] = [];
    const failed: { node: string; error: Error }[] = [];
    outcomes.forEach((o, i) => {
      const node = nodes[i] as string;
      if (o.status === 'fulfilled') ok.push(node);
      else failed.push({ node, error: o.reason instanceof Error ? o.reason : new Error(String(o.reason)) });
    });
    return [ok, failed];
  }

  /**
   * Disaster recovery, when a majority of the cluster is lost for good: asks
   * `node` to continue the cluster alone with its member (see
   * System.forceShrinkToLocal, which it runs there). Resolves once that
   * member leads; the caller then knows it as the only member.
   */
  async forceShrink(cluster: string, node: string, options: CallOptions = {}): Promise<void> {
    validName('cluster', cluster);
    validName('member', node);
    await this.requester.requestAsync(cluster, { type: 'force_shrink' }, { member: node, timeoutMs: options.timeoutMs ?? 15_000 });
    this.requester.members.set(cluster, [node]);
    this.requester.leaders.set(cluster, node);
  }

  /** Every member the cluster names, or, if it names none in time, every member this caller knows. */
  private async membersToDelete(cluster: string, timeoutMs: number): Promise<readonly string[]> {
    try {
      const status = await this.members(cluster, { timeoutMs });
      return [...status.voters, ...status.nonVoters];
    } catch (err) {
      const known = this.requester.members.get(cluster);
      if (known !== undefined && known.length > 0) return known;
      throw err;
    }
  }

  /** The status of every member hosted by `node` and their count per role (`brief`: the counts only). */
  nodeOverview(node: string, options: CallOptions & { brief?: boolean } = {}): Promise<NodeOverview> {
    const { brief, ...call } = options;
    return this.requester.requestAsync('_', { type: 'overview', ...(brief === true ? { brief } : {}) }, { ...call, member: node }) as Promise<NodeOverview>;
  }

  /** Tells `probe` of every request this caller makes from now on, or no one when `undefined` (telemetry uses it). */
  watchRequests(probe: RequestProbe | undefined): void {
    this.requester.probe = probe;
  }

  /** Whether a probe watches this caller's requests. */
  watchingRequests(): boolean {
    return this.requester.probe !== undefined;
  }

  /** Tells the caller who the members of `cluster` are (nodes to ask first). */
  knowMembers(cluster: string, members: readonly string[]): void {
    validName('cluster', cluster);
    for (const m of members) validName('member', m);
    this.requester.members.set(cluster, [...members]);
  }

  /** Sends any request with a callback instead of a promise (simulated clients stay on virtual time). */
  submit(cluster: string, body: Request, options: CallOptions, cb: RequestCallback): void {
    this.requester.request(cluster, body, options, cb);
  }

  /** Sends any request to the cluster's leader (or `options.member`) and resolves with its value. */
  requestRaw(cluster: string, body: Request, options: CallOptions = {}): Promise<unknown> {
    return this.requester.requestAsync(cluster, body, options);
  }

  /**
   * Submits a command to the cluster's leader; resolves with the machine's
   * reply once it is applied. A `timeout` means the outcome is unknown; use a
   * Session for commands that must be retried safely. The command is
   * msgpack-encoded here, once (a value msgpack cannot encode rejects with
   * `invalid_argument`): the machine receives it as msgpack decodes it.
   */
  processCommand<R = unknown>(cluster: string, command: unknown, options: CallOptions = {}): Promise<R> {
    let body: Request;
    try {
      body = commandRequest(command);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return this.requester.requestAsync(cluster, body, options) as Promise<R>;
  }

  /** Submits a command without waiting: its outcome goes, with `correlation`, to the `onApplied` handler, in batches. */
  pipelineCommand(cluster: string, command: unknown, correlation: unknown, options: CallOptions = {}): void {
    this.processCommand(cluster, command, options).then(
      (value) => this.pipelineResult(cluster, { correlation, ok: true, value }),
      (e: unknown) => this.pipelineResult(cluster, { correlation, ok: false, error: e instanceof ConcordError ? e : new ConcordError('transport', String(e)) }),
    );
  }

  /** Sets the handler of pipelined outcomes for `cluster`. */
  onApplied(cluster: string, handler: (batch: PipelineResult[]) => void): void {
    this.pipelineHandlers.set(cluster, handler);
  }

  /** A linearizable read (ReadIndex): sees every command acknowledged before it was called. */
  consistentQuery<R = unknown>(cluster: string, query: Query<R>, options: CallOptions = {}): Promise<R> {
    return this.requester.requestAsync(cluster, { type: 'query', mode: 'consistent', query: querySpec(query) }, options) as Promise<R>;
  }

  /** Reads the leader's state without a quorum round: fast, but a deposed leader may answer stale. */
  leaderQuery<R = unknown>(cluster: string, query: Query<R>, options: CallOptions = {}): Promise<R> {
    return this.requester.requestAsync(cluster, { type: 'query', mode: 'leader', query: querySpec(query) }, options) as Promise<R>;
  }

  /** Reads one member's state (`options.member`, else this node's own member or the first known): may lag. */
  localQuery<R = unknown>(cluster: string, query: Query<R>, options: CallOptions = {}): Promise<R> {
    const member = options.member ?? this.localMember(cluster);
    const opts: CallOptions = member === undefined ? options : { ...options, member };
    return this.requester.requestAsync(cluster, { type: 'query', mode: 'local', query: querySpec(query) }, opts) as Promise<R>;
  }

  /** The member a local query asks by default. */
  protected localMember(cluster: string): string | undefined {
    return this.requester.members.get(cluster)?.[0];
  }

  /** The cluster's members and leader, as its leader (or `options.member`) sees them. */
  members(cluster: string, options: CallOptions = {}): Promise<ServerStatus> {
    return this.requester.requestAsync(cluster, { type: 'members' }, options) as Promise<ServerStatus>;
  }

  /**
   * Adds `member` (a node id) to the cluster: starts a member there that waits
   * for the leader, which adds it as a non-voter, brings it up to date (from
   * the log or a snapshot) and promotes it to voter. Resolves once it is a voter.
   * The change applies only to the configuration the call read (see
   * MembershipOptions), so that a request delayed past a later removal of the
   * same member cannot bring it back.
   * A `timeout` means the outcome is unknown (the leader may have changed with
   * the change in its log): look with `members` before trying again.
   */
  async addMember(cluster: string, member: string, options: MembershipOptions = {}): Promise<void> {
    validName('member', member);
    const deadline = this.clock.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const status = await this.settledMembers(cluster, options, deadline);
      if (status.voters.includes(member)) return;
      const configIndex = options.configIndex ?? status.configIndex;
      const start: Request = {
        type: 'start_server',
        machine: status.machine,
        members: [],
        config: status.machineConfig,
        join: true,
        sessionTimeoutMs: status.sessionTimeoutMs,
        joinedAfter: status.lastIndex,
        incarnation: status.incarnation,
      };
      await this.requester.requestAsync(cluster, start, { member, timeoutMs: options.timeoutMs ?? 10_000 });
      this.requester.members.set(cluster, [...status.voters, ...status.nonVoters, member]);
      if (status.nonVoters.includes(member)) return this.awaitVoter(cluster, member, options);
      const added = await this.changeMembership(cluster, { type: 'add_member', member, configIndex }, options, deadline, 60_000);
      if (added !== changedMeanwhile) return;
    }
  }

  /**
   * The members, once no configuration change is pending: a configuration
   * read before it committed may be one a new leader never had.
   */
  private async settledMembers(cluster: string, options: MembershipOptions, deadline: number): Promise<ServerStatus> {
    for (;;) {
      const status = await this.members(cluster, options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
      if (options.configIndex !== undefined || status.configIndex <= status.commitIndex) return status;
      if (this.clock.now() >= deadline) throw new ConcordError('membership_change_in_progress', `a configuration change (index ${status.configIndex}) is still pending`);
      await sleep(this.clock, 50);
    }
  }

  /**
   * Sends a membership change; `changedMeanwhile` when another change got in
   * first and the caller named no configuration (it may look and ask again).
   */
  private async changeMembership(cluster: string, body: Request, options: MembershipOptions, deadline: number, defaultTimeoutMs: number): Promise<unknown> {
    try {
      return await this.requester.requestAsync(cluster, body, { timeoutMs: options.timeoutMs ?? defaultTimeoutMs });
    } catch (err) {
      const again = err instanceof ConcordError && err.code === 'membership_changed' && options.configIndex === undefined && this.clock.now() < deadline;
      if (again) return changedMeanwhile;
      throw err;
    }
  }

  private async awaitVoter(cluster: string, member: string, options: CallOptions): Promise<void> {
    const deadline = this.clock.now() + (options.timeoutMs ?? 60_000);
    while (this.clock.now() < deadline) {
      const s = await this.members(cluster);
      if (s.voters.includes(member)) return;
      await sleep(this.clock, 50);
    }
    throw new ConcordError('timeout', `${member} was not promoted in time`);
  }

  /**
   * Removes `member` from the cluster (the leader too: it hands over once the
   * change commits). Resolves once the change is committed; the removed member
   * then stops and deletes its data. Like addMember, it applies only to the
   * configuration it read (or was given). A `timeout` means the outcome is
   * unknown, as for addMember.
   */
  async removeMember(cluster: string, member: string, options: MembershipOptions = {}): Promise<void> {
    validName('member', member);
    const deadline = this.clock.now() + (options.timeoutMs ?? 30_000);
    let removedAt: unknown = changedMeanwhile;
    while (removedAt === changedMeanwhile) {
      const configIndex = options.configIndex ?? (await this.settledMembers(cluster, options, deadline)).configIndex;
      removedAt = await this.changeMembership(cluster, { type: 'remove_member', member, configIndex }, options, deadline, 30_000);
    }
    const members = this.requester.members.get(cluster);
    if (members !== undefined) this.requester.members.set(cluster, members.filter((m) => m !== member));
    if (this.requester.leaders.get(cluster) === member) this.requester.leaders.delete(cluster);
    // Best effort: a removed member that learnt of its removal has stopped and waits for this;
    // one that missed the removal too (down or cut off) campaigns when it is back, and the
    // members it asks for a vote tell it to delete itself. A removed leader stops by itself.
    this.requester.requestAsync(cluster, { type: 'delete_server', removedAt: removedAt as number }, { member, timeoutMs: 2000 }).catch(() => {});
  }

  /** Hands leadership to `target` (a voter). Resolves once the target has taken over. */
  async transferLeadership(cluster: string, target: string, options: CallOptions = {}): Promise<void> {
    await this.requester.requestAsync(cluster, { type: 'transfer_leadership', target }, options);
    this.requester.leaders.set(cluster, target);
  }

  /** Opens an exactly-once client session on `cluster` (see Session). */
  openSession(cluster: string, options: CallOptions = {}): Promise<Session> {
    return new Promise((resolve, reject) => {
      openSession(this, cluster, options, (err, session) => (err === null ? resolve(session as Session) : reject(err)));
    });
  }

  private pipelineResult(cluster: string, result: PipelineResult): void {
    let buffer = this.pipelineBuffer.get(cluster);
    if (buffer === undefined) {
      buffer = [];
      this.pipelineBuffer.set(cluster, buffer);
    }
    buffer.push(result);
    if (this.pipelineFlushScheduled) return;
    this.pipelineFlushScheduled = true;
    this.clock.defer(() => {
      this.pipelineFlushScheduled = false;
      const batches = [...this.pipelineBuffer];
      this.pipelineBuffer.clear();
      for (const [c, batch] of batches) this.pipelineHandlers.get(c)?.(batch);
    });
  }
}
