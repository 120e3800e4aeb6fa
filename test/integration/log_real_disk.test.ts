// The log layer on real files: write with fdatasync, stop, reopen, read back;
// ENOSPC and EIO (injected by a decorator around RealDisk, since a real disk
// cannot be made to fail on demand) give typed errors and leave the log readable.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Actor } from '../../src/actors/actor.js';
import { ActorSystem } from '../../src/actors/actor_system.js';
import { startSupervisor } from '../../src/actors/supervisor.js';
import { RealClock } from '../../src/io/clock.js';
import { RealDisk } from '../../src/io/real_disk.js';
import { DiskError, type Disk, type DiskCallback, type DiskOp, type FileHandle, type OpenMode, type SyncMethod } from '../../src/io/disk.js';
import { memoryLogger } from '../../src/lib/logger.js';
import { isLogEvent, type LogChange, type LogEntry, type LogEvent } from '../../src/log/events.js';
import type { GroupLog } from '../../src/log/group_log.js';
import { LogSystem } from '../../src/log/log_system.js';
import type { MetaStored } from '../../src/log/meta_store.js';

/** RealDisk with injected failures: the next calls of an operation fail with an errno until cleared. */
class FaultyDisk extends RealDisk implements Disk {
  private readonly faults = new Map<DiskOp, string>();
  fail(op: DiskOp, errno: string): void {
    this.faults.set(op, errno);
  }
  clear(): void {
    this.faults.clear();
  }
  private fault(op: DiskOp, path: string): DiskError | undefined {
    const errno = this.faults.get(op);
    return errno === undefined ? undefined : new DiskError(errno, op, path);
  }
  override write(handle: FileHandle, data: Uint8Array, position: number, cb: DiskCallback): void {
    const f = this.fault('write', `fd ${handle}`);
    // A failing write may still have written part of the data, as ENOSPC can.
    if (f !== undefined) return super.write(handle, data.subarray(0, data.length >> 1), position, () => cb(f, undefined));
    super.write(handle, data, position, cb);
  }
  override sync(handle: FileHandle, method: SyncMethod, cb: DiskCallback, inline?: boolean): void {
    const f = this.fault('sync', `fd ${handle}`);
    if (f !== undefined) return queueMicrotask(() => cb(f, undefined));
    super.sync(handle, method, cb, inline);
  }
  override open(path: string, mode: OpenMode, cb: DiskCallback<FileHandle>): void {
    const f = this.fault('open', path);
    if (f !== undefined) return queueMicrotask(() => cb(f, -1));
    super.open(path, mode, cb);
  }
}

interface OwnerState {
  logs: Map<string, GroupLog>;
  changes: LogChange[];
  meta: MetaStored[];
}

class Owner extends Actor<LogEvent | MetaStored, OwnerState> {
  private s!: OwnerState;
  override init(s: OwnerState): void {
    this.s = s;
  }
  handle(msg: LogEvent | MetaStored): void {
    if (!isLogEvent(msg)) {
      this.s.meta.push(msg);
      return;
    }
    const c = this.s.logs.get(msg.logId)?.handle(msg);
    if (c !== undefined) this.s.changes.push(c);
  }
}

function node(dataDir: string, disk: Disk = new RealDisk(), walFileBytesMax = 256 * 1024) {
  const clock = new RealClock();
  const logger = memoryLogger();
  const system = new ActorSystem({ clock, logger });
  const ls = new LogSystem({ dataDir, disk, clock, logger, walSyncMethod: 'datasync', walFileBytesMax, walBatchBytesMax: 64 * 1024, walRetryMs: 20 });
  startSupervisor(system, { strategy: 'one_for_one', children: [ls.childSpec()] });
  const state: OwnerState = { logs: new Map(), changes: [], meta: [] };
  const owner = system.spawn(Owner, state);
  const open = (id: string): GroupLog => {
    const log = ls.openLog(id, owner);
    state.logs.set(id, log);
    return log;
  };
  return { system, ls, logger, state, owner, open };
}

async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const clock = new RealClock();
  const end = clock.now() + timeoutMs;
  while (!cond()) {
    if (clock.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function entries(logId: string, from: number, to: number, term: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, payload: new TextEncoder().encode(`${logId}:${i}:${term}:`.padEnd(100, '.')) });
  return out;
}

function text(e: LogEntry): string {
  return new TextDecoder().decode(e.payload);
}

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'concord-log-it-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('RealDisk', () => {
  it('syncs inline after the call returns, and reports a failed inline sync as a DiskError', async () => {
    const disk = new RealDisk();
    const path = join(dir, 'f');
    const fd = await new Promise<FileHandle>((resolve, reject) => disk.open(path, 'write', (e, h) => (e === null ? resolve(h) : reject(e))));
    await new Promise<void>((resolve, reject) => disk.write(fd, new Uint8Array(300).fill(1), 0, (e) => (e === null ? resolve() : reject(e))));
    for (const method of ['datasync', 'fsync'] as const) {
      let returned = false;
      const error = await new Promise<DiskError | null>((resolve) => {
        disk.sync(fd, method, (e) => resolve(returned ? e : new DiskError('EINVAL', 'sync', 'called back before returning')), true);
        returned = true;
      });
      expect(error).toBeNull();
    }
    await new Promise<void>((resolve) => disk.close(fd, () => resolve()));
    const failed = await new Promise<DiskError | null>((resolve) => disk.sync(fd, 'datasync', (e) => resolve(e), true));
    expect(failed).toBeInstanceOf(DiskError);
    expect(failed).toMatchObject({ errno: 'EBADF', op: 'sync' });
  });
});

describe('log on real files', () => {
  it('writes with fdatasync, reopens and reads back, across rollovers and segments', async () => {
    const a = node(dir);
    const logs = ['kv1/n1', 'kv2/n1', 'kv3/n1'].map((id) => a.open(id));
    for (let i = 1; i <= 3000; i += 100) for (const log of logs) log.append(entries(log.logId, i, i + 99, 1));
    logs[0]?.truncateAfter(2500);
    logs[0]?.append(entries('kv1/n1', 2501, 2600, 2));
    await until(() => logs.every((l) => l.writtenIndex === l.lastIndex), 'all entries durable');
    a.ls.metaStore().store('kv1/n1', 2, 'n3', a.owner, 'vote');
    let snap: DiskError | null | undefined;
    a.ls.snapshots('kv2/n1').save({ index: 100, term: 1, meta: new Uint8Array([1]) }, new Uint8Array(5000).fill(7), (e) => (snap = e));
    await until(() => a.state.meta.length === 1 && snap !== undefined, 'meta and snapshot durable');
    expect(snap).toBeNull();
    expect(a.ls.stats().wal.rollovers).toBeGreaterThan(2);
    expect(a.ls.stats().wal.inlineSyncs).toBeGreaterThan(0); // small batches synced on the event loop
    await a.system.shutdown();
    expect(readdirSync(join(dir, 'wal')).length).toBeGreaterThan(0);

    const b = node(dir);
    expect(b.ls.logIds()).toEqual(['kv1/n1', 'kv2/n1', 'kv3/n1']);
    const l1 = b.open('kv1/n1');
    expect([l1.lastIndex, l1.lastTerm, l1.writtenIndex]).toEqual([2600, 2, 2600]);
    const got = l1.entries(1, 3000);
    expect(got.length).toBe(2600);
    expect(got.every((e) => text(e).startsWith(`kv1/n1:${e.index}:${e.index <= 2500 ? 1 : 2}:`))).toBe(true);
    const l3 = b.open('kv3/n1');
    expect(l3.entries(1, 3000).every((e) => text(e).startsWith(`kv3/n1:${e.index}:1:`))).toBe(true);
    expect(b.ls.metaStore().fetch('kv1/n1')).toEqual({ term: 2, votedFor: 'n3' });
    expect(b.ls.snapshots('kv2/n1').latest()).toMatchObject({ index: 100, term: 1, size: 5000 });
    expect(b.ls.snapshots('kv2/n1').readChunk(100, 4990, 100)).toEqual(new Uint8Array(10).fill(7));
    l1.append(entries('kv1/n1', 2601, 2610, 2));
    await until(() => l1.writtenIndex === 2610, 'new entries durable after restart');
    await b.system.shutdown();
    expect(b.logger.records.filter((r) => r.level === 'error' || r.level === 'warn')).toEqual([]);
  });

  for (const [op, errno, code] of [
    ['write', 'ENOSPC', 'disk_full'],
    ['sync', 'EIO', 'disk_error'],
  ] as const) {
    it(`${op} ${errno} gives a typed error, acknowledges nothing unsynced, keeps the log readable and resumes`, async () => {
      const disk = new FaultyDisk();
      const a = node(dir, disk);
      const log = a.open('kv1/n1');
      log.append(entries('kv1/n1', 1, 100, 1));
      await until(() => log.writtenIndex === 100, 'first entries durable');
      disk.fail(op, errno);
      expect(log.append(entries('kv1/n1', 101, 200, 1))).toBe('ok');
      await until(() => a.state.changes.some((c) => c.type === 'wal_down'), 'wal_down');
      const down = a.state.changes.find((c) => c.type === 'wal_down');
      expect(down).toMatchObject({ error: { code, errno } });
      expect(log.writtenIndex).toBe(100);
      expect(log.append(entries('kv1/n1', 201, 210, 1))).toBe('unavailable');
      // Still readable, from memory.
      expect(log.entries(1, 1000).length).toBe(210);
      expect(a.logger.records.some((r) => r.level === 'error' && r.fields?.['errno'] === errno)).toBe(true);
      disk.clear();
      await until(() => log.writtenIndex === 210, 'acknowledged after the fault cleared');
      expect(a.state.changes.some((c) => c.type === 'wal_up')).toBe(true);
      await a.system.shutdown();
      // The failed half-write was cut back: the file reads back whole.
      const b = node(dir);
      const got = b.open('kv1/n1').entries(1, 1000);
      expect(got.map((e) => e.index)).toEqual(Array.from({ length: 210 }, (_, i) => i + 1));
      expect(got.every((e) => text(e).startsWith(`kv1/n1:${e.index}:1:`))).toBe(true);
      await b.system.shutdown();
    });
  }
});
