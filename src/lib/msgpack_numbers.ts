// Numbers in msgpack, written and read by hand where a format is built byte
// by byte (command entries, hot wire envelopes). Writing follows
// @msgpack/msgpack's choices (non-negative safe integers in their smallest
// unsigned form, everything else as float64), so either side may decode.
import { ConcordError } from './errors.js';

/** Scratch for float64s: msgpack stores them big-endian. */
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const f32 = new Float32Array(1);
const f32Bytes = new Uint8Array(f32.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes `n` takes as putNumber writes it. */
export function numberSize(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) return 9;
  return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9;
}

function putUint32(out: Uint8Array, at: number, n: number): void {
  out[at] = n >>> 24;
  out[at + 1] = (n >>> 16) & 0xff;
  out[at + 2] = (n >>> 8) & 0xff;
  out[at + 3] = n & 0xff;
}

/** The big-endian unsigned 16-bit number at `at` (in bounds: the caller's check). */
export function getUint16(b: Uint8Array, at: number): number {
  return ((b[at] as number) << 8) | (b[at + 1] as number);
}

/** The big-endian unsigned 32-bit number at `at` (in bounds: the caller's check). */
export function getUint32(b: Uint8Array, at: number): number {
  return (b[at] as number) * 0x1000000 + (((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number));
}

/** Writes `n` at `at` (room for numberSize(n) bytes is the caller's); returns the next position. */
export function putNumber(out: Uint8Array, at: number, n: number): number {
  const size = numberSize(n);
  switch (size) {
    case 1:
      out[at] = n;
      break;
    case 2:
      out[at] = 0xcc;
      out[at + 1] = n;
      break;
    case 3:
      out[at] = 0xcd;
      out[at + 1] = n >>> 8;
      out[at + 2] = n & 0xff;
      break;
    case 5:
      out[at] = 0xce;
      putUint32(out, at + 1, n);
      break;
    default:
      if (Number.isSafeInteger(n) && n >= 0) {
        out[at] = 0xcf;
        putUint32(out, at + 1, Math.floor(n / 0x100000000));
        putUint32(out, at + 5, n >>> 0);
      } else {
        out[at] = 0xcb;
        f64[0] = n;
        for (let k = 0; k < 8; k++) out[at + 1 + k] = f64Bytes[littleEndian ? 7 - k : k] as number;
      }
  }
  return at + size;
}

/** Where the last readNumber stopped (module state rather than a tuple per number: entries are read by the million). */
let readEnd = 0;

/** The position after the number readNumber read last. */
export function lastReadEnd(): number {
  return readEnd;
}

/**
 * Reads a number as putNumber writes it (an unsigned integer or a float64);
 * lastReadEnd() is then the next position. Anything else, or bytes that end
 * inside the number, is a `corrupt` ConcordError.
 */
export function readNumber(b: Uint8Array, at: number): number {
  const h = at < b.length ? (b[at] as number) : -1;
  let size = 9;
  let n: number;
  if (h >= 0 && h < 0x80) {
    size = 1;
    n = h;
  } else if (h === 0xcc) {
    size = 2;
    n = b[at + 1] as number;
  } else if (h === 0xcd) {
    size = 3;
    n = ((b[at + 1] as number) << 8) | (b[at + 2] as number);
  } else if (h === 0xce) {
    size = 5;
    n = getUint32(b, at + 1);
  } else if (h === 0xcf) {
    n = getUint32(b, at + 1) * 0x100000000 + getUint32(b, at + 5);
  } else if (h === 0xcb) {
    n = getFloat64(b, at + 1);
  } else throw new ConcordError('corrupt', 'malformed msgpack number');
  if (at + size > b.length) throw new ConcordError('corrupt', 'malformed msgpack number: the bytes end inside it');
  readEnd = at + size;
  return n;
}

/** The big-endian float64 at `at` (in bounds: the caller's check). */
export function getFloat64(b: Uint8Array, at: number): number {
  for (let k = 0; k < 8; k++) f64Bytes[littleEndian ? 7 - k : k] = b[at + k] as number;
  return f64[0] as number;
}

/** The big-endian float32 at `at`, as a number (in bounds: the caller's check). */
export function getFloat32(b: Uint8Array, at: number): number {
  for (let k = 0; k < 4; k++) f32Bytes[littleEndian ? 3 - k : k] = b[at + k] as number;
  return f32[0] as number;
}
