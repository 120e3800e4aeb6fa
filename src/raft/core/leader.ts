// Leader rules (§5.3, §5.4): append client commands, replicate them with a
// bounded pipeline per follower, commit what a majority holds durably in the
// current term, heartbeat, and step down when a quorum goes quiet.
import { leaderIdleTick } from './quiesce.js';
import { assert } from '../../lib/assert.js';
import type { Ctx } from './context.js';
import { noopEntryPayload } from './entry_kind.js';
import { becomeFollower } from './follower.js';
import { newProgress, type Progress } from './progress.js';
import { committedIndex, quorumSize } from './quorum.js';
import { releaseReads, startReads } from './reads.js';
import { peersOf } from './state.js';
import { maybePromote } from './membership.js';
import { handleSnapshotReply, snapshotHeartbeat, startSnapshotTransfer } from './snapshot.js';
import { maybeSendTimeoutNow } from './transfer.js';
import type { AppendEntriesReply, CommandItem, Entry, InstallSnapshotReply, ServerId } from './types.js';

/** Takes over as leader: fresh progress for every peer, a no-op entry of the new term (§5.4.2), heartbeats. */
export function becomeLeader(ctx: Ctx): void {
  const s = ctx.s;
  s.role = 'leader';
  s.leaderId = s.id;
  s.quiesced = false;
  s.idleTicks = 0;
  s.votes.clear();
  s.committedInTerm = false;
  s.readSeq = 0;
  s.reads = [];
  s.readsBeforeCommit = [];
  s.leaderContactMs = ctx.now;
  s.quorumCheckMs = ctx.now + s.options.electionTimeoutMinMs;
  s.progress.clear();
  s.transfer = undefined;
  s.membershipWaits.clear();
  s.promotions.clear();
  const last = ctx.log.lastIndex;
  for (const id of peersOf(s)) s.progress.set(id, newProgress(last, ctx.now));
  // A non-voter left over from an add that an earlier leader started still needs its promotion.
  for (const id of s.config.nonVoters) if (id !== s.id) s.promotions.set(id, -1);
  ctx.cancelTimer('election');
  ctx.append([{ index: last + 1, term: s.term, payload: noopEntryPayload() }]);
  broadcastAppend(ctx, true);
  ctx.setTimer('heartbeat', ctx.now + s.options.heartbeatMs);
  maybeCommit(ctx);
}

/** Appends client commands as one batch and replicates them. */
export function leaderCommands(ctx: Ctx, items: readonly CommandItem[]): void {
  const s = ctx.s;
  if (s.blocked !== undefined) {
    for (const item of items) ctx.effects.push({ type: 'rejected', ref: item.ref, reason: { code: 'overloaded' } });
    return;
  }
  if (s.transfer !== undefined) {
    // Leadership is moving: send callers to the target, which should lead shortly.
    for (const item of items) ctx.effects.push({ type: 'rejected', ref: item.ref, reason: { code: 'not_leader', leader: s.transfer.target } });
    return;
  }
  let index = ctx.log.lastIndex;
  const entries: Entry[] = [];
  for (const item of items) {
    index++;
    entries.push({ index, term: s.term, payload: item.payload });
    ctx.effects.push({ type: 'accepted', ref: item.ref, index, term: s.term });
  }
  ctx.append(entries);
  broadcastAppend(ctx, false);
  maybeCommit(ctx);
}

/** Sends what each peer is missing (or a heartbeat when `heartbeat` is set). */
export function broadcastAppend(ctx: Ctx, heartbeat: boolean, quiesce = false): void {
  for (const [id, pr] of ctx.s.progress) {
    if (heartbeat) sendAppend(ctx, id, pr, true, quiesce);
    replicate(ctx, id, pr);
  }
}

/** Keeps the pipeline to one peer full, up to inflightEntriesMax entries beyond its match index. */
function replicate(ctx: Ctx, id: ServerId, pr: Progress): void {
  for (let guard = 0; guard < 1024; guard++) {
    if (!sendAppend(ctx, id, pr, false)) return;
    if (pr.mode !== 'replicate') return;
  }
}

/**
 * Sends one AppendEntries to a peer. Returns whether it sent entries. In probe
 * mode one request is outstanding at a time; in replicate mode nextIndex moves
 * optimistically. A heartbeat anchors at nextIndex - 1 like any request, so a
 * follower that lost the tail of the pipeline rejects it and gets repaired.
 */
function sendAppend(ctx: Ctx, id: ServerId, pr: Progress, heartbeat: boolean, quiesce = false): boolean {
  const s = ctx.s;
  const o = s.options;
  if (pr.mode === 'snapshot') return false;
  if (pr.nextIndex < ctx.log.firstIndex) {
    // What the peer needs next was compacted away: it gets the snapshot instead.
    startSnapshotTransfer(ctx, id, pr);
    return false;
  }
  const last = ctx.log.lastIndex;
  let entries: Entry[] = [];
  if (pr.mode === 'replicate') {
    const room = o.inflightEntriesMax - (pr.nextIndex - 1 - pr.matchIndex);
    if (room > 0 && pr.nextIndex <= last) {
      entries = ctx.log.entries(pr.nextIndex, Math.min(last, pr.nextIndex + Math.min(room, o.appendEntriesMax) - 1), o.appendBytesMax);
    }
  } else if (pr.mode === 'probe' && (!pr.probeSent || heartbeat) && pr.nextIndex <= last) {
    entries = ctx.log.entries(pr.nextIndex, Math.min(last, pr.nextIndex + o.appendEntriesMax - 1), o.appendBytesMax);
  }
  if (entries.length === 0 && !heartbeat) return false;
  const prevLogIndex = pr.nextIndex - 1;
  const prevLogTerm = ctx.log.term(prevLogIndex);
  if (prevLogTerm === undefined) {
    startSnapshotTransfer(ctx, id, pr);
    return false;
  }
  assert(entries.length === 0 || (entries[0] as Entry).index === pr.nextIndex, 'AppendEntries must start at nextIndex');
  ctx.send(id, {
    type: 'append_entries',
    term: s.term,
    leaderId: s.id,
    prevLogIndex,
    prevLogTerm,
    entries,
    leaderCommit: s.commitIndex,
    readSeq: s.readSeq,
    ...(quiesce ? { quiesce: true } : {}),
  });
  pr.lastSentMs = ctx.now;
  if (pr.mode === 'probe') pr.probeSent = true;
  if (pr.mode === 'replicate' && entries.length > 0) pr.nextIndex = (entries[entries.length - 1] as Entry).index + 1;
  return entries.length > 0;
}

/** Handles a follower's reply: advance its match, repair its log on rejection, commit, serve reads. */
export function handleAppendEntriesReply(ctx: Ctx, from: ServerId, m: AppendEntriesReply): void {
  const s = ctx.s;
  const pr = s.progress.get(from);
  if (pr === undefined) return;
  pr.lastHeardMs = ctx.now;
  if (m.readSeq > pr.readSeq) pr.readSeq = m.readSeq;
  if (m.success) {
    if (m.matchIndex > pr.matchIndex) pr.matchIndex = m.matchIndex;
    if (pr.mode === 'probe') {
      pr.mode = 'replicate';
      pr.probeSent = false;
      pr.nextIndex = Math.max(pr.nextIndex, m.lastIndex + 1, pr.matchIndex + 1);
    }
    maybeCommit(ctx);
    afterProgress(ctx, from);
  } else {
    if (m.rejectedIndex <= pr.matchIndex) return; // stale: that part is known to match
    if (pr.mode === 'probe' && m.rejectedIndex !== pr.nextIndex - 1) return; // reply to an older probe
    const next = Math.min(m.rejectedIndex, ctx.log.lastIndexWithTermAtMost(m.hintIndex, m.hintTerm) + 1);
    pr.mode = 'probe';
    pr.probeSent = false;
    pr.nextIndex = Math.max(pr.matchIndex + 1, Math.min(next, m.lastIndex + 1));
  }
  releaseReads(ctx);
  replicate(ctx, from, pr);
}

/** A follower's InstallSnapshot reply; once it has the snapshot, replication goes on from the log. */
export function handleInstallSnapshotReply(ctx: Ctx, from: ServerId, m: InstallSnapshotReply): void {
  handleSnapshotReply(ctx, from, m, (id, pr) => {
    replicate(ctx, id, pr);
    maybeCommit(ctx);
    afterProgress(ctx, id);
  });
}

/** A peer's log moved forward: it may be ready for promotion or for a pending transfer. */
function afterProgress(ctx: Ctx, id: ServerId): void {
  maybePromote(ctx, id, () => broadcastAppend(ctx, false));
  maybeSendTimeoutNow(ctx);
}

/** The leader's own log became durable further: it may now count itself toward commit. */
export function leaderWritten(ctx: Ctx): void {
  maybeCommit(ctx);
  maybeSendTimeoutNow(ctx);
}

/** Commits the highest index a majority of voters hold durably, if it is of the current term (§5.4.2). */
export function maybeCommit(ctx: Ctx): void {
  const s = ctx.s;
  const n = s.options.plantedBugs?.commitWithoutQuorum === true // PLANTED BUG seam (test only): no quorum
    ? Math.min(s.writtenIndex, ctx.log.lastIndex)
    : committedIndex(s.config.voters, (id) => (id === s.id ? Math.min(s.writtenIndex, ctx.log.lastIndex) : (s.progress.get(id)?.matchIndex ?? 0)));
  if (n <= s.commitIndex || ctx.log.term(n) !== s.term) return;
  ctx.commitTo(n);
  if (!s.committedInTerm) {
    s.committedInTerm = true;
    const waiting = s.readsBeforeCommit;
    s.readsBeforeCommit = [];
    if (waiting.length > 0) startReads(ctx, waiting, () => broadcastAppend(ctx, true));
  }
  releaseReads(ctx);
}

/** ReadIndex requests on the leader. */
export function leaderReads(ctx: Ctx, refs: readonly number[]): void {
  startReads(ctx, refs, () => broadcastAppend(ctx, true));
}

/**
 * The heartbeat timer: heartbeat idle peers, re-send lost probes, and
 * (check-quorum) step down if a quorum has not answered within an election timeout.
 */
export function leaderHeartbeat(ctx: Ctx): void {
  const s = ctx.s;
  const o = s.options;
  if (o.checkQuorum && ctx.now >= s.quorumCheckMs) {
    const since = ctx.now - o.electionTimeoutMinMs;
    let heard = 0;
    for (const id of s.config.voters) {
      if (id === s.id || (s.progress.get(id)?.lastHeardMs ?? -Infinity) >= since) heard++;
    }
    if (heard < quorumSize(s.config.voters.length)) {
      becomeFollower(ctx, s.term, undefined);
      return;
    }
    s.leaderContactMs = ctx.now;
    s.quorumCheckMs = ctx.now + o.electionTimeoutMinMs;
  }
  for (const [id, pr] of s.progress) {
    if (pr.mode === 'snapshot') {
      snapshotHeartbeat(ctx, id, pr);
      continue;
    }
    if (ctx.now - pr.lastSentMs >= o.heartbeatMs || pr.mode === 'probe') {
      pr.probeSent = false;
      sendAppend(ctx, id, pr, true);
    }
  }
  if (leaderIdleTick(ctx)) return;
  ctx.setTimer('heartbeat', ctx.now + o.heartbeatMs);
}
