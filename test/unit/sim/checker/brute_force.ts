// Test helper: linearizability by exhaustive search over every subset of
// unknown ops and every order consistent with real time. Tiny histories only.
import type { Call, Operation } from '../../../../src/sim/checker/history.js';
import type { Model, Outcome } from '../../../../src/sim/checker/model.js';
import { kvModel, type KvCall, type KvOutput } from '../../../../src/sim/checker/kv_model.js';

function end(op: Operation<Call, unknown>): number {
  return op.status === 'unknown' ? Infinity : op.complete;
}

function outcome<O>(op: Operation<Call, O>): Outcome<O> {
  return op.status === 'ok' ? { type: 'ok', output: op.output as O } : { type: 'unknown' };
}

function orders<S, C extends Call, O>(remaining: readonly Operation<C, O>[], state: S, model: Model<S, C, O>): boolean {
  if (remaining.length === 0) return true;
  return remaining.some((op) => {
    if (remaining.some((other) => other !== op && end(other) < op.invoke)) return false;
    const r = model.step(state, op, outcome(op));
    return r.ok && orders(remaining.filter((o) => o !== op), r.state, model);
  });
}

/** True if some subset of the unknown ops, in some real-time-consistent order, explains every ok op. */
export function bruteForce<S, C extends Call, O>(history: readonly Operation<C, O>[], model: Model<S, C, O>): boolean {
  const live = history.filter((op) => op.status !== 'fail');
  const unknown = live.filter((op) => op.status === 'unknown');
  for (let mask = 0; mask < 1 << unknown.length; mask++) {
    const dropped = new Set(unknown.filter((_, i) => (mask & (1 << i)) !== 0));
    if (orders(live.filter((op) => !dropped.has(op)), model.init(), model)) return true;
  }
  return false;
}

type Store = Readonly<Record<string, string>>;

/** The kv machine over the whole store, unpartitioned: an independent check of partitioning. */
export const wholeKvModel: Model<Store, KvCall, KvOutput> = {
  name: 'kv_whole',
  init: () => ({}),
  step(store, call, o) {
    const r = kvModel.step(store[call.key] ?? null, call, o);
    const next: Record<string, string> = { ...store };
    if (r.state === null) delete next[call.key];
    else next[call.key] = r.state;
    return { ok: r.ok, state: next };
  },
  key: (store) => JSON.stringify(Object.entries(store).sort()),
  partition: (ops) => [[...ops]],
};
