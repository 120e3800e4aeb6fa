// The WAL under pressure and under disk faults: backpressure with
// hysteresis, ENOSPC/EIO (typed errors, writers told, nothing unsynced
// acknowledged, resume once a retry succeeds), the mem-table budget, and a
// restart of the log actors.
import { describe, expect, it } from 'vitest';
import type { ActorRef } from '../../../src/actors/actor.js';
import type { DiskCallback, DiskError, DiskOp, FileHandle, OpenMode } from '../../../src/io/disk.js';
import { SeededRandom } from '../../../src/io/random.js';
import { SimClock } from '../../../src/io/sim_clock.js';
import { SimDisk, type SimFaultCode } from '../../../src/io/sim_disk.js';
import { walSpareName } from '../../../src/log/wal_format.js';
import { crashAndRestart, logTreeChild, logWorld, makeEntries, payloadMatches, type World } from './world.js';

describe('WAL backpressure', () => {
  it('tells writers to wait past walPendingBytesMax and to resume below half of it', () => {
    const w = logWorld({ log: { walPendingBytesMax: 8 * 1024, walBatchBytesMax: 4 * 1024 }, diskOptions: { slowSyncFactor: 20 } });
    w.settle();
    const log = w.open('p/1');
    const results: string[] = [];
    for (let i = 1; i <= 400; i += 20) results.push(log.append(makeEntries('p/1', i, i + 19, 1, 100)));
    w.clock.runUntil(() => w.state.changes.some((c) => c.change.type === 'wal_overloaded'));
    expect(log.append(makeEntries('p/1', 401, 410, 1, 100))).toBe('overloaded');
    w.settle();
    const kinds = w.state.changes.map((c) => c.change.type).filter((t) => t !== 'written');
    expect(kinds).toEqual(['wal_overloaded', 'wal_resumed']);
    expect(log.append(makeEntries('p/1', 411, 411, 1))).toBe('ok');
    w.settle();
    expect(log.writtenIndex).toBe(411);
    expect(w.ls.stats().wal.overloads).toBe(1);
  });
});

describe('WAL disk faults', () => {
  const cases: [DiskOp, SimFaultCode, string][] = [
    ['write', 'ENOSPC', 'disk_full'],
    ['write', 'EIO', 'disk_error'],
    ['sync', 'EIO', 'disk_error'],
    ['open', 'ENOSPC', 'disk_full'],
  ];
  for (const [op, errno, code] of cases) {
    it(`${op} ${errno}: typed error, writers told, nothing unsynced acknowledged, resumes when a retry succeeds`, () => {
      // With preallocation, opens happen ahead of time, off the critical path; this case wants the rollover's open.
      const opts = { walFileBytesMax: 4096, walBatchBytesMax: 1024, walRetryMs: 100, ...(op === 'open' ? { walPreallocateBytes: 0 } : {}) };
      const w = logWorld({ log: opts });
      w.settle();
      const log = w.open('f/1');
      log.append(makeEntries('f/1', 1, 10, 1));
      w.settle();
      w.state.changes.length = 0;
      w.disk.failAlways(op, errno, '/data/wal/');
      // Enough to need a new WAL file (for the open fault).
      for (let i = 11; i <= 90; i += 20) log.append(makeEntries('f/1', i, i + 19, 1));
      w.clock.runFor(1000);
      const down = w.state.changes.find((c) => c.change.type === 'wal_down')?.change;
      expect(down).toMatchObject({ type: 'wal_down', error: { code, errno } });
      expect(log.writtenIndex).toBeLessThan(90);
      const acked = log.writtenIndex;
      expect(log.append(makeEntries('f/1', 91, 95, 1))).toBe('unavailable');
      const errors = w.logger.records.filter((r) => r.level === 'error');
      expect(errors.length).toBe(1);
      expect(errors[0]?.fields).toMatchObject({ errno });
      // A crash now finds every acknowledged entry and nothing corrupt.
      const w2 = crashAndRestart(w, { log: opts });
      const got = w2.open('f/1').entries(1, 200);
      expect(got.length).toBeGreaterThanOrEqual(acked);
      expect(got.every((e) => payloadMatches('f/1', e))).toBe(true);
      // The fault clears: the WAL writes again and acknowledges everything.
      w.disk.clearFaults();
      w.settle();
      expect(w.state.changes.map((c) => c.change.type)).toContain('wal_up');
      expect(log.writtenIndex).toBe(95);
      expect(log.append(makeEntries('f/1', 96, 200, 1))).toBe('ok');
      w.settle();
      expect(log.writtenIndex).toBe(200);
      expect(w.logger.records.some((r) => r.msg === 'WAL writes again')).toBe(true);
      // No garbage was left in the middle of a WAL file: a restart reads everything back.
      const w3 = crashAndRestart(w, { log: opts });
      const all = w3.open('f/1').entries(1, 300);
      expect(all.map((e) => e.index)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(all.every((e) => payloadMatches('f/1', e))).toBe(true);
    });
  }

  it('a segment writer fault keeps the WAL files until it clears, and loses nothing', () => {
    const opts = { walFileBytesMax: 4096, walRetryMs: 100 };
    const w = logWorld({ log: opts });
    w.settle();
    const log = w.open('f/1');
    w.disk.failAlways('sync', 'EIO', '/data/groups/');
    for (let i = 1; i <= 200; i += 20) {
      log.append(makeEntries('f/1', i, i + 19, 1));
      w.clock.runFor(50);
    }
    expect(log.writtenIndex).toBe(200);
    expect(w.ls.stats().walFilesPending).toBeGreaterThan(1);
    expect(w.ls.stats().segments.failures).toBeGreaterThan(0);
    const w2 = crashAndRestart(w, { log: opts });
    expect(w2.open('f/1').entries(1, 300).length).toBe(200);
    w.disk.clearFaults();
    w.settle();
    expect(w.ls.stats().walFilesPending).toBe(0);
    expect(log.stats().memEntries).toBeLessThan(100);
    expect(log.entries(1, 300).every((e) => payloadMatches('f/1', e))).toBe(true);
  });
});

describe('segment writer faults', () => {
  it('files left by a failed wave that its retry no longer plans never hide newer segments', () => {
    // Log a/1 gets two segment files from the first WAL file (32 entries a file); the
    // wave fails on b/1's write, and a snapshot then covers everything a/1 had there,
    // so the retry plans nothing for a/1 and its two files stay behind. The entries
    // after the snapshot go to a new segment file when the next WAL file is flushed:
    // it must not get a number below the files left over (load applies files in
    // number order, so the stale file 2 would cut away what the new file 1 holds).
    const opts = { walFileBytesMax: 4096, segmentEntriesMax: 32, walRetryMs: 100 };
    const w = logWorld({ log: opts });
    w.settle();
    const a = w.open('a/1');
    const b = w.open('b/1');
    a.append(makeEntries('a/1', 1, 60, 1));
    b.append(makeEntries('b/1', 1, 5, 1));
    w.settle();
    w.disk.failNext('write', 'EIO', 1, '/data/groups/b%2F1/');
    b.append(makeEntries('b/1', 6, 6, 1)); // rolls the WAL over
    expect(w.clock.runUntil(() => w.ls.stats().segments.failures > 0)).toBe(true);
    expect(w.disk.paths().filter((p) => p.startsWith('/data/groups/a%2F1/') && p.endsWith('.seg')).length).toBe(2);
    let saved: DiskError | null | undefined;
    w.ls.snapshots('a/1').save({ index: 60, term: 1, meta: new Uint8Array(0) }, new Uint8Array(10), (e) => (saved = e));
    w.clock.runUntil(() => saved !== undefined);
    expect(saved).toBeNull();
    expect(w.ls.stats().segments.waves).toBe(0); // the retry has not run yet
    a.setSnapshotPoint(60, 1);
    a.append(makeEntries('a/1', 61, 80, 1));
    w.settle();
    for (let i = 7; i <= 200; i += 20) {
      b.append(makeEntries('b/1', i, i + 19, 1)); // more rollovers: a/1's 61..80 reach a segment
      w.settle();
    }
    expect(w.ls.stats().segments.walFilesFlushed).toBeGreaterThan(2);
    expect(a.stats().memEntries).toBe(0);
    // The files the failed wave left were deleted; the new one got the next number.
    expect(w.disk.paths().filter((p) => p.startsWith('/data/groups/a%2F1/') && p.endsWith('.seg'))).toEqual(['/data/groups/a%2F1/0000000003.seg']);
    const w2 = crashAndRestart(w, { log: opts });
    const got = w2.open('a/1').entries(1, 300);
    expect(got.map((e) => e.index)).toEqual(Array.from({ length: 20 }, (_, i) => i + 61));
    expect(got.every((e) => payloadMatches('a/1', e))).toBe(true);
  });
});

describe('mem-table budget', () => {
  it('past memTablesBytesMax the WAL rolls over early and segment flushing empties the mem tables', () => {
    const budget = 24 * 1024;
    const w = logWorld({ log: { memTablesBytesMax: budget, walFileBytesMax: 1024 * 1024 } });
    w.settle();
    const logs = ['m/1', 'm/2', 'm/3'].map((id) => w.open(id));
    let peak = 0;
    for (let i = 1; i <= 600; i += 10) {
      for (const log of logs) log.append(makeEntries(log.logId, i, i + 9, 1, 100));
      w.settle();
      peak = Math.max(peak, w.ls.stats().memBytes);
    }
    const s = w.ls.stats();
    expect(s.wal.pressureRollovers).toBeGreaterThan(3);
    expect(s.memBytes).toBeLessThan(budget * 2);
    expect(peak).toBeLessThan(budget * 3);
    for (const log of logs) {
      expect(log.writtenIndex).toBe(600);
      expect(log.entries(1, 600).every((e) => payloadMatches(log.logId, e))).toBe(true);
    }
  });
});

describe('log actors restart', () => {
  it('a crash of the WAL restarts the log tree; requests it had not written are rewritten and acknowledged', async () => {
    const w = logWorld({ log: { walFileBytesMax: 4096 } });
    w.settle();
    const log = w.open('x/1');
    log.append(makeEntries('x/1', 1, 50, 1));
    w.settle();
    const { child: wal } = await logTreeChild(w, 'wal');
    log.append(makeEntries('x/1', 51, 60, 1));
    log.truncateAfter(55);
    log.append(makeEntries('x/1', 56, 70, 2));
    w.system.stop(wal, new Error('injected crash')).catch(() => {});
    w.settle();
    expect(w.system.isAlive(wal)).toBe(false);
    expect(log.writtenIndex).toBe(70);
    log.append(makeEntries('x/1', 71, 120, 2));
    w.settle();
    expect(log.writtenIndex).toBe(120);
    const w2 = crashAndRestart(w, { log: { walFileBytesMax: 4096 } });
    const got = w2.open('x/1').entries(1, 200);
    expect(got.map((e) => e.term)).toEqual([...Array<number>(55).fill(1), ...Array<number>(65).fill(2)]);
    expect(got.every((e) => payloadMatches('x/1', e))).toBe(true);
  });
});

describe('a WAL restarted while the disk failed', () => {
  it('tells its writers it writes again: the dead instance that told them it was down never would', async () => {
    const w = logWorld({ log: { walRetryMs: 100 } });
    w.settle();
    const log = w.open('d/1');
    log.append(makeEntries('d/1', 1, 10, 1));
    w.settle();
    w.disk.failAlways('sync', 'EIO', '/data/wal/');
    log.append(makeEntries('d/1', 11, 20, 1));
    w.clock.runFor(300);
    expect(w.state.changes.map((c) => c.change.type)).toContain('wal_down');
    expect(log.append(makeEntries('d/1', 21, 21, 1))).toBe('unavailable');
    w.disk.clearFaults();
    w.state.changes.length = 0;
    const { child: wal } = await logTreeChild(w, 'wal');
    w.system.stop(wal, new Error('injected crash')).catch(() => {});
    w.settle();
    expect(w.state.changes.map((c) => c.change.type)).toContain('wal_up');
    expect(log.writtenIndex).toBe(21); // the append refused as unavailable was kept, to be written once the WAL is up
    expect(log.append(makeEntries('d/1', 22, 30, 1))).toBe('ok');
    w.settle();
    expect(log.writtenIndex).toBe(30);
  });
});

describe('a WAL restarted while the disk is full', () => {
  it('waits with its writers told, and resumes once a retry succeeds, where it crashed until the node stopped', async () => {
    const w = logWorld({ log: { walRetryMs: 100 } });
    w.settle();
    const log = w.open('e/1');
    log.append(makeEntries('e/1', 1, 10, 1));
    w.settle();
    w.disk.failAlways('sync', 'ENOSPC', '/data/wal/');
    log.append(makeEntries('e/1', 11, 20, 1));
    w.clock.runFor(300);
    const { sup, child: wal } = await logTreeChild(w, 'wal');
    w.state.changes.length = 0;
    w.system.stop(wal, new Error('injected crash')).catch(() => {});
    w.clock.runFor(1000); // its successor cannot sync its predecessor's file: retried every 100 ms
    expect(w.system.isAlive(sup)).toBe(true);
    expect(w.state.changes.map((c) => c.change.type)).toContain('wal_down');
    expect(log.writtenIndex).toBe(10);
    expect(log.append(makeEntries('e/1', 21, 25, 1))).toBe('unavailable');
    w.disk.clearFaults();
    w.settle();
    expect(w.state.changes.map((c) => c.change.type).slice(-2)).toEqual(['wal_up', 'written']);
    expect(log.writtenIndex).toBe(25);
    const all = crashAndRestart(w).open('e/1').entries(1, 100);
    expect(all.map((e) => e.index)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(all.every((e) => payloadMatches('e/1', e))).toBe(true);
  });
});

describe('a log opened while the log tree restarts', () => {
  it('opens, and what it appends meanwhile is written by the next WAL', async () => {
    const w = logWorld({ diskOptions: { slowSyncFactor: 50 } });
    w.settle();
    const log = w.open('o/1');
    log.append(makeEntries('o/1', 1, 10, 1));
    w.settle();
    w.ls.metaStore().store('o/1', 2, null, w.owner, 't'); // the meta store has a sync in flight: the tree takes a while to stop
    w.clock.runFor(0.01);
    const { child: wal } = await logTreeChild(w, 'wal');
    w.system.stop(wal, new Error('injected crash')).catch(() => {});
    w.clock.runUntil(() => !w.system.isAlive(wal) && w.ls.treeActors().wal === wal);
    // The WAL is down and its successor not started yet: a member restarted now opens its log.
    const other = w.open('o/2');
    expect(other.append(makeEntries('o/2', 1, 5, 1))).toBe('ok');
    w.settle();
    expect(w.ls.treeActors().wal).not.toBe(wal);
    expect(other.writtenIndex).toBe(5);
    expect(crashAndRestart(w).open('o/2').entries(1, 10).length).toBe(5);
  });
});

describe('segments behind an older WAL file after a restart and a crash', () => {
  it('are filled in from memory first, where the segment writer asserted on the gap', async () => {
    const w = logWorld({ log: { walFileBytesMax: 4096 } });
    w.settle();
    // An owner that never takes segments_flushed: memory keeps every entry, as a member's
    // mem table does while the segment writer's notices are on their way.
    const log = w.ls.openLog('q/1', w.owner);
    for (let i = 1; i <= 40; i += 5) {
      log.append(makeEntries('q/1', i, i + 4, 1, 200));
      w.settle();
    }
    expect(w.ls.stats().segments.walFilesFlushed).toBeGreaterThan(0); // segments hold a prefix
    // The segment writer stalls; the WAL restarts and writes every mem table again into a new
    // file (a cut at the start of memory, then entries 1..40), after the older files still to flush.
    w.disk.failAlways('write', 'ENOSPC', '/data/groups');
    const { child: wal } = await logTreeChild(w, 'wal');
    w.system.stop(wal, new Error('injected crash')).catch(() => {});
    w.clock.runFor(50);
    // A crash: recovery serves segments only up to where memory's copy starts (none of them),
    // below an older WAL file's range.
    const w2 = crashAndRestart(w, { log: { walFileBytesMax: 4096 } });
    w2.settle();
    expect(w2.logger.records.filter((r) => r.level === 'error')).toEqual([]);
    const again = w2.open('q/1');
    const all = again.entries(1, 100);
    expect(all.map((e) => e.index)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(all.every((e) => payloadMatches('q/1', e))).toBe(true);
    expect(w2.ls.stats().segments.walFilesFlushed).toBeGreaterThan(0);
  });
});

describe('a WAL writer restarted in a running node', () => {
  it('keeps its last file when cutting that file back fails: a second restart does not take it for a stray', async () => {
    const w = logWorld();
    w.settle();
    const log = w.open('y/1');
    log.append(makeEntries('y/1', 1, 20, 1));
    w.settle();
    expect(log.writtenIndex).toBe(20);
    const active = w.disk.paths().filter((p) => /\/data\/wal\/\d+\.wal$/.test(p));
    expect(active).toEqual(['/data/wal/0000000000000001.wal']);
    const { child: wal } = await logTreeChild(w, 'wal');
    // The successor cuts the file back to what was synced, and that sync fails once: it waits
    // (it used to fail to start) and its next attempt must still count the file as the dead
    // writer's (one deleted it as a stray, and until the entries were written again elsewhere,
    // which the failing syncs of the next file hold off here, a crash lost them).
    w.disk.failNext('sync', 'EIO', 1, active[0] as string);
    w.disk.failAlways('sync', 'EIO', '/data/wal/0000000000000002');
    w.system.stop(wal, new Error('injected crash')).catch(() => {});
    w.clock.runFor(2000);
    expect(w.logger.records.some((r) => r.msg === 'child failed to start')).toBe(false);
    expect(w.logger.records.some((r) => r.msg.startsWith('WAL cannot write'))).toBe(true);
    expect(crashAndRestart(w).open('y/1').entries(1, 100).length).toBe(20);
  });
});

describe('a WAL restarted while its next file is being prepared', () => {
  // The first instance's preparation of a spare for WAL file 1 is held at its open.
  const first = `/data/wal/${walSpareName(1)}`;
  class HeldOpen extends SimDisk {
    held: (() => void) | undefined;
    override open(path: string, mode: OpenMode, cb: DiskCallback<FileHandle>): void {
      if (path === first && this.held === undefined) this.held = () => super.open(path, mode, cb);
      else super.open(path, mode, cb);
    }
  }
  async function heldWorld(): Promise<{ w: World; disk: HeldOpen; wal: ActorRef }> {
    const clock = new SimClock();
    const disk = new HeldOpen(clock, new SeededRandom(5));
    const w = logWorld({ clock, disk });
    w.settle();
    expect(disk.held).toBeDefined();
    const { child: wal } = await logTreeChild(w, 'wal');
    return { w, disk, wal };
  }

  it('a crashing WAL waits for its preparation before its successor starts', async () => {
    const { w, disk, wal } = await heldWorld();
    w.system.stop(wal, new Error('injected crash')).catch(() => {});
    w.settle();
    expect(w.system.isAlive(wal)).toBe(true); // terminating: the preparation is under way
    disk.held?.();
    w.settle();
    expect(w.system.isAlive(wal)).toBe(false);
    const log = w.open('z/2');
    log.append(makeEntries('z/2', 1, 20, 1));
    w.settle();
    expect(log.writtenIndex).toBe(20);
    expect(crashAndRestart(w).open('z/2').entries(1, 100).length).toBe(20);
  });

  it('a killed one leaves that spare to the dead instance: the zeros it still writes never land over records', async () => {
    const { w, disk, wal } = await heldWorld();
    w.system.stop(wal, 'killed').catch(() => {}); // no terminate: the preparation goes on alone
    w.settle();
    const log = w.open('z/1');
    log.append(makeEntries('z/1', 1, 20, 1));
    w.settle();
    expect(log.writtenIndex).toBe(20);
    disk.held?.(); // the dead instance's preparation goes on: open, zeros, sync
    w.settle();
    log.append(makeEntries('z/1', 21, 30, 1));
    w.settle();
    expect(log.writtenIndex).toBe(30);
    const got = crashAndRestart(w).open('z/1').entries(1, 100);
    expect(got.length).toBe(30);
    expect(got.every((e) => payloadMatches('z/1', e))).toBe(true);
  });
});

describe('a WAL restarted in a running node, then a power loss at any point', () => {
  it('writes again only what was not durable: however the copy is torn, every acknowledged entry stays', async () => {
    const w = logWorld({ log: { walFileBytesMax: 64 * 1024 } });
    w.settle();
    const log = w.open('r/1');
    log.append(makeEntries('r/1', 1, 40, 1));
    w.settle();
    expect(log.writtenIndex).toBe(40);
    log.append(makeEntries('r/1', 41, 45, 1)); // not yet durable when the WAL dies
    const { child: wal } = await logTreeChild(w, 'wal');
    w.system.stop(wal, new Error('injected crash')).catch(() => {});
    // Power loss after each step of the restart and the rewrite, each time with a torn last write.
    let crashes = 0;
    for (let more = true; more; crashes++) {
      more = w.clock.step();
      const acked = log.writtenIndex;
      const after = crashAndRestart(w, { torn: true, seed: crashes });
      const got = after.open('r/1').entries(1, 100);
      expect(got.length, `power loss ${crashes}, ${acked} acknowledged`).toBeGreaterThanOrEqual(acked);
      expect(got.every((e) => payloadMatches('r/1', e))).toBe(true);
    }
    expect(log.writtenIndex).toBe(45);
    expect(crashes).toBeGreaterThan(10);
  });

  it('after a cut below what was durable, writes the log again from the cut, and keeps what was acknowledged', async () => {
    const w = logWorld({ log: { walFileBytesMax: 64 * 1024 } });
    w.settle();
    const log = w.open('r/2');
    log.append(makeEntries('r/2', 1, 40, 1));
    w.settle();
    log.truncateAfter(30); // a Raft conflict: 31..40 go, 31..36 of term 2 come
    log.append(makeEntries('r/2', 31, 36, 2));
    const { child: wal } = await logTreeChild(w, 'wal');
    w.system.stop(wal, new Error('injected crash')).catch(() => {});
    const expected = (i: number): number => (i <= 30 ? 1 : 2);
    let crashes = 0;
    for (let more = true; more; crashes++) {
      more = w.clock.step();
      const acked = log.writtenIndex;
      const got = crashAndRestart(w, { torn: true, seed: 100 + crashes }).open('r/2').entries(1, 100);
      expect(got.slice(0, acked).map((e) => e.term), `power loss ${crashes}, ${acked} acknowledged`).toEqual(Array.from({ length: acked }, (_, i) => expected(i + 1)));
      expect(got.every((e) => payloadMatches('r/2', e))).toBe(true);
    }
    expect(log.writtenIndex).toBe(36);
  });

  it('counts a log read back at start-up as durable: restarted, it is not written again, so no tear can cut it', async () => {
    const first = logWorld({ log: { walFileBytesMax: 64 * 1024 } });
    first.settle();
    first.open('r/3').append(makeEntries('r/3', 1, 40, 1));
    first.settle();
    const w = crashAndRestart(first, { log: { walFileBytesMax: 64 * 1024 } });
    w.disk.failAlways('write', 'ENOSPC', '/data/groups'); // memory keeps the log: no segment flush
    w.clock.runFor(100); // not settle: the segment writer retries for ever
    const log = w.open('r/3');
    expect(log.writtenIndex).toBe(40);
    const { child: wal } = await logTreeChild(w, 'wal');
    w.system.stop(wal, new Error('injected crash')).catch(() => {});
    // The segment writer retries for ever: the steps of the restart and its rewrite come first.
    for (let crashes = 0; crashes < 200 && w.clock.step(); crashes++) {
      const after = crashAndRestart(w, { torn: true, seed: 200 + crashes });
      after.disk.clearFaults();
      expect(after.open('r/3').entries(1, 100).length, `power loss ${crashes}`).toBe(40);
    }
  });
});
