// Snapshots of one log: written to a temporary file, synced, renamed into
// place and the directory synced; read whole or in chunks; older ones deleted
// once a newer one is durable. Every callback runs from a disk callback: an
// actor using the store should turn it into a message to itself.
import { assert } from '../lib/assert.js';
import { ConcordError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { crc32c, crc32cUpdate } from '../lib/crc32c.js';
import { completeSteps } from '../lib/steps.js';
import { DiskError, joinPath, parentDir, type Disk, type DiskCallback, type FileHandle, type SyncMethod } from '../io/disk.js';
import { backgroundSyncEveryBytes, runSteps, type Step } from './io_chain.js';

/** What identifies a snapshot: the last index and term it covers, plus the Raft layer's metadata (e.g. the cluster configuration). */
export interface SnapshotMeta {
  index: number;
  term: number;
  meta: Uint8Array;
}

/** A stored snapshot: its meta and the size of its data in bytes. */
export interface SnapshotInfo extends SnapshotMeta {
  size: number;
}

/**
 * File layout: header (u32 magic 'CSNP', u32 CRC32C of the rest of the header
 * and the meta, u32 version, u32 meta length, u64 index, u64 term), meta, data,
 * trailer (u64 data length, u32 CRC32C of the data, u32 magic 'CSNE').
 */
const HEADER_BYTES = 32;
const TRAILER_BYTES = 16;
const MAGIC = 0x504e5343; // 'CSNP'
const END_MAGIC = 0x454e5343; // 'CSNE'
const VERSION = 1;
const TWO_32 = 4294967296;
const VERIFY_READ_BYTES = 1 << 20;
/** Bytes read and checked per step of readSteps (well under a millisecond of work here). */
const READ_STEP_BYTES = 64 * 1024;

interface Located extends SnapshotInfo {
  path: string;
  dataOffset: number;
}

/** Name of the snapshot file at (index, term). */
export function snapshotFileName(index: number, term: number): string {
  return `${String(index).padStart(20, '0')}_${term}.snap`;
}

function parseName(name: string): { index: number; tmp: boolean } | undefined {
  const m = /^(\d{20})_(\d+)\.(snap|tmp)$/.exec(name);
  return m === null ? undefined : { index: Number(m[1]), tmp: m[3] === 'tmp' };
}

/** The snapshots of one log, in its directory. Not an actor: owned by the log's Raft server. */
export class SnapshotStore {
  private located: Located | null | undefined = undefined;
  private readonly verified = new Set<string>();
  private readonly readHandles = new Map<string, FileHandle>();
  /** Data CRC of each file whose trailer has been read. */
  private readonly crcs = new Map<string, number>();
  private cleaned = false;
  /** @internal The directories above this one have been synced by a finished write (once per store). */
  parentsSynced = false;

  constructor(
    private readonly disk: Disk,
    /** Directory holding the snapshot files. */
    readonly dir: string,
    private readonly logger: Logger,
    private readonly syncMethod: SyncMethod,
  ) {}

  /** The newest durable snapshot, if any (read from disk once, then kept current). */
  latest(): SnapshotInfo | undefined {
    const l = this.locateLatest();
    return l === null ? undefined : { index: l.index, term: l.term, meta: l.meta, size: l.size };
  }

  /** Saves a whole snapshot durably; `cb` runs once it is the latest (or with the error). */
  save(meta: SnapshotMeta, data: Uint8Array, cb: DiskCallback): void {
    const w = this.beginWrite(meta);
    w.writeChunk(data, (err) => {
      if (err !== null) {
        w.abort();
        return cb(err, undefined);
      }
      w.finish(cb);
    });
  }

  /**
   * Starts writing a snapshot in chunks; nothing is visible until `finish`
   * completes. The directories are made by the first write, asynchronously:
   * made here with a directory sync each, on the event loop, they held up
   * every group of the node, and groups under an even load take their first
   * snapshots at about the same time.
   */
  beginWrite(meta: SnapshotMeta): SnapshotWriter {
    this.cleanTemporaries();
    const tmp = joinPath(this.dir, snapshotFileName(meta.index, meta.term).replace(/\.snap$/, '.tmp'));
    const missing = this.disk.existsSync(this.dir) ? [] : [parentDir(this.dir), this.dir].filter((d) => !this.disk.existsSync(d));
    return new SnapshotWriter(this, this.disk, meta, tmp, missing, this.syncMethod);
  }

  /** The whole data of the snapshot at `index`, checked against its CRC. */
  read(index: number): Uint8Array {
    return completeSteps(this.readSteps(index));
  }

  /**
   * The whole data of the snapshot at `index`, read and checked against its
   * CRC a piece of `stepBytes` per step; returns it after the last.
   */
  *readSteps(index: number, stepBytes = READ_STEP_BYTES): Generator<void, Uint8Array, undefined> {
    const l = this.locate(index);
    const data = new Uint8Array(l.size);
    let crc = 0;
    for (let off = 0; off < l.size; off += stepBytes) {
      if (off > 0) yield;
      const piece = data.subarray(off, Math.min(l.size, off + stepBytes));
      if (this.disk.readSync(this.handleFor(l.path), piece, l.dataOffset + off) < piece.length) {
        throw new ConcordError('corrupt', `snapshot ${l.path} is shorter than its header says`);
      }
      crc = crc32cUpdate(crc, piece);
    }
    if (crc !== this.dataCrc(l)) throw new ConcordError('corrupt', `snapshot ${l.path} fails its checksum`);
    this.verified.add(l.path);
    return data;
  }

  /** `length` bytes of the snapshot's data from `offset` (fewer at the end). The whole file is checked once first. */
  readChunk(index: number, offset: number, length: number): Uint8Array {
    const l = this.locate(index);
    if (!this.verified.has(l.path)) this.verify(l);
    const n = Math.max(0, Math.min(length, l.size - offset));
    const out = new Uint8Array(n);
    if (n > 0 && this.disk.readSync(this.handleFor(l.path), out, l.dataOffset + offset) < n) {
      throw new ConcordError('corrupt', `snapshot ${l.path} is shorter than its header says`);
    }
    return out;
  }

  /** Closes read handles (the store stays usable). */
  close(): void {
    for (const h of this.readHandles.values()) this.disk.closeSync(h);
    this.readHandles.clear();
  }

  /** @internal Called by a writer once its file is renamed into place and the directory synced. */
  installed(meta: SnapshotMeta, path: string, size: number, dataCrc: number, cb: DiskCallback): void {
    const previous = this.locateLatest();
    if (previous === null || previous.index <= meta.index) {
      this.located = { ...meta, size, path, dataOffset: HEADER_BYTES + meta.meta.length };
      this.verified.add(path);
      this.crcs.set(path, dataCrc);
    }
    const older = this.disk
      .listSync(this.dir)
      .filter((n) => {
        const p = parseName(n);
        return p !== undefined && !p.tmp && p.index < meta.index;
      })
      .map((n) => joinPath(this.dir, n));
    const next = (): void => {
      const path = older.shift();
      if (path === undefined) return cb(null, undefined);
      this.dropHandle(path);
      this.disk.unlink(path, (err) => {
        if (err !== null) this.logger.warn('could not delete an old snapshot', { file: path, error: err });
        next();
      });
    };
    next();
  }

  private dataCrc(l: Located): number {
    let crc = this.crcs.get(l.path);
    if (crc === undefined) {
      const t = new Uint8Array(TRAILER_BYTES);
      this.disk.readSync(this.handleFor(l.path), t, l.dataOffset + l.size);
      crc = new DataView(t.buffer).getUint32(8, true);
      this.crcs.set(l.path, crc);
    }
    return crc;
  }

  private verify(l: Located): void {
    const buf = new Uint8Array(Math.min(VERIFY_READ_BYTES, Math.max(1, l.size)));
    let crc = 0;
    for (let off = 0; off < l.size; off += buf.length) {
      const want = Math.min(buf.length, l.size - off);
      const n = this.disk.readSync(this.handleFor(l.path), buf.subarray(0, want), l.dataOffset + off);
      if (n < want) throw new ConcordError('corrupt', `snapshot ${l.path} is shorter than its header says`);
      crc = crc32cUpdate(crc, buf, 0, want);
    }
    if (crc !== this.dataCrc(l)) throw new ConcordError('corrupt', `snapshot ${l.path} fails its checksum`);
    this.verified.add(l.path);
  }

  private handleFor(path: string): FileHandle {
    let h = this.readHandles.get(path);
    if (h === undefined) {
      h = this.disk.openSync(path, 'read');
      this.readHandles.set(path, h);
    }
    return h;
  }

  private dropHandle(path: string): void {
    const h = this.readHandles.get(path);
    if (h === undefined) return;
    this.readHandles.delete(path);
    this.disk.closeSync(h);
  }

  private locate(index: number): Located {
    const l = this.locateLatest();
    if (l !== null && l.index === index) return l;
    const name = this.disk.listSync(this.dir).find((n) => {
      const p = parseName(n);
      return p !== undefined && !p.tmp && p.index === index;
    });
    if (name === undefined) throw new ConcordError('invalid_argument', `no snapshot at index ${index} in ${this.dir}`);
    return this.parseFile(joinPath(this.dir, name));
  }

  private locateLatest(): Located | null {
    if (this.located !== undefined) return this.located;
    this.cleanTemporaries();
    let best: string | undefined;
    let bestIndex = -1;
    for (const n of this.disk.listSync(this.dir)) {
      const p = parseName(n);
      if (p !== undefined && !p.tmp && p.index > bestIndex) {
        best = n;
        bestIndex = p.index;
      }
    }
    this.located = best === undefined ? null : this.parseFile(joinPath(this.dir, best));
    return this.located;
  }

  /** Reads and checks a snapshot file's header and trailer. */
  private parseFile(path: string): Located {
    const h = this.handleFor(path);
    const size = this.disk.sizeSync(h);
    const head = new Uint8Array(HEADER_BYTES);
    const bad = (why: string): ConcordError => new ConcordError('corrupt', `snapshot ${path}: ${why}`);
    if (this.disk.readSync(h, head, 0) < HEADER_BYTES) throw bad('truncated header');
    const v = new DataView(head.buffer);
    if (v.getUint32(0, true) !== MAGIC || v.getUint32(8, true) !== VERSION) throw bad('bad header');
    const metaLen = v.getUint32(12, true);
    if (HEADER_BYTES + metaLen + TRAILER_BYTES > size) throw bad('truncated meta');
    const all = new Uint8Array(HEADER_BYTES + metaLen);
    this.disk.readSync(h, all, 0);
    if (crc32c(all, 8) !== v.getUint32(4, true)) throw bad('header fails its checksum at offset 0');
    const tail = new Uint8Array(TRAILER_BYTES);
    this.disk.readSync(h, tail, size - TRAILER_BYTES);
    const t = new DataView(tail.buffer);
    const dataLen = t.getUint32(0, true) + t.getUint32(4, true) * TWO_32;
    if (t.getUint32(12, true) !== END_MAGIC || HEADER_BYTES + metaLen + dataLen + TRAILER_BYTES !== size) {
      throw bad(`bad trailer at offset ${size - TRAILER_BYTES}`);
    }
    this.crcs.set(path, t.getUint32(8, true));
    const index = v.getUint32(16, true) + v.getUint32(20, true) * TWO_32;
    const term = v.getUint32(24, true) + v.getUint32(28, true) * TWO_32;
    return { index, term, meta: all.slice(HEADER_BYTES), size: dataLen, path, dataOffset: HEADER_BYTES + metaLen };
  }

  /** Removes temporary files a crashed writer left behind (once per store). */
  private cleanTemporaries(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    let removed = false;
    for (const n of this.disk.listSync(this.dir)) {
      if (parseName(n)?.tmp === true) {
        this.disk.unlinkSync(joinPath(this.dir, n));
        removed = true;
      }
    }
    if (removed) this.disk.syncDirSync(this.dir);
  }
}

/** A snapshot being written in chunks. One operation at a time; `abort` throws the file away. */
export class SnapshotWriter {
  private offset = 0;
  /** Open once the first chunk's directories are made and the file created. */
  private handle: FileHandle | undefined;
  /** The header goes out with the first chunk. */
  private pendingHeader: Uint8Array | undefined;
  private crc = 0;
  private dataBytes = 0;
  private busy = false;
  private closed = false;
  /** Abandoned: the file goes once no operation is in flight on its handle. */
  private aborted = false;
  /** Bytes written since the file was last synced. */
  private unsynced = 0;

  /** @internal */
  constructor(
    private readonly store: SnapshotStore,
    private readonly disk: Disk,
    readonly meta: SnapshotMeta,
    private readonly tmpPath: string,
    /** Directories to make (parent first) before the file. */
    private readonly missingDirs: readonly string[],
    private readonly syncMethod: SyncMethod,
  ) {
    this.pendingHeader = encodeHeader(meta);
  }

  /** Appends `bytes` to the snapshot's data. */
  writeChunk(bytes: Uint8Array, cb: DiskCallback): void {
    this.begin();
    let data = bytes;
    if (this.pendingHeader !== undefined) {
      data = new Uint8Array(this.pendingHeader.length + bytes.length);
      data.set(this.pendingHeader);
      data.set(bytes, this.pendingHeader.length);
      this.pendingHeader = undefined;
    }
    this.crc = crc32cUpdate(this.crc, bytes);
    this.dataBytes += bytes.length;
    const at = this.offset;
    this.offset += data.length;
    const write = (h: FileHandle): void => runSteps(this.writeSteps(h, data, at), (err) => this.end(cb, err));
    if (this.handle !== undefined) return write(this.handle);
    const steps: Step[] = this.missingDirs.map((dir) => (next) => this.disk.mkdir(dir, next));
    steps.push((next) =>
      this.disk.open(this.tmpPath, 'write', (err, h) => {
        if (err !== null) return next(err);
        if (!this.aborted) {
          this.handle = h;
          return next(null);
        }
        // Aborted while the file was being created: throw it away here.
        this.disk.close(h, () => this.disk.unlink(this.tmpPath, () => next(new DiskError('ECANCELED', 'open', this.tmpPath))));
      }),
    );
    runSteps(steps, (err) => (err === null ? write(this.handle as FileHandle) : this.end(cb, err)));
  }

  /**
   * Steps writing `data` at `at` as background writes, with a sync each time
   * backgroundSyncEveryBytes have gone in since the last: a snapshot is tens
   * of megabytes, and left unsynced until the end they were all flushed by
   * the next WAL sync on the same device (ext4 commits them together), which
   * every command waits for (p99 of commands at 1,000 a second: 34-42 ms).
   */
  private writeSteps(h: FileHandle, data: Uint8Array, at: number): Step[] {
    const steps: Step[] = [];
    for (let from = 0; from < data.length; ) {
      const to = Math.min(data.length, from + backgroundSyncEveryBytes - this.unsynced);
      const piece = data.subarray(from, to);
      const position = at + from;
      steps.push((next) => this.disk.write(h, piece, position, next, true));
      this.unsynced += to - from;
      if (this.unsynced >= backgroundSyncEveryBytes) {
        this.unsynced = 0;
        if (this.syncMethod !== 'none') steps.push((next) => this.disk.sync(h, 'datasync', next));
      }
      from = to;
    }
    return steps;
  }

  /** Writes the trailer, syncs, renames into place, syncs the directory, then deletes older snapshots. */
  finish(cb: DiskCallback): void {
    if (this.pendingHeader !== undefined) {
      this.writeChunk(new Uint8Array(0), (err) => (err === null ? this.finish(cb) : cb(err, undefined)));
      return;
    }
    this.begin();
    const trailer = new Uint8Array(TRAILER_BYTES);
    const t = new DataView(trailer.buffer);
    t.setUint32(0, this.dataBytes >>> 0, true);
    t.setUint32(4, Math.floor(this.dataBytes / TWO_32), true);
    t.setUint32(8, this.crc, true);
    t.setUint32(12, END_MAGIC, true);
    const finalPath = this.tmpPath.replace(/\.tmp$/, '.snap');
    const size = this.dataBytes;
    const crc = this.crc;
    const fail = (err: DiskError): void => this.end(cb, err);
    const handle = this.handle as FileHandle;
    // The directories above are synced too, once per store: this one (or its parent) may be
    // new, made by the first write or by the segment writer, and not yet synced into its parent.
    const dirs = [this.store.dir];
    if (!this.store.parentsSynced) dirs.push(parentDir(this.store.dir), parentDir(parentDir(this.store.dir)));
    this.disk.write(handle, trailer, this.offset, (e1) => {
      if (e1 !== null || this.aborted) return fail(e1 ?? this.cancelled());
      this.disk.sync(handle, this.syncMethod === 'none' ? 'none' : 'fsync', (e2) => {
        if (e2 !== null || this.aborted) return fail(e2 ?? this.cancelled());
        this.closed = true;
        this.disk.close(handle, () => {
          this.disk.rename(this.tmpPath, finalPath, (e3) => {
            if (e3 !== null) return fail(e3);
            runSteps(
              dirs.map((dir) => (next) => this.disk.syncDir(dir, next)),
              (e4) => {
                if (e4 !== null) return fail(e4);
                this.store.parentsSynced = true;
                this.store.installed(this.meta, finalPath, size, crc, (e5) => this.end(cb, e5));
              },
            );
          });
        });
      });
    });
  }

  /**
   * Abandons the snapshot: closes and removes the temporary file (best
   * effort), once the operation in flight, if any, has ended (its callback
   * gets ECANCELED if it would have gone on). Closed under an operation in
   * flight, the handle failed that operation's next step (EBADF), and on a
   * real disk its number could have been reused by another file meanwhile.
   */
  abort(): void {
    if (this.closed || this.aborted) return;
    this.aborted = true;
    if (!this.busy) this.discard();
  }

  /** What an operation of an abandoned writer ends with. */
  private cancelled(): DiskError {
    return new DiskError('ECANCELED', 'write', this.tmpPath);
  }

  private discard(): void {
    this.closed = true;
    const h = this.handle;
    this.handle = undefined;
    if (h !== undefined) this.disk.close(h, () => this.disk.unlink(this.tmpPath, () => {}));
  }

  private begin(): void {
    assert(!this.busy, 'a snapshot writer runs one operation at a time');
    assert(!this.closed && !this.aborted, 'snapshot writer already finished or aborted');
    this.busy = true;
  }

  private end(cb: DiskCallback, err: DiskError | null): void {
    this.busy = false;
    if (this.aborted && !this.closed) {
      this.discard();
      return cb(err ?? this.cancelled(), undefined);
    }
    cb(err, undefined);
  }
}

function encodeHeader(meta: SnapshotMeta): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + meta.meta.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint32(8, VERSION, true);
  v.setUint32(12, meta.meta.length, true);
  v.setUint32(16, meta.index >>> 0, true);
  v.setUint32(20, Math.floor(meta.index / TWO_32), true);
  v.setUint32(24, meta.term >>> 0, true);
  v.setUint32(28, Math.floor(meta.term / TWO_32), true);
  out.set(meta.meta, HEADER_BYTES);
  v.setUint32(4, crc32c(out, 8), true);
  return out;
}
