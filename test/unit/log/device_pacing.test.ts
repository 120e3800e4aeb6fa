// The background writers (spare preparation, segment flushes, snapshots) keep
// out of the way of the WAL's syncs: a flush waits for every byte written before it, so
// they write in synced pieces of at most 1 MiB, a spare is prepared while the
// current file is half full (not at the rollover, when the segment writer
// starts copying the old file), and the segment writer starts only once the
// next WAL file is open.
import { describe, expect, it } from 'vitest';
import { SimClock } from '../../../src/io/sim_clock.js';
import { SeededRandom } from '../../../src/io/random.js';
import { SimDisk } from '../../../src/io/sim_disk.js';
import type { DiskCallback, FileHandle, OpenMode, SyncMethod } from '../../../src/io/disk.js';
import { logWorld, makeEntries } from './world.js';

const MiB = 1024 * 1024;

/** A SimDisk that records writes, syncs, renames and opens in call order. */
class RecordingDisk extends SimDisk {
  readonly ops: { op: string; path: string; bytes?: number; inline?: boolean }[] = [];
  private readonly handlePaths = new Map<FileHandle, string>();

  override open(path: string, mode: OpenMode, cb: DiskCallback<FileHandle>): void {
    this.ops.push({ op: 'open', path });
    super.open(path, mode, (err, h) => {
      if (err === null) this.handlePaths.set(h, path);
      cb(err, h);
    });
  }
  override write(handle: FileHandle, data: Uint8Array, position: number, cb: DiskCallback): void {
    this.ops.push({ op: 'write', path: this.handlePaths.get(handle) ?? '?', bytes: data.length });
    super.write(handle, data, position, cb);
  }
  override sync(handle: FileHandle, method: SyncMethod, cb: DiskCallback, inline = false): void {
    this.ops.push({ op: 'sync', path: this.handlePaths.get(handle) ?? '?', inline });
    super.sync(handle, method, cb);
  }
  override rename(from: string, to: string, cb: DiskCallback): void {
    this.ops.push({ op: 'rename', path: to });
    super.rename(from, to, (err) => {
      if (err === null) for (const [h, p] of this.handlePaths) if (p === from) this.handlePaths.set(h, to);
      cb(err, undefined);
    });
  }
}

function world(log: Record<string, number>) {
  const clock = new SimClock();
  const disk = new RecordingDisk(clock, new SeededRandom(3));
  const w = logWorld({ clock, disk, log });
  w.settle();
  return { w, disk };
}

describe('background writes and the WAL', () => {
  it('fills a spare in synced pieces of at most 1 MiB, once the current file is half full', () => {
    const { w, disk } = world({ walPreallocateBytes: 3 * MiB, walFileBytesMax: 64 * 1024 });
    const spareWrites = () => disk.ops.filter((o) => o.path.endsWith('.spare') && o.op === 'write');
    const first = spareWrites().length; // the spare for the first file, prepared at start-up
    expect(first).toBe(3);
    const log = w.open('s/1');
    log.append(makeEntries('s/1', 1, 100, 1, 200)); // ~23 KiB: not yet half of the file
    w.settle();
    expect(spareWrites().length).toBe(first);
    log.append(makeEntries('s/1', 101, 200, 1, 200));
    w.settle();
    const spare = disk.ops.filter((o) => o.path.endsWith('2.spare'));
    expect(spare.filter((o) => o.op === 'write').map((o) => o.bytes)).toEqual([MiB, MiB, MiB]);
    // Each piece is synced before the next is written.
    const kinds = spare.filter((o) => o.op !== 'open').map((o) => o.op);
    expect(kinds).toEqual(['write', 'sync', 'write', 'sync', 'write', 'sync', 'sync']);
  });

  it('tries a failing spare once per file, not again at every batch past half', () => {
    const { w, disk } = world({ walPreallocateBytes: 256 * 1024, walFileBytesMax: 64 * 1024 });
    disk.failAlways('write', 'ENOSPC', '/data/wal/0000000000000002.spare');
    const log = w.open('s/3');
    for (let i = 0; i < 30; i++) {
      log.append(makeEntries('s/3', i * 5 + 1, i * 5 + 5, 1, 200)); // past half from the 17th batch on
      w.settle();
    }
    expect(log.writtenIndex).toBe(150);
    expect(disk.ops.filter((o) => o.op === 'open' && o.path.endsWith('2.spare')).length).toBe(1);
  });

  it('writes a large segment chunk in synced pieces, and starts only once the next WAL file is open', () => {
    const { w, disk } = world({ walFileBytesMax: 4 * MiB, walPreallocateBytes: 64 * 1024 });
    const log = w.open('s/2');
    for (let i = 0; i < 6; i++) {
      log.append(makeEntries('s/2', i * 200 + 1, i * 200 + 200, 1, 4096)); // 800 KiB a round
      w.settle();
    }
    log.append(makeEntries('s/2', 1201, 1201, 1)); // goes to the next file: the rollover
    w.settle();
    expect(w.ls.stats().segments.walFilesFlushed).toBe(1);
    const seg = disk.ops.filter((o) => o.path.includes('/groups/') && o.path.endsWith('.seg'));
    const writes = seg.filter((o) => o.op === 'write').map((o) => o.bytes as number);
    expect(writes.reduce((a, b) => a + b, 0)).toBeGreaterThan(3 * MiB);
    expect(Math.max(...writes)).toBeLessThanOrEqual(MiB);
    expect(seg.filter((o) => o.op === 'sync').length).toBe(writes.length);
    const renamed = disk.ops.findIndex((o) => o.op === 'rename' && o.path.endsWith('2.wal'));
    const firstSegmentOpen = disk.ops.findIndex((o) => o.op === 'open' && o.path.includes('/groups/'));
    expect(renamed).toBeGreaterThanOrEqual(0);
    expect(firstSegmentOpen).toBeGreaterThan(renamed);
  });

  it('writes a snapshot in synced pieces of at most 1 MiB, however its chunks come', () => {
    const { w, disk } = world({});
    const writer = w.ls.snapshots('s/3').beginWrite({ index: 50, term: 2, meta: new TextEncoder().encode('m') });
    const sizes = [2.5 * MiB, 600 * 1024, 600 * 1024, 600 * 1024, 1000];
    const chunks = sizes.map((n, k) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + k) & 0xff));
    const results: (Error | null)[] = [];
    const next = (k: number): void => {
      if (k === chunks.length) return writer.finish((e) => results.push(e));
      writer.writeChunk(chunks[k] as Uint8Array, (e) => {
        results.push(e);
        if (e === null) next(k + 1);
      });
    };
    next(0);
    w.clock.runUntil(() => results.length === chunks.length + 1);
    expect(results.every((e) => e === null)).toBe(true);
    const file = disk.ops.filter((o) => o.path.includes('snapshots') && (o.op === 'write' || o.op === 'sync'));
    const writes = file.filter((o) => o.op === 'write').map((o) => o.bytes as number);
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(Math.max(...writes)).toBeLessThanOrEqual(MiB);
    // Never more than 1 MiB between two syncs; one sync per full MiB, and the final one.
    let unsynced = 0;
    for (const o of file) {
      unsynced = o.op === 'sync' ? 0 : unsynced + (o.bytes as number);
      expect(unsynced).toBeLessThanOrEqual(MiB + 4096); // the header and trailer ride with the data
    }
    expect(file.filter((o) => o.op === 'sync').length).toBe(Math.floor(total / MiB) + 1);
    const read = w.ls.snapshots('s/3').read(50);
    expect(read.length).toBe(total);
    expect(read.subarray(2.5 * MiB, 2.5 * MiB + 10)).toEqual((chunks[1] as Uint8Array).subarray(0, 10));
  });

  it('syncs small WAL batches on the event loop, and large ones, or any after a slow sync, in the thread pool', () => {
    const { w, disk } = world({ walInlineSyncBytesMax: 16 * 1024 });
    const log = w.open('s/4');
    const walSyncs = () => disk.ops.filter((o) => o.op === 'sync' && o.path.endsWith('.wal')).map((o) => o.inline);
    let index = 0;
    const batch = (entries: number, size: number) => {
      log.append(makeEntries('s/4', index + 1, index + entries, 1, size));
      index += entries;
      w.settle();
      expect(log.writtenIndex).toBe(index);
      return walSyncs().at(-1);
    };
    expect(batch(1, 300)).toBe(true);
    expect(batch(100, 300)).toBe(false); // ~32 KiB
    disk.setSlowSyncFactor(50); // syncs of 5-20 ms
    expect(batch(1, 300)).toBe(true); // nothing was slow yet
    expect(batch(1, 300)).toBe(false);
    disk.setSlowSyncFactor(1);
    expect(batch(1, 300)).toBe(false); // the last one was slow
    expect(batch(1, 300)).toBe(true); // a fast one in the pool brings it back
    expect(w.ls.walStats.inlineSyncs).toBe(3);
  });

  it('never syncs on the event loop with walInlineSyncBytesMax 0', () => {
    const { w, disk } = world({ walInlineSyncBytesMax: 0 });
    const log = w.open('s/5');
    log.append(makeEntries('s/5', 1, 1, 1, 100));
    w.settle();
    expect(log.writtenIndex).toBe(1);
    expect(disk.ops.filter((o) => o.op === 'sync' && o.path.endsWith('.wal')).map((o) => o.inline)).toEqual([false]);
  });
});
