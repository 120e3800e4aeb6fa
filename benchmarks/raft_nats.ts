// `npm run bench -- raft-nats`: 3 node processes over a local nats-server,
// 256-byte puts with fdatasync: pipelined throughput and sequential latency,
// measured from a client in this process.
import { Progress, median, printTable, quantile, writeResult } from './lib/report.js';
import { put256 } from './lib/cluster.js';
import { nodeCluster } from './lib/node_cluster.js';
import { pipelined, sequential } from './lib/drive.js';

const config = { members: 3, commandBytes: 256, inFlight: 2000, pipelinedOps: 60_000, sequentialOps: 3000, runs: 3, sync: 'datasync', client: 'exactly-once session' };

/** Runs the benchmark and writes benchmarks/results/raft-nats.json. */
export async function run(): Promise<void> {
  const per = config.pipelinedOps + config.sequentialOps;
  const progress = new Progress('raft-nats', config.runs * per);
  const throughput: number[] = [];
  const p50: number[] = [];
  const p99: number[] = [];
  for (let r = 0; r < config.runs; r++) {
    const cluster = await nodeCluster('bench', 'kv');
    await cluster.client.processCommand('bench', put256(0)); // a leader is elected and the session open
    throughput.push(await pipelined([cluster.client], config.inFlight, config.pipelinedOps, (i) => ({ cluster: 'bench', body: put256(i) }), (n) => progress.update(r * per + n)));
    const lat = await sequential(cluster.client, config.sequentialOps, (i) => ({ cluster: 'bench', body: put256(i) }));
    progress.update((r + 1) * per);
    p50.push(quantile(lat, 0.5));
    p99.push(quantile(lat, 0.99));
    await cluster.close();
  }
  progress.done();
  const results = { opsPerSec: Math.round(median(throughput)), p50Ms: median(p50), p99Ms: median(p99) };
  printTable('raft-nats: 3 node processes over NATS, 256-byte puts, fdatasync (median of runs)', [
    { measure: `pipelined ops/s (${config.inFlight} in flight)`, value: results.opsPerSec, reference: 'ra ~28,000; JetStream KV R3 ~11,000' },
    { measure: 'sequential p50 ms', value: results.p50Ms, reference: 'ra ~1.2' },
    { measure: 'sequential p99 ms', value: results.p99Ms, reference: '-' },
  ]);
  writeResult('raft-nats', config, results);
}
