// Load shapes shared by the benchmarks: many commands in flight, or one at a
// time, through any Caller (a System in process, or a Client over NATS).
import type { Caller } from '../../src/api/caller.js';

/**
 * Keeps `inFlight` commands in flight per caller until `total` are
 * acknowledged; returns ops/s. `command(i)` names the cluster and the body.
 */
export async function pipelined(
  callers: readonly Caller[],
  inFlight: number,
  total: number,
  command: (i: number) => { cluster: string; body: unknown },
  progress: (done: number) => void = () => {},
): Promise<number> {
  let next = 0;
  let done = 0;
  const start = performance.now();
  await new Promise<void>((resolve, reject) => {
    // One completion function per caller, not a closure per command: the generator's own
    // allocations are counted in the same CPU budget as Concord's.
    const launcher = (c: Caller): (() => void) => {
      const launch = (): void => {
        const { cluster, body } = command(next++);
        c.processCommand(cluster, body).then(completed, reject);
      };
      const completed = (): void => {
        done++;
        if (done % 2000 === 0) progress(done);
        if (done === total) resolve();
        else if (next < total) launch();
      };
      return launch;
    };
    for (const c of callers) {
      const launch = launcher(c);
      for (let k = 0; k < inFlight && next < total; k++) launch();
    }
  });
  return total / ((performance.now() - start) / 1000);
}

/** Runs `op(i)` for i = 0 .. total-1, one at a time; returns each one's time in ms. */
export async function timeEach(total: number, op: (i: number) => Promise<unknown>): Promise<Float64Array> {
  const samples = new Float64Array(total);
  for (let i = 0; i < total; i++) {
    const t = performance.now();
    await op(i);
    samples[i] = performance.now() - t;
  }
  return samples;
}

/** Sends `total` commands one at a time; returns each one's latency in ms. */
export function sequential(caller: Caller, total: number, command: (i: number) => { cluster: string; body: unknown }): Promise<Float64Array> {
  return timeEach(total, (i) => {
    const { cluster, body } = command(i);
    return caller.processCommand(cluster, body);
  });
}

/** What an open-loop run measured. */
export interface PacedRun {
  /** Each command's latency in ms, from its send to its reply. */
  readonly samples: Float64Array;
  /** Replies per second over the run. */
  readonly opsPerSec: number;
  /** How far the sender fell behind its schedule at worst, in ms (a large lag means the rate was not offered). */
  readonly maxLagMs: number;
}

/**
 * Offers `rate` commands a second for `total` commands, open loop: sends do
 * not wait for replies, so a slow reply cannot hold back the next command
 * (no coordinated omission). The sender wakes about every millisecond and
 * sends what its schedule says is due; latency runs from each send.
 */
export function paced(caller: Caller, rate: number, total: number, command: (i: number) => { cluster: string; body: unknown }): Promise<PacedRun> {
  const samples = new Float64Array(total);
  const start = performance.now();
  let sent = 0;
  let done = 0;
  let maxLagMs = 0;
  return new Promise((resolve, reject) => {
    const finish = (): void => resolve({ samples, opsPerSec: total / ((performance.now() - start) / 1000), maxLagMs });
    const sendDue = (): void => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - start) * rate) / 1000) + 1);
      if (due > sent) maxLagMs = Math.max(maxLagMs, now - (start + (sent * 1000) / rate)); // the earliest of those due
      for (; sent < due; sent++) {
        const i = sent;
        const { cluster, body } = command(i);
        const t = performance.now();
        caller.processCommand(cluster, body).then(() => {
          samples[i] = performance.now() - t;
          if (++done === total) finish();
        }, reject);
      }
      if (sent < total) setTimeout(sendDue, Math.max(0, start + (sent * 1000) / rate - performance.now()));
    };
    sendDue();
  });
}
