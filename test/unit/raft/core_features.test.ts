// Snapshots and InstallSnapshot, membership changes and leadership transfer,
// against the pure core in the deterministic harness.
import { describe, expect, it } from 'vitest';
import { CoreCluster, type Member } from '../../helpers/core_cluster.js';

const opts = { electionTimeoutMinMs: 150, electionTimeoutMaxMs: 300, heartbeatMs: 30, snapshotChunkBytes: 64, promoteDistanceMax: 4 };

function writeMany(c: CoreCluster, leader: Member, n: number, tag: string): number[] {
  const refs: number[] = [];
  for (let i = 0; i < n; i++) {
    refs.push(c.command(leader.id, `${tag}-${i}`));
    c.clock.runFor(2);
  }
  return refs;
}

function appliedBodies(m: Member): string[] {
  return m.applied.filter((e) => e.payload[0] === 1).map((e) => new TextDecoder().decode(e.payload.subarray(1)));
}

function settled(c: CoreCluster, leader: Member, ms = 2000): void {
  c.clock.runUntil(() => [...c.members.values()].filter((m) => m.up && m.state.role !== 'stopped').every((m) => m.state.commitIndex === leader.state.commitIndex && m.state.appliedIndex === leader.state.commitIndex), ms);
}

describe('snapshots and InstallSnapshot (§7)', () => {
  it('brings a member that was down while the log was compacted up to date with a chunked snapshot', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 21, opts);
    const leader = c.awaitLeader();
    const lagging = ['a', 'b', 'c'].find((id) => id !== leader.id) as string;
    c.crash(lagging);
    writeMany(c, leader, 30, 'w');
    c.clock.runFor(200);
    for (const m of c.members.values()) if (m.up) c.snapshotNow(m.id);
    expect(leader.log.firstIndex).toBeGreaterThan(20);
    c.net = { ...c.net, dropRate: 0.1 }; // lose some chunks on the way
    c.restart(lagging);
    const roles = new Set<string>();
    const ok = c.clock.runUntil(() => {
      roles.add(c.member(lagging).state.role);
      return c.member(lagging).state.appliedIndex >= leader.state.commitIndex;
    }, 5000);
    expect(ok).toBe(true);
    expect(roles.has('receive_snapshot')).toBe(true);
    expect(c.member(lagging).effects.filter((e) => e.type === 'receive_snapshot_chunk').length).toBeGreaterThan(3);
    expect(appliedBodies(c.member(lagging))).toEqual(appliedBodies(leader));
    expect(c.violations).toEqual([]);
  });

  it('restarts an interrupted transfer cleanly when the receiver crashes midway', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 22, { ...opts, snapshotChunksInFlightMax: 1 });
    const leader = c.awaitLeader();
    const lagging = ['a', 'b', 'c'].find((id) => id !== leader.id) as string;
    c.crash(lagging);
    writeMany(c, leader, 40, 'w');
    c.clock.runFor(200);
    c.snapshotNow(leader.id);
    c.restart(lagging);
    c.clock.runUntil(() => c.member(lagging).state.role === 'receive_snapshot', 2000);
    c.clock.runFor(15);
    expect(c.member(lagging).state.incoming?.complete).toBe(false);
    c.crash(lagging);
    c.clock.runFor(50);
    c.restart(lagging);
    c.command(leader.id, 'after');
    settled(c, leader, 5000);
    expect(appliedBodies(c.member(lagging))).toEqual(appliedBodies(leader));
    expect(c.violations).toEqual([]);
  });
});

describe('a follower whose snapshot is past what its leader sends', () => {
  it('acknowledges the snapshot point, which matches any leader, so that the leader sends what follows', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 31, opts);
    const leader = c.awaitLeader();
    writeMany(c, leader, 20, 'w');
    settled(c, leader);
    const follower = c.members.get(c.ids.find((id) => id !== leader.id) as string) as ReturnType<typeof c.member>;
    c.snapshotNow(follower.id);
    const snap = follower.log.snapshotIndex;
    expect(snap).toBeGreaterThan(5);
    follower.effects.length = 0;
    // A heartbeat whose prevLogIndex lies below the snapshot and carries nothing past it
    // (a leader that saw this member acknowledge less before it crashed).
    const heartbeat = { type: 'append_entries', term: leader.state.term, leaderId: leader.id, prevLogIndex: snap - 3, prevLogTerm: leader.log.term(snap - 3) as number, entries: [], leaderCommit: leader.state.commitIndex, readSeq: 0 } as const;
    follower.state.verifiedIndex = 0; // as after a restart
    c.deliver(follower.id, { type: 'message', from: leader.id, msg: heartbeat });
    const reply = follower.effects.find((e) => e.type === 'send' && e.msg.type === 'append_entries_reply');
    expect(reply?.type === 'send' && reply.msg.type === 'append_entries_reply' ? [reply.msg.success, reply.msg.matchIndex] : undefined).toEqual([true, snap]);
    expect(c.violations).toEqual([]);
  });
});

describe('a member joining under the id of a deleted one', () => {
  it('grants no vote or pre-vote until its log reaches past its joinedAfter', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 37, opts);
    const leader = c.awaitLeader();
    writeMany(c, leader, 12, 'w');
    settled(c, leader);
    const stale = c.ids.find((id) => id !== leader.id) as string;
    c.join('d');
    c.join('e');
    const d = c.member('d');
    const e = c.member('e');
    d.state.votesFrom = leader.log.lastIndex + 1; // as initState sets it from joinedAfter
    // A candidate whose log stops early, as a member stale since before the earlier d's removal.
    const ask = (preVote: boolean) => ({ type: 'request_vote', term: 50, candidateId: stale, lastLogIndex: 4, lastLogTerm: 1, preVote, transfer: false }) as const;
    const granted = (m: typeof d): boolean[] => m.effects.flatMap((x) => (x.type === 'send' && x.msg.type === 'request_vote_reply' ? [x.msg.voteGranted] : []));
    for (const m of [d, e]) {
      c.deliver(m.id, { type: 'message', from: stale, msg: ask(true) });
      c.deliver(m.id, { type: 'message', from: stale, msg: ask(false) });
    }
    expect(granted(d)).toEqual([false, false]);
    expect(granted(e)).toEqual([true, true]); // an empty log without that rule votes for anyone
    // Added, it catches up past joinedAfter through the leader, and is promoted.
    const add = c.change(leader.id, { type: 'add_member', id: 'd' });
    c.clock.runUntil(() => leader.done.has(add), 5000);
    expect(d.log.lastIndex).toBeGreaterThanOrEqual(d.state.votesFrom);
    expect(leader.state.config.voters).toContain('d');
  });
});

describe('membership changes (thesis §4.1)', () => {
  it('adds a member as a non-voter, catches it up from a snapshot, then promotes it to voter', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 23, opts);
    const leader = c.awaitLeader();
    writeMany(c, leader, 20, 'w');
    c.clock.runFor(200);
    c.snapshotNow(leader.id);
    c.join('d');
    const ref = c.change(leader.id, { type: 'add_member', id: 'd' });
    expect(leader.state.config.nonVoters).toEqual(['d']); // in effect at once
    c.clock.runUntil(() => leader.done.has(ref), 5000);
    expect(leader.done.get(ref)).toBe('membership');
    expect(leader.state.config.voters).toContain('d');
    settled(c, leader);
    expect(c.member('d').state.config.voters).toContain('d');
    expect(appliedBodies(c.member('d'))).toEqual(appliedBodies(leader));
    expect(c.member('d').effects.some((e) => e.type === 'receive_snapshot_chunk')).toBe(true);
    expect(c.violations).toEqual([]);
  });

  it('allows one change at a time: a second one gets membership_change_in_progress', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 24, opts);
    const leader = c.awaitLeader();
    c.join('d');
    c.join('e');
    c.isolate('d'); // d cannot catch up, so its promotion stays pending
    c.change(leader.id, { type: 'add_member', id: 'd' });
    const second = c.change(leader.id, { type: 'add_member', id: 'e' });
    expect(leader.rejected.get(second)).toBe('membership_change_in_progress');
  });

  it('lets a non-voter that cannot catch up be removed, which ends its add with timeout (outcome unknown)', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 24, opts);
    const leader = c.awaitLeader();
    c.join('d');
    c.isolate('d'); // d's node is gone: its promotion would wait for ever
    const add = c.change(leader.id, { type: 'add_member', id: 'd' });
    c.clock.runFor(100);
    const remove = c.change(leader.id, { type: 'remove_member', id: 'd' });
    expect(leader.rejected.get(add)).toBe('timeout');
    c.clock.runUntil(() => leader.done.has(remove), 5000);
    expect(leader.done.get(remove)).toBe('membership');
    expect(leader.state.config).toEqual({ voters: ['a', 'b', 'c'], nonVoters: [] });
    c.join('e'); // and the cluster takes changes again
    const next = c.change(leader.id, { type: 'add_member', id: 'e' });
    c.clock.runUntil(() => leader.done.has(next), 5000);
    expect(leader.state.config.voters).toContain('e');
    expect(c.violations).toEqual([]);
  });

  it('answers a change pending when its leader is deposed with timeout, not not_leader: its entry may still commit, so a retry could undo a later change', () => {
    // An add waiting for its member to catch up.
    const c = new CoreCluster(['a', 'b', 'c'], 27, opts);
    const old = c.awaitLeader();
    c.join('d');
    c.isolate('d'); // d cannot catch up: its promotion stays pending
    const add = c.change(old.id, { type: 'add_member', id: 'd' });
    c.clock.runFor(100); // the add (d as non-voter) reaches the other voters
    c.isolate(old.id);
    c.clock.runUntil(() => c.leaders().some((m) => m.id !== old.id), 5000);
    const next = c.leaders().find((m) => m.id !== old.id) as Member;
    expect(next.state.config.nonVoters).toEqual(['d']); // the new leader carries the add on
    c.heal();
    c.isolate('d');
    c.clock.runUntil(() => old.state.role !== 'leader', 5000);
    expect(old.rejected.get(add)).toBe('timeout');
    expect(c.violations).toEqual([]);

    // A removal appended but not yet committed.
    const c2 = new CoreCluster(['a', 'b', 'c'], 28, opts);
    const old2 = c2.awaitLeader();
    const gone = ['a', 'b', 'c'].find((id) => id !== old2.id) as string;
    c2.isolate(old2.id);
    const remove = c2.change(old2.id, { type: 'remove_member', id: gone });
    expect(old2.state.config.voters).not.toContain(gone); // in effect at once, on the leader only
    c2.clock.runUntil(() => c2.leaders().some((m) => m.id !== old2.id), 5000);
    c2.heal();
    c2.clock.runUntil(() => old2.state.role !== 'leader', 5000);
    expect(old2.rejected.get(remove)).toBe('timeout');
    expect(c2.violations).toEqual([]);
  });

  it('removes a follower; commits then need only the remaining voters', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 25, opts);
    const leader = c.awaitLeader();
    const gone = ['a', 'b', 'c'].find((id) => id !== leader.id) as string;
    const ref = c.change(leader.id, { type: 'remove_member', id: gone });
    c.clock.runUntil(() => leader.done.has(ref), 2000);
    expect(leader.state.config.voters).not.toContain(gone);
    c.crash(gone);
    const w = c.command(leader.id, 'two-of-two');
    c.clock.runFor(200);
    expect(leader.state.commitIndex).toBeGreaterThanOrEqual(leader.accepted.get(w)?.index as number);
  });

  it('removes the leader itself: it commits the change, hands over with TimeoutNow and stops', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 26, opts);
    const leader = c.awaitLeader();
    const term = leader.state.term;
    const ref = c.change(leader.id, { type: 'remove_member', id: leader.id });
    c.clock.runUntil(() => leader.done.has(ref), 2000);
    expect(leader.state.role).toBe('stopped');
    // TimeoutNow makes the successor campaign at once, well within an election timeout.
    const start = c.clock.now();
    c.clock.runUntil(() => c.leaders().length === 1, 1000);
    const next = c.leaders()[0] as Member;
    expect(next.id).not.toBe(leader.id);
    expect(next.state.term).toBe(term + 1);
    expect(c.clock.now() - start).toBeLessThan(opts.electionTimeoutMinMs);
    expect(next.state.config.voters).not.toContain(leader.id);
  });

  it('grows 1 -> 3 -> 5 and shrinks 5 -> 3 under load without losing or duplicating a committed command', () => {
    const c = new CoreCluster(['a'], 27, opts);
    const a = c.awaitLeader();
    const refs: number[] = [];
    const load = (leader: Member, n: number) => refs.push(...writeMany(c, leader, n, `x${refs.length}`));
    const change = (type: 'add_member' | 'remove_member', id: string) => {
      const leader = c.awaitLeader();
      if (type === 'add_member') c.join(id);
      const ref = c.change(leader.id, { type, id });
      while (!leader.done.has(ref)) {
        load(leader, 3);
        if (leader.rejected.has(ref)) throw new Error(`change rejected: ${leader.rejected.get(ref)}`);
      }
    };
    load(a, 10);
    for (const id of ['b', 'c', 'd', 'e']) change('add_member', id);
    expect(c.awaitLeader().state.config.voters.length).toBe(5);
    for (const id of ['d', 'e']) change('remove_member', id);
    const leader = c.awaitLeader();
    expect(leader.state.config.voters.length).toBe(3);
    load(leader, 10);
    settled(c, leader);
    const bodies = appliedBodies(leader);
    expect(new Set(bodies).size).toBe(bodies.length); // nothing applied twice
    for (const m of c.members.values()) {
      if (m.up && leader.state.config.voters.includes(m.id)) expect(appliedBodies(m)).toEqual(bodies);
    }
    // Every command the leader accepted and committed is in the applied log exactly once.
    const committed = [...c.members.values()].flatMap((m) => [...m.accepted.entries()].filter(([, a]) => a.index <= leader.state.commitIndex && leader.log.term(a.index) === a.term));
    expect(committed.length).toBeGreaterThan(0);
    expect(c.violations).toEqual([]);
  });
});

describe('leadership transfer (thesis §3.10)', () => {
  it('hands leadership to an up-to-date target, refusing commands meanwhile with a hint', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 28, opts);
    const leader = c.awaitLeader();
    writeMany(c, leader, 5, 'w');
    const target = ['a', 'b', 'c'].find((id) => id !== leader.id) as string;
    const ref = c.transfer(leader.id, target);
    const during = c.command(leader.id, 'during');
    expect(leader.rejected.get(during)).toBe('not_leader');
    c.clock.runUntil(() => leader.done.has(ref), 1000);
    expect(leader.done.get(ref)).toBe('transfer');
    c.clock.runUntil(() => c.member(target).state.role === 'leader', 1000);
    expect(c.member(target).state.role).toBe('leader');
    expect(c.violations).toEqual([]);
  });

  it('gives up after an election timeout when the target cannot take over, and the old leader resumes', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 29, opts);
    const leader = c.awaitLeader();
    const target = ['a', 'b', 'c'].find((id) => id !== leader.id) as string;
    c.cut.add(`${leader.id}>${target}`);
    const ref = c.transfer(leader.id, target);
    c.clock.runFor(opts.electionTimeoutMaxMs + 10);
    expect(leader.rejected.get(ref)).toBe('timeout');
    c.heal();
    const after = c.command(leader.id, 'resumed');
    expect(leader.accepted.has(after)).toBe(true);
    expect(leader.state.role).toBe('leader');
  });
});
