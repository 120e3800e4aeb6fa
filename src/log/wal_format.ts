// The WAL's on-disk format: a 16-byte file header, then records framed as
// length, CRC32C, kind, group, index, term, payload. Encoding into a batch
// buffer and scanning a file's bytes back into records.
import { assert } from '../lib/assert.js';
import { crc32c } from '../lib/crc32c.js';
import { GrowableBytes } from '../lib/bytes.js';

/** File header: magic 'CWAL', format version, file sequence number. */
export const WAL_HEADER_BYTES = 16;
const WAL_MAGIC = 0x4c415743; // 'CWAL' little-endian
const WAL_VERSION = 1;

/** Record header: u32 length, u32 crc, u8 kind, 3 zero bytes, u32 group, u64 index, u64 term. */
export const RECORD_HEADER_BYTES = 32;
/** Bytes of a record body that are not payload (kind .. term). */
const BODY_FIXED_BYTES = RECORD_HEADER_BYTES - 8;
const TWO_32 = 4294967296;

/** What a record says. */
export type RecordKind = 'entry' | 'truncate' | 'reset' | 'group' | 'delete';
const KIND_CODE: Record<RecordKind, number> = { entry: 1, truncate: 2, reset: 3, group: 4, delete: 5 };
const CODE_KIND: (RecordKind | undefined)[] = [undefined, 'entry', 'truncate', 'reset', 'group', 'delete'];

/**
 * A growable byte buffer that records are encoded into; one batch becomes one
 * `write`. Buffers are reused across batches (see `reset`).
 */
export class WalBuffer extends GrowableBytes {
  constructor(capacity = 1 << 16) {
    super(capacity);
  }

  /** Appends the header of WAL file number `seq`. */
  putFileHeader(seq: number): void {
    this.reserve(WAL_HEADER_BYTES);
    const v = this.view;
    const o = this.length;
    v.setUint32(o, WAL_MAGIC, true);
    v.setUint32(o + 4, WAL_VERSION, true);
    v.setUint32(o + 8, seq >>> 0, true);
    v.setUint32(o + 12, Math.floor(seq / TWO_32), true);
    this.length += WAL_HEADER_BYTES;
  }

  /** Appends one record; returns its encoded size. */
  putRecord(kind: RecordKind, group: number, index: number, term: number, payload: Uint8Array | undefined): number {
    const payloadBytes = payload === undefined ? 0 : payload.length;
    const size = RECORD_HEADER_BYTES + payloadBytes;
    this.reserve(size);
    const v = this.view;
    const o = this.length;
    v.setUint32(o, BODY_FIXED_BYTES + payloadBytes, true);
    v.setUint32(o + 8, KIND_CODE[kind], true); // kind byte plus three zero bytes
    v.setUint32(o + 12, group, true);
    v.setUint32(o + 16, index >>> 0, true);
    v.setUint32(o + 20, Math.floor(index / TWO_32), true);
    v.setUint32(o + 24, term >>> 0, true);
    v.setUint32(o + 28, Math.floor(term / TWO_32), true);
    if (payload !== undefined) this.bytes.set(payload, o + RECORD_HEADER_BYTES);
    v.setUint32(o + 4, crc32c(this.bytes, o + 8, o + size), true);
    this.length += size;
    return size;
  }
}

/** The encoded size of an entry record with `payloadBytes` of payload. */
export function recordBytes(payloadBytes: number): number {
  return RECORD_HEADER_BYTES + payloadBytes;
}

/** Reads a file header; the sequence number, or undefined when it is not a valid header. */
export function readFileHeader(bytes: Uint8Array): number | undefined {
  if (bytes.length < WAL_HEADER_BYTES) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, WAL_HEADER_BYTES);
  if (v.getUint32(0, true) !== WAL_MAGIC || v.getUint32(4, true) !== WAL_VERSION) return undefined;
  return v.getUint32(8, true) + v.getUint32(12, true) * TWO_32;
}

/** Receives each valid record of a scan; `payload` is a view into the scanned bytes. */
export type RecordVisitor = (kind: RecordKind, group: number, index: number, term: number, payload: Uint8Array, offset: number) => void;

/**
 * Visits the records of a WAL file's bytes in order, starting after the header.
 * Returns the offset of the first byte that is not part of a valid record
 * (the file's length when every record is valid).
 */
export function scanRecords(bytes: Uint8Array, visit: RecordVisitor): number {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const end = bytes.length;
  let o = WAL_HEADER_BYTES;
  while (o + RECORD_HEADER_BYTES <= end) {
    const body = v.getUint32(o, true);
    if (body < BODY_FIXED_BYTES || body > end - o - 8) break;
    const kindWord = v.getUint32(o + 8, true);
    const kind = kindWord <= 0xff ? CODE_KIND[kindWord] : undefined;
    if (kind === undefined) break;
    if (crc32c(bytes, o + 8, o + 8 + body) !== v.getUint32(o + 4, true)) break;
    const group = v.getUint32(o + 12, true);
    const index = v.getUint32(o + 16, true) + v.getUint32(o + 20, true) * TWO_32;
    const term = v.getUint32(o + 24, true) + v.getUint32(o + 28, true) * TWO_32;
    visit(kind, group, index, term, bytes.subarray(o + RECORD_HEADER_BYTES, o + 8 + body), o);
    o += 8 + body;
  }
  return o;
}

/** `seq` zero-padded to 16 digits (so that names sort by number), then `.ext`. */
function numberedName(seq: number, ext: string): string {
  assert(Number.isSafeInteger(seq) && seq >= 0, 'bad WAL sequence number');
  return `${String(seq).padStart(16, '0')}.${ext}`;
}

/** The number in a name `numberedName` made with `ext`, or undefined for other names. */
function numberedSeq(name: string, ext: string): number | undefined {
  const m = /^(\d{16})\.(\w+)$/.exec(name);
  return m !== null && m[2] === ext ? Number(m[1]) : undefined;
}

/** Name of WAL file number `seq`. */
export function walFileName(seq: number): string {
  return numberedName(seq, 'wal');
}

/** The sequence number in a WAL file name, or undefined for other names. */
export function walFileSeq(name: string): number | undefined {
  return numberedSeq(name, 'wal');
}

/**
 * Name of a spare: a file allocated in advance (zeros only) for WAL file number
 * `seq`, renamed to that file's name when the WAL rolls into it. Only zeros are
 * ever written under this name, so a restart can take a spare over unread.
 */
export function walSpareName(seq: number): string {
  return numberedName(seq, 'spare');
}

/** The sequence number in a spare's name, or undefined for other names. */
export function walSpareSeq(name: string): number | undefined {
  return numberedSeq(name, 'spare');
}
