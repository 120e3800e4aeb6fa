// The kv machine's bound keys and watches in whole Systems (the deterministic
// world): expiry and node failure arrive through the log, as the machine's
// timer and monitor effects, on every member at the same index, across a
// leader change; watch events reach a subscriber.
import { describe, expect, it } from 'vitest';
import { World } from '../../../src/sim/world.js';
import { KvMachine, type KvCommand, type KvEvent, type KvReply } from '../../../machines/kv.js';

const nodes = ['n1', 'n2', 'n3'];

async function kvWorld(): Promise<World> {
  const world = new World({ seed: 11, nodes, machines: { kv: () => new KvMachine() } });
  for (const n of nodes) await world.startNode(n);
  const started = await world.settle(world.system('n1').startCluster('kv', 'kv', nodes));
  expect(started.notStarted).toEqual([]);
  await world.settle(world.system('n1').processCommand('kv', { type: 'delete', key: 'none' })); // once there is a leader
  return world;
}

function put(world: World, via: string, cmd: KvCommand): Promise<KvReply> {
  return world.settle(world.system(via).processCommand('kv', cmd, { timeoutMs: 10_000 })) as Promise<KvReply>;
}

/** The keys every running member holds, by node. */
async function keysEverywhere(world: World, up: readonly string[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const n of up) out[n] = await world.settle(world.system(n).localQuery('kv', { name: 'keys' }));
  return out;
}

async function leaderOf(world: World, via: string): Promise<string> {
  const { leader } = await world.settle(world.system(via).members('kv'));
  if (leader === undefined) throw new Error('no leader');
  return leader;
}

describe('kv machine in a cluster', () => {
  it('expires a key by leader time on every member, also when the leader that set the timer is gone', async () => {
    const world = await kvWorld();
    expect(await put(world, 'n1', { type: 'put', key: 'short', value: 1, ttlMs: 1_000 })).toEqual({ ok: true });
    expect(await put(world, 'n1', { type: 'put', key: 'long', value: 2, ttlMs: 5_000 })).toEqual({ ok: true });
    expect(await put(world, 'n1', { type: 'put', key: 'kept', value: 3 })).toEqual({ ok: true });
    await world.advance(600);
    expect(await keysEverywhere(world, nodes)).toEqual({ n1: ['kept', 'long', 'short'], n2: ['kept', 'long', 'short'], n3: ['kept', 'long', 'short'] });
    await world.advance(1_000);
    expect(await keysEverywhere(world, nodes)).toEqual({ n1: ['kept', 'long'], n2: ['kept', 'long'], n3: ['kept', 'long'] });
    // The timer for 'long' was set by this leader; a new one sets it again from the replicated state.
    const leader = await leaderOf(world, 'n1');
    world.crash(leader);
    const up = nodes.filter((n) => n !== leader);
    await world.advance(4_000);
    expect(await leaderOf(world, up[0] as string)).not.toBe(leader);
    expect(await keysEverywhere(world, up)).toEqual(Object.fromEntries(up.map((n) => [n, ['kept']])));
    await world.restart(leader);
    await world.advance(1_000);
    expect(await keysEverywhere(world, [leader])).toEqual({ [leader]: ['kept'] });
  });

  it('removes the keys bound to a node when it goes down, each time a key is bound to it while it is down', async () => {
    const world = await kvWorld();
    const leader = await leaderOf(world, 'n1');
    const [doomed, other] = nodes.filter((n) => n !== leader) as [string, string];
    expect(await put(world, leader, { type: 'put_if_absent', key: 'lock', value: doomed, node: doomed })).toEqual({ ok: true, previous: null });
    expect(await put(world, leader, { type: 'put', key: 'lock/data', value: 1, parent: 'lock' })).toEqual({ ok: true });
    expect(await put(world, leader, { type: 'put', key: 'svc', value: 1, node: other })).toEqual({ ok: true });
    world.crash(doomed);
    await world.advance(3_000);
    expect(await keysEverywhere(world, [leader, other])).toEqual({ [leader]: ['svc'], [other]: ['svc'] });
    // A key bound to a node that is already down goes at once, however many times it is asked.
    for (let i = 0; i < 2; i++) {
      expect(await put(world, leader, { type: 'put_if_absent', key: 'lock', value: 'late', node: doomed })).toEqual({ ok: true, previous: null });
      await world.advance(500);
      expect(await keysEverywhere(world, [leader, other])).toEqual({ [leader]: ['svc'], [other]: ['svc'] });
    }
    expect(await world.settle(world.system(leader).localQuery('kv', { name: 'life', args: 'svc' }))).toEqual({ expiresAt: null, node: other, parent: null });
  });

  it('a new leader proposes the down of a monitored node it finds down, which its predecessor could not commit', async () => {
    const world = new World({ seed: 5, nodes: [...nodes, 'n4'], machines: { kv: () => new KvMachine() } });
    for (const n of [...nodes, 'n4']) await world.startNode(n);
    await world.settle(world.system('n1').startCluster('kv', 'kv', nodes));
    expect(await put(world, 'n1', { type: 'put', key: 'svc', value: 'n4:80', node: 'n4' })).toEqual({ ok: true });
    const old = await leaderOf(world, 'n1');
    const rest = nodes.filter((n) => n !== old);
    await world.advance(200); // every member has applied the key, and monitors n4
    // The old leader, cut off, sees n4 go and proposes its down, which cannot commit; the
    // others see n4 go while they are followers, which leave downs to a leader.
    world.network.partition([[old], [...rest, 'n4']]);
    world.crash('n4');
    await world.advance(3_000);
    const next = await leaderOf(world, rest[0] as string);
    expect(rest).toContain(next);
    expect(await keysEverywhere(world, rest)).toEqual(Object.fromEntries(rest.map((n) => [n, []])));
    world.network.heal();
    await world.advance(1_000);
    expect(await keysEverywhere(world, nodes)).toEqual(Object.fromEntries(nodes.map((n) => [n, []])));
  });

  it('fires a machine timer that came due while the leader was handing over: the refused entry is proposed again', async () => {
    const world = await kvWorld();
    const leader = await leaderOf(world, 'n1');
    const target = nodes.find((n) => n !== leader) as string;
    world.network.block(leader, target); // the handover cannot finish, and fails after an election timeout
    expect(await put(world, leader, { type: 'put', key: 'brief', value: 1, ttlMs: 20 })).toEqual({ ok: true });
    const transfer = world.system(leader).transferLeadership('kv', target, { timeoutMs: 5_000 }).catch((e: unknown) => (e as { code?: string }).code);
    await world.advance(1_000);
    expect(await world.settle(transfer)).toBe('timeout');
    expect(await leaderOf(world, leader)).toBe(leader); // no new leader: none set the timer again
    world.network.heal();
    await world.advance(500);
    expect(await keysEverywhere(world, nodes)).toEqual(Object.fromEntries(nodes.map((n) => [n, []])));
  });

  it('sends watch events to a subscriber on another node, numbered, while the watch lasts', async () => {
    const world = await kvWorld();
    const events: KvEvent[] = [];
    const to = world.system('n2').subscribe((msg) => events.push(msg as KvEvent));
    const reply = (await put(world, 'n3', { type: 'watch', to, bucket: 'cfg' })) as { watch: number };
    await put(world, 'n1', { type: 'put', key: 'a', value: 1, bucket: 'cfg' });
    await put(world, 'n1', { type: 'put', key: 'b', value: 2, bucket: 'cfg', ttlMs: 300 });
    await put(world, 'n1', { type: 'put', key: 'a', value: 'not watched' });
    await world.advance(1_000);
    await put(world, 'n1', { type: 'unwatch', watch: reply.watch });
    await put(world, 'n1', { type: 'put', key: 'a', value: 3, bucket: 'cfg' });
    await world.advance(100);
    expect(events.map(({ seq, key, op }) => [seq, key, op])).toEqual([
      [1, 'a', 'put'],
      [2, 'b', 'put'],
      [3, 'b', 'delete'],
    ]);
    expect(events.every((e) => e.watch === reply.watch && e.bucket === 'cfg')).toBe(true);
    expect(events[2]).toMatchObject({ op: 'delete', reason: 'expired' });
  });
});
