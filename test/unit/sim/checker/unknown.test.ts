import { describe, expect, it } from 'vitest';
import { check } from '../../../../src/sim/checker/check.js';
import type { Operation, OpStatus } from '../../../../src/sim/checker/history.js';
import { kvModel, type KvCall, type KvOutput } from '../../../../src/sim/checker/kv_model.js';
import { counterModel, type CounterCall, type CounterOutput } from '../../../../src/sim/checker/counter_model.js';
import type { Resolution } from '../../../../src/sim/checker/prepare.js';
import { expectMinimalWindow } from './window_check.js';

type KvOp = Operation<KvCall, KvOutput>;
type CounterOp = Operation<CounterCall, CounterOutput>;

let nextId = 0;
function kv(call: KvCall, output: KvOutput | undefined, invoke: number, complete: number, status: OpStatus = 'ok'): KvOp {
  return { ...call, id: nextId++, client: nextId, output, invoke, complete, status };
}
function counter(call: CounterCall, output: number | undefined, invoke: number, complete: number, status: OpStatus = 'ok'): CounterOp {
  return { ...call, id: nextId++, client: nextId, output, invoke, complete, status };
}
const put = (value: string): KvCall => ({ f: 'put', key: 'k', input: value });
const get: KvCall = { f: 'get', key: 'k', input: null };
const incr: CounterCall = { f: 'incr', key: 'n', input: 1 };
const read: CounterCall = { f: 'get', key: 'n', input: null };

describe('unknown (timed-out) operations', () => {
  it('accepts a read explained only by an unknown write having happened', () => {
    const history = [kv(put('a'), undefined, 0, 5, 'unknown'), kv(get, 'a', 10, 11)];
    expect(check(history, kvModel).result).toBe('ok');
  });

  it('accepts an unknown write taking effect after its client gave up, even after a later write', () => {
    const history = [kv(put('a'), undefined, 0, 5, 'unknown'), kv(put('b'), 'ok', 6, 7), kv(get, 'a', 10, 11)];
    expect(check(history, kvModel).result).toBe('ok');
  });

  it('accepts reads that never see an unknown write (it did not happen)', () => {
    const history = [kv(put('a'), undefined, 0, 5, 'unknown'), kv(get, null, 10, 11), kv(get, null, 20, 21)];
    expect(check(history, kvModel).result).toBe('ok');
  });

  it('rejects reads that need one unknown write to have happened twice', () => {
    const history = [
      kv(put('a'), undefined, 0, 1, 'unknown'),
      kv(get, 'a', 2, 3),
      kv(put('b'), 'ok', 4, 5),
      kv(get, 'a', 6, 7),
    ];
    expectMinimalWindow(check(history, kvModel), kvModel);
  });

  it('rejects a counter that moved twice on one unknown increment', () => {
    const history = [counter(incr, undefined, 0, 1, 'unknown'), counter(read, 1, 2, 3), counter(read, 2, 4, 5)];
    const r = check(history, counterModel);
    expectMinimalWindow(r, counterModel);
  });

  it('rejects a read of an unknown write that completed before the write was invoked', () => {
    const history = [kv(get, 'a', 0, 1), kv(put('a'), undefined, 5, 6, 'unknown')];
    const r = check(history, kvModel);
    expectMinimalWindow(r, kvModel);
    if (r.result === 'violation') expect(r.violation.window.map((op) => op.f)).toEqual(['get']);
  });

  it('drops failed operations: a read of a failed write is a violation', () => {
    const history = [kv(put('a'), undefined, 0, 1, 'fail'), kv(get, 'a', 2, 3)];
    expect(check(history, kvModel).result).toBe('violation');
  });

  it('treats touching intervals as concurrent, and disjoint ones as ordered', () => {
    const ordered = [kv(put('a'), 'ok', 0, 4), kv(put('b'), 'ok', 5, 6), kv(get, 'a', 7, 8)];
    expect(check(ordered, kvModel).result).toBe('violation');
    const touching = [kv(put('a'), 'ok', 0, 5), kv(put('b'), 'ok', 5, 6), kv(get, 'a', 7, 8)];
    expect(check(touching, kvModel).result).toBe('ok');
  });
});

describe('resolving unknown operations from the committed log', () => {
  const history = [kv(put('a'), undefined, 0, 5, 'unknown'), kv(get, 'a', 10, 11)];

  it('rejects a read of an unknown write the log says did not happen', () => {
    const r = check(history, kvModel, { resolve: () => ({ type: 'not_happened' }) });
    expect(r.result).toBe('violation');
  });

  it('places a write the log says happened by a given time before a later read', () => {
    const quiet = [kv(put('a'), undefined, 0, 5, 'unknown'), kv(get, null, 10, 11)];
    expect(check(quiet, kvModel).result).toBe('ok');
    // Without a time it may have happened after the read.
    expect(check(quiet, kvModel, { resolve: () => ({ type: 'happened' }) }).result).toBe('ok');
    expect(check(quiet, kvModel, { resolve: () => ({ type: 'happened', complete: 7 }) }).result).toBe('violation');
    expect(() => check(quiet, kvModel, { resolve: () => ({ type: 'happened', complete: -1 }) })).toThrow(/before its invoke/);
  });

  it('checks the output the log says a resolved op produced', () => {
    const cas: KvCall = { f: 'cas', key: 'k', input: { expected: null, value: 'b' } };
    const ops = [kv(cas, undefined, 0, 5, 'unknown'), kv(get, 'b', 10, 11)];
    const said = (output: boolean) => (): Resolution<KvOutput> => ({ type: 'happened', output });
    expect(check(ops, kvModel, { resolve: said(true) }).result).toBe('ok');
    expect(check(ops, kvModel, { resolve: said(false) }).result).toBe('violation');
  });

  it('leaves an op unknown when the resolver cannot tell', () => {
    expect(check(history, kvModel, { resolve: () => ({ type: 'unknown' }) }).result).toBe('ok');
  });
});
