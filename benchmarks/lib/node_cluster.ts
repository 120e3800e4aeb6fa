// Three `concord node` processes over a private nats-server, and a Client in
// this process: the set-up of the NATS benchmarks.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '../../src/api/client.js';
import { NatsTransport } from '../../src/transport/nats.js';
import { stderrLogger } from '../../src/lib/logger.js';
import { RealClock, sleep } from '../../src/io/clock.js';
import { NatsServer } from './nats_server.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = resolve(here, '../../src/cli/main.js');

/** Node arguments that serve ra_bench's machine (noop_machine.ts) as `noop`. */
export const noopMachineArgs = ['--machine-module', `noop=${resolve(here, 'noop_machine.js')}`];

/** `--cpu-prof` flags for node `id` when CONCORD_CPU_PROF names a directory for the profiles. */
function profileArgs(id: string): string[] {
  const dir = process.env['CONCORD_CPU_PROF'];
  return dir === undefined || dir === '' ? [] : ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${id}-${Date.now()}.cpuprofile`];
}

/** A running 3-process cluster. */
export interface NodeCluster {
  readonly nats: NatsServer;
  readonly client: Client;
  /** The node ids, n1..n<count>, and their processes' ids in the same order. */
  readonly ids: readonly string[];
  readonly pids: readonly number[];
  close(): Promise<void>;
}

/** Starts nats-server, `count` node processes hosting `cluster` with `machine`, and a client. */
export async function nodeCluster(cluster: string, machine: string, extraNodeArgs: string[] = [], count = 3): Promise<NodeCluster> {
  const nats = await NatsServer.start();
  const dir = mkdtempSync(join(tmpdir(), 'concord-bench-'));
  const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  const children: ChildProcess[] = [];
  await Promise.all(
    ids.map(
      (id) =>
        new Promise<void>((ready, fail) => {
          const args = [...profileArgs(id), cli, 'node', '--id', id, '--data', join(dir, id), '--nats', nats.url, '--cluster', cluster, '--members', ids.join(','), '--machine', machine, ...extraNodeArgs];
          const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, CONCORD_LOG: 'error' } });
          children.push(child);
          child.stdout?.on('data', (c: Buffer) => {
            if (c.toString().includes('ready')) ready();
          });
          child.once('exit', (code) => fail(new Error(`${id} exited with ${String(code)}`)));
        }),
    ),
  );
  const clock = new RealClock();
  const transport = await NatsTransport.connect({ nodeId: `bench-${process.pid}`, servers: nats.url, clock, logger: stderrLogger('error') });
  const client = await Client.connect({ transport, clock, clusters: { [cluster]: ids }, requestTimeoutMs: 30_000, logger: stderrLogger('error') });
  while (ids.some((id) => !transport.liveNodes().has(id))) await sleep(clock, 20);
  return {
    nats,
    client,
    ids,
    pids: children.map((c) => c.pid as number),
    close: async () => {
      await client.close();
      await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : (c.once('exit', r), c.kill('SIGTERM'))))));
      await nats.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
