// `simulate`: the simulator for users' own machines. Each seed runs the
// machine on a simulated cluster under the nemesis, with clients drawing
// operations from the user's workload, and checks the history against the
// user's model (linearizability), the committed log and the members' states.
import type { AnyMachine } from '../raft/machine.js';
import type { CoreOptions } from '../raft/core/types.js';
import type { Budget, Call, Model } from './checker/index.js';
import { Coverage } from './coverage.js';
import type { FaultKind } from './nemesis.js';
import { runSeed, type SeedResult } from './run.js';
import type { Featured } from './scripts.js';
import type { Workload } from './workload.js';

/** The operations clients draw for a user's machine (a Workload without its machine and model). */
export type UserWorkload<C extends Call, O> = Omit<Workload<unknown, C, O>, 'machine' | 'model'>;

/** What `simulate` runs. */
export interface SimulateOptions<S, C extends Call, O> {
  /** Makes the machine under test (one per member). */
  readonly machine: () => AnyMachine;
  /** Its sequential specification: what the checker holds the history to. */
  readonly model: Model<S, C, O>;
  /** The operations clients run against it. */
  readonly workload: UserWorkload<C, O>;
  /** Number of seeds (default 20). */
  readonly seeds?: number;
  /** First seed (default 1): seeds are firstSeed, firstSeed + 1, ... */
  readonly firstSeed?: number;
  /** Nodes per run (default: 3 or 5, drawn per seed). */
  readonly nodes?: 3 | 5;
  /** Virtual time of each run's workload phase (default: 1200 to 2200 ms, drawn). */
  readonly durationMs?: number;
  /** Clients per run (default: 2 to 5, drawn). */
  readonly clients?: number;
  /** Background faults to draw from (default: all). */
  readonly faults?: readonly FaultKind[];
  /** Scripted scenarios to draw from (default: all). */
  readonly scenarios?: readonly Featured[];
  /** Raft options on top of the simulator's (test only: planted bugs). */
  readonly raft?: Partial<CoreOptions>;
  /** Stop at the first failing seed (default true). */
  readonly stopOnFailure?: boolean;
  /** Limits of the linearizability check per run. */
  readonly checkerBudget?: Budget;
  /** Called after each seed. */
  readonly onSeed?: (result: SeedResult) => void;
}

/** A failing seed: how to replay it and what went wrong. */
export interface SeedFailure {
  readonly seed: number;
  readonly findings: SeedResult['findings'];
}

/** What `simulate` found. */
export interface SimulationReport {
  readonly seeds: number;
  readonly failures: readonly SeedFailure[];
  /** Runs where the checker ran out of budget before a verdict. */
  readonly inconclusive: number;
  /** Client operations run, across seeds. */
  readonly operations: number;
  /** Which fault paths and protocol paths ran, across seeds. */
  readonly coverage: Coverage;
  /** One line: seeds, failures, operations. */
  readonly summary: string;
}

/** The name the user's machine is registered under in simulated Systems. */
const machineName = 'machine';

/**
 * Runs the user's machine on simulated clusters, one run per seed, under
 * network, disk and process faults; every run checks Raft's safety
 * properties after every step, liveness after healing, linearizability of
 * the clients' history against `model`, and equal machine states on every
 * member. A failing seed replays exactly with `{ firstSeed: seed, seeds: 1 }`.
 */
export async function simulate<S, C extends Call, O>(options: SimulateOptions<S, C, O>): Promise<SimulationReport> {
  const workload: Workload<S, C, O> = { ...options.workload, machine: machineName, model: options.model };
  const base = {
    workloads: [workload],
    ...(options.nodes === undefined ? {} : { nodes: options.nodes }),
    ...(options.durationMs === undefined ? {} : { durationMs: options.durationMs }),
    ...(options.clients === undefined ? {} : { clients: options.clients }),
    ...(options.faults === undefined ? {} : { faults: options.faults }),
    ...(options.scenarios === undefined ? {} : { featured: options.scenarios }),
    ...(options.raft === undefined ? {} : { raft: options.raft }),
  };
  const coverage = new Coverage();
  const failures: SeedFailure[] = [];
  const first = options.firstSeed ?? 1;
  const count = options.seeds ?? 20;
  let inconclusive = 0;
  let operations = 0;
  let ran = 0;
  for (let seed = first; seed < first + count; seed++) {
    const r = await runSeed(seed, { base, machines: { [machineName]: options.machine }, ...(options.checkerBudget === undefined ? {} : { checkerBudget: options.checkerBudget }) });
    ran++;
    coverage.merge(r.coverage);
    operations += r.stats.ops;
    if (r.inconclusive.length > 0) inconclusive++;
    options.onSeed?.(r);
    if (r.findings.length === 0) continue;
    failures.push({ seed, findings: r.findings });
    if (options.stopOnFailure !== false) break;
  }
  const summary = `${ran} seeds, ${failures.length} failed${failures.length > 0 ? ` (first: seed ${failures[0]?.seed})` : ''}, ${operations} operations`;
  return { seeds: ran, failures, inconclusive, operations, coverage, summary };
}
