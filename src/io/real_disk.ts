// The Disk backed by node:fs: callback APIs for changes (fs.write, fs.fdatasync,
// fs.fsync, ...), synchronous calls for reads, and directory fsync by fd.
import * as fs from 'node:fs';
import { assertNever } from '../lib/assert.js';
import { DiskError, parentDir, toDiskError, type Disk, type DiskCallback, type FileHandle, type OpenMode, type SyncMethod } from './disk.js';

const FLAGS: Record<OpenMode, string | number> = {
  read: 'r',
  readwrite: 'r+',
  append: fs.constants.O_RDWR | fs.constants.O_CREAT,
  write: 'w+',
};

/** Writes up to this size are made synchronously (see RealDisk.write). */
const inlineWriteBytesMax = 64 * 1024;

/** Real files through node:fs. Handles are file descriptors. */
export class RealDisk implements Disk {
  /** Path of each open descriptor, for error messages. */
  private readonly paths = new Map<FileHandle, string>();

  /** Opens a file with the flags of `mode`. */
  open(path: string, mode: OpenMode, cb: DiskCallback<FileHandle>): void {
    fs.open(path, FLAGS[mode], 0o644, (err, fd) => {
      if (err !== null) return cb(toDiskError(err, 'open', path), -1);
      this.paths.set(fd, path);
      cb(null, fd);
    });
  }

  /**
   * Writes every byte of `data` at `position`, looping over short writes. A
   * write of at most inlineWriteBytesMax is made on this thread (it lands in
   * the page cache; a thread-pool round trip costs more than the copy, and the
   * WAL's write-then-sync then takes one round trip, not two); larger ones go
   * to the thread pool, as do `background` writes of any size. The callback
   * runs after the call returns either way.
   */
  write(handle: FileHandle, data: Uint8Array, position: number, cb: DiskCallback, background = false): void {
    if (data.length <= inlineWriteBytesMax && !background) {
      let error: DiskError | null = null;
      try {
        for (let done = 0; done < data.length; ) {
          const n = fs.writeSync(handle, data, done, data.length - done, position + done);
          if (n === 0) throw new DiskError('EIO', 'write', this.pathOf(handle));
          done += n;
        }
      } catch (e) {
        error = toDiskError(e, 'write', this.pathOf(handle));
      }
      return queueMicrotask(() => cb(error, undefined));
    }
    const step = (done: number): void => {
      if (done === data.length) return cb(null, undefined);
      fs.write(handle, data, done, data.length - done, position + done, (err, n) => {
        if (err !== null) return cb(toDiskError(err, 'write', this.pathOf(handle)), undefined);
        if (n === 0) return cb(new DiskError('EIO', 'write', this.pathOf(handle)), undefined);
        step(done + n);
      });
    };
    step(0);
  }

  /**
   * fdatasync, fsync, or (for `none`) a completion on the next microtask. An
   * `inline` sync is made on this thread before the call returns (the
   * callback still runs after it): it blocks the event loop for the sync's
   * duration but saves the two cross-thread wake-ups of a thread-pool round
   * trip (measured with three nodes on this 2-core machine: 20-38 us of CPU
   * per node per sync, and 15-25 us of a command's latency).
   */
  sync(handle: FileHandle, method: SyncMethod, cb: DiskCallback, inline = false): void {
    const done = (err: NodeJS.ErrnoException | null): void => cb(err === null ? null : toDiskError(err, 'sync', this.pathOf(handle)), undefined);
    if (inline && method !== 'none') {
      let error: NodeJS.ErrnoException | null = null;
      try {
        if (method === 'datasync') fs.fdatasyncSync(handle);
        else fs.fsyncSync(handle);
      } catch (e) {
        error = e as NodeJS.ErrnoException;
      }
      return queueMicrotask(() => done(error));
    }
    switch (method) {
      case 'datasync':
        return fs.fdatasync(handle, done);
      case 'fsync':
        return fs.fsync(handle, done);
      case 'none':
        return queueMicrotask(() => cb(null, undefined));
      default:
        return assertNever(method, 'sync method');
    }
  }

  /** ftruncate. */
  truncate(handle: FileHandle, size: number, cb: DiskCallback): void {
    fs.ftruncate(handle, size, (err) => cb(err === null ? null : toDiskError(err, 'truncate', this.pathOf(handle)), undefined));
  }

  /** close. */
  close(handle: FileHandle, cb: DiskCallback): void {
    const path = this.pathOf(handle);
    this.paths.delete(handle);
    fs.close(handle, (err) => cb(err === null ? null : toDiskError(err, 'close', path), undefined));
  }

  /** rename(2). */
  rename(from: string, to: string, cb: DiskCallback): void {
    fs.rename(from, to, (err) => cb(err === null ? null : toDiskError(err, 'rename', from), undefined));
  }

  /** unlink(2). */
  unlink(path: string, cb: DiskCallback): void {
    fs.unlink(path, (err) => cb(err === null ? null : toDiskError(err, 'unlink', path), undefined));
  }

  /** rmdir(2). */
  rmdir(path: string, cb: DiskCallback): void {
    fs.rmdir(path, (err) => cb(err === null ? null : toDiskError(err, 'rmdir', path), undefined));
  }

  /** fs.mkdir; an existing entry is no error (a file there fails the first open inside it). */
  mkdir(path: string, cb: DiskCallback): void {
    fs.mkdir(path, (err) => cb(err !== null && err.code !== 'EEXIST' ? toDiskError(err, 'mkdir', path) : null, undefined));
  }

  /** Opens the directory and fsyncs it, which makes its entries durable. */
  syncDir(dir: string, cb: DiskCallback): void {
    fs.open(dir, 'r', (err, fd) => {
      if (err !== null) return cb(toDiskError(err, 'syncDir', dir), undefined);
      fs.fsync(fd, (syncErr) => {
        fs.close(fd, () => cb(syncErr === null ? null : toDiskError(syncErr, 'syncDir', dir), undefined));
      });
    });
  }

  /** Synchronous open. */
  openSync(path: string, mode: OpenMode): FileHandle {
    try {
      const fd = fs.openSync(path, FLAGS[mode], 0o644);
      this.paths.set(fd, path);
      return fd;
    } catch (e) {
      throw toDiskError(e, 'open', path);
    }
  }

  /** Synchronous close. */
  closeSync(handle: FileHandle): void {
    const path = this.pathOf(handle);
    this.paths.delete(handle);
    try {
      fs.closeSync(handle);
    } catch (e) {
      throw toDiskError(e, 'close', path);
    }
  }

  /** Positioned read that fills `into` unless the file ends first. */
  readSync(handle: FileHandle, into: Uint8Array, position: number): number {
    let done = 0;
    try {
      while (done < into.length) {
        const n = fs.readSync(handle, into, done, into.length - done, position + done);
        if (n === 0) break;
        done += n;
      }
    } catch (e) {
      throw toDiskError(e, 'read', this.pathOf(handle));
    }
    return done;
  }

  /** fstat size. */
  sizeSync(handle: FileHandle): number {
    try {
      return fs.fstatSync(handle).size;
    } catch (e) {
      throw toDiskError(e, 'size', this.pathOf(handle));
    }
  }

  /** Synchronous ftruncate. */
  truncateSync(handle: FileHandle, size: number): void {
    try {
      fs.ftruncateSync(handle, size);
    } catch (e) {
      throw toDiskError(e, 'truncate', this.pathOf(handle));
    }
  }

  /** Synchronous fdatasync / fsync. */
  syncSync(handle: FileHandle, method: SyncMethod): void {
    try {
      if (method === 'datasync') fs.fdatasyncSync(handle);
      else if (method === 'fsync') fs.fsyncSync(handle);
    } catch (e) {
      throw toDiskError(e, 'sync', this.pathOf(handle));
    }
  }

  /** Synchronous directory fsync. */
  syncDirSync(dir: string): void {
    let fd: number | undefined;
    try {
      fd = fs.openSync(dir, 'r');
      fs.fsyncSync(fd);
    } catch (e) {
      throw toDiskError(e, 'syncDir', dir);
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }

  /** Synchronous unlink. */
  unlinkSync(path: string): void {
    try {
      fs.unlinkSync(path);
    } catch (e) {
      throw toDiskError(e, 'unlink', path);
    }
  }

  /** Reads a whole file. */
  readFileSync(path: string): Uint8Array {
    try {
      return fs.readFileSync(path);
    } catch (e) {
      throw toDiskError(e, 'read', path);
    }
  }

  /** Sorted names in `dir`; [] when it does not exist. */
  listSync(dir: string): string[] {
    try {
      return fs.readdirSync(dir).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw toDiskError(e, 'list', dir);
    }
  }

  /** mkdir -p, then fsync the parent of every directory it created. */
  mkdirpSync(dir: string): void {
    const missing: string[] = [];
    let d = dir;
    while (d !== '' && d !== '/' && d !== '.' && !fs.existsSync(d)) {
      missing.push(d);
      d = parentDir(d);
    }
    for (const m of missing.reverse()) {
      try {
        fs.mkdirSync(m);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw toDiskError(e, 'mkdir', m);
      }
      this.syncDirSync(parentDir(m) === '' ? '.' : parentDir(m));
    }
  }

  /** fs.existsSync. */
  existsSync(path: string): boolean {
    return fs.existsSync(path);
  }

  private pathOf(handle: FileHandle): string {
    return this.paths.get(handle) ?? `fd ${handle}`;
  }
}
