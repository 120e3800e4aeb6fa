// A `concord node` process reports through the OpenTelemetry SDK its process
// registers (NODE_OPTIONS="--import <setup>", as the README shows): a real
// node, real commands through the CLI, and the metrics the SDK exported.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsServer } from '../helpers/nats_server.js';
import { NodeProcess, runCli } from '../helpers/processes.js';

/** A server holding a free port (closed by the caller, to free it, or kept to make the port busy). */
function holdPort(): Promise<{ server: Server; port: number }> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolvePort({ server, port: (server.address() as { port: number }).port }));
  });
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const setup = join(root, 'test/fixtures/otel_setup.mjs');

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

  it('serves Prometheus metrics with --metrics-port, and refuses a port in use with a usage error', async () => {
    const held = await holdPort();
    await new Promise((r) => held.server.close(r));
    node = new NodeProcess('p1', join(dir, 'p1'), nats.url, ['--cluster', 'kv', '--members', 'p1', '--machine', 'kv', '--metrics-port', String(held.port)]);
    await node.start();
    expect(node.output).toContain(`metrics http://127.0.0.1:${held.port}/metrics`);
    const env = { CONCORD_NATS: nats.url, CONCORD_CLUSTER: 'kv', CONCORD_MEMBERS: 'p1' };
    for (const colour of ['red', 'green']) expect((await runCli(['kv', 'put', 'colour', colour], env)).code).toBe(0);
    const text = await (await fetch(`http://127.0.0.1:${held.port}/metrics`)).text();
    const sample = (name: string, label: string): number | undefined => {
      const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    expect(sample('concord_raft_members', 'concord_raft_role="leader"')).toBe(1);
    expect(sample('concord_wal_entries_total', 'concord_node="p1"')).toBeGreaterThanOrEqual(3);
    expect(text).toMatch(/concord_wal_write_duration_bucket\{/);
    expect(await node.stop()).toBe(0);
    node = undefined;

    const hostAlone = await runCli(['node', '--id', 'p3', '--data', join(dir, 'p3'), '--nats', nats.url, '--metrics-host', '0.0.0.0']);
    expect(hostAlone.code).toBe(2);
    expect(hostAlone.stderr).toContain('--metrics-host needs --metrics-port');
    const busy = await holdPort();
    try {
      const r = await runCli(['node', '--id', 'p2', '--data', join(dir, 'p2'), '--nats', nats.url, '--metrics-port', String(busy.port)]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`cannot listen on 127.0.0.1:${busy.port}`);
    } finally {
      await new Promise((r) => busy.server.close(r));
    }
  });

  it('says what to install when --metrics-port finds no OpenTelemetry SDK', () => {
    // An installation of concord with its own dependencies only, as a user gets it.
    const install = join(dir, 'bare');
    cpSync(join(root, 'dist/src'), join(install, 'dist/src'), { recursive: true });
    cpSync(join(root, 'dist/machines'), join(install, 'dist/machines'), { recursive: true });
    writeFileSync(join(install, 'package.json'), JSON.stringify({ type: 'module' }));
    mkdirSync(join(install, 'node_modules/@opentelemetry'), { recursive: true });
    for (const dep of ['@msgpack', '@nats-io', 'lru-cache']) symlinkSync(join(root, 'node_modules', dep), join(install, 'node_modules', dep));
    symlinkSync(join(root, 'node_modules/@opentelemetry/api'), join(install, 'node_modules/@opentelemetry/api'));
    const r = spawnSync(process.execPath, [join(install, 'dist/src/cli/main.js'), 'node', '--id', 'q1', '--data', join(dir, 'q1'), '--nats', nats.url, '--metrics-port', '9'], {
      encoding: 'utf8',
      env: { ...process.env, CONCORD_LOG: 'error' },
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--metrics-port needs @opentelemetry/sdk-metrics and @opentelemetry/exporter-prometheus (npm install');
  });
});
