// Peers measured in the same run (machines are noisy: compare as a ratio).
// The scripts live in ../shared/peers (its setup.sh installs the systems):
// RabbitMQ's ra (Erlang Raft), NATS JetStream KV with 3 replicas (which does
// not fsync each write) and etcd with 3 members. BENCH_PEERS names the ones
// to run (`ra,nats-kv,etcd`, the default when present), or `0` for none.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A peer's figures on the benchmarks' workload (3 members, 256-byte writes). */
export interface PeerFigures {
  /** Pipelined writes per second (the best of the in-flight depths the script tries). */
  readonly opsPerSec: number;
  /** One write at a time. */
  readonly p50Ms: number;
  readonly p99Ms: number;
}

const peersDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared/peers');
/** Where setup.sh puts the peers' npm clients. */
const clientsDir = process.env['CONCORD_PEERS_HOME'] ?? join(homedir(), '.cache', 'concord-peers');

function wanted(name: string): boolean {
  const v = process.env['BENCH_PEERS'];
  if (v === '0') return false;
  return v === undefined || v === '' || v.split(',').includes(name);
}

/** Runs of a peer's script, at most, until one prints its figures. */
const peerAttempts = 3;

/**
 * Runs `script` from ../shared/peers and parses its output, or resolves
 * undefined. Its exit status is not trusted either way: a script can fail in
 * its clean-up (nats-kv-bench.sh kills servers that have already exited)
 * after printing every figure, and `parse` takes only complete lines. A run
 * that printed no figures is tried again, up to peerAttempts runs: the NATS
 * KV script gives its three servers a fixed 6 s to form a JetStream cluster,
 * and on a busy machine the bucket's creation can still find a peer offline.
 */
async function runPeer(name: string, script: string, needs: () => boolean, parse: (stdout: string) => PeerFigures | undefined): Promise<PeerFigures | undefined> {
  const path = join(peersDir, script);
  if (!wanted(name) || !existsSync(path) || !needs()) return undefined;
  for (let attempt = 1; attempt <= peerAttempts; attempt++) {
    const stdout = await new Promise<string>((done) => execFile('bash', [path], { timeout: 240_000 }, (_err, out) => done(out)));
    const figures = parse(stdout);
    if (figures !== undefined) return figures;
    process.stderr.write(`peer ${name}: no figures from run ${attempt} of ${peerAttempts}\n`);
  }
  return undefined;
}

/** The best pipelined rate among lines `<prefix> (inflight N): R ops/s`. */
function bestRate(stdout: string, prefix: string): number | undefined {
  const rates = [...stdout.matchAll(new RegExp(`${prefix} \\(inflight \\d+\\): (\\d+) ops/s`, 'g'))].map((m) => Number(m[1]));
  return rates.length === 0 ? undefined : Math.max(...rates);
}

/** Parses `<prefix>: N ops/s p50 Xus p99 Yus` plus the pipelined lines. */
function nodeScriptFigures(stdout: string, seq: string, pipelined: string): PeerFigures | undefined {
  const lat = new RegExp(`${seq}: \\d+ ops/s p50 (\\d+)us p99 (\\d+)us`).exec(stdout);
  const ops = bestRate(stdout, pipelined);
  if (lat === null || ops === undefined) return undefined;
  return { opsPerSec: ops, p50Ms: Number(lat[1]) / 1000, p99Ms: Number(lat[2]) / 1000 };
}

const hasClients = (): boolean => existsSync(join(clientsDir, 'node_modules'));

/** RabbitMQ's ra, when Erlang and rabbitmq-server are installed. */
function raFigures(): Promise<PeerFigures | undefined> {
  return runPeer('ra', 'ra-bench.sh', () => true, (stdout) => {
    const ops = /ra pipelined: rate ([\d.]+) ops\/sec/.exec(stdout);
    const lat = /ra sequential: \d+ ops\/s p50 (\d+) us p99 (\d+) us/.exec(stdout);
    if (ops === null || lat === null) return undefined;
    return { opsPerSec: Math.round(Number(ops[1])), p50Ms: Number(lat[1]) / 1000, p99Ms: Number(lat[2]) / 1000 };
  });
}

/** NATS JetStream KV, 3 replicas on 3 clustered nats-servers (no fsync per write). */
function natsKvFigures(): Promise<PeerFigures | undefined> {
  return runPeer('nats-kv', 'nats-kv-bench.sh', hasClients, (stdout) => nodeScriptFigures(stdout, 'nats kv R3 seq put', 'nats kv R3 pipelined put'));
}

/** etcd with 3 members (fsync on), through the etcd3 Node client. */
function etcdFigures(): Promise<PeerFigures | undefined> {
  return runPeer('etcd', 'etcd-bench.sh', hasClients, (stdout) => nodeScriptFigures(stdout, 'etcd seq put', 'etcd pipelined put'));
}

/** Every peer that is present, one after the other (each alone on the machine). */
export async function allPeers(): Promise<{ ra?: PeerFigures; natsKv?: PeerFigures; etcd?: PeerFigures }> {
  const ra = await raFigures();
  const natsKv = await natsKvFigures();
  const etcd = await etcdFigures();
  return { ...(ra === undefined ? {} : { ra }), ...(natsKv === undefined ? {} : { natsKv }), ...(etcd === undefined ? {} : { etcd }) };
}
