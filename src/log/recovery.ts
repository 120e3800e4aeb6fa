// Recovery. At start-up the WAL files are replayed, in order, into per-log
// mem tables (a torn tail of the last file is cut; anything else invalid is
// 'corrupt'). On first use, a log's view is completed from its latest
// snapshot point and its segment files.
import { assertNever } from '../lib/assert.js';
import { ConcordError } from '../lib/errors.js';
import { joinPath } from '../io/disk.js';
import type { LogSystem } from './log_system.js';
import { clipSegmentsAfter, clipSegmentsThrough, type GroupState, type SegmentRef } from './group_state.js';
import { readFileHeader, scanRecords, WAL_HEADER_BYTES, walFileSeq, walSpareSeq, type RecordKind } from './wal_format.js';
import { WalFile } from './wal_file.js';
import { SegmentReader, segmentFileSeq } from './segment.js';

const zeroBlock = new Uint8Array(64 * 1024);

/**
 * Where the run of zeros that ends `bytes` starts, looking no further back than
 * `from`. Compares whole blocks (memcmp): a WAL file allocated in advance is
 * mostly zeros, tens of MiB that a byte loop took 50-60 ms to walk.
 */
function zeroTailStart(bytes: Uint8Array, from: number): number {
  let stop = bytes.length;
  while (stop > from) {
    const lo = Math.max(from, stop - zeroBlock.length);
    if (Buffer.compare(bytes.subarray(lo, stop), zeroBlock.subarray(0, stop - lo)) !== 0) break;
    stop = lo;
  }
  while (stop > from && bytes[stop - 1] === 0) stop--;
  return stop;
}

/** True for a file that holds nothing but zeros (a WAL file allocated in advance and never used). */
function unused(bytes: Uint8Array): boolean {
  return zeroTailStart(bytes, 0) === 0;
}

/** The number in a WAL file's header, reading the header alone (undefined: not a valid header). */
function headerSeq(ls: LogSystem, path: string): number | undefined {
  const h = ls.disk.openSync(path, 'read');
  try {
    const header = new Uint8Array(WAL_HEADER_BYTES);
    return ls.disk.readSync(h, header, 0) === WAL_HEADER_BYTES ? readFileHeader(header) : undefined;
  } finally {
    ls.disk.closeSync(h);
  }
}

/**
 * Keeps the newest complete spare for the WAL to take over (it holds zeros
 * only, whatever happened to it) and removes the others.
 */
function recoverSpares(ls: LogSystem): void {
  const disk = ls.disk;
  const spares = disk
    .listSync(ls.walDir)
    .map((name) => ({ path: joinPath(ls.walDir, name), seq: walSpareSeq(name) }))
    .filter((s): s is { path: string; seq: number } => s.seq !== undefined)
    .sort((a, b) => b.seq - a.seq);
  const want = ls.options.walPreallocateBytes;
  for (const s of spares) {
    if (ls.walSpareFound === undefined && want > 0) {
      const h = disk.openSync(s.path, 'read');
      const size = disk.sizeSync(h);
      disk.closeSync(h);
      if (size === want) {
        ls.walSpareFound = s.path;
        continue;
      }
    }
    disk.unlinkSync(s.path);
  }
}

function corrupt(path: string, offset: number, why: string): ConcordError {
  return new ConcordError('corrupt', `${path} is corrupt at offset ${offset}: ${why}`);
}

/**
 * Replays every WAL file into mem tables and queues the files for the segment
 * writer. Returns the number for the next WAL file.
 */
export function recoverWal(ls: LogSystem): number {
  const disk = ls.disk;
  disk.mkdirpSync(ls.walDir);
  const files = disk
    .listSync(ls.walDir)
    .map((name) => ({ name, seq: walFileSeq(name) }))
    .filter((f): f is { name: string; seq: number } => f.seq !== undefined)
    .sort((a, b) => a.seq - b.seq);
  const started = ls.clock.now();
  let next = 1;
  // A file prepared for the next rollover but never used holds only zeros: drop it first,
  // so that the file really written last is treated as the last one.
  while (files.length > 0) {
    const last = files[files.length - 1] as { name: string; seq: number };
    const path = joinPath(ls.walDir, last.name);
    if (headerSeq(ls, path) === last.seq || !unused(disk.readFileSync(path))) break;
    next = last.seq + 1;
    disk.unlinkSync(path);
    disk.syncDirSync(ls.walDir);
    files.pop();
  }
  recoverSpares(ls);
  let entries = 0;
  for (let i = 0; i < files.length; i++) {
    const { name, seq } = files[i] as { name: string; seq: number };
    next = seq + 1;
    const f = replayWalFile(ls, seq, joinPath(ls.walDir, name), i === files.length - 1);
    if (f === undefined) continue;
    for (const r of f.groups.values()) entries += Math.max(0, r.hi - Math.min(r.lo, r.hi + 1) + 1);
    ls.pendingWalFiles.push(f);
  }
  if (files.length > 0) {
    ls.logger.info('WAL replayed', { files: files.length, logs: ls.groups.size, entries, ms: Math.round(ls.clock.now() - started) });
  }
  return next;
}

/** Replays one file; undefined when it held nothing (it is removed): never used, or the last file and torn in its header. */
function replayWalFile(ls: LogSystem, seq: number, path: string, isLast: boolean): WalFile | undefined {
  const disk = ls.disk;
  const bytes = disk.readFileSync(path);
  if (readFileHeader(bytes) !== seq) {
    if (unused(bytes)) {
      // Prepared and never used, behind a later file: a WAL writer that died while it was
      // preparing this one left it, and its successor went on in the next numbers.
      disk.unlinkSync(path);
      disk.syncDirSync(ls.walDir);
      return undefined;
    }
    if (!isLast) throw corrupt(path, 0, 'bad WAL file header');
    ls.logger.warn('removing a WAL file whose header is torn', { file: path, offset: 0, bytes: bytes.length });
    disk.unlinkSync(path);
    disk.syncDirSync(ls.walDir);
    return undefined;
  }
  const file = new WalFile(seq, path);
  const gids = new Map<number, GroupState>();
  const decoder = new TextDecoder();
  let largest = 0;
  const end = scanRecords(bytes, (kind, gid, index, term, payload, offset) => {
    if (payload.length > largest) largest = payload.length;
    if (kind === 'group') {
      const g = ls.groupForReplay(decoder.decode(payload));
      gids.set(gid, g);
      file.rangeOf(g);
      return;
    }
    const g = gids.get(gid);
    if (g === undefined) throw corrupt(path, offset, `record for log number ${gid}, which the file never named`);
    replayRecord(ls, g, file, kind, index, term, payload, path, offset);
  });
  // Zeros after the last record are space allocated in advance, not damage.
  const stop = zeroTailStart(bytes, end);
  if (end < stop) {
    if (!isLast) throw corrupt(path, end, 'invalid record in a WAL file that is not the last');
    // A crash can only tear the last write, which is at most one batch: a longer
    // invalid stretch is damage to data that was synced, not a torn tail.
    const o = ls.options;
    if (o.walSyncMethod !== 'none' && stop - end > o.walBatchBytesMax + largest + 65_536) {
      throw corrupt(path, end, `invalid record followed by ${stop - end} bytes, more than one write can tear`);
    }
    ls.logger.warn('cutting a torn WAL tail', { file: path, offset: end, bytes: bytes.length - end });
    syncFile(disk, path, end);
  } else if (isLast) {
    // A cut that an earlier start made, then failed to sync, reads back as done but is not
    // durable: a crash would bring the torn tail back, in a file no longer the last behind the
    // ones written since, and the node could not start again (simulator, seed 1106669). The
    // last file is made durable as it reads before anything is written after it.
    syncFile(disk, path);
  }
  file.size = end;
  file.planned = end;
  return file;
}

/** Syncs a file (cut at `cutAt` first, when given), closing it whatever happens. */
export function syncFile(disk: LogSystem['disk'], path: string, cutAt?: number): void {
  const h = disk.openSync(path, 'readwrite');
  try {
    if (cutAt !== undefined) disk.truncateSync(h, cutAt);
    disk.syncSync(h, 'datasync');
  } finally {
    disk.closeSync(h);
  }
}

function replayRecord(
  ls: LogSystem,
  g: GroupState,
  file: WalFile,
  kind: RecordKind,
  index: number,
  term: number,
  payload: Uint8Array,
  path: string,
  offset: number,
): void {
  const mem = g.mem;
  const range = file.rangeOf(g);
  switch (kind) {
    case 'entry':
      // An entry at i replaces everything after i - 1, in memory and (later) in segments. A
      // jump past the end is the log going on after a snapshot that was ahead of its WAL: a
      // member applies, and may snapshot, entries its WAL has not made durable yet, and after a
      // crash its log resumes after the snapshot (simulator, seed 934195: a node that could
      // not restart). Like a replay's first record, it starts the mem table afresh, and
      // loadGroup calls the log corrupt unless segments or the snapshot reach up to it.
      if (!g.replayed || index < mem.first || index > mem.last + 1) mem.resetTo(index);
      else mem.truncateAfter(index - 1);
      g.replayed = true;
      mem.push({ index, term, payload });
      range.entry(index, term);
      return;
    case 'truncate':
      if (!g.replayed) mem.resetTo(index + 1);
      else mem.truncateAfter(index);
      g.replayed = true;
      range.cut(index);
      return;
    case 'reset':
      mem.resetTo(index + 1);
      g.replayed = true;
      g.resetPoint = { index, term };
      range.cut(index);
      return;
    case 'delete':
      ls.replayDelete(g);
      range.cut(0);
      return;
    case 'group':
      return;
    default:
      return assertNever(kind, 'WAL record kind');
  }
}

/**
 * Completes a log's view on first use: snapshot point, then segment files,
 * combined with what the WAL replay put in its mem table.
 */
export function loadGroup(ls: LogSystem, g: GroupState): void {
  const snap = ls.snapshots(g.logId).latest();
  let s = snap?.index ?? 0;
  let st = snap?.term ?? 0;
  if (g.resetPoint !== undefined && g.resetPoint.index > s) {
    s = g.resetPoint.index;
    st = g.resetPoint.term;
  }
  const { refs, nextSeq, garbage } = scanSegments(ls, g);
  const mem = g.mem;
  let last: number;
  if (g.replayed) {
    // The mem table starts after `base`; segments serve up to base only.
    const base = mem.first - 1;
    clipSegmentsAfter(refs, base);
    const covered = Math.max(refs[refs.length - 1]?.last ?? 0, s);
    if (base > covered) {
      throw new ConcordError('corrupt', `log ${g.logId}: the WAL resumes after index ${base} but segments and snapshot end at ${covered}`);
    }
    last = mem.last;
  } else {
    last = refs[refs.length - 1]?.last ?? 0;
    mem.resetTo(last + 1);
  }
  if (last < s) last = s;
  mem.dropThrough(s);
  const dropped = clipSegmentsThrough(refs, s);
  g.segments = refs;
  g.nextSegmentSeq = nextSeq;
  g.snapshotIndex = s;
  g.snapshotTerm = st;
  g.lastIndex = last;
  g.loaded = true;
  g.lastTerm = ls.termAt(g, last) ?? st;
  g.writtenIndex = last;
  // All of it was read back from disk: durable, as a restarted WAL writer must know (it writes
  // again only what lies past this).
  g.walDurableIndex = last;
  g.walDurableTerm = g.lastTerm;
  if (garbage || dropped) ls.requestCompaction(g);
}

/** Scans a log's segment files in order, applying cuts, into a view. */
function scanSegments(ls: LogSystem, g: GroupState): { refs: SegmentRef[]; nextSeq: number; garbage: boolean } {
  const disk = ls.disk;
  const refs: SegmentRef[] = [];
  let nextSeq = 1;
  let files = 0;
  for (const name of disk.listSync(g.dir)) {
    const seq = segmentFileSeq(name);
    if (seq === undefined) continue;
    files++;
    nextSeq = seq + 1;
    const path = joinPath(g.dir, name);
    ls.readers.delete(path);
    const scan = SegmentReader.scan(disk, path);
    if (scan.invalidAt !== undefined) {
      // Only a segment write whose WAL file still exists can be torn: the WAL
      // file is deleted after the segment is synced. Without WAL records for
      // this log, an invalid chunk is corruption.
      if (!g.replayed) {
        scan.reader.close();
        throw new ConcordError('corrupt', `segment ${path} is corrupt at offset ${scan.invalidAt}`);
      }
      ls.logger.warn('cutting a torn segment tail', { file: path, offset: scan.invalidAt });
      syncFile(disk, path, scan.invalidAt);
    }
    const r = scan.reader;
    if (scan.cutAfter !== undefined) clipSegmentsAfter(refs, scan.cutAfter);
    if (r.count > 0) {
      clipSegmentsAfter(refs, r.first - 1);
      refs.push({ seq, path, first: r.first, last: r.last, fileFirst: r.first, fileLast: r.last, size: r.size });
    } else if (scan.cutAfter !== undefined) {
      // A file holding only a cut stays in the view: the cut must outlive the files it voids.
      const c = scan.cutAfter;
      refs.push({ seq, path, first: c + 1, last: c, fileFirst: c + 1, fileLast: c, size: r.size });
    }
    ls.readers.set(path, r);
  }
  return { refs, nextSeq, garbage: files > refs.length };
}
