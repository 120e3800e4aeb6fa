// `concord demo` (what `npm start` runs): a 3-member kv cluster, writes under
// load, the leader killed, a new leader elected, the old one restarted, and
// every acknowledged write checked with a consistent read.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { System } from '../api/system.js';
import { Client } from '../api/client.js';
import type { Caller } from '../api/caller.js';
import { LocalNetwork } from '../transport/local.js';
import { NatsTransport } from '../transport/nats.js';
import { RealClock, sleep, type Clock } from '../io/clock.js';
import { stderrLogger, type Logger } from '../lib/logger.js';
import { KvMachine } from '../../machines/kv.js';
import { connectionOptions, parse, positiveInt } from './args.js';
import { transportOptions } from './connect.js';
import { raftTiming } from './node_command.js';
import { ProgressBar } from './output.js';

/** Usage of `concord demo`. */
export const demoUsage = `Usage: concord demo [--seconds N] [--writers N] [--nats <url>]
Starts a 3-member kv cluster, writes for N seconds (default 6) with W writers
(default 8) through an exactly-once client, kills the leader half-way, shows
the failover, restarts the old leader and checks every acknowledged write.
By default the members run in this process; with --nats <url> they run as 3
\`concord node\` child processes talking over that NATS server.`;

const nodes = ['n1', 'n2', 'n3'];
const electionMs = 300;

/** What the demo needs from the cluster it runs, in process or as child processes. */
interface DemoCluster {
  readonly client: Caller;
  kill(node: string): Promise<void>;
  restart(node: string): Promise<void>;
  close(): Promise<void>;
}

/** Runs the demo; resolves with the exit code (1 if any acknowledged write was lost). */
export async function runDemo(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...connectionOptions, seconds: { type: 'string' }, writers: { type: 'string' } });
  if (values.help === true) {
    process.stdout.write(`${demoUsage}\n`);
    return 0;
  }
  const seconds = positiveInt(values.seconds, '--seconds', 6);
  const writers = positiveInt(values.writers, '--writers', 8);
  const clock = new RealClock();
  const logger = stderrLogger('error');
  const dir = mkdtempSync(join(tmpdir(), 'concord-demo-'));
  const out = (line: string): boolean => process.stdout.write(`${line}\n`);
  const where = values.nats === undefined ? 'in this process' : `as 3 node processes over NATS at ${values.nats}`;
  out(`Concord demo: a 3-member kv cluster ${where}; election timeout ${electionMs}-${2 * electionMs} ms`);
  const cluster = values.nats === undefined ? await inProcess(dir, clock, logger) : await childProcesses(dir, clock, logger, values);
  try {
    return await scenario(cluster, clock, seconds, writers, out);
  } finally {
    await cluster.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function scenario(cluster: DemoCluster, clock: Clock, seconds: number, writers: number, out: (s: string) => boolean): Promise<number> {
  const { client } = cluster;
  const first = await leaderOf(client, clock);
  out(`leader: ${first}`);
  const acked = new Map<string, number>();
  const ackTimes: number[] = [];
  let running = true;
  let next = 0;
  const start = clock.now();
  const bar = new ProgressBar();
  const loops = Array.from({ length: writers }, async () => {
    while (running) {
      const i = next++;
      const key = `key-${String(i).padStart(7, '0')}`;
      try {
        await client.processCommand('demo', { type: 'put', key, value: i }, { timeoutMs: 15_000 });
        acked.set(key, i);
        ackTimes.push(clock.now());
      } catch {
        // outcome unknown: it may or may not be there; it is not counted as acknowledged
      }
    }
  });
  const progress = (phase: string) => bar.update((clock.now() - start) / (seconds * 1000), `${acked.size} writes acknowledged (${phase})`);
  while (clock.now() - start < (seconds * 1000) / 2) {
    progress('leader ' + first);
    await sleep(clock, 100);
  }
  const killedAt = clock.now();
  await cluster.kill(first);
  bar.done();
  out(`killed the leader ${first} after ${((killedAt - start) / 1000).toFixed(1)} s`);
  while (clock.now() - start < seconds * 1000) {
    progress('after the failover');
    await sleep(clock, 100);
  }
  running = false;
  await Promise.all(loops);
  bar.done();
  const second = await leaderOf(client, clock);
  const firstAfter = ackTimes.find((t) => t > killedAt);
  const gap = firstAfter === undefined ? NaN : firstAfter - killedAt;
  out(`new leader: ${second}; writes were unavailable for ${(gap / 1000).toFixed(2)} s`);
  await cluster.restart(first);
  await caughtUp(client, first, clock);
  out(`${first} restarted and caught up`);
  const stored = new Map((await client.consistentQuery<[string, unknown][]>('demo', { name: 'range', args: { prefix: 'key-' } }, { timeoutMs: 15_000 })));
  let lost = 0;
  for (const [key, value] of acked) if (stored.get(key) !== value) lost++;
  const elapsed = (clock.now() - start) / 1000;
  out(`${acked.size} writes acknowledged in ${seconds} s by ${writers} writers (${Math.round(acked.size / seconds)}/s); all read back with one consistent query (${elapsed.toFixed(1)} s in all)`);
  out(`acknowledged: ${acked.size}, lost: ${lost}`);
  return lost === 0 && acked.size > 0 ? 0 : 1;
}

async function leaderOf(client: Caller, clock: Clock): Promise<string> {
  for (;;) {
    try {
      const s = await client.members('demo', { timeoutMs: 5000 });
      if (s.leader !== undefined) return s.leader;
    } catch {
      // electing
    }
    await sleep(clock, 50);
  }
}

async function caughtUp(client: Caller, node: string, clock: Clock): Promise<void> {
  const deadline = clock.now() + 20_000;
  while (clock.now() < deadline) {
    try {
      const leader = await client.members('demo', { timeoutMs: 2000 });
      const mine = await client.members('demo', { member: node, timeoutMs: 2000 });
      if (mine.appliedIndex >= leader.commitIndex) return;
    } catch {
      // still starting
    }
    await sleep(clock, 100);
  }
}

/** Three Systems in this process over a LocalNetwork; the client is a fourth node. */
async function inProcess(dir: string, clock: Clock, logger: Logger): Promise<DemoCluster> {
  const network = new LocalNetwork(clock);
  const systems = new Map<string, System>();
  const startNode = async (node: string) => {
    const s = await System.start({ nodeId: node, dataDir: join(dir, node), transport: network.connect(node), machines: { kv: () => new KvMachine() }, clock, logger, raft: raftTiming(electionMs) });
    systems.set(node, s);
    return s;
  };
  for (const n of nodes) await startNode(n);
  await (systems.get('n1') as System).startCluster('demo', 'kv', nodes);
  const client = await Client.connect({ transport: network.connect('demo-client'), clock, logger, clusters: { demo: nodes } });
  return {
    client,
    kill: (node) => {
      systems.get(node)?.kill(); // like SIGKILL: nothing more is sent or written
      systems.delete(node);
      return Promise.resolve();
    },
    restart: async (node) => {
      await (await startNode(node)).restartServer('demo');
    },
    close: async () => {
      await client.close();
      for (const s of systems.values()) await s.stop();
    },
  };
}

/** Three `concord node` child processes over NATS; the client connects to the same server. */
async function childProcesses(dir: string, clock: Clock, logger: Logger, flags: { nats?: string | undefined }): Promise<DemoCluster> {
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const children = new Map<string, ChildProcess>();
  const spawnNode = async (node: string): Promise<void> => {
    const args = [main, 'node', '--id', node, '--data', join(dir, node), '--nats', flags.nats ?? '', '--cluster', 'demo', '--members', nodes.join(','), '--machine', 'kv', '--election-timeout', String(electionMs)];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    children.set(node, child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes(`ready ${node}`)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`node ${node} exited with ${String(code)}`)));
    });
  };
  await Promise.all(nodes.map(spawnNode));
  const transport = await NatsTransport.connect({ ...transportOptions(`demo-client-${process.pid}`, flags), clock, logger });
  const client = await Client.connect({ transport, clock, logger, clusters: { demo: nodes } });
  return {
    client,
    kill: async (node) => {
      const child = children.get(node);
      children.delete(node);
      child?.kill('SIGKILL');
      if (child !== undefined) await new Promise((r) => child.once('exit', r));
    },
    restart: spawnNode,
    close: async () => {
      await client.close();
      await Promise.all(
        [...children.values()].map(
          (c) =>
            new Promise((r) => {
              c.once('exit', r);
              c.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
