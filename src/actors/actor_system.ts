// The scheduler and registry of actors: spawn, send, call, links, monitors,
// stop and shutdown. Runnable actors sit in a run queue that is drained in
// slices: from a microtask when work arrives from outside (a bounded number
// in a row), through clock.defer otherwise, so I/O callbacks interleave with
// message work.
import { assert } from '../lib/assert.js';
import { InvalidArgumentError, NoProcError, TimeoutError, ConcordError } from '../lib/errors.js';
import { Queue } from '../lib/queue.js';
import { stderrLogger, type Logger } from '../lib/logger.js';
import { RealClock, type Clock, type TimerHandle } from '../io/clock.js';
import type { Random } from '../io/random.js';
import {
  ActorRef,
  CallRequest,
  Down,
  Exit,
  From,
  Signal,
  isOrderlyExit,
  type Actor,
  type Behaviour,
  type ExitReason,
} from './actor.js';
import { Cell } from './cell.js';

/** How an ActorSystem runs. Every limit has a default suited to production. */
export interface ActorSystemOptions {
  /** Source of time and deferred work (default RealClock). */
  clock?: Clock;
  /** With `shuffle`, picks which runnable actor goes next (simulation). */
  random?: Random;
  /** Run the next actor chosen at random rather than in FIFO order (needs `random`). */
  shuffle?: boolean;
  /** Messages one actor handles per turn before others get theirs (default 256). */
  sliceMax?: number;
  /** Messages handled per drain before yielding to I/O (default 1024: I/O completions, e.g. the WAL's, wait at most one drain). */
  drainMax?: number;
  /**
   * Drains started from a microtask since the last one that waited behind I/O
   * (default 16). A message that arrives while no drain runs (from an I/O
   * callback, a timer, a resolved promise) is handled at the end of the
   * current task rather than behind the I/O callbacks already pending; after
   * this many such drains the next one waits behind I/O, so that a chain of
   * calls and replies cannot starve it. 0: every drain waits behind I/O.
   */
  soonDrainsMax?: number;
  /** Default mailbox bound; a send past it is dropped and counted (default 1,048,576). */
  mailboxMax?: number;
  /** Where crash reports go (default stderr at CONCORD_LOG level). */
  logger?: Logger;
  /** Called for every message delivered to an actor, in delivery order (tracing, determinism tests). */
  onDeliver?: (to: ActorRef, msg: unknown) => void;
}

/** Options of one `spawn`. */
export interface SpawnOptions {
  /** Register the actor under this name. */
  name?: string;
  /** Link the new actor to this one before `init` runs (spawn_link). */
  link?: ActorRef;
  /** The supervisor that owns the actor; `shutdown` leaves its children to it. */
  parent?: ActorRef;
  /** Mailbox bound for this actor. */
  mailboxMax?: number;
}

/** Counters kept by an ActorSystem. */
export interface ActorSystemStats {
  spawned: number;
  delivered: number;
  /** Messages dropped because a mailbox was full. */
  dropped: number;
  crashed: number;
}

/** Runs actors: one message at a time per actor, messages between a pair in order. */
export class ActorSystem {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly stats: ActorSystemStats = { spawned: 0, delivered: 0, dropped: 0, crashed: 0 };
  private readonly cells = new Map<number, Cell>();
  private readonly registry = new Map<string, Cell>();
  private readonly fifo = new Queue<Cell>(64);
  private readonly shuffled: Cell[] = [];
  private readonly random: Random | undefined;
  private readonly sliceMax: number;
  private readonly drainMax: number;
  private readonly soonDrainsMax: number;
  private readonly mailboxMax: number;
  private readonly onDeliver: ((to: ActorRef, msg: unknown) => void) | undefined;
  private nextId = 1;
  private nextMonitor = 1;
  private drainScheduled = false;
  private draining = false;
  /** Microtask drains since the last drain that waited behind I/O. */
  private soonDrains = 0;
  private shuttingDown = false;
  private readonly drainFn = () => this.drain();
  /** A drain that waited behind I/O: microtask drains may start again after it. */
  private readonly laterDrainFn = () => {
    this.soonDrains = 0;
    this.drain();
  };

  constructor(options: ActorSystemOptions = {}) {
    this.clock = options.clock ?? new RealClock();
    this.logger = options.logger ?? stderrLogger();
    assert(!options.shuffle || options.random !== undefined, 'shuffle needs a random source');
    this.random = options.shuffle === true ? options.random : undefined;
    this.sliceMax = options.sliceMax ?? 256;
    this.drainMax = options.drainMax ?? 1024;
    this.soonDrainsMax = options.soonDrainsMax ?? 16;
    this.mailboxMax = options.mailboxMax ?? 1 << 20;
    this.onDeliver = options.onDeliver;
    assert(this.sliceMax >= 1 && this.drainMax >= 1 && this.mailboxMax >= 1, 'limits must be >= 1');
    assert(Number.isInteger(this.soonDrainsMax) && this.soonDrainsMax >= 0, 'soonDrainsMax must be an integer >= 0');
  }

  /** True once `shutdown` has begun; supervisors stop restarting children. */
  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Number of live actors. */
  get size(): number {
    return this.cells.size;
  }

  /**
   * Starts an actor of class `behaviour`, runs its `init(args)` synchronously
   * and returns its reference. Throws what `init` throws (the actor then never existed).
   */
  spawn<M, A>(behaviour: Behaviour<M, A>, args: A, options: SpawnOptions = {}): ActorRef<M> {
    const { name } = options;
    if (name !== undefined && this.registry.has(name)) {
      throw new InvalidArgumentError(`name '${name}' is already registered`);
    }
    const parent = options.parent?.cell;
    const cell = new Cell(this.nextId++, parent, options.mailboxMax ?? this.mailboxMax);
    const ref = new ActorRef<M>(cell.id, name, cell);
    const actor = new behaviour();
    actor.self = ref;
    actor.system = this;
    cell.ref = ref;
    cell.actor = actor as Actor<unknown, unknown>;
    this.cells.set(cell.id, cell);
    if (name !== undefined) this.registerCell(name, cell);
    if (options.link !== undefined) this.link(ref, options.link);
    this.stats.spawned++;
    cell.active = true;
    try {
      actor.init(args);
    } catch (e) {
      cell.active = false;
      this.discard(cell);
      throw e;
    }
    cell.active = false;
    if (cell.mailbox.length > 0 || cell.stopReason !== undefined) this.schedule(cell);
    return ref;
  }

  /** Queues `msg` for `to` (a reference or a registered name). Returns false if it was dropped. */
  send<M>(to: ActorRef<M> | string, msg: M): boolean {
    const cell = typeof to === 'string' ? this.registry.get(to) : to.cell;
    if (cell === undefined || cell.status !== 'running') return false;
    return this.enqueue(cell, msg);
  }

  /** Sends `msg` to `to` after `delayMs`; the handle cancels it. */
  sendAfter<M>(to: ActorRef<M>, delayMs: number, msg: M): TimerHandle {
    const cell = to.cell;
    const timer = this.clock.setTimer(delayMs, () => {
      cell.timers?.delete(timer);
      if (cell.status === 'running') this.enqueue(cell, msg);
    });
    (cell.timers ??= new Set()).add(timer);
    return timer;
  }

  /** Cancels a timer made by `sendAfter` for `to` (and forgets it: an actor re-arming timers must not pile up handles). */
  cancelTimer(to: ActorRef, timer: TimerHandle): void {
    this.clock.clearTimer(timer);
    to.cell.timers?.delete(timer);
  }

  /** Timers pending for an actor (sendAfter, statem timeouts): a diagnostic, like Erlang's process_info. */
  timerCount(ref: ActorRef): number {
    return ref.cell.timers?.size ?? 0;
  }

  /**
   * Sends `msg` as a request and resolves with the reply. Rejects with
   * TimeoutError after `timeoutMs`, or NoProcError if the actor does not
   * exist or exits before replying.
   */
  call<R = unknown, M = unknown>(to: ActorRef<M> | string, msg: M, timeoutMs = 5000): Promise<R> {
    const cell = typeof to === 'string' ? this.registry.get(to) : to.cell;
    if (cell === undefined || cell.status !== 'running') {
      return Promise.reject(new NoProcError(`no actor ${String(to)}`, cell?.exitReason));
    }
    return new Promise<R>((resolve, reject) => {
      const from = new From<R>(resolve, reject, (f) => {
        cell.pendingCalls?.delete(f as From);
        if (f.timer !== undefined) this.clock.clearTimer(f.timer);
      });
      (cell.pendingCalls ??= new Set()).add(from as From);
      from.timer = this.clock.setTimer(timeoutMs, () => {
        from.fail(new TimeoutError(`call to ${cell.ref.toString()} timed out after ${timeoutMs} ms`));
      });
      if (!this.enqueue(cell, new CallRequest(msg, from as From))) {
        from.fail(new ConcordError('overloaded', `mailbox of ${cell.ref.toString()} is full`));
      }
    });
  }

  /** Links two actors: when one exits abnormally the other exits too (or gets an Exit signal if it traps exits). */
  link(a: ActorRef, b: ActorRef): void {
    const ca = a.cell;
    const cb = b.cell;
    if (ca === cb) return;
    if (!ca.alive || !cb.alive) {
      const [live, dead] = ca.alive ? [ca, cb] : [cb, ca];
      if (live.alive) this.exitSignal(live, dead.ref, dead.exitReason === undefined ? 'noproc' : dead.exitReason);
      return;
    }
    (ca.links ??= new Set()).add(cb);
    (cb.links ??= new Set()).add(ca);
  }

  /** Removes a link. */
  unlink(a: ActorRef, b: ActorRef): void {
    a.cell.links?.delete(b.cell);
    b.cell.links?.delete(a.cell);
  }

  /**
   * `watcher` will receive a Down signal when `target` exits (at once, with
   * reason `noproc`, if it is already gone). Returns the monitor id.
   */
  monitor(watcher: ActorRef, target: ActorRef): number {
    const id = this.nextMonitor++;
    const w = watcher.cell;
    const t = target.cell;
    if (!t.alive) {
      this.enqueue(w, new Down(id, target, t.exitReason ?? 'noproc'));
      return id;
    }
    (t.watchers ??= new Map()).set(id, w);
    (w.watching ??= new Map()).set(id, t);
    return id;
  }

  /** Cancels a monitor; a Down already queued is not recalled. */
  demonitor(watcher: ActorRef, id: number): void {
    const t = watcher.cell.watching?.get(id);
    watcher.cell.watching?.delete(id);
    t?.watchers?.delete(id);
  }

  /** Registers `ref` under `name`; throws if the name is taken or the actor is dead. */
  register(name: string, ref: ActorRef): void {
    if (this.registry.has(name)) throw new InvalidArgumentError(`name '${name}' is already registered`);
    if (!ref.cell.alive) throw new NoProcError(`cannot register dead actor ${ref.toString()}`);
    this.registerCell(name, ref.cell);
  }

  /** Removes a name; returns whether it was registered. */
  unregister(name: string): boolean {
    const cell = this.registry.get(name);
    if (cell === undefined) return false;
    this.registry.delete(name);
    cell.names = cell.names?.filter((n) => n !== name);
    return true;
  }

  /** The live actor registered under `name`, if any. */
  whereis<M = unknown>(name: string): ActorRef<M> | undefined {
    return this.registry.get(name)?.ref as ActorRef<M> | undefined;
  }

  /** True while the actor has not exited. */
  isAlive(ref: ActorRef): boolean {
    return ref.cell.alive;
  }

  /** Calls `fn` with the exit reason once `ref` has exited (at once if it already has). */
  onExit(ref: ActorRef, fn: (reason: ExitReason) => void): void {
    const cell = ref.cell;
    if (!cell.alive) {
      fn(cell.exitReason ?? 'normal');
      return;
    }
    (cell.exitCallbacks ??= []).push(fn);
  }

  /** Resolves with the exit reason once `ref` has exited. */
  whenExited(ref: ActorRef): Promise<ExitReason> {
    return new Promise((resolve) => this.onExit(ref, resolve));
  }

  /**
   * Asks an actor to stop with `reason` (default `shutdown`): at its next turn
   * it runs `terminate` and exits. `killed` exits at once without `terminate`.
   * Resolves once it has exited.
   */
  stop(ref: ActorRef, reason: ExitReason = 'shutdown'): Promise<void> {
    return new Promise((resolve) => {
      this.onExit(ref, () => resolve());
      this.requestStop(ref.cell, reason);
    });
  }

  /** Stops `ref` and calls `done` once it has exited; kills it if that takes longer than `timeoutMs`. */
  stopWithin(ref: ActorRef, reason: ExitReason, timeoutMs: number, done: (reason: ExitReason) => void): void {
    const cell = ref.cell;
    let timer: TimerHandle | undefined;
    this.onExit(ref, (r) => {
      if (timer !== undefined) this.clock.clearTimer(timer);
      done(r);
    });
    if (!cell.alive) return;
    if (Number.isFinite(timeoutMs)) {
      timer = this.clock.setTimer(timeoutMs, () => this.requestStop(cell, 'killed'));
    }
    this.requestStop(cell, reason);
  }

  /**
   * Stops every actor: top-level actors in reverse start order, one at a time
   * (supervisors stop their own children), then any left. Resolves when all have stopped.
   */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    const topLevel = [...this.cells.values()].filter((c) => c.parent === undefined || !c.parent.alive).reverse();
    for (const cell of topLevel) await this.stop(cell.ref, 'shutdown');
    for (const cell of [...this.cells.values()].reverse()) await this.stop(cell.ref, 'shutdown');
  }

  /**
   * Kills every actor at once, without `terminate`: a simulated process crash.
   * Timers are cancelled and nothing more is delivered.
   */
  killAll(): void {
    this.shuttingDown = true;
    for (const cell of [...this.cells.values()].reverse()) this.finishExit(cell, 'killed');
    this.fifo.clear();
    this.shuffled.length = 0;
  }

  /** The actor object behind a live reference (for tests and the simulator's invariant checks). */
  instanceOf<T>(ref: ActorRef): T | undefined {
    return ref.cell.alive ? (ref.cell.actor as unknown as T) : undefined;
  }

  private registerCell(name: string, cell: Cell): void {
    this.registry.set(name, cell);
    (cell.names ??= []).push(name);
  }

  private enqueue(cell: Cell, msg: unknown): boolean {
    if (cell.mailbox.length >= cell.mailboxMax) {
      this.stats.dropped++;
      if (this.stats.dropped === 1 || (this.stats.dropped & 0xffff) === 0) {
        this.logger.warn('mailbox full, message dropped', { actor: cell.ref.toString(), dropped: this.stats.dropped });
      }
      return false;
    }
    cell.mailbox.push(msg);
    if (!cell.scheduled && !cell.active) this.schedule(cell);
    return true;
  }

  private schedule(cell: Cell): void {
    cell.scheduled = true;
    if (this.random === undefined) this.fifo.push(cell);
    else this.shuffled.push(cell);
    // A running drain picks the cell up itself, or defers what it leaves over.
    if (this.drainScheduled || this.draining) return;
    this.drainScheduled = true;
    if (this.soonDrains < this.soonDrainsMax) {
      this.soonDrains++;
      this.clock.soon(this.drainFn);
    } else {
      this.clock.defer(this.laterDrainFn);
    }
  }

  private nextRunnable(): Cell | undefined {
    if (this.random === undefined) return this.fifo.shift();
    const list = this.shuffled;
    if (list.length === 0) return undefined;
    const i = this.random.int(list.length);
    const cell = list[i] as Cell;
    list[i] = list[list.length - 1] as Cell;
    list.pop();
    return cell;
  }

  private drain(): void {
    this.drainScheduled = false;
    this.draining = true;
    let handled = 0;
    try {
      while (handled < this.drainMax) {
        const cell = this.nextRunnable();
        if (cell === undefined) break;
        cell.scheduled = false;
        if (cell.status !== 'running') continue;
        handled += this.runCell(cell) + 1;
      }
    } finally {
      // Also when something threw out of the loop: sends made during the drain did not schedule one.
      this.draining = false;
      if (this.fifo.length > 0 || this.shuffled.length > 0) {
        // Work is left over: let I/O have its turn first.
        this.drainScheduled = true;
        this.clock.defer(this.laterDrainFn);
      }
    }
  }

  /** One turn of one actor: up to sliceMax messages, then afterBatch. Returns messages handled. */
  private runCell(cell: Cell): number {
    const actor = cell.actor;
    const mailbox = cell.mailbox;
    let n = 0;
    cell.active = true;
    try {
      while (cell.stopReason === undefined && n < this.sliceMax && mailbox.length > 0) {
        const msg = mailbox.shift();
        n++;
        this.onDeliver?.(cell.ref, msg);
        if (msg instanceof Signal) this.dispatchSignal(actor, msg);
        else actor.handle(msg);
      }
      if (cell.stopReason === undefined && actor.afterBatch !== undefined) actor.afterBatch();
    } catch (e) {
      cell.active = false;
      this.stats.delivered += n;
      this.beginStop(cell, e instanceof Error ? e : new Error(`thrown: ${String(e)}`));
      return n;
    }
    cell.active = false;
    this.stats.delivered += n;
    if (cell.stopReason !== undefined) this.beginStop(cell, cell.stopReason);
    else if (mailbox.length > 0) this.schedule(cell);
    return n;
  }

  private dispatchSignal(actor: Actor<unknown, unknown>, sig: Signal): void {
    if (sig instanceof CallRequest) {
      if (!sig.from.settled) actor.handleCall(sig.msg, sig.from);
    } else if (sig instanceof Down) {
      actor.handleDown(sig);
    } else if (sig instanceof Exit) {
      actor.handleExit(sig);
    } else {
      actor.handle(sig);
    }
  }

  private requestStop(cell: Cell, reason: ExitReason): void {
    if (!cell.alive) return;
    if (reason === 'killed') {
      if (cell.active) cell.stopReason = 'killed';
      else this.finishExit(cell, 'killed');
      return;
    }
    if (cell.status !== 'running' || cell.stopReason !== undefined) return;
    cell.stopReason = reason;
    if (!cell.active && !cell.scheduled) this.schedule(cell);
  }

  private beginStop(cell: Cell, reason: ExitReason): void {
    if (cell.status !== 'running') return;
    cell.status = 'stopping';
    cell.stopReason = reason;
    this.clearTimers(cell);
    const actor = cell.actor;
    if (reason === 'killed' || actor.terminate === undefined) {
      this.finishExit(cell, reason);
      return;
    }
    let pending: void | PromiseLike<void> = undefined;
    try {
      pending = actor.terminate(reason);
    } catch (e) {
      this.logger.error('terminate threw', { actor: cell.ref.toString(), error: e });
    }
    if (pending !== undefined && typeof pending.then === 'function') {
      pending.then(
        () => this.finishExit(cell, reason),
        (e: unknown) => {
          this.logger.error('terminate failed', { actor: cell.ref.toString(), error: e });
          this.finishExit(cell, reason);
        },
      );
    } else {
      this.finishExit(cell, reason);
    }
  }

  private clearTimers(cell: Cell): void {
    if (cell.timers === undefined) return;
    for (const t of cell.timers) this.clock.clearTimer(t);
    cell.timers = undefined;
  }

  /** Marks the cell dead and tells everyone who asked: callers, monitors, links, waiters. */
  private finishExit(cell: Cell, reason: ExitReason): void {
    if (cell.status === 'dead') return;
    cell.status = 'dead';
    cell.exitReason = reason;
    this.clearTimers(cell);
    cell.mailbox.clear();
    this.cells.delete(cell.id);
    for (const name of cell.names ?? []) if (this.registry.get(name) === cell) this.registry.delete(name);
    if (!isOrderlyExit(reason)) {
      this.stats.crashed++;
      if (!this.shuttingDown || reason !== 'killed') {
        this.logger.error('actor exited', { actor: cell.ref.toString(), reason: reasonText(reason) });
      }
    }
    for (const from of cell.pendingCalls ?? []) {
      from.fail(new NoProcError(`${cell.ref.toString()} exited before replying`, reason));
    }
    for (const [id, target] of cell.watching ?? []) target.watchers?.delete(id);
    for (const [id, watcher] of cell.watchers ?? []) {
      watcher.watching?.delete(id);
      if (watcher.status === 'running') this.enqueue(watcher, new Down(id, cell.ref, reason));
    }
    for (const linked of cell.links ?? []) {
      linked.links?.delete(cell);
      this.exitSignal(linked, cell.ref, reason);
    }
    cell.links = cell.watchers = cell.watching = cell.pendingCalls = undefined;
    const callbacks = cell.exitCallbacks;
    cell.exitCallbacks = undefined;
    for (const fn of callbacks ?? []) fn(reason);
  }

  /** Delivers the exit of `from` to a linked actor: a signal if it traps exits, else it exits too (unless normal). */
  private exitSignal(to: Cell, from: ActorRef, reason: ExitReason | 'noproc'): void {
    if (to.status !== 'running') return;
    const r: ExitReason = reason === 'noproc' ? { reason: 'noproc' } : reason;
    if (to.actor.trapExit) this.enqueue(to, new Exit(from, r));
    else if (r !== 'normal') this.requestStop(to, r);
  }

  /** Removes a cell whose init failed, as if it had never started. */
  private discard(cell: Cell): void {
    cell.status = 'dead';
    cell.exitReason = 'normal';
    this.cells.delete(cell.id);
    for (const name of cell.names ?? []) if (this.registry.get(name) === cell) this.registry.delete(name);
    for (const linked of cell.links ?? []) linked.links?.delete(cell);
    cell.links = undefined;
  }
}

/** A readable form of an exit reason for logs. */
export function reasonText(reason: ExitReason | 'noproc'): string {
  if (typeof reason === 'string') return reason;
  if (reason instanceof Error) return `${reason.name}: ${reason.message}`;
  return reason.reason;
}
