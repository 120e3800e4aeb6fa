// Recovery: torn tails are cut and reported, corruption anywhere else is a
// 'corrupt' error naming file and offset, nothing corrupt is returned as data,
// and 100k entries come back across several rollovers.
import { describe, expect, it } from 'vitest';
import { SimClock } from '../../../src/io/sim_clock.js';
import { SeededRandom } from '../../../src/io/random.js';
import type { SimDisk } from '../../../src/io/sim_disk.js';
import type { DiskError, FileHandle } from '../../../src/io/disk.js';
import { ConcordError } from '../../../src/lib/errors.js';
import { walFileName } from '../../../src/log/wal_format.js';
import { crashAndRestart, logWorld, makeEntries, payloadMatches, type World } from './world.js';

/** A crashed copy of the world's disk with its own clock, to edit before restarting on it. */
function crashedCopy(w: World): { disk: SimDisk; clock: SimClock } {
  const clock = new SimClock();
  const disk = w.disk.fork(clock, new SeededRandom(99));
  disk.crash();
  return { disk, clock };
}

/** Appends raw bytes to a file of a copy (as a torn write would leave them). */
/** Writes `bytes` right after the last record (where a torn write lands), before any allocated zeros. */
function appendRaw(c: { disk: SimDisk; clock: SimClock }, path: string, bytes: Uint8Array): number {
  let h: FileHandle = -1;
  let size = 0;
  let err: DiskError | null = null;
  const content = c.disk.contents(path);
  let end = content.length;
  while (end > 0 && content[end - 1] === 0) end--;
  c.disk.open(path, 'readwrite', (e, handle) => {
    err = e;
    h = handle;
    size = end;
    c.disk.write(h, bytes, size, (e2) => {
      err = e2;
      c.disk.sync(h, 'fsync', (e3) => (err = e3));
    });
  });
  c.clock.runUntilIdle();
  expect(err).toBeNull();
  return size;
}

const garbage = Uint8Array.from([0x40, 0, 0, 0, 1, 2, 3, 4, 1, 0, 0, 0, 9, 9, 9]);

/** WAL files in use (not counting the next file, allocated in advance and still all zeros). */
function walFiles(disk: SimDisk): string[] {
  return disk.paths().filter((p) => p.startsWith('/data/wal/') && disk.contents(p).some((b) => b !== 0));
}

describe('recovery with WAL files allocated in advance', () => {
  it('keeps the spare for the next file and reads the zero tail of the current one as its end', () => {
    // 20 entries fill the file past half (where the next one is prepared), not to its end.
    const opts = { walPreallocateBytes: 64 * 1024, walFileBytesMax: 4096 };
    const w = logWorld({ log: opts });
    w.settle();
    const log = w.open('p/1');
    log.append(makeEntries('p/1', 1, 5, 1, 150));
    w.settle();
    expect(w.disk.paths().filter((p) => p.endsWith('.spare'))).toEqual([]); // not yet: the rollover is far
    log.append(makeEntries('p/1', 6, 20, 1, 150));
    w.settle();
    const files = w.disk.paths().filter((p) => p.startsWith('/data/wal/'));
    expect(files.length).toBe(2); // the file in use and the next one, prepared
    expect(w.disk.contents(files[0] as string).length).toBeGreaterThanOrEqual(64 * 1024);
    const copy = crashedCopy(w);
    const w2 = logWorld({ disk: copy.disk, clock: copy.clock, log: opts });
    expect(w2.logger.records.filter((r) => r.level === 'warn' || r.level === 'error')).toEqual([]);
    expect(w2.open('p/1').entries(1, 100).map((e) => e.index)).toEqual(makeEntries('p/1', 1, 20, 1, 150).map((e) => e.index));
  });

  it('cuts a torn write inside allocated space, and calls more damage than one write can tear corruption', () => {
    const w = logWorld({ log: { walPreallocateBytes: 64 * 1024 } });
    w.settle();
    const log = w.open('p/2');
    log.append(makeEntries('p/2', 1, 10, 1));
    w.settle();
    const copy = crashedCopy(w);
    const file = walFiles(copy.disk)[0] as string;
    const bytes = copy.disk.contents(file);
    let end = bytes.length;
    while (end > 0 && bytes[end - 1] === 0) end--;
    copy.disk.corrupt(file, end + 40); // a few stray bytes of a torn write, then zeros
    const w2 = logWorld({ disk: copy.disk, clock: copy.clock, log: { walPreallocateBytes: 64 * 1024 } });
    expect(w2.logger.records.find((r) => r.msg === 'cutting a torn WAL tail')?.fields).toMatchObject({ file, offset: end });
    expect(w2.open('p/2').entries(1, 100).length).toBe(10);
  });

  it('removes a never-used file found behind a used one (left by a WAL writer that died preparing it)', () => {
    const w = logWorld();
    w.settle();
    const log = w.open('p/5');
    log.append(makeEntries('p/5', 1, 5, 1));
    w.settle();
    const copy = crashedCopy(w);
    const h = copy.disk.openSync(`/data/wal/${walFileName(0)}`, 'write');
    copy.disk.truncateSync(h, 64 * 1024); // all zeros, as a preparation leaves it
    copy.disk.syncSync(h, 'fsync');
    copy.disk.closeSync(h);
    const w2 = logWorld({ disk: copy.disk, clock: copy.clock });
    expect(w2.logger.records.filter((r) => r.level === 'warn' || r.level === 'error')).toEqual([]);
    expect(w2.open('p/5').entries(1, 100).length).toBe(5);
    expect(copy.disk.existsSync(`/data/wal/${walFileName(0)}`)).toBe(false);
  });

  it('takes over the spare it finds at a restart instead of filling another with zeros', () => {
    // 10 entries fill a file past half, where the next one is prepared.
    const opts = { walFileBytesMax: 4096 };
    const w = logWorld({ log: opts });
    w.settle();
    w.open('p/6').append(makeEntries('p/6', 1, 10, 1, 250));
    w.settle();
    expect(w.disk.paths().filter((p) => p.endsWith('.spare')).length).toBe(1);
    const copy = crashedCopy(w);
    const before = copy.disk.stats.bytesWritten;
    const w2 = logWorld({ disk: copy.disk, clock: copy.clock, log: opts });
    const log = w2.open('p/6');
    log.append(makeEntries('p/6', 11, 20, 1, 250));
    w2.settle();
    expect(log.writtenIndex).toBe(20);
    // The records, and zeros for one spare: the one for the file after this one.
    expect(copy.disk.stats.bytesWritten - before).toBeLessThan(64 * 1024 + 16 * 1024);
    expect(w2.disk.paths().filter((p) => p.endsWith('.spare')).length).toBe(1);
    const w3 = crashedCopy(w2);
    expect(logWorld({ disk: w3.disk, clock: w3.clock, log: opts }).open('p/6').entries(1, 100).length).toBe(20);
  });

  it('falls back to a plain open when preparing the next file fails', () => {
    const opts = { walFileBytesMax: 4096, walBatchBytesMax: 1024, walPreallocateBytes: 8192 };
    const w = logWorld({ log: opts });
    w.settle();
    const log = w.open('p/3');
    log.append(makeEntries('p/3', 1, 5, 1));
    w.settle();
    w.disk.failNext('write', 'ENOSPC', 1, '/data/wal/'); // hits the zero fill of the next file
    for (let i = 6; i <= 200; i += 15) log.append(makeEntries('p/3', i, i + 14, 1));
    w.settle();
    expect(log.writtenIndex).toBe(200);
    expect(w.ls.stats().wal.rollovers).toBeGreaterThan(1);
  });
});

/**
 * A node restarted after a crash that left log `id`'s snapshot (at 53) ahead
 * of its WAL (which ends at 40): the member had applied and snapshotted
 * entries its WAL had not made durable. The WAL file holding 1..40 stays
 * (another log's segment write fails), as it does when the next crash comes
 * before the segment writer has emptied it.
 */
function snapshotAheadOfWal(id: string): World {
  const w = logWorld();
  w.settle();
  const log = w.open(id);
  w.open('other').append(makeEntries('other', 1, 5, 1));
  log.append(makeEntries(id, 1, 40, 1));
  w.settle();
  w.disk.failAlways('write', 'EIO', '/data/wal/'); // 41..53 never reach the WAL
  log.append(makeEntries(id, 41, 53, 1));
  let saved: DiskError | null | undefined;
  w.ls.snapshots(id).save({ index: 53, term: 1, meta: new Uint8Array(0) }, new Uint8Array(10), (e) => (saved = e));
  w.clock.runUntil(() => saved !== undefined);
  expect(saved).toBeNull();
  log.setSnapshotPoint(53, 1);
  const copy = crashedCopy(w);
  copy.disk.failAlways('write', 'EIO', '/data/groups/other/');
  return logWorld({ disk: copy.disk, clock: copy.clock });
}

describe('recovery', () => {
  it('cuts a torn WAL tail, says where, and keeps every synced entry', () => {
    const w = logWorld();
    w.settle();
    const log = w.open('r/1');
    log.append(makeEntries('r/1', 1, 20, 1));
    w.settle();
    const copy = crashedCopy(w);
    const last = walFiles(copy.disk).at(-1) as string;
    const offset = appendRaw(copy, last, garbage);
    const w2 = logWorld({ disk: copy.disk, clock: copy.clock });
    const warn = w2.logger.records.find((r) => r.msg === 'cutting a torn WAL tail');
    expect(warn?.level).toBe('warn');
    expect(warn?.fields).toMatchObject({ file: last, offset });
    expect(copy.disk.contents(last).length).toBe(offset);
    const log2 = w2.open('r/1');
    expect(log2.entries(1, 100).map((e) => e.index)).toEqual(makeEntries('r/1', 1, 20, 1).map((e) => e.index));
    log2.append(makeEntries('r/1', 21, 25, 1));
    w2.settle();
    expect(log2.writtenIndex).toBe(25);
  });

  it('makes the last WAL file durable at start-up even when it reads clean: a cut whose sync failed must not come back', () => {
    const opts = { walFileBytesMax: 4096 };
    const w = logWorld({ log: opts });
    w.settle();
    w.open('u/1').append(makeEntries('u/1', 1, 10, 1));
    w.settle();
    const copy = crashedCopy(w);
    const last = walFiles(copy.disk).at(-1) as string;
    appendRaw(copy, last, garbage); // a torn write after the last record
    copy.disk.failNext('sync', 'EIO', 1, last);
    expect(() => logWorld({ disk: copy.disk, clock: copy.clock, log: opts })).toThrow(/EIO/); // the cut's sync fails
    // Started again without a power loss: the file reads as cut, though the cut is not durable.
    // Segment writes fail, so that the cut file stays (the crash comes before it is flushed).
    copy.disk.failAlways('write', 'EIO', '/data/groups/');
    const w2 = logWorld({ disk: copy.disk, clock: copy.clock, log: opts });
    const log2 = w2.open('u/1');
    log2.append(makeEntries('u/1', 11, 80, 1)); // later WAL files, after the cut one
    expect(w2.clock.runUntil(() => log2.writtenIndex === 80)).toBe(true);
    expect(walFiles(copy.disk)).toContain(last);
    const w3 = crashAndRestart(w2, { log: opts }); // power loss
    expect(w3.open('u/1').entries(1, 100).map((e) => e.index)).toEqual(Array.from({ length: 80 }, (_, k) => k + 1));
  });

  it('a torn crash in the middle of a write loses only that write', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const w = logWorld({ seed });
      w.settle();
      const log = w.open('r/1');
      log.append(makeEntries('r/1', 1, 10, 1));
      w.settle();
      log.append(makeEntries('r/1', 11, 30, 1, 200));
      const writes = w.disk.stats.writes;
      w.clock.runUntil(() => w.disk.stats.writes > writes);
      const clock = new SimClock();
      const disk = w.disk.fork(clock, new SeededRandom(seed));
      disk.crash({ torn: true });
      const w2 = logWorld({ disk, clock, seed });
      const got = w2.open('r/1').entries(1, 100);
      expect(got.length).toBeGreaterThanOrEqual(10);
      expect(got.length).toBeLessThanOrEqual(30);
      expect(got.every((e) => payloadMatches('r/1', e))).toBe(true);
    }
  });

  it('an invalid record in a WAL file that is not the last is a corrupt error naming file and offset', () => {
    const w = logWorld({ log: { walFileBytesMax: 4096 } });
    w.settle();
    w.disk.failAlways('open', 'EIO', '/data/groups/');
    const log = w.open('r/1');
    for (let i = 1; i <= 200; i += 20) {
      log.append(makeEntries('r/1', i, i + 19, 1));
      w.clock.runFor(20);
    }
    const copy = crashedCopy(w);
    const files = walFiles(copy.disk);
    expect(files.length).toBeGreaterThan(2);
    copy.disk.corrupt(files[0] as string, 300);
    let error: unknown;
    try {
      logWorld({ disk: copy.disk, clock: copy.clock });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConcordError);
    expect((error as ConcordError).code).toBe('corrupt');
    expect((error as Error).message).toContain(files[0] as string);
    expect((error as Error).message).toMatch(/offset \d+/);
  });

  it('damage in the middle of the last WAL file, followed by more than one write, is corruption, not a torn tail', () => {
    const w = logWorld({ log: { walBatchBytesMax: 1024 } });
    w.settle();
    const log = w.open('r/1');
    for (let i = 1; i <= 300; i += 10) {
      log.append(makeEntries('r/1', i, i + 9, 1, 400));
      w.settle();
    }
    const copy = crashedCopy(w);
    const last = walFiles(copy.disk).at(-1) as string;
    copy.disk.corrupt(last, 100);
    expect(() => logWorld({ disk: copy.disk, clock: copy.clock, log: { walBatchBytesMax: 1024 } })).toThrow(/corrupt at offset/);
  });

  it('cuts a torn segment tail whose WAL file survives; reports a corrupt segment otherwise; never returns corrupt data', () => {
    const opts = { walFileBytesMax: 4096, segmentEntriesMax: 1000 };
    const w = logWorld({ log: opts });
    w.settle();
    const log = w.open('r/1');
    w.disk.failAlways('unlink', 'EIO', '/data/wal/');
    for (let i = 1; i <= 100; i += 20) {
      log.append(makeEntries('r/1', i, i + 19, 1));
      w.clock.runFor(100);
    }
    expect(log.stats().segments).toBe(1);
    const copy = crashedCopy(w);
    const seg = copy.disk.paths().find((p) => p.endsWith('.seg')) as string;
    const offset = appendRaw(copy, seg, garbage);
    const w2 = logWorld({ disk: copy.disk, clock: copy.clock, log: opts });
    const log2 = w2.open('r/1');
    expect(w2.logger.records.find((r) => r.msg === 'cutting a torn segment tail')?.fields).toMatchObject({ file: seg, offset });
    expect(log2.entries(1, 100).every((e) => payloadMatches('r/1', e))).toBe(true);

    // Without WAL records for the log, the same damage is corruption.
    w.disk.clearFaults();
    const other = w.open('r/2');
    for (let i = 1; i <= 300; i += 20) {
      other.append(makeEntries('r/2', i, i + 19, 1));
      w.settle();
    }
    const copy2 = crashedCopy(w);
    appendRaw(copy2, seg, garbage);
    const w3 = logWorld({ disk: copy2.disk, clock: copy2.clock, log: opts });
    expect(() => w3.open('r/1')).toThrow(expect.objectContaining({ code: 'corrupt', message: expect.stringContaining(seg) }));

    // A damaged payload is never returned: the read fails with 'corrupt'.
    const copy3 = crashedCopy(w);
    copy3.disk.corrupt(seg, copy3.disk.contents(seg).length - 5);
    const w4 = logWorld({ disk: copy3.disk, clock: copy3.clock, log: opts });
    const log4 = w4.open('r/1');
    expect(log4.entries(1, 90).length).toBe(90);
    expect(() => log4.entries(1, 100)).toThrow(expect.objectContaining({ code: 'corrupt', message: expect.stringMatching(/entry 100 fails its checksum at offset \d+/) }));
    expect(() => log4.entry(100)).toThrow(ConcordError);
  });

  it('goes on after a snapshot that is ahead of the WAL: the jump over it in a later replay is not a gap', () => {
    // A member may apply, and snapshot, entries its own WAL has not made durable (a follower
    // applies what its leader committed). A crash then leaves the snapshot past the WAL's end;
    // the log goes on after the snapshot, and the next replay sees its records jump over the
    // snapshot (simulator, seed 934195: a node that could not restart).
    const w2 = snapshotAheadOfWal('j/1');
    const again = w2.open('j/1');
    expect([again.snapshotIndex, again.lastIndex]).toEqual([53, 53]);
    again.append(makeEntries('j/1', 54, 60, 1));
    expect(w2.clock.runUntil(() => again.writtenIndex === 60)).toBe(true);
    const w3 = crashAndRestart(w2);
    const last = w3.open('j/1');
    const got = last.entries(1, 100);
    expect(got.map((e) => e.index)).toEqual([54, 55, 56, 57, 58, 59, 60]);
    expect(got.every((e) => payloadMatches('j/1', e))).toBe(true);
    expect(w3.logger.records.filter((r) => r.level === 'error')).toEqual([]);
  });

  it('calls a jump that the snapshot does not cover corruption (a snapshot file lost)', () => {
    const w2 = snapshotAheadOfWal('k/1');
    const again = w2.open('k/1');
    again.append(makeEntries('k/1', 54, 60, 1));
    expect(w2.clock.runUntil(() => again.writtenIndex === 60)).toBe(true);
    const copy = crashedCopy(w2);
    for (const p of copy.disk.paths().filter((f) => f.endsWith('.snap'))) copy.disk.unlinkSync(p);
    const w3 = logWorld({ disk: copy.disk, clock: copy.clock });
    let error: unknown;
    try {
      w3.open('k/1');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConcordError);
    expect((error as ConcordError).code).toBe('corrupt');
    expect((error as Error).message).toContain('resumes after index 53');
  });

  it('recovers 100k entries across several rollovers', () => {
    const opts = { walFileBytesMax: 256 * 1024, segmentEntriesMax: 4096 };
    const w = logWorld({ log: opts });
    w.settle();
    const ids = ['big/1', 'big/2', 'big/3', 'big/4'];
    const logs = ids.map((id) => w.open(id));
    for (let i = 1; i <= 25_000; i += 500) {
      for (const log of logs) log.append(makeEntries(log.logId, i, i + 499, 1, 24));
      w.settle();
    }
    expect(w.ls.stats().wal.rollovers).toBeGreaterThanOrEqual(5);
    const w2 = (() => {
      const copy = crashedCopy(w);
      return logWorld({ disk: copy.disk, clock: copy.clock, log: opts });
    })();
    let total = 0;
    for (const id of ids) {
      const log = w2.open(id);
      expect(log.lastIndex).toBe(25_000);
      expect(log.writtenIndex).toBe(25_000);
      const es = log.entries(1, 25_000);
      expect(es.length).toBe(25_000);
      let ok = true;
      for (const e of es) ok &&= payloadMatches(id, e);
      expect(ok).toBe(true);
      total += es.length;
    }
    expect(total).toBe(100_000);
    w2.settle();
    expect(w2.ls.stats().walFilesPending).toBe(0);
  });
});
