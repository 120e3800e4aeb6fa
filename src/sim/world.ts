// A simulated world: several Concord nodes on one SimClock, each with its own
// SimDisk, talking over a LocalNetwork with seeded faults. One seed gives one
// run, step for step; invariants are checked after every step.
import { System, type SystemOptions } from '../api/system.js';
import { SimClock } from '../io/sim_clock.js';
import { SeededRandom } from '../io/random.js';
import { SimDisk, type SimDiskOptions } from '../io/sim_disk.js';
import { memoryLogger, type Logger } from '../lib/logger.js';
import type { AnyMachine } from '../raft/machine.js';
import type { CoreOptions } from '../raft/core/types.js';
import { LocalNetwork, type NetworkFaults } from '../transport/local.js';
import { Invariants } from './invariants.js';

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
}

/** Default Raft timing in simulation: short, so that runs cover many elections. */
export const simRaft: Partial<CoreOptions> = { electionTimeoutMinMs: 150, electionTimeoutMaxMs: 300, heartbeatMs: 30 };

/** Several nodes in one deterministic simulation. */
export class World {
  readonly clock = new SimClock();
  readonly random: SeededRandom;
  readonly network: LocalNetwork;
  readonly disks = new Map<string, SimDisk>();
  readonly systems = new Map<string, System>();
  readonly invariants = new Invariants();
  readonly logger: Logger;
  /** Clusters whose invariants are checked. */
  readonly clusters: string[] = [];
  /** Steps run so far. */
  steps = 0;

  constructor(readonly options: WorldOptions) {
    this.random = new SeededRandom(options.seed);
    this.logger = options.logger ?? memoryLogger();
    this.network = new LocalNetwork(this.clock, this.random.fork(), options.faults ?? {});
    for (const node of options.nodes) this.disks.set(node, new SimDisk(this.clock, this.random.fork(), options.disk ?? {}));
  }

  /** Starts (or restarts after a crash) the System of `node` on its disk. */
  async startNode(node: string): Promise<System> {
    const disk = this.disks.get(node);
    if (disk === undefined) throw new Error(`unknown node ${node}`);
    const o = this.options;
    const system = await System.start({
      nodeId: node,
      dataDir: `/${node}`,
      transport: this.network.connect(node),
      machines: o.machines,
      clock: this.clock,
      random: this.random.fork(),
      disk,
      logger: this.logger,
      raft: o.raft ?? simRaft,
      // A small preallocation keeps the path exercised without filling simulated memory with zeros.
      log: { walPreallocateBytes: 64 * 1024, ...o.log },
      actors: { random: this.random.fork(), shuffle: true, sliceMax: 8, drainMax: 32 },
      requestTimeoutMs: o.requestTimeoutMs ?? 2000,
      observer: this.invariants.observer,
    });
    this.systems.set(node, system);
    return system;
  }

  /** The running System of `node`. */
  system(node: string): System {
    const s = this.systems.get(node);
    if (s === undefined) throw new Error(`node ${node} is down`);
    return s;
  }

  /** Kills `node` like SIGKILL plus power loss: unsynced writes are lost (or torn). */
  crash(node: string, torn = false): void {
    const s = this.systems.get(node);
    if (s === undefined) return;
    s.kill();
    this.systems.delete(node);
    this.disks.get(node)?.crash({ torn });
    for (const c of this.clusters) this.invariants.restarted(c, node);
  }

  /** Restarts a crashed node and its members of the checked clusters. */
  async restart(node: string): Promise<void> {
    const system = await this.startNode(node);
    for (const c of this.clusters) await this.settle(system.restartServer(c).catch(() => {}));
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
   * Drives the world until `promise` settles, checking invariants after every
   * step; promise callbacks run before virtual time moves.
   */
  settle<T>(promise: Promise<T>, maxMs = 30_000): Promise<T> {
    return this.clock.settleWith(promise, maxMs, () => this.afterStep());
  }

  private afterStep(): void {
    this.steps++;
    this.invariants.check(this.systems, this.clusters);
  }
}
