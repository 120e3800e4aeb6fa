// Runs the README's "5-minute tour of the CLI" line by line: `export` sets the
// environment (pointed at a private nats-server), `npx concord node ... &`
// starts a node process, `npx concord ...` runs the CLI and must exit 0, and a
// `# → text` comment must match what it printed. `nats-server` lines are
// replaced by the test's own server.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { NatsServer } from '../helpers/nats_server.js';
import { NodeProcess, runCli } from '../helpers/processes.js';

const readme = readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), '../../README.md'), 'utf8');

function tourLines(): string[] {
  const section = readme.slice(readme.indexOf('## A 5-minute tour of the CLI'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** Splits a shell line into words (single quotes group; no other shell syntax is used in the tour). */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/'([^']*)'|(\S+)/g)) out.push(m[1] ?? (m[2] as string));
  return out;
}

const started: NodeProcess[] = [];
let nats: NatsServer | undefined;
const dir = mkdtempSync(join(tmpdir(), 'concord-tour-'));

afterAll(async () => {
  for (const n of started) await n.stop('SIGKILL');
  await nats?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the README CLI tour', () => {
  it('runs as written', async () => {
    const lines = tourLines();
    expect(lines.length).toBeGreaterThan(10);
    nats = await NatsServer.start();
    const env: Record<string, string> = {};
    for (const line of lines) {
      const hash = line.search(/\s#\s/);
      const code = hash < 0 ? line : line.slice(0, hash);
      const note = hash < 0 ? '' : line.slice(hash).trim();
      const comment = note.startsWith('# → ') ? note.slice('# → '.length) : undefined;
      const w = words(code);
      if (w[0] === 'nats-server') continue; // the test runs its own
      if (w[0] === 'export') {
        for (const kv of w.slice(1)) {
          const [k, v] = kv.split('=') as [string, string];
          env[k] = k === 'CONCORD_NATS' ? nats.url : v;
        }
        continue;
      }
      expect(w.slice(0, 2), line).toEqual(['npx', 'concord']);
      const args = w.slice(2).filter((x) => x !== '&');
      if (args[0] === 'node') {
        const id = args[args.indexOf('--id') + 1] as string;
        const rest = args.slice(1).filter((_, i, a) => a[i] !== '--id' && a[i - 1] !== '--id' && a[i] !== '--data' && a[i - 1] !== '--data');
        const node = new NodeProcess(id, join(dir, id), env['CONCORD_NATS'] as string, [...rest, '--cluster', env['CONCORD_CLUSTER'] as string, '--members', env['CONCORD_MEMBERS'] as string, '--election-timeout', '300']);
        started.push(node);
        await node.start();
        continue;
      }
      const r = await runCli(args, { ...env, CONCORD_LOG: 'error' });
      expect(r.code, `${line}\n${r.stderr}`).toBe(0);
      if (comment !== undefined) expect(r.stdout.trim(), line).toBe(comment.trim());
    }
    // A removal asked against a configuration that is not the cluster's latest changes nothing.
    const cli = (...args: string[]) => runCli(args, { ...env, CONCORD_LOG: 'error' });
    const members = JSON.parse((await cli('cluster', 'members', '--json')).stdout) as { voters: string[]; configIndex: number };
    const stale = await cli('cluster', 'remove', members.voters[0] as string, '--config-index', String(members.configIndex + 1));
    expect(stale.code, stale.stderr).toBe(1);
    expect(stale.stderr).toContain('[membership_changed]');
    expect(JSON.parse((await cli('cluster', 'members', '--json')).stdout)).toMatchObject({ voters: members.voters, configIndex: members.configIndex });
    expect((await cli('kv', 'get', 'x', '--config-index', '3')).code).toBe(2);
    // Disaster recovery: two of the three nodes are gone for good, and the third goes on alone.
    const survivor = members.voters[0] as string;
    for (const n of started.filter((p) => p.id !== survivor)) await n.stop('SIGKILL');
    const shrunk = await cli('cluster', 'force-shrink', survivor, '--json');
    expect(shrunk.code, shrunk.stderr).toBe(0);
    expect(JSON.parse(shrunk.stdout)).toEqual({ leader: survivor, voters: [survivor] });
    const put = await cli('kv', 'put', 'after', 'shrink', '--members', survivor);
    expect(put.code, put.stderr).toBe(0);
    expect(JSON.parse((await cli('cluster', 'members', '--json', '--members', survivor)).stdout)).toMatchObject({ leader: survivor, voters: [survivor] });
    // Deleting the cluster: every member goes (the cluster names only the survivor now), and the cluster with them.
    const deleted = await cli('cluster', 'delete', '--json', '--members', survivor);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(JSON.parse(deleted.stdout)).toEqual({ deleted: [survivor], notDeleted: [] });
    const after = await cli('kv', 'get', 'colour', '--members', survivor);
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('[cluster_not_found]');
  });
});
