// `npm run bench -- telemetry`: what OpenTelemetry instrumentation costs per
// command. A 3-member cluster in one process (real files, fdatasync) of the
// machine that keeps nothing (ra_bench's: no snapshots of a growing state
// land in some blocks and not others), every System making pipelined
// 256-byte commands, in blocks that alternate the modes
// on one warm cluster: not instrumented; instrumented with no SDK (the API's
// no-ops, what `concord node` runs without one); an SDK's metrics; an SDK's
// metrics and spans, one request in a hundred sampled; and always sampled (a
// client span on the caller and a server span on the leader per command). The
// exporters drop what they get, so what is measured is recording, not exporting.
import { AggregationTemporality, MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { System } from '../src/api/system.js';
import { instrument, type Telemetry } from '../src/telemetry/index.js';
import { Progress, median, printTable, writeResult } from './lib/report.js';
import { localCluster, put256 } from './lib/cluster.js';
import { pipelined } from './lib/drive.js';
import NoopMachine from './lib/noop_machine.js';

const modes = ['none', 'noop', 'metrics', 'sampled', 'traces'] as const;
type Mode = (typeof modes)[number];
const config = { members: 3, commandBytes: 256, inFlightPerSystem: 700, warmupOps: 60_000, opsPerBlock: 40_000, rounds: 10, sync: 'datasync', modes };

const dropMetrics: PushMetricExporter = {
  export: (_metrics, done) => done({ code: 0 }),
  selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};
const dropSpans: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: () => Promise.resolve() };

/** Instruments every System for `mode`; returns how to take it out. */
function instrumentAll(systems: readonly System[], mode: Mode): () => void {
  if (mode === 'none') return () => {};
  const meterProvider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: dropMetrics, exportIntervalMillis: 10_000 })] });
  const sampler = mode === 'sampled' ? new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.01) }) : undefined;
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropSpans)], ...(sampler === undefined ? {} : { sampler }) });
  const options = mode === 'noop' ? {} : mode === 'metrics' ? { meterProvider, traces: false } : { meterProvider, tracerProvider };
  const all: Telemetry[] = systems.map((s) => instrument(s, options));
  return () => {
    for (const t of all) t.stop();
    void meterProvider.shutdown();
    void tracerProvider.shutdown();
  };
}

/** One block of puts from every System; CPU microseconds of this process per command, and ops/s. */
async function block(systems: readonly System[], ops: number, first: number, progress: (n: number) => void): Promise<{ cpuUs: number; opsPerSec: number }> {
  const cpu = process.cpuUsage();
  const opsPerSec = await pipelined(systems, config.inFlightPerSystem, ops, (i) => ({ cluster: 'bench', body: put256(first + i) }), progress);
  const used = process.cpuUsage(cpu);
  return { cpuUs: (used.user + used.system) / ops, opsPerSec };
}

/** Runs the benchmark and writes benchmarks/results/telemetry.json. */
export async function run(): Promise<void> {
  const total = config.warmupOps + config.rounds * modes.length * config.opsPerBlock;
  const progress = new Progress('telemetry', total);
  const { systems, close } = await localCluster(['n1', 'n2', 'n3'], { machines: { noop: () => new NoopMachine() } });
  await (systems[0] as System).startCluster('bench', 'noop', ['n1', 'n2', 'n3']);
  let done = 0;
  const at = (base: number) => (n: number) => progress.update(base + n);
  await block(systems, config.warmupOps, 0, at(0));
  done += config.warmupOps;
  const samples = new Map<Mode, { cpuUs: number[]; opsPerSec: number[] }>(modes.map((m) => [m, { cpuUs: [], opsPerSec: [] }]));
  for (let r = 0; r < config.rounds; r++) {
    // The order turns each round, so that no mode always follows the same one.
    for (let k = 0; k < modes.length; k++) {
      const mode = modes[(k + r) % modes.length] as Mode;
      const remove = instrumentAll(systems, mode);
      const b = await block(systems, config.opsPerBlock, done, at(done));
      remove();
      done += config.opsPerBlock;
      samples.get(mode)?.cpuUs.push(b.cpuUs);
      samples.get(mode)?.opsPerSec.push(b.opsPerSec);
    }
  }
  progress.done();
  await close();
  const cpu = (m: Mode) => Number(median(samples.get(m)?.cpuUs ?? []).toFixed(1));
  const ops = (m: Mode) => Math.round(median(samples.get(m)?.opsPerSec ?? []));
  const results = {
    cpuUsPerCommand: Object.fromEntries(modes.map((m) => [m, cpu(m)])),
    opsPerSec: Object.fromEntries(modes.map((m) => [m, ops(m)])),
    samples: Object.fromEntries(modes.map((m) => [m, samples.get(m)])),
  };
  const label: Record<Mode, string> = {
    none: 'not instrumented',
    noop: 'instrumented, no SDK (the API no-ops)',
    metrics: 'an SDK, metrics',
    sampled: 'an SDK, metrics and spans, 1% sampled',
    traces: 'an SDK, metrics and spans, always sampled',
  };
  printTable(`telemetry: 3 members in one process, every System sending 256-byte commands to a machine that keeps nothing (median of ${config.rounds} alternated blocks)`, [
    ...modes.map((m) => ({ measure: `${label[m]}: CPU us per command`, value: cpu(m), 'over none': m === 'none' ? '-' : (cpu(m) - cpu('none')).toFixed(1) })),
    ...modes.map((m) => ({ measure: `${label[m]}: ops/s`, value: ops(m), 'over none': '-' })),
  ]);
  writeResult('telemetry', config, results);
}
