// A crash after every simulation step of a long run of writes from several
// logs: what a restart finds must hold every acknowledged entry, nothing
// corrupt, and form a log that existed.
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../../src/io/random.js';
import { SimClock } from '../../../src/io/sim_clock.js';
import { SimDisk } from '../../../src/io/sim_disk.js';
import type { GroupLog } from '../../../src/log/group_log.js';
import { crashAndRestart, logWorld, makeEntries, payloadMatches, type World } from './world.js';

interface Model {
  logId: string;
  term: number;
  /** Every (index, term) ever appended, with the term of the entry before it then. */
  history: Map<string, number>;
}

const options = { walFileBytesMax: 4096, segmentEntriesMax: 40, walBatchBytesMax: 2048 };

/** One Raft-like action on a log: mostly appends, sometimes a conflict (truncate, new term, append). */
function act(r: SeededRandom, log: GroupLog, m: Model): void {
  if (log.lastIndex > 3 && r.chance(0.06)) {
    const to = r.between(Math.max(log.snapshotIndex, log.lastIndex - 12), log.lastIndex - 1);
    log.truncateAfter(to);
    m.term++;
  }
  const n = r.between(1, 6);
  const entries = makeEntries(m.logId, log.lastIndex + 1, log.lastIndex + n, m.term, r.between(8, 120));
  let prev = log.lastTerm;
  for (const e of entries) {
    m.history.set(`${e.index}:${e.term}`, prev);
    prev = e.term;
  }
  log.append(entries);
}

/** What a restart after a crash at this instant must find. */
function checkRecovery(w: World, logs: Map<string, GroupLog>, models: Map<string, Model>, step: number, torn: boolean): void {
  const w2 = crashAndRestart(w, { torn, seed: step });
  for (const [logId, log] of logs) {
    const m = models.get(logId) as Model;
    const written = log.writtenIndex;
    const expected = log.entries(1, written);
    const r = w2.open(logId);
    const ctx = `step ${step} log ${logId} torn=${torn}`;
    expect(r.lastIndex, ctx).toBeGreaterThanOrEqual(written);
    const got = r.entries(1, r.lastIndex);
    expect(got.length, ctx).toBe(r.lastIndex);
    let prevTerm = 0;
    const problems: string[] = [];
    for (const e of got) {
      if (!payloadMatches(logId, e)) problems.push(`entry ${e.index} corrupt`);
      // Each entry must follow the entry it followed when appended: the log existed as a whole.
      const pred = m.history.get(`${e.index}:${e.term}`);
      if (pred === undefined) problems.push(`entry ${e.index}:${e.term} never existed`);
      else if (pred !== prevTerm) problems.push(`entry ${e.index}:${e.term} follows term ${prevTerm}, not ${pred}`);
      prevTerm = e.term;
    }
    for (const e of expected) if (got[e.index - 1]?.term !== e.term) problems.push(`acknowledged entry ${e.index}:${e.term} lost`);
    expect(problems, ctx).toEqual([]);
    expect(r.lastTerm, ctx).toBe(got[got.length - 1]?.term ?? 0);
  }
  const errors = w2.logger.records.filter((x) => x.level === 'error');
  expect(errors, `step ${step}`).toEqual([]);
  if (step % 97 === 0) {
    // The restarted node keeps working: it flushes what it recovered and acknowledges new writes.
    for (const [logId] of logs) {
      const r = w2.state.logs.get(logId) as GroupLog;
      r.append(makeEntries(logId, r.lastIndex + 1, r.lastIndex + 2, (models.get(logId) as Model).term + 1));
    }
    w2.settle();
    for (const r of w2.state.logs.values()) expect(r.writtenIndex).toBe(r.lastIndex);
  }
}

describe('crash after every step', () => {
  for (const seed of [1, 2]) {
    it(`loses only unacknowledged entries and recovers a consistent log (seed ${seed})`, () => {
      const r = new SeededRandom(seed * 1000);
      const w = logWorld({ seed, log: options });
      w.settle();
      const logs = new Map<string, GroupLog>();
      const models = new Map<string, Model>();
      for (const id of ['c1/n1', 'c2/n1', 'c3/n1']) {
        logs.set(id, w.open(id));
        models.set(id, { logId: id, term: 1, history: new Map() });
      }
      let steps = 0;
      let acted = 0;
      while (acted < 260 || !w.clock.idle()) {
        if (acted < 260 && r.chance(0.15)) {
          const id = r.pick([...logs.keys()]);
          act(r, logs.get(id) as GroupLog, models.get(id) as Model);
          acted++;
        }
        w.clock.step();
        steps++;
        checkRecovery(w, logs, models, steps, steps % 2 === 1);
      }
      expect(w.ls.stats().wal.rollovers).toBeGreaterThan(3);
      expect(w.ls.stats().segments.walFilesFlushed).toBeGreaterThan(2);
      for (const log of logs.values()) expect(log.writtenIndex).toBe(log.lastIndex);
    });
  }
});

describe('a WAL file prepared in the background', () => {
  // The WAL creates and zero-fills its next file ahead of time. A write that needs that file
  // before the preparation ends waits for it, and a failed preparation removes its file before
  // it says so (simulator, seed 147128: an unlink that landed after the WAL had opened the file
  // took the name of a live WAL file away, and a crash lost its synced entries). That race
  // depends on timing; the seed, in the regressions, reproduces it. This checks the outcome.
  it('whose preparation fails: the entries written while it failed survive a crash', () => {
    const clock = new SimClock();
    const disk = new SimDisk(clock, new SeededRandom(3));
    const w = logWorld({ disk, clock, log: { walFileBytesMax: 4096, walBatchBytesMax: 2048, walPreallocateBytes: 8 * 1024 * 1024 } });
    w.settle();
    const log = w.open('a/1');
    disk.failNext('sync', 'EIO', 1, '/data/wal/0000000000000002.wal'); // the preparation of the second file
    // More than a file's worth at once: the WAL moves to the second file.
    expect(log.append(makeEntries('a/1', 1, 80, 1))).toBe('ok');
    w.settle();
    expect(log.writtenIndex).toBe(80);
    const w2 = crashAndRestart(w);
    w2.settle();
    const again = w2.open('a/1');
    expect(again.lastIndex).toBe(80);
    expect(again.entries(1, 80).every((e) => payloadMatches('a/1', e))).toBe(true);
  });
});
