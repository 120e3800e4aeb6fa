// Follower rules (§5.2, §5.3): accept entries from the current leader when the
// log matches, repair conflicts, acknowledge only what is durable, and grant
// votes to up-to-date candidates (the voter side of elections lives here too).
import { assert } from '../../lib/assert.js';
import type { Ctx } from './context.js';
import { abandonMembershipChanges } from './membership.js';
import { failReads } from './reads.js';
import { abortIncoming } from './snapshot.js';
import { transferEnded } from './transfer.js';
import type { AppendEntries, RequestVote, ServerId } from './types.js';

/** Becomes follower of `leaderId` (if known) at `term`, persisting a new term. */
export function becomeFollower(ctx: Ctx, term: number, leaderId: ServerId | undefined): void {
  const s = ctx.s;
  if (s.role === 'stopped') return;
  if (term > s.term) {
    s.term = term;
    s.votedFor = undefined;
    s.verifiedIndex = 0;
    s.ackedIndex = 0;
    s.readSeqSeen = 0;
    ctx.persist();
    abortIncoming(ctx);
  }
  if (s.role === 'leader') {
    failReads(ctx, { code: 'not_leader', leader: leaderId });
    transferEnded(ctx);
    abandonMembershipChanges(ctx);
    s.progress.clear();
    ctx.cancelTimer('heartbeat');
  }
  if (s.role !== 'receive_snapshot' || s.incoming === undefined) {
    s.role = s.blocked === 'down' || (s.blocked === 'overloaded' && s.role !== 'leader') ? 'await_condition' : 'follower';
  }
  // A ReadIndex round number means something only to the leader that sent it: echoing another
  // leader's (a candidate's earlier leader, in the same term) would confirm rounds we never saw
  // (simulator, seed 14315: a partitioned leader served a stale consistent read).
  if (s.leaderId !== leaderId) s.readSeqSeen = 0;
  s.leaderId = leaderId;
  s.votes.clear();
  s.quiesced = false;
  if (leaderId !== undefined) s.leaderContactMs = ctx.now;
  ctx.resetElectionDeadline();
  ctx.setTimer('election', s.electionDeadline);
}

/** Handles AppendEntries from the leader of the current term. */
export function handleAppendEntries(ctx: Ctx, from: ServerId, m: AppendEntries): void {
  const s = ctx.s;
  if (s.role !== 'follower' && s.role !== 'await_condition' && s.role !== 'receive_snapshot') becomeFollower(ctx, s.term, from);
  if (s.leaderId !== from) {
    s.leaderId = from;
    s.verifiedIndex = 0;
    s.ackedIndex = 0;
    s.readSeqSeen = 0;
  }
  s.leaderContactMs = ctx.now;
  ctx.resetElectionDeadline();
  if (s.role === 'await_condition') return; // the log cannot take writes: drop, the leader will retry
  if (m.readSeq > s.readSeqSeen) s.readSeqSeen = m.readSeq;

  if (!contiguous(m)) return; // malformed: drop it (the leader will send a proper one)
  let prevLogIndex = m.prevLogIndex;
  let prevLogTerm = m.prevLogTerm;
  let entries = m.entries;
  const snap = ctx.log.snapshotIndex;
  if (prevLogIndex < snap) {
    // Entries up to the snapshot point are committed and compacted here: skip them. They
    // match the leader's log too (it holds every committed entry), so the ack says so: a
    // member that came back with a snapshot past what its leader had seen it acknowledge
    // answered heartbeats below that snapshot with its (reset) verified index, 0, and the
    // leader, learning nothing, never sent it another entry (simulator, seed 964306).
    if (snap > s.verifiedIndex) s.verifiedIndex = snap;
    const skip = Math.min(entries.length, snap - prevLogIndex);
    if (skip < snap - prevLogIndex) return replyAck(ctx, from, true);
    entries = entries.slice(skip);
    prevLogIndex = snap;
    prevLogTerm = ctx.log.term(snap) ?? 0;
  }
  const localTerm = ctx.log.term(prevLogIndex);
  if (localTerm === undefined || localTerm !== prevLogTerm) return reject(ctx, from, prevLogIndex, prevLogTerm);

  let i = 0;
  for (; i < entries.length; i++) {
    const e = entries[i] as (typeof entries)[number];
    const t = ctx.log.term(e.index);
    if (t === undefined) break;
    if (t !== e.term) {
      assert(e.index > s.commitIndex, () => `conflict at committed index ${e.index} (commit ${s.commitIndex})`);
      assert(e.index > s.verifiedIndex, () => `conflict at verified index ${e.index}`);
      ctx.truncateAfter(e.index - 1);
      break;
    }
  }
  const appended = i < entries.length;
  if (appended) ctx.append(entries.slice(i));
  const matched = prevLogIndex + entries.length;
  if (matched > s.verifiedIndex) s.verifiedIndex = matched;
  const commit = Math.min(m.leaderCommit, s.verifiedIndex);
  if (commit > s.commitIndex) ctx.commitTo(commit);
  // New entries are acknowledged once durable (on `written`). When nothing was appended (a
  // heartbeat, or a probe re-sending entries this log already holds because our earlier ack
  // was lost) no `written` will come: answer at once, or the leader probes forever (found by
  // the simulator, seed 19).
  replyAck(ctx, from, !appended);
}

/** True when the entries follow prevLogIndex one by one, with terms that never go down. */
function contiguous(m: AppendEntries): boolean {
  let index = m.prevLogIndex;
  let term = m.prevLogTerm;
  for (const e of m.entries) {
    if (e.index !== index + 1 || e.term < term || e.term > m.term) return false;
    index = e.index;
    term = e.term;
  }
  return true;
}

/** The follower's own log became durable up to `s.writtenIndex`: acknowledge it. */
export function followerWritten(ctx: Ctx): void {
  const s = ctx.s;
  if (s.role === 'follower' && s.leaderId !== undefined) replyAck(ctx, s.leaderId, false);
}

function replyAck(ctx: Ctx, to: ServerId, always: boolean): void {
  const s = ctx.s;
  const ack = Math.min(s.writtenIndex, s.verifiedIndex);
  if (!always && ack <= s.ackedIndex) return;
  s.ackedIndex = Math.max(s.ackedIndex, ack);
  ctx.send(to, {
    type: 'append_entries_reply',
    term: s.term,
    success: true,
    matchIndex: ack,
    lastIndex: s.verifiedIndex,
    rejectedIndex: 0,
    hintIndex: 0,
    hintTerm: 0,
    readSeq: s.readSeqSeen,
  });
}

function reject(ctx: Ctx, to: ServerId, prevLogIndex: number, prevLogTerm: number): void {
  const s = ctx.s;
  const log = ctx.log;
  // Skip back over our entries whose term is above the leader's prevLogTerm: none can match.
  const hintIndex = log.lastIndexWithTermAtMost(Math.min(prevLogIndex, log.lastIndex), prevLogTerm);
  ctx.send(to, {
    type: 'append_entries_reply',
    term: s.term,
    success: false,
    matchIndex: 0,
    lastIndex: log.lastIndex,
    rejectedIndex: prevLogIndex,
    hintIndex,
    hintTerm: log.term(hintIndex) ?? 0,
    readSeq: s.readSeqSeen,
  });
}

/** §5.4.1: is the candidate's log at least as up to date as ours? */
function upToDate(ctx: Ctx, m: RequestVote): boolean {
  const lastTerm = ctx.log.lastTerm;
  return m.lastLogTerm > lastTerm || (m.lastLogTerm === lastTerm && m.lastLogIndex >= ctx.log.lastIndex);
}

/** The voter's side of RequestVote and pre-vote (term rules already applied). */
export function handleRequestVote(ctx: Ctx, from: ServerId, m: RequestVote): void {
  const s = ctx.s;
  const mayVote = ctx.log.lastIndex >= s.votesFrom;
  if (m.preVote) {
    // Grant without changing our term or vote (thesis §9.6).
    const grant = mayVote && m.term > s.term && upToDate(ctx, m);
    ctx.send(from, { type: 'request_vote_reply', term: grant ? m.term : s.term, voteGranted: grant, preVote: true });
    return;
  }
  const canVote = s.votedFor === m.candidateId || (s.votedFor === undefined && s.leaderId === undefined);
  const grant = mayVote && m.term === s.term && canVote && s.role !== 'leader' && upToDate(ctx, m);
  if (grant) {
    if (s.votedFor !== m.candidateId) {
      s.votedFor = m.candidateId;
      if (s.options.plantedBugs?.voteWithoutPersist !== true) ctx.persist(); // PLANTED BUG seam (test only)
    }
    ctx.resetElectionDeadline();
  }
  ctx.send(from, { type: 'request_vote_reply', term: s.term, voteGranted: grant, preVote: false });
}
