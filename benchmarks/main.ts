// `npm run bench -- <name>`: runs one benchmark, or `all` of them in turn.
const benchmarks: Record<string, () => Promise<{ run: () => Promise<void> }>> = {
  actors: () => import('./actors.js'),
  wal: () => import('./wal.js'),
  'raft-local': () => import('./raft_local.js'),
  'raft-nats': () => import('./raft_nats.js'),
  throughput: () => import('./throughput.js'),
  latency: () => import('./latency.js'),
  groups: () => import('./groups.js'),
  recovery: () => import('./recovery.js'),
  'latency-load': () => import('./latency_load.js'),
  telemetry: () => import('./telemetry.js'),
};

async function main(): Promise<void> {
  const name = process.argv[2];
  if (name === undefined || name === '--help' || (name !== 'all' && !(name in benchmarks))) {
    process.stderr.write(`usage: npm run bench -- <${[...Object.keys(benchmarks), 'all'].join('|')}>\n`);
    process.exitCode = 2;
    return;
  }
  const names = name === 'all' ? Object.keys(benchmarks) : [name];
  for (const n of names) {
    const load = benchmarks[n];
    if (load !== undefined) await (await load()).run();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`benchmark failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
