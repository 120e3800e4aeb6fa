// One System per process (per node): the actor runtime, the shared WAL and
// log actors, the transport, and the Raft servers of every cluster member
// this node hosts. It is also the calling side of the public API.
import { ActorSystem, type ActorSystemOptions } from '../actors/actor_system.js';
import type { ActorRef } from '../actors/actor.js';
import { startSupervisor, startChild, supervisorSpec, terminateChild, whichChildren, type ChildSpec } from '../actors/supervisor.js';
import { Actor, isOrderlyExit, type ExitReason } from '../actors/actor.js';
import { reasonText } from '../actors/actor_system.js';
import { ConcordError, InvalidArgumentError } from '../lib/errors.js';
import { stderrLogger, type Logger } from '../lib/logger.js';
import { RealClock, sleep, type Clock } from '../io/clock.js';
import type { Disk } from '../io/disk.js';
import { RealDisk } from '../io/real_disk.js';
import { systemRandom, type Random } from '../io/random.js';
import { LogSystem, type LogSystemStats } from '../log/log_system.js';
import type { LogSystemOptions } from '../log/log_options.js';
import type { CoreOptions, RaftMessage } from '../raft/core/types.js';
import { runtimeVersion } from '../raft/core/entry_kind.js';
import type { AnyMachine, Destination } from '../raft/machine.js';
import { RaftServer, type ReplyTo, type ServerArgs, type ServerHost, type ServerMsg, type ServerObserver, type ServerStatus } from '../raft/server/server.js';
import type { Envelope, NodeEvent, QuerySpec, Request, RequestEnvelope, Response, Transport } from '../transport/transport.js';
import { ClusterNotFoundError } from './errors.js';
import { firstRequestId, Requester } from './requester.js';
import { ServedRequests } from './served.js';
import { deleteServerRecord, listServerRecords, loadServerRecord, saveServerRecord, type ServerRecord } from './server_files.js';
import { Caller, validName, type CallOptions, type NodeOverview, type StartClusterResult } from './caller.js';
import type { Role } from '../raft/core/types.js';
import { newRaftCounters, type CommitProbe, type RaftCounters } from '../raft/server/counters.js';

/** How a System starts. */
export interface SystemOptions {
  /** This node's id: letters, digits, `_`, `-`, `.`. */
  readonly nodeId: string;
  /** Where the WAL, segments, snapshots and metadata live. */
  readonly dataDir: string;
  /** How this node reaches the others (a LocalTransport or a NatsTransport). */
  readonly transport: Transport;
  /** Machine factories by name; a cluster is started with one of these names on every member. */
  readonly machines: Readonly<Record<string, () => AnyMachine>>;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly disk?: Disk;
  readonly logger?: Logger;
  /** Raft timing and limits. */
  readonly raft?: Partial<CoreOptions>;
  /** WAL, segment and mem-table limits. */
  readonly log?: Partial<Omit<LogSystemOptions, 'dataDir' | 'disk' | 'clock' | 'logger'>>;
  readonly actors?: Omit<ActorSystemOptions, 'clock' | 'logger'>;
  /** Default deadline of API calls (default 5000 ms). */
  readonly requestTimeoutMs?: number;
  /** Idle time after which client sessions of clusters started here expire (default 60 s). */
  readonly sessionTimeoutMs?: number;
  /** Each member snapshots its machine every this many applied entries (default 65,536; the members' points are spread over the period)... */
  readonly snapshotEveryEntries?: number;
  /** ...once the entries applied since its last snapshot hold this many times that snapshot's size in bytes (default 2). */
  readonly snapshotLogRatio?: number;
  /** Steps run per turn of the event loop while a member restores a snapshot: 64 KiB pieces read, then steps of the machine's `restoreSteps` (default 16). */
  readonly restoreStepsPerTurn?: number;
  /** How often members whose machine has a `tick` hook call it, in ms (default 1000; 0: never): a timer per member per period (mind it with thousands of groups); machines without one cost nothing. */
  readonly machineTickMs?: number;
  /**
   * A member that crashes more than this many times within
   * `memberRestartPeriodMs` is stopped and reported as failed, alone: the
   * node's other members go on (default 3).
   */
  readonly memberMaxRestarts?: number;
  /** The window of `memberMaxRestarts` (default 10,000 ms). */
  readonly memberRestartPeriodMs?: number;
  /** Watches every local server (for simulation and tests). */
  readonly observer?: ServerObserver;
}

export type { CallOptions, PipelineResult, Query, StartClusterResult } from './caller.js';
export { validName } from './caller.js';



/** Owns the transport's lifetime inside the supervision tree. */
class TransportOwner extends Actor<never, Transport> {
  private transport!: Transport;
  override init(transport: Transport): void {
    this.transport = transport;
  }
  handle(): void {}
  override terminate(): PromiseLike<void> {
    return this.transport.close();
  }
}

/** A Concord node. Create it with `System.start`. */
export class System extends Caller implements ServerHost {
  readonly nodeId: string;
  readonly actors: ActorSystem;
  readonly logSystem: LogSystem;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly disk: Disk;
  readonly coreOptions: Partial<CoreOptions>;
  readonly observer: ServerObserver | undefined;
  /** Protocol events counted across this node's members (elections, applied entries, snapshots). */
  readonly raftCounters: RaftCounters = newRaftCounters();
  /** Told of each command a leader on this node applies, when set (telemetry). */
  commitProbe: CommitProbe | undefined;
  /** Traced requests this node serves; its probe is set by telemetry. */
  readonly served: ServedRequests;
  /** Inbound envelopes dropped because they were malformed or addressed to nothing here. */
  readonly dropped = { unknownCluster: 0, misaddressed: 0, notMember: 0, otherIncarnation: 0, failed: 0 };
  /** How this node reaches the others. */
  readonly transport: Transport;
  protected readonly random: Random;
  protected readonly requester: Requester;
  /** By name. A Map, not the options' object: a name such as `toString` or `__proto__` must not find what every object inherits. */
  private readonly machines: ReadonlyMap<string, () => AnyMachine>;
  private readonly subscriptions = new Map<string, (msg: unknown) => void>();
  private serversSup!: ActorRef;
  /** Clusters with a member on this node (started or restarted here). */
  private readonly localClusters = new Set<string>();
  /** The incarnation of each local member's cluster, where it has one (RaftEnvelope.incarnation). */
  private readonly incarnations = new Map<string, number>();
  /** Members that crashed too often or could not start, with why; cleared when one is started again. */
  private readonly failed = new Map<string, string>();
  /**
   * Per local cluster, every node this node has seen named as a member (grows
   * only; Raft traffic from anyone else is dropped until a known member
   * vouches for the sender). Separate from the Requester's routing list, which
   * forgets members that do not answer.
   */
  private readonly peers = new Map<string, Set<string>>();
  /** When each (cluster, sender) was last checked with the known members. */
  private readonly peerChecks = new Map<string, number>();
  /** When each (cluster, removed member) campaigning here was last told to delete itself. */
  private readonly removalHints = new Map<string, number>();
  /** Start and delete operations per cluster, one at a time. */
  private readonly clusterOps = new Map<string, Promise<void>>();
  private nextSubscription = 1;
  private stopped = false;
  private readonly down: { promise: Promise<Error>; resolve: (e: Error) => void };

  private constructor(private readonly options: SystemOptions) {
    super();
    this.nodeId = validName('nodeId', options.nodeId);
    if (options.transport.nodeId !== this.nodeId) throw new InvalidArgumentError('transport.nodeId must equal nodeId');
    const ratio = options.snapshotLogRatio;
    if (ratio !== undefined && !(ratio >= 0 && Number.isFinite(ratio))) throw new InvalidArgumentError(`snapshotLogRatio must be a finite number >= 0, got ${String(ratio)}`);
    const steps = options.restoreStepsPerTurn;
    if (steps !== undefined && !(Number.isSafeInteger(steps) && steps >= 1)) throw new InvalidArgumentError(`restoreStepsPerTurn must be an integer >= 1, got ${String(steps)}`);
    const restarts = options.memberMaxRestarts;
    if (restarts !== undefined && !(Number.isSafeInteger(restarts) && restarts >= 0)) throw new InvalidArgumentError(`memberMaxRestarts must be an integer >= 0, got ${String(restarts)}`);
    const period = options.memberRestartPeriodMs;
    if (period !== undefined && !(Number.isFinite(period) && period > 0)) throw new InvalidArgumentError(`memberRestartPeriodMs must be a number > 0, got ${String(period)}`);
    const tick = options.machineTickMs;
    if (tick !== undefined && !(Number.isFinite(tick) && tick >= 0)) throw new InvalidArgumentError(`machineTickMs must be a number >= 0, got ${String(tick)}`);
    this.clock = options.clock ?? new RealClock();
    this.random = options.random ?? systemRandom();
    this.logger = options.logger ?? stderrLogger();
    this.disk = options.disk ?? new RealDisk();
    // Idle groups quiesce by default: the transport's node liveness watches over them.
    this.coreOptions = { quiesce: true, ...options.raft };
    this.observer = options.observer;
    this.machines = new Map(Object.entries(options.machines));
    let resolve!: (e: Error) => void;
    this.down = { promise: new Promise<Error>((r) => (resolve = r)), resolve };
    this.transport = options.transport;
    this.actors = new ActorSystem({ ...options.actors, clock: this.clock, logger: this.logger });
    this.logSystem = new LogSystem({ ...options.log, dataDir: options.dataDir, disk: this.disk, clock: this.clock, logger: this.logger });
    this.served = new ServedRequests(this.clock);
    this.requester = new Requester(
      this.clock,
      this.nodeId,
      (node, env) => this.route(node, env),
      options.requestTimeoutMs ?? 5000,
      (node) => node === this.nodeId || this.transport.liveNodes().has(node),
      firstRequestId(this.random),
    );
  }

  /** Starts a node: recovers the log, starts the supervision tree and begins serving its transport. */
  static async start(options: SystemOptions): Promise<System> {
    const system = new System(options);
    try {
      system.boot();
    } catch (e) {
      // Recovery failed (a disk error, a corrupt file): release what started, then report it.
      system.kill();
      throw e;
    }
    return Promise.resolve(system);
  }

  private boot(): void {
    const serversSpec: ChildSpec = {
      id: 'servers',
      shutdownMs: Infinity,
      start: (ctx) => startSupervisor(ctx.system, { strategy: 'one_for_one', maxRestarts: 10, periodMs: 10_000, children: [] }, { ...ctx.spawnOptions, name: 'servers' }),
    };
    const transportSpec: ChildSpec = {
      id: 'transport',
      start: (ctx) => ctx.system.spawn(TransportOwner, this.transport, { ...ctx.spawnOptions, name: 'transport' }),
    };
    // No restarts at this level: the log tree restarts itself (within its own intensity), the
    // members each have a supervisor, and the transport cannot be reopened once closed. A log
    // tree that gives up stops the node (whenDown), to be restarted from disk as a process.
    const top = startSupervisor(
      this.actors,
      { strategy: 'one_for_all', maxRestarts: 0, periodMs: 10_000, children: [this.logSystem.childSpec(), transportSpec, serversSpec] },
      { name: 'system' },
    );
    this.actors.onExit(top, (reason) => this.treeExited(reason));
    this.serversSup = this.actors.whereis('servers') as ActorRef;
    this.transport.listen(
      (env) => this.onEnvelope(env),
      (event) => this.onNodeEvent(event),
    );
  }

  // ---- cluster management ----

  /**
   * Starts a cluster: a member on each of `members` (node ids), running the
   * machine registered under `machine` on every node. Resolves once each
   * member has answered; members that could not start are listed.
   */
  override async startCluster(
    cluster: string,
    machine: string,
    members: readonly string[],
    options: { config?: unknown; timeoutMs?: number; sessionTimeoutMs?: number } = {},
  ): Promise<StartClusterResult> {
    if (!this.machines.has(machine)) throw new InvalidArgumentError(`no machine named '${machine}' on ${this.nodeId}`);
    return super.startCluster(cluster, machine, members, { sessionTimeoutMs: this.options.sessionTimeoutMs ?? 60_000, ...options });
  }

  /**
   * Makes sure this node hosts a member of `cluster` (a new cluster of
   * `members`, or the one already on disk). Each node of a cluster can call it
   * on start-up; together they form the cluster.
   */
  async ensureMember(cluster: string, machine: string, members: readonly string[], options: { config?: unknown } = {}): Promise<void> {
    validName('cluster', cluster);
    if (this.serverRef(cluster) !== undefined) return;
    if (loadServerRecord(this.disk, this.options.dataDir, cluster) !== undefined) return this.restartServer(cluster);
    if (!members.includes(this.nodeId)) throw new InvalidArgumentError(`${this.nodeId} is not one of the members ${members.join(',')}`);
    for (const m of members) validName('member', m);
    this.requester.members.set(cluster, [...members]);
    this.notePeers(cluster, members);
    const body: Request = { type: 'start_server', machine, members, config: options.config ?? null, sessionTimeoutMs: this.options.sessionTimeoutMs ?? 60_000 };
    await this.requester.requestAsync(cluster, body, { member: this.nodeId, timeoutMs: 10_000 });
  }

  /** Restarts the local member of `cluster` from what is on disk. */
  async restartServer(cluster: string): Promise<void> {
    validName('cluster', cluster);
    const record = loadServerRecord(this.disk, this.options.dataDir, cluster);
    if (record === undefined) throw new ClusterNotFoundError(cluster);
    if (this.serverRef(cluster) !== undefined) return;
    await this.spawnServer(record);
  }

  /**
   * Restarts every member this node has on disk; returns the clusters whose
   * members started. One that cannot start (a damaged file, a machine that
   * throws) does not keep the others from starting: it is logged and
   * reported as failed (`failedMembers`, `overview`, and `member_failed` to
   * requests), and `restartServer` tries it again.
   */
  async restartAll(): Promise<string[]> {
    const started: string[] = [];
    for (const c of listServerRecords(this.disk, this.options.dataDir)) {
      try {
        await this.restartServer(c);
        started.push(c);
      } catch (e) {
        this.logger.error('a member could not start; the node goes on without it', { node: this.nodeId, cluster: c, error: e });
      }
    }
    return started;
  }

  /** Members of this node that crashed too often or could not start, with the last reason, by cluster. */
  failedMembers(): ReadonlyMap<string, string> {
    return new Map(this.failed);
  }

  /** Stops the local member of `cluster` (its data stays on disk); forgets it if it had failed. */
  async stopServer(cluster: string): Promise<void> {
    if (this.failed.delete(cluster)) return;
    const children = await whichChildren(this.actors, this.serversSup);
    if (!children.some((c) => c.id === cluster)) throw new ClusterNotFoundError(cluster);
    await terminateChild(this.actors, this.serversSup, cluster);
  }

  /**
   * Stops the local member of `cluster` and deletes its log, snapshots and
   * record, so that it does not start again with the node (ra's
   * force_delete_server); resolves with whether there was one. The cluster
   * loses the member for good: remove it first (removeMember) if the cluster
   * goes on, or delete them all (deleteCluster).
   */
  deleteServer(cluster: string): Promise<boolean> {
    validName('cluster', cluster);
    return this.serialized(cluster, async () => {
      const hosted =
        this.serverRef(cluster) !== undefined || this.localClusters.has(cluster) || this.failed.has(cluster) || loadServerRecord(this.disk, this.options.dataDir, cluster) !== undefined;
      await this.deleteLocalServer(cluster);
      if (hosted) this.logger.info('deleted the local member', { cluster, node: this.nodeId });
      return hosted;
    });
  }

  /**
   * Disaster recovery, when a majority of `cluster`'s members is lost for
   * good (ra's force_shrink_members_to_current_member): the local member
   * becomes the cluster's only voter and leads it, with what its log holds.
   * Entries only the lost members held are lost; entries only this one held,
   * committed or not, become committed. The cluster gets a new incarnation,
   * so that the lost members, if their nodes ever come back with them, are
   * not heard (delete them there with deleteServer); add new members with
   * addMember. Resolves once the local member leads.
   */
  forceShrinkToLocal(cluster: string, options: { timeoutMs?: number } = {}): Promise<void> {
    validName('cluster', cluster);
    return this.serialized(cluster, async () => {
      const record = loadServerRecord(this.disk, this.options.dataDir, cluster);
      if (record === undefined) throw new ClusterNotFoundError(cluster);
      // The member is the whole cluster from now on: its record names it alone (the nodes it admits
      // Raft traffic from after a restart) and a new incarnation.
      const next: ServerRecord = { ...record, members: [this.nodeId], incarnation: 1 + this.random.int(0xffff_ffff) };
      await new Promise<void>((resolve, reject) => saveServerRecord(this.disk, this.options.dataDir, next, (err) => (err ? reject(err) : resolve())));
      // Restarted under the new incarnation: from now on it neither hears nor is heard by the old members.
      const children = await whichChildren(this.actors, this.serversSup);
      if (children.some((c) => c.id === cluster)) await terminateChild(this.actors, this.serversSup, cluster);
      await this.spawnServer(next);
      // The lost members are heard no more: not even from a cluster without incarnations (started by
      // ensureMember), whose envelopes carry none. One that campaigns is told to delete itself.
      this.peers.set(cluster, new Set([this.nodeId]));
      this.requester.members.set(cluster, [this.nodeId]);
      this.requester.leaders.set(cluster, this.nodeId);
      const ref = this.serverRef(cluster);
      if (ref === undefined) throw new ConcordError('member_failed', `${this.nodeId}'s member of ${cluster} did not start`);
      this.actors.send(ref, { type: 'force_sole_voter' });
      const deadline = this.clock.now() + (options.timeoutMs ?? 10_000);
      while (this.inspectServer(cluster)?.core.role !== 'leader') {
        if (this.clock.now() >= deadline) throw new ConcordError('timeout', `${this.nodeId} did not take the lead of ${cluster} in time`);
        await sleep(this.clock, 10);
      }
    });
  }

  // ---- commands and queries ----

  /**
   * The status of every member hosted by this node (read straight from the
   * servers), the count of members per role, and the log's figures; `brief`
   * leaves the statuses out.
   */
  overview(brief = false): Promise<NodeOverview & { log: LogSystemStats }> {
    return Promise.resolve(this.localOverview(brief));
  }

  /** `overview`, at once. */
  localOverview(brief = false): NodeOverview & { log: LogSystemStats } {
    const servers: ServerStatus[] = [];
    const roles: Partial<Record<Role, number>> = {};
    for (const cluster of this.localClusters) {
      const ref = this.serverRef(cluster);
      const status = ref === undefined ? undefined : this.actors.instanceOf<RaftServer>(ref)?.status();
      if (status === undefined) continue;
      roles[status.role] = (roles[status.role] ?? 0) + 1;
      if (!brief) servers.push(status);
    }
    const failed = [...this.failed].map(([cluster, reason]) => ({ cluster, reason }));
    return { node: this.nodeId, servers, roles, failed, log: this.logSystem.stats() };
  }

  /** Registers a handler for machine `send` effects; returns the destination to give the machine. */
  subscribe(handler: (msg: unknown) => void): Destination {
    const id = `s${this.nextSubscription++}`;
    this.subscriptions.set(id, handler);
    return { node: this.nodeId, id };
  }

  /** Removes a subscription. */
  unsubscribe(dest: Destination): void {
    this.subscriptions.delete(dest.id);
  }

  /**
   * Dies at once, like a process killed with SIGKILL: no member terminates,
   * nothing more is sent or written. For the simulator; pair it with the disk's crash.
   */
  kill(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.requester.close();
    this.actors.killAll();
    void this.transport.close();
  }

  /** The local server of `cluster`, for invariant checks (read-only by contract). */
  inspectServer(cluster: string): ReturnType<RaftServer['inspect']> | undefined {
    const ref = this.serverRef(cluster);
    return ref === undefined ? undefined : this.actors.instanceOf<RaftServer>(ref)?.inspect();
  }

  /** The local member if this node hosts one, else the first known member. */
  protected override localMember(cluster: string): string | undefined {
    return this.serverRef(cluster) !== undefined ? this.nodeId : super.localMember(cluster);
  }

  /**
   * Resolves with the reason if the node stops by itself: its log tree
   * crashed more often than its restart intensity allows, and the supervision
   * tree gave up. Every member has stopped and calls fail with `shutdown`;
   * the process should exit and be started again, to recover from disk.
   */
  whenDown(): Promise<Error> {
    return this.down.promise;
  }

  /** The top supervisor exited: on purpose (stop, kill), or the tree gave up. */
  private treeExited(reason: ExitReason): void {
    if (this.stopped || isOrderlyExit(reason)) return;
    this.stopped = true;
    const error = new ConcordError('restart_intensity', `node ${this.nodeId} stopped: ${reasonText(reason)}`, { cause: reason });
    this.logger.error('the supervision tree gave up; the node has stopped', { node: this.nodeId, reason: reasonText(reason) });
    this.requester.close();
    this.served.abandonAll();
    void this.transport.close();
    this.down.resolve(error);
  }

  /** Stops every member and the node (data stays on disk). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.requester.close();
    this.served.abandonAll();
    await this.actors.shutdown();
    await this.transport.close();
  }

  // ---- ServerHost ----

  /** @internal */
  sendRaft(cluster: string, to: string, msg: RaftMessage): void {
    this.transport.send(to, { type: 'raft', cluster, from: this.nodeId, to, msg, incarnation: this.incarnations.get(cluster) });
  }

  /** @internal */
  respond(replyTo: ReplyTo, response: Response): void {
    this.served.answered(replyTo.node, replyTo.id, response);
    if (replyTo.node === this.nodeId) this.requester.onResponse({ id: replyTo.id, body: response });
    else this.transport.send(replyTo.node, { type: 'response', id: replyTo.id, body: response });
  }

  /** @internal */
  notify(dest: Destination, msg: unknown): void {
    if (dest.node === this.nodeId) this.deliverNotify(dest.id, msg);
    else this.transport.send(dest.node, { type: 'notify', dest: dest.id, msg });
  }

  /** @internal */
  liveNodes(): ReadonlySet<string> {
    return this.transport.liveNodes();
  }

  /** @internal */
  runtimeOf(node: string): number {
    return node === this.nodeId ? runtimeVersion : (this.transport.runtimeOf?.(node) ?? 0);
  }

  /** @internal */
  forkRandom(): Random {
    return this.random.fork();
  }

  /** @internal */
  membersChanged(cluster: string, members: readonly string[]): void {
    this.requester.members.set(cluster, members);
    this.notePeers(cluster, members);
  }

  /** Records `nodes` as members of `cluster` that may send it Raft traffic. */
  private notePeers(cluster: string, nodes: readonly string[]): void {
    let set = this.peers.get(cluster);
    if (set === undefined) this.peers.set(cluster, (set = new Set()));
    for (const n of nodes) set.add(n);
  }

  /**
   * Raft traffic from `from`, unknown here as a member of `cluster`: a member
   * added in a configuration this node has not caught up with yet, or a
   * stranger. Asks the known members (at most once a second per sender) and
   * admits the sender once one of them has it in its configuration.
   */
  private checkPeer(cluster: string, from: string): void {
    const key = `${cluster}\u0000${from}`;
    const now = this.clock.now();
    const last = this.peerChecks.get(key);
    if (last !== undefined && now - last < 1000) return;
    this.peerChecks.set(key, now);
    for (const member of this.peers.get(cluster) ?? []) {
      if (member === this.nodeId) continue;
      this.requester.request(cluster, { type: 'members' }, { member, timeoutMs: 1000 }, (err, value) => {
        if (err !== null) return;
        const status = value as { voters: readonly string[]; nonVoters: readonly string[] };
        if (status.voters.includes(from) || status.nonVoters.includes(from)) {
          this.peerChecks.delete(key);
          this.notePeers(cluster, [from]);
        }
      });
    }
  }

  /**
   * @internal The local member was removed from its cluster (by the
   * configuration at index `removedAt`) and stopped: delete its data. If it
   * was asked to join again meanwhile (a start_server that found it still
   * running recorded a joinedAfter at or past the removal), a fresh joining
   * member takes its place: the stopped one would never take part again
   * (simulator, seed 130715: the leader added it back and waited for ever).
   */
  memberRemoved(cluster: string, removedAt: number): void {
    this.serialized(cluster, async () => {
      const record = loadServerRecord(this.disk, this.options.dataDir, cluster);
      await this.deleteLocalServer(cluster);
      if (record?.joinedAfter === undefined || record.joinedAfter < removedAt) return;
      const joiner: ServerRecord = { ...record, members: [] };
      await new Promise<void>((resolve, reject) => saveServerRecord(this.disk, this.options.dataDir, joiner, (err) => (err ? reject(err) : resolve())));
      await this.spawnServer(joiner);
    }).catch((e: unknown) => this.logger.warn('deleting a removed member failed', { cluster, error: e }));
  }

  /** Runs `op` after every earlier start or delete of `cluster` on this node has finished. */
  private serialized<T>(cluster: string, op: () => Promise<T>): Promise<T> {
    const before = this.clusterOps.get(cluster) ?? Promise.resolve();
    const run = before.then(op, op);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.clusterOps.set(cluster, settled);
    settled.then(() => {
      if (this.clusterOps.get(cluster) === settled) this.clusterOps.delete(cluster);
    });
    return run;
  }

  /**
   * `from` campaigns in `cluster` from outside the configuration this member
   * knows: a member removed while it was down or cut off, which missed its
   * removal and the delete request that followed it, and would campaign in
   * vain for ever. Tells it (at most once a second) to delete itself, as
   * removeMember does. Followers speak too (the candidate's old configuration
   * may name no leader of today), but only from a latest configuration that
   * is committed, a fact of the cluster's history: a change in flight may be
   * adding `from` back. `removedAt` is that configuration's index (its
   * entry's, kept through snapshots), at or past the real removal, and the
   * receiver keeps a member added back since (deleteIfRemoved).
   */
  private answerRemovedCandidate(cluster: string, from: string): void {
    const core = this.inspectServer(cluster)?.core;
    if (core === undefined || from === this.nodeId) return;
    if (core.config.voters.includes(from) || core.config.nonVoters.includes(from)) return;
    const latest = core.configs[core.configs.length - 1];
    if (latest === undefined || latest.index > core.commitIndex) return;
    const key = `${cluster}\u0000${from}`;
    const now = this.clock.now();
    const last = this.removalHints.get(key);
    if (last !== undefined && now - last < 1000) return;
    this.removalHints.set(key, now);
    this.logger.info('telling a removed member that campaigns to delete itself', { cluster, member: from, removedAt: latest.index });
    this.requester.request(cluster, { type: 'delete_server', removedAt: latest.index }, { member: from, timeoutMs: 2000 }, (err, deleted) => {
      if (err === null && deleted === true) this.removalHints.delete(key);
    });
  }

  /** Deletes the local member if it is the one removed at `removedAt` (not one added again since). */
  private async deleteIfRemoved(cluster: string, removedAt: number): Promise<boolean> {
    // A member that joined after the removal is a new one: the request is late (simulator, seed 242).
    const joinedAfter = loadServerRecord(this.disk, this.options.dataDir, cluster)?.joinedAfter;
    if (joinedAfter !== undefined && removedAt <= joinedAfter) return false;
    const view = this.inspectServer(cluster);
    if (view !== undefined) {
      const { configs, config, role } = view.core;
      const latest = configs[configs.length - 1]?.index ?? 0;
      const member = config.voters.includes(this.nodeId) || config.nonVoters.includes(this.nodeId);
      const freshJoiner = latest === 0 && config.voters.length === 0 && view.log.lastIndex === 0;
      if (role !== 'stopped' && (freshJoiner || (member && latest >= removedAt))) return false;
    } else if (!this.localClusters.has(cluster) && loadServerRecord(this.disk, this.options.dataDir, cluster) === undefined) {
      return true; // nothing here
    }
    await this.deleteLocalServer(cluster);
    return true;
  }

  private async deleteLocalServer(cluster: string): Promise<void> {
    this.localClusters.delete(cluster);
    this.incarnations.delete(cluster);
    this.failed.delete(cluster);
    this.peers.delete(cluster);
    const children = await whichChildren(this.actors, this.serversSup);
    if (children.some((c) => c.id === cluster)) await terminateChild(this.actors, this.serversSup, cluster);
    this.observer?.removed?.(cluster, this.nodeId); // a member started here from now on is a new one
    await new Promise<void>((resolve, reject) => this.logSystem.deleteLog(cluster, (err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve, reject) => deleteServerRecord(this.disk, this.options.dataDir, cluster, (err) => (err ? reject(err) : resolve())));
  }

  // ---- routing ----

  private serverRef(cluster: string): ActorRef<ServerMsg> | undefined {
    return this.actors.whereis<ServerMsg>(`server:${cluster}`);
  }

  /** Sends a request to `node`, short-cutting the transport when it is this node. */
  private route(node: string, env: RequestEnvelope): void {
    if (node === this.nodeId) this.onRequest(env);
    else this.transport.send(node, env);
  }

  private onEnvelope(env: Envelope): void {
    try {
      switch (env.type) {
        case 'raft': {
          if (env.to !== this.nodeId) {
            this.dropped.misaddressed++;
            return;
          }
          const ref = this.serverRef(env.cluster);
          if (ref === undefined) {
            this.dropped.unknownCluster++;
            return;
          }
          // A member of an earlier cluster of the same name, which deleteCluster could not reach:
          // its log is another history, and must not be compared with this one.
          const incarnation = this.incarnations.get(env.cluster);
          if (incarnation !== undefined && env.incarnation !== undefined && env.incarnation !== incarnation) {
            if (this.dropped.otherIncarnation++ % 10_000 === 0) {
              this.logger.warn('Raft traffic from a member of another cluster of the same name: it is not heard (delete the stale one with deleteServer)', {
                cluster: env.cluster,
                from: env.from,
                theirs: env.incarnation,
                ours: incarnation,
              });
            }
            return;
          }
          if (env.msg.type === 'request_vote') this.answerRemovedCandidate(env.cluster, env.from);
          // Only nodes known as members may speak (a member still joining knows none yet,
          // and listens to whoever leads); others wait until the leader vouches for them.
          const peers = this.peers.get(env.cluster);
          if (peers !== undefined && !peers.has(env.from)) {
            this.dropped.notMember++;
            this.checkPeer(env.cluster, env.from);
            return;
          }
          this.actors.send(ref, { type: 'raft', from: env.from, msg: env.msg });
          return;
        }
        case 'request':
          return this.onRequest(env);
        case 'response':
          return this.requester.onResponse(env);
        case 'notify':
          return this.deliverNotify(env.dest, env.msg);
      }
    } catch (e) {
      this.dropped.failed++;
      this.logger.warn('inbound envelope failed', { node: this.nodeId, error: e });
    }
  }

  private onRequest(env: RequestEnvelope): void {
    this.served.arrived(env);
    const replyTo: ReplyTo = { node: env.from, id: env.id };
    if (env.body.type === 'start_server') {
      this.startServerRequest(env.cluster, env.body, replyTo);
      return;
    }
    if (env.body.type === 'overview') {
      this.overview(env.body.brief === true).then(
        (value) => this.respond(replyTo, { ok: true, value }),
        (e: unknown) => this.respond(replyTo, { ok: false, error: { code: 'shutdown', message: String(e) } }),
      );
      return;
    }
    if (env.body.type === 'force_shrink') {
      this.forceShrinkToLocal(env.cluster).then(
        () => this.respond(replyTo, { ok: true, value: this.nodeId }),
        (e: unknown) => this.respond(replyTo, { ok: false, error: { code: e instanceof ConcordError ? e.code : 'disk_error', message: e instanceof Error ? e.message : String(e) } }),
      );
      return;
    }
    if (env.body.type === 'delete_server') {
      const removedAt = env.body.removedAt;
      const deleting = removedAt === null ? this.deleteServer(env.cluster) : this.serialized(env.cluster, () => this.deleteIfRemoved(env.cluster, removedAt));
      deleting.then(
        (deleted) => this.respond(replyTo, { ok: true, value: deleted }),
        (e: unknown) => this.respond(replyTo, { ok: false, error: { code: 'disk_error', message: String(e) } }),
      );
      return;
    }
    const ref = this.serverRef(env.cluster);
    const failed = ref === undefined ? this.failed.get(env.cluster) : undefined;
    if (failed !== undefined) {
      this.respond(replyTo, { ok: false, error: { code: 'member_failed', message: `${this.nodeId}'s member of ${env.cluster} has stopped: ${failed}` } });
      return;
    }
    if (ref === undefined || !this.actors.send(ref, { type: 'request', replyTo, body: env.body })) {
      this.respond(replyTo, { ok: false, error: { code: 'cluster_not_found', message: `${this.nodeId} hosts no member of ${env.cluster}` } });
    }
  }

  private onNodeEvent(event: NodeEvent): void {
    if (event.type === 'node_down') this.requester.nodeDown(event.node);
    for (const c of this.localClusters) {
      const ref = this.serverRef(c);
      if (ref !== undefined) this.actors.send(ref, { type: 'node_event', event });
    }
  }

  private deliverNotify(id: string, msg: unknown): void {
    const handler = this.subscriptions.get(id);
    if (handler === undefined) return;
    try {
      handler(msg);
    } catch (e) {
      this.logger.warn('subscription handler threw', { node: this.nodeId, error: e });
    }
  }

  private startServerRequest(cluster: string, body: Extract<Request, { type: 'start_server' }>, replyTo: ReplyTo): void {
    this.serialized(cluster, () => new Promise<void>((done) => this.startServerNow(cluster, body, replyTo, done))).catch(() => {});
  }

  private startServerNow(cluster: string, body: Extract<Request, { type: 'start_server' }>, replyTo: ReplyTo, done: () => void): void {
    const respond = (response: Response) => {
      this.respond(replyTo, response);
      done();
    };
    const fail = (code: string, message: string) => respond({ ok: false, error: { code, message } });
    if (this.serverRef(cluster) !== undefined) {
      // A member removed earlier may still run here (its delete request not yet arrived, or
      // arriving late): asked to join again, it stays, and remembers that removals up to
      // joinedAfter are not its own (simulator, seed 242). Its log is still a valid one.
      const existing = loadServerRecord(this.disk, this.options.dataDir, cluster);
      const after = body.join === true ? body.joinedAfter : undefined;
      if (existing === undefined || after === undefined || (existing.joinedAfter ?? 0) >= after) return respond({ ok: true, value: 'already_started' });
      return saveServerRecord(this.disk, this.options.dataDir, { ...existing, joinedAfter: after }, (err) =>
        err ? fail('disk_error', `cannot record ${cluster}: ${err.message}`) : respond({ ok: true, value: 'already_started' }),
      );
    }
    if (!this.machines.has(body.machine)) return fail('invalid_argument', `no machine named '${body.machine}' on ${this.nodeId}`);
    if (body.join !== true && !body.members.includes(this.nodeId)) return fail('invalid_argument', `${this.nodeId} is not a member of ${cluster}`);
    const record: ServerRecord = {
      cluster,
      machine: body.machine,
      members: body.join === true ? [] : body.members,
      config: body.config,
      sessionTimeoutMs: body.sessionTimeoutMs,
      ...(body.join === true && body.joinedAfter !== undefined ? { joinedAfter: body.joinedAfter } : {}),
      ...(body.incarnation === undefined ? {} : { incarnation: body.incarnation }),
    };
    saveServerRecord(this.disk, this.options.dataDir, record, (err) => {
      if (err) return fail('disk_error', `cannot record ${cluster}: ${err.message}`);
      this.spawnServer(record).then(
        () => respond({ ok: true, value: 'started' }),
        (e: unknown) => fail(e instanceof ConcordError ? e.code : 'machine_error', e instanceof Error ? e.message : String(e)),
      );
    });
  }

  private async spawnServer(record: ServerRecord): Promise<void> {
    const factory = this.machines.get(record.machine);
    if (factory === undefined) throw new InvalidArgumentError(`no machine named '${record.machine}' on ${this.nodeId}`);
    // An earlier member's deletion may still be finishing (found by the WAL replay at start-up).
    await new Promise<void>((resolve) => this.logSystem.whenDeleted(record.cluster, resolve));
    if (record.members.length > 0) {
      this.requester.members.set(record.cluster, record.members);
      this.notePeers(record.cluster, record.members);
    }
    this.localClusters.add(record.cluster);
    if (record.incarnation === undefined) this.incarnations.delete(record.cluster);
    else this.incarnations.set(record.cluster, record.incarnation);
    // Each incarnation of the member gets a machine of its own (made at its start, below).
    const args: Omit<ServerArgs, 'machine'> = {
      cluster: record.cluster,
      machineName: record.machine,
      machineConfig: record.config,
      initialMembers: record.members,
      host: this,
      sessionTimeoutMs: record.sessionTimeoutMs ?? 60_000,
      snapshotEveryEntries: this.options.snapshotEveryEntries ?? 65_536,
      snapshotLogRatio: this.options.snapshotLogRatio ?? 2,
      restoreStepsPerTurn: this.options.restoreStepsPerTurn ?? 16,
      machineTickMs: this.options.machineTickMs ?? 1000,
      joinedAfter: record.joinedAfter,
      incarnation: record.incarnation,
    };
    const server: ChildSpec = {
      id: 'server',
      restart: 'transient',
      shutdownMs: 5000,
      start: (ctx) => ctx.system.spawn(RaftServer, { ...args, machine: factory() }, { ...ctx.spawnOptions, name: `server:${record.cluster}` }),
    };
    // Each member has a supervisor of its own, with its own restart intensity: a member that
    // crashes over and over (a machine whose restore throws, say) stops alone. Under the
    // shared `servers` supervisor it used that supervisor's intensity up, and every member
    // of the node went down with it, not to come back.
    const intensity = { maxRestarts: this.options.memberMaxRestarts ?? 3, periodMs: this.options.memberRestartPeriodMs ?? 10_000 };
    const spec = supervisorSpec(record.cluster, { strategy: 'one_for_one', ...intensity, children: [server] }, { restart: 'temporary', name: `member:${record.cluster}` });
    this.failed.delete(record.cluster);
    let ref: ActorRef;
    try {
      ref = await startChild(this.actors, this.serversSup, spec);
    } catch (e) {
      // (Unless it runs after all: a concurrent start got there first.)
      if (this.serverRef(record.cluster) === undefined) this.failed.set(record.cluster, `could not start: ${e instanceof Error ? e.message : String(e)}`);
      throw e;
    }
    this.actors.onExit(ref, (reason) => this.memberExited(record.cluster, reason));
  }

  /** A member's supervisor exited: stopped on purpose, or given up after too many crashes. */
  private memberExited(cluster: string, reason: ExitReason): void {
    if (this.stopped || isOrderlyExit(reason)) return;
    const why = reasonText(reason);
    this.failed.set(cluster, why);
    this.logger.error('a member crashed too often and was stopped; the node goes on without it', { node: this.nodeId, cluster, reason: why });
  }

}

