// An OpenTelemetry SDK pipeline for tests: metrics collected on demand, spans
// kept in memory, and look-ups of data points by name and attributes.
import { expect } from 'vitest';
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Attributes } from '@opentelemetry/api';

/** Collects on demand. */
class TestReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

/** A telemetry pipeline: a reader to collect metrics, an exporter holding finished spans. */
export function pipeline() {
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  return {
    meterProvider,
    tracerProvider,
    spans,
    /** Every data point of `metric` whose attributes include `match`. */
    async points(metric: string, match: Attributes = {}): Promise<DataPoint<unknown>[]> {
      const { resourceMetrics, errors } = await reader.collect();
      expect(errors).toEqual([]);
      const found = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).filter((m) => m.descriptor.name === metric);
      return found
        .flatMap((m) => m.dataPoints as DataPoint<unknown>[])
        .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v));
    },
    /** The sum of `metric`'s values over the points matching `match` (counters and gauges). */
    async value(metric: string, match: Attributes = {}): Promise<number> {
      return (await this.points(metric, match)).reduce((sum, p) => sum + (p.value as number), 0);
    },
    /** The count of recordings of a histogram over the points matching `match`. */
    async count(metric: string, match: Attributes = {}): Promise<number> {
      return (await this.points(metric, match)).reduce((sum, p) => sum + (p.value as Histogram).count, 0);
    },
  };
}

