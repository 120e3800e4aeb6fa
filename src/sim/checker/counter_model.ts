// The model of the counter machine: named counters, incremented and read;
// an absent name reads 0. The checker runs it per name (the op's key).
import { assertNever } from '../../lib/assert.js';
import { describeCall, partitionByKey, type Model } from './model.js';

/** A call to the counter machine: `incr(name, by)` and `get(name)`; the name is the key. */
export type CounterCall =
  | { readonly f: 'incr'; readonly key: string; readonly input: number }
  | { readonly f: 'get'; readonly key: string; readonly input: null };

/** Both calls return the counter's value (after the increment, for incr). */
export type CounterOutput = number;

/** The counter machine, per name. */
export const counterModel: Model<number, CounterCall, CounterOutput> = {
  name: 'counter',
  init: () => 0,
  step(state, call, outcome) {
    switch (call.f) {
      case 'incr': {
        const next = state + call.input;
        return { ok: outcome.type === 'unknown' || outcome.output === next, state: next };
      }
      case 'get':
        return { ok: outcome.type === 'unknown' || outcome.output === state, state };
      default:
        return assertNever(call, 'counter call');
    }
  },
  key: (state) => state,
  readOnly: (call) => call.f === 'get',
  partition: partitionByKey,
  describe: describeCall,
  describeState: (state) => String(state),
};
