// Options of a LogSystem: every limit with its default, checked at start-up.
import { InvalidArgumentError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Clock } from '../io/clock.js';
import type { Disk, SyncMethod } from '../io/disk.js';

const MiB = 1024 * 1024;

/** How a node's log layer runs. */
export interface LogSystemOptions {
  /** Directory holding wal/, groups/ and meta/. */
  dataDir: string;
  disk: Disk;
  /** Must be the clock of the ActorSystem the log actors run in. */
  clock: Clock;
  logger: Logger;
  /** How the WAL (and segment files) are made durable (default 'datasync'). */
  walSyncMethod?: SyncMethod;
  /** Largest single WAL write; more waiting goes into the next one (default 4 MiB). */
  walBatchBytesMax?: number;
  /** WAL file size past which the WAL rolls over to a new file (default 64 MiB). */
  walFileBytesMax?: number;
  /**
   * Bytes of zeros written into each new WAL file before it is used (default:
   * walFileBytesMax; 0 turns it off). Writes into allocated space sync without
   * a metadata journal commit, which ext4 serialises across processes: with
   * three nodes on one disk this made each sync about four times cheaper.
   */
  walPreallocateBytes?: number;
  /**
   * WAL batches of at most this many bytes are synced on the event loop
   * rather than in the thread pool (default 64 KiB; 0: never). Small batches
   * mean light load, when a command waits for the sync and the pool's
   * hand-offs cost more than blocking; large ones keep the event loop free.
   * A sync that took over 2 ms sends the next batches to the pool until one
   * is fast again, so a slow disk never holds the event loop for long.
   */
  walInlineSyncBytesMax?: number;
  /** Bytes waiting in the WAL past which writers are told `wal_overloaded`; they resume below half of it (default 64 MiB). */
  walPendingBytesMax?: number;
  /** Delay between retries after a disk error in the WAL, segment writer and meta store (default 500 ms). */
  walRetryMs?: number;
  /** Entries per segment file (default 16,384). */
  segmentEntriesMax?: number;
  /** Bytes per segment file (default 64 MiB). */
  segmentBytesMax?: number;
  /**
   * Bytes per chunk of a segment file (default 1 MiB; one entry at least). A
   * chunk is encoded on the event loop just before its write, so this bounds
   * how long one encoding holds the node's other groups.
   */
  segmentChunkBytesMax?: number;
  /** Bytes the segment writer prepares and writes in one wave of parallel writes (default 16 MiB). */
  segmentWaveBytesMax?: number;
  /** Bytes held by all mem tables of the node before rollover and flushing start early (default 256 MiB). */
  memTablesBytesMax?: number;
  /** Segment files kept open (with their index in memory) in the LRU cache (default 128). */
  openSegmentsMax?: number;
  /** Meta store file size past which it is compacted (default 1 MiB). */
  metaFileBytesMax?: number;
}

/** Options with every default filled in. */
export type ResolvedLogOptions = Required<LogSystemOptions>;

/** Fills in defaults and rejects limits that cannot work. */
export function resolveLogOptions(o: LogSystemOptions): ResolvedLogOptions {
  const r: ResolvedLogOptions = {
    dataDir: o.dataDir.replace(/\/+$/, '') || '/',
    disk: o.disk,
    clock: o.clock,
    logger: o.logger,
    walSyncMethod: o.walSyncMethod ?? 'datasync',
    walBatchBytesMax: o.walBatchBytesMax ?? 4 * MiB,
    walFileBytesMax: o.walFileBytesMax ?? 64 * MiB,
    walPendingBytesMax: o.walPendingBytesMax ?? 64 * MiB,
    walPreallocateBytes: o.walPreallocateBytes ?? o.walFileBytesMax ?? 64 * MiB,
    walInlineSyncBytesMax: o.walInlineSyncBytesMax ?? 64 * 1024,
    walRetryMs: o.walRetryMs ?? 500,
    segmentEntriesMax: o.segmentEntriesMax ?? 16_384,
    segmentBytesMax: o.segmentBytesMax ?? 64 * MiB,
    segmentChunkBytesMax: o.segmentChunkBytesMax ?? MiB,
    segmentWaveBytesMax: o.segmentWaveBytesMax ?? 16 * MiB,
    memTablesBytesMax: o.memTablesBytesMax ?? 256 * MiB,
    openSegmentsMax: o.openSegmentsMax ?? 128,
    metaFileBytesMax: o.metaFileBytesMax ?? MiB,
  };
  const positive: (keyof ResolvedLogOptions)[] = [
    'walBatchBytesMax',
    'walFileBytesMax',
    'walPendingBytesMax',
    'segmentEntriesMax',
    'segmentBytesMax',
    'segmentChunkBytesMax',
    'segmentWaveBytesMax',
    'memTablesBytesMax',
    'openSegmentsMax',
    'metaFileBytesMax',
  ];
  for (const k of positive) {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 1) throw new InvalidArgumentError(`${k} must be a positive number, got ${String(v)}`);
  }
  if (!(r.walRetryMs >= 0)) throw new InvalidArgumentError(`walRetryMs must be >= 0`);
  if (!(r.walPreallocateBytes >= 0)) throw new InvalidArgumentError(`walPreallocateBytes must be >= 0`);
  if (!(r.walInlineSyncBytesMax >= 0)) throw new InvalidArgumentError(`walInlineSyncBytesMax must be >= 0`);
  if (r.walFileBytesMax < 4096) throw new InvalidArgumentError('walFileBytesMax must be at least 4096');
  return r;
}
