// The smallest failing window of a partition: a contiguous run of its ops
// (in invoke order) that is still non-linearizable when the outputs of every
// op outside it are ignored (those ops still take effect inside their interval).
import type { Meter } from './budget.js';
import type { Call } from './history.js';
import type { Model } from './model.js';
import { inert, relax, type PreparedOp } from './prepare.js';
import { search, type SearchResult } from './search.js';

/** A window `[from, to]` (inclusive indices into the partition's prepared ops). */
export interface Window {
  readonly from: number;
  readonly to: number;
  /** False when the budget ran out before the window could be shrunk to a minimum. */
  readonly minimal: boolean;
}

/**
 * The partition with the ops outside `[from, to]` relaxed. Relaxed ops that
 * are inert, or that start after every window op has completed, are dropped:
 * the latter can only be linearized after the window, where an op with any
 * output changes nothing the window observes.
 */
export function windowed<S, C extends Call, O>(
  ops: readonly PreparedOp<C, O>[],
  model: Model<S, C, O>,
  from: number,
  to: number,
): PreparedOp<C, O>[] {
  let last = -Infinity;
  for (let i = from; i <= to; i++) last = Math.max(last, ops[i]!.complete);
  const out: PreparedOp<C, O>[] = [];
  ops.forEach((p, i) => {
    if (i >= from && i <= to) out.push(p);
    else if (p.invoke <= last && !inert(p, model)) out.push(relax(p));
  });
  return out;
}

/** Searches the window `[from, to]` of `ops`. */
export function searchWindow<S, C extends Call, O>(
  ops: readonly PreparedOp<C, O>[],
  model: Model<S, C, O>,
  from: number,
  to: number,
  meter: Meter,
  trace = false,
): SearchResult<S> {
  return search(windowed(ops, model, from, to), model, meter, trace);
}

/** A monotone predicate over indices: false below some point, true from it on; null when the budget ran out. */
type Probe = (i: number) => boolean | null;

/** Least `i` in (lo, hi] with `fails(i)`, given `fails(hi)`; stops early (incomplete) if the budget runs out. */
function bisect(lo: number, hi: number, fails: Probe): { at: number; complete: boolean } {
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const r = fails(mid);
    if (r === null) return { at: hi, complete: false };
    if (r) hi = mid;
    else lo = mid;
  }
  return { at: hi, complete: true };
}

/**
 * Least `i` in (lo, hi] with `fails(i)`, given `fails(hi)`, probing outward
 * from `start` in doubling steps before bisecting: few probes when the
 * answer is near `start`, and each probe is a whole search.
 */
function gallop(lo: number, hi: number, start: number, fails: Probe): { at: number; complete: boolean } {
  let below = lo;
  let above = hi;
  for (let i = Math.max(lo + 1, Math.min(start, hi)), step = 1; i < above && i > below; step *= 2) {
    const r = fails(i);
    if (r === null) return { at: above, complete: false };
    if (r) {
      above = i;
      i = Math.max(below + 1, i - step);
      if (i >= above) break;
    } else {
      below = i;
      i = Math.min(above, i + step);
    }
  }
  return bisect(below, above, fails);
}

/**
 * Shrinks a non-linearizable partition to a minimal failing window: the
 * least right end first (ops after it relaxed), then the greatest left end.
 * Relaxing more ops only admits more linearizations, so both ends are
 * monotone and a bisection finds them; relaxing either end op of the result
 * makes it linearizable. `hint` is where the right end probably is (the
 * furthest op the failed search linearized).
 *
 * Why outputs-ignored rather than removal: removing ops is not monotone (a
 * read alone fails once the write it saw is gone), and "may not have
 * happened" makes any earlier write a candidate current value, which costs
 * O(n^2) configurations on a long partition. An ok op did take effect; only
 * what its client saw is dropped, so the cost stays bounded by concurrency.
 */
export function shrinkWindow<S, C extends Call, O>(
  ops: readonly PreparedOp<C, O>[],
  model: Model<S, C, O>,
  meter: Meter,
  hint = ops.length - 1,
): Window {
  const fails = (from: number, to: number): boolean | null => {
    const r = searchWindow(ops, model, from, to, meter).type;
    return r === 'unknown' ? null : r === 'violation';
  };
  const right = gallop(-1, ops.length - 1, hint, (to) => fails(0, to));
  if (!right.complete) return { from: 0, to: right.at, minimal: false };
  // Left end: the least width that fails; most windows are one or two ops.
  const to = right.at;
  const left = gallop(-1, to, 0, (width) => fails(to - width, to));
  return { from: to - left.at, to, minimal: left.complete };
}
