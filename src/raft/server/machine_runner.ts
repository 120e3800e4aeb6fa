// Runs the user's Machine on one member: applies committed entries in order,
// answers queries, and keeps the record of monitors and timers that the
// machine asked for (on every member, so a new leader can re-arm them).
import { ConcordError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { EntryKind, kindOf } from '../core/entry_kind.js';
import type { Entry, Role } from '../core/types.js';
import type { AnyMachine, ApplyMeta, ApplyResult, MachineEffect } from '../machine.js';
import { decodeCommand, decodeValue, encodeValue } from './entry_codec.js';
import type { QuerySpec } from '../../transport/transport.js';

/** The outcome of applying one entry: the reply for its caller (if a user command) and effects to run as leader. */
export interface Applied {
  readonly index: number;
  readonly term: number;
  readonly reply: unknown;
  /** Set when the machine threw: the caller gets a machine_error. */
  readonly error: ConcordError | undefined;
  readonly effects: readonly MachineEffect[];
  readonly user: boolean;
}

/** A machine instance with its state and its replicated bookkeeping. */
export class MachineRunner {
  state: unknown;
  /** Nodes the machine monitors. */
  readonly monitors = new Set<string>();
  /** Machine timers: name -> due time (leader clock). */
  readonly timers = new Map<string, number>();
  appliedIndex = 0;

  constructor(
    readonly machine: AnyMachine,
    private readonly logger: Logger,
    readonly cluster: string,
    readonly config: unknown,
  ) {
    this.state = machine.init({ cluster, config });
  }

  /** Applies one committed entry. Never throws for a machine error: that is the caller's reply. */
  apply(entry: Entry): Applied | undefined {
    this.appliedIndex = entry.index;
    if (kindOf(entry) !== EntryKind.command) return undefined;
    const body = decodeCommand(entry.payload);
    const meta: ApplyMeta = { index: entry.index, term: entry.term, timestamp: body.timestamp };
    if (body.type === 'timeout') this.timers.delete(body.name); // fired; the machine may set it again
    let result: ApplyResult<unknown, unknown>;
    try {
      if (body.type === 'user') result = this.machine.apply(meta, body.command, this.state);
      else if (body.type === 'down') result = this.machine.down?.(meta, body.node, this.state) ?? { state: this.state };
      else result = this.machine.timeout?.(meta, body.name, this.state) ?? { state: this.state };
    } catch (e) {
      // Deterministic: every member throws at this index, so states stay equal.
      this.logger.error('machine threw while applying', { cluster: this.cluster, index: entry.index, error: e });
      const error = new ConcordError('machine_error', `machine failed to apply: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      return { index: entry.index, term: entry.term, reply: undefined, error, effects: [], user: body.type === 'user' };
    }
    this.state = result.state;
    const effects = result.effects ?? [];
    this.track(effects, body.timestamp);
    return { index: entry.index, term: entry.term, reply: result.reply, error: undefined, effects, user: body.type === 'user' };
  }

  /** The machine's effects on entering a role (effects are only carried out by a leader). */
  enter(role: Role): readonly MachineEffect[] {
    try {
      const effects = this.machine.stateEnter?.(role, this.state) ?? [];
      return effects;
    } catch (e) {
      this.logger.error('machine stateEnter threw', { cluster: this.cluster, role, error: e });
      return [];
    }
  }

  /** Runs a query against the current state. */
  query(spec: QuerySpec): unknown {
    if (spec.type === 'fn') return spec.fn(this.state);
    const q = this.machine.queries?.[spec.name];
    if (q === undefined) throw new ConcordError('invalid_argument', `machine has no query '${spec.name}'`);
    return q(this.state, spec.args);
  }

  /** Encodes the state (the machine's hook, or msgpack). */
  snapshot(): Uint8Array {
    return this.machine.snapshot !== undefined ? this.machine.snapshot(this.state) : encodeValue(this.state);
  }

  /** Replaces the state from a snapshot taken at `index`, with the replicated bookkeeping. */
  restore(bytes: Uint8Array, index: number): void {
    this.state = this.machine.restore !== undefined ? this.machine.restore(bytes) : decodeValue(bytes);
    this.appliedIndex = index;
  }

  /** Monitors and timers are replicated state: every member records them at apply time. */
  private track(effects: readonly MachineEffect[], timestamp: number): void {
    for (const e of effects) {
      if (e.type === 'monitor') this.monitors.add(e.node);
      else if (e.type === 'demonitor') this.monitors.delete(e.node);
      else if (e.type === 'timer') this.timers.set(e.name, timestamp + e.ms);
      else if (e.type === 'cancel_timer') this.timers.delete(e.name);
    }
  }
}
