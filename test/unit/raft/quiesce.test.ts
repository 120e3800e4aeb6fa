// Quiescence: idle groups stop their per-group heartbeats and election timers
// and rely on node-level liveness (peer_down / peer_up), against the pure core
// in the deterministic harness.
import { describe, expect, it } from 'vitest';
import { CoreCluster, type Member } from '../../helpers/core_cluster.js';

const opts = { electionTimeoutMinMs: 150, electionTimeoutMaxMs: 300, heartbeatMs: 30, quiesce: true };

/** Raft messages every member sent from now on, counted by `since()`. */
function sends(c: CoreCluster): () => number {
  const start = [...c.members.values()].map((m) => [m, m.effects.length] as const);
  return () => start.reduce((n, [m, from]) => n + m.effects.slice(from).filter((e) => e.type === 'send').length, 0);
}

function quietCluster(seed: number): { c: CoreCluster; leader: Member } {
  const c = new CoreCluster(['a', 'b', 'c'], seed, opts);
  const leader = c.awaitLeader();
  c.command(leader.id, 'first');
  c.clock.runUntil(() => [...c.members.values()].every((m) => m.state.quiesced), 2000);
  return { c, leader };
}

/** Tells every member but `id`'s own that the node hosting `id` went down. */
function nodeDown(c: CoreCluster, id: string): void {
  for (const m of c.members.values()) if (m.id !== id && m.up) c.deliver(m.id, { type: 'peer_down', id });
}

describe('quiescence', () => {
  it('an idle group goes quiet: no messages and no timers, and everyone agrees who leads', () => {
    const { c, leader } = quietCluster(31);
    expect([...c.members.values()].map((m) => m.state.quiesced)).toEqual([true, true, true]);
    const count = sends(c);
    c.clock.runFor(10_000);
    expect(count()).toBe(0);
    expect(c.leaders().map((m) => m.id)).toEqual([leader.id]);
    for (const m of c.members.values()) expect(m.timers.size).toBe(0);
    expect(c.violations).toEqual([]);
  });

  it('a command wakes the group, commits, and the group goes quiet again', () => {
    const { c, leader } = quietCluster(32);
    const term = leader.state.term;
    const ref = c.command(leader.id, 'second');
    c.clock.runUntil(() => leader.state.commitIndex >= (leader.accepted.get(ref)?.index ?? Infinity), 1000);
    expect(leader.state.commitIndex).toBe(leader.accepted.get(ref)?.index);
    expect(leader.state.quiesced).toBe(false);
    c.clock.runUntil(() => [...c.members.values()].every((m) => m.state.quiesced), 2000);
    expect([...c.members.values()].every((m) => m.state.quiesced && m.state.term === term)).toBe(true);
    expect(c.violations).toEqual([]);
  });

  it('a consistent read wakes the leader, which confirms its leadership with a quorum round', () => {
    const { c, leader } = quietCluster(33);
    const ref = c.read(leader.id);
    c.clock.runUntil(() => leader.readsReady.has(ref), 1000);
    expect(leader.readsReady.has(ref)).toBe(true);
  });

  it('when the leader node goes down, a follower is elected within an election timeout', () => {
    const { c, leader } = quietCluster(34);
    const term = leader.state.term;
    c.crash(leader.id);
    const downAt = c.clock.now();
    nodeDown(c, leader.id);
    c.clock.runUntil(() => c.leaders().some((m) => m.up && m.state.term > term), 5000);
    const next = c.leaders().find((m) => m.up && m.state.term > term);
    expect(next).toBeDefined();
    expect(c.clock.now() - downAt).toBeLessThan(opts.electionTimeoutMaxMs);
    expect(c.violations).toEqual([]);
  });

  it('without node-level news, a quiet group keeps its dead leader (the reason node liveness is required)', () => {
    const { c, leader } = quietCluster(35);
    c.crash(leader.id);
    c.clock.runFor(5000);
    expect([...c.members.values()].filter((m) => m.up).every((m) => m.state.role === 'follower' && m.state.leaderId === leader.id)).toBe(true);
  });

  it('a quiet leader that can no longer reach a quorum of nodes steps down', () => {
    const { c, leader } = quietCluster(36);
    const others = ['a', 'b', 'c'].filter((id) => id !== leader.id);
    c.deliver(leader.id, { type: 'peer_down', id: others[0] as string });
    expect(leader.state.role).toBe('leader'); // two of three voters still up
    c.deliver(leader.id, { type: 'peer_down', id: others[1] as string });
    expect(leader.state.role).toBe('follower');
  });

  it('a follower that missed the quiesce message campaigns; the leader wakes and keeps its term', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 37, opts);
    const leader = c.awaitLeader();
    const deaf = ['a', 'b', 'c'].find((id) => id !== leader.id) as string;
    c.command(leader.id, 'first');
    c.clock.runUntil(() => leader.state.commitIndex > 1 && c.member(deaf).state.commitIndex === leader.state.commitIndex, 1000);
    c.cut.add(`${leader.id}>${deaf}`); // the quiesce heartbeat never reaches it
    c.clock.runUntil(() => leader.state.quiesced, 2000);
    c.cut.clear();
    const term = leader.state.term;
    c.clock.runUntil(() => c.member(deaf).state.quiesced, 3000);
    expect(c.member(deaf).state.quiesced).toBe(true);
    expect(leader.state.role).toBe('leader');
    expect(leader.state.term).toBe(term);
    expect(c.violations).toEqual([]);
  });

  it('a follower ignores a quiesce message that newer entries have overtaken', () => {
    const { c, leader } = quietCluster(39);
    const f = ['a', 'b', 'c'].find((id) => id !== leader.id) as string;
    const stale = [...leader.effects].reverse().find((e) => e.type === 'send' && e.to === f && e.msg.type === 'append_entries' && e.msg.quiesce === true);
    if (stale?.type !== 'send') throw new Error('no quiesce message sent');
    const last = c.member(f).log.lastIndex;
    c.command(leader.id, 'second');
    c.clock.runUntil(() => c.member(f).log.lastIndex > last, 1000);
    expect(c.member(f).state.quiesced).toBe(false);
    // Delivered late (the network reordered it): heeding it would put the follower to sleep
    // behind a leader that is busy, which may yet remove itself and stop.
    c.deliver(f, { type: 'message', from: leader.id, msg: stale.msg });
    expect(c.member(f).state.quiesced).toBe(false);
    expect(c.violations).toEqual([]);
  });

  it('a restarted follower is brought back: its node coming up wakes the leader', () => {
    const { c, leader } = quietCluster(38);
    const follower = ['a', 'b', 'c'].find((id) => id !== leader.id) as string;
    c.crash(follower);
    nodeDown(c, follower);
    const ref = c.command(leader.id, 'while-down');
    c.clock.runUntil(() => leader.state.commitIndex >= (leader.accepted.get(ref)?.index ?? Infinity), 1000);
    c.clock.runFor(1000);
    c.restart(follower);
    c.deliver(leader.id, { type: 'peer_up', id: follower });
    c.clock.runUntil(() => c.member(follower).state.appliedIndex === leader.state.commitIndex, 2000);
    expect(c.member(follower).state.appliedIndex).toBe(leader.state.commitIndex);
    expect(c.leaders().map((m) => m.id)).toEqual([leader.id]);
    expect(c.violations).toEqual([]);
  });
});
