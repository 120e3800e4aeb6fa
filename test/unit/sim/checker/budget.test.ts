import { describe, expect, it } from 'vitest';
import { check } from '../../../../src/sim/checker/check.js';
import { deadlineAfter, DEADLINE_POLL_STEPS } from '../../../../src/sim/checker/budget.js';
import type { Operation } from '../../../../src/sim/checker/history.js';
import { kvModel, type KvCall, type KvOutput } from '../../../../src/sim/checker/kv_model.js';

type KvOp = Operation<KvCall, KvOutput>;

/** `writers` puts all concurrent on `key`, then a read of a value none of them wrote: disproving it means trying every order. */
function pathological(key: string, writers: number, firstId = 0): KvOp[] {
  const puts: KvOp[] = Array.from({ length: writers }, (_, i) => ({
    f: 'put', key, input: `v${i}`, id: firstId + i, client: i, output: 'ok', invoke: 0, complete: 100, status: 'ok',
  }));
  const read: KvOp = { f: 'get', key, input: null, id: firstId + writers, client: writers, output: 'nobody_wrote_this', invoke: 101, complete: 102, status: 'ok' };
  return [...puts, read];
}

describe('budget', () => {
  it('gives up with unknown and a reason once the step budget is spent, instead of searching 2^24 orders', () => {
    const r = check(pathological('k', 24), kvModel, { budget: { maxSteps: 200_000 } });
    expect(r.result).toBe('unknown');
    if (r.result !== 'unknown') return;
    expect(r.steps).toBe(200_001);
    expect(r.key).toBe('k');
    expect(r.reason).toBe('step budget of 200000 search steps exhausted on key "k" (25 ops); 0 of 1 partitions checked');
  });

  it('gives up at an injected deadline, polled every DEADLINE_POLL_STEPS steps', () => {
    let t = 0;
    const deadline = deadlineAfter(10, () => t++);
    const r = check(pathological('k', 24), kvModel, { budget: { deadline } });
    expect(r.result).toBe('unknown');
    if (r.result !== 'unknown') return;
    expect(r.steps).toBe(10 * DEADLINE_POLL_STEPS);
    expect(r.reason).toMatch(/^deadline passed after 10240 search steps/);
  });

  it('still reports a violation on a small key when a large key would spend the budget', () => {
    const small: KvOp[] = [
      { f: 'put', key: 's', input: 'a', id: 100, client: 0, output: 'ok', invoke: 0, complete: 1, status: 'ok' },
      { f: 'get', key: 's', input: null, id: 101, client: 0, output: 'b', invoke: 2, complete: 3, status: 'ok' },
    ];
    const r = check([...pathological('k', 24), ...small], kvModel, { budget: { maxSteps: 200_000 } });
    expect(r.result).toBe('violation');
    if (r.result === 'violation') expect(r.violation.key).toBe('s');
  });

  it('reports a sound but unshrunk window when shrinking runs out of its own allowance', () => {
    const history = pathological('k', 6);
    const r = check(history, kvModel, { budget: { maxSteps: 200_000, shrinkMaxSteps: 10 } });
    expect(r.result).toBe('violation');
    if (r.result !== 'violation') return;
    expect(r.violation.minimal).toBe(false);
    expect(r.violation.window.length).toBe(history.length);
    expect(r.violation.prefix).toBeNull();
    expect(r.violation.report).toContain('not fully shrunk');
  });

  it('decides the same pathological shape when it is small enough for the budget', () => {
    expect(check(pathological('k', 8), kvModel, { budget: { maxSteps: 200_000 } }).result).toBe('violation');
  });
});
