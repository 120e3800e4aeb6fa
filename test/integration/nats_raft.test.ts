// A whole Raft cluster over NATS in one process: three Systems, each with its
// own NatsTransport and data dir, against one spawned nats-server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { NatsServer } from '../helpers/nats_server.js';
import { fastRaft } from '../helpers/local_cluster.js';
import { System } from '../../src/api/system.js';
import { NatsTransport } from '../../src/transport/nats.js';
import { Codec, wireVersion } from '../../src/transport/codec.js';
import { RealClock } from '../../src/io/clock.js';
import { memoryLogger } from '../../src/lib/logger.js';
import { KvMachine } from '../../machines/kv.js';
import { Client } from '../../src/api/client.js';
import { instrument } from '../../src/telemetry/index.js';
import { pipeline } from '../helpers/telemetry.js';
import { SpanStatusCode } from '@opentelemetry/api';

const nodes = ['a', 'b', 'c'];
let server: NatsServer;
let dir: string;
const systems = new Map<string, System>();
const transports = new Map<string, NatsTransport>();

beforeAll(async () => {
  server = await NatsServer.start();
  dir = mkdtempSync(join(tmpdir(), 'concord-nats-raft-'));
  const clock = new RealClock();
  const logger = memoryLogger();
  for (const nodeId of nodes) {
    const transport = await NatsTransport.connect({ nodeId, servers: server.url, clock, logger, heartbeatMs: 50, nodeTimeoutMs: 500 });
    transports.set(nodeId, transport);
    systems.set(nodeId, await System.start({ nodeId, dataDir: join(dir, nodeId), transport, machines: { kv: () => new KvMachine() }, clock, logger, raft: fastRaft }));
  }
  for (const t of transports.values()) await t.flush();
});

afterAll(async () => {
  for (const s of systems.values()) await s.stop();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function sys(node: string): System {
  return systems.get(node) as System;
}

describe('a kv cluster over NATS', () => {
  it('starts, elects a leader, applies writes and answers consistent reads from every node', async () => {
    const started = await sys('a').startCluster('kv1', 'kv', nodes);
    expect([...started.started].sort()).toEqual(nodes);
    for (let i = 0; i < 20; i++) {
      const reply = await sys(nodes[i % 3] as string).processCommand<{ ok: boolean }>('kv1', { type: 'put', key: `k${i}`, value: i });
      expect(reply.ok).toBe(true);
    }
    for (const n of nodes) expect(await sys(n).consistentQuery('kv1', { name: 'get', args: 'k7' })).toBe(7);
    const status = await sys('b').members('kv1');
    expect(status.role).toBe('leader');
    expect(transports.get('a')?.stats.dropped.disconnected).toBe(0);
  });

  it('keeps serving while junk is published on every node subject, and Systems drop envelopes for unknown clusters', async () => {
    const nc = await connect({ servers: server.url, noAsyncTraces: true });
    const codec = new Codec();
    const unknownCluster = codec.encodeBatch('b', 'a', [{ type: 'raft', cluster: 'nobody', from: 'b', to: 'a', msg: { type: 'timeout_now', term: 99 } }], 1 << 20).messages[0] as Uint8Array;
    for (const n of nodes) {
      for (let i = 0; i < 50; i++) nc.publish(`concord.node.${n}`, Uint8Array.from({ length: 64 }, (_, j) => (i * 31 + j * 7) & 0xff));
      nc.publish(`concord.node.${n}`, new Uint8Array([wireVersion, 0x93, 0xa1, 0x62, 0xa1, 0x61, 0x05])); // [b, a, 5]
    }
    nc.publish('concord.node.a', unknownCluster);
    await nc.flush();
    await nc.close();
    const reply = await sys('c').processCommand<{ ok: boolean }>('kv1', { type: 'put', key: 'after-junk', value: true });
    expect(reply.ok).toBe(true);
    expect(await sys('a').consistentQuery('kv1', { name: 'get', args: 'after-junk' })).toBe(true);
    expect(sys('a').dropped.unknownCluster).toBe(1);
    for (const n of nodes) {
      const dropped = Object.values(transports.get(n)?.stats.dropped ?? {}).reduce((x, y) => x + y, 0);
      expect(dropped).toBeGreaterThanOrEqual(40);
    }
  });

  it('reports its transport, drops and requests through OpenTelemetry, for a System and for a Client', async () => {
    const p = pipeline();
    const onSystem = instrument(sys('a'), { meterProvider: p.meterProvider, tracerProvider: p.tracerProvider });
    const transport = await NatsTransport.connect({ nodeId: 'client-otel', servers: server.url, logger: memoryLogger(), heartbeatMs: 50, nodeTimeoutMs: 500 });
    const client = await Client.connect({ transport, clusters: { kv1: nodes } });
    const onClient = instrument(client, { meterProvider: p.meterProvider, tracerProvider: p.tracerProvider });
    const onOthers = nodes.filter((n) => n !== 'a').map((n) => instrument(sys(n), { tracerProvider: p.tracerProvider }));
    try {
      for (let i = 0; i < 5; i++) await client.processCommand('kv1', { type: 'put', key: `otel${i}`, value: i });
      await sys('a').consistentQuery('kv1', { name: 'get', args: 'otel4' });
      expect(await p.count('concord.request.duration', { 'concord.node': 'client-otel', 'concord.operation': 'command' })).toBe(5);
      expect(await p.count('concord.request.duration', { 'concord.node': 'a', 'concord.operation': 'query.consistent' })).toBe(1);
      const commandSpans = p.spans.getFinishedSpans().filter((s) => s.name === 'concord command');
      const clientSpans = commandSpans.filter((s) => s.attributes['concord.node'] === 'client-otel');
      expect(clientSpans).toHaveLength(5);
      // Each command's trace went over NATS with it: the leader that answered it has a span in the trace.
      const leader = (await sys('a').members('kv1')).leader;
      for (const c of clientSpans) {
        const answered = commandSpans.filter((s) => s.parentSpanContext?.spanId === c.spanContext().spanId && s.status.code !== SpanStatusCode.ERROR);
        expect(answered.map((s) => [s.attributes['concord.node'], s.spanContext().traceId])).toEqual([[leader, c.spanContext().traceId]]);
      }
      const a = transports.get('a') as NatsTransport;
      const sent = { 'concord.node': 'a', 'network.io.direction': 'transmit' };
      // Read after the collection: the counters only grow, and the heartbeats go on meanwhile.
      const messages = await p.value('concord.transport.messages', sent);
      expect(messages).toBeGreaterThan(0);
      expect(messages).toBeLessThanOrEqual(a.stats.sent);
      expect(await p.value('concord.transport.io', { 'concord.node': 'a', 'network.io.direction': 'receive' })).toBeGreaterThan(0);
      expect(await p.value('concord.transport.messages', { 'concord.node': 'client-otel', 'network.io.direction': 'transmit' })).toBeGreaterThanOrEqual(5);
      // The junk of the test before: the transport's own drops and the System's, by reason.
      const drops = await p.points('concord.transport.dropped', { 'concord.node': 'a' });
      const byReason = Object.fromEntries(drops.map((d) => [d.attributes['concord.drop.reason'], d.value]));
      expect(byReason['unknown_cluster']).toBe(sys('a').dropped.unknownCluster);
      for (const [reason, count] of Object.entries(a.stats.dropped)) expect(byReason[reason]).toBe(count);
      expect(Object.values(byReason).reduce((x, y) => (x as number) + (y as number), 0)).toBeGreaterThan(0);
      expect(await p.value('concord.wal.batches', { 'concord.node': 'a' })).toBeGreaterThan(0);
    } finally {
      onClient.stop();
      onSystem.stop();
      for (const t of onOthers) t.stop();
      await client.close();
    }
  });

  it('elects a new leader when the leader node stops, and the restarted node catches up over a new connection', async () => {
    const leader = (await sys('a').members('kv1')).node;
    const rest = nodes.filter((n) => n !== leader);
    await sys(leader).stop();
    systems.delete(leader);
    const survivor = sys(rest[0] as string);
    await survivor.processCommand('kv1', { type: 'put', key: 'without-old-leader', value: 1 }, { timeoutMs: 10_000 });
    expect((await survivor.members('kv1')).node).not.toBe(leader);
    const clock = new RealClock();
    const logger = memoryLogger();
    const transport = await NatsTransport.connect({ nodeId: leader, servers: server.url, clock, logger, heartbeatMs: 50, nodeTimeoutMs: 500 });
    transports.set(leader, transport);
    const back = await System.start({ nodeId: leader, dataDir: join(dir, leader), transport, machines: { kv: () => new KvMachine() }, clock, logger, raft: fastRaft });
    systems.set(leader, back);
    await back.restartServer('kv1');
    await back.processCommand('kv1', { type: 'put', key: 'back', value: 2 }, { timeoutMs: 10_000 });
    const deadline = Date.now() + 5000;
    while ((await back.localQuery('kv1', { name: 'get', args: 'without-old-leader' })) !== 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await back.localQuery('kv1', { name: 'get', args: 'without-old-leader' })).toBe(1);
  });
});
