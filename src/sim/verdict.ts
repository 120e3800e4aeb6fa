// The end-of-run checks of one cluster: the history against the committed
// log (acknowledged writes present, definite failures absent, nothing
// applied twice), linearizability with unknown operations resolved from the
// log, and the members' machine states against each other and against a
// replay of the committed log.
import { silentLogger } from '../lib/logger.js';
import type { AnyMachine } from '../raft/machine.js';
import { MachineRunner } from '../raft/server/machine_runner.js';
import { encodeValue } from '../raft/server/entry_codec.js';
import { check, type Budget, type Call, type Model, type Operation, type Resolution } from './checker/index.js';
import { isSessionTag, type CommittedLog } from './committed_log.js';
import type { History, SimOp } from './history.js';
import { digest } from './invariants.js';
import type { World } from './world.js';

/** What went wrong in a run. */
export type FindingKind =
  | 'invariant'
  | 'crash'
  | 'liveness'
  | 'lost_write'
  | 'false_failure'
  | 'duplicate'
  | 'linearizability'
  | 'divergence'
  | 'harness';

/** One failure of a run. */
export interface Finding {
  readonly kind: FindingKind;
  readonly message: string;
}

/** What the history check needs. */
export interface HistoryCheck {
  readonly cluster: string;
  readonly history: History;
  readonly committed: CommittedLog;
  readonly model: Model<any, any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Tags found in some member's log above its commit index at the end (may still commit). */
  readonly openTags: ReadonlySet<string>;
  readonly budget: Budget;
  /** Unknown operations resolved as happened (counted for coverage). */
  resolved: number;
  /** Set when the checker ran out of budget. */
  inconclusive: string | undefined;
}

/** Acknowledged commands are in the log, definite failures are not, and plain commands apply at most once. */
export function checkAgainstLog(c: HistoryCheck): Finding[] {
  const out: Finding[] = [];
  for (const op of c.history.ops) {
    if (op.cluster !== c.cluster || op.kind !== 'command' || op.tags.length === 0) continue;
    const entry = op.tags.map((t) => c.committed.effective(c.cluster, t)).find((e) => e !== undefined);
    if (op.status === 'ok' && entry === undefined) out.push({ kind: 'lost_write', message: `${c.cluster}: ${describe(op)} was acknowledged but is not in the committed log` });
    if (op.status === 'fail' && entry !== undefined) {
      out.push({ kind: 'false_failure', message: `${c.cluster}: ${describe(op)} failed with ${op.error} (definite) but was committed at index ${entry.index}` });
    }
  }
  const owners = new Map<string, SimOp>();
  for (const op of c.history.ops) if (op.cluster === c.cluster) for (const t of op.tags) owners.set(t, op);
  for (const [tag, at] of c.committed.repeated(c.cluster)) {
    const owner = owners.get(tag);
    if (isSessionTag(tag) || owner?.session === true) continue;
    out.push({ kind: 'duplicate', message: `${c.cluster}: command ${tag} (${owner === undefined ? '?' : describe(owner)}) was committed ${at.length} times, at ${at.join(', ')}` });
  }
  return out;
}

/** Linearizability of the cluster's history, unknown operations resolved from the committed log. */
export function checkLinearizable(c: HistoryCheck): Finding[] {
  const ops = c.history.operations(c.cluster);
  if (ops.length === 0) return [];
  const resolve = (op: Operation<Call, unknown>): Resolution<unknown> => {
    const sim = c.history.byId(op.id);
    if (sim === undefined || sim.tags.length === 0) return { type: 'unknown' };
    for (const t of sim.tags) {
      const e = c.committed.effective(c.cluster, t);
      if (e !== undefined) {
        c.resolved++;
        return { type: 'happened', complete: Math.max(op.invoke, e.time) };
      }
    }
    // Committed without effect (a session retry refused), or in no log at all: it never happens.
    return sim.tags.some((t) => c.openTags.has(t)) && !sim.tags.some((t) => c.committed.find(c.cluster, t) !== undefined) ? { type: 'unknown' } : { type: 'not_happened' };
  };
  const r = check(ops, c.model, { budget: c.budget, resolve });
  if (process.env['SIM_DEBUG_KEY'] !== undefined && r.result === 'violation') {
    for (const op of ops) {
      if (op.key !== process.env['SIM_DEBUG_KEY']) continue;
      const sim = c.history.byId(op.id);
      const res = op.status === 'unknown' ? JSON.stringify(resolve(op)) : '';
      const at = sim?.tags.map((t) => c.committed.effective(c.cluster, t)?.index).join(',');
      console.log(`DBG #${op.id} ${op.client} ${op.f} ${JSON.stringify(op.input)} ${op.status} ${JSON.stringify(op.output)} [${op.invoke.toFixed(1)}, ${op.complete}] tags=${sim?.tags.join(',')} at=${at} ${res}`);
    }
  }
  if (r.result === 'violation') return [{ kind: 'linearizability', message: `${c.cluster}: not linearizable\n${r.violation.report}` }];
  if (r.result === 'unknown') c.inconclusive = `${c.cluster}: ${r.reason}`;
  return [];
}

function describe(op: SimOp): string {
  return `${op.client} ${op.call.f}(${op.call.key ?? ''}${op.call.input === null ? '' : `, ${JSON.stringify(op.call.input)}`}) invoked at ${op.invoke.toFixed(1)}`;
}

/** The bytes a machine state is compared by: the machine's own snapshot encoding, else msgpack. */
export function stateBytes(machine: AnyMachine, state: unknown): Uint8Array {
  return machine.snapshot !== undefined ? machine.snapshot(state) : encodeValue(state);
}

/**
 * Members at the highest applied index hold equal machine states, equal to a
 * replay of the committed log from index 1 on a fresh machine.
 */
export function checkStates(world: World, cluster: string, committed: CommittedLog, factory: () => AnyMachine, members: readonly string[]): Finding[] {
  const states: { node: string; applied: number; digest: number }[] = [];
  for (const node of members) {
    const view = world.inspect(node, cluster);
    if (view === undefined) continue;
    states.push({ node, applied: view.runner.appliedIndex, digest: digest(stateBytes(view.runner.machine, view.runner.state)) });
  }
  const top = Math.max(0, ...states.map((s) => s.applied));
  const atTop = states.filter((s) => s.applied === top);
  const out: Finding[] = [];
  const first = atTop[0];
  if (first === undefined) return out;
  for (const s of atTop) {
    if (s.digest !== first.digest) out.push({ kind: 'divergence', message: `${cluster}: ${s.node} and ${first.node} hold different states at applied index ${top}` });
  }
  const replayed = replay(committed, cluster, factory, top);
  if (replayed !== undefined && replayed !== first.digest) {
    out.push({ kind: 'divergence', message: `${cluster}: the members' state at ${top} differs from a replay of the committed log` });
  }
  return out;
}

/** Digest of the state a fresh machine reaches by applying committed entries 1..upTo (undefined if one is missing). */
function replay(committed: CommittedLog, cluster: string, factory: () => AnyMachine, upTo: number): number | undefined {
  const entries = committed.entries(cluster);
  const runner = new MachineRunner(factory(), silentLogger, cluster, null, 60_000);
  for (let i = 1; i <= upTo; i++) {
    const e = entries.get(i);
    if (e === undefined) return undefined;
    runner.apply(e);
  }
  return digest(stateBytes(runner.machine, runner.state));
}
