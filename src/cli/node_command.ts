// `concord node`: runs a node process. It connects to NATS (waiting for a
// server when none answers yet), recovers every member it has on disk,
// optionally makes sure it hosts a member of a cluster, prints `ready <id>`,
// and runs until SIGINT or SIGTERM. Its metrics and spans go to whatever
// OpenTelemetry SDK the process registers (none by default).
import { join } from 'node:path';
import { System } from '../api/system.js';
import { NatsTransport } from '../transport/nats.js';
import { RealClock, sleep } from '../io/clock.js';
import { stderrLogger } from '../lib/logger.js';
import { KvMachine } from '../../machines/kv.js';
import { CounterMachine } from '../../machines/counter.js';
import { connectionHelp, connectionOptions, flagOrEnv, list, parse, nonNegativeInt, positiveInt, UsageError } from './args.js';
import { transportOptions, type ConnectionFlags } from './connect.js';
import { loadMachineModules } from './machine_module.js';
import { instrument } from '../telemetry/instrument.js';
import { serveMetrics, type MetricsEndpoint } from './metrics_endpoint.js';
import type { AnyMachine } from '../raft/machine.js';

/** Usage of `concord node`. */
export const nodeUsage = `Usage: concord node --id <name>|_ --data <dir> [--cluster <name> --members a,b,c --machine <name>]
Runs a node until SIGINT/SIGTERM. It restarts every member it has in <dir>, and waits
for NATS when no server answers yet.
  --id <name>        this node's id; \`_\` picks the next free one (n1, n2, ...) and keeps its data in <dir>/<id>
  --data <dir>       where the WAL, segments and snapshots live [CONCORD_DATA]
  --machine <name>   kv, counter or one of --machine-module (default kv), with --cluster
                     and --members: make sure this node hosts a member of that cluster
  --machine-module <name>=<file>  (repeatable) also serve your own machine as <name>: <file> is
                     an ES module whose default export is a Machine class or a function
                     returning a Machine; every member's node needs it under the same name
  --snapshot-every <n>  snapshot every n applied entries (default 65536)
  --machine-tick <ms>  call a machine's tick hook this often (default 1000; 0: never)
  --election-timeout <ms>  minimum election timeout (default 1000; heartbeats every tenth of it)
  --wal-sync <method>  datasync (default), fsync, or none (writes are acknowledged before
                     they reach the disk: a power loss can lose acknowledged commands)
  --metrics-port <port>  serve Prometheus metrics at http://<host>:<port>/metrics (needs
                     @opentelemetry/sdk-metrics and @opentelemetry/exporter-prometheus installed)
  --metrics-host <host>  the address it listens on (default 127.0.0.1; 0.0.0.0 for every interface)
  --otel-per-member  metrics per member too (term, commit and applied index, labelled with
                     the cluster). Without --metrics-port, metrics and spans go to the
                     OpenTelemetry SDK the process registers:
                     NODE_OPTIONS="--import ./otel-setup.mjs" concord node ...
${connectionHelp}`;

const builtInMachines = { kv: () => new KvMachine(), counter: () => new CounterMachine() };

/** Runs `concord node`; resolves when the node has stopped. */
export async function runNode(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...connectionOptions, id: { type: 'string' }, data: { type: 'string' }, machine: { type: 'string' }, 'machine-module': { type: 'string', multiple: true }, 'snapshot-every': { type: 'string' }, 'machine-tick': { type: 'string' }, 'election-timeout': { type: 'string' }, 'wal-sync': { type: 'string' }, 'otel-per-member': { type: 'boolean' }, 'metrics-port': { type: 'string' }, 'metrics-host': { type: 'string' } });
  if (values.help === true) {
    process.stdout.write(`${nodeUsage}\n`);
    return 0;
  }
  const idFlag = values.id;
  const dataFlag = flagOrEnv(values.data, 'CONCORD_DATA');
  if (idFlag === undefined || dataFlag === undefined) throw new UsageError('concord node needs --id and --data');
  const machines = { ...builtInMachines, ...(await loadMachineModules(values['machine-module'] ?? [], Object.keys(builtInMachines))) };
  const machine = values.machine ?? 'kv';
  if (!Object.hasOwn(machines, machine)) throw new UsageError(`unknown machine '${machine}' (${Object.keys(machines).join(', ')})`);
  const cluster = flagOrEnv(values.cluster, 'CONCORD_CLUSTER');
  const members = list(flagOrEnv(values.members, 'CONCORD_MEMBERS') ?? '');
  const id = idFlag === '_' ? await freeNodeId(values) : idFlag;
  const dataDir = idFlag === '_' ? join(dataFlag, id) : dataFlag;
  const metricsPort = values['metrics-port'] === undefined ? undefined : positiveInt(values['metrics-port'], '--metrics-port', 0);
  if (metricsPort !== undefined && metricsPort > 65_535) throw new UsageError(`--metrics-port must be at most 65535, got ${metricsPort}`);
  if (metricsPort === undefined && values['metrics-host'] !== undefined) throw new UsageError('--metrics-host needs --metrics-port');
  const walSync = values['wal-sync'] ?? 'datasync';
  if (walSync !== 'datasync' && walSync !== 'fsync' && walSync !== 'none') throw new UsageError(`--wal-sync must be datasync, fsync or none, got '${walSync}'`);
  const metrics = metricsPort === undefined ? undefined : await serveMetrics({ port: metricsPort, host: values['metrics-host'] ?? '127.0.0.1' });
  const node: NodeConfig = {
    id,
    dataDir,
    machines,
    walSync,
    connection: values,
    snapshotEvery: positiveInt(values['snapshot-every'], '--snapshot-every', 65_536),
    machineTickMs: nonNegativeInt(values['machine-tick'], '--machine-tick', 1000),
    electionMs: positiveInt(values['election-timeout'], '--election-timeout', 1000),
    member: cluster !== undefined && members.length > 0 ? { cluster, machine, members } : undefined,
    perMember: values['otel-per-member'] === true,
  };
  try {
    return await serveNode(node, metrics);
  } finally {
    await metrics?.close(); // an open endpoint would keep the process alive
  }
}

/** What `concord node` runs, its flags checked. */
interface NodeConfig {
  readonly id: string;
  readonly dataDir: string;
  readonly machines: Readonly<Record<string, () => AnyMachine>>;
  readonly walSync: 'datasync' | 'fsync' | 'none';
  readonly connection: ConnectionFlags;
  readonly snapshotEvery: number;
  readonly machineTickMs: number;
  readonly electionMs: number;
  /** A member this node must host. */
  readonly member: { readonly cluster: string; readonly machine: string; readonly members: readonly string[] } | undefined;
  readonly perMember: boolean;
}

/** Starts the node, prints `ready <id>`, and runs until a signal (0) or until it stops by itself (1). */
async function serveNode(node: NodeConfig, metrics: MetricsEndpoint | undefined): Promise<number> {
  const clock = new RealClock();
  const logger = stderrLogger();
  // A node may start before NATS (a host booting, say): it waits for a server rather than exiting.
  const transport = await NatsTransport.connect({ ...transportOptions(node.id, node.connection), clock, logger, waitForServer: true });
  const system = await System.start({
    nodeId: node.id,
    dataDir: node.dataDir,
    transport,
    machines: node.machines,
    clock,
    logger,
    snapshotEveryEntries: node.snapshotEvery,
    machineTickMs: node.machineTickMs,
    raft: raftTiming(node.electionMs),
    log: { walSyncMethod: node.walSync },
  });
  // Without an endpoint: a no-op unless an SDK was registered before this point (NODE_OPTIONS="--import ...").
  const telemetry = metrics === undefined ? instrument(system, { perMember: node.perMember }) : undefined;
  if (metrics !== undefined) {
    metrics.attach(system, { perMember: node.perMember });
    process.stdout.write(`metrics ${metrics.url}\n`);
  }
  await system.restartAll();
  if (node.member !== undefined) await system.ensureMember(node.member.cluster, node.member.machine, node.member.members);
  process.stdout.write(`ready ${node.id}\n`);
  // Runs until a signal, or until the node stops by itself (its supervision tree gave up): then
  // the process exits with 1, for its service manager to start it again from disk.
  const down = await new Promise<Error | undefined>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(undefined);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    system.whenDown().then(resolve, () => {});
  });
  if (down !== undefined) {
    process.stderr.write(`${down.message}\n`);
    return 1;
  }
  telemetry?.stop();
  await system.stop();
  return 0;
}

/** Raft timing from a minimum election timeout: randomised up to twice it, heartbeats at a tenth. */
export function raftTiming(electionMs: number): { electionTimeoutMinMs: number; electionTimeoutMaxMs: number; heartbeatMs: number } {
  return { electionTimeoutMinMs: electionMs, electionTimeoutMaxMs: 2 * electionMs, heartbeatMs: Math.max(5, Math.floor(electionMs / 10)) };
}

/** The smallest `nN` that no live node uses, learned from NATS heartbeats. */
async function freeNodeId(flags: ConnectionFlags): Promise<string> {
  const clock = new RealClock();
  const probe = await NatsTransport.connect({ ...transportOptions(`probe-${process.pid}`, flags), clock, heartbeatMs: 100, nodeTimeoutMs: 1000, waitForServer: true });
  probe.listen(
    () => {},
    () => {},
  );
  await sleep(clock, 700); // long enough to hear every node's heartbeat
  const live = probe.liveNodes();
  await probe.close();
  for (let n = 1; ; n++) if (!live.has(`n${n}`)) return `n${n}`;
}
