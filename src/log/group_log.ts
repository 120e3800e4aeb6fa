// The log of one Raft group member as its server sees it: a plain object,
// owned by exactly one actor, every method synchronous. Appends go to the
// mem table at once and to the WAL as one request; durability comes back as
// LogEvents that the owner passes to `handle`.
import { assert, assertNever, fail } from '../lib/assert.js';
import type { ConcordError } from '../lib/errors.js';
import type { AppendResult, LogChange, LogEntry, LogEvent } from './events.js';
import type { GroupState } from './group_state.js';
import type { LogSystem } from './log_system.js';

/** Numbers for an overview of one log. */
export interface GroupLogStats {
  logId: string;
  firstIndex: number;
  lastIndex: number;
  lastTerm: number;
  writtenIndex: number;
  snapshotIndex: number;
  memEntries: number;
  memBytes: number;
  segments: number;
}

/**
 * One member's log. Indexes start at 1; `firstIndex` is snapshotIndex + 1.
 * Relies on Raft's Log Matching property: an (index, term) pair names one
 * entry, so a late notification is checked by the term now at its index.
 */
export class GroupLog {
  private overloaded = false;
  private down: ConcordError | undefined;
  private readonly generation: number;

  /** @internal Made by LogSystem.openLog. */
  constructor(
    private readonly ls: LogSystem,
    private readonly g: GroupState,
  ) {
    this.generation = g.generation;
    this.down = ls.walDown;
  }

  /** The log's id (cluster/member). */
  get logId(): string {
    return this.g.logId;
  }
  /** Index of the first entry held (snapshotIndex + 1; lastIndex + 1 when empty). */
  get firstIndex(): number {
    return this.g.snapshotIndex + 1;
  }
  /** Index of the last entry (the snapshot index when the log is empty). */
  get lastIndex(): number {
    return this.g.lastIndex;
  }
  /** Term of the last entry (or of the snapshot point). */
  get lastTerm(): number {
    return this.g.lastTerm;
  }
  /** Highest index known durable; never above lastIndex. */
  get writtenIndex(): number {
    return this.g.writtenIndex;
  }
  /** Index covered by the latest snapshot point (0: none). */
  get snapshotIndex(): number {
    return this.g.snapshotIndex;
  }
  /** Term of the snapshot point. */
  get snapshotTerm(): number {
    return this.g.snapshotTerm;
  }

  /**
   * Appends entries that continue the log (contiguous, starting at lastIndex + 1,
   * terms not decreasing). They are readable at once and sent to the WAL as one
   * request. The entries (and their payloads) must not be changed afterwards.
   * Always accepted; the result says whether the caller should keep appending.
   */
  append(entries: readonly LogEntry[]): AppendResult {
    const g = this.check();
    let prev = g.lastIndex;
    let prevTerm = g.lastTerm;
    for (const e of entries) {
      if (e.index !== prev + 1) fail(`log ${g.logId}: append expects index ${prev + 1}, got ${e.index}`);
      if (e.term < prevTerm) fail(`log ${g.logId}: term ${e.term} at ${e.index} is below the previous term ${prevTerm}`);
      prev = e.index;
      prevTerm = e.term;
    }
    if (entries.length > 0) {
      g.mem.append(entries);
      g.lastIndex = prev;
      g.lastTerm = prevTerm;
      this.ls.sendToWal({ type: 'append', group: g, entries });
    }
    return this.down !== undefined ? 'unavailable' : this.overloaded ? 'overloaded' : 'ok';
  }

  /**
   * Drops entries after `index` (a Raft conflict). Durable before the next
   * `written` notification; entries beyond `index` never come back.
   */
  truncateAfter(index: number): void {
    const g = this.check();
    assert(index >= g.snapshotIndex, () => `log ${g.logId}: cannot truncate after ${index}, below the snapshot point ${g.snapshotIndex}`);
    if (index >= g.lastIndex) return;
    const term = this.term(index) as number;
    g.mem.truncateAfter(index);
    g.lastIndex = index;
    g.lastTerm = term;
    if (g.writtenIndex > index) g.writtenIndex = index;
    lowerDurable(g, index, term);
    this.ls.sendToWal({ type: 'truncate', group: g, index, term });
  }

  /**
   * The Raft layer saved a snapshot covering up to `index`: entries up to it
   * leave the mem table, and segment files wholly below it are deleted later.
   */
  setSnapshotPoint(index: number, term: number): void {
    const g = this.check();
    if (index <= g.snapshotIndex) return;
    assert(index <= g.lastIndex, () => `log ${g.logId}: snapshot point ${index} is past the last index ${g.lastIndex}`);
    const t = this.term(index);
    assert(t === undefined || t === term, () => `log ${g.logId}: snapshot term ${term} differs from the entry's term ${t} at ${index}`);
    g.mem.dropThrough(index);
    g.snapshotIndex = index;
    g.snapshotTerm = term;
    if (g.writtenIndex < index) g.writtenIndex = index;
    this.ls.requestCompaction(g);
  }

  /**
   * A snapshot at (index, term) was installed: the log becomes empty with that
   * snapshot point. Durable before the next `written` notification.
   */
  resetTo(index: number, term: number): void {
    const g = this.check();
    assert(index >= g.snapshotIndex, () => `log ${g.logId}: cannot reset to ${index}, below the snapshot point ${g.snapshotIndex}`);
    g.mem.resetTo(index + 1);
    g.snapshotIndex = index;
    g.snapshotTerm = term;
    g.lastIndex = index;
    g.lastTerm = term;
    g.writtenIndex = index;
    lowerDurable(g, index, term);
    this.ls.sendToWal({ type: 'reset', group: g, index, term });
    this.ls.requestCompaction(g);
  }

  /**
   * Entries from..to inclusive, clipped to what the log holds, stopping before
   * `maxBytes` of payload (but at least one entry). From the mem table, else
   * from segment files (checked against their CRCs).
   */
  entries(from: number, to: number, maxBytes = Infinity): LogEntry[] {
    const g = this.check();
    const lo = Math.max(from, g.snapshotIndex + 1);
    const hi = Math.min(to, g.lastIndex);
    const out: LogEntry[] = [];
    if (lo > hi) return out;
    let bytes = 0;
    const memFirst = g.mem.first;
    if (lo < memFirst) {
      bytes = this.ls.readSegments(g, lo, Math.min(hi, memFirst - 1), out, maxBytes);
      if (out.length < Math.min(hi, memFirst - 1) - lo + 1) return out;
    }
    return g.mem.slice(Math.max(lo, memFirst), hi, out, maxBytes, bytes);
  }

  /** The entry at `index`, if the log holds it. */
  entry(index: number): LogEntry | undefined {
    return this.entries(index, index)[0];
  }

  /** The term at `index` (the snapshot point included), if known. */
  term(index: number): number | undefined {
    this.check();
    return this.ls.termAt(this.g, index);
  }

  /** Applies a LogEvent the owner received; returns what changed for it, if anything. */
  handle(event: LogEvent): LogChange | undefined {
    const g = this.check();
    assert(event.logId === g.logId, () => `event for ${event.logId} handed to log ${g.logId}`);
    switch (event.type) {
      case 'written':
        return this.written(event.to, event.term);
      case 'segments_flushed':
        if (event.index >= g.mem.first && g.mem.termAt(event.index) === event.term) g.mem.dropThrough(event.index);
        return undefined;
      case 'wal_overloaded':
        if (this.overloaded) return undefined;
        this.overloaded = true;
        return { type: 'wal_overloaded' };
      case 'wal_resumed':
        if (!this.overloaded) return undefined;
        this.overloaded = false;
        return { type: 'wal_resumed' };
      case 'wal_down':
        this.down = event.error;
        return { type: 'wal_down', error: event.error };
      case 'wal_up':
        if (this.down === undefined) return undefined;
        this.down = undefined;
        return { type: 'wal_up' };
      default:
        return assertNever(event, 'log event');
    }
  }

  /** Numbers for an overview. */
  stats(): GroupLogStats {
    const g = this.g;
    return {
      logId: g.logId,
      firstIndex: g.snapshotIndex + 1,
      lastIndex: g.lastIndex,
      lastTerm: g.lastTerm,
      writtenIndex: g.writtenIndex,
      snapshotIndex: g.snapshotIndex,
      memEntries: g.mem.count,
      memBytes: g.mem.bytes,
      segments: g.segments.length,
    };
  }

  /**
   * A `written` notification counts only if the entry now at `to` still has the
   * notified term: after a truncation and a re-append at another term, a late
   * notification must not mark the new entries durable (ra issue #516).
   */
  private written(to: number, term: number): LogChange | undefined {
    const g = this.g;
    if (to <= g.writtenIndex || to > g.lastIndex) return undefined;
    if (this.ls.termAt(g, to) !== term) return undefined;
    g.writtenIndex = to;
    return { type: 'written', index: to, term };
  }

  private check(): GroupState {
    const g = this.g;
    if (g.generation !== this.generation || g.deleted || g.deleting) fail(`log ${g.logId}: this GroupLog was replaced by a newer openLog or deleted`);
    return g;
  }

  /** @internal On open: catch up with what the WAL made durable while no owner listened. */
  catchUp(): void {
    const g = this.g;
    this.written(g.walDurableIndex, g.walDurableTerm);
    if (g.flushedIndex >= g.mem.first && g.mem.termAt(g.flushedIndex) === g.flushedTerm) g.mem.dropThrough(g.flushedIndex);
  }
}

/**
 * The log was cut after `index`: what the WAL made durable beyond it is no
 * longer the log, so its durable prefix ends there (a restarted WAL writes
 * the log again from that point).
 */
function lowerDurable(g: GroupState, index: number, term: number): void {
  if (g.walDurableIndex <= index) return;
  g.walDurableIndex = index;
  g.walDurableTerm = term;
}
