// CI sweep, part 4 of 4 (the parts run in parallel): seeds 1651-2200 of
// the simulator over the kv and counter machines. Every seed must pass, and
// the part must exercise every fault path and rare protocol path.
import { describe, expect, it } from 'vitest';
import { missingPaths, sweep } from './sweep.js';

describe('the deterministic simulator, seeds 1651-2200', () => {
  it('keeps every safety property, liveness and linearizability, and exercises every path', async () => {
    const r = await sweep(1651, 550);
    expect(r.failures).toEqual([]);
    expect(r.inconclusive).toEqual([]);
    expect(missingPaths(r.coverage)).toEqual([]);
    expect(r.ops).toBeGreaterThan(550 * 100);
  }, 900_000);
});
