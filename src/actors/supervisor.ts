// OTP-style supervisor: starts children in order, restarts them by strategy
// and restart type, and exits (escalating to its own supervisor) when children
// crash more than `maxRestarts` times within `periodMs`.
import { ConcordError, InvalidArgumentError } from '../lib/errors.js';
import { Completion } from '../lib/completion.js';
import { Actor, From, isOrderlyExit, type ActorRef, type Behaviour, type Exit, type ExitReason } from './actor.js';
import type { ActorSystem, SpawnOptions } from './actor_system.js';
import { reasonText } from './actor_system.js';

/** When a child is restarted: always, only after a crash, or never. */
export type RestartType = 'permanent' | 'transient' | 'temporary';

/** Which children restart when one exits. */
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';

/** What the supervisor passes to a child's `start`. */
export interface ChildStartContext {
  system: ActorSystem;
  /** Spawn options that make the supervisor the child's parent and link them. */
  spawnOptions: SpawnOptions;
}

/** How to start and look after one child. */
export interface ChildSpec {
  /** Unique among the supervisor's children. */
  id: string;
  /** Starts the child and returns its reference (spawn with `ctx.spawnOptions`). */
  start: (ctx: ChildStartContext) => ActorRef;
  /** Default `permanent`. */
  restart?: RestartType;
  /** How long the child gets to stop before it is killed (default 5000; Infinity for supervisors). */
  shutdownMs?: number;
}

/** Supervisor configuration. */
export interface SupervisorArgs {
  /** Default `one_for_one`. */
  strategy?: Strategy;
  /** Restarts allowed within `periodMs` before the supervisor gives up (default 3). */
  maxRestarts?: number;
  /** Window for `maxRestarts` (default 5000 ms). */
  periodMs?: number;
  children: ChildSpec[];
}

/** One row of `whichChildren`. */
export interface ChildInfo {
  id: string;
  ref: ActorRef | undefined;
  restart: RestartType;
}

/** Calls a Supervisor accepts; use the helper functions below. */
export type SupervisorCall =
  | { type: 'start_child'; spec: ChildSpec }
  | { type: 'terminate_child'; id: string }
  | { type: 'which_children' };

/** The exit reason of a supervisor whose children crashed too often. */
export class RestartIntensityError extends ConcordError {
  override name = 'RestartIntensityError';
  constructor(childId: string, lastReason: ExitReason) {
    super('restart_intensity', `child '${childId}' crashed too often; last reason: ${reasonText(lastReason)}`, {
      cause: lastReason,
    });
  }
}

interface Child {
  spec: ChildSpec;
  ref: ActorRef | undefined;
  /** Set while the supervisor is stopping this child on purpose; called on its exit. */
  onStopped: (() => void) | undefined;
}

type Deferred = { kind: 'call'; msg: SupervisorCall; from: From } | { kind: 'exit'; exit: Exit; child: Child | undefined };

/** The supervisor actor. Spawn it with `startSupervisor` or as a child spec from `supervisorSpec`. */
export class Supervisor extends Actor<never, SupervisorArgs> {
  override trapExit = true;
  private strategy: Strategy = 'one_for_one';
  private maxRestarts = 3;
  private periodMs = 5000;
  private children: Child[] = [];
  private restarts: number[] = [];
  private busy = false;
  private deferred: Deferred[] = [];

  override init(args: SupervisorArgs): void {
    this.strategy = args.strategy ?? 'one_for_one';
    this.maxRestarts = args.maxRestarts ?? 3;
    this.periodMs = args.periodMs ?? 5000;
    const ids = new Set<string>();
    for (const spec of args.children) {
      if (ids.has(spec.id)) throw new InvalidArgumentError(`duplicate child id '${spec.id}'`);
      ids.add(spec.id);
    }
    for (const spec of args.children) {
      const child: Child = { spec, ref: undefined, onStopped: undefined };
      this.children.push(child);
      try {
        this.startChildNow(child);
      } catch (e) {
        for (const c of this.children) if (c.ref !== undefined) this.system.stop(c.ref, 'killed').catch(() => {});
        throw e;
      }
    }
  }

  handle(msg: never): void {
    this.system.logger.warn('supervisor got an unexpected message', { supervisor: this.self.toString(), msg });
  }

  override handleCall(msg: SupervisorCall, from: From): void {
    if (this.busy) {
      this.deferred.push({ kind: 'call', msg, from });
      return;
    }
    switch (msg.type) {
      case 'start_child':
        return this.callStartChild(msg.spec, from);
      case 'terminate_child':
        return this.callTerminateChild(msg.id, from);
      case 'which_children':
        return from.reply(this.children.map((c) => ({ id: c.spec.id, ref: c.ref, restart: restartOf(c.spec) })));
      default:
        return from.fail(new InvalidArgumentError(`unknown supervisor call`));
    }
  }

  override handleExit(exit: Exit): void {
    const child = this.children.find((c) => c.ref === exit.actor);
    if (child?.onStopped !== undefined) {
      const done = child.onStopped;
      child.ref = undefined;
      child.onStopped = undefined;
      done();
      return;
    }
    if (this.busy) {
      // Dead now: a restart under way must not wait for it to stop (it waited for an exit that
      // had come already, and the supervisor stayed busy for good: simulator, log_crash).
      if (child !== undefined) child.ref = undefined;
      this.deferred.push({ kind: 'exit', exit, child });
      return;
    }
    if (child === undefined) {
      // A linked non-child (our parent): follow it out unless it exited normally.
      if (exit.reason !== 'normal') this.exit(exit.reason);
      return;
    }
    child.ref = undefined;
    this.childExited(child, exit.reason);
  }

  /** Stops every child in reverse start order, each within its shutdownMs. */
  override terminate(): PromiseLike<void> {
    const done = new Completion();
    const running = this.children.filter((c) => c.ref !== undefined).reverse();
    const next = (): void => {
      const child = running.shift();
      if (child?.ref === undefined) {
        if (running.length === 0) done.resolve();
        else next();
        return;
      }
      this.system.stopWithin(child.ref, 'shutdown', shutdownOf(child.spec), () => {
        child.ref = undefined;
        next();
      });
    };
    next();
    return done;
  }

  private childExited(child: Child, reason: ExitReason): void {
    if (this.system.isShuttingDown) return;
    const kind = restartOf(child.spec);
    if (kind === 'temporary' || (kind === 'transient' && isOrderlyExit(reason))) {
      if (kind === 'temporary') this.children = this.children.filter((c) => c !== child);
      return;
    }
    if (!this.allowRestart(child, reason)) return;
    const index = this.children.indexOf(child);
    const others =
      this.strategy === 'one_for_one'
        ? []
        : this.strategy === 'one_for_all'
          ? this.children.filter((c) => c !== child)
          : this.children.slice(index + 1);
    this.busy = true;
    this.stopInReverse(others.filter((c) => c.ref !== undefined), () => {
      const group = this.children.filter((c) => c === child || others.includes(c));
      for (const c of group) if (!this.restartChild(c)) return;
      this.busy = false;
      this.replayDeferred();
    });
  }

  /** Records a restart; false (and the supervisor exits) when the intensity limit is passed. */
  private allowRestart(child: Child, reason: ExitReason): boolean {
    const now = this.now();
    this.restarts = this.restarts.filter((t) => t > now - this.periodMs);
    this.restarts.push(now);
    if (this.restarts.length <= this.maxRestarts) return true;
    this.system.logger.error('supervisor reached its restart intensity', {
      supervisor: this.self.toString(),
      child: child.spec.id,
      reason: reasonText(reason),
    });
    this.busy = true;
    this.exit(new RestartIntensityError(child.spec.id, reason));
    return false;
  }

  /** Starts a child again, retrying failed starts until the intensity limit. */
  private restartChild(child: Child): boolean {
    for (;;) {
      try {
        this.startChildNow(child);
        return true;
      } catch (e) {
        const reason = e instanceof Error ? e : new Error(String(e));
        this.system.logger.error('child failed to start', { child: child.spec.id, error: reason });
        if (!this.allowRestart(child, reason)) return false;
      }
    }
  }

  private stopInReverse(children: Child[], done: () => void): void {
    const queue = [...children].reverse();
    const next = (): void => {
      const child = queue.shift();
      if (child === undefined) return done();
      if (child.ref === undefined) return next();
      child.onStopped = next;
      this.system.stopWithin(child.ref, 'shutdown', shutdownOf(child.spec), () => {});
    };
    next();
  }

  private startChildNow(child: Child): void {
    const ref = child.spec.start({ system: this.system, spawnOptions: { parent: this.self, link: this.self } });
    this.system.link(this.self, ref);
    child.ref = ref;
  }

  private callStartChild(spec: ChildSpec, from: From): void {
    if (this.children.some((c) => c.spec.id === spec.id)) {
      return from.fail(new InvalidArgumentError(`child id '${spec.id}' already exists`));
    }
    const child: Child = { spec, ref: undefined, onStopped: undefined };
    try {
      this.startChildNow(child);
    } catch (e) {
      return from.fail(e);
    }
    this.children.push(child);
    from.reply(child.ref);
  }

  private callTerminateChild(id: string, from: From): void {
    const child = this.children.find((c) => c.spec.id === id);
    if (child === undefined) return from.fail(new InvalidArgumentError(`no child '${id}'`));
    const remove = (): void => {
      this.children = this.children.filter((c) => c !== child);
      from.reply(undefined);
    };
    if (child.ref === undefined) return remove();
    this.busy = true;
    this.stopInReverse([child], () => {
      remove();
      this.busy = false;
      this.replayDeferred();
    });
  }

  private replayDeferred(): void {
    while (!this.busy && this.deferred.length > 0) {
      const d = this.deferred.shift() as Deferred;
      if (d.kind === 'call') this.handleCall(d.msg, d.from);
      else if (d.child === undefined) this.handleExit(d.exit);
      // A child's exit: dealt with already if the child was restarted or removed meanwhile.
      else if (this.children.includes(d.child) && d.child.ref === undefined) this.childExited(d.child, d.exit.reason);
    }
  }
}

function restartOf(spec: ChildSpec): RestartType {
  return spec.restart ?? 'permanent';
}

function shutdownOf(spec: ChildSpec): number {
  return spec.shutdownMs ?? 5000;
}

/** Spawns a supervisor (optionally named and linked) and starts its children. */
export function startSupervisor(system: ActorSystem, args: SupervisorArgs, options: SpawnOptions = {}): ActorRef {
  return system.spawn(Supervisor as Behaviour<never, SupervisorArgs>, args, options);
}

/** A child spec that runs a nested supervisor (shutdownMs Infinity, as OTP advises). */
export function supervisorSpec(
  id: string,
  args: SupervisorArgs,
  options: { restart?: RestartType; name?: string } = {},
): ChildSpec {
  const { name } = options;
  return {
    id,
    restart: options.restart ?? 'permanent',
    shutdownMs: Infinity,
    start: (ctx) => startSupervisor(ctx.system, args, name === undefined ? ctx.spawnOptions : { ...ctx.spawnOptions, name }),
  };
}

/** A child spec that spawns `behaviour` with `args`. */
export function workerSpec<M, A>(
  id: string,
  behaviour: Behaviour<M, A>,
  args: A,
  options: { restart?: RestartType; shutdownMs?: number; name?: string } = {},
): ChildSpec {
  const spec: ChildSpec = {
    id,
    start: (ctx) =>
      ctx.system.spawn(behaviour, args, options.name === undefined ? ctx.spawnOptions : { ...ctx.spawnOptions, name: options.name }),
  };
  if (options.restart !== undefined) spec.restart = options.restart;
  if (options.shutdownMs !== undefined) spec.shutdownMs = options.shutdownMs;
  return spec;
}

/** Starts a new child under `supervisor`; resolves with its reference. */
export function startChild(system: ActorSystem, supervisor: ActorRef, spec: ChildSpec, timeoutMs = 5000): Promise<ActorRef> {
  return system.call<ActorRef, SupervisorCall>(supervisor as ActorRef<SupervisorCall>, { type: 'start_child', spec }, timeoutMs);
}

/** Stops the child `id` (within its shutdownMs) and removes it from the supervisor. */
export function terminateChild(system: ActorSystem, supervisor: ActorRef, id: string, timeoutMs = 30_000): Promise<void> {
  return system.call<void, SupervisorCall>(supervisor as ActorRef<SupervisorCall>, { type: 'terminate_child', id }, timeoutMs);
}

/** The supervisor's children in start order, with their current references. */
export function whichChildren(system: ActorSystem, supervisor: ActorRef, timeoutMs = 5000): Promise<ChildInfo[]> {
  return system.call<ChildInfo[], SupervisorCall>(supervisor as ActorRef<SupervisorCall>, { type: 'which_children' }, timeoutMs);
}
