// Elections from the candidate's side (§5.2): a pre-vote round that does not
// disturb anyone's term (thesis §9.6), then the real vote at term + 1.
import type { Ctx } from './context.js';
import { becomeFollower } from './follower.js';
import { becomeLeader } from './leader.js';
import { voteResult } from './quorum.js';
import { isVoter } from './state.js';
import { abortIncoming } from './snapshot.js';
import type { RequestVoteReply, ServerId } from './types.js';

/** The election timer fired or the leader is suspected dead: campaign, if allowed. */
export function suspectLeader(ctx: Ctx): void {
  const s = ctx.s;
  if (s.role === 'leader' || s.role === 'stopped') return;
  abortIncoming(ctx); // a transfer whose leader went quiet is abandoned
  if (s.role === 'await_condition' || !isVoter(s, s.id) || !s.canLead) {
    if (s.role === 'follower' && s.config.nonVoters.includes(s.id)) askVoters(ctx);
    ctx.resetElectionDeadline();
    ctx.setTimer('election', s.electionDeadline);
    return;
  }
  if (s.options.preVote) startPreVote(ctx);
  else startElection(ctx, false);
}

/** Asks the voters whether they would vote for us at term + 1, without changing any term. */
export function startPreVote(ctx: Ctx): void {
  const s = ctx.s;
  s.role = 'pre_vote';
  s.leaderId = undefined;
  s.quiesced = false;
  s.votes = new Map([[s.id, true]]);
  ctx.resetElectionDeadline();
  ctx.setTimer('election', s.electionDeadline);
  requestVotes(ctx, s.term + 1, true, false);
  tally(ctx, true);
}

/** Starts a real election: term + 1, vote for self (persisted before any request leaves). */
export function startElection(ctx: Ctx, transfer: boolean): void {
  const s = ctx.s;
  s.quiesced = false;
  s.term++;
  s.votedFor = s.id;
  s.role = 'candidate';
  s.leaderId = undefined;
  s.verifiedIndex = 0;
  s.ackedIndex = 0;
  s.votes = new Map([[s.id, true]]);
  ctx.persist();
  ctx.resetElectionDeadline();
  ctx.setTimer('election', s.electionDeadline);
  requestVotes(ctx, s.term, false, transfer);
  tally(ctx, false);
}

/**
 * A non-voter that has heard no leader for an election timeout asks the
 * voters for a pre-vote it will not count, only to be heard: a leader that
 * quiesced while it was away wakes and sends it a heartbeat, and members
 * whose committed configuration no longer names it (it was removed while
 * down or cut off) tell it to delete itself. Without this a removed non-voter
 * that missed its removal waited for a leader for ever. No pre-vote changes
 * anyone's term, vote or leader.
 */
function askVoters(ctx: Ctx): void {
  requestVotes(ctx, ctx.s.term + 1, true, false);
}

/** Asks every other voter for its (pre-)vote at `term`. */
function requestVotes(ctx: Ctx, term: number, preVote: boolean, transfer: boolean): void {
  const s = ctx.s;
  for (const id of s.config.voters) {
    if (id === s.id) continue;
    ctx.send(id, { type: 'request_vote', term, candidateId: s.id, lastLogIndex: ctx.log.lastIndex, lastLogTerm: ctx.log.lastTerm, preVote, transfer });
  }
}

/** Counts a vote reply in the pre-vote or the election. */
export function handleVoteReply(ctx: Ctx, from: ServerId, m: RequestVoteReply): void {
  const s = ctx.s;
  if (m.preVote && s.role === 'pre_vote' && m.term === s.term + 1) {
    s.votes.set(from, m.voteGranted);
    tally(ctx, true);
  } else if (!m.preVote && s.role === 'candidate' && m.term === s.term) {
    s.votes.set(from, m.voteGranted);
    tally(ctx, false);
  }
}

function tally(ctx: Ctx, preVote: boolean): void {
  const s = ctx.s;
  const result = voteResult(s.config.voters, s.votes);
  if (result === 'won') {
    if (preVote) startElection(ctx, false);
    else becomeLeader(ctx);
  } else if (result === 'lost') {
    becomeFollower(ctx, s.term, undefined);
  }
}
