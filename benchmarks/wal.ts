// `npm run bench -- wal`: WAL throughput with 1, 10, 100 and 1,000 logs
// writing 256-byte entries concurrently (each keeps a bounded number in flight,
// as a Raft leader does), then recovery of 1,000,000 entries. Real files, real fsync.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Actor } from '../src/actors/actor.js';
import { ActorSystem } from '../src/actors/actor_system.js';
import { startSupervisor } from '../src/actors/supervisor.js';
import { RealClock } from '../src/io/clock.js';
import { RealDisk } from '../src/io/real_disk.js';
import { silentLogger } from '../src/lib/logger.js';
import type { LogEntry, LogEvent } from '../src/log/events.js';
import type { GroupLog } from '../src/log/group_log.js';
import { LogSystem } from '../src/log/log_system.js';
import { Progress, median, printTable, writeResult } from './lib/report.js';

const config = {
  groupCounts: [1, 10, 100, 1000],
  entryBytes: 256,
  /** Entries in flight across all logs; each log keeps max(4, total / logs). */
  inflightTotal: 8192,
  warmupMs: 500,
  measureMs: 3000,
  runs: 3,
  recoveryEntries: 1_000_000,
  recoveryGroups: 100,
  syncMethod: 'datasync' as const,
};

interface Counter {
  written: number;
  stop: boolean;
  /** Logs that reached `target` (recovery fill). */
  done: number;
}

interface GroupArgs {
  ls: LogSystem;
  logId: string;
  inflight: number;
  payload: Uint8Array;
  counter: Counter;
  /** Stop appending at this index (Infinity: until counter.stop). */
  target: number;
}

/** Plays a Raft leader: keeps `inflight` entries appended but not yet durable, appends more as they become durable. */
class Writer extends Actor<LogEvent | { type: 'go' }, GroupArgs> {
  private a!: GroupArgs;
  private log!: GroupLog;
  private written = 0;
  private paused = false;

  override init(args: GroupArgs): void {
    this.a = args;
    this.log = args.ls.openLog(args.logId, this.self);
    this.written = this.log.writtenIndex;
  }

  handle(msg: LogEvent | { type: 'go' }): void {
    if (msg.type === 'go') return this.fill();
    const change = this.log.handle(msg);
    if (change === undefined) return;
    if (change.type === 'written') {
      this.a.counter.written += change.index - this.written;
      this.written = change.index;
      if (this.written >= this.a.target) this.a.counter.done++;
    } else if (change.type === 'wal_overloaded') this.paused = true;
    else if (change.type === 'wal_resumed') this.paused = false;
    this.fill();
  }

  private fill(): void {
    if (this.a.counter.stop || this.paused) return;
    const log = this.log;
    const n = Math.min(this.a.inflight - (log.lastIndex - log.writtenIndex), this.a.target - log.lastIndex);
    if (n <= 0) return;
    const entries: LogEntry[] = new Array<LogEntry>(n);
    const first = log.lastIndex + 1;
    for (let i = 0; i < n; i++) entries[i] = { index: first + i, term: 1, payload: this.a.payload };
    if (log.append(entries) === 'overloaded') this.paused = true;
  }
}

function startNode(dataDir: string, walFileBytesMax?: number) {
  const clock = new RealClock();
  const system = new ActorSystem({ clock, logger: silentLogger });
  const ls = new LogSystem({
    dataDir,
    disk: new RealDisk(),
    clock,
    logger: silentLogger,
    walSyncMethod: config.syncMethod,
    ...(walFileBytesMax === undefined ? {} : { walFileBytesMax, memTablesBytesMax: 2 * walFileBytesMax }),
  });
  startSupervisor(system, { strategy: 'one_for_one', children: [ls.childSpec()] });
  return { system, ls };
}

function payload(): Uint8Array {
  const p = new Uint8Array(config.entryBytes);
  for (let i = 0; i < p.length; i++) p[i] = (i * 131 + 7) & 0xff;
  return p;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface ThroughputResult {
  entriesPerSec: number;
  syncsPerSec: number;
  meanBatchEntries: number;
  meanBatchEntriesPerLog: number;
}

async function throughputRun(dir: string, groups: number): Promise<ThroughputResult> {
  const { system, ls } = startNode(dir);
  const counter: Counter = { written: 0, stop: false, done: 0 };
  const inflight = Math.max(4, Math.floor(config.inflightTotal / groups));
  const p = payload();
  const refs = [];
  for (let g = 0; g < groups; g++) {
    refs.push(system.spawn(Writer, { ls, logId: `bench${g}/n1`, inflight, payload: p, counter, target: Infinity }));
  }
  for (const r of refs) system.send(r, { type: 'go' });
  await sleep(config.warmupMs);
  const w0 = counter.written;
  const s0 = { ...ls.walStats };
  const t0 = performance.now();
  await sleep(config.measureMs);
  const seconds = (performance.now() - t0) / 1000;
  const entries = counter.written - w0;
  const s1 = { ...ls.walStats };
  counter.stop = true;
  await system.shutdown();
  const batches = Math.max(1, s1.batches - s0.batches);
  const batchEntries = (s1.entries - s0.entries) / batches;
  return {
    entriesPerSec: entries / seconds,
    syncsPerSec: (s1.syncs - s0.syncs) / seconds,
    meanBatchEntries: batchEntries,
    meanBatchEntriesPerLog: batchEntries / groups,
  };
}

/**
 * Writes `recoveryEntries` entries over `recoveryGroups` logs, stops the node,
 * then times a restart that opens every log. With `walFileBytesMax` large, every
 * entry is still in the WAL and the restart replays all of it.
 */
async function recoveryRun(dir: string, walFileBytesMax?: number): Promise<{ seconds: number; walFiles: number; lastIndexes: number }> {
  const { system, ls } = startNode(dir, walFileBytesMax);
  const counter: Counter = { written: 0, stop: false, done: 0 };
  const per = Math.ceil(config.recoveryEntries / config.recoveryGroups);
  const p = payload();
  const ids: string[] = [];
  for (let g = 0; g < config.recoveryGroups; g++) {
    const logId = `rec${g}/n1`;
    ids.push(logId);
    const r = system.spawn(Writer, { ls, logId, inflight: 256, payload: p, counter, target: per });
    system.send(r, { type: 'go' });
  }
  while (counter.done < config.recoveryGroups) await sleep(20);
  await system.shutdown();
  const t0 = performance.now();
  const node = startNode(dir, walFileBytesMax);
  let total = 0;
  const owner = node.system.spawn(Idle, undefined);
  for (const id of ids) total += node.ls.openLog(id, owner).lastIndex;
  const seconds = (performance.now() - t0) / 1000;
  const walFiles = node.ls.stats().walFilesPending;
  await node.system.shutdown();
  if (total !== per * config.recoveryGroups) throw new Error(`recovered ${total} entries, expected ${per * config.recoveryGroups}`);
  return { seconds, walFiles, lastIndexes: total };
}

class Idle extends Actor<LogEvent> {
  handle(): void {}
}

/** Runs the benchmark and writes benchmarks/results/wal.json. */
export async function run(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'concord-wal-bench-'));
  try {
    const progress = new Progress('wal', config.groupCounts.length * config.runs + 2);
    const table: Record<string, string | number>[] = [];
    const byGroups: Record<string, ThroughputResult> = {};
    let step = 0;
    for (const groups of config.groupCounts) {
      const runs: ThroughputResult[] = [];
      for (let r = 0; r < config.runs; r++) {
        runs.push(await throughputRun(join(root, `t${groups}-${r}`), groups));
        progress.update(++step);
      }
      const m: ThroughputResult = {
        entriesPerSec: Math.round(median(runs.map((x) => x.entriesPerSec))),
        syncsPerSec: Math.round(median(runs.map((x) => x.syncsPerSec))),
        meanBatchEntries: Math.round(median(runs.map((x) => x.meanBatchEntries)) * 10) / 10,
        meanBatchEntriesPerLog: Math.round(median(runs.map((x) => x.meanBatchEntriesPerLog)) * 100) / 100,
      };
      byGroups[String(groups)] = m;
      table.push({ logs: groups, 'entries/s': m.entriesPerSec, 'syncs/s': m.syncsPerSec, 'entries/batch': m.meanBatchEntries, 'entries/batch/log': m.meanBatchEntriesPerLog });
    }
    const recovery = await recoveryRun(join(root, 'recovery'));
    progress.update(++step);
    const replay = await recoveryRun(join(root, 'recovery-wal'), 1024 * 1024 * 1024);
    progress.update(++step);
    progress.done();
    printTable(`wal: ${config.entryBytes}-byte entries, sync ${config.syncMethod} (median of ${config.runs} runs of ${config.measureMs} ms)`, table);
    printTable('wal recovery', [
      { measure: `restart + open ${config.recoveryGroups} logs holding ${config.recoveryEntries.toLocaleString('en-US')} entries (s)`, value: recovery.seconds, target: '<= 5' },
      { measure: 'WAL files replayed', value: recovery.walFiles, target: '-' },
      { measure: 'the same with all 1M entries still in the WAL (s)', value: replay.seconds, target: '<= 5' },
    ]);
    const hundred = byGroups['100'] as ThroughputResult;
    writeResult('wal', config, {
      entriesPerSec: hundred.entriesPerSec,
      syncsPerSec: hundred.syncsPerSec,
      recovery1MSeconds: Math.round(recovery.seconds * 1000) / 1000,
      recoveryWalFiles: recovery.walFiles,
      recovery1MAllInWalSeconds: Math.round(replay.seconds * 1000) / 1000,
      byLogs: byGroups,
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
