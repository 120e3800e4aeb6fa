// OpenTelemetry instrumentation: what `instrument` reports reaches a real SDK
// (metrics read through a MetricReader, spans through an in-memory exporter),
// from whole Systems in the deterministic world.
import { afterEach, describe, expect, it } from 'vitest';
import type { Histogram } from '@opentelemetry/sdk-metrics';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AlwaysOffSampler, BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { pipeline } from '../../helpers/telemetry.js';
import { World } from '../../../src/sim/world.js';
import { instrument, type Telemetry, type TelemetryOptions } from '../../../src/telemetry/index.js';
import { KvMachine } from '../../../machines/kv.js';
import { ConcordError } from '../../../src/lib/errors.js';
import { commandRequest } from '../../../src/api/session.js';

const nodes = ['n1', 'n2', 'n3'];
const running: Telemetry[] = [];
afterEach(() => {
  for (const t of running.splice(0)) t.stop();
});

async function kvWorld(options: { snapshotEveryEntries?: number } = {}): Promise<World> {
  const world = new World({ seed: 7, nodes, machines: { kv: () => new KvMachine() }, ...options });
  for (const n of nodes) await world.startNode(n);
  const started = await world.settle(world.system('n1').startCluster('kv', 'kv', nodes));
  expect(started.notStarted).toEqual([]);
  return world;
}

function instrumented(world: World, node: string, p: ReturnType<typeof pipeline>, options: TelemetryOptions = {}): Telemetry {
  const t = instrument(world.system(node), { meterProvider: p.meterProvider, tracerProvider: p.tracerProvider, ...options });
  running.push(t);
  return t;
}

/** The cluster's leader, once there is one (a command goes through it). */
async function leaderOf(world: World): Promise<string> {
  await world.settle(world.system('n1').processCommand('kv', { type: 'delete', key: 'none' }));
  const { leader } = await world.settle(world.system('n1').members('kv'));
  if (leader === undefined) throw new Error('no leader');
  return leader;
}

async function puts(world: World, node: string, count: number, from = 0): Promise<void> {
  for (let i = from; i < from + count; i++) await world.settle(world.system(node).processCommand('kv', { type: 'put', key: `k${i}`, value: i }));
}

describe('telemetry', () => {
  it('reports every request with its duration, outcome and a client span', async () => {
    const world = await kvWorld();
    const p = pipeline();
    instrumented(world, 'n1', p);
    await puts(world, 'n1', 20);
    expect(await world.settle(world.system('n1').consistentQuery('kv', { name: 'get', args: 'k3' }))).toBe(3);
    const missing = await world.settle(world.system('n1').processCommand('nope', { type: 'put', key: 'a', value: 1 }, { timeoutMs: 300 }).catch((e: unknown) => e));
    expect((missing as ConcordError).code).toBe('cluster_not_found');

    const commands = { 'concord.node': 'n1', 'concord.operation': 'command' };
    const ok = (await p.points('concord.request.duration', commands)).filter((pt) => pt.attributes['error.type'] === undefined);
    expect(ok.map((pt) => (pt.value as Histogram).count)).toEqual([20]);
    expect((ok[0]?.value as Histogram).sum).toBeGreaterThan(0); // virtual time passes for each command
    expect(await p.count('concord.request.duration', { ...commands, 'error.type': 'cluster_not_found' })).toBe(1);
    expect(await p.count('concord.request.duration', { 'concord.operation': 'query.consistent' })).toBe(1);
    // The missing cluster was asked again and again until the deadline.
    expect(await p.value('concord.request.retries', { 'error.type': 'cluster_not_found' })).toBeGreaterThan(0);

    const spans = p.spans.getFinishedSpans();
    const commandSpans = spans.filter((s) => s.name === 'concord command' && s.kind === SpanKind.CLIENT);
    expect(commandSpans).toHaveLength(21);
    const failed = commandSpans.filter((s) => s.status.code === SpanStatusCode.ERROR);
    expect(failed.map((s) => [s.attributes['concord.cluster'], s.attributes['error.type']])).toEqual([['nope', 'cluster_not_found']]);
    expect(spans.filter((s) => s.name === 'concord query.consistent')).toHaveLength(1);
  });

  it("reports the node's members, protocol events, WAL batches and log figures", async () => {
    const world = await kvWorld({ snapshotEveryEntries: 8 });
    const p = pipeline();
    for (const n of nodes) instrumented(world, n, p);
    await puts(world, 'n1', 30);
    world.run(200); // the followers learn the last commit index

    // One member per node; across the three, one leader.
    for (const n of nodes) expect(await p.value('concord.raft.members', { 'concord.node': n })).toBe(1);
    expect(await p.value('concord.raft.members', { 'concord.raft.role': 'leader' })).toBe(1);
    expect(await p.value('concord.raft.members.failed')).toBe(0);
    const elected = await p.value('concord.raft.leaders.elected');
    expect(elected).toBeGreaterThanOrEqual(1);
    expect(await p.value('concord.raft.elections', { 'concord.election.phase': 'vote' })).toBeGreaterThanOrEqual(elected);
    // Every member applied the 30 puts (and the leader's no-op and the sessionless rest).
    for (const n of nodes) expect(await p.value('concord.raft.entries.applied', { 'concord.node': n })).toBeGreaterThanOrEqual(30);
    for (const n of nodes) expect(await p.value('concord.raft.snapshots', { 'concord.node': n, 'concord.snapshot.event': 'taken' })).toBeGreaterThanOrEqual(1);

    // Each put was timed once, on the leader's node, from entering its log to being applied.
    expect(await p.count('concord.raft.command.duration')).toBe(30);
    expect(await p.value('concord.raft.members.leaderless')).toBe(0);

    // The counters and the per-batch histograms agree with the log's own figures.
    const stats = world.system('n1').logSystem.stats();
    expect(stats.wal.batches).toBeGreaterThan(0);
    expect(await p.value('concord.wal.batches', { 'concord.node': 'n1' })).toBe(stats.wal.batches);
    expect(await p.value('concord.wal.entries', { 'concord.node': 'n1' })).toBe(stats.wal.entries);
    expect(await p.value('concord.wal.io', { 'concord.node': 'n1' })).toBe(stats.wal.bytes);
    expect(await p.count('concord.wal.write.duration', { 'concord.node': 'n1' })).toBe(stats.wal.batches);
    const perBatch = (await p.points('concord.wal.batch.entries', { 'concord.node': 'n1' }))[0]?.value as Histogram;
    expect(perBatch.sum).toBe(stats.wal.entries);
    expect(await p.value('concord.log.memory.usage', { 'concord.node': 'n1' })).toBe(stats.memBytes);
    expect(await p.value('concord.log.count', { 'concord.node': 'n1' })).toBe(1);
    expect(await p.value('concord.wal.down')).toBe(0);

    // A member that crashes (its supervisor restarts it) shows in the actor figures.
    const n2 = world.system('n2');
    expect(await p.value('concord.actors.count', { 'concord.node': 'n2' })).toBe(n2.actors.size);
    const crashesBefore = await p.value('concord.actors.crashes', { 'concord.node': 'n2' });
    await world.settle(n2.actors.stop(n2.actors.whereis('server:kv') as never, new Error('test: member crash')));
    world.run(200);
    expect(await p.value('concord.actors.crashes', { 'concord.node': 'n2' })).toBe(crashesBefore + 1);
    expect(await p.value('concord.raft.members', { 'concord.node': 'n2' })).toBe(1); // restarted
    expect(await p.value('concord.actors.messages', { 'concord.node': 'n2' })).toBeGreaterThan(0);
  });

  it('counts the members that know no leader, as when a node is cut off', async () => {
    const world = await kvWorld();
    const p = pipeline();
    for (const n of nodes) instrumented(world, n, p);
    await puts(world, 'n1', 1);
    expect(await p.value('concord.raft.members.leaderless')).toBe(0);
    world.network.partition([['n1'], ['n2', 'n3']]);
    world.run(3000);
    expect(await p.value('concord.raft.members.leaderless', { 'concord.node': 'n1' })).toBe(1);
    expect(await p.value('concord.raft.members.leaderless', { 'concord.node': 'n2' })).toBe(0);
    world.network.heal();
    world.run(3000);
    expect(await p.value('concord.raft.members.leaderless')).toBe(0);
  });

  it('gives per-member gauges when asked, labelled with the cluster', async () => {
    const world = await kvWorld();
    const p = pipeline();
    instrumented(world, 'n2', p, { perMember: true });
    await puts(world, 'n1', 5);
    world.run(200);
    const status = world.system('n2').localOverview().servers[0];
    expect(status?.commitIndex).toBeGreaterThan(5);
    const kv = { 'concord.node': 'n2', 'concord.cluster': 'kv' };
    expect(await p.value('concord.raft.commit_index', kv)).toBe(status?.commitIndex);
    expect(await p.value('concord.raft.applied_index', kv)).toBe(status?.appliedIndex);
    expect(await p.value('concord.raft.last_index', kv)).toBe(status?.lastIndex);
    expect(await p.value('concord.raft.term', kv)).toBe(status?.term);
  });

  it('leaves per-member gauges and the cluster label out by default', async () => {
    const world = await kvWorld();
    const p = pipeline();
    instrumented(world, 'n1', p);
    await puts(world, 'n1', 2);
    expect(await p.points('concord.raft.commit_index')).toEqual([]);
    const points = await p.points('concord.request.duration', { 'concord.operation': 'command' });
    expect(points.length).toBe(1);
    expect(points[0]?.attributes['concord.cluster']).toBeUndefined();
  });

  it('records nothing more once stopped, and may be started again', async () => {
    const world = await kvWorld();
    const p = pipeline();
    const t = instrumented(world, 'n1', p);
    await puts(world, 'n1', 3);
    t.stop();
    await puts(world, 'n1', 3, 3);
    expect(await p.count('concord.request.duration', { 'concord.operation': 'command' })).toBe(3);
    expect(await p.points('concord.wal.batches')).toEqual([]); // its callback is gone
    const again = pipeline();
    instrumented(world, 'n1', again, { traces: false });
    await puts(world, 'n1', 2, 6);
    expect(await again.count('concord.request.duration', { 'concord.operation': 'command' })).toBe(2);
    expect(again.spans.getFinishedSpans()).toEqual([]);
  });

  it('collects cleanly through node crashes, restarts, member crashes and partitions, every incarnation instrumented', async () => {
    const world = new World({ seed: 11, nodes, machines: { kv: () => new KvMachine() }, snapshotEveryEntries: 16 });
    const p = pipeline();
    // A node's new System replaces its crashed one, whose instrumentation goes with it.
    const current = new Map<string, Telemetry>();
    world.startHooks.push((node, system) => {
      current.get(node)?.stop();
      current.set(node, instrumented(world, system.nodeId, p));
    });
    for (const n of nodes) await world.startNode(n);
    await world.settle(world.system('n1').startCluster('kv', 'kv', nodes));
    let acked = 0;
    const put = (via: string, i: number): void =>
      world.system(via).submit('kv', commandRequest({ type: 'put', key: `k${i}`, value: i }), { timeoutMs: 1000 }, (err) => {
        if (err === null) acked++;
      });
    for (let round = 0; round < 6; round++) {
      const up = nodes.filter((n) => !world.isDown(n));
      for (let i = 0; i < 20; i++) put(up[i % up.length] as string, round * 20 + i);
      world.run(100);
      if (round === 1) world.crash('n3', true);
      if (round === 2) await world.restart('n3');
      if (round === 3) world.network.partition([['n1'], ['n2', 'n3']]);
      if (round === 4) {
        world.network.heal();
        const n2 = world.system('n2');
        await world.settle(n2.actors.stop(n2.actors.whereis('server:kv') as never, new Error('test: member crash')));
      }
      world.run(400);
      // Every collection succeeds (the helper fails on any callback error), whatever state the members are in.
      expect(await p.value('concord.raft.members.failed')).toBe(0);
    }
    world.run(2000);
    expect(acked).toBeGreaterThan(0);
    // The restarted n3 reports as itself, from its new System, and caught up (by snapshot or log).
    const n3 = world.system('n3').localOverview().servers[0];
    expect(await p.value('concord.raft.applied_index', { 'concord.node': 'n3' })).toBe(0); // perMember off: no gauge
    expect(await p.value('concord.raft.members', { 'concord.node': 'n3' })).toBe(1);
    expect(n3?.appliedIndex).toBeGreaterThan(0);
    expect(await p.value('concord.raft.members.leaderless')).toBe(0);
    expect(await p.value('concord.actors.crashes', { 'concord.node': 'n2' })).toBeGreaterThanOrEqual(1);
  });

  it('refuses a second instrumentation of the same System, and anything but a System or Client, with invalid_argument', async () => {
    const world = await kvWorld();
    const p = pipeline();
    instrumented(world, 'n1', p);
    expect(() => instrument(world.system('n1'), { meterProvider: p.meterProvider })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect(() => instrument({} as never)).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
  });

  it("puts the serving node's span in the caller's trace: a server span for each attempt, the leader's answering it", async () => {
    const world = await kvWorld();
    const leader = await leaderOf(world);
    const p = pipeline();
    for (const n of nodes) instrumented(world, n, p);
    const caller = nodes.find((n) => n !== leader) as string;
    await puts(world, caller, 5);
    const spans = p.spans.getFinishedSpans().filter((s) => s.name === 'concord command');
    const clients = spans.filter((s) => s.kind === SpanKind.CLIENT);
    expect(clients.map((s) => s.attributes['concord.node'])).toEqual(Array(5).fill(caller));
    for (const c of clients) {
      const served = spans.filter((s) => s.kind === SpanKind.SERVER && s.spanContext().traceId === c.spanContext().traceId);
      // Every attempt of this request (a first one may meet a follower, which points at the leader).
      expect(served.length).toBe(c.attributes['concord.attempts']);
      expect(served.every((s) => s.parentSpanContext?.spanId === c.spanContext().spanId && s.parentSpanContext.isRemote === true)).toBe(true);
      const answered = served.filter((s) => s.status.code !== SpanStatusCode.ERROR);
      expect(answered.map((s) => [s.attributes['concord.node'], s.attributes['concord.cluster']])).toEqual([[leader, 'kv']]);
      expect(served.filter((s) => s.status.code === SpanStatusCode.ERROR).every((s) => s.attributes['error.type'] === 'not_leader')).toBe(true);
      // The server span lies within the client's.
      const [server, client] = [answered[0], c].map((s) => s?.startTime[0] as number * 1e9 + (s?.startTime[1] as number));
      expect(server).toBeGreaterThanOrEqual(client as number);
    }
    expect(world.system(leader).served.size).toBe(0);
  });

  it('sends no trace when the caller does not sample its span, and ends a traced request unanswered when the node stops', async () => {
    const world = await kvWorld();
    const leader = await leaderOf(world);
    const caller = nodes.find((n) => n !== leader) as string;
    const p = pipeline();
    instrumented(world, leader, p);
    const serving = world.system(leader).served;
    const inner = serving.probe;
    let begun = 0;
    serving.probe = { begin: (...args) => (begun++, (inner as NonNullable<typeof inner>).begin(...args)) };
    const unsampled = new BasicTracerProvider({ sampler: new AlwaysOffSampler(), spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())] });
    const t = instrument(world.system(caller), { meterProvider: p.meterProvider, tracerProvider: unsampled });
    running.push(t);
    await puts(world, caller, 3);
    expect(begun).toBe(0);
    t.stop();
    instrumented(world, caller, p);
    await puts(world, caller, 1, 3);
    expect(begun).toBeGreaterThanOrEqual(1);
    // The followers' disks so slow that the command cannot commit yet: the node stops with it open.
    for (const n of nodes) if (n !== leader) world.disks.get(n)?.setSlowSyncFactor(1_000);
    void world.system(caller).processCommand('kv', { type: 'put', key: 'cut', value: 1 }, { timeoutMs: 100_000 }).catch(() => {});
    await world.advance(20);
    expect(serving.size).toBe(1);
    await world.settle(world.system(leader).stop());
    expect(serving.size).toBe(0);
    const cut = p.spans.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER && s.attributes['error.type'] === 'unanswered');
    expect(cut).toHaveLength(1);
  });
});
