// Watches a simulated world from outside and counts what ran: messages sent
// (vote and pre-vote rejections, log repair, snapshots, TimeoutNow), role
// changes (elections, step-downs, await_condition, receive_snapshot), log
// changes (truncations, snapshots), disk and WAL counters, log lines, and
// client outcomes. Also traces leader changes for the replay.
import type { ConcordError } from '../lib/errors.js';
import type { System } from '../api/system.js';
import type { Envelope } from '../transport/transport.js';
import type { CommittedLog } from './committed_log.js';
import type { Coverage } from './coverage.js';
import type { SimOp } from './history.js';
import type { MemberView } from './invariants.js';
import type { SimLogger } from './sim_logger.js';
import type { Trace } from './trace.js';
import type { World } from './world.js';

interface MemberState {
  role: string;
  term: number;
  lastIndex: number;
  lastTerm: number;
  writtenIndex: number;
  snapshotIndex: number;
  quiesced: boolean;
}

/** Log lines that show a path ran, and the counter each feeds. */
const logPaths: readonly (readonly [string, string])[] = [
  ['cutting a torn WAL tail', 'path.torn_tail_cut'],
  ['removing a WAL file whose header is torn', 'path.torn_tail_cut'],
  ['cutting a torn segment tail', 'path.torn_segment_cut'],
  ['cutting a torn meta store tail', 'path.torn_meta_cut'],
  ['meta store cannot write; retrying', 'path.meta_down'],
  ['segment writer: disk error; retrying (WAL files are kept until it succeeds)', 'path.segment_writer_down'],
  ['snapshot save failed', 'path.snapshot_save_failed'],
  ['writing a received snapshot failed', 'path.snapshot_receive_failed'],
  ['actor exited', 'path.actor_crash'],
  ['telling a removed member that campaigns to delete itself', 'path.removed_member_told'],
];

/** Counts the paths a run exercises. */
export class Observation {
  private readonly members = new Map<string, MemberState>();
  private readonly leaderSince = new Map<string, number>();

  constructor(
    private readonly world: World,
    private readonly coverage: Coverage,
    private readonly trace: Trace,
  ) {
    world.sendWatchers.push((from, to, env) => this.sent(from, to, env));
    world.invariants.onMemberChanged = (cluster, node, view) => this.changed(cluster, node, view);
    world.crashHooks.push((_node, system) => this.collect(system));
    world.observers.push({ restoredInSteps: () => this.coverage.add('path.restore_in_steps') });
  }

  /** Virtual time at which `cluster` last got a new leader. */
  leaderChangedAt(cluster: string): number {
    return this.leaderSince.get(cluster) ?? -Infinity;
  }

  /** Leader-to-follower links whose last AppendEntries said quiesce. */
  private readonly quietLinks = new Set<string>();

  private sent(from: string, to: string, env: Envelope): void {
    const c = this.coverage;
    if (env.type === 'response') {
      if (!env.body.ok && env.body.error.message.includes('dropped by a leader change')) c.add('path.command_dropped_by_leader_change');
      return;
    }
    if (env.type !== 'raft') return;
    const m = env.msg;
    switch (m.type) {
      case 'request_vote_reply':
        if (!m.voteGranted) c.add(m.preVote ? 'path.pre_vote_rejected' : 'path.vote_rejected');
        return;
      case 'append_entries_reply':
        if (!m.success && m.rejectedIndex > 0) c.add('path.append_rejected');
        return;
      case 'install_snapshot':
        c.add('path.snapshot_sent');
        if (m.offset > 0) c.add('path.snapshot_chunked');
        return;
      case 'append_entries': {
        // A leader's quiesce heartbeat, and the first message after it (the group woke).
        const key = `${env.cluster}/${from}/${to}`;
        if (m.quiesce === true) {
          c.add('path.quiesce_leader');
          this.quietLinks.add(key);
        } else if (this.quietLinks.delete(key)) {
          c.add('path.wake_leader');
        }
        return;
      }
      case 'timeout_now':
        c.add('path.timeout_now');
        this.trace.add('raft', `${from} tells ${to} to campaign now (${env.cluster})`);
        return;
      default:
        return;
    }
  }

  private changed(cluster: string, node: string, view: MemberView): void {
    const { core, log } = view;
    const key = `${cluster}/${node}`;
    const now: MemberState = { role: core.role, term: core.term, lastIndex: log.lastIndex, lastTerm: log.lastTerm, writtenIndex: log.writtenIndex, snapshotIndex: log.snapshotIndex, quiesced: core.quiesced };
    const prev = this.members.get(key);
    this.members.set(key, now);
    if (prev === undefined) return;
    if (prev.role !== now.role) this.roleChanged(cluster, node, prev, now);
    if (now.quiesced !== prev.quiesced && now.role !== 'leader') this.coverage.add(now.quiesced ? 'path.quiesce_follower' : 'path.wake_follower');
    this.logChanged(view, prev, now);
  }

  private roleChanged(cluster: string, node: string, prev: MemberState, now: MemberState): void {
    const c = this.coverage;
    c.add(`path.role.${now.role}`);
    if (now.role === 'await_condition') c.add('path.await_condition');
    if (now.role === 'receive_snapshot') c.add('path.receive_snapshot');
    if (prev.role === 'leader' && now.term === prev.term) c.add('path.leader_step_down');
    if (now.role === 'leader') {
      this.leaderSince.set(cluster, this.world.clock.now());
      this.trace.add('leader', `${node} leads ${cluster} in term ${now.term}`);
    } else if (prev.role === 'leader') {
      this.trace.add('leader', `${node} no longer leads ${cluster} (${now.role}, term ${now.term})`);
    }
  }

  private logChanged(view: MemberView, prev: MemberState, now: MemberState): void {
    const c = this.coverage;
    if (now.snapshotIndex > prev.snapshotIndex) {
      c.add(prev.role === 'receive_snapshot' || now.snapshotIndex > prev.lastIndex ? 'path.snapshot_installed' : 'path.snapshot_taken');
      return;
    }
    const kept = prev.lastIndex <= now.lastIndex && (prev.lastIndex <= now.snapshotIndex || view.log.term(prev.lastIndex) === prev.lastTerm);
    if (kept || now.term < prev.term) return;
    c.add('path.conflict_truncation');
    // Entries cut before their WAL write was acknowledged: their `written` notice is still to come (ra #516).
    if (prev.writtenIndex < prev.lastIndex) c.add('path.late_write_truncated');
  }

  /** A client operation ended. */
  completed(op: SimOp, error: ConcordError | null, t0: number): void {
    const c = this.coverage;
    if (op.kind === 'query') {
      if (error !== null) return c.add('path.read_failed');
      c.add('path.read_ok');
      if (op.invoke + t0 - this.leaderChangedAt(op.cluster) < 300) c.add('path.read_after_election');
    } else if (error !== null) {
      c.add(`path.command_error.${error.code}`);
      if (error.message.includes('dropped by a leader change')) c.add('path.command_dropped_by_leader_change');
    }
  }

  /** Adds a System's counters (before it is killed, and at the end of the run). */
  collect(system: System): void {
    const c = this.coverage;
    const w = system.logSystem.walStats;
    c.add('path.wal_rollover', w.rollovers);
    c.add('path.wal_overloaded', w.overloads);
    c.add('path.wal_down', w.failures);
    c.add('path.wal_pressure_rollover', w.pressureRollovers);
    c.add('path.segment_flush', system.logSystem.segmentStats.walFilesFlushed);
    c.add('path.segment_writer_failures', system.logSystem.segmentStats.failures);
  }

  /** End of the run: counters of the live systems, the network, the disks, the log lines and the committed logs. */
  finish(logger: SimLogger, committed: CommittedLog, clusters: readonly string[]): void {
    const c = this.coverage;
    for (const s of this.world.systems.values()) this.collect(s);
    c.add('path.net_dropped', this.world.network.stats.dropped);
    c.add('path.net_duplicated', this.world.duplicated);
    for (const d of this.world.disks.values()) c.add('path.disk_faults_hit', d.stats.faults);
    for (const [msg, path] of logPaths) c.add(path, logger.count(msg));
    for (const cluster of clusters) c.add('path.session_duplicate', committed.duplicates(cluster));
  }
}
