// Deleting a cluster, and a single member: in the deterministic harness, with
// real Systems on simulated disks.
import { describe, expect, it } from 'vitest';
import { World } from '../../../src/sim/world.js';
import { CounterMachine } from '../../../machines/counter.js';

const nodes = ['n1', 'n2', 'n3'];

/** A counter cluster `ctr` on n1-n3 that has counted to 3. */
async function counted(seed: number): Promise<World> {
  const world = new World({ seed, nodes, machines: { counter: () => new CounterMachine() }, log: {}, requestTimeoutMs: 3000 });
  for (const n of nodes) await world.startNode(n);
  world.clusters.push('ctr');
  await world.settle(world.system('n1').startCluster('ctr', 'counter', nodes));
  for (let i = 0; i < 3; i++) await world.settle(world.system('n1').processCommand('ctr', { type: 'incr' }, { timeoutMs: 5000 }));
  return world;
}

describe('deleteCluster', () => {
  it('stops every member and deletes its data: no node starts it again, and the name starts afresh', async () => {
    const world = await counted(21);
    const result = await world.settle(world.system('n2').deleteCluster('ctr', { timeoutMs: 3000 }));
    expect([...result.deleted].sort()).toEqual(nodes);
    expect(result.notDeleted).toEqual([]);
    for (const n of nodes) expect(world.inspect(n, 'ctr')).toBeUndefined();
    const gone = await world.settle(world.system('n1').processCommand('ctr', { type: 'incr' }, { timeoutMs: 3000 }).then(() => 'ok', (e: { code?: string }) => e.code));
    expect(gone).toBe('cluster_not_found');
    for (const n of nodes) {
      world.crash(n);
      await world.restart(n);
      expect(world.inspect(n, 'ctr')).toBeUndefined();
    }
    world.invariants.clusterDeleted('ctr'); // what follows is a new cluster of the same name
    await world.settle(world.system('n3').startCluster('ctr', 'counter', nodes));
    expect(await world.settle(world.system('n1').processCommand('ctr', { type: 'incr' }, { timeoutMs: 5000 }))).toBe(1);
    expect(world.invariants.violations).toEqual([]);
  });

  it('lists a member it cannot reach, and deletes it when called again once it is back', async () => {
    const world = await counted(22);
    world.crash('n3');
    const first = await world.settle(world.system('n1').deleteCluster('ctr', { timeoutMs: 2000 }), 10_000);
    expect([...first.deleted].sort()).toEqual(['n1', 'n2']);
    expect(first.notDeleted.map((d) => [d.node, (d.error as { code?: string }).code])).toEqual([['n3', 'timeout']]);
    await world.restart('n3');
    expect(world.inspect('n3', 'ctr')).toBeDefined(); // alone, it campaigns in vain
    // The cluster cannot name its members any more: the caller uses those it knows.
    const second = await world.settle(world.system('n1').deleteCluster('ctr', { timeoutMs: 2000 }), 10_000);
    expect([...second.deleted].sort()).toEqual(nodes);
    expect(world.inspect('n3', 'ctr')).toBeUndefined();
    expect(world.invariants.violations).toEqual([]);
  });
});

describe('a member that deleteCluster could not reach', () => {
  it('is not heard by a new cluster of the same name: its log is another history', async () => {
    const world = await counted(24);
    const n1 = world.system('n1');
    // An old history that would win an election: later terms and a longer log.
    for (const target of ['n2', 'n3', 'n1', 'n3']) await world.settle(n1.transferLeadership('ctr', target, { timeoutMs: 5000 }), 10_000);
    for (let i = 0; i < 5; i++) await world.settle(n1.processCommand('ctr', { type: 'incr' }, { timeoutMs: 5000 }));
    world.crash('n3');
    const result = await world.settle(n1.deleteCluster('ctr', { timeoutMs: 2000 }), 10_000);
    expect(result.notDeleted.map((d) => d.node)).toEqual(['n3']);
    // The name is used again before n3 is back (its start request finds it down).
    const started = await world.settle(n1.startCluster('ctr', 'counter', nodes, { timeoutMs: 2000 }), 10_000);
    expect(started.started).toEqual(['n1', 'n2']);
    for (let i = 0; i < 2; i++) await world.settle(n1.processCommand('ctr', { type: 'incr' }, { timeoutMs: 5000 }));
    await world.restart('n3'); // the old member, with its old log, campaigns
    world.run(5000);
    expect(await world.settle(n1.consistentQuery('ctr', { name: 'get' }, { timeoutMs: 5000 }))).toBe(2);
    expect(await world.settle(n1.processCommand('ctr', { type: 'incr' }, { timeoutMs: 5000 }))).toBe(3);
    expect(world.system('n1').dropped.otherIncarnation + world.system('n2').dropped.otherIncarnation).toBeGreaterThan(0);
    // (The invariant checker knows clusters by name, and two histories of one name are not its
    // business: it is not consulted here.)
  });
});

describe('deleteServer', () => {
  it('deletes the local member for good, and says whether there was one', async () => {
    const world = await counted(23);
    expect(await world.settle(world.system('n3').deleteServer('ctr'))).toBe(true);
    expect(await world.settle(world.system('n3').deleteServer('ctr'))).toBe(false);
    world.crash('n3');
    await world.restart('n3');
    expect(world.inspect('n3', 'ctr')).toBeUndefined();
    // The other two are a majority and go on.
    expect(await world.settle(world.system('n1').processCommand('ctr', { type: 'incr' }, { timeoutMs: 5000 }))).toBe(4);
    expect(world.invariants.violations).toEqual([]);
  });
});
