// The Raft server actor: a Statem whose states mirror the core's roles. It
// feeds the core transport messages, WAL notifications and timer events, and
// carries out the core's effects: log writes, persisted votes (messages wait
// for them), sends, applies to the machine, snapshots, replies and timers.
import { assertNever, fail } from '../../lib/assert.js';
import { ConcordError } from '../../lib/errors.js';
import type { Random } from '../../io/random.js';
import type { DiskError } from '../../io/disk.js';
import type { Logger } from '../../lib/logger.js';
import { Statem, type StateHandler } from '../../actors/statem.js';
import type { LogEvent } from '../../log/events.js';
import type { GroupLog } from '../../log/group_log.js';
import type { LogSystem } from '../../log/log_system.js';
import type { MetaStored } from '../../log/meta_store.js';
import type { SnapshotInfo } from '../../log/snapshot_store.js';
import { EntryKind, decodeConfig, kindOf } from '../core/entry_kind.js';
import { initState, latestConfigIndex, type ConfigAt, type RaftState } from '../core/state.js';
import { start as startCore, step } from '../core/step.js';
import type { CommandItem, CoreOptions, Effect, RaftEvent, RaftMessage, Rejection, Role, ServerId, TimerName } from '../core/types.js';
import type { AnyMachine, Destination, MachineEffect } from '../machine.js';
import type { NodeEvent, QuerySpec, Request, Response, SessionTag, WireError } from '../../transport/transport.js';
import { encodeCommand, encodeMachineVersion, encodeTimerFiring, type ProposedCommand } from './entry_codec.js';
import { MachineRunner, type Applied, type RestoreJob } from './machine_runner.js';
import { SnapshotIo, snapshotConfig, type SnapshotIoMsg } from './snapshot_io.js';
import type { CommitProbe, RaftCounters } from './counters.js';

/** Where a reply goes: the requesting node and its request id. */
export interface ReplyTo {
  readonly node: string;
  readonly id: number;
}

/** Watches servers from outside (the simulator's invariant checks). Called synchronously. */
export interface ServerObserver {
  /** An entry was applied on `node` (every kind: no-ops and configurations too). */
  applied?(cluster: string, node: string, index: number, term: number, payload: Uint8Array): void;
  /** The member on `node` was deleted with its data (a later member there is a new one). */
  removed?(cluster: string, node: string): void;
  /** The member on `node` restored the snapshot at `index` over several turns (other work ran between them). */
  restoredInSteps?(cluster: string, node: string, index: number): void;
  /**
   * The member on `node` is about to carry out one of its core's effects. The
   * simulator throws from here to crash a member in the middle of a step, with
   * some of the step's effects carried out and the rest not.
   */
  effect?(cluster: string, node: string, type: Effect['type']): void;
}

/** What the System provides to its servers. */
export interface ServerHost {
  readonly observer: ServerObserver | undefined;
  readonly nodeId: string;
  readonly logSystem: LogSystem;
  readonly logger: Logger;
  readonly coreOptions: Partial<CoreOptions>;
  /** Where the node's members count protocol events. */
  readonly raftCounters: RaftCounters;
  /** Told of each command a leader here applies, when set. */
  readonly commitProbe: CommitProbe | undefined;
  sendRaft(cluster: string, to: ServerId, msg: RaftMessage): void;
  respond(replyTo: ReplyTo, response: Response): void;
  notify(dest: Destination, msg: unknown): void;
  liveNodes(): ReadonlySet<string>;
  /** The runtime version `node` runs (see runtimeVersion), as last announced; 0 if unknown. */
  runtimeOf(node: string): number;
  forkRandom(): Random;
  /** This member was removed from its cluster (the removal committed): the host may delete it. */
  memberRemoved(cluster: string, removedAt: number): void;
  /** The configuration this member knows changed: the host learns who to ask. */
  membersChanged(cluster: string, members: readonly string[]): void;
}

/** How a server starts. */
export interface ServerArgs {
  readonly cluster: string;
  /** The name the machine is registered under on every node. */
  readonly machineName: string;
  readonly machine: AnyMachine;
  readonly machineConfig: unknown;
  /** Voters of a brand-new cluster (ignored once the log or a snapshot holds a configuration). */
  readonly initialMembers: readonly string[];
  readonly host: ServerHost;
  /** Idle time after which a client session expires, by leader time (default 60 s). */
  readonly sessionTimeoutMs?: number;
  /** Take a snapshot every this many applied entries (default 65,536); the machine may ask sooner with release_cursor. */
  readonly snapshotEveryEntries?: number;
  /**
   * ...and only once the entries applied since the last snapshot hold this
   * many times its size in bytes (default 2). A snapshot costs work in
   * proportion to the machine's state, so this keeps that cost per written
   * byte bounded: a large state is not rewritten for every 65,536 small
   * commands. The log it keeps on disk is at most this many times the state.
   */
  readonly snapshotLogRatio?: number;
  /** Set when it joins an existing cluster: the leader's last index when it was asked to (see RaftState.votesFrom). */
  readonly joinedAfter?: number | undefined;
  /** The cluster's incarnation (RaftEnvelope.incarnation), reported in the status for joiners to take. */
  readonly incarnation?: number | undefined;
  /** Restore steps (reading the snapshot, then the machine's restoreSteps) run per turn while a snapshot is restored (default 16). */
  readonly restoreStepsPerTurn?: number;
  /** How often a machine with a `tick` hook is ticked, in ms (default 1000; 0: never). */
  readonly machineTickMs?: number;
}

/** The server's mailbox. */
export type ServerMsg =
  | { readonly type: 'raft'; readonly from: ServerId; readonly msg: RaftMessage }
  | { readonly type: 'request'; readonly replyTo: ReplyTo; readonly body: Request }
  | { readonly type: 'timer'; readonly name: TimerName }
  | { readonly type: 'machine_timer'; readonly name: string; readonly due: number }
  | { readonly type: 'machine_tick' }
  | { readonly type: 'retry_proposal'; readonly proposal: InternalProposal }
  | { readonly type: 'node_event'; readonly event: NodeEvent }
  | { readonly type: 'flush' }
  | { readonly type: 'restore_step' }
  /** Disaster recovery: continue the cluster alone (System.forceShrinkToLocal). */
  | { readonly type: 'force_sole_voter' }
  | MetaStored
  | SnapshotIoMsg
  | LogEvent;

/**
 * An entry the leader proposes on its own behalf: a machine timer firing, a
 * monitored node's down, an upgrade of the machine version. One the core
 * refuses (the leader is handing over, or its log is blocked) is proposed
 * again a little later while this member still leads; a new leader
 * proposes what is due anyway.
 */
type InternalProposal = { readonly type: 'timeout'; readonly name: string; readonly due: number } | { readonly type: 'down'; readonly node: string } | { readonly type: 'machine_version' };

/** How long the leader waits before proposing a refused internal entry again. */
const internalRetryMs = 50;

/** A summary of one server, for `members` and `overview`. */
export interface ServerStatus {
  readonly cluster: string;
  readonly node: string;
  /** The machine's registered name and its configuration (what a new member is started with). */
  readonly machine: string;
  readonly machineConfig: unknown;
  readonly sessionTimeoutMs: number;
  readonly role: Role;
  readonly term: number;
  readonly leader: string | undefined;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly writtenIndex: number;
  readonly snapshotIndex: number;
  readonly voters: readonly string[];
  readonly nonVoters: readonly string[];
  /**
   * The index of the configuration entry `voters` and `nonVoters` come from
   * (0: the one the cluster started with). Once `commitIndex` has reached
   * it, a membership change asked with it applies to this configuration or
   * to none (MembershipOptions of addMember and removeMember).
   */
  readonly configIndex: number;
  /** The cluster's incarnation (RaftEnvelope.incarnation), if it has one. */
  readonly incarnation: number | undefined;
  readonly machineVersion: number;
  /** Set when this member cannot apply the cluster's machine version. */
  readonly halted: string | undefined;
}

/** The server's states: the core's roles, and restoring a snapshot into the machine (between roles). */
export type ServerState = Role | 'restoring';

const timerEvents: Record<TimerName, RaftEvent> = {
  election: { type: 'election_timeout' },
  heartbeat: { type: 'heartbeat_timeout' },
  transfer: { type: 'transfer_timeout' },
};

/**
 * The first of a member's snapshot points (`phase` past each multiple of
 * `every`) at least every/2 after its last snapshot: the points are `every`
 * apart, and a snapshot taken off them (one installed from the leader, one
 * held back by the bytes rule) moves the next by at most half a period.
 */
export function nextSnapshotPoint(lastSnapshotIndex: number, every: number, phase: number): number {
  const from = lastSnapshotIndex + Math.ceil(every / 2);
  return Math.ceil((from - phase) / every) * every + phase;
}

/** The Raft server actor for one member of one cluster. */
export class RaftServer extends Statem<ServerState, ServerMsg, ServerArgs> {
  private host!: ServerHost;
  private args!: ServerArgs;
  private cluster = '';
  private core!: RaftState;
  private log!: GroupLog;
  private runner!: MachineRunner;
  private snapshots!: SnapshotIo;
  private snapshotEvery = 65_536;
  private snapshotLogRatio = 2;
  private restoreStepsPerTurn = 16;
  private machineTickMs = 1000;
  /** Set once `start` has run: the observer hears of effects only after. */
  private started = false;
  /** Whether this member has said that a tick returned effects it may not (said once). */
  private tickWarned = false;
  private lastSnapshotIndex = 0;
  /** The size of the last snapshot, and payload bytes applied in all (at its index, and when the one being saved was taken). */
  private lastSnapshotBytes = 0;
  private appliedBytes = 0;
  private appliedBytesAtSnapshot = 0;
  private appliedBytesAtSaving = 0;
  private nextRef = 1;
  private commandBatch: CommandItem[] = [];
  /** Requests waiting for the core to accept (commands) or finish (membership, transfer). */
  private readonly pendingRefs = new Map<number, ReplyTo | undefined>();
  /** Commands accepted by this leader, by index: whom to answer, and when it accepted them (when a commit probe listens, else -1). */
  private readonly awaitingApply = new Map<number, { term: number; replyTo: ReplyTo; acceptedAt: number }>();
  private readBatch: number[] = [];
  private readonly readRequests = new Map<number, { replyTo: ReplyTo; query: QuerySpec }>();
  private persistSeq = 0;
  private persistDone = 0;
  private held: { seq: number; to: ServerId; msg: RaftMessage }[] = [];
  private readonly proposedDown = new Set<string>();
  /** Machine timers whose timeout this leader proposed, by name: the due time proposed. */
  private readonly proposedTimeouts = new Map<string, number>();
  /** Internal entries in the command batch or not yet accepted by the core, by ref. */
  private readonly internalProposals = new Map<number, InternalProposal>();
  private knownConfig: RaftState['config'] | undefined;
  /** The role last counted in the node's counters. */
  private countedRole: Role | undefined;
  /** A snapshot being restored into the machine a few steps at a time, and what to do once it is. */
  private restoring: { readonly job: RestoreJob; readonly index: number; readonly then: () => void } | undefined;

  protected readonly states: { readonly [K in ServerState]: StateHandler<ServerState, ServerMsg> } = (() => {
    const h: StateHandler<ServerState, ServerMsg> = {
      enter: () => this.entered(),
      handle: (_kind, msg) => this.onMessage(msg),
    };
    // Everything but the restore's own steps waits for it, in order, as it would behind one long restore.
    const restoring: StateHandler<ServerState, ServerMsg> = {
      handle: (_kind, msg) => (msg.type === 'restore_step' ? this.restoreStep() : this.postpone()),
    };
    return { follower: h, pre_vote: h, candidate: h, leader: h, await_condition: h, receive_snapshot: h, stopped: h, restoring };
  })();

  protected start(args: ServerArgs): ServerState {
    this.host = args.host;
    this.args = args;
    this.cluster = args.cluster;
    this.snapshotEvery = args.snapshotEveryEntries ?? 65_536;
    this.snapshotLogRatio = args.snapshotLogRatio ?? 2;
    this.restoreStepsPerTurn = args.restoreStepsPerTurn ?? 16;
    this.machineTickMs = args.machineTickMs ?? 1000;
    const logSystem = args.host.logSystem;
    this.log = logSystem.openLog(args.cluster, this.self);
    this.runner = new MachineRunner(args.machine, args.host.logger, args.cluster, args.machineConfig, args.sessionTimeoutMs ?? 60_000);
    if (this.runner.ticks && this.machineTickMs > 0) this.genericTimeout('machine_tick', this.machineTickMs, { type: 'machine_tick' });
    this.snapshots = new SnapshotIo(logSystem.snapshots(args.cluster), (msg) => this.send(this.self, msg));
    const meta = logSystem.metaStore().fetch(args.cluster);
    const { configs, snapshot, restore } = this.recover(args.initialMembers);
    this.core = initState({
      id: args.host.nodeId,
      term: meta.term,
      votedFor: meta.votedFor ?? undefined,
      configs,
      log: this.log,
      now: this.now(),
      random: args.host.forkRandom(),
      options: args.host.coreOptions,
      snapshot,
      // Entries the previous incarnation appended (a restart by the supervisor) may still be on
      // their way to disk: counted as durable, they were acknowledged before they were (simulator).
      writtenIndex: this.log.writtenIndex,
      joinedAfter: args.joinedAfter,
    });
    if (restore !== undefined && !restore.step(this.restoreStepsPerTurn)) {
      this.started = true;
      return this.restoreInSteps(restore, snapshot?.index ?? 0, () => this.startCore());
    }
    this.startCore();
    this.started = true;
    return this.core.role;
  }

  /** Starts the core, once the machine holds the state the log continues from. */
  private startCore(): void {
    if (this.runner.halted !== undefined) this.core.canLead = false;
    // Members whose node is not known to be up start out down (node-level liveness, for quiescence).
    const live = this.host.liveNodes();
    for (const id of [...this.core.config.voters, ...this.core.config.nonVoters]) if (id !== this.core.id && !live.has(id)) this.core.downPeers.add(id);
    this.carryOut(startCore(this.core, { now: this.now(), log: this.log }));
  }

  /** Goes on restoring `job` (the snapshot at `index`) a few steps per turn, then does `then`; returns the state to be in meanwhile. */
  private restoreInSteps(job: RestoreJob, index: number, then: () => void): ServerState {
    this.restoring = { job, index, then };
    this.genericTimeout('restore', 0, { type: 'restore_step' });
    return 'restoring';
  }

  /** A turn of a restore in steps: a few more, or the end of it and the role the core is in. */
  private restoreStep(): void {
    const r = this.restoring;
    if (r === undefined) return;
    if (!r.job.step(this.restoreStepsPerTurn)) {
      this.genericTimeout('restore', 0, { type: 'restore_step' });
      return;
    }
    this.restoring = undefined;
    this.host.observer?.restoredInSteps?.(this.cluster, this.host.nodeId, r.index);
    r.then();
    this.nextState(this.core.role);
  }

  /** Starts restoring the latest snapshot and finds the configurations after it. */
  private recover(initialMembers: readonly string[]): { configs: ConfigAt[]; snapshot: RaftState['snapshot']; restore: RestoreJob | undefined } {
    const latest = this.host.logSystem.snapshots(this.cluster).latest();
    let configs: ConfigAt[];
    let snapshot: RaftState['snapshot'];
    let restore: RestoreJob | undefined;
    if (latest === undefined) {
      configs = [{ index: 0, config: { voters: [...initialMembers], nonVoters: [] } }];
    } else {
      // Read and checked at once: a damaged file fails the start (restartServer reports it) rather
      // than crashing the member over and over, and its restarts, its supervisor. The machine's
      // decoding, the larger part, goes in steps.
      restore = this.runner.beginRestore(this.host.logSystem.snapshots(this.cluster).read(latest.index), latest.index);
      // A member restarted in the same process (by its supervisor, or stopServer then restartServer)
      // after a received snapshot was stored but before it reached the log finds the log behind
      // the snapshot: the log is moved past it, as the install would have. Left behind, the core
      // counted from the log's point while the machine stood at the snapshot, and refused the
      // same snapshot from the leader for ever ("does not match the applied log"). A fresh
      // process takes its log's point from the snapshot store as it opens the log.
      if (latest.index > this.log.snapshotIndex) {
        if (latest.index <= this.log.lastIndex && this.log.term(latest.index) === latest.term) this.log.setSnapshotPoint(latest.index, latest.term);
        else this.log.resetTo(latest.index, latest.term);
      }
      configs = [snapshotConfig(latest.meta, latest.index)];
      snapshot = { index: latest.index, term: latest.term, size: latest.size };
      this.lastSnapshotIndex = latest.index;
      this.lastSnapshotBytes = latest.size;
    }
    return { configs: [...configs, ...this.configsAfter(latest?.index ?? 0)], snapshot, restore };
  }

  /** Configuration entries in the log after `index`. */
  private configsAfter(index: number): ConfigAt[] {
    const out: ConfigAt[] = [];
    const last = this.log.lastIndex;
    for (let i = Math.max(index + 1, this.log.firstIndex); i <= last; ) {
      const batch = this.log.entries(i, last, 1 << 22);
      if (batch.length === 0) break;
      for (const e of batch) if (kindOf(e) === EntryKind.config) out.push({ index: e.index, config: decodeConfig(e.payload) });
      i = (batch[batch.length - 1] as { index: number }).index + 1;
    }
    return out;
  }

  /** The server's insides, read-only by contract (the simulator checks invariants on them). */
  inspect(): { readonly core: Readonly<RaftState>; readonly log: GroupLog; readonly machineState: unknown; readonly runner: MachineRunner; readonly incarnation: number | undefined } {
    return { core: this.core, log: this.log, machineState: this.runner.state, runner: this.runner, incarnation: this.args.incarnation };
  }

  /** A summary of this server's state. */
  status(): ServerStatus {
    const c = this.core;
    const h = this.runner.halted;
    return {
      cluster: this.cluster,
      node: c.id,
      machine: this.args.machineName,
      machineConfig: this.args.machineConfig,
      sessionTimeoutMs: this.runner.sessions.timeoutMs,
      role: c.role,
      term: c.term,
      leader: c.leaderId,
      commitIndex: c.commitIndex,
      appliedIndex: this.runner.appliedIndex,
      lastIndex: this.log.lastIndex,
      writtenIndex: this.log.writtenIndex,
      snapshotIndex: this.log.snapshotIndex,
      voters: c.config.voters,
      nonVoters: c.config.nonVoters,
      configIndex: latestConfigIndex(c),
      incarnation: this.args.incarnation,
      machineVersion: this.runner.version,
      halted: h?.reason,
    };
  }

  override afterBatch(): void {
    if (this.commandBatch.length > 0 || this.readBatch.length > 0) this.injectEvent({ type: 'flush' });
  }

  override terminate(): void {
    const error: WireError = { code: 'shutdown', message: `member ${this.cluster}/${this.host.nodeId} stopped; outcome unknown` };
    for (const r of this.pendingRefs.values()) if (r !== undefined) this.host.respond(r, { ok: false, error });
    for (const p of this.awaitingApply.values()) this.host.respond(p.replyTo, { ok: false, error });
    for (const q of this.readRequests.values()) this.host.respond(q.replyTo, { ok: false, error });
    this.pendingRefs.clear();
    this.awaitingApply.clear();
    this.readRequests.clear();
    this.snapshots.abortAll();
  }

  // ---- events ----

  private onMessage(msg: ServerMsg): void {
    switch (msg.type) {
      case 'raft':
        this.stepCore({ type: 'message', from: msg.from, msg: msg.msg });
        break;
      case 'request':
        this.onRequest(msg.replyTo, msg.body);
        break;
      case 'timer':
        this.stepCore(timerEvents[msg.name as TimerName]);
        break;
      case 'flush':
        this.flushBatches();
        break;
      case 'restore_step':
        break;
      case 'meta_stored':
        this.metaStored(msg.tag as number);
        break;
      case 'machine_timer':
        if (this.core.role === 'leader') this.proposeFiring(msg.name, msg.due);
        break;
      case 'machine_tick':
        this.machineTick();
        break;
      case 'retry_proposal':
        this.retryProposal(msg.proposal);
        break;
      case 'node_event':
        this.onNodeEvent(msg.event);
        break;
      case 'force_sole_voter':
        this.host.logger.warn('forced to continue the cluster alone: the other members are taken for lost', { cluster: this.cluster, node: this.core.id });
        this.stepCore({ type: 'force_sole_voter' });
        break;
      case 'snapshot_saved':
        this.snapshotSaved(msg.index, msg.term, msg.size, msg.error);
        break;
      case 'snapshot_save_step':
        this.snapshots.saveStep(msg.index, msg.error);
        break;
      case 'snapshot_chunk_written':
        if (!this.snapshots.chunkWritten(msg.index, msg.error)) this.receiveFailed(msg.index, msg.error);
        break;
      case 'snapshot_received':
        this.snapshotReceived(msg.index, msg.error);
        break;
      default:
        this.onLogEvent(msg);
    }
    if (this.restoring === undefined && this.core.role !== this.state) this.nextState(this.core.role);
  }

  private onLogEvent(event: LogEvent): void {
    const change = this.log.handle(event);
    if (change === undefined) return;
    switch (change.type) {
      case 'written':
        this.stepCore({ type: 'written', index: change.index });
        break;
      case 'wal_overloaded':
        this.stepCore({ type: 'log_blocked', reason: 'overloaded' });
        break;
      case 'wal_down':
        this.stepCore({ type: 'log_blocked', reason: 'down' });
        break;
      case 'wal_resumed':
      case 'wal_up':
        this.stepCore({ type: 'log_unblocked' });
        break;
      default:
        assertNever(change, 'log change');
    }
  }

  private onRequest(replyTo: ReplyTo, body: Request): void {
    const refuse = (error: WireError) => this.host.respond(replyTo, { ok: false, error });
    if (this.runner.halted !== undefined && body.type !== 'members') return refuse({ code: 'machine_version', message: this.status().halted ?? '' });
    switch (body.type) {
      case 'command':
        return this.onCommand(replyTo, body.command, body.session);
      case 'register_session':
        if (this.core.role !== 'leader') return refuse(this.notLeader());
        return this.propose({ type: 'register_session', timestamp: this.now() }, replyTo);
      case 'query':
        return this.onQuery(replyTo, body.mode, body.query);
      case 'members': {
        // A member outside its own configuration (removed, or still joining) has no view worth
        // giving: send the caller to the leader.
        const config = this.core.config;
        if (!config.voters.includes(this.core.id) && !config.nonVoters.includes(this.core.id)) return refuse(this.notLeader());
        return this.host.respond(replyTo, { ok: true, value: this.status() });
      }
      case 'add_member':
      case 'remove_member':
        return this.onAdmin(replyTo, { type: 'change_membership', ref: this.nextRef++, change: { type: body.type, id: body.member, configIndex: body.configIndex } });
      case 'transfer_leadership':
        return this.onAdmin(replyTo, { type: 'transfer_leadership', ref: this.nextRef++, target: body.target });
      case 'start_server':
      case 'delete_server':
      case 'force_shrink':
      case 'overview':
        return refuse({ code: 'invalid_argument', message: `${body.type} is for the System` });
      default:
        assertNever(body, 'request');
    }
  }

  private onCommand(replyTo: ReplyTo, command: Uint8Array, session: SessionTag | undefined): void {
    if (this.core.role !== 'leader') return this.host.respond(replyTo, { ok: false, error: this.notLeader() });
    this.propose({ type: 'user', timestamp: this.now(), command, session }, replyTo);
  }

  private onAdmin(replyTo: ReplyTo, event: Extract<RaftEvent, { type: 'change_membership' | 'transfer_leadership' }>): void {
    this.pendingRefs.set(event.ref, replyTo);
    this.stepCore(event);
  }

  private onQuery(replyTo: ReplyTo, mode: 'consistent' | 'leader' | 'local', query: QuerySpec): void {
    if (mode === 'local') return this.runQuery(replyTo, query);
    if (this.core.role !== 'leader') return this.host.respond(replyTo, { ok: false, error: this.notLeader() });
    if (mode === 'leader') return this.runQuery(replyTo, query);
    const ref = this.nextRef++;
    this.readRequests.set(ref, { replyTo, query });
    this.readBatch.push(ref);
  }

  private runQuery(replyTo: ReplyTo, query: QuerySpec): void {
    let value: unknown;
    try {
      value = this.runner.query(query);
    } catch (e) {
      const code = e instanceof ConcordError ? e.code : 'machine_error';
      return this.host.respond(replyTo, { ok: false, error: { code, message: e instanceof Error ? e.message : String(e) } });
    }
    this.host.respond(replyTo, { ok: true, value });
  }

  private flushBatches(): void {
    if (this.commandBatch.length > 0) {
      const items = this.commandBatch;
      this.commandBatch = [];
      this.stepCore({ type: 'commands', items });
    }
    if (this.readBatch.length > 0) {
      const refs = this.readBatch;
      this.readBatch = [];
      this.stepCore({ type: 'read', refs });
    }
  }

  private metaStored(tag: number): void {
    if (tag > this.persistDone) this.persistDone = tag;
    if (this.held.length === 0) return;
    const ready = this.held.filter((h) => h.seq <= this.persistDone);
    this.held = this.held.filter((h) => h.seq > this.persistDone);
    for (const h of ready) this.host.sendRaft(this.cluster, h.to, h.msg);
  }

  private onNodeEvent(event: NodeEvent): void {
    if (event.node !== this.core.id) this.stepCore({ type: event.type === 'node_up' ? 'peer_up' : 'peer_down', id: event.node });
    if (event.type === 'node_up') {
      this.proposedDown.delete(event.node);
      return;
    }
    if (this.core.role === 'leader' && this.runner.monitors.has(event.node)) this.proposeDown(event.node);
  }

  /** Runs on every role change: the machine's stateEnter; a new leader re-arms monitors and timers and upgrades. */
  private entered(): void {
    const role = this.state;
    if (role === 'restoring') return;
    if (role === 'stopped') {
      this.host.memberRemoved(this.cluster, this.core.configs[this.core.configs.length - 1]?.index ?? 0);
      return;
    }
    const effects = this.runner.enter(role);
    if (role !== 'leader') return;
    this.proposedDown.clear();
    this.proposedTimeouts.clear();
    const live = this.host.liveNodes();
    for (const node of this.runner.monitors) if (!live.has(node)) this.proposeDown(node);
    for (const [name, due] of this.runner.timers) this.armMachineTimer(name, due);
    if (this.runner.codeVersion > this.runner.version) this.proposeInternal({ type: 'machine_version' });
    this.runEffects(effects);
  }

  // ---- the core ----

  private stepCore(event: RaftEvent): void {
    this.carryOut(step(this.core, event, { now: this.now(), log: this.log }));
    const config = this.core.config;
    if (config !== this.knownConfig && config.voters.length > 0) {
      this.knownConfig = config;
      this.host.membersChanged(this.cluster, [...config.voters, ...config.nonVoters]);
    }
  }

  /** Carries out the core's effects in order; log back-pressure becomes a follow-up event. */
  private carryOut(effects: Effect[]): void {
    let blocked: 'overloaded' | 'down' | undefined;
    const observer = this.started ? this.host.observer : undefined; // (not while it starts: a crash there is a failed start)
    for (const e of effects) {
      observer?.effect?.(this.cluster, this.host.nodeId, e.type);
      const r = this.carryOutOne(e);
      if (r !== undefined) blocked = r;
    }
    if (blocked !== undefined && this.core.blocked === undefined) this.stepCore({ type: 'log_blocked', reason: blocked });
  }

  private carryOutOne(e: Effect): 'overloaded' | 'down' | undefined {
    switch (e.type) {
      case 'send':
        this.sendRaft(e.to, e.msg);
        return undefined;
      case 'persist':
        this.host.logSystem.metaStore().store(this.cluster, e.term, e.votedFor ?? null, this.self, ++this.persistSeq);
        return undefined;
      case 'truncate':
        this.log.truncateAfter(e.afterIndex);
        return undefined;
      case 'append': {
        const r = this.log.append(e.entries as never);
        return r === 'ok' ? undefined : r === 'overloaded' ? 'overloaded' : 'down';
      }
      case 'apply':
        this.applyRange(e.from, e.to);
        return undefined;
      case 'set_timer':
        this.genericTimeout(e.name, Math.max(0, e.atMs - this.now()), { type: 'timer', name: e.name });
        return undefined;
      case 'cancel_timer':
        this.cancelTimeout(e.name);
        return undefined;
      case 'accepted': {
        this.internalProposals.delete(e.ref);
        const replyTo = this.takeRef(e.ref);
        if (replyTo !== undefined) this.awaitingApply.set(e.index, { term: e.term, replyTo, acceptedAt: this.host.commitProbe === undefined ? -1 : this.now() });
        return undefined;
      }
      case 'rejected':
        this.internalRejected(e.ref);
        this.answerRef(e.ref, { ok: false, error: wireError(e.reason) });
        return undefined;
      case 'membership_done':
        this.answerRef(e.ref, { ok: true, value: e.index });
        return undefined;
      case 'transfer_done':
        this.answerRef(e.ref, { ok: true, value: null });
        return undefined;
      case 'reads_ready':
        for (const ref of e.refs) this.finishRead(ref, undefined);
        return undefined;
      case 'reads_failed':
        for (const ref of e.refs) this.finishRead(ref, wireError(e.reason));
        return undefined;
      case 'send_snapshot_chunk':
        this.sendSnapshotChunk(e);
        return undefined;
      case 'receive_snapshot_chunk':
        this.snapshots.receive(e.msg);
        return undefined;
      case 'abort_snapshot':
        this.snapshots.abort();
        return undefined;
      case 'role':
        this.countRole(e.role);
        return undefined;
      default:
        return assertNever(e, 'effect');
    }
  }

  /** Counts elections and leaderships; a candidate's announcement is always a new term, so a new election. */
  private countRole(role: Role): void {
    const counters = this.host.raftCounters;
    if (role === 'candidate') counters.elections++;
    else if (role === this.countedRole) return;
    else if (role === 'pre_vote') counters.preVotes++;
    else if (role === 'leader') counters.leadersElected++;
    this.countedRole = role;
  }

  /** Sends to a peer, holding the message while a persist it may depend on is under way. */
  private sendRaft(to: ServerId, msg: RaftMessage): void {
    if (this.persistSeq > this.persistDone) this.held.push({ seq: this.persistSeq, to, msg });
    else this.host.sendRaft(this.cluster, to, msg);
  }

  private takeRef(ref: number): ReplyTo | undefined {
    const replyTo = this.pendingRefs.get(ref);
    this.pendingRefs.delete(ref);
    return replyTo;
  }

  private answerRef(ref: number, response: Response): void {
    const replyTo = this.takeRef(ref);
    if (replyTo !== undefined) this.host.respond(replyTo, response);
  }

  private finishRead(ref: number, error: WireError | undefined): void {
    const req = this.readRequests.get(ref);
    if (req === undefined) return;
    this.readRequests.delete(ref);
    if (error !== undefined) this.host.respond(req.replyTo, { ok: false, error });
    else this.runQuery(req.replyTo, req.query);
  }

  private applyRange(from: number, to: number): void {
    for (let i = from; i <= to; ) {
      const batch = this.log.entries(i, to, 1 << 22);
      if (batch.length === 0 || (batch[0] as { index: number }).index !== i) fail(`entry ${i} missing for apply`);
      const observer = this.host.observer;
      for (const entry of batch) {
        observer?.applied?.(this.cluster, this.host.nodeId, entry.index, entry.term, entry.payload);
        const wasHalted = this.runner.halted !== undefined;
        this.appliedBytes += entry.payload.length;
        this.host.raftCounters.entriesApplied++;
        this.applied(entry.index, entry.term, this.runner.apply(entry));
        if (!wasHalted && this.runner.halted !== undefined) this.stepCore({ type: 'set_can_lead', value: false });
      }
      i = (batch[batch.length - 1] as { index: number }).index + 1;
    }
    if (this.snapshotDue()) this.takeSnapshot();
  }

  /**
   * Whether enough has been applied since the last snapshot: this member's
   * next snapshot point is passed (entries), and the log since holds enough
   * bytes against the last snapshot's size.
   */
  private snapshotDue(): boolean {
    const applied = this.runner.appliedIndex;
    if (applied - this.lastSnapshotIndex < this.snapshotEvery / 2) return false; // no point is nearer
    if (applied < nextSnapshotPoint(this.lastSnapshotIndex, this.snapshotEvery, this.snapshotPhase())) return false;
    return this.appliedBytes - this.appliedBytesAtSnapshot >= this.snapshotLogRatio * this.lastSnapshotBytes;
  }

  /**
   * Where this member's snapshot points sit between multiples of
   * snapshotEvery: its place among the members, spread evenly. Members that
   * snapshot at the same index all encode and flush at once, and a commit
   * needs a majority of them; spread, a snapshot slows one member at a time.
   */
  private snapshotPhase(): number {
    const { voters, nonVoters } = this.core.config;
    const members = voters.length + nonVoters.length;
    let rank = voters.indexOf(this.core.id);
    if (rank < 0) rank = voters.length + nonVoters.indexOf(this.core.id); // a non-voter; past the end when removed
    return members <= 1 || rank >= members ? 0 : Math.floor((rank * this.snapshotEvery) / members);
  }

  private applied(index: number, term: number, result: Applied | undefined): void {
    const pending = this.awaitingApply.get(index);
    if (pending !== undefined) {
      this.awaitingApply.delete(index);
      if (pending.term !== term) {
        // Our entry was replaced by another leader's: it will never apply, so the caller may retry.
        this.host.respond(pending.replyTo, { ok: false, error: { code: 'not_leader', message: 'command was dropped by a leader change', leader: this.core.leaderId } });
      } else if (result?.outcome === undefined) {
        this.host.respond(pending.replyTo, { ok: false, error: { code: 'machine_version', message: 'not applied: this member cannot run the cluster\'s machine version' } });
      } else {
        const outcome = result.outcome;
        this.host.respond(pending.replyTo, outcome.ok ? { ok: true, value: outcome.value } : { ok: false, error: { code: outcome.code, message: outcome.message } });
        const probe = this.host.commitProbe;
        if (probe !== undefined && pending.acceptedAt >= 0) probe.commandApplied(this.now() - pending.acceptedAt);
      }
    }
    if (result === undefined) return;
    // Every member compacts its own log where the machine allows; other effects run on the leader.
    for (const e of result.effects) if (e.type === 'release_cursor' && e.index > this.lastSnapshotIndex) this.takeSnapshot();
    if (this.core.role === 'leader') this.runEffects(result.effects);
    // Delivered: a later monitor of the node, while it is still down, is answered with another down,
    // and the timer, set again, fires again.
    if (result.down !== undefined) this.proposedDown.delete(result.down);
    if (result.timeout !== undefined) this.proposedTimeouts.delete(result.timeout);
  }

  // ---- snapshots ----

  /** Snapshots the machine at the applied index (unless one is being saved already). */
  private takeSnapshot(): void {
    const index = this.runner.appliedIndex;
    const term = this.log.term(index);
    if (index <= this.lastSnapshotIndex || term === undefined || this.runner.halted !== undefined) return;
    let at = this.core.configs[0] ?? { index, config: this.core.config };
    for (const c of this.core.configs) if (c.index <= index) at = c;
    if (this.snapshots.busy) return;
    this.appliedBytesAtSaving = this.appliedBytes;
    this.snapshots.save(index, term, { config: at.config, configIndex: at.index, machineVersion: this.runner.version }, this.runner.snapshotStream());
  }

  private snapshotSaved(index: number, term: number, size: number, error: Error | null): void {
    if (error !== null) {
      this.host.logger.warn('snapshot save failed', { cluster: this.cluster, index, error });
      return;
    }
    if (index <= this.lastSnapshotIndex) return;
    this.lastSnapshotIndex = index;
    this.lastSnapshotBytes = size;
    this.appliedBytesAtSnapshot = this.appliedBytesAtSaving;
    this.host.raftCounters.snapshotsTaken++;
    if (index > this.log.snapshotIndex) this.log.setSnapshotPoint(index, term);
    this.stepCore({ type: 'snapshot_taken', index, term, size });
  }

  private sendSnapshotChunk(e: Extract<Effect, { type: 'send_snapshot_chunk' }>): void {
    let chunk: ReturnType<SnapshotIo['chunk']>;
    try {
      chunk = this.snapshots.chunk(e.index, e.offset, e.length);
    } catch (err) {
      this.host.logger.warn('cannot read snapshot chunk', { cluster: this.cluster, index: e.index, error: err });
      this.stepCore({ type: 'snapshot_failed', index: e.index });
      return;
    }
    this.sendRaft(e.to, {
      type: 'install_snapshot',
      term: e.term,
      leaderId: this.core.id,
      lastIncludedIndex: e.index,
      lastIncludedTerm: e.snapshotTerm,
      config: chunk.meta.config,
      configIndex: chunk.meta.configIndex,
      machineVersion: chunk.meta.machineVersion,
      offset: e.offset,
      data: chunk.data,
      done: e.offset + e.length >= e.size,
      size: e.size,
    });
    this.host.raftCounters.snapshotChunksSent++;
  }

  private receiveFailed(index: number, error: Error | null): void {
    if (error !== null) this.host.logger.warn('writing a received snapshot failed', { cluster: this.cluster, index, error });
    this.stepCore({ type: 'snapshot_failed', index });
  }

  /** A received snapshot is durable: restore the machine from it, move the log past it, tell the core. */
  private snapshotReceived(received: number, error: DiskError | null): void {
    // A transfer given up on purpose (the core's decision, or a new one in its place) says nothing new.
    if (error?.errno === 'ECANCELED') return;
    if (error !== null) return this.receiveFailed(received, error);
    this.snapshots.received(received);
    // The core may have given this transfer up meanwhile (an election timeout, a new term) and
    // applied from its log: the snapshot is still a committed prefix, durable now, and the store's
    // latest (left uninstalled, it blocked every later, older transfer: simulator, seed 2116). It
    // is installed all the same, without rolling back the machine or dropping matching entries.
    const store = this.host.logSystem.snapshots(this.cluster);
    const latest = store.latest();
    if (latest === undefined || latest.index < received) return this.receiveFailed(received, null);
    // The store may hold a newer complete snapshot than this one: a transfer from an earlier
    // leader that finished writing after this member gave it up (it restarted meanwhile). That
    // one is a committed prefix too, and the store's latest: it is the one to install. Refusing
    // this transfer instead failed it for ever, as every new leader with an older snapshot sent
    // it again (simulator, seed 7288909).
    const index = latest.index;
    const inLog = this.log.term(index) === latest.term && index <= this.log.lastIndex;
    if (index <= this.runner.appliedIndex) {
      // Entries that arrived while the snapshot was being written took the machine past it
      // already: restoring would roll the machine back while the log stays ahead (simulator,
      // seed 4919: an increment lost on one member). Keep the machine; the snapshot only
      // compacts the log.
      if (!inLog) return this.receiveFailed(received, new Error(`snapshot ${index} does not match the applied log`));
    } else {
      const job = this.runner.beginRestore(store.readSteps(index), index);
      if (!job.step(this.restoreStepsPerTurn)) {
        this.nextState(this.restoreInSteps(job, index, () => this.installReceived(index, latest, inLog)));
        return;
      }
    }
    this.installReceived(index, latest, inLog);
  }

  /** The machine holds a received snapshot (or is past it): move the log past it and tell the core. */
  private installReceived(index: number, latest: SnapshotInfo, inLog: boolean): void {
    if (inLog) this.log.setSnapshotPoint(index, latest.term);
    else this.log.resetTo(index, latest.term);
    this.lastSnapshotIndex = index;
    this.lastSnapshotBytes = latest.size;
    this.appliedBytesAtSnapshot = this.appliedBytes;
    // Callers waiting on entries the snapshot covers cannot learn their fate here.
    for (const [i, p] of this.awaitingApply) {
      if (i > index) continue;
      this.awaitingApply.delete(i);
      this.host.respond(p.replyTo, { ok: false, error: { code: 'timeout', message: 'outcome unknown: the member installed a snapshot past it' } });
    }
    const configs = [snapshotConfig(latest.meta, index), ...this.configsAfter(index)];
    this.host.raftCounters.snapshotsInstalled++;
    this.stepCore({ type: 'snapshot_installed', index, term: latest.term, size: latest.size, configs });
    if (this.runner.halted !== undefined) this.stepCore({ type: 'set_can_lead', value: false });
  }

  // ---- machine effects (leader only) ----

  private runEffects(effects: readonly MachineEffect[]): void {
    for (const e of effects) {
      switch (e.type) {
        case 'send':
          this.host.notify(e.to, e.msg);
          break;
        case 'monitor':
          if (!this.host.liveNodes().has(e.node)) this.proposeDown(e.node);
          break;
        case 'timer': {
          const due = this.runner.timers.get(e.name);
          if (due !== undefined) this.armMachineTimer(e.name, due);
          break;
        }
        case 'demonitor':
        case 'cancel_timer':
        case 'release_cursor':
          break;
        default:
          assertNever(e, 'machine effect');
      }
    }
  }

  /** Whether every member of the configuration (this one too) announced runtime version `v` or later. */
  private everyMemberRuns(v: number): boolean {
    const c = this.core.config;
    for (const id of c.voters) if (this.host.runtimeOf(id) < v) return false;
    for (const id of c.nonVoters) if (this.host.runtimeOf(id) < v) return false;
    return true;
  }

  /** The machine's periodic tick, on every member (its sends on the leader only); a halted or removed member does not tick. */
  private machineTick(): void {
    if (this.state === 'stopped' || this.runner.halted !== undefined) return;
    this.genericTimeout('machine_tick', this.machineTickMs, { type: 'machine_tick' });
    const effects = this.runner.tick(this.now());
    if (this.core.role !== 'leader') return;
    const sends = effects.filter((e) => e.type === 'send');
    if (sends.length < effects.length && !this.tickWarned) {
      this.tickWarned = true;
      this.host.logger.warn('a machine tick returned effects other than send; they are ignored (monitors, timers and release cursors come from apply)', { cluster: this.cluster });
    }
    this.runEffects(sends);
  }

  private armMachineTimer(name: string, due: number): void {
    this.sendAfter(Math.max(0, due - this.now()), { type: 'machine_timer', name, due });
  }

  /** Proposes the firing of timer `name` for its setting due at `due`, unless the timer has another setting now or that firing is on its way. */
  private proposeFiring(name: string, due: number): void {
    if (this.runner.timers.get(name) === due && this.proposedTimeouts.get(name) !== due) this.proposeInternal({ type: 'timeout', name, due });
  }

  private proposeDown(node: string): void {
    if (!this.proposedDown.has(node)) this.proposeInternal({ type: 'down', node });
  }

  /** Adds an internal entry to the next batch, remembered until the core accepts or refuses it. */
  private proposeInternal(p: InternalProposal): void {
    const ref = this.internalRef();
    this.internalProposals.set(ref, p);
    const timestamp = this.now();
    let payload: Uint8Array;
    if (p.type === 'timeout') {
      this.proposedTimeouts.set(p.name, p.due);
      // Never stamped before its due time (a timer may run a little early). A firing that
      // names the setting it is for needs every member to know that entry kind.
      const stamp = Math.max(timestamp, p.due);
      payload = this.everyMemberRuns(1)
        ? encodeTimerFiring({ timestamp: stamp, name: p.name, due: p.due })
        : encodeCommand({ type: 'timeout', timestamp: stamp, name: p.name });
    } else if (p.type === 'down') {
      this.proposedDown.add(p.node);
      payload = encodeCommand({ type: 'down', timestamp, node: p.node });
    } else {
      payload = encodeMachineVersion(this.runner.codeVersion);
    }
    this.commandBatch.push({ ref, payload });
  }

  /** The core refused an internal entry (a handover, a blocked log): try again soon, if still leading. */
  private internalRejected(ref: number): void {
    const p = this.internalProposals.get(ref);
    if (p === undefined) return;
    this.internalProposals.delete(ref);
    if (p.type === 'timeout') this.proposedTimeouts.delete(p.name);
    else if (p.type === 'down') this.proposedDown.delete(p.node);
    this.sendAfter(internalRetryMs, { type: 'retry_proposal', proposal: p });
  }

  /** Proposes a refused internal entry again if it is still wanted (a new leader proposes what is due itself). */
  private retryProposal(p: InternalProposal): void {
    if (this.core.role !== 'leader') return;
    if (p.type === 'timeout') {
      this.proposeFiring(p.name, p.due);
    } else if (p.type === 'down') {
      if (this.runner.monitors.has(p.node) && !this.host.liveNodes().has(p.node)) this.proposeDown(p.node);
    } else if (this.runner.codeVersion > this.runner.version) {
      this.proposeInternal(p);
    }
  }

  /** Adds a command to the next batch; `replyTo` gets its outcome once applied. */
  private propose(body: ProposedCommand, replyTo?: ReplyTo): void {
    const payload = encodeCommand(body);
    const ref = replyTo === undefined ? this.internalRef() : this.nextRef++;
    if (replyTo !== undefined) this.pendingRefs.set(ref, replyTo);
    this.commandBatch.push({ ref, payload });
  }

  /** A ref for an entry nobody waits for. */
  private internalRef(): number {
    const ref = this.nextRef++;
    this.pendingRefs.set(ref, undefined);
    return ref;
  }

  private notLeader(): WireError {
    return { code: 'not_leader', message: `${this.host.nodeId} is not the leader of ${this.cluster}`, leader: this.core.leaderId };
  }
}

/** A core rejection as it travels to the caller. */
export function wireError(reason: Rejection): WireError {
  switch (reason.code) {
    case 'not_leader':
      return { code: 'not_leader', message: 'not the leader', leader: reason.leader };
    case 'invalid_argument':
    case 'membership_changed':
      return { code: reason.code, message: reason.message };
    case 'timeout':
      return { code: 'timeout', message: reason.message ?? 'timeout' };
    default:
      return { code: reason.code, message: reason.code.replace(/_/g, ' ') };
  }
}
