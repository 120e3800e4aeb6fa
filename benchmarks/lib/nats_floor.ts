// The floor a request over NATS cannot go below: a bare round trip between
// two Node processes through nats-server (publish, the other side publishes
// the same bytes back), with no Raft, no disk and no decoding. A Concord
// command takes two such round trips (client to leader and back, leader to
// followers and back), so twice this is what latency is compared with.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { quantiles, type Quantiles } from './report.js';
import { timeEach } from './drive.js';
import { firstMessage } from './child.js';
import { cpuPerOp } from './proc_cpu.js';

/** What a bare round trip costs: its times, and the CPU it takes (us per round trip, from /proc). */
export interface RoundTripFloor extends Quantiles {
  /** The echoing process (one message in, one out), nats-server (when its pid is given; two messages relayed) and this process. */
  cpuUs: { echo: number; server: number | undefined; caller: number };
}

/**
 * Round-trip times in ms (p50, p99) of `count` sequential 300-byte messages,
 * after `warmup` more, and the CPU each process spent on them.
 */
export async function natsRoundTrip(url: string, serverPid?: number, count = 10_000, warmup = 3000): Promise<RoundTripFloor> {
  const echo = fork(fileURLToPath(import.meta.url), ['echo', url], { stdio: 'inherit' });
  try {
    await firstMessage(echo, 'echo process');
    const nc = await connect({ servers: url, noAsyncTraces: true });
    try {
      let answered: () => void = () => {};
      nc.subscribe('floor.back', { callback: () => answered() });
      await nc.flush();
      const roundTrip = () =>
        new Promise<void>((r) => {
          answered = r;
          nc.publish('floor.echo', new Uint8Array(300));
        });
      await timeEach(warmup, roundTrip);
      let samples: Float64Array = new Float64Array(0);
      const pids = [echo.pid as number, process.pid, ...(serverPid === undefined ? [] : [serverPid])];
      const [echoCpu, callerCpu, serverCpu] = await cpuPerOp(pids, count, async () => {
        samples = await timeEach(count, roundTrip);
      });
      return { ...quantiles(samples), cpuUs: { echo: echoCpu as number, server: serverCpu, caller: callerCpu as number } };
    } finally {
      await nc.close();
    }
  } finally {
    echo.kill();
  }
}

/** The echo side, run as a child process: sends every message back. */
async function echoMain(url: string): Promise<void> {
  const nc = await connect({ servers: url, noAsyncTraces: true });
  nc.subscribe('floor.echo', {
    callback: (_err, msg) => {
      try {
        nc.publish('floor.back', msg.data.slice());
      } catch {
        // a closed connection at the end of the run: nothing to send back to
      }
    },
  });
  await nc.flush();
  process.send?.('ready');
}

if (process.argv[2] === 'echo' && process.argv[3] !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) {
  echoMain(process.argv[3]).catch((e: unknown) => {
    process.stderr.write(`echo failed: ${String(e)}\n`);
    process.exit(1);
  });
}
