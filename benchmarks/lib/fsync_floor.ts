// The other floor under a command: the time a WAL write takes to become
// durable when the three members sync at once, as they do in the benchmarks
// (three processes, one disk). Three child processes each write 400 bytes
// into a preallocated file and fdatasync it, in a loop, at the same time; no
// Raft, no NATS. A command waits for at least one such sync on a follower
// after the leader's own has started.
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, fdatasyncSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { quantiles, type Quantiles } from './report.js';
import { firstMessage } from './child.js';

/** fdatasync times in ms (p50, p99) with `writers` processes syncing at once, `count` syncs each. */
export async function concurrentSync(writers = 3, count = 2000): Promise<Quantiles> {
  const dir = mkdtempSync(join(tmpdir(), 'concord-fsync-'));
  const children = Array.from({ length: writers }, (_, i) => fork(fileURLToPath(import.meta.url), ['sync', join(dir, `w${i}`), String(count)], { stdio: 'inherit' }));
  try {
    // 'close', not 'exit': a child's last message may still be on its way when it exits.
    const reply = (child: ChildProcess): Promise<unknown> => firstMessage(child, 'sync writer', 'close');
    await Promise.all(children.map(reply)); // every file allocated: start together
    const runs = children.map((child) => reply(child) as Promise<number[]>);
    for (const child of children) child.send('go');
    const samples = Float64Array.from((await Promise.all(runs)).flat());
    return quantiles(samples);
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill(); // a writer left waiting when another failed
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The writer side, run as a child process: allocates its file, waits for the start, sends back each write-and-sync time in ms. */
function syncMain(path: string, count: number): void {
  const fd = openSync(path, 'w+');
  const record = new Uint8Array(400).fill(7);
  const zeros = new Uint8Array(record.length * count);
  writeSync(fd, zeros, 0, zeros.length, 0); // allocated first, as the WAL preallocates its files
  fsyncSync(fd);
  process.once('message', () => run(fd, record, count));
  process.send?.('ready');
}

/** Writes and syncs `count` records one after another, then reports their times. */
function run(fd: number, record: Uint8Array, count: number): void {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    writeSync(fd, record, 0, record.length, i * record.length);
    fdatasyncSync(fd);
    times.push(performance.now() - t);
  }
  closeSync(fd);
  process.send?.(times, () => process.exit(0));
}

if (process.argv[2] === 'sync' && process.argv[3] !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) {
  syncMain(process.argv[3], Number(process.argv[4]));
}
