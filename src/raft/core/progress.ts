// What a leader knows about one follower's log (etcd's Progress): how far it
// matches, what to send next, and whether it is being probed, fed a pipeline
// of entries, or sent a snapshot.

/** Replication mode of one follower. */
export type ProgressMode = 'probe' | 'replicate' | 'snapshot';

/** Leader-side replication state for one peer. */
export interface Progress {
  /** Highest index known to match the leader's log and be durable on the peer. */
  matchIndex: number;
  /** Next index to send. */
  nextIndex: number;
  mode: ProgressMode;
  /** Probe mode: an AppendEntries is outstanding; send no other until a reply or the next heartbeat. */
  probeSent: boolean;
  /** When we last sent anything to the peer (heartbeats are skipped while traffic flows). */
  lastSentMs: number;
  /** When we last heard a reply from the peer in this term (check-quorum). */
  lastHeardMs: number;
  /** Highest ReadIndex round the peer has acknowledged. */
  readSeq: number;
  /** Snapshot mode: the snapshot index being sent. */
  snapshotIndex: number;
  /** Snapshot mode: the next byte to send. */
  snapshotOffset: number;
  /** Snapshot mode: bytes the follower has acknowledged. */
  snapshotAcked: number;
  /** Snapshot mode: when the acknowledged offset last moved (lost chunks are re-sent after a quiet heartbeat). */
  snapshotProgressMs: number;
}

/** A fresh Progress for a peer when a leader takes over with `lastIndex`. */
export function newProgress(lastIndex: number, now: number): Progress {
  return {
    matchIndex: 0,
    nextIndex: lastIndex + 1,
    mode: 'probe',
    probeSent: false,
    lastSentMs: -Infinity,
    lastHeardMs: now,
    readSeq: 0,
    snapshotIndex: 0,
    snapshotOffset: 0,
    snapshotAcked: 0,
    snapshotProgressMs: now,
  };
}
