// `concord kv ...`, `concord counter ...` and `concord cluster ...`: commands
// that talk to a running cluster through a Client over NATS.
import type { Client } from '../api/client.js';
import { ConcordError } from '../lib/errors.js';
import { connectionHelp, connectionOptions, nonNegativeInt, parse, positiveInt, UsageError } from './args.js';
import { connectClient } from './connect.js';
import { print, show } from './output.js';
import { ownValue } from '../lib/names.js';
import type { KvEvent } from '../../machines/kv.js';

/** Usage of each client command. */
export const clientUsage: Record<'kv' | 'counter' | 'cluster', string> = {
  kv: `Usage: concord kv <command> ...
  concord kv put <key> <value>          set a key (prints the value it replaced)
  concord kv get <key>                  read a key (linearizable; --local reads one member)
  concord kv del <key>                  delete a key (and the keys bound to it)
  concord kv cas <key> <expected> <new> set only if the key holds <expected> (--absent: only if missing)
  concord kv keys [prefix]              the keys and values starting with prefix
  concord kv touch <key> --ttl <time>   give a key <time> more to live, from now
  concord kv watch [prefix]             print every change to keys starting with prefix, until
                                        interrupted (or --count N changes)
  concord kv buckets                    the buckets that hold keys
  concord kv drop-bucket <bucket>       delete every key of a bucket
Options: --json-value (values are JSON, not strings), --local, --absent,
  --bucket <name> (default: the default bucket), and for put and cas:
  --ttl <time> (e.g. 500ms, 30s, 5m, 1h; deleted then), --node <id> (deleted when
  that node goes down), --parent <key> (deleted with that key)
${connectionHelp}`,
  counter: `Usage: concord counter <incr|get> [name] [--by N]
  concord counter incr [name] [--by N]   add N (default 1); prints the new value
  concord counter get [name]             read a counter (linearizable)
${connectionHelp}`,
  cluster: `Usage: concord cluster <status|members|add|remove|transfer|delete|force-shrink> [node]
  concord cluster status                 every member's role, term and indexes
  concord cluster members                voters, non-voters and the leader
  concord cluster add <node>             add a member (it must be running \`concord node\`)
  concord cluster remove <node>          remove a member (it stops and deletes its data)
  concord cluster transfer <node>        make <node> the leader
  concord cluster delete                 delete the cluster: every member stops and deletes
                                        its data (the members it could not reach are listed)
  concord cluster force-shrink <node>    disaster recovery, when a majority is lost for good:
                                        <node>'s member continues the cluster alone (what
                                        only the lost members held is lost)
Options: --config-index <n> (add and remove: change the configuration only if
  it is still the one \`cluster members\` showed at that index)
${connectionHelp}`,
};

const extra = {
  'json-value': { type: 'boolean' },
  local: { type: 'boolean' },
  absent: { type: 'boolean' },
  by: { type: 'string' },
  bucket: { type: 'string' },
  ttl: { type: 'string' },
  node: { type: 'string' },
  parent: { type: 'string' },
  count: { type: 'string' },
  'config-index': { type: 'string' },
} as const;

/** The kv flags of one call. */
interface KvFlags {
  readonly local: boolean;
  readonly absent: boolean;
  readonly bucket?: string;
  readonly ttlMs?: number;
  readonly node?: string;
  readonly parent?: string;
  readonly count?: number;
}

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
  const flags: KvFlags = {
    local: values.local === true,
    absent: values.absent === true,
    ...(values.bucket === undefined ? {} : { bucket: values.bucket }),
    ...(values.ttl === undefined ? {} : { ttlMs: duration(values.ttl, '--ttl') }),
    ...(values.node === undefined ? {} : { node: values.node }),
    ...(values.parent === undefined ? {} : { parent: values.parent }),
    ...(values.count === undefined ? {} : { count: positiveInt(values.count, '--count', 1) }),
  };
  if (group === 'kv' && sub === 'touch' && flags.ttlMs === undefined) throw new UsageError('concord kv touch: --ttl is required');
  const configIndex = values['config-index'] === undefined ? undefined : nonNegativeInt(values['config-index'], '--config-index', 0);
  if (configIndex !== undefined && !(group === 'cluster' && (sub === 'add' || sub === 'remove'))) {
    throw new UsageError(`concord ${group} ${sub}: --config-index is for cluster add and remove`);
  }
  const { client, cluster, timeoutMs } = await connectClient(values);
  try {
    const call = { client, cluster, timeoutMs, json, args, jsonValue: values['json-value'] === true };
    if (group === 'kv') await kv(sub, call, flags);
    else if (group === 'counter') await counter(sub, call, positiveIntOrNegative(values.by));
    else await clusterCommand(sub, call, configIndex);
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
  kv: { put: [2, 2], get: [1, 1], del: [1, 1], cas: [2, 3], keys: [0, 1], touch: [1, 1], watch: [0, 1], buckets: [0, 0], 'drop-bucket': [1, 1] },
  counter: { incr: [0, 1], get: [0, 1] },
  cluster: { status: [0, 0], members: [0, 0], add: [1, 1], remove: [1, 1], transfer: [1, 1], delete: [0, 0], 'force-shrink': [1, 1] },
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

/** A time such as 1500, 500ms, 30s, 5m or 1h, in milliseconds. */
export function duration(text: string, what: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(text.trim());
  const unit = m?.[2] ?? 'ms';
  const ms = m === null ? Number.NaN : Number(m[1]) * (unit === 'h' ? 3_600_000 : unit === 'm' ? 60_000 : unit === 's' ? 1000 : 1);
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new UsageError(`${what} must be a time such as 500ms, 30s, 5m or 1h, got ${JSON.stringify(text)}`);
  return ms;
}

type KvCallReply = { ok: boolean; previous?: unknown; deleted?: number } | { error: string };

async function kv(sub: string, c: Call, f: KvFlags): Promise<void> {
  const opts = { timeoutMs: c.timeoutMs };
  const key = c.args[0] as string;
  const bucket = f.bucket === undefined ? {} : { bucket: f.bucket };
  const read = <T>(name: string, args: unknown): Promise<T> =>
    f.local ? c.client.localQuery<T>(c.cluster, { name, args }, opts) : c.client.consistentQuery<T>(c.cluster, { name, args }, opts);
  const write = async (command: object): Promise<{ ok: boolean; previous?: unknown; deleted?: number }> => {
    const reply = (await c.client.processCommand(c.cluster, command, opts)) as KvCallReply;
    if ('error' in reply) throw new UsageError(reply.error);
    return reply;
  };
  const life = { ...bucket, ...(f.ttlMs === undefined ? {} : { ttlMs: f.ttlMs }), ...(f.node === undefined ? {} : { node: f.node }), ...(f.parent === undefined ? {} : { parent: f.parent }) };
  switch (sub) {
    case 'get': {
      const v = await read<unknown>('get', { ...bucket, key });
      return print(c.json, { key, value: v }, () => show(v));
    }
    case 'keys': {
      const pairs = await read<[string, unknown][]>('range', { ...bucket, prefix: c.args[0] ?? '' });
      return print(c.json, pairs.map(([k, value]) => ({ key: k, value })), () => pairs.map(([k, v]) => `${k} = ${show(v)}`).join('\n') || '(none)');
    }
    case 'buckets': {
      const names = await read<string[]>('buckets', null);
      return print(c.json, names, () => names.map((n) => (n === '' ? '(default)' : n)).join('\n') || '(none)');
    }
    case 'watch':
      return watch(c, f, c.args[0] ?? '');
    case 'touch': {
      const reply = await write({ type: 'touch', key, ...bucket, ttlMs: f.ttlMs });
      print(c.json, { key, ...reply }, () => (reply.ok ? 'ok' : `not found: ${key}`));
      if (!reply.ok) process.exitCode = 1;
      return;
    }
    case 'drop-bucket': {
      const reply = await write({ type: 'delete_bucket', bucket: key });
      const n = reply.deleted ?? 0;
      return print(c.json, { bucket: key, ...reply }, () => `deleted ${n} key${n === 1 ? '' : 's'}`);
    }
  }
  const command =
    sub === 'put'
      ? { type: 'put', key, value: value(c.args[1] as string, c.jsonValue), returnPrevious: true, ...life }
      : sub === 'del'
        ? { type: 'delete', key, returnPrevious: true, ...bucket }
        : { type: 'cas', key, expected: f.absent ? null : value(c.args[1] as string, c.jsonValue), value: value(c.args[f.absent ? 1 : 2] as string, c.jsonValue), ...life };
  const reply = await write(command);
  print(c.json, { key, ...reply }, () => (sub === 'cas' && !reply.ok ? `not set: ${key} holds ${show(reply.previous)}` : `ok (previous: ${show(reply.previous)})`));
  if (sub === 'cas' && !reply.ok) process.exitCode = 1;
}

/**
 * Prints each change to keys starting with `prefix`, one line (or JSON
 * document) each, until SIGINT/SIGTERM or `--count` changes. The watch is
 * bound to this process: the cluster drops it when the process is gone, and
 * it is removed on the way out.
 */
async function watch(c: Call, f: KvFlags, prefix: string): Promise<void> {
  let seen = 0;
  let lastSeq = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const to = c.client.subscribe((msg) => {
    const e = msg as KvEvent;
    if (e.seq !== lastSeq + 1) process.stderr.write(`concord: ${e.seq - lastSeq - 1} change(s) missed (a leader change): read the keys again\n`);
    lastSeq = e.seq;
    print(c.json, e, () => (e.op === 'put' ? `put ${e.key} = ${show(e.value)}` : `delete ${e.key} (${e.reason})`));
    if (f.count !== undefined && ++seen >= f.count) finish();
  });
  const stop = (): void => finish();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const reply = (await c.client.processCommand(c.cluster, { type: 'watch', to, prefix, ...(f.bucket === undefined ? {} : { bucket: f.bucket }) }, { timeoutMs: c.timeoutMs })) as KvCallReply & { watch?: number };
    if ('error' in reply) throw new UsageError(reply.error);
    process.stderr.write(`watching ${prefix === '' ? 'every key' : `keys starting with ${JSON.stringify(prefix)}`}${f.bucket === undefined ? '' : ` in bucket ${f.bucket}`}\n`);
    await finished;
    await c.client.processCommand(c.cluster, { type: 'unwatch', watch: reply.watch }, { timeoutMs: c.timeoutMs }).catch(() => undefined); // it ends with this process anyway
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
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

async function clusterCommand(sub: string, c: Call, configIndex: number | undefined): Promise<void> {
  const opts = { timeoutMs: c.timeoutMs };
  const change = { configIndex };
  const node = c.args[0] as string;
  switch (sub) {
    case 'members': {
      const s = await c.client.members(c.cluster, opts);
      const shown = { leader: s.leader, voters: s.voters, nonVoters: s.nonVoters, term: s.term, configIndex: s.configIndex, incarnation: s.incarnation ?? null };
      return print(c.json, shown, () =>
        [
          `leader: ${s.leader ?? '(none)'}  term: ${s.term}`,
          `voters: ${s.voters.join(', ')}`,
          `non-voters: ${s.nonVoters.join(', ') || '(none)'}`,
          `configuration: index ${s.configIndex}${s.configIndex > s.commitIndex ? ' (not yet committed)' : ''}`,
        ].join('\n'),
      );
    }
    case 'status':
      return status(c);
    case 'add':
      await c.client.addMember(c.cluster, node, { ...change, timeoutMs: Math.max(c.timeoutMs, 30_000) });
      return print(c.json, { added: node }, () => `${node} is a voter of ${c.cluster}`);
    case 'remove':
      await c.client.removeMember(c.cluster, node, { ...change, ...opts });
      return print(c.json, { removed: node }, () => `${node} removed from ${c.cluster}`);
    case 'transfer':
      await c.client.transferLeadership(c.cluster, node, opts);
      return print(c.json, { leader: node }, () => `${node} leads ${c.cluster}`);
    case 'force-shrink':
      await c.client.forceShrink(c.cluster, node, opts);
      return print(c.json, { leader: node, voters: [node] }, () => `${node} leads ${c.cluster} alone; add members with \`concord cluster add\``);
    case 'delete': {
      const { deleted, notDeleted } = await c.client.deleteCluster(c.cluster, opts);
      const missed = notDeleted.map((n) => ({ node: n.node, error: n.error.message }));
      print(c.json, { deleted, notDeleted: missed }, () =>
        [`deleted: ${deleted.join(', ') || '(none)'}`, ...missed.map((n) => `not deleted: ${n.node} (${n.error})`)].join('\n'),
      );
      const first = notDeleted[0]?.error;
      if (first !== undefined) {
        const code = first instanceof ConcordError ? first.code : 'transport';
        throw new ConcordError(code, `${missed.length} member(s) of ${c.cluster} not deleted; run it again once they are back`);
      }
      return;
    }
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
          ? `  ${r.node.padEnd(8)} ${r.role.padEnd(16)} term ${r.term}  commit ${r.commitIndex}  applied ${r.appliedIndex}  last ${r.lastIndex}  snapshot ${r.snapshotIndex}${
              r.incarnation === leader.incarnation ? '' : '  (another incarnation of the cluster: not heard; delete it there)'
            }`
          : `  ${r.node.padEnd(8)} unreachable`,
      ),
    ].join('\n'),
  );
}

export { positiveInt };
