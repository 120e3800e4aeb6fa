// Membership changes, leadership transfers and snapshots inside the
// deterministic harness, with a lossy network and crashes, while session
// clients increment a counter. Safety is checked after every step; at the end
// the counter must hold exactly the acknowledged increments (plus, at most,
// those whose outcome is unknown).
import { describe, expect, it } from 'vitest';
import { World } from '../../../src/sim/world.js';
import { outcomeCode } from '../../helpers/sim.js';
import { CounterMachine } from '../../../machines/counter.js';
import type { Session } from '../../../src/api/session.js';
import { decodeConfig, EntryKind, kindOf } from '../../../src/raft/core/entry_kind.js';

const SEEDS = Number(process.env['RAFT_SIM_MEMBERSHIP_SEEDS'] ?? 40);

async function runSeed(seed: number) {
  const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const world = new World({ seed, nodes, machines: { counter: () => new CounterMachine() }, log: {}, requestTimeoutMs: 3000 });
  for (const n of nodes) await world.startNode(n);
  world.clusters.push('ctr');
  await world.settle(world.system('n1').startCluster('ctr', 'counter', ['n1', 'n2', 'n3']));
  const session: Session = await world.settle(world.system('n1').openSession('ctr', { timeoutMs: 10_000 }));
  world.network.setFaults({ dropRate: 0.02, dupRate: 0.02, minDelayMs: 0, maxDelayMs: 6 });
  const r = world.random.fork();
  let acked = 0;
  let unknown = 0;
  let inFlight = 0;
  const changes: string[] = [];
  for (let t = 0; t < 30; t++) {
    for (let k = 0; k < 3; k++) {
      inFlight++;
      session.submit({ type: 'incr' }, { timeoutMs: 4000 }, (err) => {
        inFlight--;
        if (err === null) acked++;
        else unknown++;
      });
    }
    const roll = r.int(6);
    const status = await world.settle(world.system('n1').members('ctr', { timeoutMs: 3000 }).catch(() => undefined));
    if (status !== undefined && roll === 0) {
      const outside = nodes.filter((n) => !status.voters.includes(n) && !status.nonVoters.includes(n));
      if (outside.length > 0 && status.voters.length < 5) {
        const n = r.pick(outside);
        const ok = await world.settle(world.system('n1').addMember('ctr', n, { timeoutMs: 8000 }).then(() => true, () => false), 20_000);
        changes.push(`add ${n}:${ok}`);
      }
    } else if (status !== undefined && roll === 1 && status.voters.length > 3) {
      const n = r.pick(status.voters.filter((v) => v !== 'n1'));
      const ok = await world.settle(world.system('n1').removeMember('ctr', n, { timeoutMs: 8000 }).then(() => true, () => false), 20_000);
      changes.push(`remove ${n}:${ok}`);
    } else if (status !== undefined && roll === 2) {
      const target = r.pick(status.voters);
      await world.settle(world.system('n1').transferLeadership('ctr', target, { timeoutMs: 2000 }).catch(() => {}), 10_000);
      changes.push(`transfer ${target}`);
    } else if (roll === 3) {
      world.network.partition([[r.pick(nodes)], []]);
      world.run(r.between(50, 300));
      world.network.heal();
    }
    world.run(r.between(20, 120));
  }
  world.network.setFaults({ dropRate: 0, dupRate: 0 });
  world.runUntil(() => inFlight === 0, 30_000);
  const total = await world.settle(world.system('n1').consistentQuery<number>('ctr', { name: 'get' }, { timeoutMs: 10_000 }));
  world.run(200);
  return { violations: world.invariants.violations, acked, unknown, total, changes };
}

describe('membership and transfers in the deterministic harness', () => {
  it(`keeps safety and applies every acknowledged increment exactly once over ${SEEDS} seeds`, async () => {
    let changes = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const o = await runSeed(seed);
      const replay = `replay with RAFT_SIM_MEMBERSHIP_SEEDS and seed ${seed}; changes: ${o.changes.join(', ')}`;
      if (o.violations.length > 0) console.log(o.violations.slice(0, 8).join('\n'));
      expect(o.violations, replay).toEqual([]);
      expect(o.total, replay).toBeGreaterThanOrEqual(o.acked);
      expect(o.total, replay).toBeLessThanOrEqual(o.acked + o.unknown);
      changes += o.changes.length;
    }
    expect(changes).toBeGreaterThan(SEEDS); // the runs really changed membership and leaders
  }, 600_000);
});

/** A counter cluster on n1-n3 that has applied one increment; `spare` nodes run too, outside it. */
async function counterOnThree(seed: number, spare: readonly string[] = []) {
  const nodes = ['n1', 'n2', 'n3'];
  const world = new World({ seed, nodes: [...nodes, ...spare], machines: { counter: () => new CounterMachine() }, log: {}, requestTimeoutMs: 3000 });
  for (const n of [...nodes, ...spare]) await world.startNode(n);
  world.clusters.push('ctr');
  await world.settle(world.system('n1').startCluster('ctr', 'counter', nodes));
  await world.settle(world.system('n1').processCommand('ctr', { type: 'incr' }, { timeoutMs: 5000 }));
  return { world, nodes };
}

describe('a removed leader asked to join again before it stopped', () => {
  it('is replaced by a fresh joining member, which the cluster can add back', async () => {
    const { world, nodes } = await counterOnThree(7);
    const leader = nodes.find((n) => world.inspect(n, 'ctr')?.core.role === 'leader') as string;
    const other = nodes.find((n) => n !== leader) as string;
    const lastIndex = world.inspect(leader, 'ctr')?.log.lastIndex as number;
    // A join for the member's next life arrives while it still runs: it records joinedAfter past the coming removal.
    const join = { type: 'start_server', machine: 'counter', members: [], config: null, join: true, sessionTimeoutMs: 60_000, joinedAfter: lastIndex + 5 } as const;
    expect(await world.settle(world.system(other).requestRaw('ctr', join, { member: leader, timeoutMs: 3000 }))).toBe('already_started');
    await world.settle(world.system(other).removeMember('ctr', leader, { timeoutMs: 5000 }));
    // The removed leader stops; a fresh member that knows no configuration yet takes its place.
    const fresh = await world.advanceUntil(() => {
      const v = world.inspect(leader, 'ctr');
      return v !== undefined && v.core.role !== 'stopped' && v.core.config.voters.length === 0;
    }, 5000);
    expect(fresh).toBe(true);
    await world.settle(world.system(other).addMember('ctr', leader, { timeoutMs: 10_000 }), 20_000);
    const caughtUp = await world.advanceUntil(() => (world.inspect(leader, 'ctr')?.runner.appliedIndex ?? 0) >= lastIndex, 5000);
    expect(caughtUp).toBe(true);
    expect(world.inspect(leader, 'ctr')?.core.config.voters).toContain(leader);
    expect(world.invariants.violations).toEqual([]);
  });
});

describe('a member removed while its node was down', () => {
  it('is deleted once it is back and campaigns, since the request to delete it could not reach it', async () => {
    const { world, nodes } = await counterOnThree(11);
    const gone = nodes.find((n) => world.inspect(n, 'ctr')?.core.role !== 'leader') as string;
    const asker = nodes.find((n) => n !== gone) as string;
    world.crash(gone);
    await world.settle(world.system(asker).removeMember('ctr', gone, { timeoutMs: 5000 }));
    world.run(3000); // the removal's best-effort delete request finds nobody
    await world.restart(gone);
    expect(world.inspect(gone, 'ctr')?.core.config.voters).toContain(gone); // it missed its removal
    const deleted = await world.advanceUntil(() => world.inspect(gone, 'ctr') === undefined, 10_000);
    expect(deleted).toBe(true);
    await world.advance(1000); // its log and record go after the server has stopped
    expect(await world.settle(world.system(gone).restartAll())).toEqual([]);
    await world.settle(world.system(asker).processCommand('ctr', { type: 'incr' }, { timeoutMs: 5000 }));
    expect(world.invariants.violations).toEqual([]);
  });
});

describe('a member removed while down, back when its old configuration names no leader of today', () => {
  it('is told to delete itself by the followers it asks for a vote', async () => {
    const { world } = await counterOnThree(5, ['n4']);
    world.crash('n3');
    await world.settle(world.system('n1').removeMember('ctr', 'n3', { timeoutMs: 5000 }));
    await world.settle(world.system('n1').addMember('ctr', 'n4', { timeoutMs: 10_000 }), 20_000);
    await world.settle(world.system('n1').transferLeadership('ctr', 'n4', { timeoutMs: 5000 }), 10_000);
    world.run(3000);
    expect(world.inspect('n4', 'ctr')?.core.role).toBe('leader');
    await world.restart('n3');
    expect(world.inspect('n3', 'ctr')?.core.config.voters).toEqual(['n1', 'n2', 'n3']); // no n4 in it
    const deleted = await world.advanceUntil(() => world.inspect('n3', 'ctr') === undefined, 10_000);
    expect(deleted).toBe(true);
    await world.settle(world.system('n1').processCommand('ctr', { type: 'incr' }, { timeoutMs: 5000 }));
    expect(world.invariants.violations).toEqual([]);
  });
});

describe('a non-voter removed while its node was down', () => {
  it('asks the voters when it hears no leader, and is told to delete itself', async () => {
    const { world } = await counterOnThree(3, ['n4']);
    const adding = world.system('n1').addMember('ctr', 'n4', { timeoutMs: 5000 }).catch(() => undefined);
    // Down as soon as it holds, durably, the configuration that names it a non-voter: it never learns more.
    const nonVoter = await world.advanceUntil(() => {
      const core = world.inspect('n4', 'ctr')?.core;
      const at = core?.configs.find((c) => c.config.nonVoters.includes('n4'))?.index;
      return core !== undefined && at !== undefined && core.writtenIndex >= at;
    }, 5000);
    expect(nonVoter).toBe(true);
    world.crash('n4');
    await world.settle(adding, 10_000);
    await world.settle(world.system('n1').removeMember('ctr', 'n4', { timeoutMs: 5000 }));
    world.run(3000); // the removal's best-effort delete request finds nobody
    await world.restart('n4');
    expect(world.inspect('n4', 'ctr')?.core.config.nonVoters).toEqual(['n4']); // it missed its removal
    const deleted = await world.advanceUntil(() => world.inspect('n4', 'ctr') === undefined, 10_000);
    expect(deleted).toBe(true);
    await world.settle(world.system('n1').processCommand('ctr', { type: 'incr' }, { timeoutMs: 5000 }));
    expect(world.invariants.violations).toEqual([]);
  });
});

/** Every configuration entry in `node`'s log of `ctr`, oldest first. */
function configEntries(world: World, node: string): { index: number; voters: readonly string[]; nonVoters: readonly string[] }[] {
  const log = world.inspect(node, 'ctr')?.log;
  if (log === undefined) return [];
  return log
    .entries(log.firstIndex, log.lastIndex, 1 << 24)
    .filter((e) => kindOf(e) === EntryKind.config)
    .map((e) => ({ index: e.index, ...decodeConfig(e.payload) }));
}


describe('a membership change asked against a configuration since replaced', () => {
  it('is refused, so that an add delayed past a removal of the same member cannot bring it back', async () => {
    const { world } = await counterOnThree(13, ['n4']);
    const n1 = world.system('n1');
    const before = await world.settle(n1.members('ctr', { timeoutMs: 3000 }));
    await world.settle(n1.addMember('ctr', 'n4', { timeoutMs: 10_000 }), 20_000);
    await world.settle(n1.removeMember('ctr', 'n4', { timeoutMs: 5000 }));
    world.run(1000); // n4 stops and deletes its member
    // The add as it was first asked, arriving only now (a request held up in the network):
    const late = { type: 'add_member', member: 'n4', configIndex: before.configIndex } as const;
    expect(await world.settle(outcomeCode(n1.requestRaw('ctr', late, { timeoutMs: 3000 })))).toBe('membership_changed');
    // So is a removal, and a caller that names the configuration it read is not asked to try again.
    expect(await world.settle(outcomeCode(n1.removeMember('ctr', 'n3', { timeoutMs: 3000, configIndex: before.configIndex })))).toBe('membership_changed');
    const after = await world.settle(n1.members('ctr', { timeoutMs: 3000 }));
    expect([...after.voters, ...after.nonVoters].sort()).toEqual(['n1', 'n2', 'n3']);
    // The same late add without the index does what the index is there to stop: a non-voter
    // comes back that no node hosts, and the next change waits for its promotion.
    void n1.requestRaw('ctr', { type: 'add_member', member: 'n4' }, { timeoutMs: 3000 }).catch(() => undefined);
    world.run(500);
    expect((await world.settle(n1.members('ctr', { timeoutMs: 3000 }))).nonVoters).toEqual(['n4']);
    expect(await world.settle(outcomeCode(n1.removeMember('ctr', 'n3', { timeoutMs: 3000 })))).toBe('membership_change_in_progress');
    expect(world.invariants.violations).toEqual([]);
  });

  it('is asked again by a caller that named none, against the configuration that replaced it', async () => {
    const { world } = await counterOnThree(5, ['n4', 'n5']);
    const n1 = world.system('n1');
    await world.settle(n1.addMember('ctr', 'n5', { timeoutMs: 10_000 }), 20_000);
    const start = await world.settle(n1.members('ctr', { timeoutMs: 3000 }));
    // Both read the same configuration; the removal, one trip shorter, commits before the add
    // (which first starts a member on n4) reaches the leader.
    const adding = outcomeCode(n1.addMember('ctr', 'n4', { timeoutMs: 10_000 }));
    const removing = outcomeCode(n1.removeMember('ctr', 'n5', { timeoutMs: 10_000 }));
    expect(await world.settle(Promise.all([adding, removing]), 20_000)).toEqual(['ok', 'ok']);
    const leader = (await world.settle(n1.members('ctr', { timeoutMs: 3000 }))).leader as string;
    const changes = configEntries(world, leader).filter((c) => c.index > start.configIndex);
    // Removal first, then the add and its promotion: the add was refused once and asked again.
    expect(changes.map((c) => [c.voters.includes('n5') || c.nonVoters.includes('n5'), c.nonVoters.includes('n4'), c.voters.includes('n4')])).toEqual([
      [false, false, false],
      [false, true, false],
      [false, false, true],
    ]);
    expect(world.invariants.violations).toEqual([]);
  });
});
