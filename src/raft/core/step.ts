// The core's entry point. `step` applies the rules every role shares (term
// rules, §5.1; leader stickiness for votes, thesis §4.2.3), then hands the
// event to the role's own module. No I/O, no timers, no Date: time and the
// log arrive in `env`, and everything the shell must do comes back as effects.
import { assertNever } from '../../lib/assert.js';
import { Ctx } from './context.js';
import type { LogReader } from './log_cursor.js';
import { handleVoteReply, startElection, suspectLeader } from './candidate.js';
import { becomeFollower, followerWritten, handleAppendEntries, handleRequestVote } from './follower.js';
import {
  broadcastAppend,
  handleAppendEntriesReply,
  handleInstallSnapshotReply,
  leaderCommands,
  leaderHeartbeat,
  leaderReads,
  leaderWritten,
} from './leader.js';
import { changeMembership, forceSoleVoter } from './membership.js';
import { followerAfterAppend, peerDown, peerUp, wakeFollower, wakeLeader, wakesLeader } from './quiesce.js';
import { abortIncoming, handleInstallSnapshot, replyChunk } from './snapshot.js';
import { isVoter, type RaftState } from './state.js';
import { startTransfer, transferTimedOut } from './transfer.js';
import type { Effect, RaftEvent, RaftMessage, Rejection, ServerId } from './types.js';

/** What a step is given besides the state: the time and the member's log. */
export interface StepEnv {
  readonly now: number;
  readonly log: LogReader;
}

/** The effects that start a member: arm its election timer. */
export function start(state: RaftState, env: StepEnv): Effect[] {
  const ctx = new Ctx(state, env.now, env.log);
  ctx.resetElectionDeadline();
  ctx.setTimer('election', state.electionDeadline);
  ctx.announce();
  return ctx.effects;
}

/** Advances the member by one event; updates `state` in place and returns the effects, in order. */
export function step(state: RaftState, event: RaftEvent, env: StepEnv): Effect[] {
  const ctx = new Ctx(state, env.now, env.log);
  if (state.role === 'stopped') {
    rejectAll(ctx, event, { code: 'not_leader', leader: undefined });
    return ctx.effects;
  }
  if (state.quiesced && state.role === 'leader' && wakesLeader(event)) wakeLeader(ctx, event.type === 'message');
  switch (event.type) {
    case 'message':
      onMessage(ctx, event.from, event.msg);
      break;
    case 'commands':
      if (state.role === 'leader') leaderCommands(ctx, event.items);
      else rejectAll(ctx, event, notLeader(state));
      break;
    case 'read':
      if (state.role === 'leader') leaderReads(ctx, event.refs);
      else rejectAll(ctx, event, notLeader(state));
      break;
    case 'written':
      onWritten(ctx, event.index);
      break;
    case 'election_timeout':
      if (state.quiesced && state.role === 'follower') break; // a late timer: quiet until woken
      if (ctx.now < state.electionDeadline) {
        if (state.role !== 'leader') ctx.setTimer('election', state.electionDeadline);
      } else {
        suspectLeader(ctx);
      }
      break;
    case 'leader_suspected':
      suspectLeader(ctx);
      break;
    case 'peer_down':
      peerDown(ctx, event.id);
      break;
    case 'peer_up':
      peerUp(ctx, event.id);
      break;
    case 'heartbeat_timeout':
      if (state.role === 'leader') leaderHeartbeat(ctx);
      break;
    case 'log_blocked':
      onLogBlocked(ctx, event.reason);
      break;
    case 'log_unblocked':
      state.blocked = undefined;
      if (state.role === 'await_condition') becomeFollower(ctx, state.term, state.leaderId);
      break;
    case 'change_membership':
      if (state.role === 'leader') changeMembership(ctx, event.ref, event.change, () => broadcastAppend(ctx, false));
      else rejectAll(ctx, event, notLeader(state));
      break;
    case 'transfer_leadership':
      if (state.role === 'leader') startTransfer(ctx, event.ref, event.target);
      else rejectAll(ctx, event, notLeader(state));
      break;
    case 'transfer_timeout':
      transferTimedOut(ctx);
      break;
    case 'snapshot_taken':
      if (state.snapshot === undefined || event.index > state.snapshot.index) state.snapshot = { index: event.index, term: event.term, size: event.size };
      // The saved snapshot makes the log durable up to its index, and the log will not pass on
      // the WAL's later notices below it: count it as written here, or a member that applied
      // entries before its own WAL synced them acknowledges a stale index for ever (simulator, seed 58).
      onWritten(ctx, event.index);
      break;
    case 'snapshot_installed':
      snapshotInstalled(ctx, event);
      break;
    case 'snapshot_failed':
      snapshotFailed(ctx, event.index);
      break;
    case 'set_can_lead':
      state.canLead = event.value;
      if (!event.value && state.role === 'leader') becomeFollower(ctx, state.term, undefined);
      break;
    case 'force_sole_voter':
      forceSoleVoter(ctx);
      break;
    default:
      assertNever(event, 'event');
  }
  ctx.announce();
  return ctx.effects;
}

/** Term rules shared by all roles (§5.1), then dispatch by message type. */
function onMessage(ctx: Ctx, from: ServerId, msg: RaftMessage): void {
  const s = ctx.s;
  if (msg.type === 'request_vote' && from === s.leaderId && s.role !== 'leader') {
    // Our leader campaigns: it is a leader no more (it stepped down, or restarted), so its
    // lease binds nobody, and a quiesced group must hold a normal election.
    s.leaderContactMs = -Infinity;
    wakeFollower(ctx);
  }
  if (msg.term > s.term) {
    if (msg.type === 'request_vote') {
      if (!msg.transfer && s.options.checkQuorum && inLease(ctx)) {
        // Leader stickiness: a live leader exists, so a disruptive candidate is ignored.
        if (msg.preVote) ctx.send(from, { type: 'request_vote_reply', term: s.term, voteGranted: false, preVote: true });
        return;
      }
      if (!msg.preVote) becomeFollower(ctx, msg.term, undefined);
    } else if (!(msg.type === 'request_vote_reply' && msg.preVote && msg.voteGranted)) {
      const leader = msg.type === 'append_entries' || msg.type === 'install_snapshot' ? from : undefined;
      becomeFollower(ctx, msg.term, leader);
    }
  } else if (msg.term < s.term) {
    if (msg.type === 'append_entries') {
      // Tell a stale leader about the newer term so it steps down.
      ctx.send(from, staleReply(ctx));
    } else if (msg.type === 'install_snapshot') {
      // The same for a stale leader sending a snapshot: unanswered, it would send it for ever
      // while this member, ignored by its leader-sticky peers, campaigns in vain (simulator, seed 88).
      ctx.send(from, { type: 'install_snapshot_reply', term: s.term, lastIncludedIndex: msg.lastIncludedIndex, nextOffset: 0, done: false });
    } else if (msg.type === 'request_vote' && msg.preVote) {
      ctx.send(from, { type: 'request_vote_reply', term: s.term, voteGranted: false, preVote: true });
    }
    return;
  }
  switch (msg.type) {
    case 'append_entries':
      if (s.role === 'leader') return; // impossible at equal term (election safety); ignore defensively
      handleAppendEntries(ctx, from, msg);
      return followerAfterAppend(ctx, msg);
    case 'append_entries_reply':
      if (s.role === 'leader' && msg.term === s.term) handleAppendEntriesReply(ctx, from, msg);
      return;
    case 'request_vote':
      return handleRequestVote(ctx, from, msg);
    case 'request_vote_reply':
      return handleVoteReply(ctx, from, msg);
    case 'install_snapshot':
      if (s.role === 'leader') return;
      if (s.role === 'candidate' || s.role === 'pre_vote') becomeFollower(ctx, s.term, from);
      if (s.leaderId !== from) s.readSeqSeen = 0;
      s.leaderId = from;
      s.leaderContactMs = ctx.now;
      ctx.resetElectionDeadline();
      wakeFollower(ctx);
      if (s.role === 'await_condition') return; // nothing can be written now; the leader retries
      return handleInstallSnapshot(ctx, from, msg);
    case 'install_snapshot_reply':
      if (s.role === 'leader' && msg.term === s.term) handleInstallSnapshotReply(ctx, from, msg);
      return;
    case 'timeout_now':
      // Leadership transfer: campaign at once, skipping pre-vote (thesis §3.10).
      if (s.role === 'follower' && from === s.leaderId && isVoter(s, s.id) && s.canLead) startElection(ctx, true);
      return;
    default:
      assertNever(msg, 'message');
  }
}

/** The shell installed a received snapshot: continue from it as a follower. */
function snapshotInstalled(ctx: Ctx, e: Extract<RaftEvent, { type: 'snapshot_installed' }>): void {
  const s = ctx.s;
  // The transfer the core waits for, or one it gave up whose file completed anyway, or a newer
  // one than the transfer under way (the store's latest): each a committed prefix, durable now.
  // A transfer it covers is over (even when the core knows of a newer snapshot still): the
  // leader hears that it is done.
  const incoming = s.incoming;
  const covered = incoming !== undefined && incoming.index <= e.index;
  if (covered) {
    s.incoming = undefined;
    if (s.role === 'receive_snapshot') s.role = 'follower';
  }
  if (s.snapshot === undefined || e.index > s.snapshot.index) adoptSnapshot(ctx, e);
  if (covered && s.leaderId !== undefined) replyChunk(ctx, s.leaderId, incoming.index, e.size, true);
}

/** Continues from an installed snapshot newer than the one the core knew. */
function adoptSnapshot(ctx: Ctx, e: Extract<RaftEvent, { type: 'snapshot_installed' }>): void {
  const s = ctx.s;
  s.snapshot = { index: e.index, term: e.term, size: e.size };
  s.configs = e.configs.map((c) => ({ index: c.index, config: c.config }));
  s.config = (s.configs[s.configs.length - 1] as { config: RaftState['config'] }).config;
  if (e.index > s.commitIndex) s.commitIndex = e.index;
  if (e.index > s.appliedIndex) s.appliedIndex = e.index;
  s.writtenIndex = Math.max(Math.min(s.writtenIndex, ctx.log.lastIndex), e.index);
  if (e.index > s.verifiedIndex) s.verifiedIndex = e.index;
}

function snapshotFailed(ctx: Ctx, index: number): void {
  const s = ctx.s;
  if (s.role === 'leader') {
    // Reading it to send failed: fall back to probing, which starts a transfer of the latest one.
    for (const pr of s.progress.values()) {
      if (pr.mode === 'snapshot' && pr.snapshotIndex === index) {
        pr.mode = 'probe';
        pr.probeSent = false;
      }
    }
    return;
  }
  if (s.incoming?.index !== index) return;
  abortIncoming(ctx);
  if (s.leaderId !== undefined) replyChunk(ctx, s.leaderId, index, 0, false);
}

function onWritten(ctx: Ctx, index: number): void {
  const s = ctx.s;
  const written = Math.min(index, ctx.log.lastIndex);
  if (written <= s.writtenIndex) return;
  s.writtenIndex = written;
  if (s.role === 'leader') leaderWritten(ctx);
  else followerWritten(ctx);
}

function onLogBlocked(ctx: Ctx, reason: 'overloaded' | 'down'): void {
  const s = ctx.s;
  s.blocked = reason;
  if (s.role === 'leader' && reason === 'down') becomeFollower(ctx, s.term, undefined);
  else if (s.role !== 'leader') becomeFollower(ctx, s.term, s.leaderId);
}

/** Have we heard from a live leader (or, as leader, from a quorum) within the minimum election timeout? */
function inLease(ctx: Ctx): boolean {
  const s = ctx.s;
  if (s.role === 'leader') return true;
  // Quiesced: the leader said so, and its node is up (else peer_down would have woken us).
  if (s.quiesced && s.role === 'follower' && s.leaderId !== undefined && !s.downPeers.has(s.leaderId)) return true;
  return s.leaderId !== undefined && ctx.now - s.leaderContactMs < s.options.electionTimeoutMinMs;
}

function notLeader(s: RaftState): Rejection {
  return { code: 'not_leader', leader: s.leaderId };
}

function staleReply(ctx: Ctx): RaftMessage {
  return {
    type: 'append_entries_reply',
    term: ctx.s.term,
    success: false,
    matchIndex: 0,
    lastIndex: ctx.log.lastIndex,
    rejectedIndex: 0,
    hintIndex: 0,
    hintTerm: 0,
    readSeq: 0,
  };
}

function rejectAll(ctx: Ctx, event: RaftEvent, reason: Rejection): void {
  if (event.type === 'commands') for (const item of event.items) ctx.effects.push({ type: 'rejected', ref: item.ref, reason });
  else if (event.type === 'read') ctx.effects.push({ type: 'reads_failed', refs: event.refs, reason });
  else if (event.type === 'change_membership' || event.type === 'transfer_leadership') {
    ctx.effects.push({ type: 'rejected', ref: event.ref, reason });
  }
}
