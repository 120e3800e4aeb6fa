// A node's metrics as OpenTelemetry observable instruments: Raft members and
// protocol events, the WAL and segments, and the transport. They read the
// counters the System keeps anyway, once per collection, so that they cost
// nothing between collections; only the WAL's per-batch histograms are
// recorded as batches become durable.
import type { Attributes, BatchObservableResult, Histogram, Meter, Observable, ObservableCounter, ObservableGauge, ObservableUpDownCounter } from '@opentelemetry/api';
import type { System } from '../api/system.js';
import type { WalProbe } from '../log/log_system.js';
import type { CommitProbe } from '../raft/server/counters.js';
import type { Role } from '../raft/core/types.js';
import { NatsTransport } from '../transport/nats.js';
import type { Transport } from '../transport/transport.js';

const roles: readonly Role[] = ['follower', 'pre_vote', 'candidate', 'leader', 'await_condition', 'receive_snapshot', 'stopped'];

/** An observable counter (a total that only grows, read at collection). */
function counter(meter: Meter, name: string, unit: string, description: string): ObservableCounter {
  return meter.createObservableCounter(name, { unit, description });
}

/** An observable up-down counter (a count that goes both ways, such as members by role). */
function upDownCounter(meter: Meter, name: string, unit: string, description: string): ObservableUpDownCounter {
  return meter.createObservableUpDownCounter(name, { unit, description });
}

/** An observable gauge (a value that is not a count: an index, a term). */
function gauge(meter: Meter, name: string, unit: string, description: string): ObservableGauge {
  return meter.createObservableGauge(name, { unit, description });
}

/** Metrics read at collection time, all in one callback. */
export interface Observation {
  readonly instruments: Observable[];
  readonly observe: (result: BatchObservableResult) => void;
}

/**
 * Observes a NatsTransport's counters (a LocalTransport has none of its own);
 * `drops` adds the owner's own dropped counts. Every observation carries
 * `node` (`concord.node`): two Systems in one process report apart.
 */
export function transportObservation(meter: Meter, node: Attributes, transport: Transport, drops: () => Readonly<Record<string, number>>): Observation {
  const transmit = { ...node, 'network.io.direction': 'transmit' };
  const receive = { ...node, 'network.io.direction': 'receive' };
  const messages = counter(meter, 'concord.transport.messages', '{message}', 'Envelopes sent and received (Raft messages, requests and responses)');
  const batches = counter(meter, 'concord.transport.batches', '{message}', 'NATS messages sent and received, each carrying a batch of envelopes');
  const bytes = counter(meter, 'concord.transport.io', 'By', 'Bytes of NATS payload sent and received');
  const heartbeats = counter(meter, 'concord.transport.heartbeats', '{message}', 'Node heartbeats sent and received');
  const dropped = counter(meter, 'concord.transport.dropped', '{message}', 'Inbound or outbound messages dropped, by reason (malformed, misaddressed, disconnected, ...)');
  const disconnects = counter(meter, 'concord.transport.disconnects', '{event}', 'Times the NATS connection was lost');
  const reconnects = counter(meter, 'concord.transport.reconnects', '{event}', 'Times the NATS connection came back');
  const dropSets = new Map<string, Attributes>();
  const observeDrop = (result: BatchObservableResult, reason: string, count: number): void => {
    let set = dropSets.get(reason);
    if (set === undefined) dropSets.set(reason, (set = { ...node, 'concord.drop.reason': reason }));
    result.observe(dropped, count, set);
  };
  return {
    instruments: [messages, batches, bytes, heartbeats, dropped, disconnects, reconnects],
    observe: (result) => {
      for (const [reason, count] of Object.entries(drops())) observeDrop(result, reason, count);
      if (!(transport instanceof NatsTransport)) return;
      const s = transport.stats;
      result.observe(messages, s.sent, transmit);
      result.observe(messages, s.received, receive);
      result.observe(batches, s.batchesSent, transmit);
      result.observe(batches, s.batchesReceived, receive);
      result.observe(bytes, s.bytesSent, transmit);
      result.observe(bytes, s.bytesReceived, receive);
      result.observe(heartbeats, s.heartbeatsSent, transmit);
      result.observe(heartbeats, s.heartbeatsReceived, receive);
      result.observe(disconnects, s.disconnects, node);
      result.observe(reconnects, s.reconnects, node);
      for (const [reason, count] of Object.entries(s.dropped)) observeDrop(result, reason, count);
    },
  };
}

/** Observes the members a System hosts and the protocol events they counted; `perMember` adds gauges per member. */
export function raftObservation(meter: Meter, node: Attributes, system: System, perMember: boolean): Observation {
  const members = upDownCounter(meter, 'concord.raft.members', '{member}', 'Members hosted by this node, by Raft role');
  const failed = upDownCounter(meter, 'concord.raft.members.failed', '{member}', 'Members stopped after crashing too often (restartServer tries one again)');
  const leaderless = upDownCounter(meter, 'concord.raft.members.leaderless', '{member}', 'Members that know of no leader (an election under way, or no quorum): commands to them wait or fail');
  const elections = counter(meter, 'concord.raft.elections', '{election}', 'Pre-vote rounds and elections begun by members on this node (concord.election.phase)');
  const leaders = counter(meter, 'concord.raft.leaders.elected', '{election}', 'Times a member on this node became leader');
  const applied = counter(meter, 'concord.raft.entries.applied', '{entry}', 'Log entries applied to machines on this node');
  const snapshots = counter(meter, 'concord.raft.snapshots', '{snapshot}', 'Snapshots taken, and received from leaders and installed (concord.snapshot.event)');
  const chunks = counter(meter, 'concord.raft.snapshot.chunks.sent', '{chunk}', 'InstallSnapshot chunks sent to members that were behind');
  const gauges = {
    term: gauge(meter, 'concord.raft.term', '{term}', "A member's current term"),
    commit: gauge(meter, 'concord.raft.commit_index', '{entry}', "A member's commit index"),
    applied: gauge(meter, 'concord.raft.applied_index', '{entry}', "The index a member's machine has applied"),
    last: gauge(meter, 'concord.raft.last_index', '{entry}', "The last index in a member's log"),
    snapshot: gauge(meter, 'concord.raft.snapshot_index', '{entry}', "The index of a member's latest snapshot"),
  };
  const roleSets = roles.map((role) => ({ ...node, 'concord.raft.role': role }));
  const phases = { preVote: { ...node, 'concord.election.phase': 'pre_vote' }, vote: { ...node, 'concord.election.phase': 'vote' } };
  const events = { taken: { ...node, 'concord.snapshot.event': 'taken' }, installed: { ...node, 'concord.snapshot.event': 'installed' } };
  const c = system.raftCounters;
  return {
    instruments: [members, failed, leaderless, elections, leaders, applied, snapshots, chunks, ...(perMember ? Object.values(gauges) : [])],
    observe: (result) => {
      const overview = system.localOverview();
      roles.forEach((role, i) => result.observe(members, overview.roles[role] ?? 0, roleSets[i]));
      result.observe(failed, overview.failed.length, node);
      result.observe(leaderless, overview.servers.filter((s) => s.leader === undefined && s.role !== 'stopped').length, node);
      result.observe(elections, c.preVotes, phases.preVote);
      result.observe(elections, c.elections, phases.vote);
      result.observe(leaders, c.leadersElected, node);
      result.observe(applied, c.entriesApplied, node);
      result.observe(snapshots, c.snapshotsTaken, events.taken);
      result.observe(snapshots, c.snapshotsInstalled, events.installed);
      result.observe(chunks, c.snapshotChunksSent, node);
      if (!perMember) return;
      for (const s of overview.servers) {
        const at = { ...node, 'concord.cluster': s.cluster };
        result.observe(gauges.term, s.term, at);
        result.observe(gauges.commit, s.commitIndex, at);
        result.observe(gauges.applied, s.appliedIndex, at);
        result.observe(gauges.last, s.lastIndex, at);
        result.observe(gauges.snapshot, s.snapshotIndex, at);
      }
    },
  };
}

/** Observes the node's actors: how many live, messages delivered, mailbox drops and crashes (a member crashing shows here first). */
export function actorObservation(meter: Meter, node: Attributes, system: System): Observation {
  const live = upDownCounter(meter, 'concord.actors.count', '{actor}', 'Live actors: one Raft server and one supervisor per member, and the log and transport actors');
  const messages = counter(meter, 'concord.actors.messages', '{message}', 'Messages delivered to actors');
  const dropped = counter(meter, 'concord.actors.mailbox.dropped', '{message}', 'Messages dropped because a mailbox was full');
  const crashes = counter(meter, 'concord.actors.crashes', '{crash}', 'Actors that crashed (their supervisor restarted them or gave up)');
  return {
    instruments: [live, messages, dropped, crashes],
    observe: (result) => {
      const actors = system.actors;
      result.observe(live, actors.size, node);
      result.observe(messages, actors.stats.delivered, node);
      result.observe(dropped, actors.stats.dropped, node);
      result.observe(crashes, actors.stats.crashed, node);
    },
  };
}

/** Observes the shared WAL, the segment writer and the mem tables. */
export function logObservation(meter: Meter, node: Attributes, system: System): Observation {
  const wal = {
    batches: counter(meter, 'concord.wal.batches', '{batch}', 'Batches written and synced by the WAL (one write and one sync each)'),
    entries: counter(meter, 'concord.wal.entries', '{entry}', 'Entries made durable by the WAL, all groups together'),
    bytes: counter(meter, 'concord.wal.io', 'By', 'Bytes written to the WAL'),
    syncs: counter(meter, 'concord.wal.syncs', '{sync}', 'fdatasync or fsync calls made by the WAL'),
    rollovers: counter(meter, 'concord.wal.rollovers', '{file}', 'WAL files closed and handed to the segment writer'),
    overloads: counter(meter, 'concord.wal.overloads', '{event}', 'Times writers were told to wait because too many bytes were queued'),
    failures: counter(meter, 'concord.wal.failures', '{event}', 'Failed WAL writes or syncs (a full disk, EIO): nothing was acknowledged, the WAL retries'),
    busy: counter(meter, 'concord.wal.busy_time', 's', 'Time the WAL spent with a write and sync in flight'),
  };
  const segments = {
    entries: counter(meter, 'concord.segment.entries', '{entry}', 'Entries copied from WAL files into segment files'),
    bytes: counter(meter, 'concord.segment.io', 'By', 'Bytes written to segment files'),
    flushed: counter(meter, 'concord.segment.wal_files', '{file}', 'WAL files fully copied into segments'),
    failures: counter(meter, 'concord.segment.failures', '{event}', 'Failed segment writes (retried)'),
  };
  const down = gauge(meter, 'concord.wal.down', '1', '1 while the WAL cannot write (a full disk, EIO), else 0');
  const pending = upDownCounter(meter, 'concord.wal.files.pending', '{file}', 'Rolled-over WAL files not yet copied into segments');
  const memory = upDownCounter(meter, 'concord.log.memory.usage', 'By', 'Bytes held by the mem tables of all logs (entries not yet in segments)');
  const logs = upDownCounter(meter, 'concord.log.count', '{log}', 'Logs open on this node (one per member)');
  return {
    instruments: [...Object.values(wal), ...Object.values(segments), down, pending, memory, logs],
    observe: (result) => {
      const s = system.logSystem.stats();
      result.observe(wal.batches, s.wal.batches, node);
      result.observe(wal.entries, s.wal.entries, node);
      result.observe(wal.bytes, s.wal.bytes, node);
      result.observe(wal.syncs, s.wal.syncs, node);
      result.observe(wal.rollovers, s.wal.rollovers, node);
      result.observe(wal.overloads, s.wal.overloads, node);
      result.observe(wal.failures, s.wal.failures, node);
      result.observe(wal.busy, s.wal.busyMs / 1000, node);
      result.observe(segments.entries, s.segments.entries, node);
      result.observe(segments.bytes, s.segments.bytes, node);
      result.observe(segments.flushed, s.segments.walFilesFlushed, node);
      result.observe(segments.failures, s.segments.failures, node);
      result.observe(down, s.walDown ? 1 : 0, node);
      result.observe(pending, s.walFilesPending, node);
      result.observe(memory, s.memBytes, node);
      result.observe(logs, s.logs, node);
    },
  };
}

/** Records how long each command took on its leader, from entering the log to being applied. */
export class CommitTelemetry implements CommitProbe {
  private readonly duration: Histogram;

  constructor(
    meter: Meter,
    private readonly node: Attributes,
  ) {
    this.duration = meter.createHistogram('concord.raft.command.duration', {
      unit: 's',
      description: "From a leader accepting a command into its log to applying it and answering: replication, a majority's syncs, the apply",
      advice: { explicitBucketBoundaries: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5] },
    });
  }

  /** Records one command's time from entering the leader's log to being applied. */
  commandApplied(durationMs: number): void {
    this.duration.record(durationMs / 1000, this.node);
  }
}

/** Records each durable WAL batch: how long its write and sync took, its entries and its bytes (group commit at work). */
export class WalTelemetry implements WalProbe {
  private readonly duration: Histogram;
  private readonly entries: Histogram;
  private readonly size: Histogram;

  constructor(
    meter: Meter,
    private readonly node: Attributes,
  ) {
    this.duration = meter.createHistogram('concord.wal.write.duration', {
      unit: 's',
      description: 'Time to write and sync one WAL batch',
      advice: { explicitBucketBoundaries: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] },
    });
    this.entries = meter.createHistogram('concord.wal.batch.entries', {
      unit: '{entry}',
      description: 'Entries per WAL batch (all groups share each write and sync)',
      advice: { explicitBucketBoundaries: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096] },
    });
    this.size = meter.createHistogram('concord.wal.batch.size', {
      unit: 'By',
      description: 'Bytes per WAL batch',
      advice: { explicitBucketBoundaries: [512, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304] },
    });
  }

  /** Records one durable batch: its write-and-sync time, entries and bytes. */
  batchDurable(durationMs: number, bytes: number, entries: number): void {
    this.duration.record(durationMs / 1000, this.node);
    this.entries.record(entries, this.node);
    this.size.record(bytes, this.node);
  }
}
