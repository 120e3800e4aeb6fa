// The per-log state a node shares between actors, as ra shares ETS tables:
// the mem table and log bounds (written by the owner's GroupLog), the segment
// view (written by the segment writer), the WAL's durable mark (written by the
// WAL). Each field has one writer; every handler runs to completion, so a
// reader always sees a consistent state.
import type { ActorRef } from '../actors/actor.js';
import type { LogEvent } from './events.js';
import { MemTable, type MemBudget } from './mem_table.js';

/** One segment file as the log sees it: the view range first..last it serves. */
export interface SegmentRef {
  seq: number;
  path: string;
  /** Indexes this file serves (after cuts and the snapshot point). */
  first: number;
  last: number;
  /** Indexes physically held. */
  fileFirst: number;
  fileLast: number;
  /** End of its last valid chunk: where the next chunk goes. */
  size: number;
}

/** Shared state of one log (one Raft group member) on this node. */
export class GroupState {
  /** The actor that receives this log's LogEvents (the latest `openLog` caller). */
  owner: ActorRef<LogEvent> | undefined;
  /** Bumped by each `openLog`, so that a replaced GroupLog can tell it is stale. */
  generation = 0;
  readonly mem: MemTable;
  snapshotIndex = 0;
  snapshotTerm = 0;
  lastIndex = 0;
  lastTerm = 0;
  /** Highest index known durable (kept here so that a reopened GroupLog starts from it). */
  writtenIndex = 0;
  /** Segment files serving this log: disjoint ranges in ascending order. */
  segments: SegmentRef[] = [];
  /** Number for the next segment file. */
  nextSegmentSeq = 1;
  /** Snapshot point and segments have been read and combined with the WAL replay. */
  loaded = false;
  /** The WAL replay at start-up found records for this log (its mem table starts at the replay base). */
  replayed = false;
  /** The last reset (snapshot install) record found by the WAL replay. */
  resetPoint: { index: number; term: number } | undefined;
  /** Last (index, term) the WAL made durable for this log (written by the WAL actor); a cut lowers it to the cut point. */
  walDurableIndex = 0;
  walDurableTerm = 0;
  /** Last (index, term) the segment writer made durable in segments. */
  flushedIndex = 0;
  flushedTerm = 0;
  /** deleteLog was called: the log may not be opened until its callback. */
  deleting = false;
  /** Deleted: this object is dead; a new GroupState serves the logId if it is created again. */
  deleted = false;
  /** The group's directory is known to exist durably. */
  dirReady = false;
  /** logId in UTF-8, as WAL name records carry it. */
  readonly nameBytes: Uint8Array;
  /** @internal WAL bookkeeping: the batch this log last wrote into and its notice. */
  walBatch: unknown = undefined;
  /** @internal */
  walNotice: unknown = undefined;

  constructor(
    readonly logId: string,
    /** Number that stands for logId in WAL records written by this process. */
    readonly gid: number,
    /** Directory of its segments and snapshots. */
    readonly dir: string,
    budget: MemBudget,
  ) {
    this.mem = new MemTable(budget, 1);
    this.nameBytes = new TextEncoder().encode(logId);
  }

  /** Last index served by segments (0 when none). */
  get segmentsLast(): number {
    const last = this.segments[this.segments.length - 1];
    return last === undefined ? 0 : last.last;
  }

  /** The segment ref serving `index`, if any. */
  segmentFor(index: number): SegmentRef | undefined {
    const refs = this.segments;
    let lo = 0;
    let hi = refs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = refs[mid] as SegmentRef;
      if (index < r.first) hi = mid - 1;
      else if (index > r.last) lo = mid + 1;
      else return r;
    }
    return undefined;
  }
}

/** Drops the parts of a segment view after `index`. */
export function clipSegmentsAfter(refs: SegmentRef[], index: number): void {
  while (refs.length > 0 && (refs[refs.length - 1] as SegmentRef).first > index) refs.pop();
  const last = refs[refs.length - 1];
  if (last !== undefined && last.last > index) last.last = index;
}

/** Drops the parts of a segment view at or below `index` (the snapshot point); returns whether any ref left the view. */
export function clipSegmentsThrough(refs: SegmentRef[], index: number): boolean {
  let dropped = 0;
  while (dropped < refs.length && (refs[dropped] as SegmentRef).last <= index) dropped++;
  if (dropped > 0) refs.splice(0, dropped);
  const first = refs[0];
  if (first !== undefined && first.first <= index) first.first = index + 1;
  return dropped > 0;
}

/** Encodes a logId as a directory name. */
export function groupDirName(logId: string): string {
  return encodeURIComponent(logId);
}
