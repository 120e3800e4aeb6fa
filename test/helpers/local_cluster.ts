// N Systems in one process over a LocalNetwork, each with its own data
// directory of real files, for integration tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { System, type SystemOptions } from '../../src/api/system.js';
import { LocalNetwork } from '../../src/transport/local.js';
import { RealClock } from '../../src/io/clock.js';
import { memoryLogger } from '../../src/lib/logger.js';
import { KvMachine } from '../../machines/kv.js';
import { CounterMachine } from '../../machines/counter.js';

export const fastRaft = { electionTimeoutMinMs: 150, electionTimeoutMaxMs: 300, heartbeatMs: 30 };

export class LocalCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'concord-it-'));
  readonly clock = new RealClock();
  readonly network = new LocalNetwork(this.clock);
  readonly systems = new Map<string, System>();
  readonly logger = memoryLogger();

  constructor(
    readonly nodes: string[],
    private readonly extra: Partial<SystemOptions> = {},
  ) {}

  async startNode(node: string): Promise<System> {
    return this.startNodeWith(node, {});
  }

  async startNodeWith(node: string, options: Partial<SystemOptions>): Promise<System> {
    const system = await System.start({
      nodeId: node,
      dataDir: join(this.dir, node),
      transport: this.network.connect(node),
      machines: { kv: () => new KvMachine(), counter: () => new CounterMachine() },
      clock: this.clock,
      logger: this.logger,
      raft: fastRaft,
      ...this.extra,
      ...options,
    });
    this.systems.set(node, system);
    return system;
  }

  async startAll(): Promise<void> {
    for (const n of this.nodes) await this.startNode(n);
  }

  system(node: string): System {
    const s = this.systems.get(node);
    if (s === undefined) throw new Error(`node ${node} is not running`);
    return s;
  }

  async stopNode(node: string): Promise<void> {
    await this.systems.get(node)?.stop();
    this.systems.delete(node);
  }

  /** Polls members() until some member names a leader that agrees it is leader. */
  async leader(cluster: string, via = this.nodes[0] as string, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const node of this.systems.keys()) {
        try {
          const status = await this.system(via).members(cluster, { member: node, timeoutMs: 500 });
          if (status.role === 'leader') return node;
        } catch {
          // not reachable right now
        }
      }
      if (Date.now() > deadline) throw new Error(`no leader for ${cluster}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    for (const node of [...this.systems.keys()]) await this.stopNode(node);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
