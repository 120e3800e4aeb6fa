// The Raft paper's rules, one test each, against the pure core. Each test
// names the section it checks (as etcd's raft_paper_test.go does).
import { describe, expect, it } from 'vitest';
import { CoreCluster, MemLog, reader as readerOf } from '../../helpers/core_cluster.js';
import { initState } from '../../../src/raft/core/state.js';
import { step } from '../../../src/raft/core/step.js';
import { SeededRandom } from '../../../src/io/random.js';
import type { Effect, Entry, RaftEvent } from '../../../src/raft/core/types.js';
import { EntryKind } from '../../../src/raft/core/entry_kind.js';

const payload = (s: string) => new Uint8Array([EntryKind.command, ...new TextEncoder().encode(s)]);
const opts = { electionTimeoutMinMs: 150, electionTimeoutMaxMs: 300, heartbeatMs: 30 };

/** A lone member with a given log and term, stepped by hand. */
function solo(terms: number[], term: number, votedFor?: string) {
  const log = new MemLog();
  terms.forEach((t, i) => log.entries.push({ index: i + 1, term: t, payload: payload(`e${i + 1}`) }));
  log.durable = log.lastIndex;
  const reader = readerOf(log);
  const state = initState({
    id: 'a',
    term,
    votedFor,
    configs: [{ index: 0, config: { voters: ['a', 'b', 'c'], nonVoters: [] } }],
    log: reader,
    now: 0,
    random: new SeededRandom(1),
    options: opts,
  });
  const run = (event: RaftEvent, now = 1000): Effect[] => {
    const effects = step(state, event, { now, log: reader });
    for (const e of effects) {
      if (e.type === 'truncate') log.truncateAfter(e.afterIndex);
      if (e.type === 'append') log.append(e.entries);
    }
    return effects;
  };
  return { state, log, run };
}

const types = (effects: Effect[]) => effects.map((e) => (e.type === 'send' ? `send:${e.msg.type}` : e.type));

describe('a follower receiving a snapshot', () => {
  it('ends the transfer under way when it installs a newer snapshot (the store held one), and tells the leader it is done', () => {
    const { state, run } = solo([1, 1, 1], 2);
    const config = { voters: ['a', 'b', 'c'], nonVoters: [] };
    const chunk = { type: 'install_snapshot', term: 2, leaderId: 'b', lastIncludedIndex: 10, lastIncludedTerm: 2, config, configIndex: 0, machineVersion: 0, size: 100 } as const;
    run({ type: 'message', from: 'b', msg: { ...chunk, offset: 0, data: new Uint8Array(40), done: false } });
    expect(state.role).toBe('receive_snapshot');
    expect(state.incoming?.index).toBe(10);
    const effects = run({ type: 'snapshot_installed', index: 20, term: 2, size: 200, configs: [{ index: 0, config }] });
    expect(state.incoming).toBeUndefined();
    expect(state.role).toBe('follower');
    expect(state.snapshot?.index).toBe(20);
    expect(state.commitIndex).toBe(20);
    const replies = effects.flatMap((e) => (e.type === 'send' && e.msg.type === 'install_snapshot_reply' ? [{ to: e.to, ...e.msg }] : []));
    expect(replies).toEqual([expect.objectContaining({ to: 'b', lastIncludedIndex: 10, done: true })]);
  });
});

describe('Raft paper rules', () => {
  it('adopts a higher term, persists it before replying, and steps down (§5.1)', () => {
    const { state, run } = solo([1], 1);
    const effects = run({
      type: 'message',
      from: 'b',
      msg: { type: 'append_entries', term: 3, leaderId: 'b', prevLogIndex: 1, prevLogTerm: 1, entries: [], leaderCommit: 0, readSeq: 0 },
    });
    expect(state.term).toBe(3);
    expect(state.leaderId).toBe('b');
    const t = types(effects);
    expect(t.indexOf('persist')).toBeGreaterThanOrEqual(0);
    expect(t.indexOf('persist')).toBeLessThan(t.indexOf('send:append_entries_reply'));
  });

  it('starts from the durable part of its log: entries still on their way to disk are not acknowledged (§5.3, a member restarted in a running node)', () => {
    const log = new MemLog();
    [1, 1, 1].forEach((t, i) => log.entries.push({ index: i + 1, term: t, payload: payload(`e${i + 1}`) }));
    const reader = readerOf(log);
    const state = initState({
      id: 'a',
      term: 1,
      votedFor: undefined,
      configs: [{ index: 0, config: { voters: ['a', 'b', 'c'], nonVoters: [] } }],
      log: reader,
      now: 0,
      random: new SeededRandom(1),
      options: opts,
      writtenIndex: 1,
    });
    const heartbeat: RaftEvent = {
      type: 'message',
      from: 'b',
      msg: { type: 'append_entries', term: 1, leaderId: 'b', prevLogIndex: 3, prevLogTerm: 1, entries: [], leaderCommit: 0, readSeq: 0 },
    };
    const acks = (effects: Effect[]) => effects.flatMap((e) => (e.type === 'send' && e.msg.type === 'append_entries_reply' ? [e.msg.matchIndex] : []));
    expect(acks(step(state, heartbeat, { now: 1000, log: reader }))).toEqual([1]);
    expect(acks(step(state, { type: 'written', index: 3 }, { now: 1001, log: reader }))).toEqual([3]);
  });

  it('answers a request from a stale term with its own term and no change (§5.1)', () => {
    const { state, run } = solo([1, 2], 2);
    const effects = run({
      type: 'message',
      from: 'b',
      msg: { type: 'append_entries', term: 1, leaderId: 'b', prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 5, readSeq: 0 },
    });
    expect(state.term).toBe(2);
    expect(state.commitIndex).toBe(0);
    const reply = effects.find((e) => e.type === 'send');
    expect(reply?.type === 'send' && reply.msg.type === 'append_entries_reply' && reply.msg.term === 2).toBe(true);
  });

  it('grants at most one vote per term, persisting it before the reply (§5.2)', () => {
    const { state, run } = solo([], 1);
    const vote = (from: string) =>
      run({
        type: 'message',
        from,
        msg: { type: 'request_vote', term: 2, candidateId: from, lastLogIndex: 0, lastLogTerm: 0, preVote: false, transfer: false },
      });
    const first = vote('b');
    expect(state.votedFor).toBe('b');
    const persistVote = first.findIndex((e) => e.type === 'persist' && e.votedFor === 'b' && e.term === 2);
    const replyAt = first.findIndex((e) => e.type === 'send');
    expect(persistVote).toBeGreaterThanOrEqual(0);
    expect(persistVote).toBeLessThan(replyAt);
    const second = vote('c');
    const reply = second.find((e) => e.type === 'send');
    expect(reply?.type === 'send' && reply.msg.type === 'request_vote_reply' && reply.msg.voteGranted).toBe(false);
    expect(state.votedFor).toBe('b');
  });

  it('denies its vote to a candidate whose log is less up to date (§5.4.1)', () => {
    const { run } = solo([1, 2, 2], 2);
    const shorter = run({
      type: 'message',
      from: 'b',
      msg: { type: 'request_vote', term: 3, candidateId: 'b', lastLogIndex: 2, lastLogTerm: 2, preVote: false, transfer: false },
    });
    const olderTerm = run({
      type: 'message',
      from: 'c',
      msg: { type: 'request_vote', term: 4, candidateId: 'c', lastLogIndex: 9, lastLogTerm: 1, preVote: false, transfer: false },
    });
    for (const effects of [shorter, olderTerm]) {
      const reply = effects.find((e) => e.type === 'send');
      expect(reply?.type === 'send' && reply.msg.type === 'request_vote_reply' && reply.msg.voteGranted).toBe(false);
    }
  });

  it('rejects AppendEntries whose prevLog does not match, with a hint that skips the conflicting term (§5.3)', () => {
    // Our log: terms 1 1 2 2 2 (a leftover of term 2); the leader's has term 3 from index 3 on.
    const { run } = solo([1, 1, 2, 2, 2], 3);
    const effects = run({
      type: 'message',
      from: 'b',
      msg: { type: 'append_entries', term: 3, leaderId: 'b', prevLogIndex: 5, prevLogTerm: 3, entries: [], leaderCommit: 0, readSeq: 0 },
    });
    const reply = effects.find((e) => e.type === 'send');
    if (reply?.type !== 'send' || reply.msg.type !== 'append_entries_reply') throw new Error('no reply');
    expect(reply.msg.success).toBe(false);
    expect(reply.msg.rejectedIndex).toBe(5);
    expect(reply.msg.hintIndex).toBe(5); // term 2 <= 3 at index 5: the leader decides where to go from there
    expect(reply.msg.hintTerm).toBe(2);
  });

  it('deletes a conflicting entry and all that follow it, then appends the leader\'s (§5.3)', () => {
    const { log, state, run } = solo([1, 1, 2, 2], 3);
    const entries: Entry[] = [
      { index: 3, term: 3, payload: payload('x3') },
      { index: 4, term: 3, payload: payload('x4') },
      { index: 5, term: 3, payload: payload('x5') },
    ];
    const effects = run({
      type: 'message',
      from: 'b',
      msg: { type: 'append_entries', term: 3, leaderId: 'b', prevLogIndex: 2, prevLogTerm: 1, entries, leaderCommit: 4, readSeq: 0 },
    });
    expect(types(effects)).toContain('truncate');
    expect([1, 2, 3, 4, 5].map((i) => log.term(i))).toEqual([1, 1, 3, 3, 3]);
    expect(state.commitIndex).toBe(4);
    // The new entries are not durable yet: any acknowledgement covers only the durable prefix (1..2).
    for (const e of effects) {
      if (e.type === 'send' && e.msg.type === 'append_entries_reply') expect(e.msg.matchIndex).toBeLessThanOrEqual(2);
    }
    const acked = run({ type: 'written', index: 5 });
    const reply = acked.find((e) => e.type === 'send');
    expect(reply?.type === 'send' && reply.msg.type === 'append_entries_reply' && reply.msg.matchIndex).toBe(5);
  });

  it('commits only with a majority of durable copies, counting the leader once its own WAL has synced (§5.3)', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 7, opts);
    const leader = c.awaitLeader();
    c.clock.runFor(100);
    const followers = ['a', 'b', 'c'].filter((id) => id !== leader.id);
    c.isolate(followers[1] as string);
    c.net = { ...c.net, diskMinMs: 50, diskMaxMs: 50 };
    const before = leader.state.commitIndex;
    const ref = c.command(leader.id, 'one');
    c.clock.runFor(40); // entries reached the follower but nobody's disk has synced yet
    expect(leader.state.commitIndex).toBe(before);
    c.clock.runFor(30);
    const index = leader.accepted.get(ref)?.index as number;
    expect(leader.state.commitIndex).toBe(index);
    expect(c.violations).toEqual([]);
  });

  it('never commits an entry of an earlier term by counting replicas (§5.4.2, figure 8)', () => {
    const { state, run } = solo([1, 2], 4);
    // Make 'a' leader of term 4 by hand: it wins the election among b and c.
    state.term = 3;
    const ev = (msg: RaftEvent) => run(msg, 2000);
    ev({ type: 'election_timeout' });
    ev({ type: 'message', from: 'b', msg: { type: 'request_vote_reply', term: 4, voteGranted: true, preVote: true } });
    ev({ type: 'message', from: 'b', msg: { type: 'request_vote_reply', term: 4, voteGranted: true, preVote: false } });
    expect(state.role).toBe('leader');
    ev({ type: 'written', index: 3 });
    // b reports index 2 (term 2) durable: a majority holds index 2, but it is of an earlier term.
    ev({
      type: 'message',
      from: 'b',
      msg: { type: 'append_entries_reply', term: 4, success: true, matchIndex: 2, lastIndex: 2, rejectedIndex: 0, hintIndex: 0, hintTerm: 0, readSeq: 0 },
    });
    expect(state.commitIndex).toBe(0);
    // Once the no-op of term 4 (index 3) is on a majority, everything up to it commits.
    ev({
      type: 'message',
      from: 'b',
      msg: { type: 'append_entries_reply', term: 4, success: true, matchIndex: 3, lastIndex: 3, rejectedIndex: 0, hintIndex: 0, hintTerm: 0, readSeq: 0 },
    });
    expect(state.commitIndex).toBe(3);
  });

  it('repairs a follower that lost the tail of the pipeline, through heartbeats alone (§5.3)', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 3, opts);
    const leader = c.awaitLeader();
    c.clock.runFor(100);
    const lagging = ['a', 'b', 'c'].find((id) => id !== leader.id) as string;
    c.cut.add(`${leader.id}>${lagging}`);
    c.command(leader.id, 'lost-on-the-way');
    c.clock.runFor(5);
    c.heal();
    c.clock.runFor(300);
    expect(c.member(lagging).state.commitIndex).toBe(leader.state.commitIndex);
    expect(c.member(lagging).log.lastIndex).toBe(leader.log.lastIndex);
  });

  it('with pre-vote, a partitioned member does not raise its term nor disrupt the leader on return (thesis §9.6)', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 11, opts);
    const leader = c.awaitLeader();
    const term = leader.state.term;
    const loner = ['a', 'b', 'c'].find((id) => id !== leader.id) as string;
    c.isolate(loner);
    c.clock.runFor(3000);
    expect(c.member(loner).state.term).toBe(term);
    c.heal();
    c.clock.runFor(1000);
    expect(leader.state.role).toBe('leader');
    expect(leader.state.term).toBe(term);
  });

  it('with check-quorum, an isolated leader steps down within an election timeout and the rest elect another', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 5, opts);
    const old = c.awaitLeader();
    c.isolate(old.id);
    c.clock.runFor(2 * opts.electionTimeoutMaxMs);
    expect(old.state.role).not.toBe('leader');
    const fresh = c.leaders();
    expect(fresh).toHaveLength(1);
    expect(fresh[0]?.state.term).toBeGreaterThan(old.state.term);
  });

  it('serves a ReadIndex only after a quorum round and once its commit index is applied (thesis §6.4)', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 9, opts);
    const leader = c.awaitLeader();
    c.clock.runFor(100);
    const ref = c.read(leader.id);
    expect(leader.readsReady.has(ref)).toBe(false); // needs the round trip
    c.clock.runFor(50);
    expect(leader.readsReady.get(ref)).toBe(leader.state.commitIndex);
    // An isolated leader cannot confirm: the read fails when it steps down instead of returning stale data.
    c.isolate(leader.id);
    const stale = c.read(leader.id);
    c.clock.runFor(1000);
    expect(leader.readsReady.has(stale)).toBe(false);
    expect(leader.readsFailed.has(stale)).toBe(true);
  });

  it('holds reads on a new leader until an entry of its own term commits (thesis §6.4)', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 13, opts);
    c.net = { ...c.net, diskMinMs: 40, diskMaxMs: 40 };
    const leader = c.awaitLeader();
    expect(leader.state.committedInTerm).toBe(false);
    const ref = c.read(leader.id);
    c.clock.runFor(10);
    expect(leader.readsReady.has(ref)).toBe(false);
    c.clock.runFor(200);
    expect(leader.state.committedInTerm).toBe(true);
    expect(leader.readsReady.has(ref)).toBe(true);
  });

  it('waits in await_condition while its log is down: the leader steps down, no campaign until it is back', () => {
    const c = new CoreCluster(['a', 'b', 'c'], 17, opts);
    const leader = c.awaitLeader();
    c.deliver(leader.id, { type: 'log_blocked', reason: 'down' });
    expect(leader.state.role).toBe('await_condition');
    const term = leader.state.term;
    c.clock.runFor(2000);
    expect(leader.state.role).toBe('await_condition');
    expect(c.leaders().length).toBe(1); // the others elected a new leader
    c.deliver(leader.id, { type: 'log_unblocked' });
    expect(leader.state.role).toBe('follower');
    c.clock.runFor(500);
    expect(leader.state.term).toBeGreaterThan(term);
    expect(c.violations).toEqual([]);
  });
});
