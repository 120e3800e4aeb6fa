// The committed index is the quorum-th largest match index, whatever the order of the voters.
import { describe, expect, it } from 'vitest';
import { committedIndex, quorumSize } from '../../../src/raft/core/quorum.js';
import { SeededRandom } from '../../../src/io/random.js';

describe('committedIndex', () => {
  it('is the index a majority of voters hold, for 1 to 7 voters in any order', () => {
    const r = new SeededRandom(5);
    for (let round = 0; round < 2000; round++) {
      const n = r.between(1, 7);
      const voters = Array.from({ length: n }, (_, i) => `v${i}`);
      const match = new Map(voters.map((v) => [v, r.int(20)]));
      const got = committedIndex(voters, (id) => match.get(id) as number);
      const held = (x: number): number => voters.filter((v) => (match.get(v) as number) >= x).length;
      // A majority holds `got`, and no larger index of theirs is held by a majority.
      expect(held(got)).toBeGreaterThanOrEqual(quorumSize(n));
      for (const v of voters) if ((match.get(v) as number) > got) expect(held(match.get(v) as number)).toBeLessThan(quorumSize(n));
    }
    expect(committedIndex([], () => 1)).toBe(0);
  });
});
