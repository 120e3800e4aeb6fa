// Single-server membership changes (thesis §4.1): one change at a time, in
// effect as soon as its entry is appended. A new member joins as a non-voter
// and is promoted once it has caught up; a removed leader keeps leading until
// the change commits, then hands over with TimeoutNow and stops.
import type { Ctx } from './context.js';
import { encodeConfig } from './entry_kind.js';
import { suspectLeader } from './candidate.js';
import { becomeFollower } from './follower.js';
import { newProgress } from './progress.js';
import { abortIncoming } from './snapshot.js';
import { configPending, isVoter, latestConfigIndex } from './state.js';
import type { ClusterConfig, MembershipChange, Rejection, ServerId } from './types.js';

/** Leader: starts a membership change, or rejects it. */
export function changeMembership(ctx: Ctx, ref: number, change: MembershipChange, replicate: () => void): void {
  const s = ctx.s;
  const reject = (reason: Rejection): void => {
    ctx.effects.push({ type: 'rejected', ref, reason });
  };
  if (s.transfer !== undefined) return reject({ code: 'transfer_in_progress' });
  const { voters, nonVoters } = s.config;
  const member = change.id;
  // A non-voter waiting for its promotion may never catch up (its node died before it did), and
  // the wait would refuse every change for ever: removing that member ends it. The add's answer
  // is `timeout`, outcome unknown: the removal may yet be lost with this leader, and a later
  // leader promote the member after all.
  const dropsJoiner = change.type === 'remove_member' && s.promotions.has(member) && nonVoters.includes(member);
  if (configPending(s) || (s.promotions.size > 0 && !dropsJoiner)) return reject({ code: 'membership_change_in_progress' });
  // Asked against a configuration since replaced: an add delayed or retried past a removal of the
  // same member would bring back a member whose node was told to delete it (simulator, seed
  // 7156335). The latest configuration is committed here, so its index names one configuration
  // on every member that will ever lead.
  const at = latestConfigIndex(s);
  if (change.configIndex !== undefined && change.configIndex !== at) {
    return reject({ code: 'membership_changed', message: `the configuration asked against (index ${change.configIndex}) is no longer the latest (index ${at})` });
  }
  if (dropsJoiner) {
    const addRef = s.promotions.get(member) as number;
    s.promotions.delete(member);
    if (addRef >= 0) ctx.effects.push({ type: 'rejected', ref: addRef, reason: { code: 'timeout', message: `a removal of ${member} was asked for before it caught up` } });
  }
  let next: ClusterConfig;
  if (change.type === 'add_member') {
    if (voters.includes(member) || nonVoters.includes(member)) return reject({ code: 'invalid_argument', message: `${member} is already a member` });
    next = { voters, nonVoters: [...nonVoters, member] };
    s.promotions.set(member, ref);
    s.progress.set(member, newProgress(ctx.log.lastIndex, ctx.now));
  } else {
    if (!voters.includes(member) && !nonVoters.includes(member)) return reject({ code: 'invalid_argument', message: `${member} is not a member` });
    const remaining = voters.filter((v) => v !== member);
    if (remaining.length === 0) return reject({ code: 'invalid_argument', message: 'cannot remove the last voter' });
    next = { voters: remaining, nonVoters: nonVoters.filter((v) => v !== member) };
    if (member !== s.id) s.progress.delete(member);
  }
  const index = appendConfig(ctx, next);
  if (change.type === 'remove_member') s.membershipWaits.set(index, ref);
  replicate();
}

/** Leader: promotes a caught-up non-voter (called after its progress moved). */
export function maybePromote(ctx: Ctx, id: ServerId, replicate: () => void): void {
  const s = ctx.s;
  const ref = s.promotions.get(id);
  if (ref === undefined || configPending(s) || !s.config.nonVoters.includes(id)) return;
  const pr = s.progress.get(id);
  if (pr === undefined || pr.matchIndex === 0 || pr.matchIndex + s.options.promoteDistanceMax < s.commitIndex) return;
  // Not before it holds the entry that added it, which lies past its joinedAfter: a voter that
  // still withholds its vote (RaftState.votesFrom) could stall an election that needs it.
  if (pr.matchIndex < latestConfigIndex(s)) return;
  s.promotions.delete(id);
  const index = appendConfig(ctx, { voters: [...s.config.voters, id], nonVoters: s.config.nonVoters.filter((v) => v !== id) });
  s.membershipWaits.set(index, ref);
  replicate();
}

/**
 * After the commit index moved: report changes that committed; a leader that
 * a committed configuration no longer includes hands over to the most
 * up-to-date voter and stops.
 *
 * A follower never stops itself: it cannot tell a configuration that removed
 * it for good from one that a later entry, not yet replicated to it, undoes (a
 * member removed and added again catches up through its own removal;
 * simulator, seeds 344 and 433). Out of the configuration it no longer
 * campaigns, and the host deletes it when told it was removed.
 */
export function membershipCommitted(ctx: Ctx): void {
  const s = ctx.s;
  for (const [index, ref] of s.membershipWaits) {
    if (index > s.commitIndex) continue;
    s.membershipWaits.delete(index);
    ctx.effects.push({ type: 'membership_done', ref, index });
  }
  if (s.role !== 'leader' || configPending(s) || isVoter(s, s.id) || s.config.nonVoters.includes(s.id)) return;
  let best: ServerId | undefined;
  let bestMatch = -1;
  for (const id of s.config.voters) {
    const m = s.progress.get(id)?.matchIndex ?? 0;
    if (m > bestMatch) {
      best = id;
      bestMatch = m;
    }
  }
  if (best !== undefined) ctx.send(best, { type: 'timeout_now', term: s.term });
  stopMember(ctx);
}

/**
 * A leader that stops leading answers the changes it was waiting for. Their
 * entries are in the log and a later leader may still commit them, so the
 * answer is `timeout` (outcome unknown), not `not_leader`, which callers
 * take to mean "not in the log, send it again": an add retried that way at
 * the next leader, after the member had been added, removed and deleted,
 * added it back as a non-voter that could never catch up (simulator, seed
 * 103982).
 */
export function abandonMembershipChanges(ctx: Ctx): void {
  const s = ctx.s;
  const reason = { code: 'timeout', message: 'leadership changed while the membership change was pending; it is in the log and may still take effect' } as const;
  for (const ref of s.membershipWaits.values()) ctx.effects.push({ type: 'rejected', ref, reason });
  for (const ref of s.promotions.values()) if (ref >= 0) ctx.effects.push({ type: 'rejected', ref, reason });
  s.membershipWaits.clear();
  s.promotions.clear();
}

/** A member no longer in the cluster: it takes no further part. */
export function stopMember(ctx: Ctx): void {
  const s = ctx.s;
  abandonMembershipChanges(ctx);
  s.progress.clear();
  s.role = 'stopped';
  s.leaderId = undefined;
  ctx.cancelTimer('heartbeat');
  ctx.cancelTimer('election');
  ctx.cancelTimer('transfer');
}

function appendConfig(ctx: Ctx, config: ClusterConfig): number {
  const index = ctx.log.lastIndex + 1;
  ctx.append([{ index, term: ctx.s.term, payload: encodeConfig(config) }]);
  return index;
}

/**
 * Disaster recovery (ra's force_shrink_members_to_current_member): the other
 * voters are gone for good, and no quorum will ever form again. Outside the
 * protocol, this member appends a configuration of itself alone and
 * campaigns at once; as the only voter it wins and commits what its log
 * holds. What only the lost members held is lost, and entries only this one
 * held become committed. The lost members must never come back as they were
 * (the System gives the cluster a new incarnation, so that they are not heard).
 */
export function forceSoleVoter(ctx: Ctx): void {
  const s = ctx.s;
  abortIncoming(ctx);
  becomeFollower(ctx, s.term, undefined); // a leader steps down: its reads and changes fail
  s.promotions.clear();
  ctx.append([{ index: ctx.log.lastIndex + 1, term: s.term, payload: encodeConfig({ voters: [s.id], nonVoters: [] }) }]);
  suspectLeader(ctx);
}
