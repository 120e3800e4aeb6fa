// Quiescence: an idle group stops its per-group heartbeats and election
// timers, so that a process can host thousands of idle groups for almost no
// CPU. Liveness then rests on node-level events (peer_down / peer_up, from one
// heartbeat per pair of processes). None of this touches a safety rule: terms,
// votes, log matching and commitment work as always; only who sends
// heartbeats and when followers campaign change.
import type { Ctx } from './context.js';
import { becomeFollower } from './follower.js';
import { broadcastAppend } from './leader.js';
import { quorumSize } from './quorum.js';
import { configPending } from './state.js';
import type { AppendEntries, RaftEvent, ServerId } from './types.js';

/** Heartbeats in a row with nothing to do before a leader quiesces. */
const idleTicksBeforeQuiesce = 3;

/** At the end of a leader's heartbeat: true when the group has just quiesced (no heartbeat timer to re-arm). */
export function leaderIdleTick(ctx: Ctx): boolean {
  const s = ctx.s;
  if (!s.options.quiesce || !nothingToDo(ctx)) {
    s.idleTicks = 0;
    return false;
  }
  if (++s.idleTicks < idleTicksBeforeQuiesce) return false;
  s.quiesced = true;
  s.idleTicks = 0;
  broadcastAppend(ctx, true, true);
  ctx.cancelTimer('heartbeat');
  return true;
}

/** Everything committed, durable here and matched by every live peer; no read, transfer or change pending. */
function nothingToDo(ctx: Ctx): boolean {
  const s = ctx.s;
  const last = ctx.log.lastIndex;
  if (s.transfer !== undefined || s.reads.length > 0 || s.readsBeforeCommit.length > 0 || s.blocked !== undefined) return false;
  if (configPending(s) || s.promotions.size > 0 || s.membershipWaits.size > 0) return false;
  if (s.commitIndex !== last || s.writtenIndex < last) return false;
  for (const [id, pr] of s.progress) {
    if (pr.mode !== 'replicate' || pr.matchIndex !== last || s.downPeers.has(id)) return false;
  }
  return true;
}

/**
 * Wakes a quiesced leader: heartbeats resume, and check-quorum starts afresh
 * (nobody was expected to speak while the group was quiet). `announce` sends
 * a heartbeat at once (the caller sends nothing else to the followers).
 */
export function wakeLeader(ctx: Ctx, announce: boolean): void {
  const s = ctx.s;
  if (!s.quiesced || s.role !== 'leader') return;
  s.quiesced = false;
  s.idleTicks = 0;
  for (const pr of s.progress.values()) pr.lastHeardMs = ctx.now;
  s.quorumCheckMs = ctx.now + s.options.electionTimeoutMinMs;
  s.leaderContactMs = ctx.now;
  if (announce) broadcastAppend(ctx, true);
  ctx.setTimer('heartbeat', ctx.now + s.options.heartbeatMs);
}

/**
 * Events that wake a quiesced leader: work to do, or a message showing that a
 * peer needs it (a vote request, a rejection, snapshot traffic).
 */
export function wakesLeader(event: RaftEvent): boolean {
  switch (event.type) {
    case 'message': {
      const m = event.msg;
      return m.type === 'request_vote' || (m.type === 'append_entries_reply' && !m.success) || m.type === 'install_snapshot_reply';
    }
    case 'commands':
    case 'read':
    case 'change_membership':
    case 'transfer_leadership':
    case 'log_blocked':
      return true;
    default:
      return false;
  }
}

/**
 * After a follower handled an AppendEntries: quiesce on the leader's word if
 * its log matches and the word covers all of it, else wake. A quiesce message
 * overtaken by newer entries (a delayed one) is stale: heeding it left
 * followers asleep behind a leader that then removed itself and stopped, and
 * they refused every other candidate's pre-vote for ever (simulator, seed
 * 154547).
 */
export function followerAfterAppend(ctx: Ctx, m: AppendEntries): void {
  const s = ctx.s;
  // The leader's commit index is the end of this log, verified and committed here.
  const last = ctx.log.lastIndex;
  const matches = s.role === 'follower' && s.leaderId === m.leaderId && m.leaderCommit === last && s.verifiedIndex >= last && s.commitIndex === last;
  if (m.quiesce === true && s.options.quiesce && matches) {
    if (!s.quiesced) {
      s.quiesced = true;
      ctx.cancelTimer('election');
    }
  } else {
    wakeFollower(ctx);
  }
}

/** A quiesced follower runs its election timer again. */
export function wakeFollower(ctx: Ctx): void {
  const s = ctx.s;
  if (!s.quiesced) return;
  s.quiesced = false;
  ctx.resetElectionDeadline();
  ctx.setTimer('election', s.electionDeadline);
}

/**
 * The node hosting `id` went down. A follower of it campaigns soon (within
 * half the minimum election timeout, at random, so that the groups of a dead
 * node do not all campaign at once); a quiesced leader that can no longer
 * reach a quorum steps down, as check-quorum would.
 */
export function peerDown(ctx: Ctx, id: ServerId): void {
  const s = ctx.s;
  if (id === s.id) return;
  s.downPeers.add(id);
  if (s.role === 'leader') {
    if (!s.quiesced) return;
    const up = s.config.voters.filter((v) => v === s.id || !s.downPeers.has(v)).length;
    if (up < quorumSize(s.config.voters.length)) becomeFollower(ctx, s.term, undefined);
    return;
  }
  if (s.role === 'stopped' || s.leaderId !== id) return;
  const hadTimer = hasElectionTimer(ctx);
  s.quiesced = false;
  s.leaderContactMs = -Infinity;
  const soon = ctx.now + Math.floor(s.random.next() * (s.options.electionTimeoutMinMs / 2));
  if (!hadTimer || soon < s.electionDeadline) {
    s.electionDeadline = soon;
    ctx.setTimer('election', soon);
  }
}

/** The node hosting `id` is back: a quiesced leader wakes so that the member (perhaps restarted) hears from it. */
export function peerUp(ctx: Ctx, id: ServerId): void {
  const s = ctx.s;
  s.downPeers.delete(id);
  if (s.role === 'leader') wakeLeader(ctx, true);
}

/** True unless this member is a quiesced follower (whose election timer is off). */
function hasElectionTimer(ctx: Ctx): boolean {
  return !(ctx.s.quiesced && ctx.s.role === 'follower');
}
