// A Disk wrapper that learns, from the bytes the WAL writes and the syncs
// that succeed, which log entries are really durable on a node: the ground
// truth for "nothing is acknowledged before it is durable on a majority".
// It trusts nothing the log layer says; a WAL that skips fsync is caught.
import { joinPath, type Disk, type DiskCallback, type FileHandle, type OpenMode, type SyncMethod } from '../io/disk.js';
import type { SimDisk } from '../io/sim_disk.js';
import { readFileHeader, scanRecords, walFileSeq, WAL_HEADER_BYTES, type RecordKind } from '../log/wal_format.js';

/** One WAL record as the tracker keeps it. */
interface Record {
  readonly kind: RecordKind;
  readonly group: number;
  readonly index: number;
  readonly term: number;
  readonly name: string | undefined;
  /** Byte offset just past the record in its file. */
  readonly end: number;
}

interface FileTrack {
  /** Group numbers named in this file. */
  readonly gids: Map<number, string>;
  /** Records written successfully but not yet synced, in order. */
  pending: Record[];
}

const TWO_32 = 4294967296;
const decoder = new TextDecoder();

/** Parses the records of one WAL write (starting at `position` of its file). */
function parseWrite(data: Uint8Array, position: number): Record[] {
  const out: Record[] = [];
  const v = new DataView(data.buffer, data.byteOffset, data.length);
  let o = position === 0 ? WAL_HEADER_BYTES : 0;
  while (o + 32 <= data.length) {
    const body = v.getUint32(o, true);
    const kind = (['', 'entry', 'truncate', 'reset', 'group', 'delete'] as const)[v.getUint32(o + 8, true)];
    if (kind === undefined || kind === '' || o + 8 + body > data.length) break;
    const index = v.getUint32(o + 16, true) + v.getUint32(o + 20, true) * TWO_32;
    const term = v.getUint32(o + 24, true) + v.getUint32(o + 28, true) * TWO_32;
    const group = v.getUint32(o + 12, true);
    const name = kind === 'group' ? decoder.decode(data.subarray(o + 32, o + 8 + body)) : undefined;
    o += 8 + body;
    out.push({ kind, group, index, term, name, end: position + o });
  }
  return out;
}

/**
 * What a node's disk holds durably, by log: index -> term of each entry that
 * a successful real sync (not `none`) covered, minus what durable truncations,
 * resets and deletions removed.
 */
export class DurableEntries {
  private readonly logs = new Map<string, Map<number, number>>();

  /** True when entry (index, term) of `logId` is durable. */
  has(logId: string, index: number, term: number): boolean {
    return this.logs.get(logId)?.get(index) === term;
  }

  /** Applies one durable record. */
  apply(logId: string, kind: RecordKind, index: number, term: number): void {
    let log = this.logs.get(logId);
    if (log === undefined) {
      if (kind !== 'entry') return;
      log = new Map();
      this.logs.set(logId, log);
    }
    switch (kind) {
      case 'entry':
        log.set(index, term);
        return;
      case 'truncate':
      case 'reset':
        for (const i of log.keys()) if (i > index) log.delete(i);
        return;
      case 'delete':
        this.logs.delete(logId);
        return;
      case 'group':
        return;
    }
  }
}

/** A Disk over a SimDisk that tracks the durability of WAL entries. */
export class DurableDisk implements Disk {
  /** Entries known durable (survives crashes: it is what the platters hold). */
  readonly durable = new DurableEntries();
  /** WAL writes and syncs issued and not yet completed. */
  walOpsInFlight = 0;
  private readonly walDir: string;
  private readonly paths = new Map<FileHandle, string>();
  private readonly files = new Map<string, FileTrack>();
  private epoch = 0;

  constructor(
    readonly inner: SimDisk,
    dataDir: string,
  ) {
    this.walDir = joinPath(dataDir, 'wal') + '/';
  }

  /** A power loss: unsynced writes and operations in flight are gone; what survived is read back. */
  crash(torn: boolean): void {
    this.epoch++;
    this.walOpsInFlight = 0;
    this.files.clear();
    this.paths.clear();
    this.inner.crash({ torn });
    this.learnFromFiles();
  }

  /** Marks durable what the WAL files hold now (after a crash a torn write may have left synced records). */
  private learnFromFiles(): void {
    const dir = this.walDir.slice(0, -1);
    for (const name of this.inner.listSync(dir)) {
      if (walFileSeq(name) === undefined) continue;
      const bytes = this.inner.readFileSync(joinPath(dir, name));
      if (readFileHeader(bytes) === undefined) continue;
      const gids = new Map<number, string>();
      scanRecords(bytes, (kind, group, index, term, payload) => {
        if (kind === 'group') gids.set(group, decoder.decode(payload));
        const logId = gids.get(group);
        if (logId !== undefined) this.durable.apply(logId, kind, index, term);
      });
    }
  }

  private isWal(path: string | undefined): path is string {
    return path !== undefined && path.startsWith(this.walDir);
  }

  private track(path: string): FileTrack {
    let t = this.files.get(path);
    if (t === undefined) {
      t = { gids: new Map(), pending: [] };
      this.files.set(path, t);
    }
    return t;
  }

  /** Wraps a callback of a WAL operation: counted in flight, dropped if a crash came first. */
  private walOp<T>(cb: DiskCallback<T>, done: (ok: boolean) => void): DiskCallback<T> {
    const epoch = this.epoch;
    this.walOpsInFlight++;
    return (err, value) => {
      if (epoch === this.epoch) {
        this.walOpsInFlight--;
        done(err === null);
      }
      cb(err, value);
    };
  }

  private synced(path: string): void {
    const t = this.files.get(path);
    if (t === undefined) return;
    for (const r of t.pending) {
      if (r.kind === 'group' && r.name !== undefined) t.gids.set(r.group, r.name);
      const logId = t.gids.get(r.group);
      if (logId !== undefined) this.durable.apply(logId, r.kind, r.index, r.term);
    }
    t.pending = [];
  }

  private cut(path: string, size: number): void {
    const t = this.files.get(path);
    if (t !== undefined) t.pending = t.pending.filter((r) => r.end <= size);
  }

  // ---- Disk ----

  open(path: string, mode: OpenMode, cb: DiskCallback<FileHandle>): void {
    this.inner.open(path, mode, (err, h) => {
      if (err === null) this.opened(path, mode, h);
      cb(err, h);
    });
  }

  private opened(path: string, mode: OpenMode, h: FileHandle): void {
    this.paths.set(h, path);
    if (mode === 'write' && this.isWal(path)) this.files.delete(path);
  }

  write(handle: FileHandle, data: Uint8Array, position: number, cb: DiskCallback): void {
    const path = this.paths.get(handle);
    if (!this.isWal(path)) return this.inner.write(handle, data, position, cb);
    const records = parseWrite(data, position);
    this.inner.write(handle, data, position, this.walOp(cb, (ok) => {
      if (ok) this.track(path).pending.push(...records);
    }));
  }

  sync(handle: FileHandle, method: SyncMethod, cb: DiskCallback): void {
    const path = this.paths.get(handle);
    if (!this.isWal(path)) return this.inner.sync(handle, method, cb);
    this.inner.sync(handle, method, this.walOp(cb, (ok) => {
      if (!ok) this.track(path).pending = []; // a failed sync loses the dirty pages
      else if (method !== 'none') this.synced(path);
    }));
  }

  truncate(handle: FileHandle, size: number, cb: DiskCallback): void {
    const path = this.paths.get(handle);
    this.inner.truncate(handle, size, (err, v) => {
      if (err === null && this.isWal(path)) this.cut(path, size);
      cb(err, v);
    });
  }

  close(handle: FileHandle, cb: DiskCallback): void {
    this.inner.close(handle, (err, v) => {
      this.paths.delete(handle);
      cb(err, v);
    });
  }

  rename(from: string, to: string, cb: DiskCallback): void {
    // A WAL spare takes its file's name: what is tracked under the old name (and the handles
    // open on it) follows, or the next spare, created under the old name, would wipe it.
    const epoch = this.epoch;
    this.inner.rename(from, to, (err, value) => {
      if (err === null && epoch === this.epoch && this.isWal(from)) {
        const t = this.files.get(from);
        this.files.delete(from);
        if (t !== undefined) this.files.set(to, t);
        for (const [h, p] of this.paths) if (p === from) this.paths.set(h, to);
      }
      cb(err, value);
    });
  }

  unlink(path: string, cb: DiskCallback): void {
    this.inner.unlink(path, cb);
  }

  rmdir(path: string, cb: DiskCallback): void {
    this.inner.rmdir(path, cb);
  }

  syncDir(dir: string, cb: DiskCallback): void {
    this.inner.syncDir(dir, cb);
  }

  mkdir(path: string, cb: DiskCallback): void {
    this.inner.mkdir(path, cb);
  }

  openSync(path: string, mode: OpenMode): FileHandle {
    const h = this.inner.openSync(path, mode);
    this.opened(path, mode, h);
    return h;
  }

  closeSync(handle: FileHandle): void {
    this.paths.delete(handle);
    this.inner.closeSync(handle);
  }

  readSync(handle: FileHandle, into: Uint8Array, position: number): number {
    return this.inner.readSync(handle, into, position);
  }

  sizeSync(handle: FileHandle): number {
    return this.inner.sizeSync(handle);
  }

  truncateSync(handle: FileHandle, size: number): void {
    this.inner.truncateSync(handle, size);
    const path = this.paths.get(handle);
    if (this.isWal(path)) this.cut(path, size);
  }

  syncSync(handle: FileHandle, method: SyncMethod): void {
    this.inner.syncSync(handle, method);
    const path = this.paths.get(handle);
    if (this.isWal(path) && method !== 'none') this.synced(path);
  }

  syncDirSync(dir: string): void {
    this.inner.syncDirSync(dir);
  }

  unlinkSync(path: string): void {
    this.inner.unlinkSync(path);
  }

  readFileSync(path: string): Uint8Array {
    return this.inner.readFileSync(path);
  }

  listSync(dir: string): string[] {
    return this.inner.listSync(dir);
  }

  mkdirpSync(dir: string): void {
    this.inner.mkdirpSync(dir);
  }

  existsSync(path: string): boolean {
    return this.inner.existsSync(path);
  }
}
