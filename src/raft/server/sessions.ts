// Exactly-once client sessions (Raft thesis §6.3), as replicated state: each
// session remembers the replies to its recent commands, so a retried command
// gets its recorded reply instead of being applied again. Sessions expire by
// leader time (the entries' timestamps), so every member expires them at the
// same index.
import type { SessionRef } from './entry_codec.js';

/** A recorded outcome: a value, or an error code and message. */
export type RecordedReply = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly code: string; readonly message: string };

interface Session {
  /** Replies kept for sequence numbers above `acked`. */
  readonly replies: Map<number, RecordedReply>;
  acked: number;
  lastActive: number;
}

/** What to do with a session command. */
export type SessionVerdict =
  | { readonly type: 'apply' }
  | { readonly type: 'duplicate'; readonly reply: RecordedReply }
  | { readonly type: 'reject'; readonly code: 'session_expired' | 'invalid_argument'; readonly message: string };

const apply: SessionVerdict = { type: 'apply' };

/** The serialisable form of the table (for snapshots). */
export type SessionsData = [id: number, acked: number, lastActive: number, replies: [number, RecordedReply][]][];

/** The session table of one member. */
export class Sessions {
  private readonly table = new Map<number, Session>();
  private lastSweep = 0;

  constructor(
    /** Idle time after which a session expires (leader time). */
    readonly timeoutMs: number,
    /** Replies kept per session; older ones are forgotten as if acknowledged. */
    readonly repliesMax = 4096,
  ) {}

  /** Number of live sessions. */
  get size(): number {
    return this.table.size;
  }

  /** Opens a session named by the index of its registration entry. */
  register(id: number, timestamp: number): void {
    this.sweep(timestamp);
    this.table.set(id, { replies: new Map(), acked: 0, lastActive: timestamp });
  }

  /** Decides whether a session command applies, repeats a recorded reply, or is refused. */
  check(ref: SessionRef, timestamp: number): SessionVerdict {
    this.sweep(timestamp);
    const s = this.table.get(ref.id);
    // Expiry is decided per session from timestamps alone, so sweeping (memory only) may run whenever.
    if (s === undefined || s.lastActive + this.timeoutMs < timestamp) {
      this.table.delete(ref.id);
      return { type: 'reject', code: 'session_expired', message: `session ${ref.id} has expired or never existed` };
    }
    s.lastActive = timestamp;
    if (ref.acked > s.acked) {
      // Replies are kept in arrival order, which is almost always sequence order: trim from the front.
      for (const seq of s.replies.keys()) {
        if (seq > ref.acked) break;
        s.replies.delete(seq);
      }
      s.acked = ref.acked;
    }
    const recorded = s.replies.get(ref.seq);
    if (recorded !== undefined) return { type: 'duplicate', reply: recorded };
    if (ref.seq <= s.acked) return { type: 'reject', code: 'invalid_argument', message: `sequence ${ref.seq} of session ${ref.id} was already acknowledged` };
    return apply;
  }

  /** Records the reply of an applied session command. */
  record(ref: SessionRef, reply: RecordedReply): void {
    const s = this.table.get(ref.id);
    if (s === undefined) return;
    s.replies.set(ref.seq, reply);
    if (s.replies.size > this.repliesMax) {
      const oldest = s.replies.keys().next().value as number;
      s.replies.delete(oldest);
      s.acked = Math.max(s.acked, oldest);
    }
  }

  /** Frees sessions idle for longer than timeoutMs (at most once a second of leader time; behaviour does not depend on it). */
  private sweep(timestamp: number): void {
    if (timestamp - this.lastSweep < 1000) return;
    this.lastSweep = timestamp;
    for (const [id, s] of this.table) if (s.lastActive + this.timeoutMs < timestamp) this.table.delete(id);
  }

  /** The table as plain data. */
  toData(): SessionsData {
    return [...this.table].map(([id, s]) => [id, s.acked, s.lastActive, [...s.replies]]);
  }

  /** Replaces the table from snapshot data. */
  load(data: SessionsData): void {
    this.table.clear();
    for (const [id, acked, lastActive, replies] of data) this.table.set(id, { acked, lastActive, replies: new Map(replies) });
  }
}
