// The state a Raft member carries between steps, and how it starts: from the
// persisted term and vote, the log, and the configurations found in it.
import { assert } from '../../lib/assert.js';
import type { LogReader } from './log_cursor.js';
import type { Progress } from './progress.js';
import { defaultCoreOptions, type ClusterConfig, type CoreOptions, type RandomSource, type Role, type ServerId } from './types.js';

/** A ReadIndex request waiting for its quorum round and then for the apply index to reach `index`. */
export interface PendingRead {
  readonly refs: readonly number[];
  readonly index: number;
  readonly seq: number;
  confirmed: boolean;
}

/** A configuration and the index of the entry (or snapshot) that carries it. */
export interface ConfigAt {
  readonly index: number;
  readonly config: ClusterConfig;
}

/**
 * Everything the core remembers. `step` updates it in place (as etcd's raft
 * struct), so treat a state passed to `step` as consumed.
 */
export interface RaftState {
  readonly id: ServerId;
  readonly options: CoreOptions;
  readonly random: RandomSource;
  role: Role;
  /** currentTerm (§5.1), persisted. */
  term: number;
  /** votedFor, persisted. */
  votedFor: ServerId | undefined;
  leaderId: ServerId | undefined;
  commitIndex: number;
  /** Highest index the shell has been asked to apply. */
  appliedIndex: number;
  /** Highest index of the own log that the WAL reported durable. */
  writtenIndex: number;
  /** Follower: highest index known to match the current leader's log. */
  verifiedIndex: number;
  /** Follower: the matchIndex last reported to the leader. */
  ackedIndex: number;
  /** Follower: the latest ReadIndex round seen from the leader (echoed in replies). */
  readSeqSeen: number;
  /** The latest configuration in the log (effective when appended, thesis §4.1). */
  config: ClusterConfig;
  /** Configurations above the commit index plus the last committed one, oldest first (to revert on truncation). */
  configs: ConfigAt[];
  /** When the election timer is due; pushed back by leader contact without touching the timer. */
  electionDeadline: number;
  /** Last time we heard from a current leader (or, as leader, a quorum); for leader stickiness. */
  leaderContactMs: number;
  votes: Map<ServerId, boolean>;
  progress: Map<ServerId, Progress>;
  /** Leader: has an entry of its own term committed (needed before serving reads, thesis §6.4). */
  committedInTerm: boolean;
  readSeq: number;
  reads: PendingRead[];
  readsBeforeCommit: number[];
  /** Leader: when check-quorum next looks at who it has heard from. */
  quorumCheckMs: number;
  /** Quiescent (see CoreOptions.quiesce): a leader sends no heartbeats, a follower runs no election timer. */
  quiesced: boolean;
  /** Leader: consecutive heartbeats at which the group had nothing to do. */
  idleTicks: number;
  /** Members whose node is down, as node-level liveness reports it. */
  downPeers: Set<ServerId>;
  /** Why the log cannot take writes right now, if it cannot. */
  blocked: 'overloaded' | 'down' | undefined;
  /** The latest local snapshot (what a leader sends to followers behind its log). */
  snapshot: { index: number; term: number; size: number } | undefined;
  /** Follower: the snapshot being received, and the next byte it expects. */
  incoming: { index: number; term: number; nextOffset: number; complete: boolean } | undefined;
  /** Leader: a leadership transfer in progress. */
  transfer: { ref: number; target: ServerId; sent: boolean } | undefined;
  /** Leader: membership requests waiting for a configuration entry to commit, by entry index. */
  membershipWaits: Map<number, number>;
  /** Leader: add_member requests waiting for the member's promotion to voter, by member. */
  promotions: Map<ServerId, number>;
  /** False while this member cannot apply the cluster's machine version: it must not lead. */
  canLead: boolean;
  /**
   * A member that joined under an id an earlier, deleted member used grants no
   * vote, nor pre-vote, until its log reaches this index (0: no such wait;
   * a joining member's is its joinedAfter + 1). Configurations older than the earlier member's removal still count
   * the id as a voter, and an empty log would vote for a candidate whose log
   * lacks committed entries: with it, a member stale since before the
   * removal won an election (simulator, seed 912923).
   */
  votesFrom: number;
}

/** What a member starts from. */
export interface InitArgs {
  id: ServerId;
  term: number;
  votedFor: ServerId | undefined;
  /** Configurations known from the snapshot and the log, oldest first; the last is current. */
  configs: ConfigAt[];
  log: LogReader;
  now: number;
  random: RandomSource;
  options?: Partial<CoreOptions>;
  /** The local snapshot the log starts after, if any. */
  snapshot?: { index: number; term: number; size: number } | undefined;
  /**
   * How far the log is durable (default its last index: a log recovered from
   * disk holds nothing else). A member restarted inside a running node may
   * find entries its previous incarnation appended still on their way to disk.
   */
  writtenIndex?: number | undefined;
  /** A joining member's `joinedAfter`: the leader's last index when it was asked to join (see RaftState.votesFrom). */
  joinedAfter?: number | undefined;
}

/** A follower's initial state. Call `start` on it to get the first effects (the election timer). */
export function initState(args: InitArgs): RaftState {
  const options = { ...defaultCoreOptions, ...args.options };
  assert(options.electionTimeoutMinMs > 0 && options.electionTimeoutMaxMs >= options.electionTimeoutMinMs, 'bad election timeouts');
  assert(options.heartbeatMs > 0 && options.heartbeatMs < options.electionTimeoutMinMs, 'heartbeat must be shorter than the election timeout');
  assert(args.configs.length > 0, 'a member needs a configuration');
  const current = args.configs[args.configs.length - 1] as ConfigAt;
  const snapshotIndex = args.log.snapshotIndex;
  return {
    id: args.id,
    options,
    random: args.random,
    role: 'follower',
    term: args.term,
    votedFor: args.votedFor,
    leaderId: undefined,
    commitIndex: snapshotIndex,
    appliedIndex: snapshotIndex,
    writtenIndex: Math.min(args.writtenIndex ?? args.log.lastIndex, args.log.lastIndex),
    verifiedIndex: 0,
    ackedIndex: 0,
    readSeqSeen: 0,
    config: current.config,
    configs: [...args.configs],
    electionDeadline: args.now,
    leaderContactMs: -Infinity,
    votes: new Map(),
    progress: new Map(),
    committedInTerm: false,
    readSeq: 0,
    reads: [],
    readsBeforeCommit: [],
    quorumCheckMs: 0,
    quiesced: false,
    idleTicks: 0,
    downPeers: new Set(),
    blocked: undefined,
    snapshot: args.snapshot,
    incoming: undefined,
    transfer: undefined,
    membershipWaits: new Map(),
    promotions: new Map(),
    canLead: true,
    votesFrom: args.joinedAfter === undefined ? 0 : args.joinedAfter + 1,
  };
}

/** True when a configuration entry is appended but not yet committed (one change at a time, thesis §4.1). */
export function configPending(state: RaftState): boolean {
  return latestConfigIndex(state) > state.commitIndex;
}

/** The index of the latest configuration entry (0: the configuration the cluster started with). */
export function latestConfigIndex(state: Readonly<RaftState>): number {
  return (state.configs[state.configs.length - 1] as ConfigAt).index;
}

/** True when `id` is a voter in the current configuration. */
export function isVoter(state: RaftState, id: ServerId): boolean {
  return state.config.voters.includes(id);
}

/** Every member of the current configuration except this one. */
export function peersOf(state: RaftState): ServerId[] {
  const out: ServerId[] = [];
  for (const id of state.config.voters) if (id !== state.id) out.push(id);
  for (const id of state.config.nonVoters) if (id !== state.id) out.push(id);
  return out;
}
