// Proof that the simulator bites: each known bug, planted through a
// test-only seam, must be reported within a bounded number of seeds.
import { describe, expect, it } from 'vitest';
import { plantedBug, type PlantedBugName } from '../../../src/sim/planted.js';
import { runSeed } from '../../../src/sim/run.js';
import type { Featured } from '../../../src/sim/scripts.js';
import type { FindingKind } from '../../../src/sim/verdict.js';
import { counterWorkload, kvWorkload } from '../../../src/sim/workload.js';
import { machines } from './sweep.js';

/** The first seed (of 1..maxSeeds) whose run reports a finding, with the kinds it reported. */
async function firstCaught(bug: PlantedBugName, maxSeeds: number, featured?: readonly Featured[]): Promise<{ seed: number; kinds: FindingKind[] } | undefined> {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    const base = { workloads: [kvWorkload(), counterWorkload()], ...plantedBug(bug), ...(featured === undefined ? {} : { featured }) };
    const r = await runSeed(seed, { base, machines });
    if (r.findings.length > 0) return { seed, kinds: [...new Set(r.findings.map((f) => f.kind))] };
  }
  return undefined;
}

describe('planted bugs are caught', () => {
  it('committing without a quorum: the durability check sees an entry applied before a majority holds it', async () => {
    const caught = await firstCaught('commit_without_quorum', 5);
    expect(caught?.kinds).toContain('invariant');
  }, 120_000);

  it('granting a vote without persisting it: a restarted voter has forgotten a vote it revealed', async () => {
    const caught = await firstCaught('vote_without_persist', 10);
    expect(caught?.kinds).toContain('invariant');
  }, 120_000);

  it('answering a consistent query without the quorum round: a deposed leader serves a stale read', async () => {
    // Reads right after an election, with leaders cut off while the others elect a new one.
    const caught = await firstCaught('read_without_quorum', 40, ['election_reads']);
    expect(caught?.kinds).toContain('linearizability');
  }, 120_000);

  it('acknowledging before the WAL is fsynced (walSyncMethod none): an entry applied while durable nowhere', async () => {
    const caught = await firstCaught('no_fsync', 5);
    expect(caught?.kinds).toContain('invariant');
  }, 120_000);
});
