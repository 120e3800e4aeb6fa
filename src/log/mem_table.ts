// A log's mem table: the contiguous run of entries not yet in segment files,
// so that recent entries are read without touching the disk. Its bytes count
// against a node-wide budget shared by every mem table.
import { fail } from '../lib/assert.js';
import type { LogEntry } from './events.js';

/** Bytes charged per entry on top of its payload (object, array slot, views). */
export const ENTRY_OVERHEAD_BYTES = 64;

/** The node-wide count of bytes held by mem tables. */
export interface MemBudget {
  bytes: number;
}

/** The bytes an entry is charged for. */
export function entryBytes(entry: LogEntry): number {
  return entry.payload.byteLength + ENTRY_OVERHEAD_BYTES;
}

/**
 * Entries `first..last` held in memory. When empty, `first` is the index the
 * next entry must have (last = first - 1).
 */
export class MemTable {
  private items: LogEntry[] = [];
  private head = 0;
  private firstIndex: number;
  /** Bytes held by this table (also counted in the shared budget). */
  bytes = 0;

  constructor(
    private readonly budget: MemBudget,
    first = 1,
  ) {
    this.firstIndex = first;
  }

  /** Index of the first entry held (or of the next one, when empty). */
  get first(): number {
    return this.firstIndex;
  }

  /** Index of the last entry held (first - 1 when empty). */
  get last(): number {
    return this.firstIndex + this.items.length - this.head - 1;
  }

  /** Number of entries held. */
  get count(): number {
    return this.items.length - this.head;
  }

  /** The entry at `index`, if held. */
  get(index: number): LogEntry | undefined {
    const i = index - this.firstIndex;
    if (i < 0 || i >= this.items.length - this.head) return undefined;
    return this.items[this.head + i];
  }

  /** The term of the entry at `index`, if held. */
  termAt(index: number): number | undefined {
    return this.get(index)?.term;
  }

  /** Adds one entry; it must be the next index. */
  push(entry: LogEntry): void {
    if (entry.index !== this.last + 1) fail(`mem table expects index ${this.last + 1}, got ${entry.index}`);
    this.items.push(entry);
    const b = entryBytes(entry);
    this.bytes += b;
    this.budget.bytes += b;
  }

  /** Adds entries in order; the first must be the next index. */
  append(entries: readonly LogEntry[]): void {
    for (const e of entries) this.push(e);
  }

  /** Drops entries after `index`; below `first - 1` it empties the table and restarts it at index + 1. */
  truncateAfter(index: number): void {
    if (index >= this.last) return;
    if (index < this.firstIndex - 1) {
      this.resetTo(index + 1);
      return;
    }
    const keep = this.head + (index - this.firstIndex + 1);
    let freed = 0;
    for (let i = keep; i < this.items.length; i++) freed += entryBytes(this.items[i] as LogEntry);
    this.items.length = keep;
    this.release(freed);
  }

  /** Drops entries up to and including `index` (they are in segments or a snapshot now). */
  dropThrough(index: number): void {
    if (index < this.firstIndex) return;
    if (index >= this.last) {
      this.resetTo(index + 1);
      return;
    }
    const n = index - this.firstIndex + 1;
    let freed = 0;
    for (let i = this.head; i < this.head + n; i++) {
      freed += entryBytes(this.items[i] as LogEntry);
      this.items[i] = undefined as unknown as LogEntry;
    }
    this.head += n;
    this.firstIndex += n;
    this.release(freed);
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Empties the table; the next entry must have index `next`. */
  resetTo(next: number): void {
    this.release(this.bytes);
    this.items = [];
    this.head = 0;
    this.firstIndex = next;
  }

  /** Entries from..to (inclusive, clipped to what is held), stopping once `maxBytes` of payload is reached (at least one entry). */
  slice(from: number, to: number, out: LogEntry[] = [], maxBytes = Infinity, bytesSoFar = 0): LogEntry[] {
    const lo = Math.max(from, this.firstIndex);
    const hi = Math.min(to, this.last);
    let bytes = bytesSoFar;
    for (let i = lo; i <= hi; i++) {
      const e = this.items[this.head + i - this.firstIndex] as LogEntry;
      if (out.length > 0 && bytes + e.payload.byteLength > maxBytes) break;
      bytes += e.payload.byteLength;
      out.push(e);
    }
    return out;
  }

  private release(bytes: number): void {
    this.bytes -= bytes;
    this.budget.bytes -= bytes;
  }
}
