// The floor a request over NATS cannot go below: a bare round trip between
// two Node processes through nats-server (publish, the other side publishes
// the same bytes back), with no Raft, no disk and no decoding. A Concord
// command takes two such round trips (client to leader and back, leader to
// followers and back), so twice this is what latency is compared with.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { quantile } from './report.js';

/** Round-trip times in ms (p50, p99) of `count` sequential 300-byte messages, after `warmup` more. */
export async function natsRoundTrip(url: string, count = 10_000, warmup = 3000): Promise<{ p50Ms: number; p99Ms: number }> {
  const echo = fork(fileURLToPath(import.meta.url), ['echo', url], { stdio: 'inherit' });
  try {
    await new Promise((ready, fail) => {
      echo.once('message', ready);
      echo.once('exit', (code) => fail(new Error(`echo process exited with ${String(code)}`)));
    });
    const nc = await connect({ servers: url, noAsyncTraces: true });
    try {
      let answered: () => void = () => {};
      nc.subscribe('floor.back', { callback: () => answered() });
      await nc.flush();
      const samples = new Float64Array(count);
      for (let i = -warmup; i < count; i++) {
        const t = performance.now();
        await new Promise<void>((r) => {
          answered = r;
          nc.publish('floor.echo', new Uint8Array(300));
        });
        if (i >= 0) samples[i] = performance.now() - t;
      }
      return { p50Ms: quantile(samples, 0.5), p99Ms: quantile(samples, 0.99) };
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
