import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../../../src/io/random.js';
import { check } from '../../../../src/sim/checker/check.js';
import { kvModel } from '../../../../src/sim/checker/kv_model.js';
import { counterModel } from '../../../../src/sim/checker/counter_model.js';
import { generateCounter, generateKv } from './generate.js';

describe('legal histories', () => {
  it('accepts generated kv histories over 200 seeds, with fail and unknown ops', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = new SeededRandom(seed);
      const clients = random.between(1, 8);
      const history = generateKv(random, { ops: random.between(1, 300), clients, keys: ['a', 'b', 'c'] });
      const r = check(history, kvModel, { budget: { maxSteps: 2_000_000 } });
      expect(r.result, `seed ${seed}`).toBe('ok');
    }
  });

  it('accepts generated counter histories over 200 seeds, with fail and unknown ops', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = new SeededRandom(seed);
      const clients = random.between(1, 8);
      const history = generateCounter(random, { ops: random.between(1, 300), clients, keys: ['x', 'y'] });
      const r = check(history, counterModel, { budget: { maxSteps: 2_000_000 } });
      expect(r.result, `seed ${seed}`).toBe('ok');
    }
  });

  it('accepts kv histories drawing from a small value set, where reads are ambiguous', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const random = new SeededRandom(seed);
      const options = { ops: 200, clients: 6, keys: ['a'], values: ['x', 'y', 'z'], pUnknown: 0.1 };
      expect(check(generateKv(random, options), kvModel).result, `seed ${seed}`).toBe('ok');
    }
  });

  it('checks 10,000 kv ops on 4 keys with 10 clients in under 30 search steps per op', () => {
    const random = new SeededRandom(7);
    const history = generateKv(random, { ops: 10_000, clients: 10, keys: ['a', 'b', 'c', 'd'] });
    const r = check(history, kvModel, { budget: { maxSteps: 300_000 } });
    expect(r.result).toBe('ok');
    expect(r.partitions).toBe(4);
  });

  it('checks 5,000 counter ops on one name with 8 clients in under 30 search steps per op', () => {
    const random = new SeededRandom(8);
    const history = generateCounter(random, { ops: 5_000, clients: 8, keys: ['n'] });
    expect(check(history, counterModel, { budget: { maxSteps: 150_000 } }).result).toBe('ok');
  });
});
