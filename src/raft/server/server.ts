// The Raft server actor: a Statem whose states mirror the core's roles. It
// feeds the core transport messages, WAL notifications and timer events, and
// carries out the core's effects: log writes, persisted votes (messages wait
// for them), sends, applies to the machine, replies and timers.
import { assert, assertNever } from '../../lib/assert.js';
import { ConcordError } from '../../lib/errors.js';
import type { Random } from '../../io/random.js';
import type { Logger } from '../../lib/logger.js';
import { Statem, type StateHandler } from '../../actors/statem.js';
import type { LogEvent } from '../../log/events.js';
import type { GroupLog } from '../../log/group_log.js';
import type { LogSystem } from '../../log/log_system.js';
import type { MetaStored } from '../../log/meta_store.js';
import { EntryKind, decodeConfig, kindOf } from '../core/entry_kind.js';
import { initState, type ConfigAt, type RaftState } from '../core/state.js';
import { start as startCore, step } from '../core/step.js';
import type { CommandItem, CoreOptions, Effect, RaftEvent, RaftMessage, Rejection, Role, ServerId, TimerName } from '../core/types.js';
import type { AnyMachine, Destination, MachineEffect } from '../machine.js';
import type { NodeEvent, QuerySpec, Request, Response, WireError } from '../../transport/transport.js';
import { encodeCommand } from './entry_codec.js';
import { MachineRunner, type Applied } from './machine_runner.js';

/** Where a reply goes: the requesting node and its request id. */
export interface ReplyTo {
  readonly node: string;
  readonly id: number;
}

/** Watches servers from outside (the simulator's invariant checks). Called synchronously. */
export interface ServerObserver {
  /** An entry was applied on `node` (every kind: no-ops and configurations too). */
  applied?(cluster: string, node: string, index: number, term: number, payload: Uint8Array): void;
}

/** What the System provides to its servers. */
export interface ServerHost {
  readonly observer: ServerObserver | undefined;
  readonly nodeId: string;
  readonly logSystem: LogSystem;
  readonly logger: Logger;
  readonly coreOptions: Partial<CoreOptions>;
  sendRaft(cluster: string, to: ServerId, msg: RaftMessage): void;
  respond(replyTo: ReplyTo, response: Response): void;
  notify(dest: Destination, msg: unknown): void;
  liveNodes(): ReadonlySet<string>;
  forkRandom(): Random;
}

/** How a server starts. */
export interface ServerArgs {
  readonly cluster: string;
  readonly machine: AnyMachine;
  readonly machineConfig: unknown;
  /** Voters of a brand-new cluster (ignored once the log or a snapshot holds a configuration). */
  readonly initialMembers: readonly string[];
  readonly host: ServerHost;
}

/** The server's mailbox. */
export type ServerMsg =
  | { readonly type: 'raft'; readonly from: ServerId; readonly msg: RaftMessage }
  | { readonly type: 'request'; readonly replyTo: ReplyTo; readonly body: Request }
  | { readonly type: 'timer'; readonly name: TimerName }
  | { readonly type: 'machine_timer'; readonly name: string; readonly due: number }
  | { readonly type: 'node_event'; readonly event: NodeEvent }
  | { readonly type: 'flush' }
  | MetaStored
  | LogEvent;

/** A summary of one server, for `overview`. */
export interface ServerStatus {
  readonly cluster: string;
  readonly node: string;
  readonly role: Role;
  readonly term: number;
  readonly leader: string | undefined;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly writtenIndex: number;
  readonly voters: readonly string[];
  readonly nonVoters: readonly string[];
}

const timerEvents: Record<TimerName, RaftEvent> = {
  election: { type: 'election_timeout' },
  heartbeat: { type: 'heartbeat_timeout' },
  transfer: { type: 'heartbeat_timeout' },
};

/** The Raft server actor for one member of one cluster. */
export class RaftServer extends Statem<Role, ServerMsg, ServerArgs> {
  private host!: ServerHost;
  private cluster = '';
  private core!: RaftState;
  private log!: GroupLog;
  private runner!: MachineRunner;
  private nextRef = 1;
  private commandBatch: CommandItem[] = [];
  private readonly commandReplies = new Map<number, ReplyTo | undefined>();
  private readonly awaitingApply = new Map<number, { term: number; replyTo: ReplyTo }>();
  private readBatch: number[] = [];
  private readonly readRequests = new Map<number, { replyTo: ReplyTo; query: QuerySpec }>();
  private persistSeq = 0;
  private persistDone = 0;
  private held: { seq: number; to: ServerId; msg: RaftMessage }[] = [];
  private readonly proposedDown = new Set<string>();

  protected readonly states: { readonly [K in Role]: StateHandler<Role, ServerMsg> } = (() => {
    const h: StateHandler<Role, ServerMsg> = {
      enter: () => this.entered(),
      handle: (_kind, msg) => this.onMessage(msg),
    };
    return { follower: h, pre_vote: h, candidate: h, leader: h, await_condition: h, receive_snapshot: h, stopped: h };
  })();

  protected start(args: ServerArgs): Role {
    this.host = args.host;
    this.cluster = args.cluster;
    const logSystem = args.host.logSystem;
    this.log = logSystem.openLog(args.cluster, this.self);
    this.runner = new MachineRunner(args.machine, args.host.logger, args.cluster, args.machineConfig);
    const meta = logSystem.metaStore().fetch(args.cluster);
    const configs = this.recoverConfigs(args.initialMembers);
    this.core = initState({
      id: args.host.nodeId,
      term: meta?.term ?? 0,
      votedFor: meta?.votedFor ?? undefined,
      configs,
      log: this.log,
      now: this.now(),
      random: args.host.forkRandom(),
      options: args.host.coreOptions,
    });
    this.carryOut(startCore(this.core, { now: this.now(), log: this.log }));
    return this.core.role;
  }

  /** The configurations in the log after the snapshot (or the initial members for a new cluster). */
  private recoverConfigs(initialMembers: readonly string[]): ConfigAt[] {
    const configs: ConfigAt[] = [{ index: 0, config: { voters: [...initialMembers], nonVoters: [] } }];
    const last = this.log.lastIndex;
    for (let i = this.log.firstIndex; i <= last; ) {
      const batch = this.log.entries(i, last, 1 << 22);
      if (batch.length === 0) break;
      for (const e of batch) if (kindOf(e) === EntryKind.config) configs.push({ index: e.index, config: decodeConfig(e.payload) });
      i = (batch[batch.length - 1] as { index: number }).index + 1;
    }
    return configs;
  }

  /** The server's insides, read-only by contract (the simulator checks invariants on them). */
  inspect(): { readonly core: Readonly<RaftState>; readonly log: GroupLog; readonly machineState: unknown } {
    return { core: this.core, log: this.log, machineState: this.runner.state };
  }

  /** A snapshot of this server's state, for overview. */
  status(): ServerStatus {
    const c = this.core;
    return {
      cluster: this.cluster,
      node: c.id,
      role: c.role,
      term: c.term,
      leader: c.leaderId,
      commitIndex: c.commitIndex,
      appliedIndex: c.appliedIndex,
      lastIndex: this.log.lastIndex,
      writtenIndex: this.log.writtenIndex,
      voters: c.config.voters,
      nonVoters: c.config.nonVoters,
    };
  }

  override afterBatch(): void {
    if (this.commandBatch.length > 0 || this.readBatch.length > 0) this.injectEvent({ type: 'flush' });
  }

  override terminate(): void {
    const error: WireError = { code: 'shutdown', message: `member ${this.cluster}/${this.host.nodeId} stopped; outcome unknown` };
    for (const r of this.commandReplies.values()) if (r !== undefined) this.host.respond(r, { ok: false, error });
    for (const p of this.awaitingApply.values()) this.host.respond(p.replyTo, { ok: false, error });
    for (const q of this.readRequests.values()) this.host.respond(q.replyTo, { ok: false, error });
    this.commandReplies.clear();
    this.awaitingApply.clear();
    this.readRequests.clear();
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
      case 'meta_stored':
        this.metaStored(msg.tag as number);
        break;
      case 'machine_timer':
        if (this.core.role === 'leader' && this.runner.timers.get(msg.name) === msg.due) {
          this.propose({ type: 'timeout', timestamp: this.now(), name: msg.name });
        }
        break;
      case 'node_event':
        this.onNodeEvent(msg.event);
        break;
      default:
        this.onLogEvent(msg);
    }
    if (this.core.role !== this.state) this.nextState(this.core.role);
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
        break;
    }
  }

  private onRequest(replyTo: ReplyTo, body: Request): void {
    switch (body.type) {
      case 'command': {
        if (this.core.role !== 'leader') return this.host.respond(replyTo, { ok: false, error: this.notLeader() });
        let payload: Uint8Array;
        try {
          payload = encodeCommand({ type: 'user', timestamp: this.now(), command: body.command });
        } catch (e) {
          return this.host.respond(replyTo, { ok: false, error: { code: 'invalid_argument', message: `command cannot be encoded: ${String(e)}` } });
        }
        const ref = this.nextRef++;
        this.commandReplies.set(ref, replyTo);
        this.commandBatch.push({ ref, payload });
        return;
      }
      case 'query':
        return this.onQuery(replyTo, body.mode, body.query);
      case 'members':
        return this.host.respond(replyTo, { ok: true, value: this.status() });
      case 'start_server':
        return this.host.respond(replyTo, { ok: false, error: { code: 'invalid_argument', message: 'start_server is for the System' } });
      default:
        assertNever(body, 'request');
    }
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
    if (event.type === 'node_up') {
      this.proposedDown.delete(event.node);
      return;
    }
    if (this.core.role === 'leader' && this.runner.monitors.has(event.node)) this.proposeDown(event.node);
  }

  /** Runs on every role change: the machine's stateEnter, and a new leader re-arms monitors and timers. */
  private entered(): void {
    const role = this.state;
    const effects = this.runner.enter(role);
    if (role !== 'leader') return;
    this.proposedDown.clear();
    const live = this.host.liveNodes();
    for (const node of this.runner.monitors) if (!live.has(node)) this.proposeDown(node);
    for (const [name, due] of this.runner.timers) this.armMachineTimer(name, due);
    this.runEffects(effects);
  }

  // ---- the core ----

  private stepCore(event: RaftEvent): void {
    this.carryOut(step(this.core, event, { now: this.now(), log: this.log }));
  }

  /** Carries out the core's effects in order; log back-pressure becomes a follow-up event. */
  private carryOut(effects: Effect[]): void {
    let blocked: 'overloaded' | 'down' | undefined;
    for (const e of effects) {
      const r = this.carryOutOne(e);
      if (r !== undefined) blocked = r;
    }
    if (blocked !== undefined && this.core.blocked === undefined) this.stepCore({ type: 'log_blocked', reason: blocked });
  }

  private carryOutOne(e: Effect): 'overloaded' | 'down' | undefined {
    switch (e.type) {
      case 'send':
        if (this.persistSeq > this.persistDone) this.held.push({ seq: this.persistSeq, to: e.to, msg: e.msg });
        else this.host.sendRaft(this.cluster, e.to, e.msg);
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
        const replyTo = this.commandReplies.get(e.ref);
        this.commandReplies.delete(e.ref);
        if (replyTo !== undefined) this.awaitingApply.set(e.index, { term: e.term, replyTo });
        return undefined;
      }
      case 'rejected': {
        const replyTo = this.commandReplies.get(e.ref);
        this.commandReplies.delete(e.ref);
        if (replyTo !== undefined) this.host.respond(replyTo, { ok: false, error: wireError(e.reason) });
        return undefined;
      }
      case 'reads_ready':
        for (const ref of e.refs) this.finishRead(ref, undefined);
        return undefined;
      case 'reads_failed':
        for (const ref of e.refs) this.finishRead(ref, wireError(e.reason));
        return undefined;
      case 'role':
        return undefined;
      case 'membership_done':
      case 'transfer_done':
      case 'send_snapshot':
      case 'receive_snapshot_chunk':
      case 'take_snapshot_allowed':
        return undefined;
      default:
        return assertNever(e, 'effect');
    }
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
      assert(batch.length > 0 && (batch[0] as { index: number }).index === i, () => `entry ${i} missing for apply`);
      const observer = this.host.observer;
      for (const entry of batch) {
        observer?.applied?.(this.cluster, this.host.nodeId, entry.index, entry.term, entry.payload);
        this.applied(entry.index, entry.term, this.runner.apply(entry));
      }
      i = (batch[batch.length - 1] as { index: number }).index + 1;
    }
  }

  private applied(index: number, term: number, result: Applied | undefined): void {
    const pending = this.awaitingApply.get(index);
    if (pending !== undefined) {
      this.awaitingApply.delete(index);
      if (pending.term !== term) {
        // Our entry was replaced by another leader's: it will never apply, so the caller may retry.
        this.host.respond(pending.replyTo, { ok: false, error: { code: 'not_leader', message: 'command was dropped by a leader change', leader: this.core.leaderId } });
      } else if (result?.error !== undefined) {
        this.host.respond(pending.replyTo, { ok: false, error: { code: result.error.code, message: result.error.message } });
      } else {
        this.host.respond(pending.replyTo, { ok: true, value: result?.reply });
      }
    }
    if (result !== undefined && this.core.role === 'leader') this.runEffects(result.effects);
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

  private armMachineTimer(name: string, due: number): void {
    this.sendAfter(Math.max(0, due - this.now()), { type: 'machine_timer', name, due });
  }

  private proposeDown(node: string): void {
    if (this.proposedDown.has(node)) return;
    this.proposedDown.add(node);
    this.propose({ type: 'down', timestamp: this.now(), node });
  }

  /** Adds an internal command (no caller waits for it) to the next batch. */
  private propose(body: Parameters<typeof encodeCommand>[0]): void {
    const ref = this.nextRef++;
    this.commandReplies.set(ref, undefined);
    this.commandBatch.push({ ref, payload: encodeCommand(body) });
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
      return { code: 'invalid_argument', message: reason.message };
    default:
      return { code: reason.code, message: reason.code.replace(/_/g, ' ') };
  }
}
