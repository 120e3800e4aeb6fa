// A simulated world: several Concord nodes on one SimClock, each with its own
// SimDisk (seen through a DurableDisk), talking over a LocalNetwork with
// seeded faults (seen through an ObservedTransport). One seed gives one run,
// step for step; invariants are checked after every step.
import { System, type SystemOptions } from '../api/system.js';
import { SimClock } from '../io/sim_clock.js';
import { SeededRandom } from '../io/random.js';
import { SimDisk, type SimDiskOptions } from '../io/sim_disk.js';
import type { Logger } from '../lib/logger.js';
import type { AnyMachine } from '../raft/machine.js';
import type { CoreOptions } from '../raft/core/types.js';
import type { ServerObserver } from '../raft/server/server.js';
import { LocalNetwork, type NetworkFaults } from '../transport/local.js';
import type { Envelope } from '../transport/transport.js';
import { DurableDisk } from './durable_disk.js';
import { Invariants, type MemberView } from './invariants.js';
import { ObservedTransport, type SendWatcher } from './observed_transport.js';
import { SimLogger } from './sim_logger.js';

/** How a world is built. */
export interface WorldOptions {
  readonly seed: number;
  readonly nodes: readonly string[];
  readonly machines: Readonly<Record<string, () => AnyMachine>>;
  readonly raft?: Partial<CoreOptions>;
  readonly faults?: Partial<NetworkFaults>;
  readonly disk?: SimDiskOptions;
  readonly log?: SystemOptions['log'];
  readonly logger?: Logger;
  readonly requestTimeoutMs?: number;
  /** Snapshot cadence of every member (System option; default 65,536). */
  readonly snapshotEveryEntries?: number;
  /** How often machines with a `tick` hook are ticked (System option; default 1000 ms). */
  readonly machineTickMs?: number;
  /** Nodes that pass for an earlier build: the runtime version each announces (default: this build's). */
  readonly announce?: Readonly<Record<string, number>>;
  /** Check that every entry is durable on a majority when first applied (default true). */
  readonly checkDurability?: boolean;
  /** One-way latency of every envelope between nodes (default 0.1 ms). */
  readonly latencyMs?: number;
  /** Steps allowed at one virtual instant before the run is declared livelocked (default 100,000). */
  readonly livelockStepsMax?: number;
}

/** Thrown when the world runs step after step without virtual time moving. */
export class LivelockError extends Error {
  override readonly name = 'LivelockError';
}

/** Default Raft timing in simulation: short, so that runs cover many elections. */
export const simRaft: Partial<CoreOptions> = { electionTimeoutMinMs: 150, electionTimeoutMaxMs: 300, heartbeatMs: 30 };

/** Several nodes in one deterministic simulation. */
export class World {
  readonly clock = new SimClock();
  readonly random: SeededRandom;
  readonly network: LocalNetwork;
  readonly disks = new Map<string, SimDisk>();
  readonly durable = new Map<string, DurableDisk>();
  readonly systems = new Map<string, System>();
  readonly invariants = new Invariants();
  readonly logger: Logger;
  /** Clusters whose invariants are checked. */
  readonly clusters: string[] = [];
  /** More observers of every server (history, coverage). */
  readonly observers: ServerObserver[] = [];
  /** More watchers of every envelope sent (coverage, trace). */
  readonly sendWatchers: SendWatcher[] = [];
  /** Run after every step, after the invariants. */
  readonly afterStepHooks: (() => void)[] = [];
  /** Run between the slices of advance() and advanceUntil(), where promise callbacks run. */
  readonly sliceHooks: (() => void)[] = [];
  /** Run when a node's System has started (first start and restarts). */
  readonly startHooks: ((node: string, system: System) => void)[] = [];
  /** Run just before a node is killed (its counters are about to go). */
  readonly crashHooks: ((node: string, system: System) => void)[] = [];
  /** Steps run so far. */
  steps = 0;
  /** Probability that a Raft message is sent twice (the network's own dupRate would duplicate client requests too). */
  dupRate = 0;
  /** Raft messages sent twice so far. */
  duplicated = 0;
  /** One-way latency of every envelope between nodes (default 0.1 ms). */
  latencyMs: number;
  /** Steps allowed at one virtual instant before the run is declared livelocked. */
  readonly livelockStepsMax: number;
  private instant = { at: -1, steps: 0 };
  private readonly observer: ServerObserver;
  private readonly dupRandom: SeededRandom;

  constructor(readonly options: WorldOptions) {
    this.random = new SeededRandom(options.seed);
    this.logger = options.logger ?? new SimLogger();
    this.network = new LocalNetwork(this.clock, this.random.fork(), options.faults ?? {});
    this.dupRandom = this.random.fork();
    this.latencyMs = options.latencyMs ?? 0.1;
    this.livelockStepsMax = options.livelockStepsMax ?? 100_000;
    for (const node of options.nodes) {
      const disk = new SimDisk(this.clock, this.random.fork(), options.disk ?? {});
      this.disks.set(node, disk);
      this.durable.set(node, new DurableDisk(disk, `/${node}`));
    }
    this.observer = this.fanOut();
    if (options.checkDurability !== false) this.invariants.onFirstApplied = (c, n, i, t) => this.checkDurable(c, n, i, t);
  }

  private fanOut(): ServerObserver {
    const inv = this.invariants.observer;
    return {
      applied: (cluster, node, index, term, payload) => {
        inv.applied?.(cluster, node, index, term, payload);
        for (const o of this.observers) o.applied?.(cluster, node, index, term, payload);
      },
      removed: (cluster, node) => {
        inv.removed?.(cluster, node);
        for (const o of this.observers) o.removed?.(cluster, node);
      },
      restoredInSteps: (cluster, node, index) => {
        for (const o of this.observers) o.restoredInSteps?.(cluster, node, index);
      },
      effect: (cluster, node, type) => {
        for (const o of this.observers) o.effect?.(cluster, node, type);
      },
    };
  }

  private duplicateNow(): boolean {
    if (this.dupRate <= 0 || !this.dupRandom.chance(this.dupRate)) return false;
    this.duplicated++;
    return true;
  }

  private watchSend(from: string, to: string, env: Envelope): void {
    this.invariants.sent(from, to, env);
    for (const w of this.sendWatchers) w(from, to, env);
  }

  /** Starts (or restarts after a crash) the System of `node` on its disk; no member is started. */
  async startNode(node: string): Promise<System> {
    const disk = this.durable.get(node);
    if (disk === undefined) throw new Error(`unknown node ${node}`);
    const o = this.options;
    const system = await System.start({
      nodeId: node,
      dataDir: `/${node}`,
      transport: new ObservedTransport(this.network.connect(node, { announce: o.announce?.[node] }), {
        sent: (from, to, env) => this.watchSend(from, to, env),
        duplicate: () => this.duplicateNow(),
        latencyMs: () => this.latencyMs,
        clock: this.clock,
      }),
      machines: o.machines,
      clock: this.clock,
      random: this.random.fork(),
      disk,
      logger: this.logger instanceof SimLogger ? this.logger.forNode(node) : this.logger,
      raft: o.raft ?? simRaft,
      // A small preallocation keeps the path exercised without filling simulated memory with zeros.
      log: { walPreallocateBytes: 64 * 1024, ...o.log },
      ...(o.snapshotEveryEntries === undefined ? {} : { snapshotEveryEntries: o.snapshotEveryEntries }),
      ...(o.machineTickMs === undefined ? {} : { machineTickMs: o.machineTickMs }),
      // Snapshots by entry count alone: the rare paths they lead to (InstallSnapshot) must run often.
      snapshotLogRatio: 0,
      // One restore step per turn: every kv snapshot is restored in steps, with the member's other events waiting.
      restoreStepsPerTurn: 1,
      actors: { random: this.random.fork(), shuffle: true, sliceMax: 8, drainMax: 32 },
      requestTimeoutMs: o.requestTimeoutMs ?? 2000,
      observer: this.observer,
    });
    this.systems.set(node, system);
    for (const h of this.startHooks) h(node, system);
    return system;
  }

  /** The running System of `node`. */
  system(node: string): System {
    const s = this.systems.get(node);
    if (s === undefined) throw new Error(`node ${node} is down`);
    return s;
  }

  /** True when `node` has no running System. */
  isDown(node: string): boolean {
    return !this.systems.has(node);
  }

  /** Kills `node` like SIGKILL plus power loss: unsynced writes are lost (or, torn, partly kept). */
  crash(node: string, torn = false): void {
    const s = this.systems.get(node);
    if (s === undefined) return;
    for (const h of this.crashHooks) h(node, s);
    s.kill();
    this.systems.delete(node);
    this.durable.get(node)?.crash(torn);
    for (const c of this.clusters) this.invariants.restarted(c, node);
  }

  /** Restarts a crashed node and every member it has on disk, driving the world until they are up. */
  async restart(node: string): Promise<void> {
    const system = await this.startNode(node);
    await this.settle(system.restartAll());
    // A member that could not start (an injected disk error): the caller tries the node again.
    const failed = [...system.failedMembers()];
    if (failed.length > 0) throw new Error(`${failed.map(([c, why]) => `${c}: ${why}`).join('; ')}`);
  }

  /** The member of `cluster` on `node`, if it runs. */
  inspect(node: string, cluster: string): MemberView | undefined {
    return this.systems.get(node)?.inspectServer(cluster);
  }

  /** Runs `ms` of virtual time, checking invariants after every step. */
  run(ms: number): void {
    const end = this.clock.now() + ms;
    while (this.clock.step(end)) this.afterStep();
    if (this.clock.now() < end) this.clock.jump(end - this.clock.now());
  }

  /** Runs until `done()` or `maxMs` of virtual time; returns whether `done()` held. */
  runUntil(done: () => boolean, maxMs: number): boolean {
    const end = this.clock.now() + maxMs;
    while (!done()) {
      if (!this.clock.step(end)) return done();
      this.afterStep();
    }
    return true;
  }

  /**
   * Runs `ms` of virtual time in slices of `sliceMs`, letting promise
   * callbacks run between slices (System calls that await: restarts, member
   * starts and deletions).
   */
  async advance(ms: number, sliceMs = 5): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) {
      this.run(Math.min(sliceMs, end - this.clock.now()));
      for (const h of this.sliceHooks) h();
      await this.clock.yieldToPromises();
    }
  }

  /** advance() until `done()` holds or `maxMs` passed; returns whether it held. */
  async advanceUntil(done: () => boolean, maxMs: number, sliceMs = 5): Promise<boolean> {
    const end = this.clock.now() + maxMs;
    while (!done()) {
      if (this.clock.now() >= end) return false;
      const sliceEnd = Math.min(end, this.clock.now() + sliceMs);
      if (this.runUntil(done, sliceEnd - this.clock.now())) return true;
      if (this.clock.now() < sliceEnd) this.clock.jump(sliceEnd - this.clock.now());
      for (const h of this.sliceHooks) h();
      await this.clock.yieldToPromises();
    }
    return true;
  }

  /**
   * Drives the world until `promise` settles, checking invariants after every
   * step; promise callbacks run before virtual time moves.
   */
  settle<T>(promise: Promise<T>, maxMs = 30_000): Promise<T> {
    return this.clock.settleWith(promise, maxMs, () => this.afterStep());
  }

  /** Nothing may be committed before a majority of the committing member's voters hold it durably. */
  private checkDurable(cluster: string, node: string, index: number, term: number): void {
    const voters = this.inspect(node, cluster)?.core.config.voters ?? [];
    const holders = voters.filter((v) => this.durable.get(v)?.durable.has(cluster, index, term) === true);
    if (holders.length * 2 > voters.length) return;
    this.invariants.fail(
      `durability: ${cluster} entry ${index} (term ${term}) applied on ${node} while durable on ${holders.length} of ${voters.length} voters [${holders.join(',')}]`,
    );
  }

  private afterStep(): void {
    this.steps++;
    const now = this.clock.now();
    if (now !== this.instant.at) this.instant = { at: now, steps: 0 };
    else if (++this.instant.steps > this.livelockStepsMax) {
      throw new LivelockError(`livelock: ${this.instant.steps} steps at one virtual instant without time moving`);
    }
    this.invariants.check(this.systems, this.clusters);
    for (const h of this.afterStepHooks) h();
  }
}
