// `node dist/benchmarks/profile_top.js <file.cpuprofile> [n]`: the functions
// with the most self time in a V8 CPU profile (from `node --cpu-prof`).
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function, largest first. */
export function topFunctions(profile: Profile, n: number): { name: string; selfMs: number; percent: number }[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    total += dt;
    if (node === undefined) return;
    const f = node.callFrame;
    const file = f.url.replace(/^.*\/(dist|node_modules)\//, '$1/');
    const name = `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
    self.set(name, (self.get(name) ?? 0) + dt);
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, ms]) => ({ name, selfMs: Math.round(ms), percent: Math.round((1000 * ms) / total) / 10 }));
}

const file = process.argv[2];
if (file !== undefined) {
  const rows = topFunctions(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(process.argv[3] ?? 20));
  for (const r of rows) process.stdout.write(`${String(r.percent).padStart(5)}%  ${String(r.selfMs).padStart(6)} ms  ${r.name}\n`);
}
