// A deterministic node for log tests: SimClock, SimDisk, an ActorSystem with
// a LogSystem under a supervisor, and an owner actor that feeds every LogEvent
// to its GroupLog and keeps what changed.
import { Actor, type ActorRef } from '../../../src/actors/actor.js';
import { ActorSystem } from '../../../src/actors/actor_system.js';
import { startSupervisor, whichChildren } from '../../../src/actors/supervisor.js';
import { SimClock } from '../../../src/io/sim_clock.js';
import { SeededRandom } from '../../../src/io/random.js';
import { SimDisk, type SimDiskOptions } from '../../../src/io/sim_disk.js';
import { memoryLogger } from '../../../src/lib/logger.js';
import { isLogEvent, type LogChange, type LogEntry, type LogEvent } from '../../../src/log/events.js';
import type { GroupLog } from '../../../src/log/group_log.js';
import { LogSystem } from '../../../src/log/log_system.js';
import type { LogSystemOptions } from '../../../src/log/log_options.js';
import type { MetaStored } from '../../../src/log/meta_store.js';

export interface OwnerState {
  logs: Map<string, GroupLog>;
  changes: { logId: string; change: LogChange }[];
  events: LogEvent[];
  meta: MetaStored[];
}

/** Plays the Raft server: passes LogEvents to the log they name. */
export class Owner extends Actor<LogEvent | MetaStored, OwnerState> {
  private state!: OwnerState;
  override init(state: OwnerState): void {
    this.state = state;
  }
  handle(msg: LogEvent | MetaStored): void {
    if (msg.type === 'meta_stored') {
      this.state.meta.push(msg);
      return;
    }
    if (!isLogEvent(msg)) throw new Error('unexpected message');
    this.state.events.push(msg);
    const log = this.state.logs.get(msg.logId);
    if (log === undefined) return;
    const change = log.handle(msg);
    if (change !== undefined) this.state.changes.push({ logId: msg.logId, change });
  }
}

export interface WorldOptions {
  seed?: number;
  disk?: SimDisk;
  clock?: SimClock;
  log?: Partial<Omit<LogSystemOptions, 'disk' | 'clock' | 'logger'>>;
  diskOptions?: SimDiskOptions;
  shuffle?: boolean;
}

export type World = ReturnType<typeof logWorld>;

/** Starts a node over `disk` (a fresh SimDisk by default). */
export function logWorld(o: WorldOptions = {}) {
  const seed = o.seed ?? 1;
  const clock = o.clock ?? new SimClock();
  const random = new SeededRandom(seed);
  const disk = o.disk ?? new SimDisk(clock, random.fork(), o.diskOptions);
  const logger = memoryLogger();
  const system = new ActorSystem({ clock, random: random.fork(), shuffle: o.shuffle ?? true, sliceMax: 16, drainMax: 64, logger });
  // Small preallocation: the path is exercised without filling simulated memory with zeros.
  const ls = new LogSystem({ dataDir: '/data', disk, clock, logger, walSyncMethod: 'datasync', walPreallocateBytes: 64 * 1024, ...o.log });
  const top = startSupervisor(system, { strategy: 'one_for_one', maxRestarts: 10, children: [ls.childSpec()] });
  const state: OwnerState = { logs: new Map(), changes: [], events: [], meta: [] };
  const owner = system.spawn(Owner, state) as ActorRef<LogEvent | MetaStored>;
  const open = (logId: string): GroupLog => {
    const log = ls.openLog(logId, owner);
    state.logs.set(logId, log);
    return log;
  };
  const settle = (): void => {
    if (!clock.runUntilIdle(5_000_000)) throw new Error('simulation did not go idle');
  };
  return { clock, random, disk, logger, system, ls, top, owner, state, open, settle };
}

/** Restarts a node after a power loss at this instant: a crashed copy of the disk under a new clock. */
export function crashAndRestart(w: World, o: { torn?: boolean; seed?: number; log?: WorldOptions['log'] } = {}): World {
  const clock = new SimClock();
  const disk = w.disk.fork(clock, new SeededRandom((o.seed ?? 7) + 1));
  disk.crash({ torn: o.torn ?? false });
  return logWorld({ clock, disk, seed: o.seed ?? 7, ...(o.log === undefined ? {} : { log: o.log }) });
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A payload that names its log, index and term, padded to `size` bytes. */
export function payloadFor(logId: string, index: number, term: number, size = 40): Uint8Array {
  const head = enc.encode(`${logId}|${index}|${term}|`);
  const out = new Uint8Array(Math.max(size, head.length));
  out.set(head);
  for (let i = head.length; i < out.length; i++) out[i] = (index * 31 + i) & 0xff;
  return out;
}

/** Entries from..to at `term` with self-describing payloads. */
export function makeEntries(logId: string, from: number, to: number, term: number, size = 40): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, payload: payloadFor(logId, i, term, size) });
  return out;
}

/** Checks that an entry's payload is the one `payloadFor` made for it. */
export function payloadMatches(logId: string, e: LogEntry): boolean {
  const text = dec.decode(e.payload.subarray(0, Math.min(e.payload.length, 80)));
  const [id, index, term] = text.split('|');
  if (id !== logId || Number(index) !== e.index || Number(term) !== e.term) return false;
  const expected = payloadFor(logId, e.index, e.term, e.payload.length);
  if (expected.length !== e.payload.length) return false;
  for (let i = 0; i < expected.length; i++) if (expected[i] !== e.payload[i]) return false;
  return true;
}

/** The log tree's supervisor and its child `id` ('wal', 'segment_writer' or 'meta_store') now. */
export async function logTreeChild(w: World, id: string): Promise<{ sup: ActorRef; child: ActorRef }> {
  const sup = (await w.clock.settle(whichChildren(w.system, w.top))).find((c) => c.id === 'log')?.ref as ActorRef;
  const child = (await w.clock.settle(whichChildren(w.system, sup))).find((c) => c.id === id)?.ref as ActorRef;
  return { sup, child };
}
