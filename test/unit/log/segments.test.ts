import { describe, expect, it } from 'vitest';
import type { DiskError } from '../../../src/io/disk.js';
import type { LogEntry } from '../../../src/log/events.js';
import { Owner, crashAndRestart, logWorld, makeEntries, payloadMatches, type OwnerState } from './world.js';

const small = { walFileBytesMax: 4096, segmentEntriesMax: 50 };

describe('segments', () => {
  it('rolls over, flushes to segments, drops mem, reads back from segments and after restart', () => {
    const w = logWorld({ log: small });
    w.settle();
    const log = w.open('a/1');
    for (let i = 0; i < 20; i++) {
      log.append(makeEntries('a/1', i * 25 + 1, i * 25 + 25, 1));
      w.settle();
    }
    expect(log.writtenIndex).toBe(500);
    expect(w.ls.stats().wal.rollovers).toBeGreaterThan(5);
    expect(w.ls.stats().segments.walFilesFlushed).toBeGreaterThan(5);
    expect(log.stats().memEntries).toBeLessThan(100);
    expect(log.stats().segments).toBeGreaterThan(5);
    const all = log.entries(1, 500);
    expect(all.length).toBe(500);
    expect(all.every((e) => payloadMatches('a/1', e))).toBe(true);
    expect(log.term(1)).toBe(1);
    const w2 = crashAndRestart(w, { log: small });
    w2.settle();
    const log2 = w2.open('a/1');
    expect(log2.lastIndex).toBe(500);
    const all2 = log2.entries(1, 500);
    expect(all2.map((e) => e.index)).toEqual(all.map((e) => e.index));
    expect(all2.every((e) => payloadMatches('a/1', e))).toBe(true);
    expect(w.logger.records.filter((r) => r.level === 'error' || r.level === 'warn')).toEqual([]);
  });

  it("many logs' first flush creates their directories durably: a crash after the WAL file went loses nothing", () => {
    const w = logWorld({ log: { walFileBytesMax: 16 * 1024 } });
    w.settle();
    const ids = Array.from({ length: 30 }, (_, i) => `g${i}/1`);
    const logs = ids.map((id) => w.open(id));
    for (let round = 0; round < 3; round++) {
      logs.forEach((log, i) => log.append(makeEntries(ids[i] as string, round * 10 + 1, round * 10 + 10, 1)));
      w.settle();
    }
    expect(w.ls.stats().segments.walFilesFlushed).toBeGreaterThan(0);
    expect(w.disk.listSync('/data/groups').length).toBe(30);
    const w2 = crashAndRestart(w);
    w2.settle();
    for (const id of ids) {
      const log = w2.open(id);
      expect(log.lastIndex).toBe(30);
      expect(log.entries(1, 30).every((e) => payloadMatches(id, e))).toBe(true);
    }
  });

  it('writes a file in chunks of at most segmentChunkBytesMax, each encoded just before its write', () => {
    const opts = { walFileBytesMax: 1024 * 1024, segmentChunkBytesMax: 64 * 1024 };
    const w = logWorld({ log: opts });
    w.settle();
    const log = w.open('c/1');
    for (let i = 1; i <= 420; i += 20) {
      log.append(makeEntries('c/1', i, i + 19, 1, 10_000)); // 4 MB in all: WAL rollovers
      w.settle();
    }
    expect(w.ls.stats().segments.walFilesFlushed).toBeGreaterThanOrEqual(2);
    const segs = w.disk.paths().filter((p) => p.endsWith('.seg'));
    expect(segs.length).toBe(1); // one file, many chunks
    const st = w.ls.stats().segments;
    expect(st.chunks).toBeGreaterThanOrEqual(Math.ceil(st.bytes / (64 * 1024)));
    expect(st.bytes / st.chunks).toBeLessThanOrEqual(64 * 1024);
    const check = (l: typeof log): void => {
      const got = l.entries(1, 420);
      expect(got.map((e) => e.index)).toEqual(Array.from({ length: 420 }, (_, k) => k + 1));
      expect(got.every((e) => payloadMatches('c/1', e))).toBe(true);
    };
    check(log);
    check(crashAndRestart(w, { log: opts }).open('c/1'));
  });

  it('holds more than 65,536 entries in one chunk and one segment file (counts are 32-bit)', () => {
    const opts = { walFileBytesMax: 2_900_000, segmentEntriesMax: 100_000, segmentChunkBytesMax: 4 * 1024 * 1024, walBatchBytesMax: 256 * 1024 };
    const w = logWorld({ log: opts });
    w.settle();
    const log = w.open('big/1');
    const payload = new Uint8Array(8);
    const n = 80_000;
    for (let i = 1; i <= n; i += 5000) {
      const batch: LogEntry[] = [];
      for (let k = i; k < i + 5000; k++) {
        const p = payload.slice();
        new DataView(p.buffer).setUint32(0, k, true);
        batch.push({ index: k, term: 1, payload: p });
      }
      log.append(batch);
      w.settle();
    }
    expect(w.ls.stats().segments.walFilesFlushed).toBeGreaterThanOrEqual(1);
    const segs = w.disk.paths().filter((p) => p.endsWith('.seg'));
    expect(segs.length).toBe(1);
    // The first WAL file held over 70,000 entries of this log: one chunk.
    expect(w.ls.stats().segments.chunks).toBe(1);
    expect(w.ls.stats().segments.entries).toBeGreaterThan(65_536);
    const check = (l: typeof log): void => {
      for (const i of [1, 65_535, 65_536, 65_537, 70_000, n]) {
        const e = l.entry(i) as LogEntry;
        expect(new DataView(e.payload.buffer, e.payload.byteOffset).getUint32(0, true)).toBe(i);
      }
    };
    check(log);
    const log2 = crashAndRestart(w, { log: opts }).open('big/1');
    expect(log2.lastIndex).toBe(n);
    check(log2);
  });

  it('reads ranges across segments and memory within a byte budget', () => {
    const w = logWorld({ log: small });
    w.settle();
    const log = w.open('a/1');
    for (let i = 1; i <= 200; i += 25) {
      log.append(makeEntries('a/1', i, i + 24, 1, 100));
      w.settle();
    }
    expect(log.entries(10, 5)).toEqual([]);
    expect(log.entries(195, 999).map((e) => e.index)).toEqual([195, 196, 197, 198, 199, 200]);
    const some = log.entries(1, 200, 1000);
    expect(some.length).toBe(10);
    expect(log.entries(1, 200, 10).length).toBe(1);
    const all = log.entries(1, 200);
    expect(all.length).toBe(200);
    expect(log.entry(0)).toBeUndefined();
    expect(log.entry(201)).toBeUndefined();
    expect(log.term(0)).toBe(0);
    expect(log.stats()).toMatchObject({ logId: 'a/1', firstIndex: 1, lastIndex: 200, writtenIndex: 200 });
  });

  it('a reopened log (restarted server) is bound to the new owner; the old GroupLog stops working', () => {
    const w = logWorld();
    w.settle();
    const log = w.open('a/1');
    log.append(makeEntries('a/1', 1, 5, 1));
    const state2: OwnerState = { logs: new Map(), changes: [], events: [], meta: [] };
    const owner2 = w.system.spawn(Owner, state2);
    const log2 = w.ls.openLog('a/1', owner2);
    state2.logs.set('a/1', log2);
    expect(() => log.lastIndex + log.append([])).toThrow(/replaced/);
    expect(log2.lastIndex).toBe(5);
    w.settle();
    expect(log2.writtenIndex).toBe(5);
    expect(state2.changes.map((c) => c.change)).toEqual([{ type: 'written', index: 5, term: 1 }]);
    expect(w.ls.logIds()).toEqual(['a/1']);
  });

  it('deleteLog removes the files, the mem table and the meta; the id can be used again afterwards', () => {
    const w = logWorld({ log: small });
    w.settle();
    const log = w.open('d/1');
    for (let i = 1; i <= 100; i += 25) {
      log.append(makeEntries('d/1', i, i + 24, 1));
      w.settle();
    }
    w.ls.metaStore().store('d/1', 3, 'n1', w.owner, 0);
    let saved: DiskError | null | undefined;
    w.ls.snapshots('d/1').save({ index: 50, term: 1, meta: new Uint8Array(0) }, new Uint8Array(10), (e) => (saved = e));
    w.settle();
    expect(saved).toBeNull();
    let deleted: DiskError | null | undefined;
    w.ls.deleteLog('d/1', (e) => (deleted = e));
    expect(() => log.entries(1, 2)).toThrow();
    w.settle();
    expect(deleted).toBeNull();
    expect(w.disk.paths().filter((p) => p.includes('d%2F1'))).toEqual([]);
    expect(w.ls.metaStore().fetch('d/1')).toEqual({ term: 0, votedFor: null });
    expect(w.ls.logIds()).toEqual([]);
    const w2 = crashAndRestart(w, { log: small });
    expect(w2.ls.logIds()).toEqual([]);
    // The replay met the delete record: the restarted node finishes the deletion before the id is free.
    w2.settle();
    const again = w2.open('d/1');
    expect([again.lastIndex, again.snapshotIndex]).toEqual([0, 0]);
    again.append(makeEntries('d/1', 1, 3, 7));
    w2.settle();
    const w3 = crashAndRestart(w2, { log: small });
    expect(w3.open('d/1').entries(1, 10).map((e) => e.term)).toEqual([7, 7, 7]);
  });

  it('whenDeleted waits for a deletion that the WAL replay found to finish: the log opens again only after it', () => {
    const w = logWorld({ log: small });
    w.settle();
    w.open('d/1').append(makeEntries('d/1', 1, 50, 1));
    w.settle();
    w.ls.deleteLog('d/1', () => {});
    w.settle();
    const w2 = crashAndRestart(w, { log: small });
    let free = false;
    w2.ls.whenDeleted('d/1', () => (free = true));
    expect(free).toBe(false);
    expect(() => w2.open('d/1')).toThrow(/being deleted/);
    w2.settle();
    expect(free).toBe(true);
    let atOnce = false;
    w2.ls.whenDeleted('d/1', () => (atOnce = true));
    expect(atOnce).toBe(true);
    expect(w2.open('d/1').lastIndex).toBe(0);
  });

  it('a crash at any step of deleteLog leaves the log whole or deleted, and a restart finishes the deletion', () => {
    const w = logWorld({ log: small });
    w.settle();
    const log = w.open('d/1');
    for (let i = 1; i <= 100; i += 25) {
      log.append(makeEntries('d/1', i, i + 24, 1));
      w.settle();
    }
    w.ls.deleteLog('d/1', () => {});
    const outcomes = new Set<string>();
    let step = 0;
    while (!w.clock.idle()) {
      w.clock.step();
      const w2 = crashAndRestart(w, { seed: ++step, log: small });
      w2.settle();
      if (w2.ls.logIds().includes('d/1')) {
        const got = w2.open('d/1').entries(1, 200);
        expect(got.length).toBe(100);
        expect(got.every((e) => payloadMatches('d/1', e))).toBe(true);
        outcomes.add('whole');
      } else {
        expect(w2.disk.paths().filter((p) => p.includes('d%2F1'))).toEqual([]);
        outcomes.add('deleted');
      }
    }
    expect([...outcomes].sort()).toEqual(['deleted', 'whole']);
  });
});
