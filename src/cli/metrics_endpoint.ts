// `concord node --metrics-port`: a Prometheus endpoint for a node process,
// through the OpenTelemetry SDK and its Prometheus exporter. Concord does not
// depend on either (no SDK is forced on users): they are loaded only when the
// flag is given, and a clear usage error says what to install when missing.
import type { System } from '../api/system.js';
import { instrument, type Telemetry } from '../telemetry/instrument.js';
import { UsageError } from './args.js';

/** A running endpoint; `close` stops the server and the instrumentation. */
export interface MetricsEndpoint {
  /** Where Prometheus scrapes. */
  readonly url: string;
  /** Reports `system`'s metrics here (once). */
  attach(system: System, options: { perMember: boolean }): void;
  close(): Promise<void>;
}

const packages = ['@opentelemetry/sdk-metrics', '@opentelemetry/exporter-prometheus'] as const;

/**
 * Starts serving metrics at http://<host>:<port>/metrics (empty until a
 * System is attached): before the node starts, so that a missing package or a
 * port in use stops it before it touches its data.
 */
export async function serveMetrics(options: { port: number; host: string }): Promise<MetricsEndpoint> {
  let sdk: typeof import('@opentelemetry/sdk-metrics');
  let prometheus: typeof import('@opentelemetry/exporter-prometheus');
  try {
    [sdk, prometheus] = await Promise.all([import(packages[0]), import(packages[1])]);
  } catch (e) {
    throw new UsageError(`--metrics-port needs ${packages.join(' and ')} (npm install ${packages.join(' ')}): ${(e as Error).message}`);
  }
  const exporter = new prometheus.PrometheusExporter({ host: options.host, port: options.port, preventServerStart: true });
  try {
    await exporter.startServer();
  } catch (e) {
    throw new UsageError(`--metrics-port: cannot listen on ${options.host}:${options.port}: ${(e as Error).message}`);
  }
  const meterProvider = new sdk.MeterProvider({ readers: [exporter] });
  let telemetry: Telemetry | undefined;
  return {
    url: `http://${options.host}:${options.port}/metrics`,
    attach: (system, { perMember }) => {
      telemetry = instrument(system, { meterProvider, perMember, traces: false });
    },
    close: async () => {
      telemetry?.stop();
      await meterProvider.shutdown();
    },
  };
}
