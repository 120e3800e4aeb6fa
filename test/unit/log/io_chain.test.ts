import { describe, expect, it } from 'vitest';
import { DiskError } from '../../../src/io/disk.js';
import { runParallel, type Step } from '../../../src/log/io_chain.js';

/** Steps that finish only when the test says so, recording how many run at once. */
function gate() {
  const waiting: ((err: DiskError | null) => void)[] = [];
  let running = 0;
  let most = 0;
  const step: Step = (next) => {
    running++;
    most = Math.max(most, running);
    waiting.push((err) => {
      running--;
      next(err);
    });
  };
  return { step, waiting, most: () => most };
}

describe('runParallel', () => {
  it('runs at most `limit` sequences at a time and ends once all have', () => {
    const g = gate();
    const ended: (DiskError | null)[] = [];
    runParallel(Array.from({ length: 5 }, () => [g.step, g.step]), (err) => ended.push(err), 2);
    let turns = 0;
    while (g.waiting.length > 0) {
      (g.waiting.shift() as (err: DiskError | null) => void)(null);
      turns++;
    }
    expect(turns).toBe(10);
    expect(g.most()).toBe(2);
    expect(ended).toEqual([null]);
  });

  it('reports the first error and starts no sequence after it', () => {
    const g = gate();
    const ended: (DiskError | null)[] = [];
    runParallel(Array.from({ length: 4 }, () => [g.step]), (err) => ended.push(err), 1);
    const boom = new DiskError('EIO', 'write', '/x');
    (g.waiting.shift() as (err: DiskError | null) => void)(boom);
    expect(g.waiting).toEqual([]);
    expect(ended).toEqual([boom]);
  });

  it('without a limit starts every sequence at once', () => {
    const g = gate();
    let ended = 0;
    runParallel(Array.from({ length: 6 }, () => [g.step]), () => ended++);
    expect(g.waiting.length).toBe(6);
    for (const w of g.waiting.splice(0)) w(null);
    expect(ended).toBe(1);
  });
});
