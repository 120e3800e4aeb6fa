// The meta store: current term and vote per log, in an append-only file of
// CRC'd records. The actor batches every store queued in its mailbox into one
// write and one sync, answers each once durable, and compacts the file by
// rewrite, sync, rename and directory sync when it grows.
import { Actor, type ActorRef } from '../actors/actor.js';
import { assertNever } from '../lib/assert.js';
import { Completion } from '../lib/completion.js';
import { crc32c } from '../lib/crc32c.js';
import { joinPath, type DiskError, type FileHandle } from '../io/disk.js';
import { IoGate, runSteps, type Step } from './io_chain.js';
import type { LogSystem } from './log_system.js';

/** A log's durable Raft meta: current term and the member voted for in it (null: none). */
export interface MetaValue {
  term: number;
  votedFor: string | null;
}

/** The answer to `MetaStore.store`, sent once the value is durable. */
export interface MetaStored {
  type: 'meta_stored';
  logId: string;
  term: number;
  votedFor: string | null;
  tag: unknown;
}

/** Messages the meta store actor accepts. */
export type MetaStoreMsg =
  | { type: 'store'; logId: string; term: number; votedFor: string | null; replyTo: ActorRef<MetaStored> | undefined; tag: unknown }
  | { type: 'delete'; logId: string }
  | { type: 'io_done'; error: DiskError | null; handle: FileHandle | undefined; size: number }
  | { type: 'retry' }
  | { type: 'kick' };

/** A store or delete request. */
export type MetaRequest = Extract<MetaStoreMsg, { type: 'store' | 'delete' }>;
type Req = MetaRequest;

/** Record: u32 body length, u32 CRC32C of the body; body: u8 kind (1 set, 2 delete), 3 zero bytes, u64 term, u32 logId length, u32 votedFor length (0xffffffff: null), logId, votedFor. */
const RECORD_FIXED = 8 + 4 + 8 + 8;
const NO_VOTE = 0xffffffff;
const TWO_32 = 4294967296;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encodeRecords(entries: Iterable<[string, MetaValue | undefined]>): Uint8Array {
  const parts: { id: Uint8Array; vote: Uint8Array | undefined; value: MetaValue | undefined }[] = [];
  let size = 0;
  for (const [logId, value] of entries) {
    const id = encoder.encode(logId);
    const vote = value?.votedFor === null || value === undefined ? undefined : encoder.encode(value.votedFor);
    parts.push({ id, vote, value });
    size += RECORD_FIXED + id.length + (vote?.length ?? 0);
  }
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  let o = 0;
  for (const { id, vote, value } of parts) {
    const body = RECORD_FIXED - 8 + id.length + (vote?.length ?? 0);
    v.setUint32(o, body, true);
    v.setUint32(o + 8, value === undefined ? 2 : 1, true);
    const term = value?.term ?? 0;
    v.setUint32(o + 12, term >>> 0, true);
    v.setUint32(o + 16, Math.floor(term / TWO_32), true);
    v.setUint32(o + 20, id.length, true);
    v.setUint32(o + 24, vote === undefined ? NO_VOTE : vote.length, true);
    out.set(id, o + RECORD_FIXED);
    if (vote !== undefined) out.set(vote, o + RECORD_FIXED + id.length);
    v.setUint32(o + 4, crc32c(out, o + 8, o + 8 + body), true);
    o += 8 + body;
  }
  return out;
}

/** Applies the valid records of `bytes` to `into`; returns the end of the last valid record. */
function decodeRecords(bytes: Uint8Array, into: Map<string, MetaValue>): number {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let o = 0;
  while (o + RECORD_FIXED <= bytes.length) {
    const body = v.getUint32(o, true);
    if (body < RECORD_FIXED - 8 || o + 8 + body > bytes.length) break;
    if (crc32c(bytes, o + 8, o + 8 + body) !== v.getUint32(o + 4, true)) break;
    const kind = v.getUint32(o + 8, true);
    const idLen = v.getUint32(o + 20, true);
    const voteLen = v.getUint32(o + 24, true);
    const varLen = idLen + (voteLen === NO_VOTE ? 0 : voteLen);
    if ((kind !== 1 && kind !== 2) || RECORD_FIXED - 8 + varLen !== body) break;
    const logId = decoder.decode(bytes.subarray(o + RECORD_FIXED, o + RECORD_FIXED + idLen));
    if (kind === 2) into.delete(logId);
    else {
      const term = v.getUint32(o + 12, true) + v.getUint32(o + 16, true) * TWO_32;
      const votedFor = voteLen === NO_VOTE ? null : decoder.decode(bytes.subarray(o + RECORD_FIXED + idLen, o + 8 + body));
      into.set(logId, { term, votedFor });
    }
    o += 8 + body;
  }
  return o;
}

/** The meta store actor. Spawned by LogSystem.childSpec; loads the file in `init`. */
export class MetaStoreActor extends Actor<MetaStoreMsg, { ls: LogSystem }> {
  private ls!: LogSystem;
  private path = '';
  private file: FileHandle | undefined;
  private size = 0;
  private queued: Req[] = [];
  /** The batch being written (kept for a retry after a disk error). */
  private writing: Req[] | undefined;
  private compacting = false;
  private busy = false;
  private retrying = false;
  private needsTruncate = false;
  private failing = false;
  /** A compaction failed after its rename may have happened: make the directory durable before writing. */
  private syncDirFirst = false;
  /** The file is being rewritten from memory (after a restart); nothing is appended until that succeeds. */
  private rewriting = false;
  private readonly io = new IoGate();

  override init(args: { ls: LogSystem }): void {
    this.ls = args.ls;
    const disk = this.ls.disk;
    const dir = this.ls.metaDir;
    disk.mkdirpSync(dir);
    this.path = joinPath(dir, 'meta.dat');
    const tmp = this.path + '.tmp';
    if (disk.existsSync(tmp)) disk.unlinkSync(tmp);
    if (this.ls.metaLoaded) {
      // Restarted in a running node (a crash of the log tree): the durable values are in memory,
      // and the file's tail may hold a batch whose sync failed (not durable, though it reads
      // back), after which new records would be lost with it. The file is rewritten from memory
      // before anything else is written.
      this.rewriting = true;
      this.compact(true);
    } else {
      this.load(dir);
    }
    // Requests a dead instance had taken and not finished: its queue died with it, and its
    // requesters, who hold their messages until their term and vote are durable, waited for
    // ever (simulator, log_crash). Each log's latest request is written again.
    if (this.ls.metaPending.size > 0) this.queued = [...this.ls.metaPending.values()];
    this.send(this.self, { type: 'kick' });
  }

  /** Reads the file at the node's start: its valid records are the durable values. */
  private load(dir: string): void {
    const disk = this.ls.disk;
    const values = new Map<string, MetaValue>();
    const existed = disk.existsSync(this.path);
    if (existed) {
      const bytes = disk.readFileSync(this.path);
      const end = decodeRecords(bytes, values);
      if (end < bytes.length) {
        this.ls.logger.warn('cutting a torn meta store tail', { file: this.path, offset: end, bytes: bytes.length - end });
        const h = disk.openSync(this.path, 'readwrite');
        disk.truncateSync(h, end);
        disk.syncSync(h, 'fsync');
        disk.closeSync(h);
      }
      this.size = end;
    }
    this.file = disk.openSync(this.path, 'append');
    if (!existed) disk.syncDirSync(dir);
    this.ls.metaValues.clear();
    for (const [k, v] of values) this.ls.metaValues.set(k, v);
    this.ls.metaLoaded = true;
  }

  handle(msg: MetaStoreMsg): void {
    switch (msg.type) {
      case 'store':
      case 'delete':
        this.queued.push(msg);
        return;
      case 'io_done':
        return this.done(msg.error, msg.handle, msg.size);
      case 'retry':
        this.retrying = false;
        return;
      case 'kick':
        return;
      default:
        return assertNever(msg, 'meta store message');
    }
  }

  /** Writes everything queued as one batch when nothing is in flight. */
  override afterBatch(): void {
    if (this.busy || this.retrying) return;
    if (this.rewriting) return this.compact(true);
    if (this.writing === undefined) {
      if (this.queued.length === 0) return;
      this.writing = this.queued;
      this.queued = [];
    }
    const disk = this.ls.disk;
    const h = this.file as FileHandle;
    const reqs = this.writing;
    const bytes = encodeRecords(reqs.map((r) => [r.logId, r.type === 'store' ? { term: r.term, votedFor: r.votedFor } : undefined]));
    const at = this.size;
    const steps: Step[] = [];
    if (this.syncDirFirst) steps.push((next) => disk.syncDir(this.ls.metaDir, next));
    if (this.needsTruncate) steps.push((next) => disk.truncate(h, at, next));
    steps.push((next) => disk.write(h, bytes, at, next));
    steps.push((next) => disk.sync(h, this.syncMethod(), next));
    this.start(steps, undefined, at + bytes.length);
  }

  /** Waits for the write in flight, then closes the file. */
  override terminate(): PromiseLike<void> {
    this.retrying = true;
    const done = new Completion();
    this.io.whenIdle(() => {
      const h = this.file;
      this.file = undefined;
      if (h === undefined) done.resolve();
      else this.ls.disk.close(h, () => done.resolve());
    });
    return done;
  }

  private syncMethod(): 'fsync' | 'datasync' | 'none' {
    return this.ls.options.walSyncMethod;
  }

  private start(steps: Step[], handle: (() => FileHandle | undefined) | undefined, size: number): void {
    this.busy = true;
    this.io.begin();
    const self = this.self;
    runSteps(steps, (error) => {
      this.io.end();
      this.system.send(self, { type: 'io_done', error, handle: handle?.(), size });
    });
  }

  private done(error: DiskError | null, handle: FileHandle | undefined, size: number): void {
    this.busy = false;
    if (this.compacting) return this.compacted(error, handle, size);
    if (error !== null) {
      this.needsTruncate = true;
      return this.retryLater('meta store cannot write; retrying', error);
    }
    this.writesAgain();
    this.needsTruncate = false;
    this.syncDirFirst = false;
    this.size = size;
    const reqs = this.writing as Req[];
    this.writing = undefined;
    for (const r of reqs) {
      if (this.ls.metaPending.get(r.logId) === r) this.ls.metaPending.delete(r.logId);
      if (r.type === 'delete') {
        this.ls.metaValues.delete(r.logId);
        continue;
      }
      this.ls.metaValues.set(r.logId, { term: r.term, votedFor: r.votedFor });
      if (r.replyTo !== undefined) this.send(r.replyTo, { type: 'meta_stored', logId: r.logId, term: r.term, votedFor: r.votedFor, tag: r.tag });
    }
    if (this.size > this.ls.options.metaFileBytesMax) this.compact();
  }

  /** A write failed: report it (once per outage) and try again after walRetryMs. */
  private retryLater(msg: string, error: DiskError): void {
    if (!this.failing) this.ls.logger.error(msg, { error, errno: error.errno, file: this.path });
    this.failing = true;
    this.retrying = true;
    this.sendAfter(this.ls.options.walRetryMs, { type: 'retry' });
  }

  /** A write succeeded: the outage, if any, is over. */
  private writesAgain(): void {
    if (this.failing) this.ls.logger.info('meta store writes again', { file: this.path });
    this.failing = false;
  }

  /** Rewrites the live values into a new file and renames it over the old one (`force`: whatever it costs). */
  private compact(force = false): void {
    const disk = this.ls.disk;
    const bytes = encodeRecords(this.ls.metaValues.entries());
    if (!force && bytes.length > this.ls.options.metaFileBytesMax / 2) return; // mostly live data: compaction would not pay
    const tmp = this.path + '.tmp';
    let h: FileHandle = -1;
    let fresh: FileHandle | undefined;
    const steps: Step[] = [
      (next) =>
        disk.open(tmp, 'write', (err, handle) => {
          h = handle;
          next(err);
        }),
      (next) => disk.write(h, bytes, 0, next),
      (next) => disk.sync(h, this.syncMethod(), next),
      (next) => disk.close(h, next),
      (next) => disk.rename(tmp, this.path, next),
      (next) => disk.syncDir(this.ls.metaDir, next),
      (next) =>
        disk.open(this.path, 'readwrite', (err, handle) => {
          if (err === null) fresh = handle;
          next(err);
        }),
    ];
    this.compacting = true;
    this.start(steps, () => fresh, bytes.length);
  }

  private compacted(error: DiskError | null, handle: FileHandle | undefined, size: number): void {
    this.compacting = false;
    if (this.rewriting) {
      if (error !== null) {
        if (handle !== undefined) this.ls.disk.close(handle, () => {});
        return this.retryLater('meta store cannot rewrite its file; retrying', error);
      }
      this.writesAgain();
      this.rewriting = false;
    }
    if (error !== null) {
      // Whether or not the rename went through, the file at `path` holds every
      // value (the new one was synced before the rename). Append to whichever it
      // is, and sync the directory before the next write so that the name is durable.
      this.ls.logger.warn('meta store compaction failed', { error, file: this.path });
      const disk = this.ls.disk;
      try {
        const h = disk.openSync(this.path, 'readwrite');
        const old = this.file;
        this.file = h;
        this.size = disk.sizeSync(h);
        if (old !== undefined) disk.close(old, () => {});
      } catch (e) {
        this.ls.logger.error('meta store could not reopen its file after a failed compaction', { error: e, file: this.path });
      }
      this.syncDirFirst = true;
      return;
    }
    const old = this.file;
    this.file = handle;
    this.size = size;
    if (old !== undefined) this.ls.disk.close(old, () => {});
    this.ls.metaStats.compactions++;
  }
}

/** The node's meta store: `store` goes through the actor; `fetch` reads the durable values in memory. */
export class MetaStore {
  /** @internal */
  constructor(private readonly ls: LogSystem) {}

  /**
   * Stores (term, votedFor) for `logId`; once durable, `replyTo` receives
   * `{ type: 'meta_stored', logId, term, votedFor, tag }`. Stores queued
   * together are written with one write and one sync. If the meta store
   * restarts before the value is durable, no answer comes.
   */
  store(logId: string, term: number, votedFor: string | null, replyTo: ActorRef<MetaStored>, tag: unknown): void {
    this.ls.sendToMeta({ type: 'store', logId, term, votedFor, replyTo, tag });
  }

  /** The durable term and vote of `logId` ({ term: 0, votedFor: null } when none). */
  fetch(logId: string): MetaValue {
    return this.ls.metaValues.get(logId) ?? { term: 0, votedFor: null };
  }
}
