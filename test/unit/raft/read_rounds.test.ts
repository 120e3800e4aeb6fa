// ReadIndex round numbers are the sending leader's own: a follower never
// echoes one leader's round number to another (found by the simulator, seed
// 14315, where a partitioned leader confirmed a read with a stale echo).
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../../src/io/random.js';
import { initState } from '../../../src/raft/core/state.js';
import { start, step } from '../../../src/raft/core/step.js';
import type { AppendEntries, Effect } from '../../../src/raft/core/types.js';
import { MemLog, reader } from '../../helpers/core_cluster.js';

function heartbeat(term: number, leaderId: string, readSeq: number): AppendEntries {
  return { type: 'append_entries', term, leaderId, prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0, readSeq };
}

function echoed(effects: Effect[]): number[] {
  return effects.flatMap((e) => (e.type === 'send' && e.msg.type === 'append_entries_reply' ? [e.msg.readSeq] : []));
}

describe('ReadIndex round numbers', () => {
  it('a candidate that loses to another leader of its term does not echo its old leader’s rounds', () => {
    const log = reader(new MemLog());
    const s = initState({
      id: 'f',
      term: 1,
      votedFor: undefined,
      configs: [{ index: 0, config: { voters: ['a', 'b', 'f'], nonVoters: [] } }],
      log,
      now: 0,
      random: new SeededRandom(1),
      options: { preVote: false, electionTimeoutMinMs: 100, electionTimeoutMaxMs: 200, heartbeatMs: 20 },
    });
    start(s, { now: 0, log });
    expect(echoed(step(s, { type: 'message', from: 'a', msg: heartbeat(1, 'a', 5) }, { now: 1, log }))).toEqual([5]);
    // a goes quiet; f campaigns in term 2 and b wins term 2 with the other vote.
    step(s, { type: 'election_timeout' }, { now: 1000, log });
    expect(s.role).toBe('candidate');
    expect(s.term).toBe(2);
    // b's first heartbeat of its own first round: f must echo b's number, not a's 5.
    expect(echoed(step(s, { type: 'message', from: 'b', msg: heartbeat(2, 'b', 1) }, { now: 1001, log }))).toEqual([1]);
    expect(echoed(step(s, { type: 'message', from: 'b', msg: heartbeat(2, 'b', 0) }, { now: 1002, log }))).toEqual([1]);
  });
});
