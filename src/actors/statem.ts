// gen_statem for Concord: a state name plus data, one handler per state,
// `enter` on state change, postpone, next events, and three timeout kinds
// (state, event, named generic), each generation-tagged so a late fire is dropped.
//
// Ordering rules kept from gen_statem: only `reply` takes effect inside the
// handler; the other actions apply after it returns. On a state change the
// state timeout is cancelled, postponed events go back to the front of the
// queue (oldest first) behind any next events, then `enter` runs.
import { assert } from '../lib/assert.js';
import { Queue } from '../lib/queue.js';
import type { TimerHandle } from '../io/clock.js';
import { Actor, From, TimerFired, type ActorRef, type ExitReason } from './actor.js';

/** What kind of event a state handler is given. */
export type EventKind = 'cast' | 'call' | 'internal' | 'state_timeout' | 'event_timeout' | 'timeout';

/** The handlers of one state. */
export interface StateHandler<S extends string, E> {
  /** Runs after the machine enters this state (also for the initial state, with `from` equal to it). */
  enter?(from: S): void;
  /** Handles one event in this state; `from` is set for `call` events. */
  handle(kind: EventKind, event: E, from: From | undefined): void;
}

interface QueuedEvent<E> {
  kind: EventKind;
  event: E;
  from: From | undefined;
}

interface TimeoutSlot {
  generation: number;
  timer: TimerHandle;
}

interface FiredTimeout<E> {
  kind: 'state_timeout' | 'event_timeout' | 'timeout';
  name: string;
  event: E;
}

type PendingTimeout<E> = { kind: FiredTimeout<E>['kind']; name: string; ms: number; event: E } | { kind: 'cancel'; name: string };

/**
 * A gen_statem-style actor. Subclass it, give `start` (the initial state) and
 * `states` (a handler per state), and call the action methods from handlers.
 * Do not override `init`, `handle` or `handleCall`.
 */
export abstract class Statem<S extends string, E, A = void> extends Actor<E, A> {
  private current!: S;
  private readonly queue = new Queue<QueuedEvent<E>>();
  private postponed: QueuedEvent<E>[] = [];
  private stateTimeoutSlot: TimeoutSlot | undefined;
  private eventTimeoutSlot: TimeoutSlot | undefined;
  private readonly generic = new Map<string, TimeoutSlot>();
  private generation = 0;
  private phase: 'idle' | 'handle' | 'enter' = 'idle';
  private pendingNext: S | undefined;
  private pendingPostpone = false;
  private pendingEvents: QueuedEvent<E>[] = [];
  private pendingTimeouts: PendingTimeout<E>[] = [];
  private pendingStop: ExitReason | undefined;
  private stopped = false;

  /** The handlers, one per state. */
  protected abstract readonly states: { readonly [K in S]: StateHandler<S, E> };

  /** Sets up data from `args` and returns the initial state. */
  protected abstract start(args: A): S;

  /** The current state. */
  get state(): S {
    return this.current;
  }

  override init(args: A): void {
    this.current = this.start(args);
    this.runEnter(this.current);
    this.applyAfterEnter();
  }

  override handle(msg: E): void {
    if (msg instanceof TimerFired) {
      this.timerFired(msg as TimerFired<FiredTimeout<E>>);
      return;
    }
    this.dispatch('cast', msg, undefined);
  }

  override handleCall(msg: E, from: From): void {
    this.dispatch('call', msg, from);
  }

  /**
   * Handles `event` now as an `internal` event, from outside a handler (for
   * example from `afterBatch`, to feed work batched over a run of messages
   * through the state handlers).
   */
  protected injectEvent(event: E): void {
    assert(this.phase === 'idle', 'injectEvent is not allowed inside a handler; use nextEvent');
    this.dispatch('internal', event, undefined);
  }

  // ---- actions, callable from handlers ----

  /** Moves to `state` after the handler returns. Not allowed in `enter`. */
  protected nextState(state: S): void {
    assert(this.phase === 'handle', 'nextState is only allowed in a state handler');
    this.pendingNext = state;
  }

  /** Keeps the current event and retries it after the next state change. */
  protected postpone(): void {
    assert(this.phase === 'handle', 'postpone is only allowed in a state handler');
    this.pendingPostpone = true;
  }

  /** Queues `event` to be handled next, before anything already queued (in call order). */
  protected nextEvent(event: E, kind: EventKind = 'internal'): void {
    assert(this.phase === 'handle', 'nextEvent is only allowed in a state handler');
    this.pendingEvents.push({ kind, event, from: undefined });
  }

  /** Replies to a call at once. */
  protected reply<R>(from: From<R>, value: R): void {
    from.reply(value);
  }

  /** Delivers `event` as a `state_timeout` after `ms`, unless the state changes first. */
  protected stateTimeout(ms: number, event: E): void {
    this.pendingTimeouts.push({ kind: 'state_timeout', name: '', ms, event });
  }

  /** Delivers `event` as an `event_timeout` after `ms`, unless any event arrives first. */
  protected eventTimeout(ms: number, event: E): void {
    this.pendingTimeouts.push({ kind: 'event_timeout', name: '', ms, event });
  }

  /** Starts (or restarts) the named timeout; it delivers `event` as a `timeout` event. */
  protected genericTimeout(name: string, ms: number, event: E): void {
    this.pendingTimeouts.push({ kind: 'timeout', name, ms, event });
  }

  /** Cancels the named timeout. */
  protected cancelTimeout(name: string): void {
    this.pendingTimeouts.push({ kind: 'cancel', name });
  }

  /** Stops the machine with `reason` after the handler returns. */
  protected stopMachine(reason: ExitReason = 'normal'): void {
    this.pendingStop = reason;
  }

  // ---- the loop ----

  private dispatch(kind: EventKind, event: E, from: From | undefined): void {
    if (this.stopped) return;
    this.process(kind, event, from);
    while (!this.stopped && this.queue.length > 0) {
      const next = this.queue.shift() as QueuedEvent<E>;
      this.process(next.kind, next.event, next.from);
    }
  }

  private process(kind: EventKind, event: E, from: From | undefined): void {
    this.cancelSlot(this.eventTimeoutSlot);
    this.eventTimeoutSlot = undefined;
    this.pendingNext = undefined;
    this.pendingPostpone = false;
    this.phase = 'handle';
    try {
      this.states[this.current].handle(kind, event, from);
    } finally {
      this.phase = 'idle';
    }
    if (this.pendingPostpone) this.postponed.push({ kind, event, from });
    const old = this.current;
    const next = this.pendingNext;
    const changed = next !== undefined && next !== old;
    if (changed) {
      this.current = next;
      this.cancelSlot(this.stateTimeoutSlot);
      this.stateTimeoutSlot = undefined;
      for (let i = this.postponed.length - 1; i >= 0; i--) this.queue.unshift(this.postponed[i] as QueuedEvent<E>);
      this.postponed = [];
    }
    const events = this.pendingEvents;
    if (events.length > 0) {
      this.pendingEvents = [];
      for (let i = events.length - 1; i >= 0; i--) this.queue.unshift(events[i] as QueuedEvent<E>);
    }
    this.applyTimeouts();
    if (changed) this.runEnter(old);
    this.applyAfterEnter();
  }

  private runEnter(old: S): void {
    const enter = this.states[this.current].enter;
    if (enter === undefined) return;
    this.phase = 'enter';
    try {
      enter(old);
    } finally {
      this.phase = 'idle';
    }
  }

  private applyAfterEnter(): void {
    this.applyTimeouts();
    if (this.pendingStop !== undefined) {
      this.stopped = true;
      this.queue.clear();
      this.exit(this.pendingStop);
      this.pendingStop = undefined;
    }
  }

  private applyTimeouts(): void {
    if (this.pendingTimeouts.length === 0) return;
    const list = this.pendingTimeouts;
    this.pendingTimeouts = [];
    for (const t of list) {
      if (t.kind === 'cancel') {
        this.cancelSlot(this.generic.get(t.name));
        this.generic.delete(t.name);
        continue;
      }
      const slot = this.arm({ kind: t.kind, name: t.name, event: t.event }, t.ms);
      if (t.kind === 'state_timeout') {
        this.cancelSlot(this.stateTimeoutSlot);
        this.stateTimeoutSlot = slot;
      } else if (t.kind === 'event_timeout') {
        this.cancelSlot(this.eventTimeoutSlot);
        this.eventTimeoutSlot = slot;
      } else {
        this.cancelSlot(this.generic.get(t.name));
        this.generic.set(t.name, slot);
      }
    }
  }

  private arm(fired: FiredTimeout<E>, ms: number): TimeoutSlot {
    const generation = ++this.generation;
    const msg = new TimerFired(generation, fired);
    const timer = this.system.sendAfter(this.self as ActorRef<unknown>, ms, msg);
    return { generation, timer };
  }

  private cancelSlot(slot: TimeoutSlot | undefined): void {
    if (slot !== undefined) this.system.cancelTimer(this.self as ActorRef<unknown>, slot.timer);
  }

  private timerFired(msg: TimerFired<FiredTimeout<E>>): void {
    const { kind, name, event } = msg.payload;
    const slot =
      kind === 'state_timeout' ? this.stateTimeoutSlot : kind === 'event_timeout' ? this.eventTimeoutSlot : this.generic.get(name);
    if (slot === undefined || slot.generation !== msg.generation) return;
    if (kind === 'state_timeout') this.stateTimeoutSlot = undefined;
    else if (kind === 'event_timeout') this.eventTimeoutSlot = undefined;
    else this.generic.delete(name);
    this.dispatch(kind, event, undefined);
  }
}
