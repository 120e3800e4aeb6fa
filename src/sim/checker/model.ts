// The Model interface: the sequential specification of a machine that the
// checker steps through, plus the defaults (partition by key, printing).
import type { Call, Operation } from './history.js';

/**
 * What the checker knows of an operation's result when it steps the model:
 * `ok` carries the output the client saw; `unknown` (timed out, or outside
 * the window being explained) means any output is acceptable.
 */
export type Outcome<O> = { readonly type: 'ok'; readonly output: O } | { readonly type: 'unknown' };

/** Whether a call is legal in a state with the outcome seen, and the state after it. */
export interface StepResult<S> {
  readonly ok: boolean;
  readonly state: S;
}

/** A primitive identifying a state for memoisation: equal states must give equal keys (compared with SameValueZero). */
export type StateKey = string | number | boolean | null;

/**
 * The sequential specification of a machine. States are values: `step` must
 * not mutate the state it is given.
 */
export interface Model<S, C extends Call = Call, O = unknown> {
  /** Shown in reports. */
  readonly name: string;
  /** The state before any operation. */
  init(): S;
  /**
   * Applies `call` to `state`; `ok` is false when the outcome is impossible
   * from `state`. With an `unknown` outcome, `ok` should be true unless the
   * call itself is impossible in `state` whatever its output.
   */
  step(state: S, call: C, outcome: Outcome<O>): StepResult<S>;
  /** Memoisation key of a state (Lowe's cache holds (linearized set, key) pairs). */
  key(state: S): StateKey;
  /**
   * True for calls that never change the state (reads). With an unknown or
   * ignored output such a call constrains nothing, so the checker drops it:
   * this keeps timed-out reads, and reads outside a failing window, from
   * multiplying the search. Default: no call is read-only.
   */
  readOnly?(call: C): boolean;
  /**
   * Splits a history into independent sub-histories (P-compositionality):
   * the whole history is linearizable iff every part is. Default: by `key`.
   */
  partition?(ops: readonly Operation<C, O>[]): Operation<C, O>[][];
  /** Prints an operation; default `f(key, input) -> output`. */
  describe?(op: Operation<C, O>): string;
  /** Prints a state; default JSON. */
  describeState?(state: S): string;
}

/** Groups operations by their `key`, in order of first appearance; operations without a key form one group. */
export function partitionByKey<T extends { readonly key?: string }>(ops: readonly T[]): T[][] {
  const groups = new Map<string | undefined, T[]>();
  for (const op of ops) {
    const group = groups.get(op.key);
    if (group === undefined) groups.set(op.key, [op]);
    else group.push(op);
  }
  return [...groups.values()];
}

/** Default printing of an operation: `f(key, input) -> output`, or `-> ?` when its outcome is unknown. */
export function describeCall(op: Operation<Call, unknown>): string {
  const args: string[] = [];
  if (op.key !== undefined) args.push(JSON.stringify(op.key));
  if (op.input !== null && op.input !== undefined) args.push(JSON.stringify(op.input));
  const result = op.status === 'ok' ? JSON.stringify(op.output ?? null) : op.status === 'fail' ? 'fail' : '?';
  return `${op.f}(${args.join(', ')}) -> ${result}`;
}
