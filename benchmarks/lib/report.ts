// Shared benchmark plumbing: a progress bar on the terminal, medians, a
// printed table, and the JSON result file in benchmarks/results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where result files go: <repo>/benchmarks/results (this file runs from dist/benchmarks/lib). */
export const resultsDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../../benchmarks/results');

/** A progress bar on stderr when it is a terminal; otherwise one line per 10%. */
export class Progress {
  private lastDecile = -1;
  private readonly tty = process.stderr.isTTY === true;

  constructor(
    private readonly label: string,
    private readonly total: number,
  ) {}

  /** Shows `done` out of `total`. */
  update(done: number): void {
    const fraction = Math.min(1, this.total === 0 ? 1 : done / this.total);
    if (this.tty) {
      const width = 30;
      const filled = Math.round(fraction * width);
      process.stderr.write(`\r${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%`);
      return;
    }
    const decile = Math.floor(fraction * 10);
    if (decile !== this.lastDecile) {
      this.lastDecile = decile;
      process.stderr.write(`${this.label} ${decile * 10}%\n`);
    }
  }

  /** Ends the bar. */
  done(): void {
    this.update(this.total);
    if (this.tty) process.stderr.write('\n');
  }
}

/** The median of a non-empty list. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The median and the 99th percentile of a run's times, in ms. */
export interface Quantiles {
  p50Ms: number;
  p99Ms: number;
}

/** p50 and p99 of samples in ms. */
export function quantiles(samples: Float64Array | number[]): Quantiles {
  return { p50Ms: quantile(samples, 0.5), p99Ms: quantile(samples, 0.99) };
}

/** The q-quantile (0..1) of a list of samples. */
export function quantile(values: Float64Array | number[], q: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}

/** Prints rows as an aligned table. */
export function printTable(title: string, rows: Record<string, string | number>[]): void {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0] as Record<string, unknown>);
  const cell = (v: unknown) => (typeof v === 'number' ? formatNumber(v) : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padStart(widths[i] as number)).join('  ');
  process.stdout.write(`\n${title}\n${line(columns)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const r of rows) process.stdout.write(`${line(columns.map((c) => cell(r[c])))}\n`);
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(3);
}

/** Writes benchmarks/results/<name>.json and returns its path. */
export function writeResult(name: string, config: Record<string, unknown>, results: Record<string, unknown>): string {
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${name}.json`);
  const body = { benchmark: name, date: new Date().toISOString(), node: process.version, config, results };
  writeFileSync(file, JSON.stringify(body, null, 2) + '\n');
  process.stdout.write(`\nwrote ${file}\n`);
  return file;
}
