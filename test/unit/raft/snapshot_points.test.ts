// Members snapshot at points of their own, spread over the period, so that a
// majority is never encoding and flushing a snapshot at the same time.
import { describe, expect, it } from 'vitest';
import { nextSnapshotPoint } from '../../../src/raft/server/server.js';

/** The snapshot indices of a member that snapshots as soon as it passes each point. */
function points(every: number, phase: number, upTo: number, from = 0): number[] {
  const out: number[] = [];
  for (let last = from; ; ) {
    const p = nextSnapshotPoint(last, every, phase);
    if (p > upTo) return out;
    out.push(p);
    last = p;
  }
}

describe('snapshot points', () => {
  it('keeps the period and spreads three members a third of it apart', () => {
    expect(points(900, 0, 3000)).toEqual([900, 1800, 2700]);
    expect(points(900, 300, 3000)).toEqual([1200, 2100, 3000]); // 300 is within half a period of the start
    expect(points(900, 600, 3000)).toEqual([600, 1500, 2400]);
  });

  it('comes back to its own points after a snapshot taken off them, at least half a period later', () => {
    // A follower installs the leader's snapshot at 910 (the leader's phase): its own points resume.
    expect(nextSnapshotPoint(910, 900, 300)).toBe(2100);
    expect(nextSnapshotPoint(1000, 900, 300)).toBe(2100);
    expect(nextSnapshotPoint(700, 900, 300)).toBe(1200);
    for (let last = 0; last < 3000; last += 37) {
      for (const phase of [0, 300, 600]) {
        const next = nextSnapshotPoint(last, 900, phase);
        expect(next - last).toBeGreaterThanOrEqual(450);
        expect(next - last).toBeLessThan(1350);
        expect((next - phase) % 900).toBe(0);
      }
    }
  });

  it('is every entry when the period is one', () => {
    expect(points(1, 0, 5)).toEqual([1, 2, 3, 4, 5]);
  });
});
