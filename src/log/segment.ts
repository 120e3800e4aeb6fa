// Segment files: a log's entries moved out of the WAL. A file is a run of
// chunks; each chunk carries its own index (term, length, CRC per entry) so
// that reading one entry costs one positioned read. SegmentReader holds a
// file's index in memory (cached in a bounded LRU by the LogSystem).
import { assert } from '../lib/assert.js';
import { ConcordError } from '../lib/errors.js';
import { crc32c } from '../lib/crc32c.js';
import type { Disk, FileHandle } from '../io/disk.js';
import type { LogEntry } from './events.js';

/**
 * Chunk header (48 bytes, little-endian): u32 magic 'CSEG', u32 CRC32C of the
 * rest of the header and the index, u32 entry count, u32 flags (bit 0: cut;
 * bits 16-31: version), u64 cutAfter, u64 first index, u64 data bytes, u64 zero.
 * Then the index (16 bytes per entry: u64 term, u32 length, u32 payload CRC32C),
 * then the payloads back to back. Counts and sizes are 32 bits or wider.
 */
export const CHUNK_HEADER_BYTES = 48;
/** Bytes per entry in a chunk's index. */
export const CHUNK_INDEX_ENTRY_BYTES = 16;
const CHUNK_MAGIC = 0x47455343; // 'CSEG'
const CHUNK_VERSION = 1;
const FLAG_CUT = 1;
const TWO_32 = 4294967296;

/** A chunk ready to be written, with the index information a reader needs. */
export interface EncodedChunk {
  bytes: Uint8Array;
  first: number;
  count: number;
  cutAfter: number | undefined;
  terms: Float64Array;
  lengths: Uint32Array;
  crcs: Uint32Array;
}

/** Encodes entries first..first+count-1 (read through `get`) as one chunk, optionally cutting the log after `cutAfter` first. */
export function encodeChunk(get: (index: number) => LogEntry, first: number, count: number, cutAfter: number | undefined): EncodedChunk {
  let dataBytes = 0;
  for (let i = 0; i < count; i++) dataBytes += get(first + i).payload.length;
  const indexBytes = count * CHUNK_INDEX_ENTRY_BYTES;
  const bytes = new Uint8Array(CHUNK_HEADER_BYTES + indexBytes + dataBytes);
  const v = new DataView(bytes.buffer);
  const terms = new Float64Array(count);
  const lengths = new Uint32Array(count);
  const crcs = new Uint32Array(count);
  let data = CHUNK_HEADER_BYTES + indexBytes;
  for (let i = 0; i < count; i++) {
    const e = get(first + i);
    assert(e.index === first + i, 'chunk entries must be contiguous');
    const o = CHUNK_HEADER_BYTES + i * CHUNK_INDEX_ENTRY_BYTES;
    const crc = crc32c(e.payload);
    terms[i] = e.term;
    lengths[i] = e.payload.length;
    crcs[i] = crc;
    putU64(v, o, e.term);
    v.setUint32(o + 8, e.payload.length, true);
    v.setUint32(o + 12, crc, true);
    bytes.set(e.payload, data);
    data += e.payload.length;
  }
  v.setUint32(0, CHUNK_MAGIC, true);
  v.setUint32(8, count, true);
  v.setUint32(12, (CHUNK_VERSION << 16) | (cutAfter === undefined ? 0 : FLAG_CUT), true);
  putU64(v, 16, cutAfter ?? 0);
  putU64(v, 24, first);
  putU64(v, 32, dataBytes);
  putU64(v, 40, 0);
  v.setUint32(4, crc32c(bytes, 8, CHUNK_HEADER_BYTES + indexBytes), true);
  return { bytes, first, count, cutAfter, terms, lengths, crcs };
}

function putU64(v: DataView, o: number, value: number): void {
  v.setUint32(o, value >>> 0, true);
  v.setUint32(o + 4, Math.floor(value / TWO_32), true);
}

function getU64(v: DataView, o: number): number {
  return v.getUint32(o, true) + v.getUint32(o + 4, true) * TWO_32;
}

/** What scanning a segment file found. */
export interface SegmentScan {
  reader: SegmentReader;
  /** Lowest cut found in the file: entries after it in earlier files are void. */
  cutAfter: number | undefined;
  /** Offset of the first byte that is not part of a valid chunk, when the file does not end cleanly. */
  invalidAt: number | undefined;
}

/** The index of one segment file, with a handle opened on first read. */
export class SegmentReader {
  /** Physical first index held by the file (its entries are first..first+count-1). */
  first = 0;
  count = 0;
  /** End of the last valid chunk. */
  size = 0;
  private terms = new Float64Array(16);
  private offsets = new Float64Array(16);
  private lengths = new Uint32Array(16);
  private crcs = new Uint32Array(16);
  private handle: FileHandle | undefined;

  constructor(
    private readonly disk: Disk,
    readonly path: string,
  ) {}

  /** Reads every chunk header and index of the file at `path`. */
  static scan(disk: Disk, path: string): SegmentScan {
    const reader = new SegmentReader(disk, path);
    const handle = disk.openSync(path, 'read');
    reader.handle = handle;
    const fileSize = disk.sizeSync(handle);
    let pos = 0;
    let cutAfter: number | undefined;
    let head = new Uint8Array(64 * 1024);
    while (pos < fileSize) {
      const n = disk.readSync(handle, head, pos);
      if (n < CHUNK_HEADER_BYTES) break;
      const v = new DataView(head.buffer, 0, n);
      if (v.getUint32(0, true) !== CHUNK_MAGIC || v.getUint32(12, true) >>> 16 !== CHUNK_VERSION) break;
      const count = v.getUint32(8, true);
      const indexEnd = CHUNK_HEADER_BYTES + count * CHUNK_INDEX_ENTRY_BYTES;
      if (indexEnd > fileSize - pos) break;
      if (indexEnd > n) {
        head = new Uint8Array(indexEnd);
        if (disk.readSync(handle, head, pos) < indexEnd) break;
      }
      const chunk = new DataView(head.buffer, 0, indexEnd);
      if (crc32c(head, 8, indexEnd) !== chunk.getUint32(4, true)) break;
      const dataBytes = getU64(chunk, 32);
      if (pos + indexEnd + dataBytes > fileSize) break;
      const hasCut = (chunk.getUint32(12, true) & FLAG_CUT) !== 0;
      const cut = getU64(chunk, 16);
      if (hasCut) {
        cutAfter = cutAfter === undefined ? cut : Math.min(cutAfter, cut);
        reader.cutAfter(cut);
      }
      if (!reader.addIndex(chunk, getU64(chunk, 24), count, pos + indexEnd, dataBytes)) break;
      pos += indexEnd + dataBytes;
      reader.size = pos;
    }
    return { reader, cutAfter, invalidAt: pos < fileSize ? pos : undefined };
  }

  /** Index of the last entry held (first - 1 when none). */
  get last(): number {
    return this.first + this.count - 1;
  }

  /** Adds a chunk the segment writer wrote at `chunkOffset` (keeps a cached index current). */
  addChunk(chunk: EncodedChunk, chunkOffset: number): void {
    if (chunk.cutAfter !== undefined) this.cutAfter(chunk.cutAfter);
    if (chunk.count === 0) {
      this.size = chunkOffset + chunk.bytes.length;
      return;
    }
    this.prepareAppend(chunk.first, chunk.count);
    let offset = chunkOffset + CHUNK_HEADER_BYTES + chunk.count * CHUNK_INDEX_ENTRY_BYTES;
    for (let i = 0; i < chunk.count; i++) {
      const k = this.count + i;
      this.terms[k] = chunk.terms[i] as number;
      this.offsets[k] = offset;
      this.lengths[k] = chunk.lengths[i] as number;
      this.crcs[k] = chunk.crcs[i] as number;
      offset += chunk.lengths[i] as number;
    }
    this.count += chunk.count;
    this.size = chunkOffset + chunk.bytes.length;
  }

  /** The term of `index`, if the file holds it. */
  termAt(index: number): number | undefined {
    const k = index - this.first;
    return k >= 0 && k < this.count ? this.terms[k] : undefined;
  }

  /** Reads entries from..to (all held by this file), one read per contiguous run, checking every CRC. */
  readRange(from: number, to: number, out: LogEntry[], maxBytes = Infinity, bytesSoFar = 0): number {
    assert(from >= this.first && to <= this.last, () => `segment ${this.path} holds ${this.first}..${this.last}, not ${from}..${to}`);
    let bytes = bytesSoFar;
    let k = from - this.first;
    const end = to - this.first;
    while (k <= end) {
      // Extend the run while entries lie back to back and the byte budget allows.
      let j = k;
      let runBytes = this.lengths[k] as number;
      if (out.length > 0 && bytes + runBytes > maxBytes) return bytes;
      while (j < end && this.offsets[j + 1] === (this.offsets[j] as number) + (this.lengths[j] as number)) {
        const next = this.lengths[j + 1] as number;
        if (bytes + runBytes + next > maxBytes) break;
        runBytes += next;
        j++;
      }
      const buf = new Uint8Array(runBytes);
      const base = this.offsets[k] as number;
      const n = this.disk.readSync(this.open(), buf, base);
      if (n < runBytes) throw new ConcordError('corrupt', `segment ${this.path} is shorter than its index (offset ${base})`);
      for (let i = k; i <= j; i++) {
        const off = (this.offsets[i] as number) - base;
        const payload = buf.subarray(off, off + (this.lengths[i] as number));
        if (crc32c(payload) !== this.crcs[i]) {
          throw new ConcordError('corrupt', `segment ${this.path}: entry ${this.first + i} fails its checksum at offset ${this.offsets[i]}`);
        }
        out.push({ index: this.first + i, term: this.terms[i] as number, payload });
      }
      bytes += runBytes;
      k = j + 1;
    }
    return bytes;
  }

  /** Closes the handle (the index stays usable; a later read reopens). */
  close(): void {
    if (this.handle === undefined) return;
    const h = this.handle;
    this.handle = undefined;
    this.disk.closeSync(h);
  }

  private open(): FileHandle {
    this.handle ??= this.disk.openSync(this.path, 'read');
    return this.handle;
  }

  /** Drops entries after `index` (a cut in this file). */
  private cutAfter(index: number): void {
    if (this.count === 0) return;
    this.count = Math.max(0, Math.min(this.count, index - this.first + 1));
  }

  /** Makes room for `count` entries starting at `first`, cutting an overlap. */
  private prepareAppend(first: number, count: number): void {
    if (this.count === 0) this.first = first;
    else {
      assert(first >= this.first && first <= this.last + 1, () => `segment ${this.path}: chunk at ${first} does not follow ${this.last}`);
      this.count = first - this.first;
    }
    const need = this.count + count;
    if (need <= this.terms.length) return;
    let cap = this.terms.length * 2;
    while (cap < need) cap *= 2;
    this.terms = grow(this.terms, new Float64Array(cap));
    this.offsets = grow(this.offsets, new Float64Array(cap));
    this.lengths = grow(this.lengths, new Uint32Array(cap));
    this.crcs = grow(this.crcs, new Uint32Array(cap));
  }

  /** Parses a chunk's index (already validated) into the arrays. False when it cannot follow what is held. */
  private addIndex(chunk: DataView, first: number, count: number, dataOffset: number, dataBytes: number): boolean {
    if (count === 0) return true;
    if (this.count > 0 && (first < this.first || first > this.last + 1)) return false;
    let total = 0;
    for (let i = 0; i < count; i++) total += chunk.getUint32(CHUNK_HEADER_BYTES + i * CHUNK_INDEX_ENTRY_BYTES + 8, true);
    if (total !== dataBytes) return false;
    this.prepareAppend(first, count);
    let offset = dataOffset;
    for (let i = 0; i < count; i++) {
      const o = CHUNK_HEADER_BYTES + i * CHUNK_INDEX_ENTRY_BYTES;
      const k = this.count + i;
      const len = chunk.getUint32(o + 8, true);
      this.terms[k] = getU64(chunk, o);
      this.offsets[k] = offset;
      this.lengths[k] = len;
      this.crcs[k] = chunk.getUint32(o + 12, true);
      offset += len;
    }
    this.count += count;
    return true;
  }
}

function grow<T extends Float64Array | Uint32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/** Name of segment file number `seq`. */
export function segmentFileName(seq: number): string {
  return `${String(seq).padStart(10, '0')}.seg`;
}

/** The number in a segment file name, or undefined for other names. */
export function segmentFileSeq(name: string): number | undefined {
  const m = /^(\d{10})\.seg$/.exec(name);
  return m === null ? undefined : Number(m[1]);
}
