// The Machine interface: what a user implements to run on Raft. A machine is
// deterministic: the same commands in the same order give the same state on
// every member, so it may use `meta.timestamp` (the leader's clock) but
// never the local clock or randomness.
import type { Role } from './core/types.js';

/** What a command is applied with: its log position and the leader's clock when it was accepted. */
export interface ApplyMeta {
  readonly index: number;
  readonly term: number;
  /** Leader time (epoch ms) when the command entered the log: the same on every replica. */
  readonly timestamp: number;
  /**
   * The cluster's machine version at this index. It changes at the same index
   * on every member (a replicated machine_version entry), so a machine can
   * switch behaviour safely during a rolling upgrade.
   */
  readonly machineVersion: number;
}

/** Somewhere a machine can send messages to: a subscription registered on a node (`System.subscribe`). */
export interface Destination {
  readonly node: string;
  readonly id: string;
}

/** What a machine may ask for. Only the leader carries effects out; each documents its delivery guarantee. */
export type MachineEffect =
  /** At most once: lost if the leader fails before sending or the destination is gone. */
  | { readonly type: 'send'; readonly to: Destination; readonly msg: unknown }
  /**
   * Watch a node; when it goes down the machine's `down` hook runs as a
   * replicated command (at least once: a node that is already down when
   * monitored gets one too). Re-armed on every new leader, and a down the
   * leader could not propose (a handover, a blocked log) is proposed again.
   */
  | { readonly type: 'monitor'; readonly node: string }
  | { readonly type: 'demonitor'; readonly node: string }
  /**
   * Run the machine's `timeout` hook (as a replicated command) `ms` after the
   * command that set it, by leader time. Setting a name again replaces it.
   * Re-armed on a new leader, and proposed again when the leader could not
   * (a handover, a blocked log). A firing names the setting it is for: one
   * that reaches the log after the timer was set again or cancelled is
   * dropped, and a new setting fires by a firing of its own, once. (While a
   * member of a build before runtime version 1 is in the cluster, firings
   * apply as that build applies them: any firing runs the hook.)
   */
  | { readonly type: 'timer'; readonly name: string; readonly ms: number }
  | { readonly type: 'cancel_timer'; readonly name: string }
  /** The state as of this index may be snapshotted and the log before it dropped. */
  | { readonly type: 'release_cursor'; readonly index: number };

/**
 * What `tick` may return: sends only. Monitors, timers and release cursors
 * are replicated bookkeeping, which every member records as it applies, so
 * they come from `apply` (and `down`, `timeout`), never from a tick.
 */
export type TickEffect = Extract<MachineEffect, { type: 'send' }>;

/** The result of applying one command. */
export interface ApplyResult<S, R = unknown> {
  readonly state: S;
  readonly reply?: R;
  readonly effects?: readonly MachineEffect[];
}

/** Configuration a machine is started with: the cluster it runs in and user settings. */
export interface MachineConfig {
  readonly cluster: string;
  readonly config: unknown;
}

/**
 * A replicated state machine. Implement `init` and `apply`; the hooks are optional.
 *
 * ```ts
 * class Register implements Machine<string, { type: 'set'; value: string }, string> {
 *   readonly version = 1;
 *   init() { return ''; }
 *   apply(_meta: ApplyMeta, cmd: { type: 'set'; value: string }, old: string) {
 *     return { state: cmd.value, reply: old };   // the reply goes back to the caller
 *   }
 * }
 * ```
 * Keep `apply` pure: return a new state (or mutate and return the same object
 * if you never share it), never read the clock or random numbers, and never
 * throw for bad input: return an error value as the reply instead.
 */
export interface Machine<S = unknown, C = unknown, R = unknown> {
  /**
   * The newest behaviour this code implements (default 0). When a member whose
   * code is newer than the cluster's version becomes leader, it appends a
   * machine_version entry; from that index on every member applies with the
   * new version, and a member whose code is older refuses to apply.
   */
  readonly version?: number;
  /** The initial state. */
  init(config: MachineConfig): S;
  /** Applies one command. */
  apply(meta: ApplyMeta, command: C, state: S): ApplyResult<S, R>;
  /** Called on every member when its role changes; effects run only on the leader. */
  stateEnter?(role: Role, state: S): readonly MachineEffect[];
  /** A monitored node went down (delivered through the log, so on every member at the same index). */
  down?(meta: ApplyMeta, node: string, state: S): ApplyResult<S, never>;
  /** A timer set with the `timer` effect fired (through the log). */
  timeout?(meta: ApplyMeta, name: string, state: S): ApplyResult<S, never>;
  /**
   * Called every `machineTickMs` (a System option, default 1000) on every
   * member, with that member's own clock: for periodic side effects, such as
   * reporting figures of the state (ra's `tick`). It reads the state and must
   * not change it (it is not replicated: members tick at different times).
   * Its sends are carried out by the leader only, so that a tick's message
   * goes out once per cluster.
   */
  tick?(time: number, state: S): readonly TickEffect[];
  /** Named read-only queries, usable from any process (function queries only work in process). */
  readonly queries?: Readonly<Record<string, (state: S, args: unknown) => unknown>>;
  /** Encodes the state for a snapshot in one go (default: msgpack). Large states should use snapshotChunks. */
  snapshot?(state: S): Uint8Array;
  /**
   * Encodes the state for a snapshot piece by piece, so that a large state does
   * not block the server: capture the state when called (e.g. a shallow copy
   * of a Map: later commands keep applying), then yield encoded chunks; the
   * server encodes and writes one chunk at a time between other work.
   * `restore` (or `restoreSteps`) receives the chunks concatenated.
   */
  snapshotChunks?(state: S): Iterable<Uint8Array>;
  /** Decodes a snapshot made by `snapshot` or `snapshotChunks`. */
  restore?(bytes: Uint8Array): S;
  /**
   * Decodes a snapshot in steps, so that restoring a large state does not hold
   * up the other groups of the process: yield after each piece of work (a chunk,
   * say) and return the state. The server runs a few steps at a time between
   * other work; nothing else touches this member's machine until it is done.
   * Used instead of `restore` when present.
   */
  restoreSteps?(bytes: Uint8Array): Iterator<unknown, S, undefined>;
}

/** Shorthand for a machine of any types, as the runtime handles them. */
export type AnyMachine = Machine<any, any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
