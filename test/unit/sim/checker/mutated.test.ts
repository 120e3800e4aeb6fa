import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../../../src/io/random.js';
import { check } from '../../../../src/sim/checker/check.js';
import type { Operation } from '../../../../src/sim/checker/history.js';
import { kvModel, type KvCall, type KvOutput } from '../../../../src/sim/checker/kv_model.js';
import { counterModel, type CounterCall, type CounterOutput } from '../../../../src/sim/checker/counter_model.js';
import { generateCounter, generateKv, resolveFromTruth, type GenerateOptions } from './generate.js';
import { expectMinimalWindow } from './window_check.js';

type KvOp = Operation<KvCall, KvOutput>;
const options: GenerateOptions = { ops: 300, clients: 5, keys: ['a', 'b', 'c'] };

function withOutput<T extends { readonly output?: unknown }>(ops: readonly T[], target: T, output: T['output']): T[] {
  return ops.map((op) => (op === target ? { ...op, output } : op));
}

const isOkGet = (op: KvOp): boolean => op.f === 'get' && op.status === 'ok';
const isOkPut = (op: KvOp): op is KvOp & { f: 'put' } => op.f === 'put' && op.status === 'ok';

/** A get that strictly follows put(a) then put(b) on its key, and the stale value a. */
function staleRead(history: readonly KvOp[]): { get: KvOp; stale: string } | null {
  for (const get of history.filter(isOkGet)) {
    const puts = history.filter((p) => isOkPut(p) && p.key === get.key && p.complete < get.invoke);
    for (const first of puts) {
      const later = puts.some((second) => second.invoke > first.complete && second.input !== first.input);
      if (later && get.output !== first.input) return { get, stale: first.input as string };
    }
  }
  return null;
}

/** Two ok puts on one key, the first ending before the second starts, and an ok get of the first's value ending before the second starts. */
function swappable(history: readonly KvOp[]): [KvOp, KvOp] | null {
  for (const read of history.filter(isOkGet)) {
    const first = history.find((p) => isOkPut(p) && p.key === read.key && p.input === read.output);
    const second = history.find((p) => isOkPut(p) && p.key === read.key && first !== undefined && p.invoke > first.complete && p.invoke > read.complete);
    if (first !== undefined && second !== undefined) return [first, second];
  }
  return null;
}

describe('mutated kv histories', () => {
  it('rejects a read of a value never written, with a minimal failing window on its key', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const history = generateKv(new SeededRandom(seed), options);
      const get = history.filter(isOkGet)[seed % 7]!;
      const r = check(withOutput(history, get, 'never_written'), kvModel);
      expect(r.result, `seed ${seed}`).toBe('violation');
      if (r.result === 'violation') expect(r.violation.key).toBe(get.key);
      expectMinimalWindow(r, kvModel);
    }
  });

  it('rejects a stale read (a value overwritten before the read began)', () => {
    let found = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const history = generateKv(new SeededRandom(seed), options);
      const stale = staleRead(history);
      if (stale === null) continue;
      found++;
      const r = check(withOutput(history, stale.get, stale.stale), kvModel);
      expectMinimalWindow(r, kvModel);
    }
    expect(found).toBeGreaterThan(30);
  });

  it('rejects two non-overlapping writes whose effects are swapped', () => {
    let found = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const history = generateKv(new SeededRandom(seed), options);
      const pair = swappable(history);
      if (pair === null) continue;
      found++;
      const [first, second] = pair;
      const mutated = history.map((op) => (op === first ? { ...op, input: second.input } : op === second ? { ...op, input: first.input } : op));
      expectMinimalWindow(check(mutated as KvOp[], kvModel), kvModel);
    }
    expect(found).toBeGreaterThan(30);
  });

  it('rejects a cas reported as failed although the value matched and nothing overlapped', () => {
    const op = (id: number, call: KvCall, output: KvOutput, invoke: number): KvOp => ({ ...call, id, client: 0, output, invoke, complete: invoke + 1, status: 'ok' });
    const history = [
      op(0, { f: 'put', key: 'k', input: 'a' }, 'ok', 0),
      op(1, { f: 'cas', key: 'k', input: { expected: 'a', value: 'b' } }, false, 10),
    ];
    const r = check(history, kvModel);
    expectMinimalWindow(r, kvModel);
    if (r.result === 'violation') expect(r.violation.window.map((o) => o.id)).toEqual([1]);
  });

  it('prints the window with times and the longest linearizable prefix', () => {
    const op = (id: number, call: KvCall, output: KvOutput, invoke: number, complete: number): KvOp => ({ ...call, id, client: id, output, invoke, complete, status: 'ok' });
    const history = [
      op(0, { f: 'put', key: 'k', input: 'a' }, 'ok', 0, 1),
      op(1, { f: 'put', key: 'k', input: 'b' }, 'ok', 2, 3),
      op(2, { f: 'get', key: 'k', input: null }, 'a', 4, 5),
      op(3, { f: 'get', key: 'j', input: null }, null, 4, 5),
    ];
    const r = check(history, kvModel);
    expect(r.result).toBe('violation');
    if (r.result !== 'violation') return;
    expect(r.violation.key).toBe('k');
    expect(r.violation.window.map((o) => o.id)).toEqual([2]);
    expect(r.violation.report).toMatchInlineSnapshot(`
      "not linearizable (kv model) on key "k"; smallest failing window: 1 operation(s)
      window, in invoke order (ops outside it still took effect in their interval, but their outputs are ignored):
        [       4,        5] client 2    #2     get("k") -> "a"
      longest linearizable prefix (0 of 1 window ops), with the state after each:
           1. [       0,        1] client 0    #0     put("k", "a") -> "ok" (outside window: output ignored)  => "a"
           2. [       2,        3] client 1    #1     put("k", "b") -> "ok" (outside window: output ignored)  => "b"
      window ops it could not linearize: #2"
    `);
  });
});

describe('large mutated histories', () => {
  it('finds and shrinks a bad read among 5,000 ops on one key once unknown ops are resolved', () => {
    const history = generateKv(new SeededRandom(3), { ops: 5_000, clients: 5, keys: ['k'], pUnknown: 0.05 });
    const get = history.filter(isOkGet)[1_500]!;
    const r = check(withOutput(history, get, 'never_written'), kvModel, { resolve: resolveFromTruth, budget: { maxSteps: 2_000_000 } });
    expect(r.result).toBe('violation');
    if (r.result !== 'violation') return;
    expect(r.violation.minimal).toBe(true);
    expect(r.violation.window).toHaveLength(1);
    expect(r.violation.window[0]!.id).toBe(get.id);
  });
});

describe('mutated counter histories', () => {
  type CounterOp = Operation<CounterCall, CounterOutput>;
  const okIncrs = (h: readonly CounterOp[]): CounterOp[] => h.filter((op) => op.f === 'incr' && op.status === 'ok');

  it('rejects an increment whose returned value is off by one', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const history = generateCounter(new SeededRandom(seed), options);
      const incr = okIncrs(history)[seed % 5]!;
      const r = check(withOutput(history, incr, (incr.output as number) + 1000), counterModel);
      expectMinimalWindow(r, counterModel);
    }
  });

  it('rejects two increments that both return the same value', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const history = generateCounter(new SeededRandom(seed), options);
      const incrs = okIncrs(history);
      const a = incrs[seed % 5]!;
      const b = incrs.find((op) => op.key === a.key && op !== a)!;
      const r = check(withOutput(history, b, a.output), counterModel);
      expectMinimalWindow(r, counterModel);
    }
  });
});
