// Counts of protocol events across all of a node's members: plain numbers the
// servers bump as things happen, read by telemetry when it collects (so that
// counting costs an increment, with or without an OpenTelemetry SDK).

/** Protocol events counted across a node's members since the System started (never reset). */
export interface RaftCounters {
  /** A member began a pre-vote round (it suspects the leader is gone). */
  preVotes: number;
  /** A member became a candidate for a new term (a real election). */
  elections: number;
  /** A member became leader. */
  leadersElected: number;
  /** Entries applied to machines (commands, and Raft's own no-op and configuration entries). */
  entriesApplied: number;
  /** Snapshots of a machine saved by a member. */
  snapshotsTaken: number;
  /** Snapshots received from a leader and installed. */
  snapshotsInstalled: number;
  /** InstallSnapshot chunks sent by leaders. */
  snapshotChunksSent: number;
}

/** Hears of each command a leader on this node applied (telemetry records its histogram here). */
export interface CommitProbe {
  /** A command the leader accepted into its log `durationMs` ago is applied, and its caller answered. */
  commandApplied(durationMs: number): void;
}

/** A set of counters at zero. */
export function newRaftCounters(): RaftCounters {
  return { preVotes: 0, elections: 0, leadersElected: 0, entriesApplied: 0, snapshotsTaken: 0, snapshotsInstalled: 0, snapshotChunksSent: 0 };
}
