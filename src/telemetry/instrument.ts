// Concord on OpenTelemetry: `instrument(system)` (or a Client) creates the
// instruments and hooks them in. It uses only `@opentelemetry/api`: until the
// application registers an SDK (or passes providers), every instrument is the
// API's no-op and costs next to nothing.
import { metrics, trace, type Attributes, type Meter, type MeterProvider, type TracerProvider } from '@opentelemetry/api';
import { ConcordError } from '../lib/errors.js';
import { System } from '../api/system.js';
import { Client } from '../api/client.js';
import { RequestTelemetry, ServeTelemetry } from './requests.js';
import { actorObservation, CommitTelemetry, logObservation, raftObservation, transportObservation, WalTelemetry, type Observation } from './node_metrics.js';

/** The instrumentation scope's name: what a metric or span from Concord carries as its meter or tracer. */
export const instrumentationScope = 'concord';

/** How `instrument` reports. */
export interface TelemetryOptions {
  /** Where meters come from (default: the global provider, a no-op until an SDK registers one). */
  readonly meterProvider?: MeterProvider;
  /** Where tracers come from (default: the global provider). */
  readonly tracerProvider?: TracerProvider;
  /**
   * Spans (default true): a client span around each request and, on a System,
   * a server span for each request it serves whose caller's span is sampled.
   */
  readonly traces?: boolean;
  /** Label request metrics with `concord.cluster` (default false: a series per cluster adds up with thousands of clusters). */
  readonly clusterAttribute?: boolean;
  /** Gauges per member (term, commit, applied, last and snapshot index), labelled with `concord.cluster` (default false). */
  readonly perMember?: boolean;
}

/** Instrumentation in place; `stop` takes it out. */
export interface Telemetry {
  /** Stops recording and unregisters the observable instruments' callback. */
  stop(): void;
}

/**
 * Reports a System's (or a Client's) metrics and request spans through
 * OpenTelemetry. A System reports its requests, members, protocol events, WAL,
 * segments and transport; a Client its requests and transport. One
 * instrumentation per System or Client at a time.
 */
export function instrument(target: System | Client, options: TelemetryOptions = {}): Telemetry {
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(instrumentationScope);
  const tracer = options.traces === false ? undefined : (options.tracerProvider ?? trace.getTracerProvider()).getTracer(instrumentationScope);
  const isSystem = target instanceof System;
  if (!isSystem && !(target instanceof Client)) throw new ConcordError('invalid_argument', 'instrument takes a System or a Client');
  if ((isSystem && target.logSystem.walProbe !== undefined) || target.watchingRequests()) {
    throw new ConcordError('invalid_argument', `${target.nodeId} is instrumented already: stop that instrumentation first`);
  }
  const node = { 'concord.node': target.nodeId };
  target.watchRequests(new RequestTelemetry(meter, target.nodeId, tracer, options.clusterAttribute === true));
  const observations = isSystem
    ? systemObservations(meter, node, target, options)
    : [transportObservation(meter, node, target.transport, () => ({ unexpected: target.stats.unexpected }))];
  if (isSystem) {
    target.logSystem.walProbe = new WalTelemetry(meter, node);
    target.commitProbe = new CommitTelemetry(meter, node);
    if (tracer !== undefined) target.served.probe = new ServeTelemetry(tracer, target.nodeId);
  }
  const removals = observations.map((o) => register(meter, o));
  let stopped = false;
  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      target.watchRequests(undefined);
      if (isSystem) {
        target.logSystem.walProbe = undefined;
        target.commitProbe = undefined;
        target.served.probe = undefined;
        target.served.abandonAll();
      }
      for (const remove of removals) remove();
    },
  };
}

function systemObservations(meter: Meter, node: Attributes, system: System, options: TelemetryOptions): Observation[] {
  const d = system.dropped;
  const drops = () => ({ unknown_cluster: d.unknownCluster, misaddressed: d.misaddressed, not_member: d.notMember, other_incarnation: d.otherIncarnation, handler_failed: d.failed });
  return [
    raftObservation(meter, node, system, options.perMember === true),
    logObservation(meter, node, system),
    actorObservation(meter, node, system),
    transportObservation(meter, node, system.transport, drops),
  ];
}

/** Registers an observation's callback; returns its removal. (The SDK reports a callback's exception through its own error handler.) */
function register(meter: Meter, o: Observation): () => void {
  meter.addBatchObservableCallback(o.observe, o.instruments);
  return () => meter.removeBatchObservableCallback(o.observe, o.instruments);
}
