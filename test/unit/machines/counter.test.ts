import { describe, expect, it } from 'vitest';
import { CounterMachine, type CounterCommand } from '../../../machines/counter.js';

describe('counter machine', () => {
  it('increments, decrements and resets named counters, replying with the new value', () => {
    const m = new CounterMachine();
    let state = m.init();
    const cmds: CounterCommand[] = [
      { type: 'incr' },
      { type: 'incr', by: 5 },
      { type: 'decr', by: 2 },
      { type: 'incr', name: 'other', by: 10 },
      { type: 'reset' },
    ];
    const replies = cmds.map((c, i) => {
      const r = m.apply({ index: i + 1, term: 1, timestamp: 0, machineVersion: 1 }, c, state);
      state = r.state;
      return r.reply;
    });
    expect(replies).toEqual([1, 6, 4, 10, 0]);
    expect(m.queries.get(state, undefined)).toBe(0);
    expect(m.queries.get(state, 'other')).toBe(10);
    expect(m.restore(m.snapshot(state))).toEqual(state);
  });

  it('rejects a non-integer step without changing anything', () => {
    const m = new CounterMachine();
    const state = m.init();
    expect(m.apply({ index: 1, term: 1, timestamp: 0, machineVersion: 1 }, { type: 'incr', by: 0.5 }, state).reply).toEqual({ error: 'by must be a safe integer' });
    expect(state.size).toBe(0);
  });
});
