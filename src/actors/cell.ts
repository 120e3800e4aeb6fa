// The runtime's private record of one actor: its mailbox, its status and
// the links, monitors, timers and pending calls that end with it.
import { Queue } from '../lib/queue.js';
import type { TimerHandle } from '../io/clock.js';
import type { Actor, ActorRef, ExitReason, From } from './actor.js';

/** Lifecycle of a cell: running, then stopping (terminate under way), then dead. */
export type CellStatus = 'running' | 'stopping' | 'dead';

/** @internal Runtime state of one actor. */
export class Cell {
  readonly mailbox = new Queue<unknown>(8);
  status: CellStatus = 'running';
  /** In the run queue. */
  scheduled = false;
  /** Its handler is on the stack right now. */
  active = false;
  /** A stop was requested; it takes effect at the cell's next turn. */
  stopReason: ExitReason | undefined = undefined;
  exitReason: ExitReason | undefined = undefined;
  ref!: ActorRef;
  actor!: Actor<unknown, unknown>;
  links: Set<Cell> | undefined;
  /** Monitors held on this actor: monitor id -> watcher. */
  watchers: Map<number, Cell> | undefined;
  /** Monitors this actor holds: monitor id -> target. */
  watching: Map<number, Cell> | undefined;
  pendingCalls: Set<From> | undefined;
  timers: Set<TimerHandle> | undefined;
  exitCallbacks: ((reason: ExitReason) => void)[] | undefined;
  names: string[] | undefined;

  constructor(
    readonly id: number,
    readonly parent: Cell | undefined,
    readonly mailboxMax: number,
  ) {}

  get alive(): boolean {
    return this.status !== 'dead';
  }
}
