// `npm run bench -- raft-local`: a 3-member KV cluster in one process (three
// Systems over the in-process transport, real files, fdatasync on), 256-byte
// puts: pipelined throughput and sequential latency.
import type { System } from '../src/api/system.js';
import { Progress, median, printTable, quantile, writeResult } from './lib/report.js';
import { localCluster, put256 } from './lib/cluster.js';
import { pipelined, sequential } from './lib/drive.js';

const config = { members: 3, commandBytes: 256, inFlight: 2000, pipelinedOps: 100_000, sequentialOps: 5000, runs: 3, sync: 'datasync' };

async function leaderOf(system: System): Promise<System> {
  for (;;) {
    try {
      await system.processCommand('bench', put256(0), { timeoutMs: 5000 });
      return system;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Runs the benchmark and writes benchmarks/results/raft-local.json. */
export async function run(): Promise<void> {
  const progress = new Progress('raft-local', config.runs * (config.pipelinedOps + config.sequentialOps));
  const throughput: number[] = [];
  const p50: number[] = [];
  const p99: number[] = [];
  for (let r = 0; r < config.runs; r++) {
    const { systems, close } = await localCluster();
    const first = systems[0] as System;
    await first.startCluster('bench', 'kv', ['n1', 'n2', 'n3']);
    const system = await leaderOf(first);
    const base = r * (config.pipelinedOps + config.sequentialOps);
    throughput.push(await pipelined([system], config.inFlight, config.pipelinedOps, (i) => ({ cluster: 'bench', body: put256(i) }), (n) => progress.update(base + n)));
    const lat = await sequential(system, config.sequentialOps, (i) => ({ cluster: 'bench', body: put256(i) }));
    progress.update(base + config.pipelinedOps + config.sequentialOps);
    p50.push(quantile(lat, 0.5));
    p99.push(quantile(lat, 0.99));
    await close();
  }
  progress.done();
  const results = { opsPerSec: Math.round(median(throughput)), p50Ms: median(p50), p99Ms: median(p99) };
  printTable('raft-local: 3 members in one process, 256-byte puts, fdatasync (median of runs)', [
    { measure: `pipelined ops/s (${config.inFlight} in flight)`, value: results.opsPerSec },
    { measure: 'sequential p50 ms', value: results.p50Ms },
    { measure: 'sequential p99 ms', value: results.p99Ms },
  ]);
  writeResult('raft-local', config, results);
}
