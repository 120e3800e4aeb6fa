// Peers measured in the same run (machines are noisy: compare as a ratio).
// RabbitMQ's ra runs from ../shared/peers/ra-bench.sh when Erlang and
// rabbitmq-server are installed; BENCH_PEERS=0 skips it.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What ra-bench.sh prints. */
export interface RaFigures {
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

const script = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared/peers/ra-bench.sh');

/** Runs the ra peer benchmark, or resolves undefined when it is not available. */
export function raFigures(): Promise<RaFigures | undefined> {
  if (process.env['BENCH_PEERS'] === '0' || !existsSync(script)) return Promise.resolve(undefined);
  return new Promise((done) => {
    execFile('bash', [script], { timeout: 180_000 }, (err, stdout) => {
      const ops = /ra pipelined: rate ([\d.]+) ops\/sec/.exec(stdout);
      const lat = /ra sequential: \d+ ops\/s p50 (\d+) us p99 (\d+) us/.exec(stdout);
      if (err !== null || ops === null || lat === null) return done(undefined);
      done({ opsPerSec: Math.round(Number(ops[1])), p50Ms: Number(lat[1]) / 1000, p99Ms: Number(lat[2]) / 1000 });
    });
  });
}
