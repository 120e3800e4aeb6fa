// NatsTransport against a real nats-server spawned for this file: delivery,
// batching, liveness, a server restart, hostile input, credentials.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { encode } from '@msgpack/msgpack';
import { NatsServer } from '../helpers/nats_server.js';
import { NatsTransport, type NatsTransportOptions } from '../../src/transport/nats.js';
import { Codec, wireVersion } from '../../src/transport/codec.js';
import type { Envelope, NodeEvent } from '../../src/transport/transport.js';
import { runtimeVersion } from '../../src/raft/core/entry_kind.js';
import type { Entry } from '../../src/raft/core/types.js';
import { RealClock } from '../../src/io/clock.js';
import { memoryLogger } from '../../src/lib/logger.js';
import { ConcordError } from '../../src/lib/errors.js';
import { SeededRandom } from '../../src/io/random.js';

const fast = { heartbeatMs: 50, nodeTimeoutMs: 400, reconnectWaitMs: 100 };

let server: NatsServer;
let open: { close(): Promise<unknown> }[] = [];
let testNo = 0;
let prefix = 'it0';

beforeAll(async () => {
  server = await NatsServer.start({ maxPayload: 4 * 1024 * 1024 });
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  for (const t of open.reverse()) await t.close().catch(() => undefined);
  open = [];
  prefix = `it${++testNo}`;
});

/** A transport that records what it receives. */
interface Node {
  t: NatsTransport;
  got: Envelope[];
  events: NodeEvent[];
}

async function node(nodeId: string, options: Partial<NatsTransportOptions> = {}): Promise<Node> {
  const t = await NatsTransport.connect({ nodeId, servers: server.url, prefix, clock: new RealClock(), logger: memoryLogger(), ...fast, ...options });
  open.push(t);
  const n: Node = { t, got: [], events: [] };
  t.listen(
    (env) => n.got.push(env),
    (e) => n.events.push(e),
  );
  await t.flush();
  return n;
}

async function raw(): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url, noAsyncTraces: true });
  open.push({ close: () => nc.close() });
  return nc;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function entries(prev: number, n: number, size: number): Entry[] {
  return Array.from({ length: n }, (_, i) => ({ index: prev + 1 + i, term: 1, payload: new Uint8Array(size).fill(i & 0xff) }));
}

function ae(from: string, to: string, prev: number, n = 1, size = 16): Envelope {
  return { type: 'raft', cluster: 'c1', from, to, msg: { type: 'append_entries', term: 1, leaderId: from, prevLogIndex: prev, prevLogTerm: 1, entries: entries(prev, n, size), leaderCommit: 0, readSeq: 0 } };
}

/** A heartbeat as a node of an earlier build sends it (no runtime version), or with `runtime`. */
function hbBytes(node: string, incarnation: number, leaving = false, runtime?: number): Uint8Array {
  return new Uint8Array([wireVersion, ...encode(runtime === undefined ? [node, incarnation, leaving] : [node, incarnation, leaving, runtime])]);
}

describe('NatsTransport over a real nats-server', () => {
  it('delivers every kind of envelope between three nodes, in order, and loops self-sends back locally', async () => {
    const [a, b, c] = [await node('a'), await node('b'), await node('c')];
    const toB: Envelope[] = [
      ...Array.from({ length: 50 }, (_, i) => ae('a', 'b', i)),
      { type: 'request', id: 1, from: 'a', cluster: 'c1', body: { type: 'command', command: encode({ put: 'k', value: new Uint8Array([1, 2]) }) } },
      { type: 'request', id: 2, from: 'a', cluster: 'c1', body: { type: 'query', mode: 'consistent', query: { type: 'named', name: 'get', args: 'k' } } },
    ];
    for (const env of toB) a.t.send('b', env);
    const reply: Envelope = { type: 'response', id: 1, body: { ok: false, error: { code: 'not_leader', message: 'ask c', leader: 'c' } } };
    b.t.send('a', reply);
    c.t.send('c', { type: 'notify', dest: 's1', msg: 'to myself' });
    await waitFor('deliveries', () => b.got.length === toB.length && a.got.length === 1 && c.got.length === 1);
    expect(b.got).toEqual(toB);
    expect(a.got).toEqual([reply]);
    expect(c.got).toEqual([{ type: 'notify', dest: 's1', msg: 'to myself' }]);
    expect(c.t.stats.batchesSent).toBe(0);
  });

  it('turns many sends to one node in one tick into one NATS message, split only at batchBytesMax', async () => {
    const a = await node('a', { batchBytesMax: 64 * 1024 });
    const b = await node('b');
    for (let i = 0; i < 1000; i++) a.t.send('b', ae('a', 'b', i));
    await waitFor('1000 envelopes', () => b.got.length === 1000);
    expect(a.t.stats.batchesSent).toBe(1);
    expect(b.t.stats.batchesReceived).toBe(1);
    expect(b.got.map((e) => (e.type === 'raft' && e.msg.type === 'append_entries' ? e.msg.prevLogIndex : -1))).toEqual([...Array(1000).keys()]);
    // 100 AppendEntries of 64 x 256 bytes (16 KiB each) in one tick: split at 64 KiB, none lost.
    for (let i = 0; i < 100; i++) a.t.send('b', ae('a', 'b', i * 64, 64, 256));
    await waitFor('100 more', () => b.got.length === 1100);
    const split = a.t.stats.batchesSent - 1;
    expect(split).toBeGreaterThanOrEqual(25);
    expect(split).toBeLessThanOrEqual(34);
    expect(a.t.stats.bytesSent / a.t.stats.batchesSent).toBeLessThanOrEqual(64 * 1024);
  });

  it('reports node_up when a node appears, node_down at once when it closes, and node_up when it comes back', async () => {
    const a = await node('a', { nodeTimeoutMs: 5000 }); // a timeout far longer than the goodbye takes
    const b = await node('b');
    await waitFor('a sees b', () => a.t.liveNodes().has('b'));
    expect(a.events).toContainEqual({ type: 'node_up', node: 'b' });
    expect(a.events).toContainEqual({ type: 'node_up', node: 'a' });
    const closedAt = Date.now();
    expect([a.t.runtimeOf('a'), a.t.runtimeOf('b'), a.t.runtimeOf('nobody')]).toEqual([runtimeVersion, runtimeVersion, 0]);
    await b.t.close();
    await waitFor('a sees b down', () => !a.t.liveNodes().has('b'));
    expect(Date.now() - closedAt).toBeLessThan(2500); // the goodbye, not the 5 s timeout
    expect(a.events.at(-1)).toEqual({ type: 'node_down', node: 'b' });
    expect(a.t.runtimeOf('b')).toBe(runtimeVersion); // remembered while it is down
    const b2 = await node('b');
    await waitFor('a sees b again', () => a.t.liveNodes().has('b'));
    expect(a.events.at(-1)).toEqual({ type: 'node_up', node: 'b' });
    await waitFor('b sees a', () => b2.t.liveNodes().has('a'));
    expect([...a.t.liveNodes()].sort()).toEqual(['a', 'b']);
  });

  it('declares a silent node down after nodeTimeoutMs, and a restarted one down then up', async () => {
    const a = await node('a');
    const nc = await raw();
    nc.publish(`${prefix}.hb`, hbBytes('ghost', 1));
    await waitFor('ghost up', () => a.t.liveNodes().has('ghost'));
    expect(a.t.runtimeOf('ghost')).toBe(0); // an earlier build's heartbeat
    nc.publish(`${prefix}.hb`, hbBytes('ghost', 2, false, 7)); // the same id, a new run: it restarted, on a later build
    await waitFor('restart seen', () => a.events.filter((e) => e.node === 'ghost').length === 3);
    expect(a.t.runtimeOf('ghost')).toBe(7);
    expect(a.events.filter((e) => e.node === 'ghost').map((e) => e.type)).toEqual(['node_up', 'node_down', 'node_up']);
    const silentFrom = Date.now();
    await waitFor('ghost down', () => !a.t.liveNodes().has('ghost'));
    expect(Date.now() - silentFrom).toBeGreaterThanOrEqual(fast.nodeTimeoutMs - fast.heartbeatMs);
  });

  it('survives a nats-server restart: sends are dropped while it is down, node events follow, traffic resumes', async () => {
    const a = await node('a');
    const b = await node('b');
    await waitFor('mutual liveness', () => a.t.liveNodes().has('b') && b.t.liveNodes().has('a'));
    await server.stop();
    await waitFor('disconnect noticed', () => a.t.stats.disconnects === 1 && b.t.stats.disconnects === 1);
    a.t.send('b', ae('a', 'b', 0));
    await waitFor('send dropped', () => a.t.stats.dropped.disconnected === 1);
    await waitFor('b declared down', () => !a.t.liveNodes().has('b'));
    expect(a.events.at(-1)).toEqual({ type: 'node_down', node: 'b' });
    await server.start();
    await waitFor('reconnected', () => a.t.stats.reconnects === 1 && b.t.stats.reconnects === 1, 10_000);
    await waitFor('b up again', () => a.t.liveNodes().has('b') && b.t.liveNodes().has('a'));
    expect(a.events.at(-1)).toEqual({ type: 'node_up', node: 'b' });
    await b.t.flush(); // its subscription is back at the server
    a.t.send('b', ae('a', 'b', 7));
    await waitFor('traffic resumed', () => b.got.length === 1);
    expect(b.got[0]).toEqual(ae('a', 'b', 7));
  });

  it('with waitForServer, waits for a server that is not up yet; without it, fails at once', async () => {
    await server.stop();
    const logger = memoryLogger();
    await expect(NatsTransport.connect({ nodeId: 'a', servers: server.url, prefix, clock: new RealClock(), logger })).rejects.toMatchObject({ code: 'transport' });
    let connected: NatsTransport | undefined;
    const waiting = NatsTransport.connect({ nodeId: 'a', servers: server.url, prefix, clock: new RealClock(), logger, ...fast, waitForServer: true }).then((t) => {
      open.push(t);
      connected = t;
      return t;
    });
    await waitFor('the warning', () => logger.records.some((r) => r.msg === 'nats: no server answers; waiting for one'));
    expect(connected).toBeUndefined();
    await server.start();
    const a = await waiting;
    expect(logger.records.filter((r) => r.msg === 'nats: no server answers; waiting for one').length).toBe(1);
    expect(logger.records.some((r) => r.msg === 'nats: connected')).toBe(true);
    const got: Envelope[] = [];
    a.listen(
      (env) => got.push(env),
      () => {},
    );
    await a.flush();
    const b = await node('b');
    b.t.send('a', ae('b', 'a', 0));
    await waitFor('delivery to the late starter', () => got.length === 1);
  });

  it('counts and drops malformed messages on its subjects and keeps delivering valid traffic', async () => {
    const a = await node('a');
    const b = await node('b', { codec: { messageBytesMax: 1024 * 1024 } });
    const nc = await raw();
    const subject = b.t.subjects.node;
    const r = new SeededRandom(42);
    const codec = new Codec();
    const good = codec.encodeBatch('a', 'b', [ae('a', 'b', 0)], 1 << 20).messages[0] as Uint8Array;
    const junk: Uint8Array[] = [
      ...Array.from({ length: 200 }, () => Uint8Array.from({ length: r.int(300) }, () => r.int(256))),
      new Uint8Array([wireVersion + 1, ...good.subarray(1)]), // a future version
      new Uint8Array([wireVersion, ...encode(['a', 'b', [0, 'c1', 'a', 'b', [0, 'one', 'a', 0, 0, 0, 0, []]]])]), // term as a string
      new Uint8Array([wireVersion, ...encode(['a', 'b', [0, 'c1', 'mallory', 'b', [4, 1]]])]), // forged sender
      new Uint8Array([wireVersion, ...encode(['a', 'c', [0, 'c1', 'a', 'c', [4, 1]]])]), // meant for c
      new Uint8Array([wireVersion, ...encode(['a', 'b', [1, 1, 'a', 'c1', [2, 0, ['fn', 'x', null]]]])]), // a function query
      new Uint8Array([wireVersion, ...encode(['a', 'b', [1, 1, 'a', 'c1', [0, 'x'.repeat(2 * 1024 * 1024), null]]])]), // 2 MiB: oversized
      good.subarray(0, good.length - 3), // truncated
    ];
    for (const j of junk) {
      nc.publish(subject, j);
      nc.publish(`${prefix}.hb`, j);
    }
    // A well-formed envelope for a cluster nobody hosts travels: the System drops it (it knows its clusters).
    nc.publish(subject, codec.encodeBatch('a', 'b', [{ ...(ae('a', 'b', 0) as Extract<Envelope, { type: 'raft' }>), cluster: 'nobody' }], 1 << 20).messages[0] as Uint8Array);
    await nc.flush();
    a.t.send('b', ae('a', 'b', 3));
    await waitFor('valid traffic after the junk', () => b.got.some((e) => e.type === 'raft' && e.msg.type === 'append_entries' && e.msg.prevLogIndex === 3));
    const d = b.t.stats.dropped;
    const total = Object.values(d).reduce((x, y) => x + y, 0);
    expect(total).toBeGreaterThanOrEqual(junk.length * 2 - 10); // a few random strings may decode as empty batches elsewhere
    expect(d.version).toBeGreaterThanOrEqual(2);
    expect(d.bad_field).toBeGreaterThanOrEqual(1);
    expect(d.from_mismatch).toBe(1);
    expect(d.misaddressed).toBe(1);
    expect(d.fn_query).toBe(1);
    expect(d.too_long).toBeGreaterThanOrEqual(1);
    expect(b.got.filter((e) => e.type === 'raft' && e.cluster === 'nobody')).toHaveLength(1);
    expect(b.t.liveNodes().has('a')).toBe(true);
  });

  it('fails a function query at once with invalid_argument instead of letting it time out', async () => {
    const a = await node('a');
    await node('b');
    a.t.send('b', { type: 'request', id: 9, from: 'a', cluster: 'c1', body: { type: 'query', mode: 'local', query: { type: 'fn', fn: (s) => s } } });
    await waitFor('local error response', () => a.got.length === 1);
    expect(a.got[0]).toMatchObject({ type: 'response', id: 9, body: { ok: false, error: { code: 'invalid_argument' } } });
    expect(a.t.stats.dropped.fn_query).toBe(1);
  });

  it('drops sends after close, closes twice without harm, and closes promptly while the server is down', async () => {
    const a = await node('a');
    const b = await node('b');
    await a.t.close();
    await a.t.close();
    a.t.send('b', ae('a', 'b', 0));
    expect(a.t.stats.dropped.closed).toBe(1);
    await server.stop();
    await waitFor('b disconnected', () => b.t.stats.disconnects === 1);
    const t0 = Date.now();
    await b.t.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    await server.start();
  });
});

describe('NatsTransport credentials', () => {
  it('connects with user and password, and rejects bad ones with a transport error', async () => {
    const secured = await NatsServer.start({ user: 'concord', pass: 's3cret' });
    try {
      const base = { servers: secured.url, clock: new RealClock(), logger: memoryLogger(), prefix: 'auth', nats: { maxReconnectAttempts: 0, reconnect: false } };
      const t = await NatsTransport.connect({ nodeId: 'a', user: 'concord', pass: 's3cret', ...base });
      await t.close();
      const bad = NatsTransport.connect({ nodeId: 'a', user: 'concord', pass: 'wrong', ...base });
      await expect(bad).rejects.toBeInstanceOf(ConcordError);
      await expect(bad).rejects.toMatchObject({ code: 'transport' });
      // Waiting for a server is for one that does not answer, not for one that refuses.
      await expect(NatsTransport.connect({ nodeId: 'a', user: 'concord', pass: 'wrong', ...base, waitForServer: true })).rejects.toMatchObject({ code: 'transport' });
    } finally {
      await secured.close();
    }
  });

  it('connects with a token', async () => {
    const secured = await NatsServer.start({ token: 't0ken' });
    try {
      const t = await NatsTransport.connect({ nodeId: 'a', servers: secured.url, token: 't0ken', clock: new RealClock(), logger: memoryLogger() });
      await t.close();
    } finally {
      await secured.close();
    }
  });

  it('refuses bad options before connecting', async () => {
    await expect(NatsTransport.connect({ nodeId: 'a b' })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(NatsTransport.connect({ nodeId: 'a', prefix: 'x.>' })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(NatsTransport.connect({ nodeId: 'a', heartbeatMs: 500, nodeTimeoutMs: 600 })).rejects.toMatchObject({ code: 'invalid_argument' });
  });
});
