// Helpers shared by the Raft benchmarks: an in-process 3-node cluster on real
// files, and the 256-byte put workload.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { System, type SystemOptions } from '../../src/api/system.js';
import { LocalNetwork } from '../../src/transport/local.js';
import { RealClock } from '../../src/io/clock.js';
import { stderrLogger } from '../../src/lib/logger.js';
import { KvMachine } from '../../machines/kv.js';
import { CounterMachine } from '../../machines/counter.js';

/** A 256-byte put (key + value + msgpack framing). */
export function put256(i: number): { type: 'put'; key: string; value: string } {
  const key = `key-${i % 100_000}`;
  return { type: 'put', key, value: values[key.length] ?? '' };
}

/** The value for each key length, made once (a fresh `repeat` per command measured the generator, not Concord). */
const values = Array.from({ length: 16 }, (_, keyLength) => 'v'.repeat(256 - 24 - keyLength));

/** Three Systems in this process over a LocalNetwork, each with its own data dir of real files (`extra` overrides their options). */
export async function localCluster(nodes = ['n1', 'n2', 'n3'], extra: Partial<SystemOptions> = {}): Promise<{ systems: System[]; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'concord-bench-'));
  const clock = new RealClock();
  const network = new LocalNetwork(clock);
  const systems: System[] = [];
  for (const node of nodes) {
    systems.push(
      await System.start({
        nodeId: node,
        dataDir: join(dir, node),
        transport: network.connect(node),
        machines: { kv: () => new KvMachine(), counter: () => new CounterMachine() },
        clock,
        logger: stderrLogger('error'),
        ...extra,
      }),
    );
  }
  return {
    systems,
    close: async () => {
      for (const s of systems) await s.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
