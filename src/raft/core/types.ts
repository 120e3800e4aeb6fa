// The vocabulary of the pure Raft core: entries, messages (named as in the
// Raft paper), the events it is stepped with and the effects it returns.
// Nothing here touches I/O; the server shell carries effects out.

/** A member of a Raft group; within Concord it is the id of the node that hosts the member. */
export type ServerId = string;

/** A log entry as the core sees it: the payload's first byte is its EntryKind. */
export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly payload: Uint8Array;
}

/** The roles of a member (ra's states; `await_condition` waits for the log to accept writes). */
export type Role = 'follower' | 'pre_vote' | 'candidate' | 'leader' | 'await_condition' | 'receive_snapshot' | 'stopped';

/** Voters decide elections and commits; non-voters receive the log until promoted. */
export interface ClusterConfig {
  readonly voters: readonly ServerId[];
  readonly nonVoters: readonly ServerId[];
}

// ---- messages (thesis figure 3.1 names) ----

/** AppendEntries RPC (§5.3); with no entries it is a heartbeat. `readSeq` tags quorum rounds for ReadIndex. */
export interface AppendEntries {
  readonly type: 'append_entries';
  readonly term: number;
  readonly leaderId: ServerId;
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly Entry[];
  readonly leaderCommit: number;
  readonly readSeq: number;
  /**
   * The group is idle and every member is up to date: the leader stops
   * heartbeating, and a follower whose log matches stops its election timer,
   * relying on node-level liveness (peer_down) until any activity wakes it.
   */
  readonly quiesce?: boolean;
}

/**
 * Reply to AppendEntries. On success `matchIndex` is the highest index known
 * to match the leader's log AND be durable on the follower. On failure the
 * hint (`hintIndex`, `hintTerm`) lets the leader skip a whole term at a time.
 */
export interface AppendEntriesReply {
  readonly type: 'append_entries_reply';
  readonly term: number;
  readonly success: boolean;
  /** Highest index matching the leader's log and durable here: what the leader may count for commit. */
  readonly matchIndex: number;
  /** On success, the highest index known to match the leader's log (durable or not); on failure, the follower's last index. */
  readonly lastIndex: number;
  /** On failure, the prevLogIndex that did not match (lets the leader drop stale rejections). */
  readonly rejectedIndex: number;
  readonly hintIndex: number;
  readonly hintTerm: number;
  readonly readSeq: number;
}

/** RequestVote RPC (§5.2); `preVote` for the pre-vote phase (thesis §9.6); `transfer` for leadership transfer (§3.10). */
export interface RequestVote {
  readonly type: 'request_vote';
  readonly term: number;
  readonly candidateId: ServerId;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  readonly preVote: boolean;
  readonly transfer: boolean;
}

/** Reply to RequestVote. */
export interface RequestVoteReply {
  readonly type: 'request_vote_reply';
  readonly term: number;
  readonly voteGranted: boolean;
  readonly preVote: boolean;
}

/** Leadership transfer: the leader tells the target to start an election now (thesis §3.10). */
export interface TimeoutNow {
  readonly type: 'timeout_now';
  readonly term: number;
}

/** One chunk of InstallSnapshot (§7); chunks of one snapshot carry the same index and term. */
export interface InstallSnapshot {
  readonly type: 'install_snapshot';
  readonly term: number;
  readonly leaderId: ServerId;
  readonly lastIncludedIndex: number;
  readonly lastIncludedTerm: number;
  /** The cluster configuration as of lastIncludedIndex, the index of the entry it comes from, and the machine version. */
  readonly config: ClusterConfig;
  readonly configIndex: number;
  readonly machineVersion: number;
  readonly offset: number;
  readonly data: Uint8Array;
  readonly done: boolean;
  /** Total size of the snapshot in bytes. */
  readonly size: number;
}

/** Reply to an InstallSnapshot chunk: `nextOffset` is what the follower expects next (0 restarts the transfer). */
export interface InstallSnapshotReply {
  readonly type: 'install_snapshot_reply';
  readonly term: number;
  readonly lastIncludedIndex: number;
  readonly nextOffset: number;
  readonly done: boolean;
}

/** Every message exchanged between members of one group. */
export type RaftMessage =
  | AppendEntries
  | AppendEntriesReply
  | RequestVote
  | RequestVoteReply
  | TimeoutNow
  | InstallSnapshot
  | InstallSnapshotReply;

// ---- events the core is stepped with ----

/** A client command: `payload` is an encoded entry (kind byte + body); `ref` correlates the outcome. */
export interface CommandItem {
  readonly ref: number;
  readonly payload: Uint8Array;
}

/**
 * A single-server membership change. With `configIndex`, it applies only if
 * the latest configuration entry is still the one at that index (what the
 * caller decided on): a request delayed or retried past other changes, say
 * a removal of the member it adds, is refused rather than undoing them.
 */
export type MembershipChange =
  | { readonly type: 'add_member'; readonly id: ServerId; readonly configIndex?: number | undefined }
  | { readonly type: 'remove_member'; readonly id: ServerId; readonly configIndex?: number | undefined };

/** Everything the core reacts to. Time arrives with each step (StepEnv.now). */
export type RaftEvent =
  | { readonly type: 'message'; readonly from: ServerId; readonly msg: RaftMessage }
  | { readonly type: 'commands'; readonly items: readonly CommandItem[] }
  | { readonly type: 'read'; readonly refs: readonly number[] }
  | { readonly type: 'written'; readonly index: number }
  | { readonly type: 'election_timeout' }
  | { readonly type: 'leader_suspected' }
  /** Node-level liveness: the node hosting member `id` stopped answering (or came back). */
  | { readonly type: 'peer_down'; readonly id: ServerId }
  | { readonly type: 'peer_up'; readonly id: ServerId }
  | { readonly type: 'heartbeat_timeout' }
  | { readonly type: 'log_blocked'; readonly reason: 'overloaded' | 'down' }
  | { readonly type: 'log_unblocked' }
  | { readonly type: 'change_membership'; readonly ref: number; readonly change: MembershipChange }
  | { readonly type: 'transfer_leadership'; readonly ref: number; readonly target: ServerId }
  | { readonly type: 'transfer_timeout' }
  /** The shell saved a snapshot at `index` and compacted the log up to it. */
  | { readonly type: 'snapshot_taken'; readonly index: number; readonly term: number; readonly size: number }
  /** The shell finished writing a received snapshot and restored the machine from it. */
  | {
      readonly type: 'snapshot_installed';
      readonly index: number;
      readonly term: number;
      readonly size: number;
      /** The configuration in the snapshot, then any later ones still in the log. */
      readonly configs: readonly { readonly index: number; readonly config: ClusterConfig }[];
    }
  /** Writing a received snapshot failed (the transfer restarts), or reading one to send failed. */
  | { readonly type: 'snapshot_failed'; readonly index: number }
  /** Whether this member may lead (false while its machine code is too old for the cluster). */
  | { readonly type: 'set_can_lead'; readonly value: boolean }
  /** Disaster recovery: the other voters are gone for good; this member continues the cluster alone (membership.forceSoleVoter). */
  | { readonly type: 'force_sole_voter' };

// ---- effects the shell carries out, in order ----

/** Timers the core asks for; each name has at most one pending deadline. */
export type TimerName = 'election' | 'heartbeat' | 'transfer';

/** Why a request did not go through. `not_leader` carries the best leader hint. */
export type Rejection =
  | { readonly code: 'not_leader'; readonly leader: ServerId | undefined }
  | { readonly code: 'overloaded' }
  | { readonly code: 'membership_change_in_progress' }
  /** The configuration is no longer the one a change was asked against (MembershipChange.configIndex). */
  | { readonly code: 'membership_changed'; readonly message: string }
  | { readonly code: 'transfer_in_progress' }
  | { readonly code: 'invalid_argument'; readonly message: string }
  /** The outcome is unknown (a caller must not simply retry). */
  | { readonly code: 'timeout'; readonly message?: string };

/** What the shell must do. Rule: a `send` that follows a `persist` waits until that persist is durable. */
export type Effect =
  | { readonly type: 'send'; readonly to: ServerId; readonly msg: RaftMessage }
  | { readonly type: 'persist'; readonly term: number; readonly votedFor: ServerId | undefined }
  | { readonly type: 'truncate'; readonly afterIndex: number }
  | { readonly type: 'append'; readonly entries: readonly Entry[] }
  | { readonly type: 'apply'; readonly from: number; readonly to: number }
  | { readonly type: 'set_timer'; readonly name: TimerName; readonly atMs: number }
  | { readonly type: 'cancel_timer'; readonly name: TimerName }
  | { readonly type: 'accepted'; readonly ref: number; readonly index: number; readonly term: number }
  | { readonly type: 'rejected'; readonly ref: number; readonly reason: Rejection }
  | { readonly type: 'reads_ready'; readonly refs: readonly number[]; readonly index: number }
  | { readonly type: 'reads_failed'; readonly refs: readonly number[]; readonly reason: Rejection }
  /** A membership change committed (an added member: once promoted to voter). */
  | { readonly type: 'membership_done'; readonly ref: number; readonly index: number }
  /** The transfer target took over. */
  | { readonly type: 'transfer_done'; readonly ref: number }
  | { readonly type: 'role'; readonly role: Role; readonly term: number; readonly leaderId: ServerId | undefined }
  /** Send bytes [offset, offset + length) of the snapshot at `index` as one InstallSnapshot chunk. */
  | {
      readonly type: 'send_snapshot_chunk';
      readonly to: ServerId;
      readonly term: number;
      readonly index: number;
      readonly snapshotTerm: number;
      readonly offset: number;
      readonly length: number;
      readonly size: number;
    }
  /** Store this chunk of the snapshot being received (offset 0 starts a new one; `done` completes it). */
  | { readonly type: 'receive_snapshot_chunk'; readonly msg: InstallSnapshot }
  /** Drop the partly received snapshot. */
  | { readonly type: 'abort_snapshot' };

/** A seeded source of random numbers in [0, 1). */
export interface RandomSource {
  next(): number;
}

/** Tunables of the protocol. Every limit has a documented default (see defaultCoreOptions). */
export interface CoreOptions {
  /** Lower bound of the randomised election timeout (default 1000 ms). */
  readonly electionTimeoutMinMs: number;
  /** Upper bound of the randomised election timeout (default 2000 ms). */
  readonly electionTimeoutMaxMs: number;
  /** Leader heartbeat period (default 100 ms). */
  readonly heartbeatMs: number;
  /** Entries per AppendEntries (default 512). */
  readonly appendEntriesMax: number;
  /** Payload bytes per AppendEntries (default 256 KiB; NATS allows 1 MiB per message). */
  readonly appendBytesMax: number;
  /** Entries sent but not yet acknowledged per follower (default 8192). */
  readonly inflightEntriesMax: number;
  /** A non-voter is promoted once within this many entries of the leader's commit index (default 64). */
  readonly promoteDistanceMax: number;
  /** Bytes per InstallSnapshot chunk (default 512 KiB; NATS allows 1 MiB per message). */
  readonly snapshotChunkBytes: number;
  /** InstallSnapshot chunks sent but not acknowledged, per follower (default 4). */
  readonly snapshotChunksInFlightMax: number;
  /** Pre-vote phase before elections (default true). */
  readonly preVote: boolean;
  /** A leader steps down when it has not heard from a quorum within an election timeout (default true). */
  readonly checkQuorum: boolean;
  /**
   * Idle groups go quiet (default false here; Systems turn it on): after a few
   * heartbeats with nothing to do and every member caught up, the leader stops
   * heartbeating and followers stop their election timers. Liveness then comes
   * from peer_down / peer_up events (one node-level heartbeat serves every
   * group); any command, read, vote request or node change wakes the group.
   */
  readonly quiesce: boolean;
  /** TEST ONLY: known bugs the simulator must catch (src/sim, "proof that it bites"). Never set in production. */
  readonly plantedBugs?: PlantedBugs | undefined;
}

/**
 * TEST ONLY: bugs planted on purpose so that tests can prove the simulator
 * catches them. Each flag is checked in exactly one place; all off (or the
 * field absent) means the protocol as specified.
 */
export interface PlantedBugs {
  /** leader.ts maybeCommit: commit what the leader alone holds durably, without a quorum. */
  readonly commitWithoutQuorum?: boolean;
  /** follower.ts handleRequestVote: grant a vote without persisting it first. */
  readonly voteWithoutPersist?: boolean;
  /** reads.ts startReads: answer a consistent query without the ReadIndex quorum round. */
  readonly readWithoutQuorum?: boolean;
}

/** The defaults named in CoreOptions. */
export const defaultCoreOptions: CoreOptions = {
  electionTimeoutMinMs: 1000,
  electionTimeoutMaxMs: 2000,
  heartbeatMs: 100,
  appendEntriesMax: 512,
  appendBytesMax: 256 * 1024,
  inflightEntriesMax: 8192,
  promoteDistanceMax: 64,
  snapshotChunkBytes: 512 * 1024,
  snapshotChunksInFlightMax: 4,
  preVote: true,
  checkQuorum: true,
  quiesce: false,
};
