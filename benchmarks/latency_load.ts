// `npm run bench -- latency-load`: latency under a steady offered load. One
// client offers a fixed rate of 256-byte puts (open loop: a slow reply does
// not delay the next send) to 3 node processes over a local nats-server,
// at several rates up to near the throughput a single client reaches here;
// each rate's p50, p99 and p99.9, beside the idle latency of the same run.
import { Progress, median, printTable, quantile, writeResult } from './lib/report.js';
import { put256 } from './lib/cluster.js';
import { nodeCluster } from './lib/node_cluster.js';
import { paced, pipelined, sequential } from './lib/drive.js';

const config = { rates: [1000, 5000, 15_000, 30_000], secondsPerRate: 4, idleOps: 2000, warmupPipelined: 60_000, runs: 2, commandBytes: 256, members: 3, sync: 'datasync' };

/** One rate's figures, medians over the runs. */
interface RateFigures {
  rate: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxLagMs: number;
}

/** Runs the benchmark and writes benchmarks/results/latency-load.json. */
export async function run(): Promise<void> {
  const perRun = config.idleOps + config.rates.reduce((sum, rate) => sum + rate * config.secondsPerRate, 0);
  const progress = new Progress('latency-load', config.runs * perRun);
  const idle: number[][] = [[], []];
  const byRate = new Map<number, { opsPerSec: number[]; p50: number[]; p99: number[]; p999: number[]; lag: number[] }>(
    config.rates.map((r) => [r, { opsPerSec: [], p50: [], p99: [], p999: [], lag: [] }]),
  );
  for (let r = 0; r < config.runs; r++) {
    const cluster = await nodeCluster('bench', 'kv');
    const command = (i: number) => ({ cluster: 'bench', body: put256(i) });
    await pipelined([cluster.client], 100, config.warmupPipelined, command);
    const quiet = await sequential(cluster.client, config.idleOps, command);
    idle[0]?.push(quantile(quiet, 0.5));
    idle[1]?.push(quantile(quiet, 0.99));
    let done = r * perRun + config.idleOps;
    progress.update(done);
    for (const rate of config.rates) {
      const total = rate * config.secondsPerRate;
      const run = await paced(cluster.client, rate, total, command);
      const f = byRate.get(rate);
      f?.opsPerSec.push(run.opsPerSec);
      f?.p50.push(quantile(run.samples, 0.5));
      f?.p99.push(quantile(run.samples, 0.99));
      f?.p999.push(quantile(run.samples, 0.999));
      f?.lag.push(run.maxLagMs);
      progress.update((done += total));
    }
    await cluster.close();
  }
  progress.done();
  const rates: RateFigures[] = config.rates.map((rate) => {
    const f = byRate.get(rate);
    const m = (v: number[] | undefined) => median(v ?? []);
    return { rate, opsPerSec: Math.round(m(f?.opsPerSec)), p50Ms: m(f?.p50), p99Ms: m(f?.p99), p999Ms: m(f?.p999), maxLagMs: m(f?.lag) };
  });
  const results = { idleP50Ms: median(idle[0] ?? []), idleP99Ms: median(idle[1] ?? []), rates };
  printTable('latency-load: one client offering a steady rate of 256-byte puts (open loop), 3 node processes over NATS, fdatasync (median of runs)', [
    { 'offered ops/s': 'idle (one at a time)', 'replied ops/s': '-', 'p50 ms': results.idleP50Ms, 'p99 ms': results.idleP99Ms, 'p99.9 ms': '-', 'sender lag ms': '-' },
    ...rates.map((f) => ({ 'offered ops/s': f.rate, 'replied ops/s': f.opsPerSec, 'p50 ms': f.p50Ms, 'p99 ms': f.p99Ms, 'p99.9 ms': f.p999Ms, 'sender lag ms': f.maxLagMs })),
  ]);
  writeResult('latency-load', config, results);
}
