// ReadIndex (thesis §6.4): the leader notes its commit index, confirms it is
// still leader with a quorum round, waits until it has applied that index,
// then lets the shell run the queries.
import { quorumSize } from './quorum.js';
import type { Ctx } from './context.js';
import type { Rejection } from './types.js';

/** Starts a quorum round for `refs`, or queues them until the leader has committed an entry of its term. */
export function startReads(ctx: Ctx, refs: readonly number[], broadcast: () => void): void {
  const s = ctx.s;
  if (!s.committedInTerm) {
    s.readsBeforeCommit.push(...refs);
    return;
  }
  const voters = s.config.voters;
  const alone = (voters.length === 1 && voters[0] === s.id) || s.options.plantedBugs?.readWithoutQuorum === true; // PLANTED BUG seam (test only)
  if (alone) {
    s.reads.push({ refs, index: s.commitIndex, seq: 0, confirmed: true });
    releaseReads(ctx);
    return;
  }
  s.readSeq++;
  s.reads.push({ refs, index: s.commitIndex, seq: s.readSeq, confirmed: false });
  broadcast();
}

/** Confirms reads whose round a quorum acknowledged, and releases those whose index is applied. */
export function releaseReads(ctx: Ctx): void {
  const s = ctx.s;
  if (s.reads.length === 0) return;
  const need = quorumSize(s.config.voters.length);
  for (const read of s.reads) {
    if (read.confirmed) continue;
    let acks = 0;
    for (const id of s.config.voters) {
      if (id === s.id) acks++;
      else if ((s.progress.get(id)?.readSeq ?? 0) >= read.seq) acks++;
    }
    if (acks < need) break; // rounds are confirmed in order
    read.confirmed = true;
  }
  while (s.reads.length > 0) {
    const read = s.reads[0] as (typeof s.reads)[number];
    if (!read.confirmed || read.index > s.appliedIndex) break;
    s.reads.shift();
    ctx.effects.push({ type: 'reads_ready', refs: read.refs, index: read.index });
  }
}

/** Fails every pending read (the member is no longer leader). */
export function failReads(ctx: Ctx, reason: Rejection): void {
  const s = ctx.s;
  const refs = [...s.readsBeforeCommit];
  for (const read of s.reads) refs.push(...read.refs);
  s.reads = [];
  s.readsBeforeCommit = [];
  if (refs.length > 0) ctx.effects.push({ type: 'reads_failed', refs, reason });
}
