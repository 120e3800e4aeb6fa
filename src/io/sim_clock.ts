// Virtual time for deterministic runs. Deferred work runs in FIFO order; when
// nothing is runnable, time jumps to the next timer. One thread of control and
// no real time, so a run is a pure function of its seed and inputs.
import { Heap } from '../lib/heap.js';
import { Queue } from '../lib/queue.js';
import type { Clock, TimerHandle } from './clock.js';

class SimTimer implements TimerHandle {
  cancelled = false;
  constructor(
    readonly due: number,
    readonly seq: number,
    readonly fn: () => void,
  ) {}
}

/** Options of a SimClock. */
export interface SimClockOptions {
  /** Virtual start time in epoch milliseconds. */
  startMs?: number;
}

/** A Clock whose time only moves when the simulation runs. */
export class SimClock implements Clock {
  private time: number;
  private seq = 0;
  private readonly ready = new Queue<() => void>();
  private readonly timers = new Heap<SimTimer>((a, b) => a.due < b.due || (a.due === b.due && a.seq < b.seq));
  /** Number of tasks and timers run so far. */
  steps = 0;

  constructor(options: SimClockOptions = {}) {
    this.time = options.startMs ?? 1_700_000_000_000;
  }

  /** Current virtual time. */
  now(): number {
    return this.time;
  }

  /** Schedules `fn` at now + delayMs of virtual time. */
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer = new SimTimer(this.time + Math.max(0, delayMs), this.seq++, fn);
    this.timers.push(timer);
    return timer;
  }

  /** Cancels a timer. */
  clearTimer(handle: TimerHandle): void {
    (handle as SimTimer).cancelled = true;
  }

  /** Queues `fn` to run before time next moves. */
  defer(fn: () => void): void {
    this.ready.push(fn);
  }

  /** The same as `defer`: in virtual time nothing waits on I/O in between. */
  soon(fn: () => void): void {
    this.ready.push(fn);
  }

  /** Moves time forward by `ms` without running anything; overdue timers then fire in order. */
  jump(ms: number): void {
    this.time += Math.max(0, ms);
  }

  /** Due time of the next live timer, or undefined. */
  nextTimerDue(): number | undefined {
    this.dropCancelled();
    return this.timers.peek()?.due;
  }

  /** True when nothing is runnable and no timer is pending. */
  idle(): boolean {
    return this.ready.length === 0 && this.nextTimerDue() === undefined;
  }

  /**
   * Runs one deferred task, or else advances to the earliest timer (if it is due
   * by `limitMs`) and runs it. Returns false when there was nothing to do.
   */
  step(limitMs = Infinity): boolean {
    const task = this.ready.shift();
    if (task !== undefined) {
      this.steps++;
      task();
      return true;
    }
    this.dropCancelled();
    const timer = this.timers.peek();
    if (timer === undefined || timer.due > limitMs) return false;
    this.timers.pop();
    if (timer.due > this.time) this.time = timer.due;
    timer.cancelled = true;
    this.steps++;
    timer.fn();
    return true;
  }

  /** Runs one deferred task or one timer already due, without moving time. Returns false if there was none. */
  stepNow(): boolean {
    return this.step(this.time);
  }

  /** Runs everything due within the next `ms` of virtual time, then sets time to now + ms. */
  runFor(ms: number): void {
    const end = this.time + ms;
    while (this.step(end));
    if (this.time < end) this.time = end;
  }

  /**
   * Runs until `done()` holds, checking after every step; gives up after `maxMs`
   * of virtual time. Returns whether `done()` held.
   */
  runUntil(done: () => boolean, maxMs = 60_000): boolean {
    const end = this.time + maxMs;
    while (!done()) {
      if (!this.step(end)) return done();
    }
    return true;
  }

  /** Runs until no task and no timer remain, or `maxSteps` steps have run. Returns whether it went idle. */
  runUntilIdle(maxSteps = 10_000_000): boolean {
    for (let i = 0; i < maxSteps; i++) {
      if (!this.step()) return true;
    }
    return false;
  }

  /**
   * Drives the simulation until `promise` settles, letting promise callbacks run
   * between steps. Rejects with an Error if it has not settled after `maxMs` of virtual time.
   */
  async settle<T>(promise: Promise<T>, maxMs = 60_000): Promise<T> {
    return this.settleWith(promise, maxMs, () => {});
  }

  /**
   * Like settle, calling `afterStep` after every step. Promise callbacks run
   * before time moves: a continuation runs at the same virtual instant as the
   * event that resolved its promise, whatever else is scheduled later.
   */
  async settleWith<T>(promise: Promise<T>, maxMs: number, afterStep: () => void): Promise<T> {
    let settled = false;
    const watched = promise.finally(() => {
      settled = true;
    });
    watched.catch(() => {});
    const end = this.time + maxMs;
    while (!settled) {
      let ran = 0;
      while (ran < 256 && this.stepNow()) {
        afterStep();
        ran++;
      }
      await flushMicrotasks();
      if (settled || ran > 0) continue;
      // Nothing runnable at this instant, and no promise callback scheduled anything: move time.
      if (!this.step(end)) throw new Error(`SimClock.settle: promise still pending after ${maxMs} ms of virtual time`);
      afterStep();
    }
    return watched;
  }

  /** Lets every queued promise callback run; virtual time does not move. */
  yieldToPromises(): Promise<void> {
    return flushMicrotasks();
  }

  private dropCancelled(): void {
    while (this.timers.peek()?.cancelled === true) this.timers.pop();
  }
}

/**
 * Lets every queued promise callback run, however deep the chain: a macrotask
 * starts only once the microtask queue is empty. Virtual time does not move.
 */
function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
