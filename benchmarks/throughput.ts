// `npm run bench -- throughput`: K clients x P commands in flight (256-byte
// puts, fdatasync) against 3 node processes over a local nats-server, as
// ra_bench does it (5 x 500). RabbitMQ's ra runs in the same run when present.
import { randomBytes } from 'node:crypto';
import { Client } from '../src/api/client.js';
import { NatsTransport } from '../src/transport/nats.js';
import { stderrLogger } from '../src/lib/logger.js';
import { Progress, median, printTable, writeResult } from './lib/report.js';
import { put256 } from './lib/cluster.js';
import { nodeCluster } from './lib/node_cluster.js';
import { allPeers } from './lib/peers.js';
import { pipelined } from './lib/drive.js';

// Each run first drives `warmupOps` commands, as the latency benchmark warms up: fresh node
// processes reach their speed only after V8 has compiled the hot code, and the kv machine's
// first 100,000 puts insert keys (its Map grows) where later ones replace values. Measured
// here, 150,000-command rounds on one cluster went 26.6k, 36.2k, 38.8k, then 45-56k ops/s.
// The warm-up's own rate is reported too (`coldOpsPerSec`).
const config = { clients: 5, inFlightPerClient: 500, warmupOps: 150_000, opsPerRun: 150_000, runs: 3, commandBytes: 256, members: 3, sync: 'datasync' };

/** The command of the i-th call. */
const put = (i: number): { cluster: string; body: unknown } => ({ cluster: 'bench', body: put256(i) });

async function client(url: string): Promise<Client> {
  const transport = await NatsTransport.connect({ nodeId: `load-${randomBytes(3).toString('hex')}`, servers: url, logger: stderrLogger('error') });
  return Client.connect({ transport, clusters: { bench: ['n1', 'n2', 'n3'] }, requestTimeoutMs: 30_000, logger: stderrLogger('error') });
}

/** Runs the benchmark and writes benchmarks/results/throughput.json. */
export async function run(): Promise<void> {
  const perRun = config.warmupOps + config.opsPerRun;
  const progress = new Progress('throughput', config.runs * perRun);
  const samples: number[] = [];
  const cold: number[] = [];
  for (let r = 0; r < config.runs; r++) {
    const cluster = await nodeCluster('bench', 'kv');
    const clients = await Promise.all(Array.from({ length: config.clients }, () => client(cluster.nats.url)));
    await Promise.all(clients.map((c) => c.processCommand('bench', put256(0)))); // leader elected, sessions open
    cold.push(await pipelined(clients, config.inFlightPerClient, config.warmupOps, put, (n) => progress.update(r * perRun + n)));
    samples.push(await pipelined(clients, config.inFlightPerClient, config.opsPerRun, put, (n) => progress.update(r * perRun + config.warmupOps + n)));
    for (const c of clients) await c.close();
    await cluster.close();
  }
  progress.done();
  const { ra, natsKv, etcd } = await allPeers();
  const opsPerSec = Math.round(median(samples));
  const results = {
    opsPerSec,
    runs: samples.map(Math.round),
    coldOpsPerSec: Math.round(median(cold)),
    ...(ra === undefined ? {} : { raOpsPerSec: ra.opsPerSec, ratioToRa: Math.round((100 * opsPerSec) / ra.opsPerSec) / 100 }),
    ...(natsKv === undefined ? {} : { natsKvOpsPerSec: natsKv.opsPerSec }),
    ...(etcd === undefined ? {} : { etcdOpsPerSec: etcd.opsPerSec }),
  };
  printTable(`throughput: ${config.clients} clients x ${config.inFlightPerClient} in flight, 3 node processes over NATS, 256-byte puts, fdatasync`, [
    { measure: 'Concord ops/s (median)', value: opsPerSec, target: '>= 55,000' },
    { measure: 'Concord ops/s while warming up (median)', value: results.coldOpsPerSec, target: '-' },
    { measure: 'ra ops/s (same run)', value: ra?.opsPerSec ?? 'n/a', target: '-' },
    { measure: 'Concord / ra', value: results.ratioToRa ?? 'n/a', target: '~2' },
    { measure: 'NATS JetStream KV, 3 replicas, no fsync per write (same run)', value: natsKv?.opsPerSec ?? 'n/a', target: '-' },
    { measure: 'etcd, 3 members (same run)', value: etcd?.opsPerSec ?? 'n/a', target: '-' },
  ]);
  writeResult('throughput', config, results);
}
