// One run's plan, drawn from its seed alone: how many nodes, which clusters
// (each with a workload and clients), Raft timing and log limits, disk
// latencies, the featured scenario and the background fault mix.
import { SeededRandom, type Random } from '../io/random.js';
import type { SimDiskOptions } from '../io/sim_disk.js';
import type { SystemOptions } from '../api/system.js';
import type { CoreOptions } from '../raft/core/types.js';
import type { NetworkFaults } from '../transport/local.js';
import { faultKinds, type FaultKind } from './nemesis.js';
import { featuredScenarios, type Featured } from './scripts.js';
import { simRaft } from './world.js';
import type { AnyWorkload } from './workload.js';

/** One cluster of a run. */
export interface ClusterPlan {
  readonly name: string;
  readonly workload: AnyWorkload;
  readonly members: readonly string[];
  readonly clients: number;
  /** Share of its clients that use sessions. */
  readonly sessionShare: number;
  /** Members may be added and removed (it starts on 3 of 5 nodes). */
  readonly membership: boolean;
  readonly thinkMs: readonly [number, number];
  readonly timeoutMs: number;
  /** Nodes its clients call through (default: any live node). */
  readonly via?: readonly string[];
  /** Client read bias (see ClientSpec.readBias). */
  readonly readBias: number;
}

/** Everything a run does, derived from its seed. */
export interface Scenario {
  readonly seed: number;
  readonly featured: Featured;
  readonly nodes: readonly string[];
  readonly clusters: readonly ClusterPlan[];
  /** Virtual time of the workload and nemesis phase. */
  readonly durationMs: number;
  readonly raft: Partial<CoreOptions>;
  readonly log: NonNullable<SystemOptions['log']>;
  readonly disk: SimDiskOptions;
  readonly snapshotEveryEntries: number;
  readonly weights: Partial<Record<FaultKind, number>>;
  readonly meanGapMs: number;
  /** Network faults in force all run long (besides the nemesis'). */
  readonly baseline: Partial<NetworkFaults>;
}

/** What is fixed for every seed of a sweep. */
export interface ScenarioBase {
  /** One cluster per workload (the first one also serves the solo and many-groups clusters). */
  readonly workloads: readonly AnyWorkload[];
  /** Scenarios to draw from (default: all). */
  readonly featured?: readonly Featured[];
  /** Background faults to draw from (default: all). */
  readonly faults?: readonly FaultKind[];
  /** Node count (default: 3 or 5, drawn). */
  readonly nodes?: 3 | 5;
  /** Workload phase length (default: 1200 to 2200 ms, drawn). */
  readonly durationMs?: number;
  /** Raft options on top of the drawn ones (planted bugs go here). */
  readonly raft?: Partial<CoreOptions>;
  /** Log options on top of the drawn ones (e.g. walSyncMethod). */
  readonly log?: NonNullable<SystemOptions['log']>;
  /** Clients per cluster (default: 2 to 5, drawn). */
  readonly clients?: number;
}

/** Default weights of the background faults. */
export const defaultWeights: Readonly<Record<FaultKind, number>> = {
  drop: 3, duplicate: 2, delay: 3, partition: 3, isolate_leader: 3, one_way: 2, bridge: 2,
  crash: 2, crash_leader: 2, crash_mid_batch: 1, member_crash: 1.5, log_crash: 1, power_loss: 0.5, slow_disk: 1.5, disk_full: 1, disk_error: 1,
  clock_jump: 1, transfer_leadership: 1.5, add_member: 1, remove_member: 1, bound_keys: 1.5,
};

const nodeNames = ['n1', 'n2', 'n3', 'n4', 'n5'];

function drawFeatured(r: Random, base: ScenarioBase): Featured {
  const allowed = base.featured ?? featuredScenarios;
  // The plain random mix twice as often as each scripted scenario.
  const pool = allowed.includes('random') ? [...allowed, 'random' as const] : allowed;
  return r.pick(pool);
}

function nodeCount(r: Random, base: ScenarioBase, featured: Featured): number {
  if (base.nodes !== undefined) return base.nodes;
  if (featured === 'membership_partition') return 5;
  if (featured === 'many_groups' || featured === 'solo_crash' || featured === 'election_reads') return 3;
  return r.chance(0.4) ? 5 : 3;
}

function clusterPlans(r: Random, base: ScenarioBase, featured: Featured, nodes: readonly string[]): ClusterPlan[] {
  const plans: ClusterPlan[] = [];
  const reads = featured === 'election_reads';
  base.workloads.forEach((workload, i) => {
    const membership = nodes.length === 5 && (featured === 'membership_partition' ? i === 0 : r.chance(0.3));
    const members = membership ? nodes.slice(0, 3) : nodes;
    plans.push({
      name: i === 0 ? workload.machine : `${workload.machine}${i}`,
      workload,
      members,
      clients: base.clients ?? (reads ? r.between(5, 8) : r.between(2, 5)),
      // Commands of an untagged workload are found in the log through their sessions.
      sessionShare: workload.tagged === true ? r.pick([0, 0.3, 0.5, 1]) : 1,
      membership,
      thinkMs: [0, reads ? 5 : r.pick([5, 10, 25])],
      readBias: reads ? 0.8 : 0,
      timeoutMs: r.pick([300, 600, 1000]),
    });
  });
  const first = base.workloads[0];
  if (first === undefined) return plans;
  const light = { thinkMs: [10, 60] as const, timeoutMs: 1000, sessionShare: first.tagged === true ? 0.5 : 1, membership: false, readBias: 0 };
  if (featured === 'solo_crash') {
    // One client on its node, one elsewhere (which sees the node go down and come back).
    const node = r.pick(nodes);
    plans.push({ ...light, name: 'solo', workload: first, members: [node], clients: 2, thinkMs: [0, 5] });
  }
  if (featured === 'many_groups') {
    const k = r.between(3, 8);
    for (let g = 1; g <= k; g++) plans.push({ ...light, name: `g${g}`, workload: first, members: nodes, clients: 1 });
  }
  return plans;
}

function weightsFor(base: ScenarioBase, featured: Featured): Partial<Record<FaultKind, number>> {
  const allowed = new Set(base.faults ?? faultKinds);
  const w: Partial<Record<FaultKind, number>> = {};
  for (const k of faultKinds) if (allowed.has(k)) w[k] = defaultWeights[k];
  if (featured === 'solo_crash' || featured === 'pause_kill') w.power_loss = 0;
  return w;
}

function logOptions(r: Random, base: ScenarioBase): NonNullable<SystemOptions['log']> {
  return {
    walSyncMethod: r.chance(0.8) ? 'datasync' : 'fsync',
    walFileBytesMax: r.pick([4096, 8192, 32768, 1 << 20]),
    segmentEntriesMax: r.pick([32, 256, 4096]),
    walPendingBytesMax: r.chance(0.25) ? r.pick([4096, 16384]) : 64 * 1024 * 1024,
    walRetryMs: r.pick([20, 60, 150]),
    segmentChunkBytesMax: r.pick([512, 4096, 1 << 20]),
    ...base.log,
  };
}

function raftOptions(r: Random, base: ScenarioBase, featured: Featured): Partial<CoreOptions> {
  return {
    ...simRaft,
    preVote: r.chance(0.9),
    // Without check-quorum a cut-off leader keeps leading until it hears of a newer term:
    // reads right after an election then meet two leaders for as long as the cut lasts.
    checkQuorum: r.chance(featured === 'election_reads' ? 0.5 : 0.9),
    snapshotChunkBytes: r.pick([64, 512, 4096, 512 * 1024]),
    snapshotChunksInFlightMax: r.between(1, 4),
    appendEntriesMax: r.pick([4, 64, 512]),
    inflightEntriesMax: r.pick([16, 8192]),
    ...base.raft,
  };
}

/** The plan of the run of `seed`. */
export function scenarioFor(seed: number, base: ScenarioBase): Scenario {
  const r = new SeededRandom(seed ^ 0x51ab5eed);
  const featured = drawFeatured(r, base);
  const nodes = nodeNames.slice(0, nodeCount(r, base, featured));
  const quiet = r.chance(0.3);
  return {
    seed,
    featured,
    nodes,
    clusters: clusterPlans(r, base, featured, nodes),
    durationMs: base.durationMs ?? r.between(1200, 2200),
    raft: raftOptions(r, base, featured),
    log: logOptions(r, base),
    disk: { syncLatencyMs: r.pick([[0.1, 0.4], [0.5, 6], [1, 12]] as const) },
    snapshotEveryEntries: r.pick([16, 48, 200]),
    weights: weightsFor(base, featured),
    meanGapMs: featured === 'random' ? r.between(80, 250) : r.between(200, 500),
    baseline: quiet ? {} : { dropRate: r.pick([0, 0.01, 0.03]), dupRate: r.pick([0, 0.01, 0.03]), minDelayMs: 0, maxDelayMs: r.pick([0, 2, 8]) },
  };
}
