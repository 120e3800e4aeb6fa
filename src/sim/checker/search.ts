// Wing & Gong's search with Lowe's memoisation, as in Porcupine: linearize
// the earliest pending call that fits, backtrack when a return is reached.
import { assert } from '../../lib/assert.js';
import { Bitset } from './bitset.js';
import { ConfigCache } from './cache.js';
import { buildEntries, lift, unlift, type Entry } from './entries.js';
import type { Call } from './history.js';
import type { Model, StepResult } from './model.js';
import type { Meter } from './budget.js';
import type { PreparedOp } from './prepare.js';

/** One operation of a (partial) linearization: applied, or skipped (optional ops only), and the state after it. */
export interface LinearizedStep<S> {
  readonly index: number;
  readonly applied: boolean;
  readonly state: S;
}

/**
 * What a search concluded. On a violation, `reach` is the highest op index
 * ever linearized (where the failure probably is); `longest` is filled only
 * when tracing.
 */
export type SearchResult<S> =
  | { readonly type: 'ok' }
  | { readonly type: 'violation'; readonly reach: number; readonly longest: readonly LinearizedStep<S>[] }
  | { readonly type: 'unknown' };

interface Frame<S> {
  readonly entry: Entry;
  /** The state before this op. */
  readonly state: S;
  /** 0: the op was applied; 1: it was skipped (taken not to have happened). */
  readonly alt: number;
}

/**
 * The search. Each call is tried as: applied now, then (optional ops only)
 * skipped now, then left pending. Trying an unknown op eagerly settles most
 * of them near their invoke, and "skipped" and "applied, then overwritten
 * unseen" meet in the cache as one configuration.
 */
class Search<S, C extends Call, O> {
  private readonly head: Entry;
  private readonly bits: Bitset;
  private readonly cache = new ConfigCache();
  private readonly stack: Frame<S>[] = [];
  private state: S;
  private longest: LinearizedStep<S>[] = [];
  /** How many leading entries of `longest` still match the stack. */
  private longestValid = 0;
  private reach = -1;

  constructor(
    private readonly ops: readonly PreparedOp<C, O>[],
    private readonly model: Model<S, C, O>,
    private readonly trace: boolean,
  ) {
    this.head = buildEntries(ops);
    this.bits = new Bitset(ops.length);
    this.state = model.init();
  }

  run(meter: Meter): SearchResult<S> {
    let entry: Entry | null = this.head.next;
    let alt = 0;
    while (this.head.next !== null) {
      if (meter.spend()) return { type: 'unknown' };
      assert(entry !== null, 'search ran off the entry list');
      if (!entry.isCall) {
        const frame = this.stack.pop();
        if (frame === undefined) return { type: 'violation', reach: this.reach, longest: this.longest };
        this.backtrack(frame);
        entry = frame.entry;
        alt = frame.alt + 1;
      } else if (alt > (this.ops[entry.index]!.optional ? 1 : 0)) {
        entry = entry.next;
        alt = 0;
      } else if (this.tryLinearize(entry, alt)) {
        entry = this.head.next;
        alt = 0;
      } else {
        alt++;
      }
    }
    return { type: 'ok' };
  }

  /** Tries to linearize `entry`'s op next (applied if alt is 0, skipped if 1); true if that is a new configuration. */
  private tryLinearize(entry: Entry, alt: number): boolean {
    const p = this.ops[entry.index]!;
    const next: StepResult<S> = alt === 0 ? this.model.step(this.state, p.op, p.outcome) : { ok: true, state: this.state };
    if (!next.ok) return false;
    this.bits.set(entry.index);
    if (!this.cache.add(this.bits, this.model.key(next.state))) {
      this.bits.clear(entry.index);
      return false;
    }
    this.stack.push({ entry, state: this.state, alt });
    this.state = next.state;
    lift(entry);
    if (entry.index > this.reach) this.reach = entry.index;
    if (this.trace && this.stack.length > this.longest.length) this.recordLongest();
    return true;
  }

  private backtrack(frame: Frame<S>): void {
    this.state = frame.state;
    this.bits.clear(frame.entry.index);
    unlift(frame.entry);
    this.longestValid = Math.min(this.longestValid, this.stack.length);
  }

  /** Copies the stack into `longest`, from where they differ: the stack keeps a common prefix with it. */
  private recordLongest(): void {
    const stack = this.stack;
    this.longest.length = stack.length;
    for (let i = this.longestValid; i < stack.length; i++) {
      const frame = stack[i]!;
      const after = i + 1 < stack.length ? stack[i + 1]!.state : this.state;
      this.longest[i] = { index: frame.entry.index, applied: frame.alt === 0, state: after };
    }
    this.longestValid = stack.length;
  }
}

/**
 * Decides whether the prepared operations are linearizable under `model`,
 * spending steps from `meter`. With `trace`, a violation carries the
 * longest partial linearization the search reached.
 */
export function search<S, C extends Call, O>(
  ops: readonly PreparedOp<C, O>[],
  model: Model<S, C, O>,
  meter: Meter,
  trace = false,
): SearchResult<S> {
  return new Search(ops, model, trace).run(meter);
}
