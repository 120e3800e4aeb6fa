// `npm run sim`: sweeps seeds of the simulator over the kv and counter
// machines, or replays one seed with its trace. Environment:
//   SIM_SEEDS=N         seeds to run (default 100), from SIM_FIRST_SEED (default 1)
//   SIM_SEED=S          replay seed S and print its trace
//   SIM_BUG=name        plant a bug (commit_without_quorum, vote_without_persist,
//                       read_without_quorum, no_fsync) to see the simulator catch it
//   SIM_COVERAGE=1      print the coverage counters at the end
// Exits 1 when any seed fails; the last line is a summary.
import { CounterMachine } from '../../machines/counter.js';
import { KvMachine } from '../../machines/kv.js';
import { deadlineAfter } from './checker/index.js';
import { Coverage, requiredPaths } from './coverage.js';
import { plantedBug, plantedBugNames, type PlantedBugName } from './planted.js';
import { runSeed, type RunOptions, type SeedResult } from './run.js';
import { counterWorkload, kvWorkload } from './workload.js';

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${v}`);
  return n;
}

function options(trace: boolean): RunOptions {
  const bug = process.env['SIM_BUG'];
  if (bug !== undefined && !plantedBugNames.includes(bug as PlantedBugName)) throw new Error(`SIM_BUG must be one of ${plantedBugNames.join(', ')}`);
  const planted = bug === undefined ? {} : plantedBug(bug as PlantedBugName);
  return {
    base: { workloads: [kvWorkload(), counterWorkload()], ...planted },
    machines: { kv: () => new KvMachine(), counter: () => new CounterMachine() },
    trace,
    // The only wall clock in the simulator: injected here, by the program that runs it.
    checkerBudget: { maxSteps: 5_000_000, deadline: deadlineAfter(60_000, () => performance.now()) },
  };
}

function describe(r: SeedResult): string {
  const s = r.scenario;
  return `seed ${r.seed}: ${s.featured}, ${s.nodes.length} nodes, clusters ${s.clusters.map((c) => c.name).join(' ')}; ${r.stats.ops} ops (${r.stats.ok} ok, ${r.stats.failed} failed, ${r.stats.unknown} unknown), ${(r.stats.virtualMs / 1000).toFixed(1)} s virtual`;
}

function printFindings(r: SeedResult): void {
  for (const f of r.findings) console.log(`  ${f.kind}: ${f.message}`);
  for (const i of r.inconclusive) console.log(`  inconclusive: ${i}`);
}

async function replay(seed: number): Promise<number> {
  const r = await runSeed(seed, options(true));
  for (const line of r.trace) console.log(line);
  console.log(describe(r));
  printFindings(r);
  if (process.env['SIM_COVERAGE'] === '1') console.log(r.coverage.lines().join('\n'));
  console.log(`sim: replayed seed ${seed}: ${r.findings.length === 0 ? 'passed' : `FAILED with ${r.findings.length} finding(s)`}`);
  return r.findings.length === 0 ? 0 : 1;
}

async function sweep(first: number, count: number): Promise<number> {
  const started = performance.now();
  const coverage = new Coverage();
  let failed = 0;
  let inconclusive = 0;
  let ops = 0;
  let virtualMs = 0;
  for (let seed = first; seed < first + count; seed++) {
    const r = await runSeed(seed, options(false));
    coverage.merge(r.coverage);
    ops += r.stats.ops;
    virtualMs += r.stats.virtualMs;
    if (r.inconclusive.length > 0) inconclusive++;
    if (r.findings.length > 0 || r.inconclusive.length > 0) {
      if (r.findings.length > 0) failed++;
      console.log(`${r.findings.length > 0 ? 'FAIL' : 'INCONCLUSIVE'} ${describe(r)}\n  replay: SIM_SEED=${seed} npm run sim`);
      printFindings(r);
    }
  }
  const wallS = (performance.now() - started) / 1000;
  const missing = requiredPaths.filter((p) => coverage.get(p) === 0);
  if (process.env['SIM_COVERAGE'] === '1') console.log(coverage.lines().join('\n'));
  if (missing.length > 0) console.log(`paths never exercised: ${missing.join(', ')}`);
  const rate = (count / wallS) * 60;
  console.log(
    `sim: ${count} seeds (${first}..${first + count - 1}), ${failed} failed, ${inconclusive} inconclusive; ${ops} ops, ${(virtualMs / 1000).toFixed(0)} s virtual in ${wallS.toFixed(1)} s (${rate.toFixed(0)} seeds/min)`,
  );
  return failed > 0 ? 1 : 0;
}

async function main(): Promise<number> {
  const one = envInt('SIM_SEED');
  if (one !== undefined) return replay(one);
  return sweep(envInt('SIM_FIRST_SEED') ?? 1, envInt('SIM_SEEDS') ?? 100);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exitCode = 2;
  },
);
