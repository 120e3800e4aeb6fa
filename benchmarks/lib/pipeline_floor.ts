// The floor of the whole replication path over NATS, with no Raft in it: a
// client and three member processes pass raw bytes along the path a command
// takes (client -> leader -> both followers -> leader -> client), and every
// member writes the command into a preallocated file and fdatasyncs it. The
// leader answers once two of the three copies are durable, as a commit needs.
// Nothing is decoded, no state is kept, and each step is done as early as it
// can be: the leader publishes to the followers before its own write, and the
// followers sync on their main thread, where nothing else waits. Any design
// that sends Raft traffic through a broker and syncs on every member pays at
// least this per command; the latency benchmark measures it in the same run.
import { fork } from 'node:child_process';
import { closeSync, fdatasync, fdatasyncSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { quantiles, type Quantiles } from './report.js';
import { timeEach } from './drive.js';
import { firstMessage } from './child.js';

/** Bytes per command on the wire and on disk: a 256-byte command and its framing. */
const commandBytes = 300;
/** Commands a member's file holds before its writes wrap around to the start. */
const fileSlots = 4096;

/** Times in ms (p50, p99) of `count` commands one at a time through the skeleton, after `warmup` more. */
export async function pipelineFloor(url: string, count = 5000, warmup = 2000): Promise<Quantiles> {
  const dir = mkdtempSync(join(tmpdir(), 'concord-pipeline-'));
  const prefix = `pipeline${process.pid}`;
  const roles = ['leader', 'follower', 'follower'];
  const children = roles.map((role, i) => fork(fileURLToPath(import.meta.url), ['pipeline', role, url, prefix, join(dir, `m${i}`)], { stdio: 'inherit' }));
  let nc: NatsConnection | undefined;
  try {
    await Promise.all(children.map((child) => firstMessage(child, 'pipeline member')));
    nc = await connect({ servers: url, noAsyncTraces: true });
    const conn = nc;
    let answered: () => void = () => {};
    // A member that dies mid-run fails the command waiting for it rather than leaving it waiting for ever.
    let died: (e: Error) => void = () => {};
    for (const child of children) child.once('exit', (code, signal) => died(new Error(`pipeline member exited (${String(code ?? signal)})`)));
    conn.subscribe(`${prefix}.reply`, { callback: () => answered() });
    await conn.flush();
    let seq = 0;
    const command = () =>
      new Promise<void>((done, fail) => {
        answered = done;
        died = fail;
        const bytes = new Uint8Array(commandBytes);
        new DataView(bytes.buffer).setUint32(0, ++seq);
        conn.publish(`${prefix}.command`, bytes);
      });
    await timeEach(warmup, command);
    return quantiles(await timeEach(count, command));
  } finally {
    await nc?.close();
    for (const child of children) child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The sequence number a command's first four bytes carry. */
function seqOf(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
}

/** A member's file, allocated (zero-filled and synced) before the first command, as the WAL's are. */
function allocatedFile(path: string): number {
  const fd = openSync(path, 'w+');
  writeSync(fd, new Uint8Array(commandBytes * fileSlots), 0, commandBytes * fileSlots, 0);
  fsyncSync(fd);
  return fd;
}

/** Where command `seq` is written in a member's file. */
function position(seq: number): number {
  return (seq % fileSlots) * commandBytes;
}

/** A member process: the leader or a follower of the skeleton. */
async function memberMain(role: string, url: string, prefix: string, path: string): Promise<void> {
  const fd = allocatedFile(path);
  const nc = await connect({ servers: url, noAsyncTraces: true });
  // Errors are caught in every callback: one thrown in a subscription callback stops delivery.
  const guard = (f: (data: Uint8Array) => void) => (_err: unknown, msg: { data: Uint8Array }) => {
    try {
      f(msg.data);
    } catch (e) {
      process.stderr.write(`pipeline ${role}: ${String(e)}\n`);
    }
  };
  if (role === 'leader') {
    let current = 0;
    let durable = 0;
    const copyDurable = (seq: number): void => {
      if (seq === current && ++durable === 2) nc.publish(`${prefix}.reply`, new Uint8Array(8));
    };
    nc.subscribe(`${prefix}.command`, {
      callback: guard((data) => {
        const seq = seqOf(data);
        const bytes = data.slice(); // the received bytes are a view into the socket's buffer
        current = seq;
        durable = 0;
        nc.publish(`${prefix}.append`, bytes);
        writeSync(fd, bytes, 0, bytes.length, position(seq));
        fdatasync(fd, (err) => {
          if (err === null) copyDurable(seq);
        });
      }),
    });
    nc.subscribe(`${prefix}.ack`, { callback: guard((data) => copyDurable(seqOf(data))) });
  } else {
    nc.subscribe(`${prefix}.append`, {
      callback: guard((data) => {
        const seq = seqOf(data);
        writeSync(fd, data, 0, data.length, position(seq));
        fdatasyncSync(fd);
        const ack = new Uint8Array(8);
        new DataView(ack.buffer).setUint32(0, seq);
        nc.publish(`${prefix}.ack`, ack);
      }),
    });
  }
  await nc.flush();
  process.once('disconnect', () => {
    void nc.close().finally(() => {
      closeSync(fd);
      process.exit(0);
    });
  });
  process.send?.('ready');
}

if (process.argv[2] === 'pipeline' && process.argv[1] === fileURLToPath(import.meta.url)) {
  const [role, url, prefix, path] = process.argv.slice(3) as [string, string, string, string];
  memberMain(role, url, prefix, path).catch((e: unknown) => {
    process.stderr.write(`pipeline member failed: ${String(e)}\n`);
    process.exit(1);
  });
}
