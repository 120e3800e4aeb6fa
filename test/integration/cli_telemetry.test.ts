// A `concord node` process reports through the OpenTelemetry SDK its process
// registers (NODE_OPTIONS="--import <setup>", as the README shows): a real
// node, real commands through the CLI, and the metrics the SDK exported.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsServer } from '../helpers/nats_server.js';
import { NodeProcess, runCli } from '../helpers/processes.js';

const setup = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/otel_setup.mjs');

type Exported = Record<string, { attributes: Record<string, unknown>; value: unknown }[]>;

let dir: string;
let nats: NatsServer;
let node: NodeProcess | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'concord-otel-'));
  nats = await NatsServer.start();
});

afterAll(async () => {
  await node?.stop();
  await nats.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What the node's SDK exported last, once `ready` holds of it (the SDK exports every 100 ms). */
async function exported(file: string, ready: (m: Exported) => boolean): Promise<Exported> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (existsSync(file)) {
      const m = JSON.parse(readFileSync(file, 'utf8')) as Exported;
      if (ready(m)) return m;
      if (Date.now() > deadline) return m;
    } else if (Date.now() > deadline) throw new Error('the node exported no metrics');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The value of `metric`'s point whose attributes include `match`. */
function value(m: Exported, metric: string, match: Record<string, unknown> = {}): unknown {
  return m[metric]?.find((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))?.value;
}

describe('concord node with an OpenTelemetry SDK', () => {
  it('exports its members, WAL, transport and per-member figures', async () => {
    const out = join(dir, 'metrics.json');
    node = new NodeProcess('o1', join(dir, 'o1'), nats.url, ['--cluster', 'kv', '--members', 'o1', '--machine', 'kv', '--otel-per-member'], {
      NODE_OPTIONS: `--import=${setup}`,
      CONCORD_TEST_OTEL_OUT: out,
    });
    await node.start();
    const env = { CONCORD_NATS: nats.url, CONCORD_CLUSTER: 'kv', CONCORD_MEMBERS: 'o1' };
    for (const colour of ['red', 'green', 'blue']) expect((await runCli(['kv', 'put', 'colour', colour], env)).code).toBe(0);

    const m = await exported(out, (x) => Number(value(x, 'concord.raft.applied_index', { 'concord.cluster': 'kv' }) ?? 0) >= 4);
    const o1 = { 'concord.node': 'o1' };
    expect(value(m, 'concord.raft.members', { ...o1, 'concord.raft.role': 'leader' })).toBe(1);
    expect(value(m, 'concord.raft.applied_index', { ...o1, 'concord.cluster': 'kv' })).toBeGreaterThanOrEqual(4); // a no-op, three puts
    expect(value(m, 'concord.wal.entries', o1)).toBeGreaterThanOrEqual(4);
    expect(value(m, 'concord.transport.messages', { ...o1, 'network.io.direction': 'receive' })).toBeGreaterThanOrEqual(3);
    const batches = value(m, 'concord.wal.write.duration', o1) as { count: number; sum: number };
    expect(batches.count).toBe(value(m, 'concord.wal.batches', o1));
    expect(batches.sum).toBeGreaterThan(0); // real syncs take time
    expect(await node.stop()).toBe(0);
    node = undefined;
  });
});
