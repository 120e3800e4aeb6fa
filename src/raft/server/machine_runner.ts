// Runs the user's Machine on one member: applies committed entries in order,
// answers queries, and keeps the replicated bookkeeping around the machine:
// monitors and timers (so a new leader can re-arm them), client sessions
// (exactly-once), and the cluster's machine version. Snapshots carry all of it.
import { ConcordError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { ownValue } from '../../lib/names.js';
import { completeSteps, stepsOf } from '../../lib/steps.js';
import { EntryKind, kindOf, runtimeVersion } from '../core/entry_kind.js';
import type { Entry, Role } from '../core/types.js';
import type { AnyMachine, ApplyMeta, ApplyResult, MachineEffect } from '../machine.js';
import { decodeCommand, decodeMachineVersion, decodeTimerFiring, decodeValue, encodeValue, type CommandBody } from './entry_codec.js';
import { Sessions, type RecordedReply, type SessionsData } from './sessions.js';
import type { QuerySpec } from '../../transport/transport.js';

/** The outcome of applying one entry: its caller's reply (for commands) and effects to run as leader. */
export interface Applied {
  readonly index: number;
  readonly term: number;
  /** What the caller of this entry's command gets (undefined for entries nobody waits for). */
  readonly outcome: RecordedReply | undefined;
  readonly effects: readonly MachineEffect[];
  /** The node whose `down` this entry delivered, if it did. */
  readonly down?: string;
  /** The machine timer whose firing this entry carried, if it did (delivered, or dropped as stale). */
  readonly timeout?: string;
}

/** What a snapshot holds besides the machine's own bytes. */
interface SnapshotHeader {
  readonly v: 2;
  readonly version: number;
  readonly monitors: string[];
  readonly timers: [string, number][];
  readonly sessions: SessionsData;
}

/**
 * A snapshot on its way out: the header (u32 length + msgpack of the
 * replicated bookkeeping), then the machine's chunks, encoded on demand.
 */
export interface SnapshotStream {
  readonly header: Uint8Array;
  readonly chunks: Iterator<Uint8Array>;
}

/** The entry kinds this build applies (the rest halt the member: MachineRunner.haltOnKind). */
const knownKinds = new Set<number>(Object.values(EntryKind));

/** A machine instance with its state and its replicated bookkeeping. */
export class MachineRunner {
  state: unknown;
  /** Nodes the machine monitors. */
  readonly monitors = new Set<string>();
  /** Machine timers: name -> due time (leader clock). */
  readonly timers = new Map<string, number>();
  readonly sessions: Sessions;
  appliedIndex = 0;
  /** The cluster's machine version (set by machine_version entries). */
  version = 0;
  /**
   * Set when the log asks for more than this code can apply (a newer machine
   * version, or an entry kind of a newer runtime): nothing more is applied.
   */
  halted: { readonly reason: string; readonly index: number } | undefined;

  constructor(
    readonly machine: AnyMachine,
    private readonly logger: Logger,
    readonly cluster: string,
    readonly config: unknown,
    sessionTimeoutMs: number,
  ) {
    this.state = machine.init({ cluster, config });
    this.sessions = new Sessions(sessionTimeoutMs);
  }

  /** The version this code implements. */
  get codeVersion(): number {
    return this.machine.version ?? 0;
  }

  /** Applies one committed entry (never after a halt). Machine errors become the caller's reply. */
  apply(entry: Entry): Applied | undefined {
    if (this.halted !== undefined) return undefined;
    const kind = kindOf(entry);
    if (kind === EntryKind.machineVersion) return this.applyVersion(entry);
    if (!knownKinds.has(kind)) return this.haltOnKind(entry, kind);
    this.appliedIndex = entry.index;
    if (kind === EntryKind.timerFiring) return this.applyFiring(entry);
    if (kind !== EntryKind.command) return undefined;
    const body = decodeCommand(entry.payload);
    const meta: ApplyMeta = { index: entry.index, term: entry.term, timestamp: body.timestamp, machineVersion: this.version };
    if (body.type === 'register_session') {
      this.sessions.register(entry.index, body.timestamp);
      return { index: entry.index, term: entry.term, outcome: { ok: true, value: entry.index }, effects: [] };
    }
    if (body.type === 'user' && body.session !== undefined) {
      const verdict = this.sessions.check(body.session, body.timestamp);
      if (verdict.type === 'duplicate') return { index: entry.index, term: entry.term, outcome: verdict.reply, effects: [] };
      if (verdict.type === 'reject') {
        return { index: entry.index, term: entry.term, outcome: { ok: false, code: verdict.code, message: verdict.message }, effects: [] };
      }
    }
    const applied = this.run(meta, body);
    if (body.type === 'user' && body.session !== undefined && applied.outcome !== undefined) this.sessions.record(body.session, applied.outcome);
    return applied;
  }

  private run(meta: ApplyMeta, body: CommandBody): Applied {
    // A firing as a command entry (a member of an earlier build may be in the cluster) runs the
    // hook whatever the timer's setting now, as earlier builds do (see EntryKind.timerFiring).
    if (body.type === 'timeout') this.timers.delete(body.name); // fired; the machine may set it again
    if (body.type === 'user' && body.invalid !== undefined) {
      return { index: meta.index, term: meta.term, outcome: { ok: false, code: 'invalid_argument', message: body.invalid }, effects: [] };
    }
    let result: ApplyResult<unknown, unknown>;
    try {
      if (body.type === 'user') result = this.machine.apply(meta, body.command, this.state);
      else if (body.type === 'down') result = this.machine.down?.(meta, body.node, this.state) ?? { state: this.state };
      else if (body.type === 'timeout') result = this.machine.timeout?.(meta, body.name, this.state) ?? { state: this.state };
      else result = { state: this.state };
    } catch (e) {
      // Deterministic: every member throws at this index, so states stay equal.
      this.logger.error('machine threw while applying', { cluster: this.cluster, index: meta.index, error: e });
      const message = `machine failed to apply: ${e instanceof Error ? e.message : String(e)}`;
      return { index: meta.index, term: meta.term, outcome: body.type === 'user' ? { ok: false, code: 'machine_error', message } : undefined, effects: [] };
    }
    this.state = result.state;
    const effects = result.effects ?? [];
    this.track(effects, body.timestamp);
    if (body.type === 'down') return { index: meta.index, term: meta.term, outcome: undefined, effects, down: body.node };
    if (body.type === 'timeout') return { index: meta.index, term: meta.term, outcome: undefined, effects, timeout: body.name };
    return { index: meta.index, term: meta.term, outcome: body.type === 'user' ? { ok: true, value: result.reply } : undefined, effects };
  }

  /**
   * A timer firing for the setting due at `due`: it runs the hook only if the
   * timer still has that setting. One set again or cancelled since (by an entry
   * before this one that its proposer had not applied yet), or already fired
   * (a new leader proposed it again), drops the firing; the new setting fires
   * by its own entry.
   */
  private applyFiring(entry: Entry): Applied {
    const f = decodeTimerFiring(entry.payload);
    if (this.timers.get(f.name) !== f.due) return { index: entry.index, term: entry.term, outcome: undefined, effects: [], timeout: f.name };
    return this.run({ index: entry.index, term: entry.term, timestamp: f.timestamp, machineVersion: this.version }, { type: 'timeout', timestamp: f.timestamp, name: f.name });
  }

  /**
   * An entry of a kind this build does not know, written by a newer build (a
   * leader that took every member for one of its runtime version): skipping
   * it would make this member's state differ from the others', so it stops
   * applying, as for a machine version it does not run.
   */
  private haltOnKind(entry: Entry, kind: number): undefined {
    this.halted = { reason: `the log holds an entry of kind ${kind}, which this build (runtime version ${runtimeVersion}) cannot apply`, index: entry.index };
    this.logger.error('an entry of a kind this build does not know; it stops applying', { cluster: this.cluster, index: entry.index, kind, runtimeVersion });
    return undefined;
  }

  private applyVersion(entry: Entry): undefined {
    const v = decodeMachineVersion(entry.payload);
    if (v > this.codeVersion) {
      this.halted = { reason: `cluster needs machine version ${v}, this member runs ${this.codeVersion}`, index: entry.index };
      this.logger.error('the cluster moved to a machine version this member does not run; it stops applying', {
        cluster: this.cluster,
        index: entry.index,
        required: v,
        running: this.codeVersion,
      });
      return undefined;
    }
    this.appliedIndex = entry.index;
    if (v > this.version) this.version = v;
    return undefined;
  }

  /** The machine's tick at `time` (its sends are only carried out by a leader); a tick that throws is logged and sends nothing. */
  tick(time: number): readonly MachineEffect[] {
    try {
      return this.machine.tick?.(time, this.state) ?? [];
    } catch (e) {
      this.logger.error('machine tick threw', { cluster: this.cluster, error: e });
      return [];
    }
  }

  /** Whether the machine has a `tick` hook. */
  get ticks(): boolean {
    return typeof this.machine.tick === 'function';
  }

  /** The machine's effects on entering a role (effects are only carried out by a leader). */
  enter(role: Role): readonly MachineEffect[] {
    try {
      return this.machine.stateEnter?.(role, this.state) ?? [];
    } catch (e) {
      this.logger.error('machine stateEnter threw', { cluster: this.cluster, role, error: e });
      return [];
    }
  }

  /** Runs a query against the current state. */
  query(spec: QuerySpec): unknown {
    if (spec.type === 'fn') return spec.fn(this.state);
    const q = ownValue(this.machine.queries, spec.name);
    if (typeof q !== 'function') throw new ConcordError('invalid_argument', `machine has no query '${spec.name}'`);
    return q(this.state, spec.args);
  }

  /**
   * The state and bookkeeping as of now, as a snapshot stream: the machine's
   * state is captured at once (its snapshotChunks hook, or one encoded chunk),
   * and its chunks are encoded as the caller pulls them.
   */
  snapshotStream(): SnapshotStream {
    const header: SnapshotHeader = { v: 2, version: this.version, monitors: [...this.monitors], timers: [...this.timers], sessions: this.sessions.toData() };
    const body = encodeValue(header);
    const framed = new Uint8Array(4 + body.length);
    new DataView(framed.buffer).setUint32(0, body.length, true);
    framed.set(body, 4);
    const m = this.machine;
    const chunks = m.snapshotChunks !== undefined ? m.snapshotChunks(this.state)[Symbol.iterator]() : [m.snapshot !== undefined ? m.snapshot(this.state) : encodeValue(this.state)][Symbol.iterator]();
    return { header: framed, chunks };
  }

  /** Replaces everything from snapshot bytes taken at `index`, in one go. */
  restore(bytes: Uint8Array, index: number): void {
    completeSteps(this.restoreSteps(bytes, index));
  }

  /**
   * Starts replacing everything from the snapshot taken at `index`: its bytes
   * (or steps that read them), then the machine's state decoded by its
   * restoreSteps hook (or in one step), as the job is stepped. Nothing of the
   * runner changes until the last step; the machine must not be used meanwhile.
   */
  beginRestore(source: Uint8Array | Iterator<unknown, Uint8Array, undefined>, index: number): RestoreJob {
    const steps = this.restoreSteps(source, index);
    return {
      step: (max) => {
        for (let n = 0; n < max; n++) if (steps.next().done === true) return true;
        return false;
      },
    };
  }

  private *restoreSteps(source: Uint8Array | Iterator<unknown, Uint8Array, undefined>, index: number): Generator<unknown, void, undefined> {
    const bytes = source instanceof Uint8Array ? source : yield* stepsOf(source);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headerBytes = bytes.length >= 4 ? view.getUint32(0, true) : -1;
    if (headerBytes < 0 || 4 + headerBytes > bytes.length) throw new ConcordError('corrupt', `snapshot ${index} of ${this.cluster} is truncated`);
    const env = decodeValue(bytes.subarray(4, 4 + headerBytes)) as SnapshotHeader;
    if (env === null || typeof env !== 'object' || env.v !== 2) throw new ConcordError('corrupt', `snapshot ${index} of ${this.cluster} has an unknown format`);
    const machine = bytes.subarray(4 + headerBytes);
    const m = this.machine;
    let state: unknown;
    if (m.restoreSteps !== undefined) state = yield* stepsOf(m.restoreSteps(machine));
    else state = m.restore !== undefined ? m.restore(machine) : decodeValue(machine);
    this.installRestored(env, state, index);
  }

  /** The last step of a restore: the decoded state and the snapshot's bookkeeping replace the runner's. */
  private installRestored(env: SnapshotHeader, state: unknown, index: number): void {
    this.version = env.version;
    if (env.version > this.codeVersion) {
      this.halted = { reason: `cluster needs machine version ${env.version}, this member runs ${this.codeVersion}`, index };
      this.logger.error('snapshot needs a newer machine version; this member does not apply', { cluster: this.cluster, required: env.version });
    }
    this.state = state;
    this.monitors.clear();
    for (const m of env.monitors) this.monitors.add(m);
    this.timers.clear();
    for (const [name, due] of env.timers) this.timers.set(name, due);
    this.sessions.load(env.sessions);
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

/** A restore in progress (MachineRunner.beginRestore). */
export interface RestoreJob {
  /** Runs at most `max` more steps (reading the snapshot, then the machine's); true once the restore is complete. */
  step(max: number): boolean;
}
