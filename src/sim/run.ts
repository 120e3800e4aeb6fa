// One simulated run, from its seed alone: build the world of the seed's
// scenario, start the clusters with clients already calling, let the
// nemesis and the clients loose for the workload phase, heal everything and
// require progress within a bounded time, then check the history, the
// committed log and the machine states.
import type { AnyMachine } from '../raft/machine.js';
import { SeededRandom } from '../io/random.js';
import { SimClient } from './clients.js';
import { CommittedLog, entryTags } from './committed_log.js';
import { Coverage } from './coverage.js';
import { History, type SimOp } from './history.js';
import { boundKeysBucket, Nemesis, neverNode } from './nemesis.js';
import { EntryKind } from '../raft/core/entry_kind.js';
import { decodeCommand } from '../raft/server/entry_codec.js';
import { Observation } from './observation.js';
import { scenarioFor, type Scenario, type ScenarioBase } from './scenario.js';
import { scheduleScript } from './scripts.js';
import { SimLogger } from './sim_logger.js';
import { Trace } from './trace.js';
import { checkAgainstLog, checkLinearizable, checkStates, type Finding, type HistoryCheck } from './verdict.js';
import { LivelockError, World } from './world.js';
import type { Budget } from './checker/index.js';

/** How runs are made. */
export interface RunOptions {
  readonly base: ScenarioBase;
  /** Machine factories by registered name (every workload's machine must be here). */
  readonly machines: Readonly<Record<string, () => AnyMachine>>;
  /** Keep a readable trace of the run (replays). */
  readonly trace?: boolean;
  /** Limits of the linearizability check per cluster (default 2,000,000 steps). */
  readonly checkerBudget?: Budget;
  /** Virtual time allowed for progress after every fault is healed (default 10,000 ms). */
  readonly livenessMs?: number;
}

/** Counts of one run. */
export interface RunStats {
  readonly ops: number;
  readonly ok: number;
  readonly failed: number;
  readonly unknown: number;
  readonly steps: number;
  readonly virtualMs: number;
}

/** The outcome of one run. */
export interface SeedResult {
  readonly seed: number;
  readonly scenario: Scenario;
  /** Failures: an empty list is a passing run. */
  readonly findings: readonly Finding[];
  /** The checker gave up within its budget (not a failure, but reported). */
  readonly inconclusive: readonly string[];
  readonly coverage: Coverage;
  readonly stats: RunStats;
  /** The trace, when asked for. */
  readonly trace: readonly string[];
}

/** Everything one run holds. */
interface Run {
  readonly scenario: Scenario;
  readonly world: World;
  readonly logger: SimLogger;
  readonly coverage: Coverage;
  readonly trace: Trace;
  readonly history: History;
  readonly committed: CommittedLog;
  readonly observation: Observation;
  readonly clients: SimClient[];
  readonly findings: Finding[];
  readonly t0: number;
}

function build(seed: number, options: RunOptions): Run {
  const scenario = scenarioFor(seed, options.base);
  let now = (): number => 0;
  const trace = new Trace(options.trace === true, () => now());
  const findings: Finding[] = [];
  const logger = new SimLogger({
    ...(options.trace === true ? { sink: (l: { level: string; msg: string; text: string }) => trace.add(`log.${l.level}`, `${l.msg} ${l.text}`) } : {}),
    onError: (l) => {
      if (l.msg === 'actor exited' && l.text.includes('AssertionError')) findings.push({ kind: 'crash', message: `an assertion failed: ${l.text}` });
      if (l.msg.startsWith('the supervision tree gave up')) findings.push({ kind: 'crash', message: `a node stopped by itself: ${l.text}` });
      if (l.msg.startsWith('a member crashed too often')) findings.push({ kind: 'crash', message: `a member crashed over and over: ${l.text}` });
    },
  });
  const world = new World({
    seed,
    nodes: scenario.nodes,
    machines: options.machines,
    raft: scenario.raft,
    log: scenario.log,
    disk: scenario.disk,
    logger,
    snapshotEveryEntries: scenario.snapshotEveryEntries,
  });
  const t0 = world.clock.now();
  now = () => world.clock.now() - t0;
  const coverage = new Coverage();
  const committed = new CommittedLog(now);
  world.observers.push(committed.observer);
  world.clusters.push(...scenario.clusters.map((c) => c.name));
  const run: Run = { scenario, world, logger, coverage, trace, history: new History(now), committed, observation: new Observation(world, coverage, trace), clients: [], findings, t0 };
  world.startHooks.push((_node, system) => {
    for (const c of scenario.clusters) system.knowMembers(c.name, c.members);
  });
  return run;
}

function callText(op: SimOp): string {
  return `${op.call.f}(${op.call.key ?? ''}${op.call.input === null ? '' : ` ${JSON.stringify(op.call.input)}`})`;
}

function startClients(run: Run, random: SeededRandom): void {
  for (const c of run.scenario.clusters) {
    for (let i = 0; i < c.clients; i++) {
      const session = i < Math.round(c.clients * c.sessionShare);
      const spec = { id: `${c.name}-c${i + 1}`, cluster: c.name, workload: c.workload, session, timeoutMs: c.timeoutMs, thinkMs: c.thinkMs, readBias: c.readBias, ...(c.via === undefined ? {} : { via: c.via }) };
      const client = new SimClient(run.world, run.history, spec, random.fork(), {
        invoked: (op, node) => run.trace.add('invoke', () => `${op.client} #${op.id} ${callText(op)} via ${node}`),
        note: (client, text) => run.trace.add('client', `${client} ${text}`),
        completed: (op, err) => {
          run.observation.completed(op, err, run.t0);
          run.trace.add('complete', () => `${op.client} #${op.id} ${op.status}${err === null ? ` ${JSON.stringify(op.output)}` : ` ${err.code}`}`);
        },
      });
      run.clients.push(client);
      client.start();
    }
  }
}

/** Starts the nodes and the clusters (clients already calling: reads during start-up), then the faults. */
async function startUp(run: Run, random: SeededRandom): Promise<Nemesis> {
  const { world, scenario } = run;
  for (const n of scenario.nodes) await world.startNode(n);
  const starts = scenario.clusters.map((c) => world.system(c.members[0] as string).startCluster(c.name, c.workload.machine, c.members));
  startClients(run, random);
  const results = await world.settle(Promise.all(starts));
  results.forEach((r, i) => {
    if (r.notStarted.length > 0) run.findings.push({ kind: 'harness', message: `${scenario.clusters[i]?.name}: members did not start: ${r.notStarted.map((n) => n.node).join(', ')}` });
  });
  const plan = {
    nodes: scenario.nodes,
    clusters: scenario.clusters.map((c) => ({ name: c.name, machine: c.workload.machine, members: c.members, membership: c.membership })),
    weights: scenario.weights,
    meanGapMs: scenario.meanGapMs,
    baseline: scenario.baseline,
  };
  const nemesis = new Nemesis(world, plan, random.fork(), run.trace, run.coverage);
  const solo = scenario.clusters.find((c) => c.name === 'solo')?.name;
  const first = scenario.clusters[0]?.name ?? '';
  scheduleScript(scenario.featured, nemesis, { cluster: first, soloCluster: solo, startMs: world.clock.now(), durationMs: scenario.durationMs });
  return nemesis;
}

/** The workload phase: clients and nemesis, until the scenario's duration has passed. */
async function chaos(run: Run, nemesis: Nemesis): Promise<void> {
  const end = run.world.clock.now() + run.scenario.durationMs;
  while (run.world.clock.now() < end) {
    await nemesis.tick();
    await run.world.advance(Math.min(5, Math.max(0, end - run.world.clock.now())));
  }
  for (const c of run.clients) c.stop();
}

/**
 * Liveness: with every fault healed and every node up, each cluster must
 * commit a new entry and answer a consistent read within `livenessMs`, and
 * every member must then apply everything committed.
 */
async function liveness(run: Run, nemesis: Nemesis, livenessMs: number): Promise<void> {
  const { world } = run;
  await nemesis.healAll();
  const deadline = world.clock.now() + livenessMs;
  for (const c of run.scenario.clusters) {
    const ok = await probe(run, c.name, deadline);
    if (!ok) run.findings.push({ kind: 'liveness', message: `${c.name}: no write and consistent read within ${livenessMs} ms after every fault healed\n${describeMembers(run, c.name)}` });
  }
  const idle = await world.advanceUntil(() => run.history.pending() === 0 && !run.clients.some((c) => c.busy), 10_000);
  if (!idle) run.findings.push({ kind: 'liveness', message: `${run.history.pending()} client operations never completed` });
  for (const c of run.scenario.clusters) await converge(run, c.name, deadline + 5000);
  for (const c of run.scenario.clusters) {
    if (c.workload.machine === 'kv') await boundKeysGone(run, c.name);
    countMachineEffects(run, c.name);
  }
}

/**
 * Keys of the nemesis's bucket that should be gone from the leader's state:
 * expired more than `graceMs` ago, or bound to a node that never ran
 * (undefined: no leader). Read through the kv machine's own queries.
 */
function overdueKeys(run: Run, cluster: string, graceMs: number): string[] | undefined {
  const { world } = run;
  const leader = [...world.systems.keys()].find((n) => world.inspect(n, cluster)?.core.role === 'leader');
  const view = leader === undefined ? undefined : world.inspect(leader, cluster);
  if (view === undefined) return undefined;
  const { range, life } = view.runner.machine.queries ?? {};
  if (range === undefined || life === undefined) return [];
  const now = world.clock.now();
  const out: string[] = [];
  for (const [key] of range(view.runner.state, { bucket: boundKeysBucket }) as [string, unknown][]) {
    const l = life(view.runner.state, { bucket: boundKeysBucket, key }) as { expiresAt: number | null; node: string | null } | null;
    if (l?.node === neverNode) out.push(`${key} (bound to ${neverNode}, which never ran)`);
    else if (l !== null && l.expiresAt !== null && l.expiresAt < now - graceMs) out.push(`${key} (expired at ${l.expiresAt}, now ${now})`);
  }
  return out;
}

/** With every fault healed, the keys whose time has come or whose node never ran go within `withinMs`. */
async function boundKeysGone(run: Run, cluster: string, withinMs = 5000): Promise<void> {
  let left: string[] | undefined;
  const gone = await run.world.advanceUntil(() => (left = overdueKeys(run, cluster, 200))?.length === 0, withinMs);
  if (!gone) run.findings.push({ kind: 'liveness', message: `${cluster}: bound keys still held ${withinMs} ms after every fault healed: ${left?.join(', ') ?? 'no leader'}` });
}

/** Counts the machine's timer firings and node downs that were committed (coverage of those effects). */
function countMachineEffects(run: Run, cluster: string): void {
  for (const e of run.committed.entries(cluster).values()) {
    if (e.payload[0] === EntryKind.timerFiring) run.coverage.add('path.machine_timer_fired');
    if (e.payload[0] !== EntryKind.command) continue;
    const type = decodeCommand(e.payload).type;
    if (type === 'timeout') run.coverage.add('path.machine_timer_fired');
    else if (type === 'down') run.coverage.add('path.machine_node_down');
  }
}

/** A replicated entry (a session registration: any machine) and a consistent read, retried until `deadline`. */
async function probe(run: Run, cluster: string, deadline: number): Promise<boolean> {
  const { world } = run;
  let wrote = false;
  let read = false;
  let waiting = false;
  const attempt = (): void => {
    const node = [...world.systems.keys()][0];
    if (node === undefined) return;
    waiting = true;
    const system = world.system(node);
    const left = Math.max(1, deadline - world.clock.now());
    const body = wrote
      ? ({ type: 'query', mode: 'consistent', query: { type: 'fn', fn: () => null } } as const)
      : ({ type: 'register_session' } as const);
    system.submit(cluster, body, { timeoutMs: Math.min(2000, left) }, (err) => {
      waiting = false;
      if (err === null && wrote) read = true;
      if (err === null) wrote = true;
    });
  };
  return world.advanceUntil(() => {
    if (!waiting && !read && world.clock.now() < deadline) attempt();
    return read;
  }, Math.max(0, deadline - world.clock.now()));
}

/** Waits until every member of the cluster's latest configuration has applied all that is committed. */
async function converge(run: Run, cluster: string, deadline: number): Promise<void> {
  const { world } = run;
  const target = run.committed.lastIndex(cluster);
  const members = (): readonly string[] => {
    const leader = [...world.systems.keys()].find((n) => world.inspect(n, cluster)?.core.role === 'leader');
    const config = leader === undefined ? undefined : world.inspect(leader, cluster)?.core.config;
    return config === undefined ? [] : [...config.voters, ...config.nonVoters];
  };
  const done = (): boolean => {
    const m = members();
    return m.length > 0 && m.every((n) => (world.inspect(n, cluster)?.runner.appliedIndex ?? -1) >= target);
  };
  if (!(await world.advanceUntil(done, Math.max(0, deadline - world.clock.now())))) {
    run.findings.push({ kind: 'liveness', message: `${cluster}: members did not apply up to ${target} in time\n${describeMembers(run, cluster)}` });
  }
}

/** One line per member of `cluster`: role, term, leader, indexes, and the leader's view of its progress. */
export function describeMembers(run: { world: World }, cluster: string): string {
  const { world } = run;
  const lines: string[] = [];
  for (const node of world.options.nodes) {
    const v = world.inspect(node, cluster);
    if (v === undefined) {
      lines.push(`  ${node}: ${world.isDown(node) ? 'down' : 'no member'}`);
      continue;
    }
    const c = v.core;
    const progress = [...c.progress].map(([id, p]) => `${id}:${p.mode}/m${p.matchIndex}/n${p.nextIndex}`).join(' ');
    lines.push(
      `  ${node}: ${c.role} t${c.term} leader=${c.leaderId ?? '-'} commit=${c.commitIndex} applied=${v.runner.appliedIndex} last=${v.log.lastIndex} written=${v.log.writtenIndex} snap=${v.log.snapshotIndex} voters=${c.config.voters.join(',')}${c.blocked === undefined ? '' : ` blocked=${c.blocked}`}${progress === '' ? '' : ` progress ${progress}`}`,
    );
  }
  return lines.join('\n');
}

/** Tags in some member's log above its commit index: those commands may still commit. */
function openTags(run: Run, cluster: string): Set<string> {
  const tags = new Set<string>();
  for (const node of run.world.systems.keys()) {
    const view = run.world.inspect(node, cluster);
    if (view === undefined) continue;
    for (const e of view.log.entries(view.core.commitIndex + 1, view.log.lastIndex)) for (const t of entryTags(e.payload)) tags.add(t);
  }
  return tags;
}

function verdicts(run: Run, options: RunOptions): string[] {
  const inconclusive: string[] = [];
  const budget = options.checkerBudget ?? { maxSteps: 2_000_000 };
  for (const c of run.scenario.clusters) {
    const hc: HistoryCheck = { cluster: c.name, history: run.history, committed: run.committed, model: c.workload.model, openTags: openTags(run, c.name), budget, resolved: 0, inconclusive: undefined };
    run.findings.push(...checkAgainstLog(hc), ...checkLinearizable(hc));
    run.coverage.add('path.unknown_resolved', hc.resolved);
    if (hc.inconclusive !== undefined) inconclusive.push(hc.inconclusive);
    const factory = options.machines[c.workload.machine];
    const leader = [...run.world.systems.keys()].find((n) => run.world.inspect(n, c.name)?.core.role === 'leader');
    const config = leader === undefined ? undefined : run.world.inspect(leader, c.name)?.core.config;
    const members = config === undefined ? [] : [...config.voters, ...config.nonVoters];
    if (factory !== undefined) run.findings.push(...checkStates(run.world, c.name, run.committed, factory, members));
  }
  return inconclusive;
}

/** Runs the seed: same seed, same run, step for step. */
export async function runSeed(seed: number, options: RunOptions): Promise<SeedResult> {
  const run = build(seed, options);
  const random = new SeededRandom(seed ^ 0x7e57c0de);
  let inconclusive: string[] = [];
  try {
    const nemesis = await startUp(run, random);
    await chaos(run, nemesis);
    await liveness(run, nemesis, options.livenessMs ?? 10_000);
    inconclusive = verdicts(run, options);
    run.observation.finish(run.logger, run.committed, run.scenario.clusters.map((c) => c.name));
  } catch (e) {
    if (e instanceof LivelockError) run.findings.push({ kind: 'liveness', message: e.message });
    else run.findings.push({ kind: 'harness', message: `the run threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}` });
  }
  for (const v of run.world.invariants.violations) run.findings.unshift({ kind: 'invariant', message: v });
  return result(run, inconclusive);
}

function result(run: Run, inconclusive: string[]): SeedResult {
  const ops = run.history.ops;
  const count = (s: string): number => ops.filter((o) => o.status === s).length;
  for (const f of run.findings) run.trace.add('FINDING', `${f.kind}: ${f.message}`);
  return {
    seed: run.scenario.seed,
    scenario: run.scenario,
    findings: run.findings,
    inconclusive,
    coverage: run.coverage,
    stats: { ops: ops.length, ok: count('ok'), failed: count('fail'), unknown: count('unknown'), steps: run.world.steps, virtualMs: run.world.clock.now() - run.t0 },
    trace: run.trace.lines,
  };
}
