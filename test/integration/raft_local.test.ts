// Clusters of Systems in one process, with real files and fsync, over the
// in-process transport.
import { afterEach, describe, expect, it } from 'vitest';
import { LocalCluster } from '../helpers/local_cluster.js';
import { NotLeaderError } from '../../src/api/errors.js';
import { ConcordError } from '../../src/lib/errors.js';
import type { KvState } from '../../machines/kv.js';

let cluster: LocalCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

async function kvCluster(nodes: string[]) {
  cluster = new LocalCluster(nodes);
  await cluster.startAll();
  const sys = cluster.system(nodes[0] as string);
  const result = await sys.startCluster('kv1', 'kv', nodes);
  expect([...result.started].sort()).toEqual([...nodes].sort());
  return { c: cluster, sys };
}

describe('in-process clusters', () => {
  it('3 and 5 member clusters elect exactly one leader', async () => {
    for (const nodes of [
      ['a', 'b', 'c'],
      ['a', 'b', 'c', 'd', 'e'],
    ]) {
      const { c } = await kvCluster(nodes);
      await c.leader('kv1');
      // A member may not have heard of the winner yet (or, on a loaded machine, a new election
      // may start): wait until every member names the same leader in the same term, then no
      // other member may claim that term's leadership.
      const deadline = Date.now() + 10_000;
      let statuses = await Promise.all(nodes.map((n) => c.system('a').members('kv1', { member: n })));
      while (!statuses.every((s) => s.leader !== undefined && s.leader === statuses[0]?.leader && s.term === statuses[0]?.term) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        statuses = await Promise.all(nodes.map((n) => c.system('a').members('kv1', { member: n })));
      }
      const leader = statuses[0]?.leader;
      expect(leader).toBeDefined();
      expect(statuses.filter((s) => s.role === 'leader').map((s) => s.node)).toEqual([leader]);
      for (const s of statuses) expect([s.leader, s.term]).toEqual([leader, statuses[0]?.term]);
      await c.close();
      cluster = undefined;
    }
  });

  it('applies commands and answers consistent queries with every acknowledged write', async () => {
    const { sys } = await kvCluster(['a', 'b', 'c']);
    for (let i = 0; i < 20; i++) {
      const reply = await sys.processCommand<{ ok: boolean }>('kv1', { type: 'put', key: `k${i}`, value: i });
      expect(reply.ok).toBe(true);
    }
    expect(await sys.consistentQuery('kv1', { name: 'get', args: 'k7' })).toBe(7);
    expect(await sys.consistentQuery('kv1', (s: KvState) => s.size)).toBe(20);
    const cas = await sys.processCommand<{ ok: boolean; previous: unknown }>('kv1', { type: 'cas', key: 'k1', expected: 1, value: 'one' });
    expect(cas).toEqual({ ok: true, previous: 1 });
    // A node's overview, whole or brief (counts per role only, for nodes with thousands of members).
    const views = await Promise.all(['a', 'b', 'c'].map((n) => sys.nodeOverview(n)));
    const brief = await Promise.all(['a', 'b', 'c'].map((n) => sys.nodeOverview(n, { brief: true })));
    expect(views.map((v) => v.servers.length)).toEqual([1, 1, 1]);
    expect(brief.map((v) => v.servers.length)).toEqual([0, 0, 0]);
    expect(brief.reduce((n, v) => n + (v.roles.leader ?? 0), 0)).toBe(1);
    expect(brief.map((v) => v.roles)).toEqual(views.map((v) => v.roles));
  });

  it('replaces a stopped leader, and the old leader rejoins as a follower with every write', async () => {
    const { c } = await kvCluster(['a', 'b', 'c']);
    const first = await c.leader('kv1');
    const other = ['a', 'b', 'c'].find((n) => n !== first) as string;
    await c.system(other).processCommand('kv1', { type: 'put', key: 'before', value: 1 });
    await c.stopNode(first);
    const second = await c.leader('kv1', other);
    expect(second).not.toBe(first);
    await c.system(other).processCommand('kv1', { type: 'put', key: 'after', value: 2 });
    const back = await c.startNode(first);
    await back.restartServer('kv1');
    await back.processCommand('kv1', { type: 'put', key: 'back', value: 3 });
    const deadline = Date.now() + 5000;
    let status = await back.members('kv1', { member: first });
    while (status.appliedIndex < (await back.members('kv1')).commitIndex && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      status = await back.members('kv1', { member: first });
    }
    expect(status.role).toBe('follower');
    expect(await back.localQuery('kv1', { name: 'keys' })).toEqual(['after', 'back', 'before']);
  });

  it('never reports committed a write that only an isolated minority holds, and repairs the diverged log', async () => {
    const { c } = await kvCluster(['a', 'b', 'c']);
    const old = await c.leader('kv1');
    const rest = ['a', 'b', 'c'].filter((n) => n !== old);
    c.network.partition([[old], rest]);
    const doomed = c.system(old).processCommand('kv1', { type: 'put', key: 'minority', value: 'x' }, { timeoutMs: 1500 });
    const fresh = await c.leader('kv1', rest[0]);
    expect(rest).toContain(fresh);
    await c.system(rest[0] as string).processCommand('kv1', { type: 'put', key: 'majority', value: 'y' });
    const outcome = await doomed.then(
      () => 'acknowledged',
      (e: unknown) => (e instanceof ConcordError ? e.code : String(e)),
    );
    expect(outcome).not.toBe('acknowledged');
    c.network.heal();
    // The old leader's uncommitted entry is replaced by the majority's log.
    const deadline = Date.now() + 5000;
    let keys: unknown = [];
    while (Date.now() < deadline) {
      keys = await c.system(old).localQuery('kv1', { name: 'keys' });
      if (JSON.stringify(keys) === JSON.stringify(['majority'])) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(keys).toEqual(['majority']);
    expect(await c.system(old).consistentQuery('kv1', { name: 'get', args: 'minority' })).toBe(null);
  });

  it('gives the documented answers to the three kinds of query', async () => {
    const { c, sys } = await kvCluster(['a', 'b', 'c']);
    const leader = await c.leader('kv1');
    const follower = ['a', 'b', 'c'].find((n) => n !== leader) as string;
    await sys.processCommand('kv1', { type: 'put', key: 'q', value: 1 });
    expect(await c.system(follower).consistentQuery('kv1', { name: 'get', args: 'q' })).toBe(1);
    expect(await c.system(follower).leaderQuery('kv1', { name: 'get', args: 'q' })).toBe(1);
    // A local query reads the local member, which may lag but never runs ahead of the leader.
    const local = await c.system(follower).localQuery('kv1', { name: 'get', args: 'q' });
    expect([null, 1]).toContain(local);
    // Asking a follower directly for a leader query is refused with a hint.
    await expect(c.system(follower).leaderQuery('kv1', { name: 'get', args: 'q' }, { member: follower })).rejects.toBeInstanceOf(NotLeaderError);
  });

  it('keeps every acknowledged command when the whole cluster restarts from disk', async () => {
    const { c } = await kvCluster(['a', 'b', 'c']);
    const acked: number[] = [];
    for (let i = 0; i < 50; i++) {
      await c.system('a').processCommand('kv1', { type: 'put', key: `k${i}`, value: i });
      acked.push(i);
    }
    for (const n of ['a', 'b', 'c']) await c.stopNode(n);
    for (const n of ['a', 'b', 'c']) await (await c.startNode(n)).restartServer('kv1');
    const size = await c.system('b').consistentQuery('kv1', (s: KvState) => s.size, { timeoutMs: 10_000 });
    expect(size).toBe(acked.length);
    for (const i of [0, 17, 49]) expect(await c.system('c').consistentQuery('kv1', { name: 'get', args: `k${i}` })).toBe(i);
  });
});

describe('the System API', () => {
  it('delivers pipelined command outcomes in batches with their correlations', async () => {
    cluster = new LocalCluster(['a', 'b', 'c']);
    await cluster.startAll();
    const sys = cluster.system('a');
    await sys.startCluster('ctr', 'counter', ['a', 'b', 'c']);
    await sys.processCommand('ctr', { type: 'incr', by: 0 });
    const batches: number[] = [];
    const results = new Map<unknown, unknown>();
    const all = new Promise<void>((resolve) => {
      sys.onApplied('ctr', (batch) => {
        batches.push(batch.length);
        for (const r of batch) results.set(r.correlation, r.ok ? r.value : r.error.code);
        if (results.size === 100) resolve();
      });
    });
    for (let i = 0; i < 100; i++) sys.pipelineCommand('ctr', { type: 'incr' }, `c${i}`);
    await all;
    expect([...results.values()].sort((x, y) => (x as number) - (y as number))).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(batches.length).toBeLessThan(100); // delivered in batches, not one by one
  });

  it('rejects bad arguments with typed errors and changes nothing', async () => {
    cluster = new LocalCluster(['a']);
    await cluster.startAll();
    const sys = cluster.system('a');
    await expect(sys.startCluster('bad name!', 'kv', ['a'])).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(sys.startCluster('ok', 'no-such-machine', ['a'])).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(sys.startCluster('ok', 'kv', [])).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(sys.startCluster('ok', 'kv', ['a', 'a'])).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(sys.processCommand('missing', { type: 'put', key: 'k', value: 1 }, { timeoutMs: 300 })).rejects.toMatchObject({ code: 'cluster_not_found' });
    await sys.startCluster('solo', 'kv', ['a']);
    await expect(sys.processCommand('solo', { type: 'put', key: 'k', value: () => 1 })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(sys.consistentQuery('solo', { name: 'no_such_query' })).rejects.toMatchObject({ code: 'invalid_argument' });
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      await expect(sys.consistentQuery('solo', { name })).rejects.toMatchObject({ code: 'invalid_argument' });
      await expect(sys.localQuery('solo', { name })).rejects.toMatchObject({ code: 'invalid_argument' });
    }
    expect(await sys.consistentQuery('solo', { name: 'size' })).toBe(0);
  });

  it('refuses a machine name that every object inherits, from a remote request too, and records nothing', async () => {
    cluster = new LocalCluster(['a']);
    await cluster.startAll();
    const sys = cluster.system('a');
    for (const machine of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      await expect(sys.startCluster('c1', machine, ['a'])).rejects.toMatchObject({ code: 'invalid_argument' });
      // The request a remote caller sends, past the local check.
      const start = { type: 'start_server' as const, machine, members: ['a'], config: null, sessionTimeoutMs: 60_000 };
      await expect(sys.requestRaw('c1', start, { member: 'a', timeoutMs: 5000 })).rejects.toMatchObject({ code: 'invalid_argument' });
    }
    // Such a request once left a server record behind, and the node could not restart.
    await cluster.stopNode('a');
    expect(await (await cluster.startNode('a')).restartAll()).toEqual([]);
  });

  it('refuses, alike on every member, command bytes that do not decode, and the log goes on', async () => {
    cluster = new LocalCluster(['a', 'b', 'c']);
    await cluster.startAll();
    const sys = cluster.system('a');
    await sys.startCluster('kv1', 'kv', ['a', 'b', 'c']);
    // In process nothing checks a request's bytes before the log (NATS's decoder does): the
    // entry is committed and its apply refuses it, deterministically, instead of crashing members.
    await expect(sys.requestRaw('kv1', { type: 'command', command: new Uint8Array([0x92, 0xc1]) })).rejects.toMatchObject({ code: 'invalid_argument' });
    const session = await sys.openSession('kv1');
    await expect(session.processCommand({ type: 'put', key: 'k', value: 1 })).resolves.toBeDefined();
    expect(await sys.consistentQuery('kv1', { name: 'get', args: 'k' })).toBe(1);
  });
});

describe('inbound validation', () => {
  it('drops Raft traffic from a node that is not a member, so it cannot disturb the cluster', async () => {
    cluster = new LocalCluster(['a', 'b', 'c']);
    await cluster.startAll();
    const sys = cluster.system('a');
    await sys.startCluster('kv1', 'kv', ['a', 'b', 'c']);
    const leader = await cluster.leader('kv1');
    const before = await sys.members('kv1');
    const rogue = cluster.network.connect('rogue');
    rogue.listen(() => {}, () => {});
    for (const to of ['a', 'b', 'c']) {
      rogue.send(to, {
        type: 'raft',
        cluster: 'kv1',
        from: 'rogue',
        to,
        msg: { type: 'request_vote', term: before.term + 100, candidateId: 'rogue', lastLogIndex: 1e9, lastLogTerm: 1e9, preVote: false, transfer: true },
      });
    }
    await new Promise((r) => setTimeout(r, 200));
    const after = await sys.members('kv1');
    expect(after.term).toBe(before.term);
    expect(after.leader).toBe(leader);
    expect(['a', 'b', 'c'].reduce((n, id) => n + cluster!.system(id).dropped.notMember, 0)).toBe(3);
    await rogue.close();
  });
});
