// Truncation (a Raft conflict): across segment boundaries, across WAL
// rollover and restart, against a segment flush racing it, and against a
// late `written` notification (ra issue #516).
import { describe, expect, it } from 'vitest';
import type { GroupLog } from '../../../src/log/group_log.js';
import { crashAndRestart, logWorld, makeEntries, payloadMatches, type World } from './world.js';

const small = { walFileBytesMax: 4096, segmentEntriesMax: 40 };

/** Appends from..to in batches, letting the node run after each (until idle, or for 50 ms while faults keep it busy). */
function appendAll(w: World, log: GroupLog, from: number, to: number, term: number, step = 20, idle = true): void {
  for (let i = from; i <= to; i += step) {
    log.append(makeEntries(log.logId, i, Math.min(to, i + step - 1), term));
    if (idle) w.settle();
    else w.clock.runFor(50);
  }
}

function terms(log: GroupLog): number[] {
  const es = log.entries(1, log.lastIndex);
  expect(es.every((e) => payloadMatches(log.logId, e))).toBe(true);
  return es.map((e) => e.term);
}

const runOf = (term: number, n: number): number[] => Array.from({ length: n }, () => term);

describe('truncateAfter', () => {
  it('truncates into segment files, then appends across a segment boundary, and a restart agrees', () => {
    const w = logWorld({ log: small });
    w.settle();
    const log = w.open('t/1');
    appendAll(w, log, 1, 120, 1);
    expect(log.stats().segments).toBeGreaterThanOrEqual(2);
    log.truncateAfter(70);
    expect(log.lastIndex).toBe(70);
    expect(log.writtenIndex).toBe(70);
    expect(log.entry(71)).toBeUndefined();
    appendAll(w, log, 71, 100, 2);
    expect(terms(log)).toEqual([...runOf(1, 70), ...runOf(2, 30)]);
    log.truncateAfter(30);
    appendAll(w, log, 31, 90, 3);
    const want = [...runOf(1, 30), ...runOf(3, 60)];
    expect(terms(log)).toEqual(want);
    for (const torn of [false, true]) {
      const w2 = crashAndRestart(w, { torn, log: small });
      const log2 = w2.open('t/1');
      expect(terms(log2)).toEqual(want);
      // Flushing what was recovered keeps the same log.
      appendAll(w2, log2, 91, 95, 3);
      expect(terms(log2)).toEqual([...want, ...runOf(3, 5)]);
      const w3 = crashAndRestart(w2, { log: small });
      expect(terms(w3.open('t/1'))).toEqual([...want, ...runOf(3, 5)]);
    }
  });

  it('a truncation with nothing after it survives WAL rollover, segment flush and restart', () => {
    const w = logWorld({ log: small });
    w.settle();
    const log = w.open('t/1');
    const other = w.open('t/2');
    appendAll(w, log, 1, 100, 1);
    log.truncateAfter(50);
    // Fill several WAL files with another log so that the file holding the truncation is flushed and deleted.
    appendAll(w, other, 1, 300, 1);
    expect(w.ls.stats().walFilesPending).toBe(0);
    const w2 = crashAndRestart(w, { log: small });
    const log2 = w2.open('t/1');
    expect(log2.lastIndex).toBe(50);
    expect(terms(log2)).toEqual(runOf(1, 50));
    expect(w2.disk.paths().filter((p) => p.startsWith('/data/wal/')).length).toBeLessThanOrEqual(2);
  });

  it('a flush of an older WAL file after a deeper truncation never mixes old and new entries', () => {
    const w = logWorld({ log: small });
    w.settle();
    const log = w.open('t/1');
    appendAll(w, log, 1, 80, 1);
    // Let the first files reach segments, then hold the segment writer back.
    expect(log.stats().segments).toBeGreaterThan(0);
    w.disk.failAlways('open', 'EIO', '/data/groups/');
    appendAll(w, log, 81, 160, 1, 20, false);
    expect(w.ls.stats().walFilesPending).toBeGreaterThan(0);
    // A conflict reaching below the pending files; the WAL cannot make it durable.
    w.disk.failAlways('sync', 'EIO', '/data/wal/');
    log.truncateAfter(30);
    log.append(makeEntries('t/1', 31, 150, 2));
    w.clock.runFor(10);
    expect(log.writtenIndex).toBe(30);
    // The segment writer now flushes the older files while memory holds the new term;
    // it keeps those WAL files until the truncation is durable.
    const wavesBefore = w.ls.stats().segments.waves;
    const pending = w.ls.stats().walFilesPending;
    w.disk.clearFaults('/data/groups/');
    w.clock.runFor(2000);
    expect(w.ls.stats().segments.waves).toBeGreaterThan(wavesBefore);
    const w2 = crashAndRestart(w, { log: small });
    const got = w2.open('t/1').entries(1, 1000);
    // Whatever survived is one log that existed: old entries then nothing, or the new term from 31 on.
    let prev = 0;
    for (const e of got) {
      expect(payloadMatches('t/1', e)).toBe(true);
      if (e.index <= 30) expect(e.term).toBe(1);
      else expect(e.term === 1 ? prev === 1 : prev === 2 || e.index === 31).toBe(true);
      prev = e.term;
    }
    expect(got.length).toBeGreaterThanOrEqual(30);
    expect(got.slice(30).every((e) => e.term === got[30]?.term)).toBe(true);
    expect(w.ls.stats().walFilesPending).toBe(pending);
    // Once the WAL writes again, the truncation becomes durable and everything reaches segments.
    w.disk.clearFaults();
    w.settle();
    expect(log.writtenIndex).toBe(150);
    const want = [...runOf(1, 30), ...runOf(2, 120)];
    expect(terms(log)).toEqual(want);
    // Push the file holding the truncation through the segment writer too, then restart from segments alone.
    appendAll(w, w.open('t/2'), 1, 200, 1);
    expect(w.ls.stats().walFilesPending).toBe(0);
    expect(terms(log)).toEqual(want);
    const w3 = crashAndRestart(w, { log: small });
    expect(terms(w3.open('t/1'))).toEqual(want);
  });

  it('ignores a written notification that arrives after a truncation and re-append at a new term (ra #516)', () => {
    const w = logWorld();
    w.settle();
    // Not registered with the owner: the test delivers the notifications itself, late.
    const log = w.ls.openLog('t/1', w.owner);
    log.append(makeEntries('t/1', 1, 10, 1));
    w.settle();
    log.truncateAfter(5);
    log.append(makeEntries('t/1', 6, 12, 2));
    w.settle();
    const [late, current] = w.state.events;
    expect(late).toMatchObject({ type: 'written', from: 1, to: 10, term: 1 });
    expect(current).toMatchObject({ type: 'written', from: 6, to: 12, term: 2 });
    // Entry 10 is term 2 now; the notification for the old term-1 entry 10 must not mark it durable.
    expect(log.handle(late!)).toBeUndefined();
    expect(log.writtenIndex).toBe(0);
    expect(log.handle(current!)).toEqual({ type: 'written', index: 12, term: 2 });
    expect(log.writtenIndex).toBe(12);
    // A stale notification after a later truncation is ignored too; writtenIndex fell to the truncation point.
    log.truncateAfter(8);
    expect(log.writtenIndex).toBe(8);
    log.append(makeEntries('t/1', 9, 12, 3));
    expect(log.handle(current!)).toBeUndefined();
    expect(log.writtenIndex).toBe(8);
    w.settle();
    expect(log.handle(w.state.events[2]!)).toEqual({ type: 'written', index: 12, term: 3 });
  });
});
