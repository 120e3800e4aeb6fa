// `npm run bench -- groups`: many Raft groups of 3 members across 3 node
// processes over NATS: aggregate ops/s with 1, 10, 100 and 1,000 groups, CPU
// per process with 1,000 idle groups, and the time for 10,000 groups to
// start and all elect leaders.
import type { Client } from '../src/api/client.js';
import { Progress, printTable, writeResult } from './lib/report.js';
import { put256 } from './lib/cluster.js';
import { nodeCluster, type NodeCluster } from './lib/node_cluster.js';
import { pipelined } from './lib/drive.js';
import { cpuSeconds } from './lib/proc_cpu.js';

const config = { groupCounts: [1, 10, 100, 1000], inFlight: 2000, opsPerStep: 60_000, idleSeconds: 10, electGroups: 10_000, createConcurrency: 200 };
const ids = ['n1', 'n2', 'n3'];

/** Runs `tasks` with at most `limit` in flight. */
async function pool(limit: number, count: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

async function createGroups(client: Client, from: number, to: number): Promise<void> {
  await pool(config.createConcurrency, to - from, (i) => client.startCluster(`g${from + i}`, 'kv', ids, { timeoutMs: 60_000 }));
}

async function leaders(client: Client): Promise<number> {
  const views = await Promise.all(ids.map((n) => client.nodeOverview(n, { timeoutMs: 30_000, brief: true })));
  return views.reduce((sum, v) => sum + (v.roles.leader ?? 0), 0);
}

async function untilLeaders(client: Client, groups: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if ((await leaders(client)) >= groups) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

async function idleCpu(cluster: NodeCluster): Promise<number[]> {
  const before = cluster.pids.map(cpuSeconds);
  await new Promise((r) => setTimeout(r, config.idleSeconds * 1000));
  const after = cluster.pids.map(cpuSeconds);
  return after.map((a, i) => (100 * (a - (before[i] as number))) / config.idleSeconds);
}

/** Runs the benchmark and writes benchmarks/results/groups.json. */
export async function run(): Promise<void> {
  const progress = new Progress('groups', config.groupCounts.length + 2);
  const rows: Record<string, string | number>[] = [];
  const opsPerSec: Record<string, number> = {};
  const cluster = await nodeCluster('g0', 'kv');
  let created = 1;
  for (const [step, g] of config.groupCounts.entries()) {
    await createGroups(cluster.client, created, g);
    created = g;
    if (!(await untilLeaders(cluster.client, g, 120_000))) throw new Error(`${g} groups did not all elect leaders`);
    const rate = await pipelined([cluster.client], config.inFlight, config.opsPerStep, (i) => ({ cluster: `g${i % g}`, body: put256(i) }), () => {});
    opsPerSec[String(g)] = Math.round(rate);
    rows.push({ groups: g, 'ops/s': Math.round(rate) });
    progress.update(step + 1);
  }
  await new Promise((r) => setTimeout(r, 3000)); // let the groups settle into idleness
  const idle = await idleCpu(cluster);
  progress.update(config.groupCounts.length + 1);
  await cluster.close();

  const fresh = await nodeCluster('g0', 'kv');
  const t0 = performance.now();
  await createGroups(fresh.client, 1, config.electGroups);
  const allElected = await untilLeaders(fresh.client, config.electGroups, 300_000);
  const electSeconds = (performance.now() - t0) / 1000;
  await fresh.close();
  progress.done();

  const results = {
    opsPerSec1000: opsPerSec['1000'],
    opsPerSecByGroups: opsPerSec,
    idleCpuPercent1000: Math.round(100 * Math.max(...idle)) / 100,
    idleCpuPercentByProcess: idle.map((x) => Math.round(100 * x) / 100),
    electSeconds10000: allElected ? Math.round(100 * electSeconds) / 100 : null,
  };
  printTable('groups: aggregate throughput by number of 3-member groups (3 node processes, NATS)', rows);
  printTable('groups: idleness and scale', [
    { measure: 'CPU per process, 1,000 idle groups (% of a core, max)', value: results.idleCpuPercent1000, target: '<= 2' },
    { measure: '10,000 groups start and elect (s)', value: results.electSeconds10000 ?? 'did not finish', target: '<= 30' },
  ]);
  writeResult('groups', config, results);
}
