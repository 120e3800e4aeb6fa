// The Actor base class, references, and the signals the runtime delivers
// (calls, monitor `down`s, trapped `exit`s). The scheduler is actor_system.ts.
import type { ActorSystem } from './actor_system.js';
import type { TimerHandle } from '../io/clock.js';
import type { Cell } from './cell.js';

/**
 * Why an actor stopped. `'normal'` and `'shutdown'` are orderly exits;
 * `'killed'` skips `terminate`; anything else (usually an Error) is a crash.
 */
export type ExitReason = 'normal' | 'shutdown' | 'killed' | Error | { readonly reason: string; readonly [k: string]: unknown };

/** True for the exit reasons that are not crashes (`normal`, `shutdown`). */
export function isOrderlyExit(reason: ExitReason): boolean {
  return reason === 'normal' || reason === 'shutdown';
}

/** A handle to an actor: stable for the actor's life, useless (sends are dropped) after it. */
export class ActorRef<M = unknown> {
  /**
   * @internal Phantom type of accepted messages. Method syntax makes it
   * bivariant: a ref accepting `A | B` stands where a ref accepting `A` is
   * wanted, and any ref stands for `ActorRef<unknown>`; unrelated types still clash.
   */
  declare readonly __accepts?: { accepts(msg: M): void }['accepts'];
  /** @internal */
  constructor(
    readonly id: number,
    readonly name: string | undefined,
    /** @internal */ readonly cell: Cell,
  ) {}

  /** `<id>` or `<id.name>`, for logs. */
  toString(): string {
    return this.name === undefined ? `<${this.id}>` : `<${this.id}.${this.name}>`;
  }

  /** Serialises as its printable form (the runtime cell behind it is not data). */
  toJSON(): string {
    return this.toString();
  }
}

/** Base of the runtime's own signals, told apart from user messages with one instanceof. */
export abstract class Signal {}

/** The reply side of a `call`: settle it exactly once (later settles are ignored). */
export class From<R = unknown> extends Signal {
  /** True once replied, failed, timed out or abandoned. */
  settled = false;
  /** @internal */
  timer: TimerHandle | undefined;
  /** @internal */
  constructor(
    private readonly resolveFn: (value: R) => void,
    private readonly rejectFn: (error: unknown) => void,
    /** @internal */ readonly onSettle: (from: From<R>) => void,
  ) {
    super();
  }

  /** Resolves the caller's promise with `value`. */
  reply(value: R): void {
    if (this.settled) return;
    this.settled = true;
    this.onSettle(this);
    this.resolveFn(value);
  }

  /** Rejects the caller's promise with `error`. */
  fail(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.onSettle(this);
    this.rejectFn(error);
  }
}

/** A request made with `ActorSystem.call`, waiting in a mailbox. */
export class CallRequest<M = unknown> extends Signal {
  constructor(
    readonly msg: M,
    readonly from: From,
  ) {
    super();
  }
}

/** Sent to a monitoring actor when the monitored actor exits. */
export class Down extends Signal {
  readonly type = 'down';
  constructor(
    /** The id returned by `monitor`. */
    readonly monitor: number,
    /** The actor that exited. */
    readonly actor: ActorRef,
    /** Why it exited (`noproc` when it was already gone). */
    readonly reason: ExitReason | 'noproc',
  ) {
    super();
  }
}

/** Delivered to an actor that traps exits when a linked actor exits. */
export class Exit extends Signal {
  readonly type = 'exit';
  constructor(
    readonly actor: ActorRef,
    readonly reason: ExitReason,
  ) {
    super();
  }
}

/** A message with a generation, so that a timer that fires late can be recognised and dropped. */
export class TimerFired<T = unknown> extends Signal {
  constructor(
    readonly generation: number,
    readonly payload: T,
  ) {
    super();
  }
}

/** A class whose instances are actors: what `spawn` takes. */
export type Behaviour<M, A> = new () => Actor<M, A>;

/**
 * An actor: a class whose instance state is touched only by its own handlers,
 * which the runtime calls one message at a time. Subclass it and implement `handle`.
 *
 * ```ts
 * class Counter extends Actor<{ type: 'add'; n: number }> {
 *   total = 0;
 *   handle(msg: { type: 'add'; n: number }) { this.total += msg.n; }
 *   override handleCall(_msg: unknown, from: From<number>) { from.reply(this.total); }
 * }
 * ```
 */
export abstract class Actor<M = unknown, A = void> {
  /** This actor's own reference (set before `init`). */
  self!: ActorRef<M>;
  /** The system that runs this actor (set before `init`). */
  system!: ActorSystem;
  /** When true, exits of linked actors arrive as `Exit` signals instead of stopping this actor. */
  trapExit = false;

  /** Called once, synchronously inside `spawn`; a throw makes `spawn` throw. */
  init(_args: A): void {}

  /** Handles one message sent with `send`. */
  abstract handle(msg: M): void;

  /** Handles a request made with `call`; reply through `from` now or later. */
  handleCall(msg: M, from: From): void {
    from.fail(new TypeError(`${this.self.toString()} does not accept calls (got ${describe(msg)})`));
  }

  /** Handles the exit of a monitored actor. */
  handleDown(_down: Down): void {}

  /** Handles the exit of a linked actor (only when `trapExit` is set). */
  handleExit(_exit: Exit): void {}

  /** Called after each run of messages, before the actor yields: the place to flush batched work. */
  afterBatch?(): void;

  /** Called when the actor stops (not when killed). May return a promise to finish asynchronously. */
  terminate?(reason: ExitReason): void | PromiseLike<void>;

  /** Sends `msg` to another actor (or a registered name); false if it was dropped. */
  send<T>(to: ActorRef<T> | string, msg: T): boolean {
    return this.system.send(to, msg);
  }

  /** Sends `msg` to this actor after `delayMs`; the handle cancels it. */
  sendAfter(delayMs: number, msg: M): TimerHandle {
    return this.system.sendAfter(this.self, delayMs, msg);
  }

  /** Cancels a timer made by `sendAfter`. */
  cancelTimer(timer: TimerHandle): void {
    this.system.cancelTimer(this.self, timer);
  }

  /** Stops this actor with `reason` once the current handler returns. */
  exit(reason: ExitReason = 'normal'): void {
    this.system.stop(this.self, reason).catch(() => {});
  }

  /** Current time from the system's clock. */
  now(): number {
    return this.system.clock.now();
  }
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value !== null && typeof value === 'object' && 'type' in value) return `{type: ${String((value as { type: unknown }).type)}}`;
  return typeof value;
}
