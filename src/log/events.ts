// The log layer's data and messages: entries, the LogEvent messages the WAL and
// segment writer send to a log's owner, and the LogChange a GroupLog reports.
import type { ConcordError } from '../lib/errors.js';

/** One Raft log entry. The payload is opaque to the log layer. Indexes start at 1; 0 means "nothing". */
export interface LogEntry {
  index: number;
  term: number;
  payload: Uint8Array;
}

/**
 * Messages sent to a log's owner actor (the ref given to `openLog`); the owner
 * passes each one to `GroupLog.handle`.
 */
export type LogEvent =
  /** Entries from..to (term of `to`) of this log are durable in the WAL. */
  | { type: 'written'; logId: string; from: number; to: number; term: number }
  /** Entries up to `index` (term `term`) are durable in segment files; the mem table may drop them. */
  | { type: 'segments_flushed'; logId: string; index: number; term: number }
  /** The WAL has too much waiting: stop appending until `wal_resumed`. */
  | { type: 'wal_overloaded'; logId: string }
  /** The WAL caught up: appending may go on. */
  | { type: 'wal_resumed'; logId: string }
  /** The WAL cannot write (disk full, I/O error): nothing more is acknowledged until `wal_up`. */
  | { type: 'wal_down'; logId: string; error: ConcordError }
  /** The WAL writes again. */
  | { type: 'wal_up'; logId: string };

/** The `type` of every LogEvent. */
export const logEventTypes: ReadonlySet<string> = new Set(['written', 'segments_flushed', 'wal_overloaded', 'wal_resumed', 'wal_down', 'wal_up']);

/** True when `msg` is a LogEvent (a message for `GroupLog.handle`). */
export function isLogEvent(msg: unknown): msg is LogEvent {
  if (typeof msg !== 'object' || msg === null) return false;
  const m = msg as { type?: unknown; logId?: unknown };
  return typeof m.type === 'string' && logEventTypes.has(m.type) && typeof m.logId === 'string';
}

/** What changed for the owner after `GroupLog.handle`. */
export type LogChange =
  /** writtenIndex moved up to `index`. */
  | { type: 'written'; index: number; term: number }
  | { type: 'wal_overloaded' }
  | { type: 'wal_resumed' }
  | { type: 'wal_down'; error: ConcordError }
  | { type: 'wal_up' };

/** What `GroupLog.append` tells the caller. */
export type AppendResult =
  /** Accepted and on its way to the WAL. */
  | 'ok'
  /** Accepted, but the WAL asked writers to wait: stop appending until `wal_resumed`. */
  | 'overloaded'
  /** Accepted into memory, but the WAL is down: nothing is acknowledged until `wal_up`. */
  | 'unavailable';
