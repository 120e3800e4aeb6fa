// Scripted scenarios that found real bugs in other systems, always in the
// mix of a sweep: each schedules a sequence of nemesis steps for one run.
import { assertNever } from '../lib/assert.js';
import type { Nemesis } from './nemesis.js';

/** The scenario a run features, on top of the background faults. */
export type Featured =
  | 'random'
  | 'pause_kill'
  | 'solo_crash'
  | 'late_written'
  | 'membership_partition'
  | 'election_reads'
  | 'many_groups';

/** Every Featured scenario, in a fixed order. */
export const featuredScenarios: readonly Featured[] = [
  'random', 'pause_kill', 'solo_crash', 'late_written', 'membership_partition', 'election_reads', 'many_groups',
];

/** What a script needs to know of the run. */
export interface ScriptPlan {
  /** The cluster the script works on (the first workload's). */
  readonly cluster: string;
  /** The single-member cluster of `solo_crash`. */
  readonly soloCluster: string | undefined;
  readonly startMs: number;
  readonly durationMs: number;
}

/** Schedules the steps of `featured` on the nemesis. */
export function scheduleScript(featured: Featured, n: Nemesis, plan: ScriptPlan): void {
  n.coverage.add(`scenario.${featured}`);
  switch (featured) {
    case 'random':
      return;
    case 'pause_kill':
      return pauseKill(n, plan);
    case 'solo_crash':
      return soloCrash(n, plan);
    case 'late_written':
      return lateWritten(n, plan);
    case 'membership_partition':
      return membershipPartition(n, plan);
    case 'election_reads':
      return electionReads(n, plan);
    case 'many_groups':
      return manyGroups(n, plan);
    default:
      return assertNever(featured, 'scenario');
  }
}

/**
 * Jepsen's NATS `pause-kill`: cut a minority off (paused) while the majority
 * keeps writing; crash a majority node so that it loses its unsynced writes;
 * bring it back joined with the stale minority, where together they are a
 * majority. Every acknowledged write must survive: the crashed node must
 * have synced all it acknowledged.
 */
function pauseKill(n: Nemesis, plan: ScriptPlan): void {
  const r = n.random;
  const nodes = n.plan.nodes;
  const k = Math.floor((nodes.length - 1) / 2);
  const start = r.between(0, nodes.length - 1);
  const order = [...nodes.slice(start), ...nodes.slice(0, start)];
  const minority = order.slice(0, k);
  const rest = order.slice(k);
  const victim = rest[r.int(rest.length)] as string;
  const others = rest.filter((x) => x !== victim);
  let t = plan.startMs + r.between(150, 400);
  n.at(t, `pause-kill: pause [${minority.join(' ')}]`, () => {
    n.setTopology(`pause [${minority.join(' ')}]`, n.cut(minority, rest), 0);
    n.pin(3000);
  });
  t += r.between(250, 600);
  n.at(t, `pause-kill: crash ${victim}`, () => {
    // A background crash may have taken it down already: keep it down until it returns.
    if (n.world.isDown(victim)) n.down.set(victim, n.now() + 1_000_000);
    else n.crash('crash', victim, r.chance(0.5), 1_000_000);
  });
  t += r.between(10, 80);
  n.at(t, `pause-kill: ${victim} returns with the stale [${minority.join(' ')}]`, async () => {
    if (n.down.has(victim)) n.down.set(victim, 0);
    n.setTopology(`[${[...minority, victim].join(' ')}] | [${others.join(' ')}]`, n.cut([...minority, victim], others), 0);
  });
  t += r.between(400, 900);
  n.at(t, 'pause-kill: heal', () => {
    n.setTopology('heal', [], 0);
    n.pin(0);
  });
}

/**
 * etcd #14370: a single-member cluster that crashes right after it commits
 * must still have the entry after the restart (it must not commit before
 * its own fsync). The crash comes at the instant an entry applies.
 */
function soloCrash(n: Nemesis, plan: ScriptPlan): void {
  const cluster = plan.soloCluster;
  if (cluster === undefined) return;
  const node = n.plan.clusters.find((c) => c.name === cluster)?.members[0];
  if (node === undefined) return;
  let crashes = 0;
  n.world.observers.push({
    applied: (c) => {
      if (c !== cluster || n.healed || crashes >= 4 || n.world.isDown(node) || !n.random.chance(0.15)) return;
      crashes++;
      n.world.clock.defer(() => {
        if (!n.healed) n.crash('crash', node, n.random.chance(0.5), n.random.between(5, 120));
      });
    },
  });
}

/**
 * ra #516: a leader with a slow disk has writes in flight when it is cut
 * off; the others elect a leader that overwrites those indexes; when the old
 * leader rejoins it truncates its tail while the late `written`
 * notifications for the old entries are still to come. They must not mark
 * the new entries durable.
 */
function lateWritten(n: Nemesis, plan: ScriptPlan): void {
  const r = n.random;
  let t = plan.startMs + r.between(150, 400);
  for (let round = 0; round < 2; round++) {
    let leader: string | undefined;
    n.at(t, 'late-written: slow the leader\'s disk', () => {
      leader = n.leaderNode(plan.cluster);
      if (leader !== undefined) n.slowDisk(leader, r.between(40, 300), 1500);
    });
    t += r.between(20, 120);
    n.at(t, 'late-written: isolate the leader', () => {
      if (leader === undefined) return;
      n.setTopology(`isolate ${leader}`, n.cut([leader], n.plan.nodes.filter((x) => x !== leader)), 0);
      n.pin(2000);
    });
    t += r.between(350, 700);
    n.at(t, 'late-written: the old leader rejoins', () => {
      n.setTopology('heal', [], 0);
      n.pin(0);
    });
    t += r.between(300, 600);
  }
}

/** Membership changes and transfers while the network is partitioned in various ways. */
function membershipPartition(n: Nemesis, plan: ScriptPlan): void {
  const r = n.random;
  let t = plan.startMs + r.between(100, 300);
  while (t < plan.startMs + plan.durationMs - 300) {
    const gap = r.between(280, 750);
    n.at(t, 'membership: cut the network', () => n.scripted(r.pick(['partition', 'isolate_leader', 'bridge', 'one_way'] as const), gap));
    n.at(t + r.between(30, 150), 'membership: change', () => n.membership(r.pick(['add_member', 'remove_member', 'transfer_leadership', 'add_member', 'remove_member'] as const)));
    t += gap;
  }
}

/** Leadership moves again and again (transfer, isolation, crash) while clients mostly read. */
function electionReads(n: Nemesis, plan: ScriptPlan): void {
  const r = n.random;
  let t = plan.startMs + r.between(200, 350);
  while (t < plan.startMs + plan.durationMs - 200) {
    const how = r.pick(['transfer_leadership', 'isolate_leader', 'isolate_leader', 'crash_leader'] as const);
    const gap = r.between(300, 600);
    // An isolation lasts long enough for the others to elect a leader while the old one may still serve.
    n.at(t, `election-reads: ${how}`, () => (how === 'isolate_leader' ? (n.isolateLeader(gap), n.pin(gap)) : n.scripted(how, gap)));
    t += gap;
  }
}

/** Many groups share each node's WAL; nodes crash while a WAL batch is being written or synced. */
function manyGroups(n: Nemesis, plan: ScriptPlan): void {
  const r = n.random;
  let t = plan.startMs + r.between(200, 400);
  for (let i = 0; i < 3 && t < plan.startMs + plan.durationMs; i++) {
    n.at(t, 'many-groups: crash a node mid-batch', () => n.scripted('crash_mid_batch'));
    t += r.between(300, 700);
  }
}
