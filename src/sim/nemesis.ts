// The nemesis: schedules faults on a simulated world from a seeded random
// source. Network faults (drop, duplicate, delay and reorder, partitions of
// every shape), crashes with loss of unsynced writes and torn WAL tails,
// slow and failing disks, clock jumps, membership changes and leadership
// transfers, and crashes of one member or of the log tree inside a running
// node (their supervisors restart them). Scripted scenarios (scripts.ts) use
// the same primitives. `healAll` undoes everything for the liveness phase.
import { assertNever } from '../lib/assert.js';
import type { Random } from '../io/random.js';
import type { NetworkFaults } from '../transport/local.js';
import type { Request } from '../transport/transport.js';
import { commandRequest } from '../api/session.js';
import type { RaftServer } from '../raft/server/server.js';
import { latestConfigIndex } from '../raft/core/state.js';
import type { Coverage } from './coverage.js';
import type { Trace } from './trace.js';
import type { World } from './world.js';

/** Every fault the nemesis can inject. */
export type FaultKind =
  | 'drop'
  | 'duplicate'
  | 'delay'
  | 'partition'
  | 'isolate_leader'
  | 'one_way'
  | 'bridge'
  | 'crash'
  | 'crash_leader'
  | 'crash_mid_batch'
  | 'member_crash'
  | 'log_crash'
  | 'power_loss'
  | 'slow_disk'
  | 'disk_full'
  | 'disk_error'
  | 'clock_jump'
  | 'transfer_leadership'
  | 'add_member'
  | 'remove_member'
  | 'bound_keys';

/** Every FaultKind, in a fixed order. */
export const faultKinds: readonly FaultKind[] = [
  'drop', 'duplicate', 'delay', 'partition', 'isolate_leader', 'one_way', 'bridge', 'crash', 'crash_leader',
  'crash_mid_batch', 'member_crash', 'log_crash', 'power_loss', 'slow_disk', 'disk_full', 'disk_error', 'clock_jump', 'transfer_leadership',
  'add_member', 'remove_member', 'bound_keys',
];

/** The kv bucket the nemesis writes bound keys to; clients never touch it. */
export const boundKeysBucket = 'fx';

/** A node that never runs: a key bound to it must go as soon as its monitor is set. */
export const neverNode = 'gone';

/** What the nemesis knows of the run. */
export interface NemesisPlan {
  readonly nodes: readonly string[];
  /** Every cluster and its initial members. */
  readonly clusters: readonly { readonly name: string; readonly machine: string; readonly members: readonly string[]; readonly membership: boolean }[];
  /** Relative weights of the background faults (absent: never). */
  readonly weights: Partial<Record<FaultKind, number>>;
  /** Mean pause between background faults, in ms (0: no background faults). */
  readonly meanGapMs: number;
  /** Network faults in force all the time (until healAll). */
  readonly baseline: Partial<NetworkFaults>;
}

interface RateFault {
  readonly until: number;
  readonly drop: number;
  readonly dup: number;
  readonly delayMs: number;
}

interface Timed {
  readonly at: number;
  readonly label: string;
  readonly run: () => void | Promise<void>;
}

/** A one-way cut: `from` cannot reach `to`. */
export type Link = readonly [from: string, to: string];

/** Injects faults into a World. */
export class Nemesis {
  /** Nodes down, and when they come back. */
  readonly down = new Map<string, number>();
  private readonly rates: RateFault[] = [];
  private topologyUntil = Infinity;
  /** Until then background faults leave the network's cuts alone (a script set them). */
  private pinnedUntil = -Infinity;
  private readonly timed: Timed[] = [];
  private readonly diskUndo = new Map<string, { until: number; undo: () => void }[]>();
  private crashWatch: { node: string; until: number } | undefined;
  /** Until then, a member seen restoring a snapshot is crashed at once; at that time, a random one. */
  private memberCrashWatch: number | undefined;
  /** A member to crash in the middle of a step: once `after` more of its effects have been carried out, before the next. */
  private midStepCrash: { readonly node: string; readonly cluster: string; after: number; readonly until: number } | undefined;
  /** Recent member crashes by `node/cluster`, and log tree crashes by node (virtual times). */
  private readonly memberCrashes = new Map<string, number[]>();
  private readonly logCrashes = new Map<string, number[]>();
  /** The configuration index each cluster showed at the nemesis's last membership change. */
  private readonly configsSeen = new Map<string, number>();
  /** Watches the nemesis set (for unwatch). */
  private readonly watches: number[] = [];
  private nextAt: number;
  private seq = 0;
  /** Set by healAll: scripts must inject nothing more. */
  healed = false;

  constructor(
    readonly world: World,
    readonly plan: NemesisPlan,
    readonly random: Random,
    readonly trace: Trace,
    readonly coverage: Coverage,
  ) {
    this.nextAt = this.now() + this.gap();
    world.afterStepHooks.push(() => this.watchCrash());
    world.afterStepHooks.push(() => this.watchMemberCrash());
    world.observers.push({ effect: (cluster, node) => this.effectSeen(cluster, node) });
    this.applyRates();
  }

  /** Virtual time now. */
  now(): number {
    return this.world.clock.now();
  }

  private gap(): number {
    const m = this.plan.meanGapMs;
    return m <= 0 ? Infinity : m / 2 + this.random.next() * m;
  }

  // ---- the schedule ----

  /** Runs `run` once virtual time reaches `at` (checked on each tick). */
  at(at: number, label: string, run: () => void | Promise<void>): void {
    this.timed.push({ at, label, run });
    this.timed.sort((a, b) => a.at - b.at);
  }

  /** Called by the driver between slices: ends faults whose time is up, runs what is due, starts background faults. */
  async tick(): Promise<void> {
    const now = this.now();
    await this.restartDue(now);
    this.endDue(now);
    while (this.timed.length > 0 && (this.timed[0] as Timed).at <= now) {
      const t = this.timed.shift() as Timed;
      this.trace.add('script', t.label);
      await t.run();
    }
    if (now >= this.nextAt) {
      this.nextAt = now + this.gap();
      await this.inject(this.pickKind());
    }
  }

  /** A fault started by a script (it may change the network's cuts while they are pinned). */
  async scripted(kind: FaultKind, pinMs = 0): Promise<void> {
    await this.inject(kind, true);
    if (pinMs > 0) this.pin(pinMs);
  }

  private pickKind(): FaultKind {
    const entries = faultKinds.map((k) => [k, this.plan.weights[k] ?? 0] as const).filter(([, w]) => w > 0);
    let r = this.random.next() * entries.reduce((s, [, w]) => s + w, 0);
    for (const [k, w] of entries) {
      r -= w;
      if (r < 0) return k;
    }
    return (entries[entries.length - 1] as readonly [FaultKind, number])[0];
  }

  private async restartDue(now: number): Promise<void> {
    for (const [node, at] of [...this.down]) {
      if (at > now) continue;
      this.down.delete(node);
      if (!this.world.isDown(node)) continue;
      this.trace.add('restart', node);
      try {
        await this.world.restart(node);
      } catch (e) {
        // The disk failed during recovery (an injected EIO): like a supervisor, try again soon.
        this.world.crash(node);
        this.down.set(node, now + this.random.between(20, 200));
        this.coverage.add('path.restart_failed');
        this.trace.add('restart', `${node} failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  private endDue(now: number): void {
    if (this.rates.some((r) => r.until <= now)) {
      const keep = this.rates.filter((r) => r.until > now);
      this.rates.length = 0;
      this.rates.push(...keep);
      this.applyRates();
    }
    if (this.topologyUntil <= now) this.setTopology('heal', [], 0);
    for (const [node, list] of this.diskUndo) {
      for (const d of list.filter((x) => x.until <= now)) d.undo();
      this.diskUndo.set(node, list.filter((x) => x.until > now));
    }
    if (this.midStepCrash !== undefined && this.midStepCrash.until <= now) this.midStepCrash = undefined; // the member had nothing to do
    if (this.memberCrashWatch !== undefined && this.memberCrashWatch <= now) {
      this.memberCrashWatch = undefined;
      const members = this.runningMembers();
      if (members.length > 0) {
        const m = this.random.pick(members);
        this.crashMember(m.node, m.cluster);
      }
    }
    if (this.crashWatch !== undefined && this.crashWatch.until <= now) {
      this.coverage.add('fault.crash_mid_batch.missed');
      this.crashWatch = undefined;
    }
  }

  /** Background faults leave the network's cuts alone for `ms` (a script's partition plays out). */
  pin(ms: number): void {
    this.pinnedUntil = this.now() + ms;
  }

  /** Starts one fault of `kind` (some kinds fall back to another when they cannot apply). */
  async inject(kind: FaultKind, scripted = false): Promise<void> {
    const r = this.random;
    const cut = kind === 'partition' || kind === 'isolate_leader' || kind === 'one_way' || kind === 'bridge';
    if (cut && !scripted && this.now() < this.pinnedUntil) return this.rateFault('delay', r.between(80, 300));
    switch (kind) {
      case 'drop':
      case 'duplicate':
      case 'delay':
        return this.rateFault(kind, r.between(80, 500));
      case 'partition':
        return this.partition(r.between(100, 700));
      case 'isolate_leader':
        return this.isolateLeader(r.between(100, 700));
      case 'one_way':
        return this.oneWay(r.between(100, 600));
      case 'bridge':
        return this.bridge(r.between(100, 700));
      case 'crash':
      case 'crash_leader': {
        const node = kind === 'crash' ? this.pickUp() : this.someLeader();
        if (node !== undefined && this.canCrash()) this.crash(kind, node, r.chance(0.5), r.between(20, 600));
        return;
      }
      case 'crash_mid_batch':
        return this.armCrashMidBatch(r.between(100, 400));
      case 'member_crash':
        if (r.chance(0.5)) return this.armMidStepCrash(1 + r.int(8));
        this.memberCrashWatch ??= this.now() + r.between(0, 300);
        return;
      case 'log_crash':
        return this.crashLogActor(this.pickUp());
      case 'power_loss':
        return this.powerLoss(r.between(10, 200));
      case 'slow_disk':
        return this.slowDisk(this.pickUp(), r.between(5, 200), r.between(100, 900));
      case 'disk_full':
      case 'disk_error':
        return this.diskFault(kind, this.pickUp(), r.between(30, 400));
      case 'clock_jump':
        return this.clockJump(r.between(20, 400));
      case 'transfer_leadership':
      case 'add_member':
      case 'remove_member':
        return this.membership(kind);
      case 'bound_keys':
        return this.boundKeys();
      default:
        return assertNever(kind, 'fault kind');
    }
  }

  // ---- helpers ----

  /** A random node that is up. */
  pickUp(): string | undefined {
    const up = this.plan.nodes.filter((n) => !this.world.isDown(n));
    return up.length === 0 ? undefined : this.random.pick(up);
  }

  /** A random cluster name. */
  pickCluster(): string {
    return this.random.pick(this.plan.clusters).name;
  }

  /** The node leading `cluster` in the highest term, if any. */
  leaderNode(cluster: string): string | undefined {
    let best: { node: string; term: number } | undefined;
    for (const node of this.world.systems.keys()) {
      const c = this.world.inspect(node, cluster)?.core;
      if (c?.role === 'leader' && (best === undefined || c.term > best.term)) best = { node, term: c.term };
    }
    return best?.node;
  }

  /** The current members of `cluster` as a live member sees them. */
  membersOf(
    cluster: string,
  ): { voters: readonly string[]; nonVoters: readonly string[]; lastIndex: number; configIndex: number; incarnation: number | undefined } | undefined {
    const leader = this.leaderNode(cluster);
    // Without a leader, any member that knows a configuration (a joiner that has not caught up knows none).
    const at = leader ?? [...this.world.systems.keys()].find((n) => (this.world.inspect(n, cluster)?.core.config.voters.length ?? 0) > 0);
    const view = at === undefined ? undefined : this.world.inspect(at, cluster);
    if (view === undefined) return undefined;
    const { core, log, incarnation } = view;
    return { voters: core.config.voters, nonVoters: core.config.nonVoters, lastIndex: log.lastIndex, configIndex: latestConfigIndex(core), incarnation };
  }

  private canCrash(): boolean {
    return (this.down.size + 1) * 2 < this.plan.nodes.length;
  }

  // ---- network ----

  private applyRates(): void {
    const b = this.healed ? {} : this.plan.baseline;
    let drop = b.dropRate ?? 0;
    let dup = b.dupRate ?? 0;
    let delay = b.maxDelayMs ?? 0;
    for (const f of this.rates) {
      drop = Math.max(drop, f.drop);
      dup = Math.max(dup, f.dup);
      delay = Math.max(delay, f.delayMs);
    }
    this.world.network.setFaults({ dropRate: drop, dupRate: 0, minDelayMs: 0, maxDelayMs: delay });
    this.world.dupRate = dup;
  }

  private rateFault(kind: 'drop' | 'duplicate' | 'delay', forMs: number): void {
    const r = this.random;
    const f: RateFault = {
      until: this.now() + forMs,
      drop: kind === 'drop' ? r.between(2, 30) / 100 : 0,
      dup: kind === 'duplicate' ? r.between(2, 30) / 100 : 0,
      delayMs: kind === 'delay' ? r.between(2, 60) : 0,
    };
    this.rates.push(f);
    this.applyRates();
    this.coverage.add(`fault.${kind}`);
    this.trace.add('nemesis', `${kind} drop=${f.drop} dup=${f.dup} delay<=${f.delayMs}ms for ${forMs} ms`);
  }

  /** Replaces the network's cuts with `links` for `forMs` (0: until changed). */
  setTopology(label: string, links: readonly Link[], forMs: number): void {
    const net = this.world.network;
    net.heal();
    for (const [from, to] of links) net.block(from, to);
    this.topologyUntil = forMs > 0 ? this.now() + forMs : Infinity;
    this.trace.add('nemesis', links.length === 0 ? 'network healed' : `${label} for ${forMs > 0 ? `${forMs} ms` : 'now'}`);
  }

  /** Links that cut every node of `a` from every node of `b`, both ways. */
  cut(a: readonly string[], b: readonly string[]): Link[] {
    const links: Link[] = [];
    for (const x of a) for (const y of b) links.push([x, y], [y, x]);
    return links;
  }

  private shuffled(): string[] {
    const nodes = [...this.plan.nodes];
    for (let i = nodes.length - 1; i > 0; i--) {
      const j = this.random.int(i + 1);
      [nodes[i], nodes[j]] = [nodes[j] as string, nodes[i] as string];
    }
    return nodes;
  }

  private partition(forMs: number): void {
    const nodes = this.shuffled();
    const k = this.random.between(1, Math.floor((nodes.length - 1) / 2));
    const [minority, majority] = [nodes.slice(0, k), nodes.slice(k)];
    this.setTopology(`partition [${minority.join(' ')}] | [${majority.join(' ')}]`, this.cut(minority, majority), forMs);
    this.coverage.add('fault.partition');
  }

  /** The leader of a random cluster that has one (else a random node). */
  private someLeader(): string {
    const first = this.random.int(this.plan.clusters.length);
    for (let i = 0; i < this.plan.clusters.length; i++) {
      const c = this.plan.clusters[(first + i) % this.plan.clusters.length];
      const leader = c === undefined ? undefined : this.leaderNode(c.name);
      if (leader !== undefined) return leader;
    }
    return this.random.pick(this.plan.nodes);
  }

  /** Cuts the leader of some cluster off from every other node for `forMs`. */
  isolateLeader(forMs: number): void {
    const leader = this.someLeader();
    const rest = this.plan.nodes.filter((n) => n !== leader);
    this.setTopology(`isolate leader ${leader}`, this.cut([leader], rest), forMs);
    this.coverage.add('fault.isolate_leader');
  }

  private oneWay(forMs: number): void {
    const leader = this.someLeader();
    const rest = this.plan.nodes.filter((n) => n !== leader);
    const variant = this.random.int(3);
    const links: Link[] =
      variant === 0 ? rest.map((n) => [leader, n] as const) : variant === 1 ? rest.map((n) => [n, leader] as const) : [[leader, this.random.pick(rest)]];
    const what = variant === 0 ? `${leader} cannot send` : variant === 1 ? `${leader} cannot receive` : `${links[0]?.[0]} -> ${links[0]?.[1]} cut`;
    this.setTopology(`one-way: ${what}`, links, forMs);
    this.coverage.add('fault.one_way');
  }

  private bridge(forMs: number): void {
    const nodes = this.shuffled();
    const bridge = nodes[0] as string;
    const rest = nodes.slice(1);
    const half = Math.max(1, Math.floor(rest.length / 2));
    const [a, c] = [rest.slice(0, half), rest.slice(half)];
    this.setTopology(`bridge [${a.join(' ')}] - ${bridge} - [${c.join(' ')}]`, this.cut(a, c), forMs);
    this.coverage.add('fault.bridge');
  }

  // ---- crashes ----

  /** Crashes `node` now (torn: a prefix of its last unsynced write survives); it restarts after `downMs`. */
  crash(kind: string, node: string, torn: boolean, downMs: number): void {
    if (this.world.isDown(node)) return;
    const inFlight = (this.world.durable.get(node)?.walOpsInFlight ?? 0) > 0;
    this.world.crash(node, torn);
    this.down.set(node, this.now() + downMs);
    this.coverage.add(`fault.${kind}`);
    if (torn) this.coverage.add('fault.torn_write');
    if (inFlight) this.coverage.add('path.crash_with_wal_in_flight');
    this.trace.add('crash', `${node}${torn ? ' (torn)' : ''}${inFlight ? ' with WAL I/O in flight' : ''}, back in ${downMs} ms`);
  }

  private armCrashMidBatch(withinMs: number): void {
    const node = this.pickUp();
    if (node === undefined || !this.canCrash()) return;
    this.crashWatch = { node, until: this.now() + withinMs };
  }

  /** After each step: crash the watched node as soon as its WAL has a write or sync in flight. */
  private watchCrash(): void {
    const w = this.crashWatch;
    if (w === undefined || (this.world.durable.get(w.node)?.walOpsInFlight ?? 0) === 0) return;
    this.crashWatch = undefined;
    this.crash('crash_mid_batch', w.node, true, this.random.between(20, 400));
  }

  /** After each step, while a member crash is armed: crash the first member seen restoring a snapshot. */
  private watchMemberCrash(): void {
    if (this.memberCrashWatch === undefined) return;
    for (const [node, system] of this.world.systems) {
      for (const c of this.plan.clusters) {
        const ref = system.actors.whereis(`server:${c.name}`);
        if (ref === undefined || system.actors.instanceOf<RaftServer>(ref)?.state !== 'restoring') continue;
        if (!this.crashMember(node, c.name)) continue;
        this.memberCrashWatch = undefined;
        return;
      }
    }
  }

  /** Every member of the plan's clusters on a node that is up. */
  private runningMembers(): { node: string; cluster: string }[] {
    const up = this.plan.nodes.filter((n) => !this.world.isDown(n));
    return up.flatMap((node) => this.plan.clusters.filter((c) => this.world.inspect(node, c.name) !== undefined).map((c) => ({ node, cluster: c.name })));
  }

  /** Arms a crash of a random running member in the middle of a step, after `after` of its effects. */
  private armMidStepCrash(after: number): void {
    if (this.midStepCrash !== undefined) return;
    const members = this.runningMembers();
    if (members.length === 0) return;
    const m = this.random.pick(members);
    this.midStepCrash = { ...m, after, until: this.now() + 2000 };
  }

  /**
   * A member is about to carry out an effect of its core: when it is the one
   * armed, and its count is up, it crashes here, as a throw in the middle of
   * the step would crash it. The effects before this one are out (messages
   * sent, writes asked for), the rest never happen; its supervisor restarts it.
   */
  private effectSeen(cluster: string, node: string): void {
    const m = this.midStepCrash;
    if (m === undefined || m.node !== node || m.cluster !== cluster || --m.after > 0) return;
    this.midStepCrash = undefined;
    if (!this.mayCrashMember(node, cluster)) return;
    this.coverage.add('fault.member_crash');
    this.coverage.add('path.member_crash_mid_step');
    this.trace.add('crash', `member ${node}/${cluster} in the middle of a step (its supervisor restarts it)`);
    throw new Error('nemesis: member crash in the middle of a step');
  }

  /** At most two crashes of a member within its restart period (10 s): more is a crash loop, which its supervisor gives up on. Counts this one. */
  private mayCrashMember(node: string, cluster: string): boolean {
    const key = `${node}/${cluster}`;
    const recent = (this.memberCrashes.get(key) ?? []).filter((t) => t > this.now() - 10_000);
    if (recent.length >= 2) return false;
    this.memberCrashes.set(key, [...recent, this.now()]);
    return true;
  }

  /**
   * Crashes the server of `cluster` on `node` as a thrown error would: the
   * process goes on, and the member's supervisor restarts it from what the
   * node holds (the log system's state, the snapshot store, the disk). At
   * most twice in a member's restart period: more is a crash loop, which the
   * supervisor gives up on, not a fault to ride out. Returns whether it did.
   */
  private crashMember(node: string, cluster: string): boolean {
    const system = this.world.systems.get(node);
    const ref = system?.actors.whereis(`server:${cluster}`);
    if (system === undefined || ref === undefined || !this.mayCrashMember(node, cluster)) return false;
    const key = `${node}/${cluster}`;
    const restoring = system.actors.instanceOf<RaftServer>(ref)?.state === 'restoring';
    system.actors.stop(ref, new Error('nemesis: member crash')).catch(() => {});
    this.coverage.add('fault.member_crash');
    if (restoring) this.coverage.add('path.member_crash_while_restoring');
    this.trace.add('crash', `member ${key}${restoring ? ' while restoring a snapshot' : ''} (its supervisor restarts it)`);
    return true;
  }

  /**
   * Crashes the WAL, the segment writer or the meta store of `node`, as a
   * thrown error would: the log tree restarts all three (one_for_all), and the
   * members go on with the log system's state. At most twice in the tree's
   * restart period (3 in 5 s): more stops the node, a fault of another kind.
   */
  private crashLogActor(node: string | undefined): void {
    const system = node === undefined ? undefined : this.world.systems.get(node);
    if (node === undefined || system === undefined) return;
    const recent = (this.logCrashes.get(node) ?? []).filter((t) => t > this.now() - 5000);
    if (recent.length >= 2) return;
    const actors = system.logSystem.treeActors();
    const which = this.random.pick(['wal', 'wal', 'segmentWriter', 'metaStore'] as const);
    const ref = actors[which];
    if (ref === undefined || !system.actors.isAlive(ref)) return;
    this.logCrashes.set(node, [...recent, this.now()]);
    const inFlight = (this.world.durable.get(node)?.walOpsInFlight ?? 0) > 0;
    system.actors.stop(ref, new Error(`nemesis: ${which} crash`)).catch(() => {});
    this.coverage.add('fault.log_crash');
    if (which === 'wal' && inFlight) this.coverage.add('path.wal_crash_with_io_in_flight');
    this.trace.add('crash', `${which} of ${node}${inFlight ? ' with WAL I/O in flight' : ''} (the log tree restarts)`);
  }

  /** Every node loses power at once; all come back after `downMs`. */
  powerLoss(downMs: number): void {
    const back = this.now() + downMs;
    this.trace.add('nemesis', `power loss, back in ${downMs} ms`);
    for (const n of this.plan.nodes) {
      if (this.world.isDown(n)) this.down.set(n, back);
      else this.crash('power_loss_node', n, this.random.chance(0.5), downMs);
    }
    this.coverage.add('fault.power_loss');
  }

  // ---- disks and clock ----

  /** Makes `node`'s syncs `factor` times slower for `forMs`. */
  slowDisk(node: string | undefined, factor: number, forMs: number): void {
    if (node === undefined) return;
    const disk = this.world.disks.get(node);
    disk?.setSlowSyncFactor(factor);
    this.addDiskUndo(node, forMs, () => disk?.setSlowSyncFactor(1));
    this.coverage.add('fault.slow_disk');
    this.trace.add('nemesis', `slow disk on ${node}: syncs x${factor} for ${forMs} ms`);
  }

  private diskFault(kind: 'disk_full' | 'disk_error', node: string | undefined, forMs: number): void {
    const disk = node === undefined ? undefined : this.world.disks.get(node);
    if (node === undefined || disk === undefined) return;
    const r = this.random;
    const where = r.pick(['wal', 'wal', 'meta', 'groups', '']);
    const path = where === '' ? `/${node}` : `/${node}/${where}`;
    const op = r.pick(['write', 'sync'] as const);
    if (kind === 'disk_full') {
      disk.failAlways(op, 'ENOSPC', path);
      this.addDiskUndo(node, forMs, () => disk.clearFaults(path));
      this.trace.add('nemesis', `disk full: ${op} under ${path} fails for ${forMs} ms`);
    } else {
      const n = r.between(1, 4);
      disk.failNext(op, 'EIO', n, path);
      this.trace.add('nemesis', `disk error: next ${n} ${op}(s) under ${path} fail with EIO`);
    }
    this.coverage.add(`fault.${kind}`);
  }

  private addDiskUndo(node: string, forMs: number, undo: () => void): void {
    const list = this.diskUndo.get(node) ?? [];
    list.push({ until: this.now() + forMs, undo });
    this.diskUndo.set(node, list);
  }

  private clockJump(ms: number): void {
    this.world.clock.jump(ms);
    this.coverage.add('fault.clock_jump');
    this.trace.add('nemesis', `clock jumps ${ms} ms (every timer due meanwhile fires late)`);
  }

  // ---- machine effects ----

  /**
   * A kv write whose key lives only as long as a time to live, a node (one of
   * the run's, or one that never runs) or another key, a touch, a delete, or a
   * watch, in a bucket of its own. Expiry and node failure come back through
   * the log (the machine's timer and monitor effects), and must do so across
   * crashes, leader changes and snapshots: checked once every fault is healed.
   */
  private boundKeys(): void {
    const kv = this.plan.clusters.filter((c) => c.machine === 'kv');
    const via = this.pickUp();
    if (kv.length === 0 || via === undefined) return;
    const r = this.random;
    const cluster = r.pick(kv).name;
    const key = `fx${r.int(6)}`;
    const bucket = boundKeysBucket;
    const roll = r.next();
    let command: Record<string, unknown>;
    if (roll < 0.55) {
      command = { type: 'put', bucket, key, value: this.seq };
      if (r.chance(0.7)) command['ttlMs'] = r.between(20, 1500);
      if (r.chance(0.35)) command['node'] = r.pick([...this.plan.nodes, neverNode]);
      if (r.chance(0.3)) command['parent'] = `fx${r.int(6)}`;
    } else if (roll < 0.7) {
      command = { type: 'touch', bucket, key, ttlMs: r.between(20, 1500) };
    } else if (roll < 0.8) {
      command = { type: 'watch', bucket, to: { node: r.pick(this.plan.nodes), id: 'nemesis' } };
    } else if (roll < 0.87) {
      command = { type: 'unwatch', watch: this.watches.length === 0 ? 0 : r.pick(this.watches) };
    } else {
      command = { type: 'delete', bucket, key };
    }
    this.coverage.add('fault.bound_keys');
    this.request(via, cluster, `${cluster}: ${JSON.stringify(command)}`, commandRequest(command), (reply) => {
      const watch = (reply as { watch?: unknown } | null)?.watch;
      if (typeof watch === 'number') this.watches.push(watch);
    });
  }

  // ---- membership ----

  /** A membership change or a leadership transfer on a random cluster (fire and forget; the outcome is traced). */
  membership(kind: 'transfer_leadership' | 'add_member' | 'remove_member'): void {
    const eligible = this.plan.clusters.filter((c) => kind === 'transfer_leadership' || c.membership);
    if (eligible.length === 0) return this.membership('transfer_leadership');
    const cluster = this.random.pick(eligible).name;
    const seen = this.membersOf(cluster);
    const via = this.pickUp();
    if (seen === undefined || via === undefined) return;
    // Now and then an operator acting on what it saw before: a change asked against a configuration
    // replaced since must be refused (membership_changed), whatever it asks.
    const before = this.configsSeen.get(cluster);
    this.configsSeen.set(cluster, seen.configIndex);
    const m = before !== undefined && before !== seen.configIndex && this.random.chance(0.3) ? { ...seen, configIndex: before } : seen;
    // A member whose add is still under way may be picked again: that add, delayed or retried
    // past this one and a removal, is refused, as it names the configuration it was asked
    // against (simulator, seed 7156335, where it left a non-voter no node hosted).
    const outside = this.plan.nodes.filter((n) => !m.voters.includes(n) && !m.nonVoters.includes(n));
    if (kind === 'add_member' && outside.length > 0 && m.voters.length < 5) return this.addMember(cluster, this.random.pick(outside), via, m);
    if (kind === 'remove_member' && m.nonVoters.length > 0 && this.random.chance(0.5)) {
      // A member still being added (its node may be down, its promotion waiting): the removal ends the add.
      return this.removeMember(cluster, this.random.pick(m.nonVoters), via, m.configIndex, 'path.joiner_removed');
    }
    if (kind === 'remove_member' && m.voters.length > 3) {
      // Now and then the one that cannot hear of it (down, or cut off from `via`): it misses the
      // removal and the delete request, and must be told to delete itself when it campaigns.
      const unreachable = m.voters.filter((v) => this.world.isDown(v) || !this.world.network.canReach(via, v));
      const victim = unreachable.length > 0 && this.random.chance(0.5) ? this.random.pick(unreachable) : this.random.pick(m.voters);
      return this.removeMember(cluster, victim, via, m.configIndex);
    }
    if (kind !== 'transfer_leadership') return;
    const target = this.random.pick(m.voters);
    this.coverage.add('fault.transfer_leadership');
    this.request(via, cluster, `transfer ${cluster} to ${target}`, { type: 'transfer_leadership', target }, () => this.coverage.add('path.transfer_done'));
  }

  private addMember(cluster: string, member: string, via: string, seen: { lastIndex: number; configIndex: number; incarnation: number | undefined }): void {
    const machine = this.plan.clusters.find((c) => c.name === cluster)?.machine;
    if (machine === undefined || this.world.isDown(member)) return;
    this.coverage.add('fault.add_member');
    const start: Request = { type: 'start_server', machine, members: [], config: null, join: true, sessionTimeoutMs: 60_000, joinedAfter: seen.lastIndex, incarnation: seen.incarnation };
    this.request(via, cluster, `start a joining member of ${cluster} on ${member}`, start, () => {
      const add: Request = { type: 'add_member', member, configIndex: seen.configIndex };
      this.request(via, cluster, `add ${member} to ${cluster}`, add, () => this.coverage.add('path.member_added'), undefined, this.noteChanged);
      // Now and then the joiner's node dies before it has caught up: its promotion waits until
      // it is back, or until the member is removed.
      if (!this.random.chance(0.25)) return;
      this.at(this.now() + this.random.between(0, 30), `kill the joiner ${member}`, () => {
        if (this.canCrash()) this.crash('crash', member, false, this.random.between(300, 1500));
      });
    }, member);
  }

  private removeMember(cluster: string, member: string, via: string, configIndex: number, path = 'path.member_removed'): void {
    this.coverage.add('fault.remove_member');
    const remove: Request = { type: 'remove_member', member, configIndex };
    this.request(via, cluster, `remove ${member} from ${cluster}`, remove, (removedAt) => {
      this.coverage.add(path);
      this.request(via, cluster, `delete the removed member ${cluster}/${member}`, { type: 'delete_server', removedAt: removedAt as number }, () => {}, member);
    }, undefined, this.noteChanged);
  }

  /** A change refused because another got in first (the configuration it named was replaced). */
  private readonly noteChanged = (err: unknown): void => {
    if ((err as { code?: unknown } | null)?.code === 'membership_changed') this.coverage.add('path.membership_changed');
  };

  private request(via: string, cluster: string, label: string, body: Request, ok: (value: unknown) => void, member?: string, settled?: (err: unknown) => void): void {
    const system = this.world.systems.get(via);
    if (system === undefined) return settled?.(new Error(`${via} is down`));
    const id = ++this.seq;
    this.trace.add('admin', `#${id} ${label}`);
    const options = member === undefined ? { timeoutMs: 3000 } : { timeoutMs: 3000, member };
    system.submit(cluster, body, options, (err, value) => {
      this.trace.add('admin', `#${id} ${err === null ? 'ok' : `failed: ${err.code}`}`);
      if (err === null) ok(value);
      settled?.(err);
    });
  }

  // ---- the end ----

  /** Ends every fault: network, disks, clocks; restarts every node that is down. */
  async healAll(): Promise<void> {
    this.healed = true;
    this.rates.length = 0;
    this.applyRates();
    this.setTopology('heal', [], 0);
    for (const [, list] of this.diskUndo) for (const d of list) d.undo();
    this.diskUndo.clear();
    for (const disk of this.world.disks.values()) {
      disk.clearFaults();
      disk.setSlowSyncFactor(1);
    }
    this.crashWatch = undefined;
    this.memberCrashWatch = undefined;
    this.timed.length = 0;
    this.nextAt = Infinity;
    for (const node of [...this.down.keys()]) this.down.set(node, 0);
    await this.restartDue(this.now());
    this.trace.add('nemesis', 'every fault healed');
  }
}
