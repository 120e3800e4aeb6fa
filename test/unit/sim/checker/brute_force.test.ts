import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../../../src/io/random.js';
import { check } from '../../../../src/sim/checker/check.js';
import type { Call, Operation, OpStatus } from '../../../../src/sim/checker/history.js';
import { kvModel, type KvCall, type KvOutput } from '../../../../src/sim/checker/kv_model.js';
import { counterModel, type CounterCall, type CounterOutput } from '../../../../src/sim/checker/counter_model.js';
import { bruteForce, wholeKvModel } from './brute_force.js';
import { generateCounter, generateKv } from './generate.js';
import { expectMinimalWindow } from './window_check.js';

const VALUES = ['x', 'y'];

/** Random intervals and statuses over a legal run, then with probability 1/2 a few outputs replaced at random. */
function scramble<C extends Call, O>(random: SeededRandom, history: Operation<C, O>[], randomOutput: (op: C) => O): Operation<C, O>[] {
  const corrupt = random.chance(0.5);
  return history.map((op) => {
    const invoke = random.between(0, 12);
    const complete = invoke + random.between(0, 6);
    const status: OpStatus = op.status;
    const output = corrupt && op.status === 'ok' && random.chance(0.3) ? { output: randomOutput(op) } : {};
    // Keep the generator's outputs (a legal run) most of the time, but with new, overlapping intervals.
    return random.chance(0.5) ? { ...op, ...output } : { ...op, invoke, complete, status, ...output };
  });
}

function kvOutput(random: SeededRandom, call: KvCall): KvOutput {
  switch (call.f) {
    case 'get':
      return random.chance(0.3) ? null : random.pick(VALUES);
    case 'cas':
    case 'put_if_absent':
      return random.chance(0.5);
    default:
      return 'ok';
  }
}

function agree<S, C extends Call, O>(history: Operation<C, O>[], verdict: boolean, model: Parameters<typeof check<S, C, O>>[1]): boolean {
  const r = check(history, model);
  expect(r.result).toBe(verdict ? 'ok' : 'violation');
  if (!verdict) expectMinimalWindow(r, model);
  return verdict;
}

describe('agreement with brute force on small histories', () => {
  it('agrees on 1,000 random kv histories of up to 7 ops over 2 keys', () => {
    const verdicts = { ok: 0, violation: 0 };
    for (let seed = 1; seed <= 1000; seed++) {
      const random = new SeededRandom(seed);
      const legal = generateKv(random, { ops: random.between(1, 7), clients: 3, keys: ['a', 'b'], values: VALUES, pUnknown: 0.15, pFail: 0.1 });
      const history = scramble(random, legal, (call) => kvOutput(random, call));
      const expected = bruteForce(history, wholeKvModel);
      verdicts[agree(history, expected, kvModel) ? 'ok' : 'violation']++;
    }
    expect(verdicts.ok).toBeGreaterThan(200);
    expect(verdicts.violation).toBeGreaterThan(200);
  });

  it('agrees on 400 random counter histories of up to 7 ops on one name', () => {
    const verdicts = { ok: 0, violation: 0 };
    for (let seed = 1; seed <= 400; seed++) {
      const random = new SeededRandom(seed);
      const legal = generateCounter(random, { ops: random.between(1, 7), clients: 3, keys: ['n'], pUnknown: 0.15, pFail: 0.1 });
      const history = scramble<CounterCall, CounterOutput>(random, legal, () => random.between(0, 8));
      const expected = bruteForce(history, counterModel);
      verdicts[agree(history, expected, counterModel) ? 'ok' : 'violation']++;
    }
    expect(verdicts.ok).toBeGreaterThan(100);
    expect(verdicts.violation).toBeGreaterThan(100);
  });
});
