// Request telemetry: a duration histogram and a retry counter for every
// request a System or Client makes, and a client span around each one (a
// child of whatever span is active where the caller made the request). A
// sampled client span travels with the request as a W3C traceparent, and the
// node that serves it adds a server span to the same trace, from arrival to
// answer (so a slow command shows whether the time went on the serving node).
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Attributes, type Histogram, type Counter, type Meter, type Span, type Tracer } from '@opentelemetry/api';
import type { ConcordError } from '../lib/errors.js';
import type { RequestEnd, RequestProbe } from '../api/requester.js';
import type { ServeEnd, ServeProbe } from '../api/served.js';
import type { Request, Response } from '../transport/transport.js';

/** Bucket bounds in seconds: a command takes about a millisecond on a quiet network, a timeout seconds. */
const durationBuckets = [0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What a request does, as its metrics and spans name it: `command`, `query.consistent`, `add_member`, ... */
export function operationOf(body: Request): string {
  return body.type === 'query' ? queryOperations[body.mode] : body.type;
}

/** A query's operation names, made once (not one string per query). */
const queryOperations = { consistent: 'query.consistent', leader: 'query.leader', local: 'query.local' } as const;

/** Records every request: its duration (with `error.type` when it failed), its retries and a span. */
export class RequestTelemetry implements RequestProbe {
  private readonly duration: Histogram;
  private readonly retries: Counter;
  /** Attribute sets made once, a request should not allocate them: of successes by operation (the common case, no key to build), and of the rest by a key. */
  private readonly okSets = new Map<string, Attributes>();
  private readonly attributeSets = new Map<string, Attributes>();

  constructor(
    meter: Meter,
    /** `concord.node`: the System's or Client's id. */
    private readonly node: string,
    private readonly tracer: Tracer | undefined,
    /** Whether metrics carry `concord.cluster` (spans always do). */
    private readonly byCluster: boolean,
  ) {
    this.duration = meter.createHistogram('concord.request.duration', {
      unit: 's',
      description: 'Time from a request to its answer (retries and leader redirects included)',
      advice: { explicitBucketBoundaries: durationBuckets },
    });
    this.retries = meter.createCounter('concord.request.retries', {
      unit: '{attempt}',
      description: 'Attempts of requests beyond the first (not_leader redirects, retries after a member went silent)',
    });
  }

  /** Starts a request's span; the function returned records its end. */
  begin(cluster: string, body: Request, startMs: number): RequestEnd {
    const operation = operationOf(body);
    const span = this.tracer?.startSpan(`concord ${operation}`, {
      kind: SpanKind.CLIENT,
      attributes: { 'concord.node': this.node, 'concord.cluster': cluster, 'concord.operation': operation },
    });
    const end = (error: ConcordError | null, attempts: number, endMs: number): void => {
      const attributes = this.attributes(operation, cluster, error);
      this.duration.record(Math.max(0, endMs - startMs) / 1000, attributes);
      if (attempts > 1) this.retries.add(attempts - 1, attributes);
      if (span === undefined) return;
      span.setAttribute('concord.attempts', attempts);
      if (error !== null) {
        span.setAttribute('error.type', error.code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      }
      span.end();
    };
    const traceparent = sampledTraceparent(span);
    return traceparent === undefined ? end : Object.assign(end, { traceparent });
  }

  private attributes(operation: string, cluster: string, error: ConcordError | null): Attributes {
    if (error === null && !this.byCluster) {
      let ok = this.okSets.get(operation);
      if (ok === undefined) this.okSets.set(operation, (ok = { 'concord.node': this.node, 'concord.operation': operation }));
      return ok;
    }
    const code = error?.code;
    const key = this.byCluster ? `${operation}\u0000${code ?? ''}\u0000${cluster}` : `${operation}\u0000${code ?? ''}`;
    let set = this.attributeSets.get(key);
    if (set === undefined) {
      set = { 'concord.node': this.node, 'concord.operation': operation };
      if (code !== undefined) set['error.type'] = code;
      if (this.byCluster) set['concord.cluster'] = cluster;
      this.attributeSets.set(key, set);
    }
    return set;
  }
}

/** The span as a W3C traceparent when it is sampled (an unsampled or no-op span is not worth the bytes on the wire). */
export function sampledTraceparent(span: Span | undefined): string | undefined {
  if (span === undefined) return undefined;
  const c = span.spanContext();
  if ((c.traceFlags & TraceFlags.SAMPLED) === 0) return undefined;
  return `00-${c.traceId}-${c.spanId}-01`;
}

/** A server span for each traced request a System serves, a child of the caller's span. */
export class ServeTelemetry implements ServeProbe {
  constructor(
    private readonly tracer: Tracer,
    /** `concord.node`: the serving System's id. */
    private readonly node: string,
  ) {}

  begin(cluster: string, body: Request, traceparent: string): ServeEnd {
    // The traceparent was checked on arrival (wire_decode's isTraceparent): 00-<trace>-<span>-<flags>.
    const parent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: traceparent.slice(3, 35),
      spanId: traceparent.slice(36, 52),
      traceFlags: Number.parseInt(traceparent.slice(53, 55), 16),
      isRemote: true,
    });
    const operation = operationOf(body);
    const span = this.tracer.startSpan(
      `concord ${operation}`,
      { kind: SpanKind.SERVER, attributes: { 'concord.node': this.node, 'concord.cluster': cluster, 'concord.operation': operation } },
      parent,
    );
    return (response: Response | undefined) => {
      if (response === undefined) {
        span.setAttribute('error.type', 'unanswered');
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'no answer was sent' });
      } else if (!response.ok) {
        span.setAttribute('error.type', response.error.code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: response.error.message });
      }
      span.end();
    };
  }
}
