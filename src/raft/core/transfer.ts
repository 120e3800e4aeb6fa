// Leadership transfer (thesis §3.10): the leader brings the target up to
// date, sends it TimeoutNow, and refuses new commands meanwhile; if the
// target has not taken over within an election timeout, the leader resumes.
import type { Ctx } from './context.js';
import { isVoter } from './state.js';
import type { ServerId } from './types.js';

/** Leader: begins a transfer to `target`, or rejects it. */
export function startTransfer(ctx: Ctx, ref: number, target: ServerId): void {
  const s = ctx.s;
  if (s.transfer !== undefined) {
    ctx.effects.push({ type: 'rejected', ref, reason: { code: 'transfer_in_progress' } });
    return;
  }
  if (target === s.id) {
    ctx.effects.push({ type: 'transfer_done', ref });
    return;
  }
  if (!isVoter(s, target)) {
    ctx.effects.push({ type: 'rejected', ref, reason: { code: 'invalid_argument', message: `${target} is not a voter` } });
    return;
  }
  s.transfer = { ref, target, sent: false };
  ctx.setTimer('transfer', ctx.now + s.options.electionTimeoutMaxMs);
  maybeSendTimeoutNow(ctx);
}

/** Sends TimeoutNow once the target's log matches the leader's. */
export function maybeSendTimeoutNow(ctx: Ctx): void {
  const s = ctx.s;
  const t = s.transfer;
  if (t === undefined || t.sent) return;
  const pr = s.progress.get(t.target);
  if (pr === undefined || pr.matchIndex < ctx.log.lastIndex) return;
  t.sent = true;
  ctx.send(t.target, { type: 'timeout_now', term: s.term });
}

/** The transfer timer fired: the transfer failed and the leader carries on. */
export function transferTimedOut(ctx: Ctx): void {
  const s = ctx.s;
  if (s.transfer === undefined) return;
  ctx.effects.push({ type: 'rejected', ref: s.transfer.ref, reason: { code: 'timeout' } });
  s.transfer = undefined;
}

/** The leader stepped down: a transfer under way ended (the target most likely won). */
export function transferEnded(ctx: Ctx): void {
  const s = ctx.s;
  if (s.transfer === undefined) return;
  ctx.effects.push({ type: 'transfer_done', ref: s.transfer.ref });
  s.transfer = undefined;
  ctx.cancelTimer('transfer');
}
