// `npm run bench -- latency`: one client, one command at a time (256-byte
// puts, fdatasync), against 3 node processes over a local nats-server.
import { Progress, median, printTable, quantile, writeResult, type Quantiles } from './lib/report.js';
import { put256 } from './lib/cluster.js';
import { nodeCluster } from './lib/node_cluster.js';
import { allPeers } from './lib/peers.js';
import { pipelined, sequential } from './lib/drive.js';
import { natsRoundTrip, type RoundTripFloor } from './lib/nats_floor.js';
import { cpuPerOp } from './lib/proc_cpu.js';
import { concurrentSync } from './lib/fsync_floor.js';
import { pipelineFloor } from './lib/pipeline_floor.js';

// Fresh node processes take seconds of traffic to reach their steady speed (V8 compiles hot
// code as it runs; measured here: p99 7.8 ms over the first 1,000 commands, 2.3 ms after 5,000).
// ra's figures come from Erlang nodes that have just run its 10-second throughput test, so
// each run here first drives a pipelined load, then one command at a time for a while.
const config = { ops: 5000, warmupPipelined: 20_000, warmupSequentialMs: 4000, runs: 3, commandBytes: 256, members: 3, sync: 'datasync' };

/** CPU per command (us, user + system, from /proc) of each process of a run. */
interface CommandCpu {
  leader: number;
  /** The mean of the followers. */
  follower: number;
  nats: number;
  client: number;
}

/** Sorts CPU figures of processes [...nodes, nats-server, client] by role. */
function commandCpu(ids: readonly string[], leader: string | undefined, used: number[]): CommandCpu {
  const nodes = used.slice(0, ids.length);
  const l = ids.indexOf(leader ?? '');
  const followers = nodes.filter((_, i) => i !== l);
  return {
    leader: l < 0 ? Number.NaN : (nodes[l] as number),
    follower: followers.reduce((a, b) => a + b, 0) / followers.length,
    nats: used[ids.length] as number,
    client: used[ids.length + 1] as number,
  };
}

/** The median, in whole microseconds. */
function medianUs(values: number[]): number {
  return Math.round(median(values));
}

function medianCpu(runs: CommandCpu[]): CommandCpu {
  const m = (k: keyof CommandCpu) => medianUs(runs.map((c) => c[k]));
  return { leader: m('leader'), follower: m('follower'), nats: m('nats'), client: m('client') };
}

function cpuCells(c: object): string {
  return Object.values(c as Record<string, number>).map((v) => Math.round(v)).join(' / ');
}

/** Runs the benchmark and writes benchmarks/results/latency.json. */
export async function run(): Promise<void> {
  const progress = new Progress('latency', config.runs * config.ops);
  const p50: number[] = [];
  const p99: number[] = [];
  const p999: number[] = [];
  const floor: number[] = [];
  const floorCpu: RoundTripFloor['cpuUs'][] = [];
  const cpu: CommandCpu[] = [];
  const syncs: number[] = [];
  const pipeline: Quantiles[] = [];
  for (let r = 0; r < config.runs; r++) {
    const cluster = await nodeCluster('bench', 'kv');
    const roundTrip = await natsRoundTrip(cluster.nats.url, cluster.nats.pid);
    floor.push(2 * roundTrip.p50Ms);
    floorCpu.push(roundTrip.cpuUs);
    syncs.push((await concurrentSync()).p50Ms);
    pipeline.push(await pipelineFloor(cluster.nats.url));
    await pipelined([cluster.client], 100, config.warmupPipelined, (i) => ({ cluster: 'bench', body: put256(i) }));
    for (let i = 0, end = performance.now() + config.warmupSequentialMs; performance.now() < end; i++) await cluster.client.processCommand('bench', put256(i));
    let samples: Float64Array = new Float64Array(0);
    const leader = (await cluster.client.members('bench')).leader;
    const natsPid = cluster.nats.pid;
    if (natsPid === undefined) throw new Error('nats-server stopped during the benchmark');
    const pids = [...cluster.pids, natsPid, process.pid];
    const used = await cpuPerOp(pids, config.ops, async () => {
      samples = await sequential(cluster.client, config.ops, (i) => {
        if (i % 500 === 0) progress.update(r * config.ops + i); // outside the timed call
        return { cluster: 'bench', body: put256(i) };
      });
    });
    cpu.push(commandCpu(cluster.ids, leader, used));
    p50.push(quantile(samples, 0.5));
    p99.push(quantile(samples, 0.99));
    p999.push(quantile(samples, 0.999));
    await cluster.close();
  }
  progress.done();
  const { ra, natsKv, etcd } = await allPeers();
  const results = {
    p50Ms: median(p50),
    p99Ms: median(p99),
    p999Ms: median(p999),
    natsFloorP50Ms: median(floor),
    syncFloorP50Ms: median(syncs),
    floorP50Ms: median(floor) + median(syncs),
    pipelineFloorP50Ms: median(pipeline.map((f) => f.p50Ms)),
    pipelineFloorP99Ms: median(pipeline.map((f) => f.p99Ms)),
    cpuUsPerCommand: medianCpu(cpu),
    natsFloorCpuUsPerRoundTrip: { echo: medianUs(floorCpu.map((c) => c.echo)), server: medianUs(floorCpu.map((c) => c.server ?? Number.NaN)), caller: medianUs(floorCpu.map((c) => c.caller)) },
    ...(ra === undefined ? {} : { raP50Ms: ra.p50Ms, raP99Ms: ra.p99Ms }),
    ...(natsKv === undefined ? {} : { natsKvP50Ms: natsKv.p50Ms, natsKvP99Ms: natsKv.p99Ms }),
    ...(etcd === undefined ? {} : { etcdP50Ms: etcd.p50Ms, etcdP99Ms: etcd.p99Ms }),
  };
  // Peers in the same run: ra (node to node over TCP), NATS JetStream KV (no fsync per write), etcd.
  const peer = (f: { p50Ms: number; p99Ms: number } | undefined, k: 'p50Ms' | 'p99Ms'): number | string => f?.[k] ?? 'n/a';
  printTable('latency: one client, one 256-byte put at a time, 3 node processes over NATS, fdatasync (median of runs)', [
    { measure: 'p50 ms', value: results.p50Ms, target: '<= 0.5', ra: peer(ra, 'p50Ms'), 'nats kv': peer(natsKv, 'p50Ms'), etcd: peer(etcd, 'p50Ms') },
    { measure: 'p99 ms', value: results.p99Ms, target: '<= 1.5', ra: peer(ra, 'p99Ms'), 'nats kv': peer(natsKv, 'p99Ms'), etcd: peer(etcd, 'p99Ms') },
    { measure: 'p99.9 ms', value: results.p999Ms, target: '-', ra: '-', 'nats kv': '-', etcd: '-' },
    { measure: 'two bare NATS round trips, p50 ms', value: results.natsFloorP50Ms, target: '-', ra: '-', 'nats kv': '-', etcd: '-' },
    { measure: 'fdatasync, 3 processes at once, p50 ms', value: results.syncFloorP50Ms, target: '-', ra: '-', 'nats kv': '-', etcd: '-' },
    { measure: 'floor (the two above), p50 ms', value: results.floorP50Ms, target: '-', ra: '-', 'nats kv': '-', etcd: '-' },
    { measure: 'the same path without Raft (raw bytes, every member syncs), p50 ms', value: results.pipelineFloorP50Ms, target: '-', ra: '-', 'nats kv': '-', etcd: '-' },
    { measure: 'the same path without Raft, p99 ms', value: results.pipelineFloorP99Ms, target: '-', ra: '-', 'nats kv': '-', etcd: '-' },
    { measure: 'CPU per command, us: leader / follower / nats-server / client', value: cpuCells(results.cpuUsPerCommand), target: '-', ra: '-', 'nats kv': '-', etcd: '-' },
    { measure: 'CPU per bare round trip, us: echo / nats-server / caller', value: cpuCells(results.natsFloorCpuUsPerRoundTrip), target: '-', ra: '-', 'nats kv': '-', etcd: '-' },
  ]);
  writeResult('latency', config, results);
}
