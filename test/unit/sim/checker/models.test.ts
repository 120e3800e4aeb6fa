import { describe, expect, it } from 'vitest';
import { kvModel, type KvCall, type KvOutput, type KvState } from '../../../../src/sim/checker/kv_model.js';
import { counterModel } from '../../../../src/sim/checker/counter_model.js';
import { describeCall, partitionByKey, type Model, type Outcome } from '../../../../src/sim/checker/model.js';
import { check } from '../../../../src/sim/checker/check.js';
import type { Operation } from '../../../../src/sim/checker/history.js';

const ok = <O>(output: O): Outcome<O> => ({ type: 'ok', output });
const unknown: Outcome<never> = { type: 'unknown' };

function kv(state: KvState, call: KvCall, o: Outcome<KvOutput>): [boolean, KvState] {
  const r = kvModel.step(state, call, o);
  return [r.ok, r.state];
}

describe('kvModel', () => {
  it('put and delete set and clear the value and accept any output', () => {
    expect(kv(null, { f: 'put', key: 'k', input: 'a' }, ok('ok'))).toEqual([true, 'a']);
    expect(kv('a', { f: 'delete', key: 'k', input: null }, ok('ok'))).toEqual([true, null]);
  });

  it('get must return the current value, null when absent', () => {
    expect(kv('a', { f: 'get', key: 'k', input: null }, ok('a'))).toEqual([true, 'a']);
    expect(kv('a', { f: 'get', key: 'k', input: null }, ok('b'))[0]).toBe(false);
    expect(kv(null, { f: 'get', key: 'k', input: null }, ok(null))[0]).toBe(true);
    expect(kv(null, { f: 'get', key: 'k', input: null }, ok('a'))[0]).toBe(false);
  });

  it('cas succeeds iff the value equals expected, null meaning absent', () => {
    const cas = (expected: string | null): KvCall => ({ f: 'cas', key: 'k', input: { expected, value: 'b' } });
    expect(kv('a', cas('a'), ok(true))).toEqual([true, 'b']);
    expect(kv('a', cas('a'), ok(false))[0]).toBe(false);
    expect(kv('x', cas('a'), ok(false))).toEqual([true, 'x']);
    expect(kv(null, cas(null), ok(true))).toEqual([true, 'b']);
    expect(kv('a', cas(null), ok(false))).toEqual([true, 'a']);
  });

  it('put_if_absent succeeds iff the key is absent', () => {
    const pia: KvCall = { f: 'put_if_absent', key: 'k', input: 'b' };
    expect(kv(null, pia, ok(true))).toEqual([true, 'b']);
    expect(kv('a', pia, ok(false))).toEqual([true, 'a']);
    expect(kv('a', pia, ok(true))[0]).toBe(false);
  });

  it('accepts any output of an unknown op, and still applies its effect', () => {
    expect(kv('a', { f: 'get', key: 'k', input: null }, unknown)).toEqual([true, 'a']);
    expect(kv('a', { f: 'cas', key: 'k', input: { expected: 'a', value: 'c' } }, unknown)).toEqual([true, 'c']);
  });
});

describe('counterModel', () => {
  it('incr returns the new value and get the current one, starting from 0', () => {
    expect(counterModel.step(0, { f: 'incr', key: 'c', input: 2 }, ok(2))).toEqual({ ok: true, state: 2 });
    expect(counterModel.step(2, { f: 'incr', key: 'c', input: 1 }, ok(2)).ok).toBe(false);
    expect(counterModel.step(2, { f: 'get', key: 'c', input: null }, ok(2)).ok).toBe(true);
    expect(counterModel.step(2, { f: 'get', key: 'c', input: null }, ok(0)).ok).toBe(false);
    expect(counterModel.step(2, { f: 'incr', key: 'c', input: 5 }, unknown)).toEqual({ ok: true, state: 7 });
  });
});

describe('partitionByKey and describeCall', () => {
  it('groups by key in order of first appearance, keyless ops together', () => {
    const ops = [{ key: 'b' }, { key: 'a' }, {}, { key: 'b' }, {}];
    expect(partitionByKey(ops)).toEqual([[{ key: 'b' }, { key: 'b' }], [{ key: 'a' }], [{}, {}]]);
  });

  it('prints f(key, input) -> output, with ? for unknown outcomes', () => {
    const op = { id: 1, client: 0, f: 'put', key: 'k', input: 'a', output: 'ok', invoke: 0, complete: 1, status: 'ok' } as const;
    expect(describeCall(op)).toBe('put("k", "a") -> "ok"');
    expect(describeCall({ ...op, f: 'get', input: null, status: 'unknown' })).toBe('get("k") -> ?');
  });
});

// A user's own machine: a FIFO queue, checked whole (no partitioning).
type QueueCall = { readonly f: 'enqueue'; readonly input: number } | { readonly f: 'dequeue'; readonly input: null };
const queueModel: Model<readonly number[], QueueCall, number | null> = {
  name: 'queue',
  init: () => [],
  step(queue, call, o) {
    if (call.f === 'enqueue') return { ok: true, state: [...queue, call.input] };
    const head = queue[0] ?? null;
    return { ok: o.type === 'unknown' || o.output === head, state: queue.slice(1) };
  },
  key: (queue) => queue.join(','),
  partition: (ops) => [[...ops]],
};

function qop(id: number, call: QueueCall, output: number | null, invoke: number, complete: number): Operation<QueueCall, number | null> {
  return { ...call, id, client: id, output, invoke, complete, status: 'ok' };
}

describe('a user-defined model', () => {
  it('accepts a FIFO history whose concurrent enqueues may be ordered either way', () => {
    const history = [
      qop(0, { f: 'enqueue', input: 1 }, null, 0, 10),
      qop(1, { f: 'enqueue', input: 2 }, null, 0, 10),
      qop(2, { f: 'dequeue', input: null }, 2, 11, 12),
      qop(3, { f: 'dequeue', input: null }, 1, 13, 14),
    ];
    expect(check(history, queueModel).result).toBe('ok');
  });

  it('rejects a LIFO order for sequential enqueues, naming no key for an unkeyed partition', () => {
    const history = [
      qop(0, { f: 'enqueue', input: 1 }, null, 0, 1),
      qop(1, { f: 'enqueue', input: 2 }, null, 2, 3),
      qop(2, { f: 'dequeue', input: null }, 2, 4, 5),
    ];
    const r = check(history, queueModel);
    expect(r.result).toBe('violation');
    if (r.result !== 'violation') return;
    expect(r.violation.key).toBeUndefined();
    expect(r.violation.window.map((op) => op.id)).toEqual([2]);
  });
});
