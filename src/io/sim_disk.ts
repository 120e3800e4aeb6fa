// A simulated disk for deterministic tests: in-memory files that keep what was
// written apart from what was made durable (data and directory entries alike),
// seeded latencies through the Clock, crashes, torn writes and injected faults.
import { assert } from '../lib/assert.js';
import type { Clock } from './clock.js';
import type { Random } from './random.js';
import { DiskError, parentDir, type Disk, type DiskCallback, type DiskOp, type FileHandle, type OpenMode, type SyncMethod } from './disk.js';

/** Errors SimDisk can inject. */
export type SimFaultCode = 'ENOSPC' | 'EIO';

/** Latencies of a SimDisk, in milliseconds of (simulated) clock time. */
export interface SimDiskOptions {
  /** Latency range of every asynchronous operation except syncs (default [0.02, 0.1]). */
  latencyMs?: readonly [number, number];
  /** Latency range of `sync` and `syncDir` (default [0.1, 0.4]). */
  syncLatencyMs?: readonly [number, number];
  /** Multiplies sync latencies: a slow disk (default 1). */
  slowSyncFactor?: number;
}

/** Counters a SimDisk keeps (tests and benchmarks read them). */
export interface SimDiskStats {
  opens: number;
  writes: number;
  bytesWritten: number;
  /** Successful `sync` calls with a method other than `none`. */
  syncs: number;
  syncDirs: number;
  crashes: number;
  faults: number;
}

class Inode {
  /** What a reader sees (the page cache). */
  data = new Uint8Array(0);
  size = 0;
  /** What survives a crash. */
  durable = new Uint8Array(0);
  durableSize = 0;
  /** Byte range changed since the last successful sync. */
  dirtyLo = Infinity;
  dirtyHi = 0;
  /** The last write since the last sync: what a torn crash keeps a prefix of. */
  lastWrite: { position: number; bytes: Uint8Array } | undefined;
  constructor(readonly kind: 'file' | 'dir') {}

  clone(): Inode {
    const c = new Inode(this.kind);
    c.data = this.data.slice();
    c.size = this.size;
    c.durable = this.durable.slice();
    c.durableSize = this.durableSize;
    c.dirtyLo = this.dirtyLo;
    c.dirtyHi = this.dirtyHi;
    c.lastWrite = this.lastWrite === undefined ? undefined : { position: this.lastWrite.position, bytes: this.lastWrite.bytes };
    return c;
  }

  ensure(size: number): void {
    if (size <= this.data.length) return;
    const next = new Uint8Array(Math.max(size, this.data.length * 2, 256));
    next.set(this.data.subarray(0, this.size));
    this.data = next;
  }

  writeAt(bytes: Uint8Array, position: number): void {
    this.ensure(position + bytes.length);
    if (position > this.size) this.data.fill(0, this.size, position);
    this.data.set(bytes, position);
    this.markDirty(Math.min(position, this.size), position + bytes.length);
    this.size = Math.max(this.size, position + bytes.length);
    this.lastWrite = { position, bytes: bytes.slice() };
  }

  setSize(size: number): void {
    if (size > this.size) {
      this.ensure(size);
      this.data.fill(0, this.size, size);
    }
    this.markDirty(Math.min(size, this.size), Math.max(size, this.size));
    this.size = size;
  }

  markDirty(lo: number, hi: number): void {
    this.dirtyLo = Math.min(this.dirtyLo, lo);
    this.dirtyHi = Math.max(this.dirtyHi, hi);
  }

  /** Copies the dirty range into the durable image. */
  sync(): void {
    if (this.durable.length < this.size) {
      const next = new Uint8Array(Math.max(this.size, this.durable.length * 2));
      next.set(this.durable.subarray(0, this.durableSize));
      this.durable = next;
    }
    const hi = Math.min(this.dirtyHi, this.size);
    if (this.dirtyLo < hi) this.durable.set(this.data.subarray(this.dirtyLo, hi), this.dirtyLo);
    // Bytes between the old durable end and the dirty range were zero-filled by an extension.
    if (this.durableSize < this.dirtyLo && this.durableSize < this.size) this.durable.fill(0, this.durableSize, Math.min(this.dirtyLo, this.size));
    this.durableSize = this.size;
    this.clean();
  }

  /** A failed sync: the kernel forgets the dirty pages without writing them (as Linux does after EIO). */
  loseDirty(): void {
    this.clean();
  }

  clean(): void {
    this.dirtyLo = Infinity;
    this.dirtyHi = 0;
    this.lastWrite = undefined;
  }

  /** After a crash: the durable image, plus (torn) a prefix of the last unsynced write. */
  restart(random: Random, torn: boolean): void {
    const last = this.lastWrite;
    this.data = this.durable.slice(0, Math.max(this.durableSize, 256));
    this.size = this.durableSize;
    this.clean();
    if (torn && last !== undefined) {
      const keep = random.int(last.bytes.length + 1);
      if (keep > 0) {
        this.writeAt(last.bytes.subarray(0, keep), last.position);
        this.sync();
      }
    }
  }
}

interface OpenFile {
  inode: Inode;
  path: string;
  mode: OpenMode;
}

interface Fault {
  code: SimFaultCode;
  remaining: number;
  /** Only operations on paths starting with this (all when undefined). */
  path: string | undefined;
}

/**
 * An in-memory Disk for simulation. Asynchronous operations take effect when
 * they complete, after a seeded latency on the Clock; a crash drops every
 * operation still in flight, every write not yet synced (or, torn, keeps a
 * random-length prefix of each file's last unsynced write) and every directory
 * entry change not yet made durable with `syncDir`. Directories made by
 * `mkdirpSync` are durable at once, like RealDisk's.
 */
export class SimDisk implements Disk {
  readonly stats: SimDiskStats = { opens: 0, writes: 0, bytesWritten: 0, syncs: 0, syncDirs: 0, crashes: 0, faults: 0 };
  private names = new Map<string, Inode>();
  private durableNames = new Map<string, Inode>();
  private handles = new Map<FileHandle, OpenFile>();
  private nextHandle = 3;
  private epoch = 0;
  private readonly faults = new Map<DiskOp, Fault[]>();
  private latencyMs: readonly [number, number];
  private syncLatencyMs: readonly [number, number];
  private slowSyncFactor: number;

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    options: SimDiskOptions = {},
  ) {
    this.latencyMs = options.latencyMs ?? [0.02, 0.1];
    this.syncLatencyMs = options.syncLatencyMs ?? [0.1, 0.4];
    this.slowSyncFactor = options.slowSyncFactor ?? 1;
    const root = new Inode('dir');
    this.names.set('/', root);
    this.durableNames.set('/', root);
  }

  // ---- fault injection and crashes ----

  /** The next `count` operations of kind `op` (on paths under `path`, when given) fail with `code`. */
  failNext(op: DiskOp, code: SimFaultCode, count = 1, path?: string): void {
    this.faultList(op).push({ code, remaining: count, path });
  }

  /** Every operation of kind `op` (on paths under `path`, when given) fails with `code` until clearFaults. */
  failAlways(op: DiskOp, code: SimFaultCode, path?: string): void {
    this.faultList(op).push({ code, remaining: Infinity, path });
  }

  /** Removes every injected fault, or only those given for `path`. */
  clearFaults(path?: string): void {
    if (path === undefined) return this.faults.clear();
    for (const list of this.faults.values()) {
      for (let i = list.length - 1; i >= 0; i--) if (list[i]?.path === path) list.splice(i, 1);
    }
  }

  /** Multiplies sync latencies from now on (1 = normal). */
  setSlowSyncFactor(factor: number): void {
    this.slowSyncFactor = factor;
  }

  /**
   * Simulates a power loss and restart: operations in flight never complete,
   * every handle becomes invalid, and files and names revert to their durable
   * state (with `torn`, each file keeps a random-length prefix of its last
   * unsynced write). The disk then serves the restarted process.
   */
  crash(options: { torn?: boolean } = {}): void {
    this.epoch++;
    this.stats.crashes++;
    this.handles.clear();
    // A name whose directory is gone went with it (rmdir needs an empty directory).
    for (const p of [...this.durableNames.keys()].sort()) {
      if (p !== '/' && !this.durableNames.has(parentDir(p) === '' ? '/' : parentDir(p))) this.durableNames.delete(p);
    }
    this.names = new Map(this.durableNames);
    const seen = new Set<Inode>();
    for (const inode of this.names.values()) {
      if (seen.has(inode) || inode.kind !== 'file') continue;
      seen.add(inode);
      inode.restart(this.random, options.torn === true);
    }
  }

  /**
   * A copy of this disk's current state (written and durable, no handles, no
   * operation in flight) driven by another clock: crash the copy to see what a
   * restart at this instant would find, while the original runs on.
   */
  fork(clock: Clock, random: Random, options: SimDiskOptions = {}): SimDisk {
    const copy = new SimDisk(clock, random, {
      latencyMs: options.latencyMs ?? this.latencyMs,
      syncLatencyMs: options.syncLatencyMs ?? this.syncLatencyMs,
      slowSyncFactor: options.slowSyncFactor ?? this.slowSyncFactor,
    });
    const clones = new Map<Inode, Inode>();
    const cloneOf = (inode: Inode): Inode => {
      let c = clones.get(inode);
      if (c === undefined) {
        c = inode.clone();
        clones.set(inode, c);
      }
      return c;
    };
    copy.names = new Map([...this.names].map(([p, i]) => [p, cloneOf(i)]));
    copy.durableNames = new Map([...this.durableNames].map(([p, i]) => [p, cloneOf(i)]));
    return copy;
  }

  /** Flips bits of a byte in both the written and the durable image (corruption tests). */
  corrupt(path: string, offset: number, xor = 0xff): void {
    const inode = this.names.get(path);
    assert(inode !== undefined && inode.kind === 'file', `no file ${path}`);
    assert(offset < inode.size, 'offset past the end of the file');
    inode.data[offset] = (inode.data[offset] as number) ^ xor;
    if (offset < inode.durableSize) inode.durable[offset] = (inode.durable[offset] as number) ^ xor;
  }

  /** The bytes a reader sees in `path` now (tests). */
  contents(path: string): Uint8Array {
    const inode = this.names.get(path);
    assert(inode !== undefined && inode.kind === 'file', `no file ${path}`);
    return inode.data.slice(0, inode.size);
  }

  /** Every file path, sorted (tests). */
  paths(): string[] {
    return [...this.names].filter(([, i]) => i.kind === 'file').map(([p]) => p).sort();
  }

  // ---- asynchronous operations ----

  /** Opens (and maybe creates) a file once the latency has passed. */
  open(path: string, mode: OpenMode, cb: DiskCallback<FileHandle>): void {
    this.later('open', path, false, (fail) => {
      if (fail !== undefined) return cb(fail, -1);
      try {
        cb(null, this.openNow(path, mode));
      } catch (e) {
        cb(e as DiskError, -1);
      }
    });
  }

  /** Writes `data` at `position`; a failed write may leave a prefix behind, as a real one can. */
  write(handle: FileHandle, data: Uint8Array, position: number, cb: DiskCallback): void {
    const bytes = data.slice();
    const file = this.handles.get(handle);
    this.later('write', file?.path ?? `handle ${handle}`, false, (fail) => {
      const f = this.fileOf(handle, 'write');
      if (f instanceof DiskError) return cb(f, undefined);
      if (f.mode === 'read') return cb(new DiskError('EBADF', 'write', f.path), undefined);
      if (fail !== undefined) {
        const keep = this.random.int(bytes.length + 1);
        if (keep > 0) f.inode.writeAt(bytes.subarray(0, keep), position);
        return cb(fail, undefined);
      }
      f.inode.writeAt(bytes, position);
      this.stats.writes++;
      this.stats.bytesWritten += bytes.length;
      cb(null, undefined);
    });
  }

  /** Makes the file durable; a failed sync loses the dirty pages (fsyncgate). */
  sync(handle: FileHandle, method: SyncMethod, cb: DiskCallback): void {
    const file = this.handles.get(handle);
    this.later('sync', file?.path ?? `handle ${handle}`, method !== 'none', (fail) => {
      const f = this.fileOf(handle, 'sync');
      if (f instanceof DiskError) return cb(f, undefined);
      if (method === 'none') return cb(null, undefined);
      if (fail !== undefined) {
        f.inode.loseDirty();
        return cb(fail, undefined);
      }
      f.inode.sync();
      this.stats.syncs++;
      cb(null, undefined);
    });
  }

  /** Sets the file size. */
  truncate(handle: FileHandle, size: number, cb: DiskCallback): void {
    const file = this.handles.get(handle);
    this.later('truncate', file?.path ?? `handle ${handle}`, false, (fail) => {
      const f = this.fileOf(handle, 'truncate');
      if (f instanceof DiskError) return cb(f, undefined);
      if (fail !== undefined) return cb(fail, undefined);
      f.inode.setSize(size);
      cb(null, undefined);
    });
  }

  /** Closes a handle. */
  close(handle: FileHandle, cb: DiskCallback): void {
    const file = this.handles.get(handle);
    this.later('close', file?.path ?? `handle ${handle}`, false, (fail) => {
      const f = this.fileOf(handle, 'close');
      if (f instanceof DiskError) return cb(f, undefined);
      this.handles.delete(handle);
      cb(fail ?? null, undefined);
    });
  }

  /** Renames a file; durable once both parents have been synced. */
  rename(from: string, to: string, cb: DiskCallback): void {
    this.later('rename', from, false, (fail) => {
      if (fail !== undefined) return cb(fail, undefined);
      const inode = this.names.get(from);
      if (inode === undefined) return cb(new DiskError('ENOENT', 'rename', from), undefined);
      if (!this.isDir(parentDir(to))) return cb(new DiskError('ENOENT', 'rename', to), undefined);
      this.names.delete(from);
      this.names.set(to, inode);
      cb(null, undefined);
    });
  }

  /** Removes a name; durable once the parent has been synced. */
  unlink(path: string, cb: DiskCallback): void {
    this.later('unlink', path, false, (fail) => {
      if (fail !== undefined) return cb(fail, undefined);
      try {
        this.unlinkNow(path);
        cb(null, undefined);
      } catch (e) {
        cb(e as DiskError, undefined);
      }
    });
  }

  /** Removes an empty directory; durable once its parent has been synced. */
  rmdir(path: string, cb: DiskCallback): void {
    this.later('rmdir', path, false, (fail) => {
      if (fail !== undefined) return cb(fail, undefined);
      const inode = this.names.get(path);
      if (inode === undefined) return cb(new DiskError('ENOENT', 'rmdir', path), undefined);
      if (inode.kind !== 'dir') return cb(new DiskError('ENOTDIR', 'rmdir', path), undefined);
      if (this.listNow(path).length > 0) return cb(new DiskError('ENOTEMPTY', 'rmdir', path), undefined);
      this.names.delete(path);
      cb(null, undefined);
    });
  }

  /** Creates a directory; durable once its parent has been synced. */
  mkdir(path: string, cb: DiskCallback): void {
    this.later('mkdir', path, false, (fail) => {
      if (fail !== undefined) return cb(fail, undefined);
      if (this.isDir(path)) return cb(null, undefined);
      if (this.names.has(path)) return cb(new DiskError('EEXIST', 'mkdir', path), undefined);
      if (!this.isDir(parentDir(path))) return cb(new DiskError('ENOENT', 'mkdir', path), undefined);
      this.names.set(path, new Inode('dir'));
      cb(null, undefined);
    });
  }

  /** Makes the directory's entries durable. */
  syncDir(dir: string, cb: DiskCallback): void {
    this.later('syncDir', dir, true, (fail) => {
      if (fail !== undefined) return cb(fail, undefined);
      if (!this.isDir(dir)) return cb(new DiskError('ENOENT', 'syncDir', dir), undefined);
      this.syncDirNow(dir);
      cb(null, undefined);
    });
  }

  // ---- synchronous operations ----

  /** Opens at once. */
  openSync(path: string, mode: OpenMode): FileHandle {
    this.throwFault('open', path);
    return this.openNow(path, mode);
  }

  /** Closes at once. */
  closeSync(handle: FileHandle): void {
    this.handles.delete(handle);
  }

  /** Reads what a reader sees now. */
  readSync(handle: FileHandle, into: Uint8Array, position: number): number {
    const f = this.fileOf(handle, 'read');
    if (f instanceof DiskError) throw f;
    this.throwFault('read', f.path);
    const n = Math.max(0, Math.min(into.length, f.inode.size - position));
    if (n > 0) into.set(f.inode.data.subarray(position, position + n));
    return n;
  }

  /** Current size. */
  sizeSync(handle: FileHandle): number {
    const f = this.fileOf(handle, 'size');
    if (f instanceof DiskError) throw f;
    return f.inode.size;
  }

  /** Sets the size at once. */
  truncateSync(handle: FileHandle, size: number): void {
    const f = this.fileOf(handle, 'truncate');
    if (f instanceof DiskError) throw f;
    this.throwFault('truncate', f.path);
    f.inode.setSize(size);
  }

  /** Syncs at once. */
  syncSync(handle: FileHandle, method: SyncMethod): void {
    const f = this.fileOf(handle, 'sync');
    if (f instanceof DiskError) throw f;
    if (method === 'none') return;
    this.throwFault('sync', f.path);
    f.inode.sync();
    this.stats.syncs++;
  }

  /** Syncs a directory at once. */
  syncDirSync(dir: string): void {
    this.throwFault('syncDir', dir);
    if (!this.isDir(dir)) throw new DiskError('ENOENT', 'syncDir', dir);
    this.syncDirNow(dir);
  }

  /** Removes a name at once (durable after syncDir). */
  unlinkSync(path: string): void {
    this.throwFault('unlink', path);
    this.unlinkNow(path);
  }

  /** A copy of the whole file as a reader sees it. */
  readFileSync(path: string): Uint8Array {
    this.throwFault('read', path);
    const inode = this.names.get(path);
    if (inode === undefined) throw new DiskError('ENOENT', 'read', path);
    if (inode.kind !== 'file') throw new DiskError('EISDIR', 'read', path);
    return inode.data.slice(0, inode.size);
  }

  /** Sorted names in `dir`. */
  listSync(dir: string): string[] {
    return this.isDir(dir) ? this.listNow(dir) : [];
  }

  /** Creates directories, durably. */
  mkdirpSync(dir: string): void {
    if (dir === '' || dir === '/' || this.isDir(dir)) return;
    const existing = this.names.get(dir);
    if (existing !== undefined) throw new DiskError('ENOTDIR', 'mkdir', dir);
    this.mkdirpSync(parentDir(dir));
    const inode = new Inode('dir');
    this.names.set(dir, inode);
    this.durableNames.set(dir, inode);
  }

  /** True when the name exists now. */
  existsSync(path: string): boolean {
    return this.names.has(path);
  }

  // ---- internals ----

  private faultList(op: DiskOp): Fault[] {
    let list = this.faults.get(op);
    if (list === undefined) {
      list = [];
      this.faults.set(op, list);
    }
    return list;
  }

  /** The injected error for the next `op`, if any (consumes one of a failNext count). */
  private takeFault(op: DiskOp, path: string): DiskError | undefined {
    const list = this.faults.get(op);
    if (list === undefined) return undefined;
    const i = list.findIndex((f) => f.path === undefined || path.startsWith(f.path));
    const fault = list[i];
    if (fault === undefined) return undefined;
    if (--fault.remaining <= 0) list.splice(i, 1);
    this.stats.faults++;
    return new DiskError(fault.code, op, path);
  }

  private throwFault(op: DiskOp, path: string): void {
    const fail = this.takeFault(op, path);
    if (fail !== undefined) throw fail;
  }

  /** Runs `apply` after a seeded latency unless a crash happens first. */
  private later(op: DiskOp, path: string, isSync: boolean, apply: (fail: DiskError | undefined) => void): void {
    const epoch = this.epoch;
    const fail = this.takeFault(op, path);
    const [lo, hi] = isSync ? this.syncLatencyMs : this.latencyMs;
    const factor = isSync ? this.slowSyncFactor : 1;
    const delay = (lo + this.random.next() * (hi - lo)) * factor;
    this.clock.setTimer(delay, () => {
      if (epoch === this.epoch) apply(fail);
    });
  }

  private fileOf(handle: FileHandle, op: DiskOp): OpenFile | DiskError {
    return this.handles.get(handle) ?? new DiskError('EBADF', op, `handle ${handle}`);
  }

  private isDir(path: string): boolean {
    return this.names.get(path === '' ? '/' : path)?.kind === 'dir';
  }

  private openNow(path: string, mode: OpenMode): FileHandle {
    if (!this.isDir(parentDir(path))) throw new DiskError('ENOENT', 'open', path);
    let inode = this.names.get(path);
    if (inode?.kind === 'dir') throw new DiskError('EISDIR', 'open', path);
    if (inode === undefined) {
      if (mode === 'read' || mode === 'readwrite') throw new DiskError('ENOENT', 'open', path);
      inode = new Inode('file');
      this.names.set(path, inode);
    } else if (mode === 'write') {
      inode.setSize(0);
    }
    const handle = this.nextHandle++;
    this.handles.set(handle, { inode, path, mode });
    this.stats.opens++;
    return handle;
  }

  private unlinkNow(path: string): void {
    const inode = this.names.get(path);
    if (inode === undefined) throw new DiskError('ENOENT', 'unlink', path);
    if (inode.kind === 'dir') throw new DiskError('EISDIR', 'unlink', path);
    this.names.delete(path);
  }

  private listNow(dir: string): string[] {
    const prefix = dir === '/' ? '/' : dir + '/';
    const out: string[] = [];
    for (const p of this.names.keys()) {
      if (p !== dir && p.startsWith(prefix) && !p.slice(prefix.length).includes('/')) out.push(p.slice(prefix.length));
    }
    return out.sort();
  }

  private syncDirNow(dir: string): void {
    const d = dir === '' ? '/' : dir;
    for (const p of new Set([...this.names.keys(), ...this.durableNames.keys()])) {
      if (p === '/' || parentDir(p) !== d) continue;
      const inode = this.names.get(p);
      if (inode === undefined) this.durableNames.delete(p);
      else this.durableNames.set(p, inode);
    }
    this.stats.syncDirs++;
  }
}
