// `npm run bench -- throughput`: K clients x P commands in flight (256-byte
// commands, fdatasync) against 3 node processes over a local nats-server, as
// ra_bench does it (5 x 500): kv puts, and ra_bench's own workload. RabbitMQ's
// ra runs in the same run when present.
import { randomBytes } from 'node:crypto';
import { Client } from '../src/api/client.js';
import { NatsTransport } from '../src/transport/nats.js';
import { stderrLogger } from '../src/lib/logger.js';
import { Progress, median, printTable, writeResult } from './lib/report.js';
import { put256 } from './lib/cluster.js';
import { noopMachineArgs, nodeCluster } from './lib/node_cluster.js';
import { allPeers } from './lib/peers.js';
import { pipelined } from './lib/drive.js';

// Each run first drives `warmupOps` commands, as the latency benchmark warms up: fresh node
// processes reach their speed only after V8 has compiled the hot code, and the kv machine's
// first 100,000 puts insert keys (its Map grows) where later ones replace values. Measured
// here, 150,000-command rounds on one cluster went 26.6k, 36.2k, 38.8k, then 45-56k ops/s.
// The warm-up's own rate is reported too (`coldOpsPerSec`).
// Two workloads, each on fresh processes: kv puts (the headline figure), and ra_bench's own
// workload for the comparison with ra: the same 256 random bytes in every command, applied by
// a machine that keeps nothing of them (benchmarks/lib/noop_machine.ts).
const config = { clients: 5, inFlightPerClient: 500, warmupOps: 150_000, opsPerRun: 150_000, runs: 3, commandBytes: 256, members: 3, sync: 'datasync', workloads: ['kv', 'noop'] };

/** ra_bench's command: 256 random bytes, made once. */
const opaque = randomBytes(256);

/** The command of the i-th call, per workload. */
const commands = {
  kv: (i: number): { cluster: string; body: unknown } => ({ cluster: 'bench', body: put256(i) }),
  noop: (): { cluster: string; body: unknown } => ({ cluster: 'bench', body: opaque }),
};

/** Node arguments per workload. */
const nodeArgs = { kv: [], noop: noopMachineArgs };

type Workload = keyof typeof commands;

async function client(url: string): Promise<Client> {
  const transport = await NatsTransport.connect({ nodeId: `load-${randomBytes(3).toString('hex')}`, servers: url, logger: stderrLogger('error') });
  return Client.connect({ transport, clusters: { bench: ['n1', 'n2', 'n3'] }, requestTimeoutMs: 30_000, logger: stderrLogger('error') });
}

/** One run of `workload` on a fresh cluster: [warm-up ops/s, measured ops/s]. */
async function runOnce(workload: Workload, progress: (done: number) => void): Promise<[number, number]> {
  const cluster = await nodeCluster('bench', workload, nodeArgs[workload]);
  const clients = await Promise.all(Array.from({ length: config.clients }, () => client(cluster.nats.url)));
  const command = commands[workload];
  await Promise.all(clients.map((c) => c.processCommand('bench', command(0).body))); // leader elected, sessions open
  const cold = await pipelined(clients, config.inFlightPerClient, config.warmupOps, command, progress);
  const warm = await pipelined(clients, config.inFlightPerClient, config.opsPerRun, command, (n) => progress(config.warmupOps + n));
  for (const c of clients) await c.close();
  await cluster.close();
  return [cold, warm];
}

/** Runs the benchmark and writes benchmarks/results/throughput.json. */
export async function run(): Promise<void> {
  const perRun = config.warmupOps + config.opsPerRun;
  const workloads = config.workloads as Workload[];
  const progress = new Progress('throughput', workloads.length * config.runs * perRun);
  const samples: Record<Workload, number[]> = { kv: [], noop: [] };
  const cold: Record<Workload, number[]> = { kv: [], noop: [] };
  let finished = 0;
  // Alternated, so that both workloads see the same stretch of a drifting machine.
  for (let r = 0; r < config.runs; r++) {
    for (const w of workloads) {
      const [c, m] = await runOnce(w, (n) => progress.update(finished + n));
      finished += perRun;
      cold[w].push(c);
      samples[w].push(m);
    }
  }
  progress.done();
  const { ra, natsKv, etcd } = await allPeers();
  const opsPerSec = Math.round(median(samples.kv));
  const noopOpsPerSec = Math.round(median(samples.noop));
  const ratio = (ops: number, peer: number): number => Math.round((100 * ops) / peer) / 100;
  const results = {
    opsPerSec,
    runs: samples.kv.map(Math.round),
    coldOpsPerSec: Math.round(median(cold.kv)),
    noopOpsPerSec,
    noopRuns: samples.noop.map(Math.round),
    ...(ra === undefined ? {} : { raOpsPerSec: ra.opsPerSec, noopRatioToRa: ratio(noopOpsPerSec, ra.opsPerSec), ratioToRa: ratio(opsPerSec, ra.opsPerSec) }),
    ...(natsKv === undefined ? {} : { natsKvOpsPerSec: natsKv.opsPerSec }),
    ...(etcd === undefined ? {} : { etcdOpsPerSec: etcd.opsPerSec }),
  };
  printTable(`throughput: ${config.clients} clients x ${config.inFlightPerClient} in flight, 3 node processes over NATS, 256-byte commands, fdatasync (median of ${config.runs} runs)`, [
    { measure: 'Concord ops/s, kv puts', value: opsPerSec, target: '>= 55,000' },
    { measure: 'Concord ops/s, kv puts, while warming up', value: results.coldOpsPerSec, target: '-' },
    { measure: "Concord ops/s, ra_bench's workload (opaque commands, a machine that keeps nothing)", value: noopOpsPerSec, target: '-' },
    { measure: "ra ops/s, ra_bench's workload (same run)", value: ra?.opsPerSec ?? 'n/a', target: '-' },
    { measure: 'Concord / ra, the same workload', value: results.noopRatioToRa ?? 'n/a', target: '~2' },
    { measure: 'Concord kv puts / ra', value: results.ratioToRa ?? 'n/a', target: '-' },
    { measure: 'NATS JetStream KV, 3 replicas, no fsync per write (same run)', value: natsKv?.opsPerSec ?? 'n/a', target: '-' },
    { measure: 'etcd, 3 members (same run)', value: etcd?.opsPerSec ?? 'n/a', target: '-' },
  ]);
  writeResult('throughput', config, results);
}
