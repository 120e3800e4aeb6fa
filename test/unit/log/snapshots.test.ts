// SnapshotStore (save, chunked write and read, crash safety, clean-up) and
// the log's snapshot point: setSnapshotPoint drops the prefix, resetTo
// installs a snapshot, both survive restarts.
import { describe, expect, it } from 'vitest';
import type { DiskError } from '../../../src/io/disk.js';
import { SeededRandom } from '../../../src/io/random.js';
import { SimClock } from '../../../src/io/sim_clock.js';
import { SimDisk } from '../../../src/io/sim_disk.js';
import type { SnapshotStore } from '../../../src/log/snapshot_store.js';
import { crashAndRestart, logWorld, makeEntries, payloadMatches, type World } from './world.js';

const meta = (s: string) => new TextEncoder().encode(s);

/** Counts the synchronous directory operations that sync (they block the event loop). */
class CountingDisk extends SimDisk {
  syncCalls = 0;
  override mkdirpSync(dir: string): void {
    if (!this.existsSync(dir)) this.syncCalls++;
    super.mkdirpSync(dir);
  }
  override syncDirSync(dir: string): void {
    this.syncCalls++;
    super.syncDirSync(dir);
  }
}

function data(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
}

/** Saves under the simulated clock and returns the callback's error. */
function save(w: World, store: SnapshotStore, index: number, term: number, bytes: Uint8Array): DiskError | null | undefined {
  let result: DiskError | null | undefined;
  store.save({ index, term, meta: meta(`cfg@${index}`) }, bytes, (err) => (result = err));
  w.clock.runUntilIdle();
  return result;
}

describe('SnapshotStore', () => {
  it('saves durably, reports the latest, reads whole and in chunks, and deletes older ones', () => {
    const w = logWorld();
    w.settle();
    const store = w.ls.snapshots('s/1');
    expect(store.latest()).toBeUndefined();
    expect(save(w, store, 10, 2, data(5000))).toBeNull();
    expect(store.latest()).toEqual({ index: 10, term: 2, meta: meta('cfg@10'), size: 5000 });
    expect(store.read(10)).toEqual(data(5000));
    expect(save(w, store, 20, 3, data(3000, 9))).toBeNull();
    const chunks: Uint8Array[] = [];
    for (let off = 0; off < 3000; off += 1024) chunks.push(store.readChunk(20, off, 1024));
    expect(chunks.map((c) => c.length)).toEqual([1024, 1024, 952]);
    expect(Uint8Array.from(chunks.flatMap((c) => [...c]))).toEqual(data(3000, 9));
    expect(w.disk.paths().filter((p) => p.includes('/snapshots/'))).toEqual(['/data/groups/s%2F1/snapshots/00000000000000000020_3.snap']);
    const w2 = crashAndRestart(w);
    expect(w2.ls.snapshots('s/1').latest()).toEqual({ index: 20, term: 3, meta: meta('cfg@20'), size: 3000 });
  });

  it('receives a snapshot in chunks; nothing is visible until finish, and abort leaves nothing', () => {
    const w = logWorld();
    w.settle();
    const store = w.ls.snapshots('s/1');
    const writer = store.beginWrite({ index: 30, term: 4, meta: meta('m') });
    const body = data(10_000, 3);
    const errors: (DiskError | null)[] = [];
    const step = (off: number): void => {
      if (off >= body.length) return writer.finish((e) => errors.push(e));
      writer.writeChunk(body.subarray(off, off + 4096), (e) => {
        errors.push(e);
        if (e === null) step(off + 4096);
      });
    };
    step(0);
    w.clock.runUntil(() => errors.length === 2);
    expect(store.latest()).toBeUndefined();
    expect(crashAndRestart(w).ls.snapshots('s/1').latest()).toBeUndefined();
    w.clock.runUntilIdle();
    expect(errors).toEqual([null, null, null, null]);
    expect(store.read(30)).toEqual(body);
    const aborted = store.beginWrite({ index: 40, term: 4, meta: meta('m') });
    aborted.writeChunk(data(100), () => {});
    w.clock.runUntilIdle();
    aborted.abort();
    w.clock.runUntilIdle();
    expect(w.disk.paths().filter((p) => p.includes('/snapshots/')).length).toBe(1);
    expect(store.latest()?.index).toBe(30);
  });

  it('a crash at any step of a save leaves the old snapshot or the new one, never a broken one', () => {
    const w = logWorld();
    w.settle();
    const store = w.ls.snapshots('s/1');
    save(w, store, 5, 1, data(2000));
    let done = false;
    store.save({ index: 9, term: 2, meta: meta('new') }, data(3000, 5), () => (done = true));
    const seen = new Set<number>();
    let step = 0;
    while (!done) {
      w.clock.step();
      const w2 = crashAndRestart(w, { seed: ++step });
      const s2 = w2.ls.snapshots('s/1');
      const latest = s2.latest();
      expect([5, 9]).toContain(latest?.index);
      seen.add(latest?.index as number);
      expect(s2.read(latest?.index as number)).toEqual(latest?.index === 5 ? data(2000) : data(3000, 5));
      expect(w2.disk.paths().some((p) => p.endsWith('.tmp'))).toBe(false);
    }
    expect([...seen].sort()).toEqual([5, 9]);
  });

  it("a new log's first snapshot makes its directories off the event loop, and a crash at any step keeps all of it or nothing", () => {
    const clock = new SimClock();
    const disk = new CountingDisk(clock, new SeededRandom(4));
    const w = logWorld({ clock, disk });
    w.settle();
    const store = w.ls.snapshots('fresh/1');
    const before = disk.syncCalls;
    let done = false;
    store.save({ index: 7, term: 1, meta: meta('first') }, data(2000), (err) => {
      expect(err).toBeNull();
      done = true;
    });
    let step = 0;
    while (!done) {
      w.clock.step();
      const latest = crashAndRestart(w, { seed: ++step }).ls.snapshots('fresh/1');
      const l = latest.latest();
      if (l !== undefined) expect(latest.read(7)).toEqual(data(2000));
    }
    expect(disk.syncCalls).toBe(before); // no synchronous mkdir or directory sync
    expect(crashAndRestart(w).ls.snapshots('fresh/1').latest()?.index).toBe(7);
  });

  it('a write aborted while its file is being created leaves nothing behind', () => {
    const w = logWorld();
    w.settle();
    const writer = w.ls.snapshots('s/9').beginWrite({ index: 3, term: 1, meta: meta('m') });
    const errors: (DiskError | null)[] = [];
    writer.writeChunk(data(10), (e) => errors.push(e));
    writer.abort();
    w.clock.runUntilIdle();
    expect(errors.map((e) => e?.errno)).toEqual(['ECANCELED']);
    expect(w.disk.paths().filter((p) => p.includes('/snapshots/'))).toEqual([]);
  });

  it('a write aborted with an operation in flight closes its file only after it, and leaves nothing behind', () => {
    for (const during of ['writeChunk', 'finish'] as const) {
      const w = logWorld();
      w.settle();
      const store = w.ls.snapshots(`s/${during}`);
      const writer = store.beginWrite({ index: 3, term: 1, meta: meta('m') });
      writer.writeChunk(data(100), () => {});
      w.clock.runUntilIdle();
      const errors: (DiskError | null)[] = [];
      if (during === 'writeChunk') writer.writeChunk(data(100), (e) => errors.push(e));
      else writer.finish((e) => errors.push(e));
      writer.abort(); // the write is in flight: its handle must stay open until it ends
      w.clock.runUntilIdle();
      // It ended as abandoned, not failed on a handle closed under it (EBADF).
      expect(errors.map((e) => e?.errno)).toEqual(['ECANCELED']);
      expect(w.disk.paths().filter((p) => p.includes('/snapshots/'))).toEqual([]);
      expect(store.latest()).toBeUndefined();
    }
  });

  it('a damaged snapshot is reported as corrupt, never returned', () => {
    const w = logWorld();
    w.settle();
    const store = w.ls.snapshots('s/1');
    save(w, store, 5, 1, data(2000));
    const path = w.disk.paths().find((p) => p.endsWith('.snap')) as string;
    w.disk.corrupt(path, 1000);
    const w2 = crashAndRestart(w);
    const s2 = w2.ls.snapshots('s/1');
    expect(s2.latest()?.index).toBe(5);
    expect(() => s2.read(5)).toThrow(expect.objectContaining({ code: 'corrupt' }));
    expect(() => s2.readChunk(5, 0, 10)).toThrow(expect.objectContaining({ code: 'corrupt' }));
    // Read in steps, the damage is found at the end, after every piece was read.
    const steps = s2.readSteps(5, 300);
    for (let n = 0; n < 6; n++) expect(steps.next()).toEqual({ done: false, value: undefined });
    expect(() => steps.next()).toThrow(expect.objectContaining({ code: 'corrupt' }));
  });

  it('reads a snapshot a piece per step, checked as a whole at the end', () => {
    const w = logWorld();
    w.settle();
    const store = w.ls.snapshots('s/1');
    save(w, store, 5, 1, data(2000));
    const steps = store.readSteps(5, 300);
    let pieces = 1;
    for (let r = steps.next(); ; r = steps.next(), pieces++) {
      if (r.done === true) {
        expect(r.value).toEqual(data(2000));
        break;
      }
    }
    expect(pieces).toBe(7); // 2000 bytes in pieces of 300
  });
});

describe('snapshot point', () => {
  const small = { walFileBytesMax: 4096, segmentEntriesMax: 30 };

  it('setSnapshotPoint drops the prefix from memory and deletes segment files wholly below it', () => {
    const w = logWorld({ log: small });
    w.settle();
    const log = w.open('s/1');
    for (let i = 1; i <= 200; i += 20) {
      log.append(makeEntries('s/1', i, i + 19, 1));
      w.settle();
    }
    const before = w.disk.paths().filter((p) => p.endsWith('.seg')).length;
    expect(save(w, w.ls.snapshots('s/1'), 150, 1, data(100))).toBeNull();
    log.setSnapshotPoint(150, 1);
    w.settle();
    expect(log.firstIndex).toBe(151);
    expect(log.term(150)).toBe(1);
    expect(log.term(149)).toBeUndefined();
    expect(log.entries(1, 200).map((e) => e.index)).toEqual(Array.from({ length: 50 }, (_, i) => 151 + i));
    const after = w.disk.paths().filter((p) => p.endsWith('.seg')).length;
    expect(after).toBeLessThan(before);
    expect(w.ls.stats().segments.filesDeleted).toBeGreaterThan(0);
    const w2 = crashAndRestart(w, { log: small });
    const log2 = w2.open('s/1');
    expect([log2.snapshotIndex, log2.firstIndex, log2.lastIndex]).toEqual([150, 151, 200]);
    expect(log2.entries(1, 300).every((e) => payloadMatches('s/1', e))).toBe(true);
  });

  it('resetTo installs a snapshot point beyond or conflicting with the log, durably', () => {
    const w = logWorld({ log: small });
    w.settle();
    const log = w.open('s/1');
    log.append(makeEntries('s/1', 1, 80, 1));
    w.settle();
    expect(save(w, w.ls.snapshots('s/1'), 60, 5, data(10))).toBeNull();
    log.resetTo(60, 5);
    expect([log.snapshotIndex, log.lastIndex, log.lastTerm, log.writtenIndex]).toEqual([60, 60, 5, 60]);
    expect(log.entries(1, 100)).toEqual([]);
    log.append(makeEntries('s/1', 61, 70, 5));
    w.settle();
    expect(log.writtenIndex).toBe(70);
    for (const torn of [false, true]) {
      const log2 = crashAndRestart(w, { torn, log: small }).open('s/1');
      expect([log2.snapshotIndex, log2.snapshotTerm, log2.lastIndex]).toEqual([60, 5, 70]);
      expect(log2.entries(1, 100).map((e) => e.term)).toEqual(Array<number>(10).fill(5));
    }
    // Push everything through segments; the old conflicting entries 61..80 must stay gone.
    const other = w.open('s/2');
    for (let i = 1; i <= 200; i += 20) {
      other.append(makeEntries('s/2', i, i + 19, 1));
      w.settle();
    }
    const log3 = crashAndRestart(w, { log: small }).open('s/1');
    expect([log3.snapshotIndex, log3.lastIndex]).toEqual([60, 70]);
    expect(log3.entries(61, 100).every((e) => e.term === 5 && payloadMatches('s/1', e))).toBe(true);
  });
});
