// The core's view of its log during one step: what the storage layer holds
// (LogReader) plus the truncation and appends this step has decided but the
// shell has not yet carried out (etcd's "unstable" entries).
import { fail } from '../../lib/assert.js';
import type { Entry } from './types.js';

/** Read-only access to a member's log, as the storage layer provides it. */
export interface LogReader {
  /** First index present in the log (snapshotIndex + 1 after compaction). */
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  /** Term of the entry at `index` (the snapshot point included; 0 for index 0), undefined if absent. */
  term(index: number): number | undefined;
  /** Entries in [from, to] that exist, up to about `maxBytes` of payload (at least one entry). */
  entries(from: number, to: number, maxBytes?: number): Entry[];
}

/** The log as of the decisions made so far in the current step. */
export class LogCursor {
  private truncatedAfter: number | undefined = undefined;
  private tail: Entry[] = [];

  constructor(readonly reader: LogReader) {}

  /** Highest index of the stored part still valid this step. */
  private get base(): number {
    return this.truncatedAfter ?? this.reader.lastIndex;
  }

  get lastIndex(): number {
    const last = this.tail[this.tail.length - 1];
    return last !== undefined ? last.index : this.base;
  }

  get lastTerm(): number {
    const last = this.tail[this.tail.length - 1];
    if (last !== undefined) return last.term;
    return this.term(this.base) ?? 0;
  }

  get firstIndex(): number {
    return this.reader.firstIndex;
  }

  get snapshotIndex(): number {
    return this.reader.snapshotIndex;
  }

  /** Term at `index`, or undefined when the index is not in the log (or was compacted away). */
  term(index: number): number | undefined {
    if (index === 0) return 0;
    const base = this.base;
    if (index > base) {
      const e = this.tail[index - base - 1];
      return e?.term;
    }
    return this.reader.term(index);
  }

  /** Entries in [from, to] clipped to what exists, up to `maxBytes` of payload (at least one). */
  entries(from: number, to: number, maxBytes = Infinity): Entry[] {
    const base = this.base;
    const out: Entry[] = [];
    let bytes = 0;
    if (from <= base) {
      const stored = this.reader.entries(from, Math.min(to, base), maxBytes);
      for (const e of stored) {
        out.push(e);
        bytes += e.payload.length;
      }
      if (stored.length === 0 || (stored[stored.length - 1] as Entry).index < Math.min(to, base)) return out;
    }
    for (let i = Math.max(from, base + 1); i <= to; i++) {
      const e = this.tail[i - base - 1];
      if (e === undefined) break;
      if (out.length > 0 && bytes + e.payload.length > maxBytes) break;
      out.push(e);
      bytes += e.payload.length;
    }
    return out;
  }

  /** Records entries appended this step; they must follow lastIndex. */
  append(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.index !== this.lastIndex + 1) fail(`append at ${e.index} after ${this.lastIndex}`);
      this.tail.push(e);
    }
  }

  /** Records a truncation of everything after `index` this step. */
  truncateAfter(index: number): void {
    const base = this.base;
    if (index >= base) {
      this.tail.length = Math.max(0, index - base);
      return;
    }
    this.truncatedAfter = index;
    this.tail = [];
  }

  /**
   * The largest index <= `index` whose term is <= `term` (etcd's
   * findConflictByTerm): everything above it in this log cannot match a log
   * whose entry at `index` has `term`. Stops at the first index available.
   */
  lastIndexWithTermAtMost(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex);
    const floor = Math.max(0, this.reader.snapshotIndex);
    while (i > floor) {
      const t = this.term(i);
      if (t === undefined || t <= term) return i;
      i--;
    }
    return i;
  }
}
