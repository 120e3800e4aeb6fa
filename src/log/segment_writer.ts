// The segment writer actor, one per node. For each rolled-over WAL file, in
// order, it copies each log's entries (from the mem tables) into that log's
// segment files in waves of parallel writes, syncs them and the directories,
// tells each owner (so its mem table can drop them), and only then deletes
// the WAL file. Between waves it deletes segment files nobody needs.
import { Actor } from '../actors/actor.js';
import { assert, assertNever } from '../lib/assert.js';
import { Completion } from '../lib/completion.js';
import { ConcordError } from '../lib/errors.js';
import { DiskError, joinPath, type Disk, type DiskCallback, type FileHandle, type SyncMethod } from '../io/disk.js';
import { clipSegmentsAfter, clipSegmentsThrough, type GroupState, type SegmentRef } from './group_state.js';
import { IoGate, runParallel, runSteps, writeInSyncedPieces, type Step } from './io_chain.js';
import type { LogSystem } from './log_system.js';
import { CHUNK_HEADER_BYTES, CHUNK_INDEX_ENTRY_BYTES, encodeChunk, SegmentReader, segmentFileName, segmentFileSeq, type EncodedChunk } from './segment.js';
import type { FileGroupRange, WalFile } from './wal_file.js';
import type { LogEntry } from './events.js';

/** Logs whose files a wave writes at the same time (each open, write, sync, close in turn). */
const segmentFilesInFlight = 2;

/** Messages the segment writer accepts. */
export type SegmentWriterMsg =
  | { type: 'flush' }
  | { type: 'compact'; group: GroupState }
  | { type: 'delete_group'; group: GroupState; done: DiskCallback }
  | { type: 'io_done'; error: DiskError | null }
  | { type: 'retry' };

/** One chunk to write into one file. */
interface ChunkWrite {
  ref: SegmentRef;
  create: boolean;
  position: number;
  /** The entries, taken when planned (memory may cut or drop them before the write). */
  entries: readonly LogEntry[];
  first: number;
  cutAfter: number | undefined;
  /** Its size once encoded. */
  bytes: number;
  /**
   * Encoded just before it is written, not when planned: a wave's chunks
   * encoded at once held the event loop (and every group of the node) for
   * tens of milliseconds.
   */
  chunk: EncodedChunk | undefined;
}

/** What one log gets from one WAL file. */
interface GroupPlan {
  group: GroupState;
  writes: ChunkWrite[];
  /** Last index written (start - 1 when only cutting) and its term. */
  writtenTo: number;
  writtenTerm: number;
  bytes: number;
}

type Work =
  | { kind: 'wave'; plans: GroupPlan[]; firstGroup: number }
  | { kind: 'delete_wal'; file: WalFile }
  | { kind: 'gc'; group: GroupState }
  | { kind: 'delete_group'; group: GroupState; done: DiskCallback };

/** Copies rolled-over WAL files into segment files. Spawned by LogSystem.childSpec. */
export class SegmentWriter extends Actor<SegmentWriterMsg, { ls: LogSystem }> {
  private ls!: LogSystem;
  /** The WAL file being flushed and the position in its list of logs. */
  private job: { file: WalFile; groups: [GroupState, FileGroupRange][]; next: number; barrier: number } | undefined;
  private readonly maintenance: Work[] = [];
  private readonly gcQueued = new Set<GroupState>();
  private inflight: Work | undefined;
  private retrying = false;
  /**
   * Logs whose files a failed wave may have changed behind the view: appends
   * to them cut their file back to where the chunk begins before writing,
   * until a wave for the log succeeds.
   */
  private readonly untidy = new Set<GroupState>();
  /** The last work failed (errors are logged once per failing spell). */
  private failing = false;
  private stopping = false;
  private readonly io = new IoGate();

  override init(args: { ls: LogSystem }): void {
    this.ls = args.ls;
  }

  handle(msg: SegmentWriterMsg): void {
    switch (msg.type) {
      case 'flush':
        return;
      case 'compact':
        if (!this.gcQueued.has(msg.group)) {
          this.gcQueued.add(msg.group);
          this.maintenance.push({ kind: 'gc', group: msg.group });
        }
        return;
      case 'delete_group':
        this.maintenance.push({ kind: 'delete_group', group: msg.group, done: msg.done });
        return;
      case 'io_done':
        return this.done(msg.error);
      case 'retry':
        this.retrying = false;
        return;
      default:
        return assertNever(msg, 'segment writer message');
    }
  }

  /** Starts the next piece of work when nothing is in flight. */
  override afterBatch(): void {
    while (this.inflight === undefined && !this.retrying && !this.stopping) {
      const work = this.nextWork();
      if (work === undefined) return;
      this.inflight = work;
      this.run(work);
    }
  }

  /** Waits for the writes in flight. */
  override terminate(): PromiseLike<void> {
    this.stopping = true;
    const done = new Completion();
    this.io.whenIdle(() => done.resolve());
    return done;
  }

  private nextWork(): Work | undefined {
    const m = this.maintenance.shift();
    if (m !== undefined) return m;
    if (this.job === undefined) {
      const file = this.ls.pendingWalFiles[0];
      if (file === undefined) return undefined;
      this.job = { file, groups: [...file.groups], next: 0, barrier: 0 };
    }
    const job = this.job;
    if (job.next >= job.groups.length) {
      // Where memory disagreed with the file, the change (a truncation) must be
      // durable in the WAL before the file goes: wait for every request sent
      // before the last wave was planned.
      if (this.ls.walRequestsDurable < job.barrier) {
        this.ls.segmentWriterWaitsForWal = true;
        return undefined;
      }
      return { kind: 'delete_wal', file: job.file };
    }
    job.barrier = this.ls.walRequestsSent;
    const firstGroup = job.next;
    const plans: GroupPlan[] = [];
    let bytes = 0;
    const o = this.ls.options;
    while (job.next < job.groups.length && bytes < o.segmentWaveBytesMax && plans.length < 512) {
      const [g, range] = job.groups[job.next++] as [GroupState, FileGroupRange];
      let plan: GroupPlan | undefined;
      try {
        plan = this.plan(g, range);
      } catch (e) {
        // Loading the log failed (a corrupt segment): keep the WAL file and try again later.
        if (!(e instanceof ConcordError)) throw e;
        job.next = firstGroup;
        this.failed({ kind: 'wave', plans: [], firstGroup }, e);
        return undefined;
      }
      if (plan === undefined) continue;
      plans.push(plan);
      bytes += plan.bytes;
    }
    return { kind: 'wave', plans, firstGroup };
  }

  private run(work: Work): void {
    switch (work.kind) {
      case 'wave':
        return this.start([this.waveSteps(work.plans)]);
      case 'delete_wal': {
        const disk = this.ls.disk;
        return this.start([[(next) => disk.unlink(work.file.path, next), (next) => disk.syncDir(this.ls.walDir, next)]]);
      }
      case 'gc':
        this.gcQueued.delete(work.group);
        return this.start([this.gcSteps(work.group)]);
      case 'delete_group':
        return this.start([this.deleteSteps(work.group)]);
      default:
        return assertNever(work, 'segment work');
    }
  }

  private start(sequences: Step[][]): void {
    this.io.begin();
    const self = this.self;
    runParallel(sequences, (error) => {
      this.io.end();
      this.system.send(self, { type: 'io_done', error });
    });
  }

  /** The work in flight ended. */
  private done(error: DiskError | null): void {
    const work = this.inflight as Work;
    this.inflight = undefined;
    if (error !== null) return this.failed(work, error);
    if (this.failing) this.ls.logger.info('segment writer writes again');
    this.failing = false;
    switch (work.kind) {
      case 'wave':
        for (const p of work.plans) this.apply(p);
        this.ls.segmentStats.waves++;
        return;
      case 'delete_wal':
        assert(this.ls.pendingWalFiles[0] === work.file, 'WAL files are flushed in order');
        this.ls.pendingWalFiles.shift();
        this.ls.segmentStats.walFilesFlushed++;
        this.job = undefined;
        return;
      case 'gc':
        return;
      case 'delete_group':
        this.untidy.delete(work.group);
        this.ls.groupDeleted(work.group);
        return work.done(null, undefined);
      default:
        return assertNever(work, 'segment work');
    }
  }

  private failed(work: Work, error: DiskError | ConcordError): void {
    this.ls.segmentStats.failures++;
    if (!this.failing) {
      this.ls.logger.error('segment writer: disk error; retrying (WAL files are kept until it succeeds)', {
        error,
        errno: error instanceof DiskError ? error.errno : error.code,
        work: work.kind,
        retryMs: this.ls.options.walRetryMs,
      });
    }
    this.failing = true;
    if (work.kind === 'wave') {
      // Plan the same logs again; appends first cut their file back to where the chunk began.
      // The retry may plan less (a snapshot or truncation came in between), so files the
      // wave created may be left over: delete them before anything else is flushed.
      (this.job as { next: number }).next = work.firstGroup;
      for (const p of work.plans) {
        this.untidy.add(p.group);
        if (p.writes.some((w) => w.create)) this.requestGc(p.group);
      }
    } else if (work.kind !== 'delete_wal') this.maintenance.unshift(work);
    this.retrying = true;
    this.sendAfter(this.ls.options.walRetryMs, { type: 'retry' });
  }

  // ---- planning ----

  /**
   * What `range` (one WAL file's effect on g) means for g's segments: copy the
   * entries that memory still holds with the same terms, and cut the segments
   * where the log ended after that file or where memory has moved on since.
   */
  private plan(g: GroupState, range: FileGroupRange): GroupPlan | undefined {
    if (g.deleted || g.deleting || range.hi < 0) return undefined;
    this.ls.ensureLoaded(g);
    const mem = g.mem;
    // Below mem.first, segments already hold the log as it is now.
    const from = Math.max(range.lo, g.snapshotIndex + 1, mem.first);
    // Segments may end short of this file's range while memory holds what lies between: a WAL
    // restarted in a running node writes every mem table again into a newer file, and after a
    // crash, recovery serves segments only up to where that copy begins, below the older files
    // still to flush (the planner asserted: simulator, seed 7153792). Those entries go first,
    // as memory has them.
    const start = Math.max(Math.min(from, g.segmentsLast + 1), g.snapshotIndex + 1, mem.first);
    const end = Math.min(range.hi, mem.last);
    let k = start;
    while (k < from && k <= mem.last) k++;
    while (k <= end && mem.termAt(k) === range.termAt(k)) k++;
    const writeTo = k - 1;
    const count = writeTo - start + 1;
    const cutAt = start > range.hi ? range.hi : writeTo;
    const segLast = g.segmentsLast;
    if (count <= 0 && segLast <= cutAt) return undefined;
    assert(count <= 0 || start <= Math.max(segLast, g.snapshotIndex) + 1, () => `log ${g.logId}: segments end at ${segLast}, cannot continue at ${start}`);
    const last = g.segments[g.segments.length - 1];
    const plain = count > 0 && last !== undefined && start === last.last + 1 && last.last === last.fileLast;
    const writes = this.chunks(g, plain ? last : undefined, start, Math.max(0, count), plain ? undefined : count > 0 ? start - 1 : cutAt);
    let bytes = 0;
    for (const w of writes) bytes += w.bytes;
    const writtenTerm = count > 0 ? (mem.termAt(writeTo) as number) : 0;
    return { group: g, writes, writtenTo: count > 0 ? writeTo : start - 1, writtenTerm, bytes };
  }

  /**
   * Splits entries start.. (count of them) into chunks, filling `into` first,
   * then new files; `cut` goes first. A chunk holds at most
   * segmentChunkBytesMax (but at least one entry): each is encoded (a copy and
   * a CRC32C of every entry) on the event loop just before its write, and a
   * 64 MiB file encoded at once held every group of the node for tens of
   * milliseconds.
   */
  private chunks(g: GroupState, into: SegmentRef | undefined, start: number, count: number, cut: number | undefined): ChunkWrite[] {
    const o = this.ls.options;
    const get = (i: number): LogEntry => g.mem.get(i) as LogEntry;
    const writes: ChunkWrite[] = [];
    let seq = g.nextSegmentSeq;
    let i = start;
    const end = start + count;
    let pendingCut = cut;
    // The file being filled, its size and entry count with the chunks planned so far.
    let ref = into;
    let size = into?.size ?? 0;
    let held = into === undefined ? 0 : into.fileLast - into.fileFirst + 1;
    let full = ref === undefined || held >= o.segmentEntriesMax || size >= o.segmentBytesMax;
    do {
      const create = full;
      if (full) {
        ref = { seq, path: joinPath(g.dir, segmentFileName(seq)), first: i, last: i - 1, fileFirst: i, fileLast: i - 1, size: 0 };
        seq++;
        size = 0;
        held = 0;
        full = false;
      }
      let bytes = CHUNK_HEADER_BYTES;
      const entries: LogEntry[] = [];
      while (i + entries.length < end) {
        if (held + entries.length >= o.segmentEntriesMax) {
          full = true;
          break;
        }
        const e = get(i + entries.length);
        const add = e.payload.length + CHUNK_INDEX_ENTRY_BYTES;
        if (entries.length > 0 && size + bytes + add > o.segmentBytesMax) {
          full = true;
          break;
        }
        if (entries.length > 0 && bytes + add > o.segmentChunkBytesMax) break;
        bytes += add;
        entries.push(e);
      }
      writes.push({ ref: ref as SegmentRef, create, position: size, entries, first: i, cutAfter: pendingCut, bytes, chunk: undefined });
      pendingCut = undefined;
      i += entries.length;
      size += bytes;
      held += entries.length;
    } while (i < end);
    // A number is taken when planned, not when the wave succeeds: a failed wave may
    // leave its files behind, and load applies files in number order, so a number
    // used again would put such a stale file after the newer one and let it win.
    g.nextSegmentSeq = seq;
    return writes;
  }

  /**
   * A wave: the directories of logs that get their first file, made durable
   * with one sync of their parent, then each log's writes, a few logs at a
   * time. The thread pool is shared with the WAL, whose syncs every commit
   * waits for: a wave that queued hundreds of syncs ahead of them would stall
   * every group of the node for as long as the wave lasts.
   */
  private waveSteps(plans: readonly GroupPlan[]): Step[] {
    const disk = this.ls.disk;
    const fresh = plans.filter((p) => !p.group.dirReady && p.writes.some((w) => w.create)).map((p) => p.group.dir);
    const steps: Step[] = [];
    if (fresh.length > 0) {
      steps.push(
        (next) => runParallel(fresh.map((dir) => [(done: (err: DiskError | null) => void) => disk.mkdir(dir, done)]), next, segmentFilesInFlight),
        (next) => disk.syncDir(this.ls.groupsDir, next),
      );
    }
    steps.push((next) => runParallel(plans.map((p) => this.planSteps(p)), next, segmentFilesInFlight));
    return steps;
  }

  private planSteps(p: GroupPlan): Step[] {
    const disk = this.ls.disk;
    const method: SyncMethod = this.ls.options.walSyncMethod;
    const g = p.group;
    const steps: Step[] = [];
    const retry = this.untidy.has(g);
    for (const w of p.writes) steps.push(...writeSteps(disk, w, method, retry));
    if (p.writes.some((w) => w.create)) steps.push((next) => disk.syncDir(g.dir, next));
    return steps;
  }

  /** The wave's writes are durable: update the view, then tell the owner. */
  private apply(p: GroupPlan): void {
    const g = p.group;
    this.untidy.delete(g);
    if (p.writes.some((w) => w.create)) g.dirReady = true;
    const stats = this.ls.segmentStats;
    let removed = false;
    for (const w of p.writes) {
      const c = w.chunk as EncodedChunk; // written, so encoded
      if (c.cutAfter !== undefined) {
        const before = g.segments.length;
        clipSegmentsAfter(g.segments, c.cutAfter);
        removed ||= g.segments.length < before;
      }
      const size = w.position + c.bytes.length;
      if (w.create) {
        // The planned ref itself: the file's later chunks in this wave update it.
        const ref = w.ref;
        const first = c.count > 0 ? c.first : (c.cutAfter ?? 0) + 1;
        ref.first = ref.fileFirst = first;
        ref.last = ref.fileLast = first + c.count - 1;
        ref.size = size;
        g.segments.push(ref);
        g.nextSegmentSeq = Math.max(g.nextSegmentSeq, ref.seq + 1);
        const reader = new SegmentReader(this.ls.disk, ref.path);
        reader.addChunk(c, w.position);
        this.ls.readers.set(ref.path, reader);
      } else {
        const ref = w.ref;
        ref.last = ref.fileLast = c.first + c.count - 1;
        ref.size = size;
        this.ls.readers.peek(ref.path)?.addChunk(c, w.position);
      }
      stats.chunks++;
      stats.entries += c.count;
      stats.bytes += c.bytes.length;
    }
    if (removed) this.requestGc(g);
    if (p.writtenTerm === 0) return;
    g.flushedIndex = p.writtenTo;
    g.flushedTerm = p.writtenTerm;
    if (g.owner !== undefined) this.send(g.owner, { type: 'segments_flushed', logId: g.logId, index: p.writtenTo, term: p.writtenTerm });
    else if (g.mem.termAt(p.writtenTo) === p.writtenTerm) g.mem.dropThrough(p.writtenTo);
  }

  private requestGc(g: GroupState): void {
    if (this.gcQueued.has(g)) return;
    this.gcQueued.add(g);
    this.maintenance.push({ kind: 'gc', group: g });
  }

  // ---- maintenance ----

  /**
   * Deletes g's segment files that the view no longer uses (below the snapshot
   * point, or voided by a cut), oldest first with a directory sync after each,
   * so that a crash never leaves an old file without the newer cut that voids it.
   */
  private gcSteps(g: GroupState): Step[] {
    if (g.deleted || !g.loaded) return [];
    clipSegmentsThrough(g.segments, g.snapshotIndex);
    const keep = new Set(g.segments.map((r) => r.path));
    const disk = this.ls.disk;
    const steps: Step[] = [];
    for (const name of disk.listSync(g.dir)) {
      const seq = segmentFileSeq(name);
      if (seq === undefined || seq >= g.nextSegmentSeq) continue;
      const path = joinPath(g.dir, name);
      if (keep.has(path)) continue;
      this.ls.readers.delete(path);
      steps.push((next) => disk.unlink(path, next), (next) => disk.syncDir(g.dir, next));
      this.ls.segmentStats.filesDeleted++;
    }
    return steps;
  }

  /** Removes every file of a deleted log, then its directories. */
  private deleteSteps(g: GroupState): Step[] {
    const disk = this.ls.disk;
    this.ls.forgetFiles(g);
    const snapDir = joinPath(g.dir, 'snapshots');
    const steps: Step[] = [];
    // Each directory is synced empty before it is removed, so that no file outlives it.
    for (const name of disk.listSync(snapDir)) steps.push((next) => disk.unlink(joinPath(snapDir, name), next));
    if (disk.existsSync(snapDir)) steps.push((next) => disk.syncDir(snapDir, next), (next) => disk.rmdir(snapDir, next));
    for (const name of disk.listSync(g.dir)) {
      if (name !== 'snapshots') steps.push((next) => disk.unlink(joinPath(g.dir, name), next));
    }
    if (disk.existsSync(g.dir)) {
      steps.push((next) => disk.syncDir(g.dir, next), (next) => disk.rmdir(g.dir, next));
      steps.push((next) => disk.syncDir(this.ls.groupsDir, next));
    }
    return steps;
  }
}

/** Open, (cut back,) write, sync and close one chunk. */
function writeSteps(disk: Disk, w: ChunkWrite, method: SyncMethod, cutBack: boolean): Step[] {
  let h: FileHandle = -1;
  const steps: Step[] = [
    (next) =>
      disk.open(w.ref.path, w.create ? 'write' : 'readwrite', (err, handle) => {
        h = handle;
        next(err);
      }),
  ];
  if (cutBack && !w.create) steps.push((next) => disk.truncate(h, w.position, next));
  steps.push((next) => {
    w.chunk ??= encodeChunk((i) => w.entries[i - w.first] as LogEntry, w.first, w.entries.length, w.cutAfter);
    assert(w.chunk.bytes.length === w.bytes, 'a chunk encodes to the size it was planned at');
    next(null);
  });
  // In synced pieces: megabytes written at once held up every commit of the node behind them.
  steps.push(...writeInSyncedPieces(disk, () => h, w.position, w.bytes, (from, to) => (w.chunk as EncodedChunk).bytes.subarray(from, to), method));
  steps.push((next) => disk.close(h, () => next(null)));
  return [
    (next) =>
      runSteps(steps, (err) => {
        if (err !== null && h >= 0) disk.close(h, () => next(err));
        else next(err);
      }),
  ];
}
