// `npm run bench -- recovery`: the restart time of a node whose member has a
// 1 GiB log (no snapshot), until it serves a consistent read again.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { System } from '../src/api/system.js';
import { LocalNetwork } from '../src/transport/local.js';
import { RealClock } from '../src/io/clock.js';
import { stderrLogger } from '../src/lib/logger.js';
import { KvMachine } from '../machines/kv.js';
import { Progress, median, printTable, writeResult } from './lib/report.js';

const config = { logBytes: 1 << 30, valueBytes: 16 * 1024, runs: 3, inFlight: 256, electionTimeoutMs: 100 };

async function start(dir: string, network: LocalNetwork): Promise<System> {
  return System.start({
    nodeId: 'n1',
    dataDir: dir,
    transport: network.connect('n1'),
    machines: { kv: () => new KvMachine() },
    logger: stderrLogger('error'),
    snapshotEveryEntries: 1e9, // keep the whole log: recovery must read it
    raft: { electionTimeoutMinMs: config.electionTimeoutMs, electionTimeoutMaxMs: 2 * config.electionTimeoutMs, heartbeatMs: 10 },
  });
}

async function fill(system: System, entries: number, progress: (n: number) => void): Promise<void> {
  const value = 'x'.repeat(config.valueBytes);
  let next = 0;
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    const launch = (): void => {
      const i = next++;
      system.processCommand('rec', { type: 'put', key: `k${i % 1000}`, value }, { timeoutMs: 60_000 }).then(() => {
        if (++done % 1000 === 0) progress(done);
        if (done === entries) resolve();
        else if (next < entries) launch();
      }, reject);
    };
    for (let k = 0; k < config.inFlight; k++) launch();
  });
}

/** Runs the benchmark and writes benchmarks/results/recovery.json. */
export async function run(): Promise<void> {
  const entries = Math.ceil(config.logBytes / config.valueBytes);
  const progress = new Progress('recovery', config.runs * entries);
  const samples: number[] = [];
  for (let r = 0; r < config.runs; r++) {
    const dir = mkdtempSync(join(tmpdir(), 'concord-recovery-'));
    let network = new LocalNetwork(new RealClock());
    let system = await start(dir, network);
    await system.startCluster('rec', 'kv', ['n1']);
    await fill(system, entries, (n) => progress.update(r * entries + n));
    await system.stop();
    network = new LocalNetwork(new RealClock());
    const t0 = performance.now();
    system = await start(dir, network);
    await system.restartServer('rec');
    const size = await system.consistentQuery<number>('rec', { name: 'size' }, { timeoutMs: 60_000 });
    samples.push((performance.now() - t0) / 1000);
    if (size !== 1000) throw new Error(`recovered ${size} keys, expected 1000`);
    await system.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  progress.done();
  const results = { recoverySeconds: Math.round(1000 * median(samples)) / 1000, runs: samples.map((s) => Math.round(1000 * s) / 1000), entries, logBytes: config.logBytes };
  printTable('recovery: restart of a node with a 1 GiB log until it serves a consistent read', [
    { measure: 'seconds (median)', value: results.recoverySeconds, target: '<= 10' },
  ]);
  writeResult('recovery', config, results);
}
