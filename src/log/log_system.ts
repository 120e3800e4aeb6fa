// The log layer of one node: owns what its logs share (the registry of mem
// tables and their byte budget, segment readers, snapshot stores, the meta
// values), starts the meta store, segment writer and WAL actors under one
// supervisor, and opens each Raft group member's GroupLog.
import { LRUCache } from 'lru-cache';
import type { ActorRef } from '../actors/actor.js';
import type { ActorSystem } from '../actors/actor_system.js';
import { supervisorSpec, type ChildSpec, type ChildStartContext } from '../actors/supervisor.js';
import { assert } from '../lib/assert.js';
import type { Logger } from '../lib/logger.js';
import type { Clock } from '../io/clock.js';
import { joinPath, type Disk, type DiskCallback, type DiskError } from '../io/disk.js';
import type { LogEntry, LogEvent } from './events.js';
import { GroupLog } from './group_log.js';
import { groupDirName, GroupState, type SegmentRef } from './group_state.js';
import { resolveLogOptions, type LogSystemOptions, type ResolvedLogOptions } from './log_options.js';
import type { MemBudget } from './mem_table.js';
import { MetaStore, MetaStoreActor, type MetaRequest, type MetaStoreMsg, type MetaValue } from './meta_store.js';
import { loadGroup, recoverWal, syncFile } from './recovery.js';
import { SegmentReader } from './segment.js';
import { SegmentWriter, type SegmentWriterMsg } from './segment_writer.js';
import { SnapshotStore } from './snapshot_store.js';
import { Wal, type WalMsg } from './wal.js';
import { WalFile } from './wal_file.js';
import { walFileName, walFileSeq, walSpareName, walSpareSeq } from './wal_format.js';

/** Counters of the WAL. */
export interface WalStats {
  batches: number;
  entries: number;
  bytes: number;
  syncs: number;
  /** Syncs made on the event loop (walInlineSyncBytesMax). */
  inlineSyncs: number;
  rollovers: number;
  pressureRollovers: number;
  overloads: number;
  failures: number;
  /** Milliseconds spent with a write and sync in flight (WAL busy time). */
  busyMs: number;
}

/** Counters of the segment writer. */
export interface SegmentStats {
  waves: number;
  chunks: number;
  entries: number;
  bytes: number;
  walFilesFlushed: number;
  filesDeleted: number;
  failures: number;
}

/** Hears of each WAL batch as it becomes durable (telemetry records its histograms here). */
export interface WalProbe {
  /** A batch of `entries` in `bytes` was written and synced, `durationMs` from the write's start. */
  batchDurable(durationMs: number, bytes: number, entries: number): void;
}

/** An overview of the node's log layer. */
export interface LogSystemStats {
  logs: number;
  memBytes: number;
  walFilesPending: number;
  walDown: boolean;
  wal: WalStats;
  segments: SegmentStats;
}

/**
 * One node's log layer (not an actor: it holds what the log actors and the
 * Raft servers share, as ra's ETS tables do). Start `childSpec()` under the
 * node's supervisor, then `openLog` for each member.
 */
export class LogSystem {
  readonly options: ResolvedLogOptions;
  readonly disk: Disk;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly walDir: string;
  readonly groupsDir: string;
  readonly metaDir: string;
  /** @internal Every log known on this node. */
  readonly groups = new Map<string, GroupState>();
  /** @internal Bytes held by all mem tables. */
  readonly memBudget: MemBudget = { bytes: 0 };
  /** @internal Rolled-over WAL files waiting for the segment writer, oldest first. */
  readonly pendingWalFiles: WalFile[] = [];
  /** @internal The WAL file being written. */
  walActive: WalFile | undefined;
  /**
   * @internal The highest WAL file number a preparation was started for. A WAL
   * instance that died may still be filling it with zeros: its successor must not use it.
   */
  walPreparedUpTo = 0;
  /** @internal A spare that recovery found complete, for the WAL to take over instead of preparing one. */
  walSpareFound: string | undefined;
  /** @internal Set while the WAL cannot write. */
  walDown: DiskError | undefined;
  /** @internal The WAL has been replayed (a WAL start after that is a restart). */
  walRecovered = false;
  /** @internal Requests sent to the WAL, and how many of them (in order) are durable. */
  walRequestsSent = 0;
  walRequestsDurable = 0;
  /** @internal The segment writer waits for walRequestsDurable to pass a barrier. */
  segmentWriterWaitsForWal = false;
  /** @internal Durable meta values (written by the meta store actor). */
  readonly metaValues = new Map<string, MetaValue>();
  /** @internal The meta store has read its file (a later start of the actor is a restart). */
  metaLoaded = false;
  /** @internal Each log's latest store or delete request not yet written (kept across meta store restarts). */
  readonly metaPending = new Map<string, MetaRequest>();
  /** @internal Segment files with their index, most recently used kept. */
  readonly readers: LRUCache<string, SegmentReader>;
  readonly walStats: WalStats = { batches: 0, entries: 0, bytes: 0, syncs: 0, inlineSyncs: 0, rollovers: 0, pressureRollovers: 0, overloads: 0, failures: 0, busyMs: 0 };
  readonly segmentStats: SegmentStats = { waves: 0, chunks: 0, entries: 0, bytes: 0, walFilesFlushed: 0, filesDeleted: 0, failures: 0 };
  readonly metaStats = { compactions: 0 };
  /** Told of every durable WAL batch, when set (one probe at a time). */
  walProbe: WalProbe | undefined;
  private system: ActorSystem | undefined;
  private walRef: ActorRef<WalMsg> | undefined;
  private segmentWriterRef: ActorRef<SegmentWriterMsg> | undefined;
  private metaRef: ActorRef<MetaStoreMsg> | undefined;
  private nextGid = 1;
  private readonly snapshotStores = new Map<string, SnapshotStore>();
  /** Logs being deleted, with the callback to run once their files are gone. */
  private readonly deleting = new Map<string, { group: GroupState; done: DiskCallback }>();
  /** Callers of whenDeleted, by log. */
  private readonly deleteWaiters = new Map<string, (() => void)[]>();
  private readonly meta = new MetaStore(this);

  constructor(options: LogSystemOptions) {
    this.options = resolveLogOptions(options);
    this.disk = options.disk;
    this.clock = options.clock;
    this.logger = options.logger;
    const dir = this.options.dataDir;
    this.walDir = joinPath(dir, 'wal');
    this.groupsDir = joinPath(dir, 'groups');
    this.metaDir = joinPath(dir, 'meta');
    this.readers = new LRUCache<string, SegmentReader>({ max: this.options.openSegmentsMax, dispose: (r) => r.close() });
  }

  /** @internal The log tree's actors now (for fault injection: the simulator crashes them). */
  treeActors(): { wal: ActorRef | undefined; segmentWriter: ActorRef | undefined; metaStore: ActorRef | undefined } {
    return { wal: this.walRef, segmentWriter: this.segmentWriterRef, metaStore: this.metaRef };
  }

  /**
   * A supervisor spec (one_for_all, started in order): meta store, segment
   * writer, WAL. Starting it loads the meta store and replays the WAL; a
   * corrupt WAL makes the start fail with ConcordError('corrupt').
   */
  childSpec(id = 'log'): ChildSpec {
    const start =
      <M, A>(make: (system: ActorSystem, ctx: ChildStartContext) => ActorRef<M>, keep: (ref: ActorRef<M>) => void) =>
      (ctx: ChildStartContext): ActorRef => {
        assert(ctx.system.clock === this.options.clock, 'LogSystem options.clock must be the clock of the ActorSystem');
        this.system = ctx.system;
        const ref = make(ctx.system, ctx);
        keep(ref);
        return ref;
      };
    const big = { mailboxMax: Number.MAX_SAFE_INTEGER };
    return supervisorSpec(id, {
      strategy: 'one_for_all',
      children: [
        { id: 'meta_store', start: start((s, c) => s.spawn(MetaStoreActor, { ls: this }, { ...c.spawnOptions, ...big }), (r) => (this.metaRef = r)) },
        { id: 'segment_writer', start: start((s, c) => s.spawn(SegmentWriter, { ls: this }, { ...c.spawnOptions, ...big }), (r) => (this.segmentWriterRef = r)) },
        { id: 'wal', start: start((s, c) => s.spawn(Wal, { ls: this }, { ...c.spawnOptions, ...big }), (r) => (this.walRef = r)) },
      ],
    });
  }

  /**
   * Opens the log `logId` (e.g. 'kv1/n2') for its Raft server actor `owner`,
   * which will receive its LogEvents. Opening it again (a restarted server)
   * gives a fresh GroupLog over the same data; the previous one stops working.
   */
  openLog(logId: string, owner: ActorRef<LogEvent>): GroupLog {
    // The WAL has replayed; it need not be running right now: a member restarted while the log
    // tree restarts opens its log all the same (what it sends the WAL meanwhile, the next
    // instance writes again from the mem tables). It crashed on this (simulator, seed 7154628).
    assert(this.walRecovered, 'start LogSystem.childSpec() before openLog');
    assert(!this.deleting.has(logId), () => `log ${logId} is being deleted; wait for deleteLog's callback`);
    const g = this.groupFor(logId);
    this.ensureLoaded(g);
    g.owner = owner;
    g.generation++;
    const log = new GroupLog(this, g);
    log.catchUp();
    return log;
  }

  /** The node's meta store (term and vote per log). */
  metaStore(): MetaStore {
    return this.meta;
  }

  /** The snapshot store of `logId`. */
  snapshots(logId: string): SnapshotStore {
    let s = this.snapshotStores.get(logId);
    if (s === undefined) {
      const dir = joinPath(this.groupsDir, groupDirName(logId), 'snapshots');
      s = new SnapshotStore(this.disk, dir, this.logger, this.options.walSyncMethod);
      this.snapshotStores.set(logId, s);
    }
    return s;
  }

  /**
   * Deletes a log (its member left the cluster): its mem table at once, then,
   * once a delete record is durable in the WAL, its segments, snapshots and
   * meta. `cb` runs when the files are gone; open the logId again only after.
   */
  deleteLog(logId: string, cb: DiskCallback): void {
    assert(!this.deleting.has(logId), () => `log ${logId} is already being deleted`);
    const g = this.groupFor(logId);
    this.deleting.set(logId, { group: g, done: cb });
    g.deleting = true;
    g.deleted = true;
    g.owner = undefined;
    g.mem.resetTo(1);
    this.groups.delete(logId);
    this.sendToWal({ type: 'delete', group: g, done: cb });
  }

  /**
   * Runs `fn` once no deletion of `logId` is under way (at once when none
   * is): open the log only then. A deletion that the WAL replay found
   * finishes after start-up, and a member created again since the deletion,
   * whose new log was not yet durable when the node stopped, must wait for it
   * (simulator, seed 124071: the node could not restart that member).
   */
  whenDeleted(logId: string, fn: () => void): void {
    if (!this.deleting.has(logId)) return fn();
    const waiting = this.deleteWaiters.get(logId);
    if (waiting === undefined) this.deleteWaiters.set(logId, [fn]);
    else waiting.push(fn);
  }

  /** Every log with data on this node (in memory or on disk), sorted. */
  logIds(): string[] {
    const ids = new Set<string>();
    for (const [id, g] of this.groups) if (!g.deleted) ids.add(id);
    for (const name of this.disk.listSync(this.groupsDir)) {
      let id: string;
      try {
        id = decodeURIComponent(name);
      } catch {
        continue; // not a directory this layer made
      }
      if (!this.deleting.has(id)) ids.add(id);
    }
    return [...ids].sort();
  }

  /** Counters and sizes for an overview. */
  stats(): LogSystemStats {
    return {
      logs: this.groups.size,
      memBytes: this.memBudget.bytes,
      walFilesPending: this.pendingWalFiles.length,
      walDown: this.walDown !== undefined,
      wal: { ...this.walStats },
      segments: { ...this.segmentStats },
    };
  }

  // ---- shared with the log actors and GroupLog (internal) ----

  /** @internal The state of `logId`, created when unknown. */
  groupFor(logId: string): GroupState {
    let g = this.groups.get(logId);
    if (g === undefined) {
      g = new GroupState(logId, this.nextGid++, joinPath(this.groupsDir, groupDirName(logId)), this.memBudget);
      this.groups.set(logId, g);
    }
    return g;
  }

  /** @internal Loads snapshot point and segments on first use. */
  ensureLoaded(g: GroupState): void {
    if (!g.loaded) loadGroup(this, g);
  }

  /** @internal Replays the WAL at start-up; returns the next WAL file number. */
  recoverWal(): number {
    this.disk.mkdirpSync(this.groupsDir);
    return recoverWal(this);
  }

  /** @internal The WAL replay met the name record of `logId` (a log deleted earlier in the replay may be created again). */
  groupForReplay(logId: string): GroupState {
    this.deleting.delete(logId);
    return this.groupFor(logId);
  }

  /** @internal The WAL replay met a delete record: the log's files may remain and are removed once the WAL starts. */
  replayDelete(g: GroupState): void {
    g.deleted = true;
    g.deleting = true;
    g.mem.resetTo(1);
    if (this.groups.get(g.logId) === g) this.groups.delete(g.logId);
    this.deleting.set(g.logId, { group: g, done: () => {} });
  }

  /** @internal Deletions not finished yet (the WAL writes their delete record again when it starts). */
  pendingDeletes(): { group: GroupState; done: DiskCallback }[] {
    return [...this.deleting.values()];
  }

  /** @internal A deleted log's files are gone. */
  groupDeleted(g: GroupState): void {
    const d = this.deleting.get(g.logId);
    if (d?.group === g) this.deleting.delete(g.logId);
    this.sendToMeta({ type: 'delete', logId: g.logId });
    const waiting = this.deleteWaiters.get(g.logId);
    if (waiting === undefined || this.deleting.has(g.logId)) return;
    this.deleteWaiters.delete(g.logId);
    for (const fn of waiting) fn();
  }

  /** @internal Drops cached readers and handles of a log's files before they are deleted. */
  forgetFiles(g: GroupState): void {
    for (const ref of g.segments) this.readers.delete(ref.path);
    for (const path of [...this.readers.keys()]) if (path.startsWith(g.dir + '/')) this.readers.delete(path);
    this.snapshotStores.get(g.logId)?.close();
    this.snapshotStores.delete(g.logId);
  }

  /**
   * @internal The WAL actor restarted: its current file is cut back to what
   * was synced and queued for the segment writer; files it was creating are
   * removed. Returns the next WAL file number.
   */
  resumeWalAfterRestart(): number {
    const disk = this.disk;
    const known = new Set(this.pendingWalFiles.map((f) => f.path));
    let maxSeq = Math.max(0, ...this.pendingWalFiles.map((f) => f.seq));
    const active = this.walActive;
    if (active !== undefined && active.size > 0) {
      // Cut back before the file changes hands: if this throws, the next successor finds it
      // still active and cuts again, where it used to take it for a stray and delete it, with
      // its acknowledged entries.
      syncFile(disk, active.path, active.size);
      active.handle = undefined;
      this.pendingWalFiles.push(active);
      known.add(active.path);
    }
    this.walActive = undefined;
    let removed = false;
    for (const name of disk.listSync(this.walDir)) {
      if (walSpareSeq(name) !== undefined) {
        // The dead instance's spares: it may still be filling one, so none is taken over.
        disk.unlinkSync(joinPath(this.walDir, name));
        removed = true;
        continue;
      }
      const seq = walFileSeq(name);
      if (seq === undefined) continue;
      maxSeq = Math.max(maxSeq, seq);
      const path = joinPath(this.walDir, name);
      if (!known.has(path)) {
        disk.unlinkSync(path);
        removed = true;
      }
    }
    if (removed) disk.syncDirSync(this.walDir);
    return Math.max(maxSeq, this.walPreparedUpTo) + 1;
  }

  /** @internal A WalFile for number `seq`. */
  newWalFile(seq: number): WalFile {
    return new WalFile(seq, this.walPath(seq));
  }

  /** @internal The path of WAL file number `seq`. */
  walPath(seq: number): string {
    return joinPath(this.walDir, walFileName(seq));
  }

  /** @internal The path of the spare prepared for WAL file number `seq`. */
  walSparePath(seq: number): string {
    return joinPath(this.walDir, walSpareName(seq));
  }

  /** @internal Sends a request to the WAL (dropped while it restarts: the restarted WAL rewrites the mem tables). */
  sendToWal(msg: WalMsg): void {
    this.walRequestsSent++;
    if (this.walRef !== undefined) this.system?.send(this.walRef, msg);
  }

  /** @internal */
  sendToMeta(msg: MetaRequest): void {
    // The latest request of each log, until written: a restarted meta store writes them again.
    this.metaPending.set(msg.logId, msg);
    if (this.metaRef !== undefined) this.system?.send(this.metaRef, msg);
  }

  /** @internal Tells the segment writer that WAL files are waiting. */
  kickSegmentWriter(): void {
    if (this.segmentWriterRef !== undefined) this.system?.send(this.segmentWriterRef, { type: 'flush' });
  }

  /** @internal Asks the segment writer to delete segment files `g` no longer needs. */
  requestCompaction(g: GroupState): void {
    if (this.segmentWriterRef !== undefined) this.system?.send(this.segmentWriterRef, { type: 'compact', group: g });
  }

  /** @internal The delete record of `g` is durable: remove its files. */
  segmentWriterDelete(g: GroupState, done: DiskCallback): void {
    if (this.segmentWriterRef !== undefined) this.system?.send(this.segmentWriterRef, { type: 'delete_group', group: g, done });
  }

  /** @internal The term at `index` of a loaded log (snapshot point, mem table, then segments). */
  termAt(g: GroupState, index: number): number | undefined {
    if (index === g.snapshotIndex) return g.snapshotTerm;
    if (index < g.snapshotIndex || index > g.lastIndex) return undefined;
    const t = g.mem.termAt(index);
    if (t !== undefined) return t;
    const ref = g.segmentFor(index);
    return ref === undefined ? undefined : this.reader(ref).termAt(index);
  }

  /** @internal Reads from..to from segment files into `out`; stops at `maxBytes`. Returns the payload bytes read. */
  readSegments(g: GroupState, from: number, to: number, out: LogEntry[], maxBytes: number): number {
    let bytes = 0;
    let i = from;
    while (i <= to) {
      const ref = g.segmentFor(i);
      assert(ref !== undefined, () => `log ${g.logId}: no segment holds index ${i}`);
      const hi = Math.min(to, ref.last);
      const before = out.length;
      bytes = this.reader(ref).readRange(i, hi, out, maxBytes, bytes);
      if (out.length - before < hi - i + 1) return bytes;
      i = hi + 1;
    }
    return bytes;
  }

  /** @internal The reader of a segment file, from the LRU or scanned anew. */
  reader(ref: SegmentRef): SegmentReader {
    let r = this.readers.get(ref.path);
    if (r === undefined) {
      r = SegmentReader.scan(this.disk, ref.path).reader;
      this.readers.set(ref.path, r);
    }
    return r;
  }
}
