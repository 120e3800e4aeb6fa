// Snapshots, membership changes, leadership transfer, sessions and machine
// upgrades, through the public API on real files.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalCluster } from '../helpers/local_cluster.js';
import { whichChildren } from '../../src/actors/supervisor.js';
import type { ActorRef } from '../../src/actors/actor.js';
import { ConcordError } from '../../src/lib/errors.js';
import type { ApplyMeta, ApplyResult, Machine } from '../../src/raft/machine.js';
import { decodeValue } from '../../src/raft/server/entry_codec.js';
import { CounterMachine } from '../../machines/counter.js';
import type { KvState } from '../../machines/kv.js';

let cluster: LocalCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const until = async (what: string, check: () => Promise<boolean>, ms = 8000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
};

async function start(nodes: string[], members = nodes, extra = {}) {
  cluster = new LocalCluster(nodes, { snapshotEveryEntries: 25, ...extra });
  await cluster.startAll();
  await cluster.system(nodes[0] as string).startCluster('kv', 'kv', members);
  return cluster;
}

/** A list of numbers, one appended per command (replying with the length). */
class Items implements Machine<number[], number, number> {
  init(): number[] {
    return [];
  }
  apply(_meta: ApplyMeta, n: number, state: number[]): ApplyResult<number[], number> {
    state.push(n);
    return { state, reply: state.length };
  }
}

describe('snapshots', () => {
  it('brings a member that was down while the log was compacted back from a snapshot', async () => {
    const c = await start(['a', 'b', 'c']);
    const leader = await c.leader('kv');
    const down = ['a', 'b', 'c'].find((n) => n !== leader) as string;
    const up = ['a', 'b', 'c'].find((n) => n !== leader && n !== down) as string;
    await c.stopNode(down);
    for (let i = 0; i < 120; i++) await c.system(up).processCommand('kv', { type: 'put', key: `k${i}`, value: i });
    const status = await c.system(up).members('kv');
    expect(status.snapshotIndex).toBeGreaterThan(50); // the log was compacted
    const back = await c.startNode(down);
    await back.restartServer('kv');
    await until('the restarted member to catch up', async () => (await back.members('kv', { member: down })).appliedIndex >= status.commitIndex);
    const mine = await back.members('kv', { member: down });
    expect(mine.snapshotIndex).toBeGreaterThan(50); // it got there by InstallSnapshot
    expect(await back.localQuery('kv', (s: KvState) => s.size)).toBe(120);
  });

  it('waits, past the entry count, until the log since the last snapshot holds snapshotLogRatio times its size', async () => {
    const value = 'v'.repeat(100); // every put adds about as much to the state as to the log
    const c = await start(['a', 'b', 'c'], ['a', 'b', 'c'], { snapshotLogRatio: 4 });
    const a = c.system('a');
    // One member's own snapshots: each member snapshots on its own schedule (at 25 here, at 31
    // there, after a larger batch of applies), and asking whoever answers mixed them up.
    const snapshotAt = async (): Promise<number> => (await a.members('kv', { member: 'a' })).snapshotIndex;
    for (let i = 0; i < 30; i++) await a.processCommand('kv', { type: 'put', key: `k${i}`, value });
    await until('the first snapshot (no earlier one to weigh against)', async () => (await snapshotAt()) > 0);
    const first = await snapshotAt();
    // 25 entries more would do by count; the bytes of ~4x the state take ~4x the entries written so far.
    for (let i = 30; i < 90; i++) await a.processCommand('kv', { type: 'put', key: `k${i}`, value });
    expect(await snapshotAt()).toBe(first);
    for (let i = 90; i < 200; i++) await a.processCommand('kv', { type: 'put', key: `k${i}`, value });
    await until('the second snapshot', async () => (await snapshotAt()) > first);
    await expect(c.startNodeWith('d', { snapshotLogRatio: Number.NaN })).rejects.toThrow(/snapshotLogRatio/);
  });

  it('recovers a restarted member from its own latest snapshot plus the log after it', async () => {
    const c = await start(['a', 'b', 'c']);
    for (let i = 0; i < 60; i++) await c.system('a').processCommand('kv', { type: 'put', key: `k${i}`, value: i });
    for (const n of ['a', 'b', 'c']) await c.stopNode(n);
    for (const n of ['a', 'b', 'c']) await (await c.startNode(n)).restartServer('kv');
    expect((await c.system('a').members('kv', { member: 'a' })).snapshotIndex).toBeGreaterThan(0);
    expect(await c.system('b').consistentQuery('kv', (s: KvState) => s.size, { timeoutMs: 10_000 })).toBe(60);
  });

  it('keeps the index of the configuration a snapshot holds, on restart and when sent to a follower', async () => {
    // Members tell a removed member to delete itself, dated by their latest configuration's index; a
    // configuration known only from a snapshot was dated at the snapshot, past a member restarted to
    // join since, which then deleted itself before its add (simulator, seed 7034773).
    cluster = new LocalCluster(['a', 'b', 'c', 'd'], { snapshotEveryEntries: 25 });
    const c = cluster;
    await c.startAll();
    await c.system('a').startCluster('kv', 'kv', ['a', 'b', 'c']);
    await c.system('a').addMember('kv', 'd');
    const leader = await c.leader('kv');
    const configIndex = (): number | undefined => {
      const configs = c.system(leader).inspectServer('kv')?.core.configs;
      return configs?.[configs.length - 1]?.index;
    };
    const added = configIndex() as number;
    expect(added).toBeGreaterThan(0);
    const down = ['a', 'b', 'c', 'd'].find((n) => n !== leader) as string;
    await c.stopNode(down);
    for (let i = 0; i < 120; i++) await c.system(leader).processCommand('kv', { type: 'put', key: `k${i}`, value: i });
    const latestConfig = (node: string): { index: number; snapshotIndex: number } => {
      const view = c.system(node).inspectServer('kv');
      const configs = view?.core.configs ?? [];
      return { index: configs[configs.length - 1]?.index ?? -1, snapshotIndex: view?.log.snapshotIndex ?? -1 };
    };
    // Sent to a follower that was down while the log was compacted.
    const back = await c.startNode(down);
    await back.restartServer('kv');
    const commit = (await c.system(leader).members('kv')).commitIndex;
    await until('the member to catch up', async () => (await back.members('kv', { member: down })).appliedIndex >= commit);
    expect(latestConfig(down).snapshotIndex).toBeGreaterThan(added);
    expect(latestConfig(down).index).toBe(added);
    // Restarted from its own snapshot.
    const other = ['a', 'b', 'c', 'd'].find((n) => n !== leader && n !== down) as string;
    await c.stopNode(other);
    await (await c.startNode(other)).restartServer('kv');
    expect(latestConfig(other).snapshotIndex).toBeGreaterThan(added);
    expect(latestConfig(other).index).toBe(added);
  });

  it('reports a damaged snapshot when the member restarts, and the node goes on', async () => {
    const c = await start(['a', 'b', 'c'], ['a', 'b', 'c'], { restoreStepsPerTurn: 1 });
    await c.system('a').startCluster('ctr', 'counter', ['a', 'b', 'c']);
    // A snapshot of over 64 KiB: read in steps, it would be checked only after the start.
    for (let i = 0; i < 120; i++) await c.system('a').processCommand('kv', { type: 'put', key: `k${i}`, value: 'v'.repeat(1000) });
    await c.stopNode('a');
    const snaps = (readdirSync(join(c.dir, 'a'), { recursive: true }) as string[]).filter((f) => f.endsWith('.snap') && f.includes('kv'));
    expect(snaps.length).toBeGreaterThan(0);
    for (const f of snaps) {
      const path = join(c.dir, 'a', f);
      const bytes = readFileSync(path);
      const mid = bytes.length >> 1; // inside the data: the header still reads
      bytes.writeUInt8(bytes.readUInt8(mid) ^ 0xff, mid);
      writeFileSync(path, bytes);
    }
    const a = await c.startNode('a');
    await expect(a.restartServer('kv')).rejects.toMatchObject({ code: 'corrupt' });
    await a.restartServer('ctr');
    expect(await a.processCommand('ctr', { type: 'incr' }, { timeoutMs: 10_000 })).toBe(1);
  });

  it('restores a large snapshot a few steps per turn, with the rest of the process running between them', async () => {
    // Turns of the event loop, counted by a callback that runs once in each.
    let turns = 0;
    let ticking = true;
    const tick = (): void => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    /** The turn count at each step of every restore. */
    let seen: number[] = [];
    const restored: string[] = [];
    class SteppedItems extends Items {
      *restoreSteps(bytes: Uint8Array): Generator<void, number[], undefined> {
        const state: number[] = [];
        for (const n of decodeValue(bytes) as number[]) {
          state.push(n);
          seen.push(turns);
          yield;
        }
        return state;
      }
    }
    const items = 200;
    cluster = new LocalCluster(['a', 'b', 'c'], {
      snapshotEveryEntries: 50,
      restoreStepsPerTurn: 4,
      machines: { items: () => new SteppedItems() },
      observer: { restoredInSteps: (_cluster, node) => restored.push(node) },
    });
    const c = cluster;
    await c.startAll();
    await c.system('a').startCluster('items', 'items', ['a', 'b', 'c']);
    const leader = await c.leader('items');
    const down = ['a', 'b', 'c'].find((n) => n !== leader) as string;
    const up = ['a', 'b', 'c'].find((n) => n !== leader && n !== down) as string;
    await c.stopNode(down);
    for (let i = 0; i < items; i++) await c.system(up).processCommand('items', i);
    const all = Array.from({ length: items }, (_, i) => i);
    setImmediate(tick);
    try {
      // Back from a snapshot it is sent (InstallSnapshot): 200 steps, 4 per turn.
      const back = await c.startNode(down);
      await back.restartServer('items');
      const commit = (await c.system(up).members('items')).commitIndex;
      await until('the member to catch up', async () => (await back.members('items', { member: down })).appliedIndex >= commit);
      // One restore, or two when the leader's next snapshot (at 200) came during the first transfer (at 150).
      expect(restored.length).toBeGreaterThanOrEqual(1);
      expect(new Set(restored)).toEqual(new Set([down]));
      expect(seen.length).toBeGreaterThanOrEqual(items - 50); // at least the 150 the leader's last snapshot held
      expect(new Set(seen).size).toBeGreaterThan(seen.length / 4 / 2); // other turns ran between the restore's own
      expect(await back.localQuery('items', (s: number[]) => s)).toEqual(all);
      // Restarted, from its own snapshot, the same way; it answers reads once it has.
      seen = [];
      const before = restored.length;
      await c.stopNode(down);
      await (await c.startNode(down)).restartServer('items');
      expect(await c.system(down).consistentQuery('items', (s: number[]) => s, { timeoutMs: 10_000 })).toEqual(all);
      expect(restored.slice(before)).toEqual([down]);
      expect(new Set(seen).size).toBeGreaterThan(seen.length / 4 / 2);
    } finally {
      ticking = false;
    }
  });
});

describe('fault isolation', () => {
  /** Runs before each restore of an Items machine (a test makes it throw). */
  let beforeRestore: () => void = () => {};
  class RestoringItems extends Items {
    restore(bytes: Uint8Array): number[] {
      beforeRestore();
      return decodeValue(bytes) as number[];
    }
  }

  /** A cluster `items` of a, b and c (and `ctr`), a follower down while 120 items are written and compacted. */
  async function itemsWithOneDown(): Promise<{ c: LocalCluster; down: string; up: string }> {
    beforeRestore = () => {};
    cluster = new LocalCluster(['a', 'b', 'c'], { snapshotEveryEntries: 50, machines: { items: () => new RestoringItems(), counter: () => new CounterMachine() } });
    const c = cluster;
    await c.startAll();
    await c.system('a').startCluster('items', 'items', ['a', 'b', 'c']);
    await c.system('a').startCluster('ctr', 'counter', ['a', 'b', 'c']);
    const leader = await c.leader('items');
    const down = ['a', 'b', 'c'].find((n) => n !== leader) as string;
    const up = ['a', 'b', 'c'].find((n) => n !== leader && n !== down) as string;
    await c.stopNode(down);
    for (let i = 0; i < 120; i++) await c.system(up).processCommand('items', i);
    return { c, down, up };
  }

  it('stops a member whose restore keeps throwing, alone: the node\'s other members go on, and it comes back once fixed', async () => {
    const { c, down } = await itemsWithOneDown();
    // Back, the member is sent a snapshot it cannot restore: it crashes on every start.
    beforeRestore = () => {
      throw new Error('a bug in restore');
    };
    const back = await c.startNode(down);
    expect(await back.restartAll()).toEqual(['ctr', 'items'].sort());
    await until('the member to be given up', async () => back.failedMembers().has('items'));
    expect(back.failedMembers().get('items')).toMatch(/a bug in restore/);
    expect((await back.nodeOverview(down)).failed).toEqual([{ cluster: 'items', reason: expect.stringMatching(/crashed too often/) }]);
    await expect(back.members('items', { member: down })).rejects.toMatchObject({ code: 'member_failed', name: 'MemberFailedError' });
    // The node's other member serves on, and so does the cluster, on two members.
    expect(await back.processCommand('ctr', { type: 'incr' }, { timeoutMs: 10_000 })).toBe(1);
    expect(await back.processCommand('items', 120, { timeoutMs: 10_000 })).toBe(121);
    // Fixed, it starts again from what it has on disk and catches up.
    beforeRestore = () => {};
    await back.restartServer('items');
    expect(back.failedMembers().size).toBe(0);
    const commit = (await back.members('items')).commitIndex;
    await until('the member to catch up', async () => (await back.members('items', { member: down })).appliedIndex >= commit);
    expect(await back.localQuery('items', (s: number[]) => s.length)).toBe(121);
  });

  it('brings a member that crashed while restoring a received snapshot back from it, restarted by its supervisor', async () => {
    const { c, down, up } = await itemsWithOneDown();
    // The received snapshot is stored, then the restore throws: the member restarts in the
    // same process with the snapshot on disk and its log still behind it.
    let throwsLeft = 1;
    beforeRestore = () => {
      if (throwsLeft-- > 0) throw new Error('a one-off failure in restore');
    };
    // The leader's snapshot point depends on its place among the members (points spread over the
    // period), and its save may still be under way on a busy machine: wait for one past 50.
    let leaderSnapshot = 0;
    await until('a leader snapshot past index 50', async () => (leaderSnapshot = (await c.system(up).members('items')).snapshotIndex) > 50);
    const back = await c.startNode(down);
    await back.restartServer('items');
    const commit = (await c.system(up).members('items')).commitIndex;
    await until('the member to catch up', async () => (await back.members('items', { member: down })).appliedIndex >= commit);
    expect(throwsLeft).toBeLessThan(0); // thrown once, then restored
    expect(back.failedMembers().size).toBe(0);
    expect(await back.localQuery('items', (s: number[]) => s)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    const mine = await back.members('items', { member: down });
    expect(mine.snapshotIndex).toBeGreaterThanOrEqual(leaderSnapshot); // it came back from the leader's snapshot
    expect(mine.lastIndex).toBeGreaterThanOrEqual(commit);
  });

  it('starts every other member when one cannot start', async () => {
    const c = await start(['a', 'b', 'c']);
    await c.system('a').startCluster('ctr', 'counter', ['a', 'b', 'c']);
    for (let i = 0; i < 30; i++) await c.system('a').processCommand('kv', { type: 'put', key: `k${i}`, value: i });
    await until('a snapshot on a', async () => (await c.system('a').members('kv', { member: 'a' })).snapshotIndex > 0);
    await c.stopNode('a');
    for (const f of (readdirSync(join(c.dir, 'a'), { recursive: true }) as string[]).filter((f) => f.endsWith('.snap') && f.includes('kv'))) {
      const path = join(c.dir, 'a', f);
      const bytes = readFileSync(path);
      bytes.writeUInt8(bytes.readUInt8(bytes.length >> 1) ^ 0xff, bytes.length >> 1);
      writeFileSync(path, bytes);
    }
    const a = await c.startNode('a');
    expect(await a.restartAll()).toEqual(['ctr']);
    expect(a.failedMembers().get('kv')).toMatch(/could not start: .*checksum/);
    await expect(a.members('kv', { member: 'a' })).rejects.toMatchObject({ code: 'member_failed' });
    expect(await a.processCommand('ctr', { type: 'incr' }, { timeoutMs: 10_000 })).toBe(1);
  });
});

describe('a node whose log tree gives up', () => {
  it('stops and says so (whenDown), rather than run on without its log', async () => {
    const c = await start(['a', 'b', 'c']);
    const a = c.system('a');
    await a.processCommand('kv', { type: 'put', key: 'k', value: 1 });
    let down: Error | undefined;
    void a.whenDown().then((e) => (down = e));
    // The log tree restarts a crashed WAL (3 times in 5 s); one more crash and it gives up.
    const children = async (sup: ActorRef) => whichChildren(a.actors, sup);
    for (let i = 0; i < 4; i++) {
      const log = (await children(a.actors.whereis('system') as ActorRef)).find((x) => x.id === 'log')?.ref as ActorRef;
      const wal = (await children(log)).find((x) => x.id === 'wal')?.ref as ActorRef;
      await a.actors.stop(wal, new Error(`injected crash ${i + 1}`));
      await new Promise((r) => setImmediate(r));
    }
    await until('the node to stop', () => Promise.resolve(down !== undefined));
    expect(down).toMatchObject({ code: 'restart_intensity', message: expect.stringMatching(/node a stopped: .*injected crash 4/) });
    await expect(a.members('kv', { member: 'a' })).rejects.toMatchObject({ code: 'shutdown' });
    // The other nodes go on without it, and it comes back from disk as a new process would.
    expect(await c.system('b').processCommand('kv', { type: 'put', key: 'k', value: 2 }, { timeoutMs: 10_000 })).toEqual({ ok: true });
    c.systems.delete('a');
    const back = await c.startNode('a');
    expect(await back.restartAll()).toEqual(['kv']);
    expect(await back.leaderQuery('kv', (s: KvState) => s.get('k'), { timeoutMs: 10_000 })).toBe(2);
  });
});

describe('membership', () => {
  it('grows 1 -> 3 -> 5 and shrinks 5 -> 3 under load without losing or duplicating an acknowledged command', async () => {
    cluster = new LocalCluster(['a', 'b', 'c', 'd', 'e'], { snapshotEveryEntries: 40 });
    const c = cluster;
    await c.startAll();
    const a = c.system('a');
    await a.startCluster('ctr', 'counter', ['a']);
    const session = await a.openSession('ctr');
    let acked = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        // Each increment returns the new total: acknowledged ones must be exactly 1..acked.
        const value = await session.processCommand<number>({ type: 'incr' }, { timeoutMs: 10_000 });
        expect(value).toBe(acked + 1);
        acked++;
      }
    })();
    for (const n of ['b', 'c', 'd', 'e']) await a.addMember('ctr', n, { timeoutMs: 20_000 });
    expect((await a.members('ctr')).voters.length).toBe(5);
    await a.removeMember('ctr', 'd');
    await a.removeMember('ctr', 'e');
    stop = true;
    await load;
    const status = await a.members('ctr');
    expect([...status.voters].sort()).toEqual(['a', 'b', 'c']);
    expect(acked).toBeGreaterThan(10);
    expect(await a.consistentQuery('ctr', { name: 'get' })).toBe(acked);
    await until('members to stop and delete data', async () => (await c.system('d').overview()).servers.length === 0);
  });

  it('removes the leader: it hands over once the change commits and stops', async () => {
    const c = await start(['a', 'b', 'c']);
    const leader = await c.leader('kv');
    const other = ['a', 'b', 'c'].find((n) => n !== leader) as string;
    await c.system(other).processCommand('kv', { type: 'put', key: 'x', value: 1 });
    await c.system(other).removeMember('kv', leader);
    const next = await c.leader('kv', other);
    expect(next).not.toBe(leader);
    const status = await c.system(other).members('kv');
    expect(status.voters).not.toContain(leader);
    expect(await c.system(other).consistentQuery('kv', { name: 'get', args: 'x' })).toBe(1);
  });

  it('refuses a second change while one is pending, with membership_change_in_progress', async () => {
    const c = await start(['a', 'b', 'c'], ['a', 'b']);
    await c.leader('kv');
    await c.stopNode('c'); // 'c' cannot catch up, so its promotion stays pending
    const first = c.system('a').requestRaw('kv', { type: 'add_member', member: 'c' }, { timeoutMs: 30_000 });
    first.catch(() => {});
    await until('the first change to be in effect', async () => (await c.system('a').members('kv')).nonVoters.includes('c'));
    await expect(c.system('a').removeMember('kv', 'b')).rejects.toMatchObject({ code: 'membership_change_in_progress' });
  });
});

describe('leadership transfer', () => {
  it('moves leadership to the target', async () => {
    const c = await start(['a', 'b', 'c']);
    const leader = await c.leader('kv');
    const target = ['a', 'b', 'c'].find((n) => n !== leader) as string;
    await c.system('a').transferLeadership('kv', target);
    expect(await c.leader('kv')).toBe(target);
    await c.system('a').processCommand('kv', { type: 'put', key: 'after', value: true });
  });

  it('fails after an election timeout when the target cannot take over, and the old leader carries on', async () => {
    const c = await start(['a', 'b', 'c']);
    const leader = await c.leader('kv');
    const target = ['a', 'b', 'c'].find((n) => n !== leader) as string;
    c.network.block(leader, target);
    await expect(c.system(leader).transferLeadership('kv', target)).rejects.toMatchObject({ code: 'timeout' });
    c.network.heal();
    expect(await c.leader('kv')).toBe(leader);
    await c.system(leader).processCommand('kv', { type: 'put', key: 'still', value: 'leading' });
  });
});

describe('exactly-once sessions', () => {
  it('applies a retried command once when the leader died between applying it and replying', async () => {
    // Kill the leader's node the moment it applies the second increment: its reply never leaves.
    let killAt: { node: string; index: number } | undefined;
    cluster = new LocalCluster(['a', 'b', 'c'], {
      observer: {
        applied: (clusterName, node, index) => {
          if (clusterName === 'ctr' && killAt !== undefined && node === killAt.node && index >= killAt.index) {
            const victim = cluster?.systems.get(node);
            killAt = undefined;
            queueMicrotask(() => victim?.kill()); // before the transport flushes the reply
          }
        },
      },
    });
    const c = cluster;
    await c.startAll();
    await c.system('a').startCluster('ctr', 'counter', ['a', 'b', 'c']);
    const leader = await c.leader('ctr');
    const client = ['a', 'b', 'c'].find((n) => n !== leader) as string;
    const session = await c.system(client).openSession('ctr');
    expect(await session.processCommand({ type: 'incr' })).toBe(1);
    const status = await c.system(client).members('ctr');
    killAt = { node: leader, index: status.commitIndex + 1 };
    const value = await session.processCommand<number>({ type: 'incr' }, { timeoutMs: 10_000 });
    expect(killAt).toBeUndefined(); // the leader did die after applying
    expect(value).toBe(2); // the retry got the recorded reply...
    expect(await c.system(client).consistentQuery('ctr', { name: 'get' })).toBe(2); // ...and nothing ran twice
    c.systems.delete(leader);
  });

  it('rejects a command of an expired session with session_expired', async () => {
    // The session's registration is its last activity: no step has to happen within the
    // 200 ms (on a loaded machine it may not), the wait only has to exceed them.
    const c = await start(['a'], ['a'], { sessionTimeoutMs: 200 });
    const session = await c.system('a').openSession('kv');
    await new Promise((r) => setTimeout(r, 1300));
    await c.system('a').processCommand('kv', { type: 'put', key: 'tick', value: 1 }); // leader time moves on
    const error = await session.processCommand({ type: 'put', key: 'k', value: 2 }).catch((e: unknown) => e);
    expect((error as ConcordError).code).toBe('session_expired');
  });
});

describe('machine upgrades', () => {
  /** v1 adds 1; v2 adds 10. The behaviour switches at the machine_version entry. */
  class Stepper implements Machine<number, 'step', number> {
    constructor(readonly version: number) {}
    init() {
      return 0;
    }
    apply(meta: ApplyMeta, _cmd: 'step', n: number): ApplyResult<number, number> {
      const next = n + (meta.machineVersion >= 2 ? 10 : 1);
      return { state: next, reply: next };
    }
    readonly queries = { get: (n: number) => n };
  }

  it('switches every member to the new version at the same index, and an old member refuses to apply', async () => {
    const versions: Record<string, number> = { a: 1, b: 1, c: 1 };
    cluster = new LocalCluster(['a', 'b', 'c'], {});
    const c = cluster;
    for (const n of ['a', 'b', 'c']) await c.startNodeWith(n, { machines: { stepper: () => new Stepper(versions[n] as number) } });
    await c.system('a').startCluster('up', 'stepper', ['a', 'b', 'c']);
    expect(await c.system('a').processCommand('up', 'step')).toBe(1);
    // Rolling upgrade: restart two members on v2 code, then make one of them leader.
    for (const n of ['b', 'c']) {
      versions[n] = 2;
      await c.stopNode(n);
      await (await c.startNodeWith(n, { machines: { stepper: () => new Stepper(2) } })).restartServer('up');
    }
    const commit = (await c.system('a').members('up')).commitIndex;
    await until('the upgraded members to catch up', async () => (await c.system('b').members('up', { member: 'b' })).appliedIndex >= commit);
    await until('b to lead', async () => {
      await c.system('b').transferLeadership('up', 'b');
      return (await c.system('b').members('up', { member: 'b' })).role === 'leader';
    });
    await until('the upgrade to apply', async () => (await c.system('b').members('up', { member: 'c' })).machineVersion === 2);
    expect(await c.system('b').processCommand('up', 'step')).toBe(11);
    // The members on v2 agree; the member still on v1 code stopped applying and says why.
    expect(await c.system('b').localQuery('up', { name: 'get' })).toBe(11);
    // A follower applies once it learns the commit index (with the next AppendEntries).
    await until('c to apply it too', async () => (await c.system('c').localQuery('up', { name: 'get' }, { member: 'c' })) === 11);
    const old = await c.system('a').members('up', { member: 'a' });
    expect(old.halted).toMatch(/machine version 2/);
    await expect(c.system('a').localQuery('up', { name: 'get' }, { member: 'a' })).rejects.toMatchObject({ code: 'machine_version' });
  });
});
