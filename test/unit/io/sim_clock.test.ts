import { describe, expect, it } from 'vitest';
import { SimClock } from '../../../src/io/sim_clock.js';

describe('SimClock', () => {
  it('runs deferred and soon work before moving time, and timers in due order (ties in scheduling order)', () => {
    const clock = new SimClock({ startMs: 0 });
    const log: string[] = [];
    clock.setTimer(20, () => log.push(`b@${clock.now()}`));
    clock.setTimer(10, () => log.push(`a@${clock.now()}`));
    clock.setTimer(20, () => log.push(`c@${clock.now()}`));
    const cancelled = clock.setTimer(15, () => log.push('never'));
    clock.defer(() => log.push(`deferred@${clock.now()}`));
    clock.soon(() => log.push(`soon@${clock.now()}`));
    clock.clearTimer(cancelled);
    clock.runFor(100);
    // `soon` is `defer` in virtual time: both run before time moves, in the order queued.
    expect(log).toEqual(['deferred@0', 'soon@0', 'a@10', 'b@20', 'c@20']);
    expect(clock.now()).toBe(100);
    expect(clock.idle()).toBe(true);
  });

  it('fires overdue timers after a clock jump', () => {
    const clock = new SimClock({ startMs: 0 });
    const log: number[] = [];
    clock.setTimer(1000, () => log.push(clock.now()));
    clock.jump(5000);
    clock.runUntilIdle();
    expect(log).toEqual([5000]);
  });

  it('settles a promise by driving virtual time, and reports one that never settles', async () => {
    const clock = new SimClock({ startMs: 0 });
    const p = new Promise<string>((resolve) => clock.setTimer(250, () => resolve('done')));
    await expect(clock.settle(p)).resolves.toBe('done');
    expect(clock.now()).toBe(250);
    await expect(clock.settle(new Promise(() => {}), 1000)).rejects.toThrow(/still pending/);
  });
});
