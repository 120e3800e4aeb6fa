// check(): partitions a history (P-compositionality), searches each part,
// and on a violation shrinks it to the smallest failing window and reports.
import { assert } from '../../lib/assert.js';
import { Meter, type Budget } from './budget.js';
import { validateHistory, type Call, type Operation } from './history.js';
import { partitionByKey, type Model } from './model.js';
import { prepare, type PreparedOp, type Resolver } from './prepare.js';
import { renderViolation, type PrefixStep } from './render.js';
import { search } from './search.js';
import { shrinkWindow, windowed } from './window.js';

/** Options of `check`. */
export interface CheckOptions<C extends Call, O> {
  /** Limits on the search; shrinking a violation has its own allowance (`shrinkMaxSteps`). */
  readonly budget?: Budget;
  /** Resolves unknown operations (e.g. from the committed log) before the check. */
  readonly resolve?: Resolver<C, O>;
}

/** A non-linearizable partition, shrunk to its smallest failing window. */
export interface Violation<S, C extends Call, O> {
  /** The key the partition's operations share, if they do. */
  readonly key: string | undefined;
  /** Index of the partition in the model's partitioning. */
  readonly partition: number;
  /** The partition's operations, as given. */
  readonly operations: readonly Operation<C, O>[];
  /** The failing window, in invoke order; still non-linearizable with the outputs of all other ops ignored. */
  readonly window: readonly Operation<C, O>[];
  /** True when ignoring the output of either end op of the window makes it linearizable. */
  readonly minimal: boolean;
  /** The longest linearizable prefix reached on the window; null if the budget ran out first. */
  readonly prefix: readonly PrefixStep<S, C, O>[] | null;
  /** Printable report: the window with times and the longest prefix. */
  readonly report: string;
}

/** The verdict of `check`, discriminated on `result`. */
export type CheckResult<S, C extends Call, O> =
  | { readonly result: 'ok'; readonly partitions: number; readonly steps: number }
  | { readonly result: 'violation'; readonly partitions: number; readonly steps: number; readonly violation: Violation<S, C, O> }
  | { readonly result: 'unknown'; readonly partitions: number; readonly steps: number; readonly reason: string; readonly key: string | undefined };

/** The key every op of a partition shares, if they do. */
function sharedKey(ops: readonly Operation<Call, unknown>[]): string | undefined {
  const key = ops[0]?.key;
  return ops.every((op) => op.key === key) ? key : undefined;
}

/**
 * Checks that `history` is linearizable under `model`. Partitions are
 * searched smallest first, so a violation in a small one is found even when
 * a large one would spend the budget. Gives up with `unknown` (and a reason)
 * when the budget is spent before a verdict. Throws InvalidArgumentError on
 * a malformed history.
 */
export function check<S, C extends Call, O>(
  history: readonly Operation<C, O>[],
  model: Model<S, C, O>,
  options: CheckOptions<C, O> = {},
): CheckResult<S, C, O> {
  validateHistory(history);
  const parts = model.partition?.(history) ?? partitionByKey(history);
  const order = parts.map((part, index) => ({ part, index })).sort((a, b) => a.part.length - b.part.length);
  const meter = new Meter(options.budget ?? {});
  for (const [done, at] of order.entries()) {
    const prepared = prepare(at.part, model, options.resolve);
    const r = search(prepared, model, meter);
    const base = { partitions: parts.length, steps: meter.steps };
    if (r.type === 'unknown') {
      const key = sharedKey(at.part);
      const where = `${key === undefined ? `partition ${at.index}` : `key ${JSON.stringify(key)}`} (${at.part.length} ops)`;
      const reason = `${meter.reason()} on ${where}; ${done} of ${parts.length} partitions checked`;
      return { result: 'unknown', ...base, reason, key };
    }
    if (r.type === 'violation') {
      const violation = explain(prepared, model, options.budget ?? {}, { ...at, hint: r.reach });
      return { result: 'violation', ...base, violation };
    }
  }
  return { result: 'ok', partitions: parts.length, steps: meter.steps };
}

function explain<S, C extends Call, O>(
  prepared: readonly PreparedOp<C, O>[],
  model: Model<S, C, O>,
  budget: Budget,
  at: { index: number; part: readonly Operation<C, O>[]; hint: number },
): Violation<S, C, O> {
  const meter = new Meter(budget, 'shrink');
  const { from, to, minimal } = shrinkWindow(prepared, model, meter, at.hint);
  const window = prepared.slice(from, to + 1).map((p) => p.op);
  const prefix = longestPrefix(prepared, model, from, to, meter);
  const key = sharedKey(at.part);
  const linearized = new Set(prefix?.map((s) => s.op));
  const stuck = window.filter((op) => !linearized.has(op));
  const report = renderViolation({ model, key, window, minimal, prefix, stuck });
  return { key, partition: at.index, operations: at.part, window, minimal, prefix, report };
}

function longestPrefix<S, C extends Call, O>(
  prepared: readonly PreparedOp<C, O>[],
  model: Model<S, C, O>,
  from: number,
  to: number,
  meter: Meter,
): PrefixStep<S, C, O>[] | null {
  const ops = windowed(prepared, model, from, to);
  const r = search(ops, model, meter, true);
  assert(r.type !== 'ok', 'the failing window turned out linearizable');
  if (r.type === 'unknown') return null;
  const inWindow = new Set(prepared.slice(from, to + 1).map((p) => p.op));
  return r.longest.map((s) => {
    const op = ops[s.index]!.op;
    return { op, applied: s.applied, inWindow: inWindow.has(op), state: s.state };
  });
}
