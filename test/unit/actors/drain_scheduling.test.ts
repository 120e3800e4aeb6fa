// When the ActorSystem runs its drains: from a microtask when work arrives
// from outside (a bounded number in a row), behind pending I/O otherwise.
import { describe, expect, it } from 'vitest';
import { Actor, type From } from '../../../src/actors/actor.js';
import { ActorSystem } from '../../../src/actors/actor_system.js';
import { RealClock, type Clock, type TimerHandle } from '../../../src/io/clock.js';

class Collector extends Actor<number, number[]> {
  private log: number[] = [];
  override init(log: number[]): void {
    this.log = log;
  }
  handle(n: number): void {
    this.log.push(n);
  }
  override handleCall(n: number, from: From): void {
    from.reply(n + 1);
  }
}

/** A clock whose `soon` and `defer` queues the test runs by hand, recording which one ran. */
class StepClock implements Clock {
  readonly queued: { kind: 'soon' | 'defer'; fn: () => void }[] = [];
  now(): number {
    return 0;
  }
  setTimer(): TimerHandle {
    throw new Error('no timers in this test');
  }
  clearTimer(): void {}
  defer(fn: () => void): void {
    this.queued.push({ kind: 'defer', fn });
  }
  soon(fn: () => void): void {
    this.queued.push({ kind: 'soon', fn });
  }
  /** Runs everything queued, in order; returns the kinds that ran. */
  runAll(): string[] {
    const kinds: string[] = [];
    for (let job = this.queued.shift(); job !== undefined; job = this.queued.shift()) {
      kinds.push(job.kind);
      job.fn();
    }
    return kinds;
  }
}

describe('ActorSystem drain scheduling', () => {
  it('starts at most soonDrainsMax drains from microtasks in a row, then one behind I/O, which resets the count', () => {
    const clock = new StepClock();
    const system = new ActorSystem({ clock, soonDrainsMax: 3 });
    const log: number[] = [];
    const a = system.spawn(Collector, log);
    const kinds: string[] = [];
    for (let n = 1; n <= 6; n++) {
      system.send(a, n);
      kinds.push(...clock.runAll());
    }
    expect(kinds).toEqual(['soon', 'soon', 'soon', 'defer', 'soon', 'soon']);
    expect(log).toEqual([1, 2, 3, 4, 5, 6]);
  });

  // Each turn counts its messages plus one: two turns of one message fill a drainMax of 4.
  it('defers what a drain leaves over, so that I/O goes first', () => {
    const clock = new StepClock();
    const system = new ActorSystem({ clock, sliceMax: 1, drainMax: 4 });
    const log: number[] = [];
    const a = system.spawn(Collector, log);
    for (let n = 1; n <= 3; n++) system.send(a, n);
    expect(clock.runAll()).toEqual(['soon', 'defer']);
    expect(log).toEqual([1, 2, 3]);
  });

  it('defers the work queued during a drain that something threw out of', () => {
    const clock = new StepClock();
    // Crash reports are the last line of defence; one that throws escapes the drain.
    const failing = { debug() {}, info() {}, warn() {}, error(): void { throw new Error('logger down'); } };
    const system = new ActorSystem({ clock, logger: failing });
    const log: number[] = [];
    const b = system.spawn(Collector, log);
    class Crasher extends Actor<number, undefined> {
      handle(n: number): void {
        system.send(b, n);
        throw new Error('crash');
      }
      override terminate(): void {
        throw new Error('terminate crash');
      }
    }
    const a = system.spawn(Crasher, undefined);
    system.send(a, 7);
    expect(() => clock.runAll()).toThrow('logger down');
    expect(clock.queued.map((j) => j.kind)).toEqual(['defer']);
    clock.runAll();
    expect(log).toEqual([7]);
  });

  it('with soonDrainsMax 0 runs every drain behind I/O, and refuses a negative bound', () => {
    const clock = new StepClock();
    const system = new ActorSystem({ clock, soonDrainsMax: 0 });
    const log: number[] = [];
    const a = system.spawn(Collector, log);
    system.send(a, 1);
    system.send(a, 2);
    expect(clock.runAll()).toEqual(['defer']);
    expect(log).toEqual([1, 2]);
    expect(() => new ActorSystem({ clock, soonDrainsMax: -1 })).toThrow('soonDrainsMax');
  });

  it('under real time handles a message before I/O callbacks already pending', async () => {
    const system = new ActorSystem({ clock: new RealClock() });
    const log: number[] = [];
    const a = system.spawn(Collector, log);
    const pending = new Promise<void>((resolve) =>
      setImmediate(() => {
        log.push(-1);
        resolve();
      }),
    );
    system.send(a, 1);
    await pending;
    expect(log).toEqual([1, -1]);
    await system.shutdown();
  });

  it('under real time lets I/O in during an endless chain of calls and replies', async () => {
    const system = new ActorSystem({ clock: new RealClock(), soonDrainsMax: 16 });
    const a = system.spawn(Collector, []);
    let ioRan = false;
    setImmediate(() => (ioRan = true));
    let calls = 0;
    for (let n = 0; !ioRan && calls < 10_000; calls++) n = await system.call<number>(a, n, 1000);
    expect(ioRan).toBe(true);
    // Sixteen drains from microtasks, then one behind the pending setImmediate.
    expect(calls).toBeGreaterThan(16);
    expect(calls).toBeLessThan(20);
    await system.shutdown();
  });
});
