// Sweeps of the simulator for the CI tests: the kv and counter machines,
// every scenario and fault, each seed's failures with the line that replays it.
import { CounterMachine } from '../../../machines/counter.js';
import { KvMachine } from '../../../machines/kv.js';
import { describe, expect, it } from 'vitest';
import { Coverage, requiredPaths } from '../../../src/sim/coverage.js';
import { runSeed, type RunOptions } from '../../../src/sim/run.js';
import type { ScenarioBase } from '../../../src/sim/scenario.js';
import { counterWorkload, kvWorkload } from '../../../src/sim/workload.js';

/** The machines of the built-in workloads. */
export const machines: RunOptions['machines'] = { kv: () => new KvMachine(), counter: () => new CounterMachine() };

/** What a sweep found. */
export interface SweepResult {
  readonly failures: string[];
  readonly inconclusive: string[];
  readonly coverage: Coverage;
  readonly ops: number;
}

/** Runs seeds first..first+count-1 over the kv and counter machines. */
export async function sweep(first: number, count: number, base: Partial<ScenarioBase> = {}): Promise<SweepResult> {
  const coverage = new Coverage();
  const failures: string[] = [];
  const inconclusive: string[] = [];
  let ops = 0;
  for (let seed = first; seed < first + count; seed++) {
    const r = await runSeed(seed, { base: { workloads: [kvWorkload(), counterWorkload()], ...base }, machines });
    coverage.merge(r.coverage);
    ops += r.stats.ops;
    for (const f of r.findings) failures.push(`seed ${seed} (replay: SIM_SEED=${seed} npm run sim): ${f.kind}: ${f.message}`);
    for (const i of r.inconclusive) inconclusive.push(`seed ${seed}: ${i}`);
  }
  return { failures, inconclusive, coverage, ops };
}

/** Required paths the coverage never showed. */
export function missingPaths(coverage: Coverage): string[] {
  return requiredPaths.filter((p) => coverage.get(p) === 0);
}

/**
 * One part of the CI sweep (the parts are separate files so that they run in
 * parallel): every seed must pass, and the part alone must exercise every
 * fault path and rare protocol path.
 */
export function sweepPart(first: number, count: number): void {
  describe(`the deterministic simulator, seeds ${first}-${first + count - 1}`, () => {
    it('keeps every safety property, liveness and linearizability, and exercises every path', async () => {
      const r = await sweep(first, count);
      expect(r.failures).toEqual([]);
      expect(r.inconclusive).toEqual([]);
      expect(missingPaths(r.coverage)).toEqual([]);
      expect(r.ops).toBeGreaterThan(count * 100);
    }, 900_000);
  });
}
