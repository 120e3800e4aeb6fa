// Three `concord node` processes over a private nats-server: the Client and
// the CLI, SIGKILL of the leader and its restart, a nats-server restart under
// load, and hostile messages on the node subjects.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { NatsServer } from '../helpers/nats_server.js';
import { NodeProcess, runCli, startCli } from '../helpers/processes.js';
import { Client } from '../../src/api/client.js';
import { NatsTransport } from '../../src/transport/nats.js';
import { silentLogger } from '../../src/lib/logger.js';

const ids = ['n1', 'n2', 'n3'];
let nats: NatsServer;
let dir: string;
let nodes: Map<string, NodeProcess>;
let client: Client;

async function newClient(): Promise<Client> {
  const transport = await NatsTransport.connect({ nodeId: `t-${randomBytes(3).toString('hex')}`, servers: nats.url, logger: silentLogger });
  const c = await Client.connect({ transport, clusters: { kv: ids }, logger: silentLogger, requestTimeoutMs: 15_000 });
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && ids.some((n) => !transport.liveNodes().has(n))) await new Promise((r) => setTimeout(r, 20));
  return c;
}

/**
 * `writers` loops putting `<prefix><n>` = n (n counting up from `first`) until
 * stopped; `acked` holds every n acknowledged (a timed-out put is not counted).
 */
function writePuts(writers: number, prefix: string, first: number, timeoutMs: number): { acked: number[]; stop: () => Promise<void> } {
  const acked: number[] = [];
  let stopped = false;
  let i = first;
  const loops = Array.from({ length: writers }, async () => {
    while (!stopped) {
      const n = i++;
      try {
        await client.processCommand('kv', { type: 'put', key: `${prefix}${n}`, value: n }, { timeoutMs });
        acked.push(n);
      } catch {
        // unknown outcome: not counted
      }
    }
  });
  return {
    acked,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

async function leader(): Promise<string> {
  for (let i = 0; i < 200; i++) {
    try {
      const s = await client.members('kv', { timeoutMs: 2000 });
      if (s.leader !== undefined && (await client.members('kv', { member: s.leader, timeoutMs: 2000 })).role === 'leader') return s.leader;
    } catch {
      // electing
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no leader');
}

const env = () => ({ CONCORD_NATS: nats.url, CONCORD_CLUSTER: 'kv', CONCORD_MEMBERS: ids.join(',') });

beforeAll(async () => {
  nats = await NatsServer.start();
  dir = mkdtempSync(join(tmpdir(), 'concord-procs-'));
  nodes = new Map(ids.map((id) => [id, new NodeProcess(id, join(dir, id), nats.url, ['--cluster', 'kv', '--members', ids.join(','), '--machine', 'kv', '--election-timeout', '300'])]));
  await Promise.all([...nodes.values()].map((n) => n.start()));
  client = await newClient();
}, 60_000);

afterAll(async () => {
  await client?.close();
  for (const n of nodes?.values() ?? []) await n.stop('SIGKILL');
  await nats?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('three node processes over NATS', () => {
  it('serves writes and reads through the Client and the CLI, with the documented exit codes', async () => {
    await client.processCommand('kv', { type: 'put', key: 'from-client', value: 42 });
    const put = await runCli(['kv', 'put', 'colour', 'blue'], env());
    expect(put.code).toBe(0);
    const get = await runCli(['kv', 'get', 'colour', '--json'], env());
    expect(get.code).toBe(0);
    expect(JSON.parse(get.stdout)).toEqual({ key: 'colour', value: 'blue' });
    expect((await runCli(['kv', 'get', 'from-client'], env())).stdout.trim()).toBe('42');
    const status = await runCli(['cluster', 'status', '--json'], env());
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).members).toHaveLength(3);
    expect((await runCli(['kv', 'frobnicate'], env())).code).toBe(2); // usage error
    for (const args of [['kv', 'toString'], ['cluster', '__proto__'], ['constructor']]) {
      const inherited = await runCli(args, env()); // names every object has are no commands either
      expect(inherited.code).toBe(2);
      expect(inherited.stderr).toMatch(/unknown command/);
      expect(inherited.stderr).not.toMatch(/native code/);
    }
    expect((await runCli(['node', '--id', 'nx', '--data', join(dir, 'nx'), '--wal-sync', 'sometimes'], env())).code).toBe(2);
    expect((await runCli(['kv', 'get', 'x', '--cluster', 'nope', '--timeout', '500'], env())).code).toBe(1); // operation error
    expect((await runCli(['kv', '--help'])).code).toBe(0);
  });

  it('keeps keys while their time to live and their node last, and prints watched changes (CLI)', async () => {
    const watching = startCli(['kv', 'watch', 'cfg.', '--bucket', 'app', '--count', '3', '--json'], env());
    await watching.waitFor('watching keys starting with "cfg." in bucket app');
    const cli = async (...args: string[]) => {
      const r = await runCli(args, env());
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r.stdout.trim();
    };
    await cli('kv', 'put', 'cfg.a', '1', '--bucket', 'app');
    await cli('kv', 'put', 'cfg.b', '2', '--bucket', 'app', '--ttl', '300ms');
    await cli('kv', 'put', 'other', '3', '--bucket', 'app');
    const watched = await watching.done; // the third change is cfg.b's expiry
    expect(watched.code).toBe(0);
    expect(watched.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).map(({ seq, key, op, value, reason }) => [seq, key, op, value ?? reason])).toEqual([
      [1, 'cfg.a', 'put', '1'],
      [2, 'cfg.b', 'put', '2'],
      [3, 'cfg.b', 'delete', 'expired'],
    ]);
    expect(await cli('kv', 'keys', '--bucket', 'app')).toBe('cfg.a = 1\nother = 3');
    expect(await cli('kv', 'buckets')).toContain('app');
    expect(await cli('kv', 'touch', 'cfg.a', '--bucket', 'app', '--ttl', '1h')).toBe('ok');
    expect(await cli('kv', 'drop-bucket', 'app')).toBe('deleted 2 keys');

    // A key bound to a node goes when the node does (SIGKILL: no goodbye), and only then.
    const victim = nodes.get('n3') as NodeProcess;
    await cli('kv', 'put', 'svc/n3', 'up', '--node', 'n3');
    await cli('kv', 'put', 'svc/n3/port', '7000', '--parent', 'svc/n3');
    expect(await cli('kv', 'get', 'svc/n3/port')).toBe('7000');
    await victim.stop('SIGKILL');
    const deadline = Date.now() + 15_000;
    let left = await cli('kv', 'keys', 'svc/');
    while (left !== '(none)' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      left = await cli('kv', 'keys', 'svc/');
    }
    expect(left).toBe('(none)');
    await victim.start();

    // Bound to a Client: its lock goes when it closes (and would if its process died).
    const holder = await newClient();
    expect(await holder.processCommand('kv', { type: 'put_if_absent', key: 'lock', value: holder.nodeId, node: holder.nodeId })).toEqual({ ok: true, previous: null });
    expect(await client.consistentQuery('kv', { name: 'get', args: 'lock' })).toBe(holder.nodeId);
    await holder.close();
    const freed = Date.now() + 15_000;
    while ((await client.consistentQuery('kv', { name: 'get', args: 'lock' })) !== null && Date.now() < freed) await new Promise((r) => setTimeout(r, 50));
    expect(await client.consistentQuery('kv', { name: 'get', args: 'lock' })).toBe(null);

    for (const bad of [['kv', 'put', 'x', '1', '--ttl', '5parsecs'], ['kv', 'touch', 'x'], ['kv', 'put', 'x', '1', '--parent', 'absent']]) {
      const r = await runCli(bad, env());
      expect(r.code, bad.join(' ')).toBe(2);
    }
  });

  it('survives SIGKILL of the leader: a new leader takes over, the old one restarts, every acknowledged write is there', async () => {
    const { acked, stop } = writePuts(1, 'k', 0, 15_000);
    await new Promise((r) => setTimeout(r, 500));
    const old = await leader();
    const killed = nodes.get(old) as NodeProcess;
    await killed.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 1500));
    const next = await leader();
    expect(next).not.toBe(old);
    await killed.start();
    await new Promise((r) => setTimeout(r, 500));
    await stop();
    expect(acked.length).toBeGreaterThan(50);
    const stored = new Map(await client.consistentQuery<[string, number][]>('kv', { name: 'range', args: { prefix: 'k' } }, { timeoutMs: 15_000 }));
    for (const n of acked) expect(stored.get(`k${n}`)).toBe(n);
    // The restarted node catches up.
    const deadline = Date.now() + 15_000;
    let caught = false;
    while (!caught && Date.now() < deadline) {
      const [l, m] = await Promise.all([client.members('kv'), client.members('kv', { member: old })]).catch(() => [undefined, undefined]);
      caught = l !== undefined && m !== undefined && m.appliedIndex >= l.commitIndex;
      if (!caught) await new Promise((r) => setTimeout(r, 50));
    }
    expect(caught).toBe(true);
  });

  it('keeps every acknowledged write through a nats-server restart under load', async () => {
    const { acked, stop } = writePuts(4, 'r', 100_000, 20_000);
    await new Promise((r) => setTimeout(r, 400));
    await nats.restart();
    await new Promise((r) => setTimeout(r, 2500));
    await stop();
    const stored = new Map(await client.consistentQuery<[string, number][]>('kv', { name: 'range', args: { prefix: 'r' } }, { timeoutMs: 20_000 }));
    expect(acked.length).toBeGreaterThan(20);
    for (const n of acked) expect(stored.get(`r${n}`)).toBe(n);
    await client.processCommand('kv', { type: 'put', key: 'after-restart', value: 1 }, { timeoutMs: 20_000 });
  });

  it('keeps serving when junk is published on the node subjects', async () => {
    const raw = await connect({ servers: nats.url });
    const junk: Uint8Array[] = [
      randomBytes(64),
      new Uint8Array(0),
      new Uint8Array([1, 0x90]), // version 1, empty array
      new Uint8Array([1, 0x93, 0xa2, 0x78, 0x78, 0xa2, 0x6e, 0x31, 0x01]), // wrong shapes
      new Uint8Array([9, 1, 2, 3]), // unknown version
      randomBytes(900 * 1024), // large
    ];
    for (let k = 0; k < 200; k++) junk.push(randomBytes(1 + (k % 300)));
    for (const id of ids) for (const bytes of junk) raw.publish(`concord.node.${id}`, bytes);
    raw.publish('concord.hb', randomBytes(40));
    await raw.flush();
    await raw.close();
    await client.processCommand('kv', { type: 'put', key: 'after-junk', value: 'fine' });
    expect(await client.consistentQuery('kv', { name: 'get', args: 'after-junk' })).toBe('fine');
    for (const n of nodes.values()) expect(n.pid).toBeDefined();
    const status = await runCli(['cluster', 'status', '--json'], env());
    expect(JSON.parse(status.stdout).members.every((m: { role: string }) => m.role !== 'unreachable')).toBe(true);
  });
});

describe('a node started before NATS', () => {
  it('waits for the server, then starts and serves', async () => {
    const late = await NatsServer.start();
    await late.stop(); // its port is known, nothing listens yet
    const home = mkdtempSync(join(tmpdir(), 'concord-late-'));
    const node = new NodeProcess('solo1', home, late.url, ['--cluster', 'solo', '--members', 'solo1', '--machine', 'counter', '--election-timeout', '300'], { CONCORD_LOG: 'warn' });
    try {
      const ready = node.start(30_000);
      const deadline = Date.now() + 10_000;
      while (!node.output.includes('no server answers; waiting for one')) {
        if (Date.now() > deadline) throw new Error(`no waiting message: ${node.output}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      await late.start();
      await ready;
      const r = await runCli(['counter', 'incr', '--cluster', 'solo', '--members', 'solo1', '--nats', late.url, '--json']);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ value: 1 });
    } finally {
      await node.stop('SIGKILL');
      await late.close();
      rmSync(home, { recursive: true, force: true });
    }
  }, 60_000);
});
