// Seeds outside the CI sweep that once found a bug (see src/sim/README.md).
// Code changes move a seed's random streams, so they guard loosely; the unit
// tests written with each fix guard precisely.
import { describe, expect, it } from 'vitest';
import { runSeed } from '../../../src/sim/run.js';
import { counterWorkload, kvWorkload } from '../../../src/sim/workload.js';
import { machines } from './sweep.js';

const seeds = [2116, 2394, 2785, 3321, 3597, 4097, 4437, 4726, 4919, 4937, 5654, 6712, 11621, 14315, 103982, 124071, 130715, 147128, 154547, 934195, 964306, 1106669, 912923, 7034773, 7117404, 7123262, 7133269, 7137880, 7153792, 7154628, 7156335, 7288909, 7319720, 7341476];

describe('seeds that once found bugs', () => {
  it.each(seeds)('seed %i passes', async (seed) => {
    const r = await runSeed(seed, { base: { workloads: [kvWorkload(), counterWorkload()] }, machines });
    expect(r.findings.map((f) => `${f.kind}: ${f.message}`)).toEqual([]);
    expect(r.inconclusive).toEqual([]);
  });
});
