// The server's snapshot file work: taking a snapshot (one save at a time,
// streamed: one chunk encoded and written per step, so a large state never
// blocks the server for long), reading chunks to send, and writing the chunks
// of one being received, in order. Completions come back as messages.
import { assert } from '../../lib/assert.js';
import type { DiskError } from '../../io/disk.js';
import type { SnapshotStore, SnapshotWriter } from '../../log/snapshot_store.js';
import type { ClusterConfig, InstallSnapshot } from '../core/types.js';
import { decodeValue, encodeValue } from './entry_codec.js';
import type { SnapshotStream } from './machine_runner.js';

/** What a snapshot's meta bytes hold besides index and term. */
export interface SnapshotMetaData {
  readonly config: ClusterConfig;
  /** The index of the configuration entry that `config` comes from (at or before the snapshot's). */
  readonly configIndex: number;
  readonly machineVersion: number;
}

/** Encodes the meta stored beside a snapshot. */
export function encodeSnapshotMeta(meta: SnapshotMetaData): Uint8Array {
  return encodeValue({ config: { voters: meta.config.voters, nonVoters: meta.config.nonVoters }, configIndex: meta.configIndex, machineVersion: meta.machineVersion });
}

/**
 * Decodes what encodeSnapshotMeta made for the snapshot at `index`. Meta
 * written before the configuration's index was kept is dated at the snapshot.
 */
export function decodeSnapshotMeta(bytes: Uint8Array, index: number): SnapshotMetaData {
  const m = decodeValue(bytes) as Partial<SnapshotMetaData> & Pick<SnapshotMetaData, 'config' | 'machineVersion'>;
  const config = { voters: [...m.config.voters], nonVoters: [...m.config.nonVoters] };
  return { config, configIndex: typeof m.configIndex === 'number' ? m.configIndex : index, machineVersion: m.machineVersion };
}

/** The configuration a snapshot at `index` holds, at the index of the entry it comes from. */
export function snapshotConfig(meta: Uint8Array, index: number): { index: number; config: ClusterConfig } {
  const m = decodeSnapshotMeta(meta, index);
  return { index: m.configIndex, config: m.config };
}

/** Completion messages for the server. */
export type SnapshotIoMsg =
  | { readonly type: 'snapshot_saved'; readonly index: number; readonly term: number; readonly size: number; readonly error: DiskError | null }
  /** One chunk of the snapshot being saved is written: encode and write the next. */
  | { readonly type: 'snapshot_save_step'; readonly index: number; readonly error: DiskError | null }
  | { readonly type: 'snapshot_chunk_written'; readonly index: number; readonly error: DiskError | null }
  | { readonly type: 'snapshot_received'; readonly index: number; readonly error: DiskError | null };

/** A snapshot being received: chunks queue up and are written one after another. */
interface Receiving {
  readonly index: number;
  readonly term: number;
  readonly size: number;
  readonly writer: SnapshotWriter;
  readonly queue: Uint8Array[];
  writing: boolean;
  last: boolean;
}

interface Saving {
  readonly index: number;
  readonly term: number;
  readonly writer: SnapshotWriter;
  readonly chunks: Iterator<Uint8Array>;
  size: number;
}

/** Snapshot file work for one server. */
export class SnapshotIo {
  private saving: Saving | undefined;
  private rx: Receiving | undefined;
  private metaCache: { index: number; meta: SnapshotMetaData } | undefined;

  constructor(
    private readonly store: SnapshotStore,
    private readonly notify: (msg: SnapshotIoMsg) => void,
  ) {}

  /** True while a snapshot is being saved. */
  get busy(): boolean {
    return this.saving !== undefined;
  }

  /** Starts saving a snapshot stream unless one is being saved; returns whether it started. */
  save(index: number, term: number, meta: SnapshotMetaData, stream: SnapshotStream): boolean {
    if (this.saving !== undefined) return false;
    const writer = this.store.beginWrite({ index, term, meta: encodeSnapshotMeta(meta) });
    this.saving = { index, term, writer, chunks: stream.chunks, size: stream.header.length };
    writer.writeChunk(stream.header, (error) => this.notify({ type: 'snapshot_save_step', index, error }));
    return true;
  }

  /** A chunk was written: encode and write the next one, or finish. */
  saveStep(index: number, error: DiskError | null): void {
    const s = this.saving;
    if (s === undefined || s.index !== index) return;
    const done = (err: DiskError | null): void => {
      this.saving = undefined;
      this.notify({ type: 'snapshot_saved', index, term: s.term, size: s.size, error: err });
    };
    if (error !== null) {
      s.writer.abort();
      return done(error);
    }
    const next = s.chunks.next();
    if (next.done === true) {
      s.writer.finish((err) => done(err));
      return;
    }
    s.size += next.value.length;
    s.writer.writeChunk(next.value, (err) => this.notify({ type: 'snapshot_save_step', index, error: err }));
  }

  /** The chunk [offset, offset + length) of the snapshot at `index`, with its meta (throws if it is gone). */
  chunk(index: number, offset: number, length: number): { data: Uint8Array; meta: SnapshotMetaData } {
    if (this.metaCache?.index !== index) {
      const latest = this.store.latest();
      assert(latest !== undefined && latest.index === index, () => `snapshot ${index} is no longer stored`);
      this.metaCache = { index, meta: decodeSnapshotMeta(latest.meta, index) };
    }
    return { data: length === 0 ? new Uint8Array(0) : this.store.readChunk(index, offset, length), meta: this.metaCache.meta };
  }

  /** Takes one received chunk (offset 0 starts a new snapshot). */
  receive(msg: InstallSnapshot): void {
    if (msg.offset === 0) {
      this.abort();
      const meta = encodeSnapshotMeta({ config: msg.config, configIndex: msg.configIndex, machineVersion: msg.machineVersion });
      const writer = this.store.beginWrite({ index: msg.lastIncludedIndex, term: msg.lastIncludedTerm, meta });
      this.rx = { index: msg.lastIncludedIndex, term: msg.lastIncludedTerm, size: msg.size, writer, queue: [], writing: false, last: false };
    }
    const rx = this.rx;
    if (rx === undefined || rx.index !== msg.lastIncludedIndex) return;
    if (msg.data.length > 0) rx.queue.push(msg.data);
    if (msg.done) rx.last = true;
    this.pump();
  }

  /** Continues after a chunk write completed. Returns false if the receive failed or was replaced. */
  chunkWritten(index: number, error: DiskError | null): boolean {
    const rx = this.rx;
    if (rx === undefined || rx.index !== index) return false;
    rx.writing = false;
    if (error !== null) {
      this.abort();
      return false;
    }
    this.pump();
    return true;
  }

  /** Drops a snapshot being received. */
  abort(): void {
    this.rx?.writer.abort();
    this.rx = undefined;
  }

  /** Drops everything under way (the server stops). */
  abortAll(): void {
    this.abort();
    this.saving?.writer.abort();
    this.saving = undefined;
  }

  /** Forgets the received snapshot once installed. */
  received(index: number): void {
    if (this.rx?.index === index) this.rx = undefined;
  }

  private pump(): void {
    const rx = this.rx;
    if (rx === undefined || rx.writing) return;
    const next = rx.queue.shift();
    if (next !== undefined) {
      rx.writing = true;
      rx.writer.writeChunk(next, (error) => this.notify({ type: 'snapshot_chunk_written', index: rx.index, error }));
      return;
    }
    if (rx.last) {
      rx.writing = true;
      rx.writer.finish((error) => this.notify({ type: 'snapshot_received', index: rx.index, error }));
    }
  }
}
