// The file-system interface the log layer writes through, so that tests can
// swap the real disk (real_disk.ts) for a simulated one (sim_disk.ts).
import { ConcordError } from '../lib/errors.js';

/** How a sync makes a file durable: fdatasync, fsync, or not at all. */
export type SyncMethod = 'datasync' | 'fsync' | 'none';

/**
 * How a file is opened:
 * - `read`: read only; the file must exist.
 * - `readwrite`: read and positioned writes; the file must exist.
 * - `append`: read and positioned writes; created when missing, never truncated.
 * - `write`: read and positioned writes; created, or truncated to zero when it exists.
 */
export type OpenMode = 'read' | 'readwrite' | 'append' | 'write';

/** The kinds of operation, as named in errors and in SimDisk's fault injection. */
export type DiskOp =
  | 'open'
  | 'write'
  | 'sync'
  | 'truncate'
  | 'close'
  | 'rename'
  | 'unlink'
  | 'rmdir'
  | 'syncDir'
  | 'read'
  | 'mkdir'
  | 'list'
  | 'size';

/** An open file. A number (the fd for RealDisk); only the Disk that made it understands it. */
export type FileHandle = number;

/** Node-style completion: `err` is null on success. */
export type DiskCallback<T = void> = (err: DiskError | null, value: T) => void;

/**
 * A failed file operation. `errno` is the operating system's code ('ENOSPC',
 * 'EIO', 'ENOENT', ...); `code` is 'disk_full' for ENOSPC and 'disk_error' otherwise.
 */
export class DiskError extends ConcordError {
  override name = 'DiskError';
  constructor(
    readonly errno: string,
    readonly op: DiskOp,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(errno === 'ENOSPC' ? 'disk_full' : 'disk_error', `${op} ${path}: ${errno}`, options);
  }
}

/** Wraps anything thrown by a file operation into a DiskError. */
export function toDiskError(e: unknown, op: DiskOp, path: string): DiskError {
  if (e instanceof DiskError) return e;
  const errno = typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : 'EIO';
  return new DiskError(errno, op, path, { cause: e });
}

/**
 * File access for the log layer. Operations that change what is on disk are
 * asynchronous and report through a callback (never a promise, so that a
 * simulated disk completes them inside the simulation loop). Reads, sizes,
 * listings and directory creation are synchronous: they are used at start-up
 * and for log reads, which hit the page cache.
 *
 * A callback may run on any later turn of the event loop but never before the
 * call returns. Writes write every byte or fail.
 */
export interface Disk {
  /** Opens `path` (see OpenMode); the handle is valid until `close`. */
  open(path: string, mode: OpenMode, cb: DiskCallback<FileHandle>): void;
  /**
   * Writes all of `data` at byte `position`. `background` marks bulk data
   * that nothing urgent waits for: RealDisk then never copies it on the
   * calling thread, however small.
   */
  write(handle: FileHandle, data: Uint8Array, position: number, cb: DiskCallback, background?: boolean): void;
  /**
   * Makes the file's written data durable (`none` completes at once).
   * `inline` marks a small sync that something waits for now: RealDisk then
   * makes it on the calling thread, blocking it, instead of handing it to the
   * thread pool and back.
   */
  sync(handle: FileHandle, method: SyncMethod, cb: DiskCallback, inline?: boolean): void;
  /** Sets the file's size to `size` bytes. */
  truncate(handle: FileHandle, size: number, cb: DiskCallback): void;
  /** Closes the handle. */
  close(handle: FileHandle, cb: DiskCallback): void;
  /** Renames `from` to `to`, replacing `to`; durable once the parents are synced with syncDir. */
  rename(from: string, to: string, cb: DiskCallback): void;
  /** Removes a file; durable once its parent is synced with syncDir. */
  unlink(path: string, cb: DiskCallback): void;
  /** Removes an empty directory. */
  rmdir(path: string, cb: DiskCallback): void;
  /** Creates a directory in an existing one (one already there is no error); durable once its parent is synced with syncDir. */
  mkdir(path: string, cb: DiskCallback): void;
  /** Makes the directory's entries (creations, renames, removals) durable. */
  syncDir(dir: string, cb: DiskCallback): void;

  /** Opens a file synchronously (start-up and reads). */
  openSync(path: string, mode: OpenMode): FileHandle;
  /** Closes a handle synchronously. */
  closeSync(handle: FileHandle): void;
  /** Reads up to `into.length` bytes at `position`; returns how many were read (fewer only at the end of the file). */
  readSync(handle: FileHandle, into: Uint8Array, position: number): number;
  /** The file's current size in bytes. */
  sizeSync(handle: FileHandle): number;
  /** Sets the size synchronously (cutting a torn tail at start-up). */
  truncateSync(handle: FileHandle, size: number): void;
  /** Syncs synchronously (start-up only). */
  syncSync(handle: FileHandle, method: SyncMethod): void;
  /** Syncs a directory synchronously (start-up only). */
  syncDirSync(dir: string): void;
  /** Removes a file synchronously (start-up clean-up of temporary files). */
  unlinkSync(path: string): void;
  /** Reads a whole file. */
  readFileSync(path: string): Uint8Array;
  /** Names (not paths) in `dir`, sorted; empty when the directory does not exist. */
  listSync(dir: string): string[];
  /** Creates `dir` and its missing parents, durably (each new entry's parent is synced). */
  mkdirpSync(dir: string): void;
  /** True when a file or directory exists at `path`. */
  existsSync(path: string): boolean;
}

/** The directory part of a '/'-separated path ('' for a bare name). */
export function parentDir(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : i === 0 ? '/' : path.slice(0, i);
}

/** Joins path segments with '/'. */
export function joinPath(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/').replace(/\/{2,}/g, '/');
}
