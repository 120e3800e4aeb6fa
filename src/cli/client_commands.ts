// `concord kv ...`, `concord counter ...` and `concord cluster ...`: commands
// that talk to a running cluster through a Client over NATS.
import type { Client } from '../api/client.js';
import { connectionHelp, connectionOptions, parse, positiveInt, UsageError } from './args.js';
import { connectClient } from './connect.js';
import { print, show } from './output.js';
import { ownValue } from '../lib/names.js';

/** Usage of each client command. */
export const clientUsage: Record<'kv' | 'counter' | 'cluster', string> = {
  kv: `Usage: concord kv <put|get|del|cas> ...
  concord kv put <key> <value>          set a key (prints the value it replaced)
  concord kv get <key>                  read a key (linearizable; --local reads one member)
  concord kv del <key>                  delete a key
  concord kv cas <key> <expected> <new> set only if the key holds <expected> (--absent: only if missing)
Options: --json-value (values are JSON, not strings), --local, --absent
${connectionHelp}`,
  counter: `Usage: concord counter <incr|get> [name] [--by N]
  concord counter incr [name] [--by N]   add N (default 1); prints the new value
  concord counter get [name]             read a counter (linearizable)
${connectionHelp}`,
  cluster: `Usage: concord cluster <status|members|add|remove|transfer> [node]
  concord cluster status                 every member's role, term and indexes
  concord cluster members                voters, non-voters and the leader
  concord cluster add <node>             add a member (it must be running \`concord node\`)
  concord cluster remove <node>          remove a member (it stops and deletes its data)
  concord cluster transfer <node>        make <node> the leader
${connectionHelp}`,
};

const extra = {
  'json-value': { type: 'boolean' },
  local: { type: 'boolean' },
  absent: { type: 'boolean' },
  by: { type: 'string' },
} as const;

/** Runs a client command; resolves with the exit code. */
export async function runClientCommand(group: 'kv' | 'counter' | 'cluster', argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...connectionOptions, ...extra });
  if (values.help === true || positionals.length === 0) {
    process.stdout.write(`${clientUsage[group]}\n`);
    return values.help === true ? 0 : 2;
  }
  const [sub, ...args] = positionals as [string, ...string[]];
  const json = values.json === true;
  validate(group, sub, args, values.absent === true);
  const { client, cluster, timeoutMs } = await connectClient(values);
  try {
    const call = { client, cluster, timeoutMs, json, args, jsonValue: values['json-value'] === true };
    if (group === 'kv') await kv(sub, call, values.local === true, values.absent === true);
    else if (group === 'counter') await counter(sub, call, positiveIntOrNegative(values.by));
    else await clusterCommand(sub, call);
    return 0;
  } finally {
    await client.close();
  }
}

interface Call {
  client: Client;
  cluster: string;
  timeoutMs: number;
  json: boolean;
  args: string[];
  jsonValue: boolean;
}

const arity: Record<string, Record<string, [number, number]>> = {
  kv: { put: [2, 2], get: [1, 1], del: [1, 1], cas: [2, 3] },
  counter: { incr: [0, 1], get: [0, 1] },
  cluster: { status: [0, 0], members: [0, 0], add: [1, 1], remove: [1, 1], transfer: [1, 1] },
};

function validate(group: string, sub: string, args: string[], absent: boolean): void {
  const range = ownValue(ownValue(arity, group), sub);
  if (range === undefined) throw new UsageError(`unknown command: concord ${group} ${sub}`);
  const [min, max] = group === 'kv' && sub === 'cas' ? (absent ? [2, 2] : [3, 3]) : range;
  if (args.length < min || args.length > max) throw new UsageError(`concord ${group} ${sub}: expected ${min === max ? min : `${min}-${max}`} arguments, got ${args.length}`);
}

function positiveIntOrNegative(by: string | undefined): number {
  if (by === undefined) return 1;
  const n = Number(by);
  if (!Number.isSafeInteger(n)) throw new UsageError(`--by must be an integer, got ${JSON.stringify(by)}`);
  return n;
}

function value(text: string, asJson: boolean): unknown {
  if (!asJson) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new UsageError(`not valid JSON: ${text}`);
  }
}

async function kv(sub: string, c: Call, local: boolean, absent: boolean): Promise<void> {
  const opts = { timeoutMs: c.timeoutMs };
  const key = c.args[0] as string;
  if (sub === 'get') {
    const v = local ? await c.client.localQuery(c.cluster, { name: 'get', args: key }, opts) : await c.client.consistentQuery(c.cluster, { name: 'get', args: key }, opts);
    return print(c.json, { key, value: v }, () => show(v));
  }
  const command =
    sub === 'put'
      ? { type: 'put', key, value: value(c.args[1] as string, c.jsonValue), returnPrevious: true }
      : sub === 'del'
        ? { type: 'delete', key, returnPrevious: true }
        : { type: 'cas', key, expected: absent ? null : value(c.args[1] as string, c.jsonValue), value: value(c.args[absent ? 1 : 2] as string, c.jsonValue) };
  const reply = (await c.client.processCommand(c.cluster, command, opts)) as { ok: boolean; previous: unknown } | { error: string };
  if ('error' in reply) throw new UsageError(reply.error);
  print(c.json, { key, ...reply }, () => (sub === 'cas' && !reply.ok ? `not set: ${key} holds ${show(reply.previous)}` : `ok (previous: ${show(reply.previous)})`));
  if (sub === 'cas' && !reply.ok) process.exitCode = 1;
}

async function counter(sub: string, c: Call, by: number): Promise<void> {
  const name = c.args[0];
  const opts = { timeoutMs: c.timeoutMs };
  const v =
    sub === 'get'
      ? await c.client.consistentQuery<number>(c.cluster, { name: 'get', args: name ?? null }, opts)
      : await c.client.processCommand<number>(c.cluster, { type: 'incr', ...(name === undefined ? {} : { name }), by }, opts);
  print(c.json, { name: name ?? 'default', value: v }, () => String(v));
}

async function clusterCommand(sub: string, c: Call): Promise<void> {
  const opts = { timeoutMs: c.timeoutMs };
  const node = c.args[0] as string;
  switch (sub) {
    case 'members': {
      const s = await c.client.members(c.cluster, opts);
      return print(c.json, { leader: s.leader, voters: s.voters, nonVoters: s.nonVoters, term: s.term }, () =>
        [`leader: ${s.leader ?? '(none)'}  term: ${s.term}`, `voters: ${s.voters.join(', ')}`, `non-voters: ${s.nonVoters.join(', ') || '(none)'}`].join('\n'),
      );
    }
    case 'status':
      return status(c);
    case 'add':
      await c.client.addMember(c.cluster, node, { timeoutMs: Math.max(c.timeoutMs, 30_000) });
      return print(c.json, { added: node }, () => `${node} is a voter of ${c.cluster}`);
    case 'remove':
      await c.client.removeMember(c.cluster, node, opts);
      return print(c.json, { removed: node }, () => `${node} removed from ${c.cluster}`);
    case 'transfer':
      await c.client.transferLeadership(c.cluster, node, opts);
      return print(c.json, { leader: node }, () => `${node} leads ${c.cluster}`);
  }
}

async function status(c: Call): Promise<void> {
  const leader = await c.client.members(c.cluster, { timeoutMs: c.timeoutMs });
  const rows = await Promise.all(
    [...leader.voters, ...leader.nonVoters].map(async (node) => {
      try {
        return await c.client.members(c.cluster, { member: node, timeoutMs: Math.min(c.timeoutMs, 2000) });
      } catch (e) {
        return { node, role: 'unreachable', error: e instanceof Error ? e.message : String(e) };
      }
    }),
  );
  print(c.json, { cluster: c.cluster, leader: leader.leader, members: rows }, () =>
    [
      `cluster ${c.cluster}: leader ${leader.leader ?? '(none)'}, term ${leader.term}`,
      ...rows.map((r) =>
        'commitIndex' in r
          ? `  ${r.node.padEnd(8)} ${r.role.padEnd(16)} term ${r.term}  commit ${r.commitIndex}  applied ${r.appliedIndex}  last ${r.lastIndex}  snapshot ${r.snapshotIndex}`
          : `  ${r.node.padEnd(8)} unreachable`,
      ),
    ].join('\n'),
  );
}

export { positiveInt };
