// Time as an injected service. Everything under src/ asks a Clock for the
// time and for timers, so the same code runs under real time or SimClock.

/** Opaque handle of a scheduled timer. */
export interface TimerHandle {
  readonly cancelled: boolean;
}

/** The source of time, timers and deferred work. */
export interface Clock {
  /** Milliseconds since the Unix epoch (may be fractional); never goes backwards under RealClock. */
  now(): number;
  /** Runs `fn` once, `delayMs` from now. */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
  /** Cancels a timer; cancelling a fired or cancelled timer does nothing. */
  clearTimer(handle: TimerHandle): void;
  /** Runs `fn` soon, after the current work and after pending I/O callbacks. */
  defer(fn: () => void): void;
  /**
   * Runs `fn` as soon as the current synchronous work ends, before any I/O
   * (a microtask under RealClock). A caller that chains these must bound the
   * chain itself, or I/O starves.
   */
  soon(fn: () => void): void;
}

class RealTimer implements TimerHandle {
  cancelled = false;
  constructor(public timeout: ReturnType<typeof setTimeout> | undefined) {}
}

/** Wall-clock time with Node's timers; the only place that touches them. */
export class RealClock implements Clock {
  private readonly origin = performance.timeOrigin;

  /** Monotonic milliseconds since the epoch. */
  now(): number {
    return this.origin + performance.now();
  }

  /** Schedules `fn` with setTimeout. */
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer = new RealTimer(undefined);
    timer.timeout = setTimeout(() => {
      if (timer.cancelled) return;
      timer.cancelled = true;
      fn();
    }, Math.max(0, delayMs));
    return timer;
  }

  /** Cancels a timer made by this clock. */
  clearTimer(handle: TimerHandle): void {
    const timer = handle as RealTimer;
    if (timer.cancelled) return;
    timer.cancelled = true;
    clearTimeout(timer.timeout);
  }

  /** Schedules `fn` with setImmediate. */
  defer(fn: () => void): void {
    setImmediate(fn);
  }

  /** Schedules `fn` with queueMicrotask. */
  soon(fn: () => void): void {
    queueMicrotask(fn);
  }
}

/** Resolves after `ms` of the given clock's time. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(ms, resolve));
}
