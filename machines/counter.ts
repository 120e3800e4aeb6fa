// The counter machine: named counters that go up and down. It is also the
// smallest complete example of a Machine.
import type { ApplyMeta, ApplyResult, Machine } from '../src/index.js';

/** Counter commands; every reply is the counter's new value. */
export type CounterCommand =
  | { readonly type: 'incr'; readonly name?: string; readonly by?: number }
  | { readonly type: 'decr'; readonly name?: string; readonly by?: number }
  | { readonly type: 'reset'; readonly name?: string };

/** Counter values by name; absent names count as 0. */
export type CounterState = Map<string, number>;

/**
 * How to write a machine, in full:
 *
 * ```ts
 * class CounterMachine implements Machine<CounterState, CounterCommand, number> {
 *   readonly version = 1;
 *   init() { return new Map(); }                         // the state every member starts from
 *   apply(_meta, cmd, state) {                           // deterministic: no clock, no randomness
 *     const next = (state.get(cmd.name ?? 'default') ?? 0) + (cmd.by ?? 1);
 *     state.set(cmd.name ?? 'default', next);
 *     return { state, reply: next };                     // the reply goes back to the caller
 *   }
 *   readonly queries = { get: (state, name) => state.get(name ?? 'default') ?? 0 };
 * }
 * ```
 */
export class CounterMachine implements Machine<CounterState, CounterCommand, number | { error: string }> {
  readonly version = 1;

  init(): CounterState {
    return new Map();
  }

  apply(_meta: ApplyMeta, cmd: CounterCommand, state: CounterState): ApplyResult<CounterState, number | { error: string }> {
    const name = typeof cmd?.name === 'string' ? cmd.name : 'default';
    switch (cmd?.type) {
      case 'incr':
      case 'decr': {
        const by = cmd.by ?? 1;
        if (!Number.isSafeInteger(by)) return { state, reply: { error: 'by must be a safe integer' } };
        const next = (state.get(name) ?? 0) + (cmd.type === 'incr' ? by : -by);
        state.set(name, next);
        return { state, reply: next };
      }
      case 'reset':
        state.delete(name);
        return { state, reply: 0 };
      default:
        return { state, reply: { error: `unknown command` } };
    }
  }

  /** `get` (args: a name or nothing) and `all`. */
  readonly queries = {
    get: (state: CounterState, name: unknown) => state.get(typeof name === 'string' ? name : 'default') ?? 0,
    all: (state: CounterState) => Object.fromEntries(state),
  };

  snapshot(state: CounterState): Uint8Array {
    return new TextEncoder().encode(JSON.stringify([...state]));
  }

  restore(bytes: Uint8Array): CounterState {
    return new Map(JSON.parse(new TextDecoder().decode(bytes)) as [string, number][]);
  }
}
