// Turns a partition's operations into what the search works on: fail ops
// dropped, unknown ops resolved or made optional, intervals in invoke order.
import { assertNever } from '../../lib/assert.js';
import { InvalidArgumentError } from '../../lib/errors.js';
import type { Call, Operation } from './history.js';
import type { Model, Outcome } from './model.js';

/**
 * What the simulator learnt of an unknown operation from the committed log:
 * it took effect (with the output it produced and a time by which it had
 * taken effect, e.g. when it was applied, when known), it did not, or it
 * cannot tell.
 */
export type Resolution<O> =
  | { readonly type: 'happened'; readonly output?: O; readonly complete?: number }
  | { readonly type: 'not_happened' }
  | { readonly type: 'unknown' };

/** Called for each unknown operation before the check. */
export type Resolver<C extends Call, O> = (op: Operation<C, O>) => Resolution<O>;

/** An operation as the search sees it. */
export interface PreparedOp<C extends Call, O> {
  readonly op: Operation<C, O>;
  readonly invoke: number;
  /** +Infinity when the client never saw a result. */
  readonly complete: number;
  readonly outcome: Outcome<O>;
  /** True when the operation may not have taken effect at all. */
  readonly optional: boolean;
}

const UNKNOWN: Outcome<never> = { type: 'unknown' };

function prepareOne<C extends Call, O>(op: Operation<C, O>, resolve?: Resolver<C, O>): PreparedOp<C, O> | null {
  if (op.status === 'fail') return null;
  if (op.status === 'ok') {
    return { op, invoke: op.invoke, complete: op.complete, outcome: { type: 'ok', output: op.output as O }, optional: false };
  }
  const resolution: Resolution<O> = resolve?.(op) ?? { type: 'unknown' };
  switch (resolution.type) {
    case 'not_happened':
      return null;
    case 'unknown':
      return { op, invoke: op.invoke, complete: Infinity, outcome: UNKNOWN, optional: true };
    case 'happened': {
      const outcome: Outcome<O> = 'output' in resolution ? { type: 'ok', output: resolution.output as O } : UNKNOWN;
      const complete = resolution.complete ?? Infinity;
      if (!(complete >= op.invoke)) throw new InvalidArgumentError(`operation ${op.id}: resolved as complete before its invoke`);
      return { op, invoke: op.invoke, complete, outcome, optional: false };
    }
    default:
      return assertNever(resolution, 'resolution');
  }
}

/** True when the op constrains nothing: a read-only call whose output is unknown or ignored. */
export function inert<S, C extends Call, O>(p: PreparedOp<C, O>, model: Model<S, C, O>): boolean {
  return p.outcome.type === 'unknown' && model.readOnly?.(p.op) === true;
}

/** Prepares a partition: drops what did not happen and inert ops, sorts by invoke time (stable). */
export function prepare<S, C extends Call, O>(
  ops: readonly Operation<C, O>[],
  model: Model<S, C, O>,
  resolve?: Resolver<C, O>,
): PreparedOp<C, O>[] {
  const prepared: PreparedOp<C, O>[] = [];
  for (const op of ops) {
    const p = prepareOne(op, resolve);
    if (p !== null && !inert(p, model)) prepared.push(p);
  }
  return prepared.sort((a, b) => a.invoke - b.invoke);
}

/**
 * The operation with what its client saw forgotten: any output, same
 * interval. It still takes effect (an ok op did); an unknown op stays optional.
 */
export function relax<C extends Call, O>(p: PreparedOp<C, O>): PreparedOp<C, O> {
  return { ...p, outcome: UNKNOWN };
}
