// The WAL writer actor, one per node: it encodes every request queued in its
// mailbox into one buffer, writes it with one `write`, syncs once, then tells
// each log the entries now durable. It rolls over to a new file past a size
// (handing the old one to the segment writer), applies backpressure, and
// survives disk errors by retrying the failed batch from its first byte.
import { Actor } from '../actors/actor.js';
import { assertNever } from '../lib/assert.js';
import { Completion } from '../lib/completion.js';
import { DiskError, type DiskCallback, type FileHandle } from '../io/disk.js';
import type { LogEntry, LogEvent } from './events.js';
import type { GroupState } from './group_state.js';
import { backgroundSyncEveryBytes, IoGate, runSteps, writeInSyncedPieces, type Step } from './io_chain.js';
import type { LogSystem } from './log_system.js';
import { recordBytes, WAL_HEADER_BYTES, WalBuffer } from './wal_format.js';
import type { WalFile } from './wal_file.js';

/** A write and sync that took longer sends the next batches' syncs to the thread pool (walInlineSyncBytesMax). */
const inlineSyncSlowMs = 2;

/** Messages the WAL actor accepts (GroupLog and LogSystem send the requests). */
export type WalMsg =
  | { type: 'append'; group: GroupState; entries: readonly LogEntry[] }
  | { type: 'truncate'; group: GroupState; index: number; term: number }
  | { type: 'reset'; group: GroupState; index: number; term: number }
  | { type: 'delete'; group: GroupState; done: DiskCallback }
  | { type: 'io_done'; op: 'write' | 'close' | 'open'; error: DiskError | null; handle: FileHandle | undefined }
  /** A spare for the next WAL file was created and filled with zeros in the background (handle undefined: it failed). */
  | { type: 'spare_ready'; seq: number; path: string; handle: FileHandle | undefined }
  | { type: 'retry' }
  /** Starts writing what `init` queued (afterBatch runs only after a message). */
  | { type: 'kick' };

/** What one log wrote in one batch: the range to acknowledge once the batch is durable (to < 0: nothing). */
interface Notice {
  group: GroupState;
  from: number;
  to: number;
  term: number;
}

/** Records that go out in one write. */
interface Batch {
  file: WalFile;
  buf: WalBuffer;
  notices: Notice[];
  deletes: { group: GroupState; done: DiskCallback }[];
  entries: number;
  /** Requests (counted in arrival order) that are durable once this batch is. */
  upTo: number;
}

/** The WAL writer. Spawned by LogSystem.childSpec; recovers the WAL in `init`. */
export class Wal extends Actor<WalMsg, { ls: LogSystem }> {
  private ls!: LogSystem;
  /** The file open for writing. */
  private current: WalFile | undefined;
  /** The file new batches go into (current, or the next one after a rollover). */
  private planned!: WalFile;
  private readonly batches: Batch[] = [];
  private building: Batch | undefined;
  private readonly pool: WalBuffer[] = [];
  private busy = false;
  private retrying = false;
  private stopping = false;
  /** A write or sync failed: cut the file back to the batch start before writing again. */
  private needsTruncate = false;
  private down: DiskError | undefined;
  /** A restart could not take its predecessor's file over yet (a disk error): retried. */
  private resuming = false;
  /** The last batch's write and sync took over inlineSyncSlowMs: sync in the thread pool until one is fast again. */
  private syncsSlow = false;
  /** How long the last write and its sync took (for the WAL probe). */
  private lastWriteMs = 0;
  private pendingBytes = 0;
  private overloaded = false;
  private readonly told = new Map<GroupState, unknown>();
  /** Requests received, in order (LogSystem counts them as they are sent). */
  private received = 0;
  private readonly io = new IoGate();
  /** The spare for the next file, already allocated, waiting to be rolled into. */
  private spare: { seq: number; path: string; handle: FileHandle } | undefined;
  /** The WAL file a spare is being prepared (or taken over) for in the background, if any. */
  private preparingSeq: number | undefined;
  /** The WAL file whose spare failed: not tried again (at every batch) while it is the next one. */
  private spareFailedSeq: number | undefined;

  override init(args: { ls: LogSystem }): void {
    this.ls = args.ls;
    // At the node's start a disk error fails the start; a restart in a running node waits out a
    // disk error instead (resume), as a running WAL does.
    if (this.ls.walRecovered) return this.resume();
    const nextSeq = this.ls.recoverWal();
    this.ls.walRecovered = true;
    this.begin(nextSeq, false);
  }

  /**
   * After a restart in a running node: takes the dead instance's file over
   * and goes on. A disk error here (the file's cut-back cannot be synced)
   * used to crash the new instance at once, and its restarts, until the log
   * tree gave up and the node stopped (simulator, a log_crash while the disk
   * was full): now the WAL is down, tells its writers, and retries.
   */
  private resume(): void {
    let nextSeq: number;
    try {
      nextSeq = this.ls.resumeWalAfterRestart();
    } catch (e) {
      if (!(e instanceof DiskError)) throw e;
      this.resuming = true;
      return this.failed(e);
    }
    this.resuming = false;
    // What the dead instance told its writers (overloaded, down) died with it, and no one would
    // ever have told them it was over: they waited for good (simulator, log_crash). They hear
    // that this instance starts clear; if the disk still fails, its first write says so again.
    this.recovered(true);
    this.tellWriters((logId) => ({ type: 'wal_resumed', logId }));
    this.begin(nextSeq, true);
  }

  /** Plans the file `nextSeq` and starts on what is queued (after a restart, every mem table first). */
  private begin(nextSeq: number, restarted: boolean): void {
    this.planned = this.ls.newWalFile(nextSeq);
    this.prepareSpare(nextSeq); // usually ready before the first write arrives
    if (restarted) {
      // Requests the dead instance (or this one, while resuming) had not made durable are
      // covered by rewriting the mem tables.
      this.received = this.ls.walRequestsSent;
      this.resendMemTables();
    }
    // Deletions not finished (found by the replay, or lost with a dead instance): write them again.
    for (const d of this.ls.pendingDeletes()) this.onDelete(d.group, d.done);
    if (this.batches.length > 0) {
      this.requestDone();
      this.send(this.self, { type: 'kick' });
    }
    this.ls.kickSegmentWriter();
  }

  handle(msg: WalMsg): void {
    // Until a restart has resumed, requests are left to the mem tables and pending deletes, which
    // the resume writes again: no file is planned to put them in.
    if (this.resuming && (msg.type === 'append' || msg.type === 'truncate' || msg.type === 'reset' || msg.type === 'delete')) return;
    switch (msg.type) {
      case 'append':
        this.onAppend(msg.group, msg.entries);
        return this.requestDone();
      case 'truncate':
      case 'reset':
        this.onCut(msg.type, msg.group, msg.index, msg.term);
        return this.requestDone();
      case 'delete':
        this.onDelete(msg.group, msg.done);
        return this.requestDone();
      case 'io_done':
        return this.onIoDone(msg.op, msg.error, msg.handle);
      case 'retry':
        this.retrying = false;
        if (this.resuming) this.resume();
        return;
      case 'spare_ready':
        this.preparingSeq = undefined;
        if (msg.handle === undefined) {
          this.spareFailedSeq = msg.seq;
          return;
        }
        if (this.stopping || (this.current !== undefined && msg.seq <= this.current.seq)) return this.ls.disk.close(msg.handle, () => {});
        this.spare = { seq: msg.seq, path: msg.path, handle: msg.handle };
        return;
      case 'kick':
        return;
      default:
        return assertNever(msg, 'WAL message');
    }
  }

  /** Issues the next write (or rollover step) once the mailbox is drained. */
  override afterBatch(): void {
    if (this.busy || this.retrying || this.stopping) return;
    const b = this.batches[0];
    if (b === undefined) return;
    if (this.building === b) this.building = undefined;
    if (this.current !== undefined && this.current.seq !== b.file.seq) return this.closeCurrent();
    // A spare still being prepared for this file is waited for (spare_ready): a file allocated
    // in advance makes every sync into it cheaper than a plain one that grows.
    if (this.current === undefined && this.preparingSeq === b.file.seq) return;
    if (this.current === undefined) return this.openFile(b.file);
    this.writeBatch(this.current, b);
  }

  /**
   * Creates a spare for the file `seq` and fills it with zeros, off the
   * critical path: by the time of the rollover it is allocated,
   * so the syncs into it never commit file-size metadata. A spare that
   * recovery found complete is taken over instead: no zeros to write again.
   */
  private prepareSpare(seq: number): void {
    const bytes = this.ls.options.walPreallocateBytes;
    if (bytes <= 0 || this.preparingSeq !== undefined || this.stopping || seq === this.spareFailedSeq || (this.spare !== undefined && this.spare.seq >= seq)) return;
    if (this.spare !== undefined) {
      this.ls.disk.close(this.spare.handle, () => {});
      this.spare = undefined;
    }
    this.preparingSeq = seq;
    this.ls.walPreparedUpTo = Math.max(this.ls.walPreparedUpTo, seq);
    const disk = this.ls.disk;
    const found = this.ls.walSpareFound;
    this.ls.walSpareFound = undefined;
    const path = found ?? this.ls.walSparePath(seq);
    let handle: FileHandle | undefined;
    const steps: Step[] = [
      (next) =>
        disk.open(path, found === undefined ? 'write' : 'readwrite', (err, h) => {
          if (err === null) handle = h;
          next(err);
        }),
    ];
    if (found === undefined) {
      // In synced pieces: one flush of the whole file held the device for 10-20 ms,
      // and every WAL sync of the node waited behind it.
      const zeros = new Uint8Array(Math.min(bytes, backgroundSyncEveryBytes));
      steps.push(...writeInSyncedPieces(disk, () => handle as FileHandle, 0, bytes, (from, to) => zeros.subarray(0, to - from), 'datasync'));
    }
    steps.push((next) => disk.sync(handle as FileHandle, 'fsync', next));
    if (found === undefined) steps.push((next) => disk.syncDir(this.ls.walDir, next));
    const self = this.self;
    // A stopping WAL waits for its preparation (a System started next in this process would
    // prepare the same spare), which ends at its next step.
    const stopped = new DiskError('ECANCELED', 'write', path);
    const guarded = steps.map((step): Step => (next) => (this.stopping ? next(stopped) : step(next)));
    this.io.begin();
    const report = (h: FileHandle | undefined): void => {
      this.io.end();
      if (this.stopping) {
        if (h !== undefined) disk.close(h, () => {}); // complete: the next start takes it over
        return;
      }
      // A WAL writer that died meanwhile has a successor that never takes this spare over: it is nobody's.
      if (!this.system.send(self, { type: 'spare_ready', seq, path, handle: h }) && h !== undefined) disk.close(h, () => disk.unlink(path, () => {}));
    };
    runSteps(guarded, (error) => {
      if (error === null || handle === undefined) return report(error === null ? handle : undefined);
      // A failed preparation removes its spare before it reports, so that nothing of it is left
      // behind once the WAL goes on. (When spares were prepared under their file's name, a late
      // unlink took a live WAL file's name away: simulator, seed 147128.)
      const h = handle;
      disk.close(h, () => disk.unlink(path, () => report(undefined)));
    });
  }

  /** Waits for the operation in flight, then closes the file. */
  override terminate(): PromiseLike<void> {
    this.stopping = true;
    const done = new Completion();
    this.io.whenIdle(() => {
      if (this.spare !== undefined) this.ls.disk.close(this.spare.handle, () => {});
      this.spare = undefined;
      const h = this.current?.handle;
      if (this.current !== undefined) this.current.handle = undefined;
      if (h === undefined) done.resolve();
      else this.ls.disk.close(h, () => done.resolve());
    });
    return done;
  }

  // ---- encoding requests ----

  private onAppend(g: GroupState, entries: readonly LogEntry[]): void {
    if (g.deleted) return;
    for (const e of entries) {
      const size = recordBytes(e.payload.length);
      const b = this.batchFor(g, size);
      b.buf.putRecord('entry', g.gid, e.index, e.term, e.payload);
      b.file.rangeOf(g).entry(e.index, e.term);
      b.entries++;
      this.account(b, size);
      const n = g.walBatch === b ? (g.walNotice as Notice) : this.newNotice(b, g, e.index);
      if (n.to < 0 || e.index !== n.to + 1) n.from = e.index;
      n.to = e.index;
      n.term = e.term;
    }
    this.checkOverload(g);
  }

  private onCut(kind: 'truncate' | 'reset', g: GroupState, index: number, term: number): void {
    if (g.deleted) return;
    const size = recordBytes(0);
    const b = this.batchFor(g, size);
    b.buf.putRecord(kind, g.gid, index, term, undefined);
    b.file.rangeOf(g).cut(index);
    this.account(b, size);
    if (g.walBatch === b) {
      const n = g.walNotice as Notice;
      if (kind === 'reset' || index < n.from) n.to = -1;
      else if (index < n.to) {
        n.to = index;
        n.term = term;
      }
    }
    this.checkOverload(g);
  }

  private onDelete(g: GroupState, done: DiskCallback): void {
    const size = recordBytes(0);
    const b = this.batchFor(g, size);
    b.buf.putRecord('delete', g.gid, 0, 0, undefined);
    b.file.rangeOf(g).cut(0);
    this.account(b, size);
    b.deletes.push({ group: g, done });
  }

  /** A request has been encoded: it is durable with the last batch it went into. */
  private requestDone(): void {
    this.received++;
    const last = this.batches[this.batches.length - 1];
    if (last !== undefined) last.upTo = this.received;
    else this.durableUpTo(this.received);
  }

  private durableUpTo(n: number): void {
    if (n <= this.ls.walRequestsDurable) return;
    this.ls.walRequestsDurable = n;
    if (this.ls.segmentWriterWaitsForWal) {
      this.ls.segmentWriterWaitsForWal = false;
      this.ls.kickSegmentWriter();
    }
  }

  private newNotice(b: Batch, g: GroupState, index: number): Notice {
    const n: Notice = { group: g, from: index, to: -1, term: 0 };
    b.notices.push(n);
    g.walBatch = b;
    g.walNotice = n;
    return n;
  }

  /** The batch a record of `size` bytes for `g` goes into (writing g's name record first when the file lacks it). */
  private batchFor(g: GroupState, size: number): Batch {
    const nameBytes = recordBytes(g.nameBytes.length);
    let b = this.building;
    const max = this.ls.options.walBatchBytesMax;
    if (b === undefined || (b.buf.length > 0 && b.buf.length + size + nameBytes > max)) b = this.newBatch(size + nameBytes);
    if (!b.file.groups.has(g)) {
      b.buf.putRecord('group', g.gid, 0, 0, g.nameBytes);
      b.file.rangeOf(g);
      this.account(b, nameBytes);
    }
    return b;
  }

  private newBatch(need: number): Batch {
    let f = this.planned;
    const o = this.ls.options;
    // Past the mem-table budget, roll over early so that the segment writer can
    // move entries out of memory (only when it is idle and no rollover is under
    // way, or we would roll on every batch).
    const memPressure =
      this.ls.memBudget.bytes > o.memTablesBytesMax && this.ls.pendingWalFiles.length === 0 && f === this.current;
    if (f.planned > WAL_HEADER_BYTES && (f.planned + need > o.walFileBytesMax || memPressure)) {
      f = this.planned = this.ls.newWalFile(f.seq + 1);
      if (memPressure) this.ls.walStats.pressureRollovers++;
    }
    const b: Batch = { file: f, buf: this.pool.pop() ?? new WalBuffer(), notices: [], deletes: [], entries: 0, upTo: this.received };
    b.buf.reset();
    if (f.planned === 0) {
      b.buf.putFileHeader(f.seq);
      this.account(b, WAL_HEADER_BYTES);
    }
    this.batches.push(b);
    this.building = b;
    return b;
  }

  private account(b: Batch, size: number): void {
    b.file.planned += size;
    this.pendingBytes += size;
  }

  // ---- I/O ----

  private closeCurrent(): void {
    const f = this.current as WalFile;
    this.prepareSpare(f.seq + 1); // rolled over early (memory pressure) before it was half full
    const h = f.handle as FileHandle;
    const disk = this.ls.disk;
    // Each batch was synced already; with sync 'none' the file is synced once here,
    // so that only the last WAL file can ever hold a torn tail.
    const steps: Step[] = [];
    if (this.ls.options.walSyncMethod === 'none') steps.push((next) => disk.sync(h, 'datasync', next));
    // A failed close leaves nothing to retry: the data was synced; note it and go on.
    const logger = this.ls.logger;
    steps.push((next) =>
      disk.close(h, (err) => {
        if (err !== null) logger.warn('closing a WAL file failed after it was synced', { file: f.path, error: err });
        next(null);
      }),
    );
    this.start('close', steps, () => undefined);
  }

  private openFile(f: WalFile): void {
    const disk = this.ls.disk;
    const spare = this.spare;
    if (spare !== undefined && spare.seq === f.seq) {
      // Prepared in the background (created, zero-filled, synced): it takes the file's name,
      // durably, before any record goes in.
      this.spare = undefined;
      const steps: Step[] = [(next) => disk.rename(spare.path, f.path, next), (next) => disk.syncDir(this.ls.walDir, next)];
      this.start('open', steps, () => spare.handle);
      return;
    }
    let handle: FileHandle | undefined;
    const steps: Step[] = [
      (next) =>
        disk.open(f.path, 'write', (err, h) => {
          if (err === null) handle = h;
          next(err);
        }),
      (next) => disk.syncDir(this.ls.walDir, next),
    ];
    this.start('open', steps, () => handle);
  }

  private writeBatch(f: WalFile, b: Batch): void {
    const disk = this.ls.disk;
    const h = f.handle as FileHandle;
    const data = b.buf.written();
    const at = f.size;
    const steps: Step[] = [];
    if (this.needsTruncate) steps.push((next) => disk.truncate(h, at, next));
    steps.push((next) => disk.write(h, data, at, next));
    const o = this.ls.options;
    const inline = !this.syncsSlow && data.length <= o.walInlineSyncBytesMax && o.walSyncMethod !== 'none';
    if (inline) {
      // It blocks the event loop: deferred, so that what this tick queued to go out (the
      // leader's AppendEntries for these very entries) leaves first.
      const { clock } = this.system;
      const stats = this.ls.walStats;
      steps.push((next) =>
        clock.defer(() => {
          stats.inlineSyncs++; // counted when made: a failed write skips its sync
          disk.sync(h, o.walSyncMethod, next, true);
        }),
      );
    } else {
      steps.push((next) => disk.sync(h, o.walSyncMethod, next));
    }
    this.start('write', steps, () => undefined);
  }

  /** Runs steps; their end comes back as an `io_done` message. */
  private start(op: 'write' | 'close' | 'open', steps: Step[], result: () => FileHandle | undefined): void {
    this.busy = true;
    this.io.begin();
    const self = this.self;
    const clock = this.system.clock;
    const began = clock.now();
    runSteps(steps, (error) => {
      this.io.end();
      const took = clock.now() - began;
      this.ls.walStats.busyMs += took;
      if (op === 'write') {
        this.syncsSlow = took > inlineSyncSlowMs;
        this.lastWriteMs = took;
      }
      if (!this.system.send(self, { type: 'io_done', op, error, handle: result() }) && op === 'open') {
        const h = result();
        if (h !== undefined) this.ls.disk.close(h, () => {});
      }
    });
  }

  private onIoDone(op: 'write' | 'close' | 'open', error: DiskError | null, handle: FileHandle | undefined): void {
    this.busy = false;
    if (error !== null) {
      if (op === 'open' && handle !== undefined) this.ls.disk.close(handle, () => {});
      if (op === 'open') this.ls.kickSegmentWriter(); // the old file need not wait for a new one that cannot open
      if (op === 'write') this.needsTruncate = true;
      return this.failed(error);
    }
    switch (op) {
      case 'write':
        return this.batchDurable(this.batches.shift() as Batch);
      case 'close': {
        const f = this.current as WalFile;
        f.handle = undefined;
        this.current = undefined;
        this.ls.walActive = undefined;
        this.ls.pendingWalFiles.push(f);
        this.ls.walStats.rollovers++;
        return this.recovered();
      }
      case 'open': {
        const f = this.batches[0]?.file as WalFile;
        f.handle = handle;
        this.current = f;
        this.ls.walActive = f;
        // The old file is flushed into segments only now: a directory sync waits for the data
        // of files with newly allocated blocks (ext4's ordered mode), and the new file's
        // rename, synced above, waited 25-70 ms behind the segment writer's first writes.
        this.ls.kickSegmentWriter();
        return this.recovered();
      }
      default:
        return assertNever(op, 'WAL operation');
    }
  }

  /** The batch is on disk: acknowledge it. */
  private batchDurable(b: Batch): void {
    const f = this.current as WalFile;
    const bytes = b.buf.length;
    f.size += bytes;
    // The next file's spare is prepared once this one is half full: started at the rollover, its
    // zeros went to the device together with the segment writer's copy of the old file.
    if (f.size >= this.ls.options.walFileBytesMax / 2) this.prepareSpare(f.seq + 1);
    this.needsTruncate = false;
    this.pendingBytes -= bytes;
    const s = this.ls.walStats;
    s.batches++;
    s.entries += b.entries;
    s.bytes += bytes;
    if (this.ls.options.walSyncMethod !== 'none') s.syncs++;
    this.ls.walProbe?.batchDurable(this.lastWriteMs, bytes, b.entries);
    for (const n of b.notices) {
      const g = n.group;
      if (g.walBatch === b) {
        g.walBatch = undefined;
        g.walNotice = undefined;
      }
      if (n.to < 0 || g.deleted) continue;
      // A batch written before a cut comes back after it: its entries are no longer the log.
      if (n.to <= g.lastIndex && (g.mem.termAt(n.to) ?? n.term) === n.term) {
        g.walDurableIndex = n.to;
        g.walDurableTerm = n.term;
      }
      if (g.owner !== undefined) this.send(g.owner, { type: 'written', logId: g.logId, from: n.from, to: n.to, term: n.term });
    }
    for (const d of b.deletes) this.ls.segmentWriterDelete(d.group, d.done);
    this.durableUpTo(b.upTo);
    if (b.buf.bytes.length <= 2 * this.ls.options.walBatchBytesMax && this.pool.length < 2) this.pool.push(b.buf);
    this.recovered();
    if (this.overloaded && this.pendingBytes <= this.ls.options.walPendingBytesMax / 2) {
      this.overloaded = false;
      for (const g of this.told.keys()) if (g.owner !== undefined) this.send(g.owner, { type: 'wal_resumed', logId: g.logId });
      this.told.clear();
    }
  }

  private checkOverload(g: GroupState): void {
    if (!this.overloaded && this.pendingBytes > this.ls.options.walPendingBytesMax) {
      this.overloaded = true;
      this.ls.walStats.overloads++;
    }
    if (this.overloaded && g.owner !== undefined && this.told.get(g) !== g.owner) {
      this.told.set(g, g.owner);
      this.send(g.owner, { type: 'wal_overloaded', logId: g.logId });
    }
  }

  /** A disk error: stop acknowledging, tell every writer, retry later. */
  private failed(error: DiskError): void {
    if (this.down === undefined) {
      this.down = error;
      this.ls.walDown = error;
      this.ls.walStats.failures++;
      this.ls.logger.error('WAL cannot write; nothing is acknowledged until a retry succeeds', {
        error,
        errno: error.errno,
        file: this.current?.path ?? this.batches[0]?.file.path,
        retryMs: this.ls.options.walRetryMs,
      });
      this.tellWriters((logId) => ({ type: 'wal_down', logId, error }));
    }
    this.retrying = true;
    this.sendAfter(this.ls.options.walRetryMs, { type: 'retry' });
  }

  /** An operation succeeded: if the WAL was down, it is up again (after a restart, every writer hears so: its predecessor may have been down). */
  private recovered(afterRestart = false): void {
    if (this.down === undefined && !afterRestart) return;
    if (this.down !== undefined) this.ls.logger.info('WAL writes again', { after: this.down.errno });
    this.down = undefined;
    this.ls.walDown = undefined;
    this.tellWriters((logId) => ({ type: 'wal_up', logId }));
  }

  /** Sends every log's owner the notice `msg` makes for it. */
  private tellWriters(msg: (logId: string) => LogEvent): void {
    for (const g of this.ls.groups.values()) if (g.owner !== undefined) this.send(g.owner, msg(g.logId));
  }

  /**
   * After this actor restarted (a crash of the log tree), requests that were
   * queued in the dead instance are gone: write every log's mem table again,
   * preceded by a cut at its start, so that the WAL says what memory says.
   */
  private resendMemTables(): void {
    for (const g of this.ls.groups.values()) {
      if (!g.loaded || g.deleted) continue;
      // Only what lies past the log's durable prefix is written again. A copy of durable
      // entries (as this used to write, from the mem table's start) says, once replayed, that
      // the log after its first entry is what follows in the file: torn by a crash, it cut away
      // entries that were durable and acknowledged, which the older file (or the segments it
      // was flushed into meanwhile) still held (simulator, seed 7341476).
      const from = Math.max(g.mem.first - 1, Math.min(this.durablePrefix(g), g.mem.last));
      this.onCut('truncate', g, from, this.ls.termAt(g, from) ?? 0);
      if (from < g.mem.last) this.onAppend(g, g.mem.slice(from + 1, g.mem.last));
    }
  }

  /**
   * How far the log, as it is now, is durable: up to the last index the WAL
   * made durable (cuts lower it) when that entry is still in the log (same
   * term: by log matching, the same prefix), else up to what the owner
   * counts as written.
   */
  private durablePrefix(g: GroupState): number {
    const i = g.walDurableIndex;
    if (i <= g.mem.first - 1) return i;
    return i <= g.lastIndex && this.ls.termAt(g, i) === g.walDurableTerm ? i : g.writtenIndex;
  }
}
