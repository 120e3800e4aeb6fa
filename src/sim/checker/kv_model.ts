// The model of the kv machine: one string register per key, with put, get,
// delete, compare-and-set and put-if-absent. The checker runs it per key.
import { assertNever } from '../../lib/assert.js';
import { describeCall, partitionByKey, type Model, type Outcome, type StepResult } from './model.js';

/** A call to the kv machine. Inputs are plain JSON; `get` and `delete` take `null`. */
export type KvCall =
  | { readonly f: 'put'; readonly key: string; readonly input: string }
  | { readonly f: 'get'; readonly key: string; readonly input: null }
  | { readonly f: 'delete'; readonly key: string; readonly input: null }
  | { readonly f: 'cas'; readonly key: string; readonly input: { readonly expected: string | null; readonly value: string } }
  | { readonly f: 'put_if_absent'; readonly key: string; readonly input: string };

/** Outputs: `'ok'` (put, delete), the value or null (get), whether it took effect (cas, put_if_absent). */
export type KvOutput = string | null | boolean;

/** The value of one key; null when absent. */
export type KvState = string | null;

function observed<O>(outcome: Outcome<O>, expected: O): boolean {
  return outcome.type === 'unknown' || outcome.output === expected;
}

function conditional(state: KvState, applies: boolean, value: string, outcome: Outcome<KvOutput>): StepResult<KvState> {
  return { ok: observed(outcome, applies), state: applies ? value : state };
}

/**
 * The kv machine, per key. `put` and `delete` outputs carry no information
 * and are not checked; `cas` succeeds iff the value equals `expected` (null:
 * absent); `put_if_absent` succeeds iff the key is absent.
 */
export const kvModel: Model<KvState, KvCall, KvOutput> = {
  name: 'kv',
  init: () => null,
  step(state, call, outcome) {
    switch (call.f) {
      case 'put':
        return { ok: true, state: call.input };
      case 'get':
        return { ok: observed(outcome, state), state };
      case 'delete':
        return { ok: true, state: null };
      case 'cas':
        return conditional(state, state === call.input.expected, call.input.value, outcome);
      case 'put_if_absent':
        return conditional(state, state === null, call.input, outcome);
      default:
        return assertNever(call, 'kv call');
    }
  },
  key: (state) => state,
  readOnly: (call) => call.f === 'get',
  partition: partitionByKey,
  describe: describeCall,
  describeState: (state) => JSON.stringify(state),
};
