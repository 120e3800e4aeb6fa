// Plain values (objects, arrays, strings, numbers, booleans, nil, byte
// arrays) in msgpack, written and read by hand: the same bytes and the same
// values as @msgpack/msgpack gives (a test compares them), at less cost on
// the paths every command takes (the client encodes it, every member decodes
// it for its machine, every message is unpacked). Strings go through
// Buffer's native UTF-8 code instead of a JavaScript loop per character:
// 230 ASCII characters cost 1.5 us to count that way here, 0.12 us natively.
//
// Anything else (a Date, a Map, a class instance, a bigint, a string with a
// lone surrogate, an extension type, a number as a map key, bytes that are not
// one well-formed value) is left to the library: the callers fall back to it,
// so behaviour and error messages stay the library's.
import type { GrowableBytes } from './bytes.js';
import { getFloat32, getFloat64, getUint16, getUint32, putNumber } from './msgpack_numbers.js';

type Utf8Write = (this: Uint8Array, s: string, offset: number, length: number) => number;
type Utf8Slice = (this: Uint8Array, start: number, end: number) => string;
const nativeBuffer = Buffer.prototype as unknown as { utf8Write: Utf8Write; utf8Slice: Utf8Slice };
const utf8Write = nativeBuffer.utf8Write;
const utf8Slice = nativeBuffer.utf8Slice;
const isWellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean }).isWellFormed;

/** Thrown inside (and caught by the entry points) when the library must do the work. */
const notHere = new Error('left to @msgpack/msgpack');

/** What readValue returns when the library must decode the bytes. */
export const unread: unique symbol = Symbol('unread');

/** Strings up to this many bytes go through a loop when ASCII, both ways (a native call costs more than a few characters). */
const shortString = 16;

// ---- writing ----

/**
 * Appends `value` to `out` as `new Encoder({ ignoreUndefined: true, maxDepth })`
 * would encode it, and returns true; returns false, with `out` as it was,
 * when the library must encode it.
 */
export function writeValue(out: GrowableBytes, value: unknown, maxDepth = 100): boolean {
  const start = out.length;
  if (prototypeTouched()) return false;
  try {
    put(out, value, 1, maxDepth);
    return true;
  } catch (e) {
    out.length = start;
    if (e === notHere) return false;
    throw e;
  }
}

function put(out: GrowableBytes, v: unknown, depth: number, maxDepth: number): void {
  if (depth > maxDepth) throw notHere;
  if (v === null || v === undefined) return writeByte(out, 0xc0);
  switch (typeof v) {
    case 'boolean':
      return writeByte(out, v ? 0xc3 : 0xc2);
    case 'number':
      return number(out, v);
    case 'string':
      return string(out, v);
    case 'object':
      break;
    default:
      throw notHere;
  }
  if (Array.isArray(v)) {
    writeArrayHead(out, v.length);
    for (let i = 0; i < v.length; i++) put(out, v[i], depth + 1, maxDepth);
    return;
  }
  if (v instanceof Uint8Array) return writeBinary(out, v);
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) throw notHere;
  // for-in rather than Object.keys: the same keys in the same order (own
  // enumerable string keys, as Object.prototype has no enumerable ones:
  // writeValue checks), without an array per object.
  const o = v as Record<string, unknown>;
  let size = 0;
  for (const k in o) if (o[k] !== undefined) size++;
  head(out, size, 0x80, 0xde);
  let written = 0;
  for (const k in o) {
    const x = o[k];
    if (x === undefined) continue;
    string(out, k);
    put(out, x, depth + 1, maxDepth);
    written++;
  }
  if (written !== size) throw notHere; // a getter changed the object meanwhile: the library writes what it sees
}

/** Whether something has added an enumerable property to Object.prototype (for-in would list it). */
function prototypeTouched(): boolean {
  for (const _ in Object.prototype) return true;
  return false;
}

/** Appends one byte. */
export function writeByte(out: GrowableBytes, b: number): void {
  out.reserve(1);
  out.bytes[out.length++] = b;
}

/** Appends bytes as they are. */
export function writeRaw(out: GrowableBytes, bytes: Uint8Array): void {
  out.reserve(bytes.length);
  out.bytes.set(bytes, out.length);
  out.length += bytes.length;
}

/** Appends an array header for `n` elements. */
export function writeArrayHead(out: GrowableBytes, n: number): void {
  head(out, n, 0x90, 0xdc);
}

/** A map or array header: the fix form below 16, then 16 and 32 bits (`code16`, `code16 + 1`). */
function head(out: GrowableBytes, n: number, fix: number, code16: number): void {
  if (n < 16) writeByte(out, fix + n);
  else sizeHead(out, n, -1, code16);
}

/**
 * A type byte and a big-endian size: 8 bits under `code8` (when the type
 * has that form; -1 when not), 16 under `code16`, 32 under `code16 + 1`.
 */
function sizeHead(out: GrowableBytes, n: number, code8: number, code16: number): void {
  out.reserve(5);
  const b = out.bytes;
  const at = out.length;
  if (n < 0x100 && code8 >= 0) {
    b[at] = code8;
    b[at + 1] = n;
    out.length += 2;
  } else if (n < 0x10000) {
    b[at] = code16;
    out.view.setUint16(at + 1, n);
    out.length += 3;
  } else {
    b[at] = code16 + 1;
    out.view.setUint32(at + 1, n);
    out.length += 5;
  }
}

/** Non-negative integers and floats as msgpack_numbers writes them (the library's forms); negative integers signed. */
function number(out: GrowableBytes, n: number): void {
  out.reserve(9);
  if (n >= 0 || !Number.isSafeInteger(n)) {
    out.length = putNumber(out.bytes, out.length, n);
    return;
  }
  const b = out.bytes;
  const at = out.length;
  if (n >= -0x20) {
    b[at] = 0xe0 | (n + 0x20);
    out.length += 1;
  } else if (n >= -0x80) {
    b[at] = 0xd0;
    out.view.setInt8(at + 1, n);
    out.length += 2;
  } else if (n >= -0x8000) {
    b[at] = 0xd1;
    out.view.setInt16(at + 1, n);
    out.length += 3;
  } else if (n >= -0x80000000) {
    b[at] = 0xd2;
    out.view.setInt32(at + 1, n);
    out.length += 5;
  } else {
    b[at] = 0xd3;
    out.view.setUint32(at + 1, Math.floor(n / 0x100000000));
    out.view.setUint32(at + 5, n >>> 0);
    out.length += 9;
  }
}

function string(out: GrowableBytes, s: string): void {
  const n = s.length;
  if (n <= shortString) {
    // Short ASCII (keys, tags) in a loop, as when reading.
    out.reserve(1 + n);
    const b = out.bytes;
    const at = out.length;
    let k = 0;
    for (; k < n; k++) {
      const c = s.charCodeAt(k);
      if (c >= 0x80) break;
      b[at + 1 + k] = c;
    }
    if (k === n) {
      b[at] = 0xa0 + n;
      out.length += 1 + n;
      return;
    }
  }
  const size = Buffer.byteLength(s, 'utf8');
  // Well-formed strings encode alike everywhere; lone surrogates differ between the library's two encoders.
  if (size !== n && !isWellFormed.call(s)) throw notHere;
  if (size < 32) writeByte(out, 0xa0 + size);
  else sizeHead(out, size, 0xd9, 0xda);
  out.reserve(size);
  utf8Write.call(out.bytes, s, out.length, size);
  out.length += size;
}

/** Appends a byte array (bin 8, 16 or 32). */
export function writeBinary(out: GrowableBytes, v: Uint8Array): void {
  sizeHead(out, v.length, 0xc4, 0xc5);
  writeRaw(out, v);
}

// ---- reading ----

// The reader's cursor: module state, as a read is synchronous and never re-entered.
let src: Uint8Array = new Uint8Array(0);
let pos = 0;
let end = 0;

/** Nesting the reader takes on itself; deeper values go to the library (which has no such limit). */
const readDepthMax = 64;

/**
 * The one value in `bytes[start, end)`, as `new Decoder().decode` would give
 * it (byte arrays are views into `bytes`), or `unread` when the library must
 * decode it: a type this reader leaves alone, or bytes that are not exactly
 * one well-formed value (the library then says what is wrong).
 */
export function readValue(bytes: Uint8Array, start = 0, stop = bytes.length): unknown {
  src = bytes;
  pos = start;
  end = stop;
  try {
    const v = value(0);
    return pos === end ? v : unread;
  } catch (e) {
    if (e === notHere) return unread;
    throw e;
  } finally {
    src = empty;
  }
}

const empty = new Uint8Array(0);

function need(n: number): void {
  if (pos + n > end) throw notHere;
}

function u8(): number {
  need(1);
  return src[pos++] as number;
}

function u16(): number {
  need(2);
  pos += 2;
  return getUint16(src, pos - 2);
}

function u32(): number {
  need(4);
  pos += 4;
  return getUint32(src, pos - 4);
}

/** The length of a string whose type byte is `h`, or -1 when `h` is not a string's. */
function strLength(h: number): number {
  if (h >= 0xa0 && h <= 0xbf) return h & 0x1f;
  if (h === 0xd9) return u8();
  if (h === 0xda) return u16();
  if (h === 0xdb) return u32();
  return -1;
}

function value(depth: number): unknown {
  const h = u8();
  if (h < 0x80) return h;
  if (h >= 0xe0) return h - 0x100;
  const n = strLength(h);
  if (n >= 0) return str(n);
  if (h <= 0x8f) return map(h & 0x0f, depth);
  if (h <= 0x9f) return array(h & 0x0f, depth);
  switch (h) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return bin(u8());
    case 0xc5:
      return bin(u16());
    case 0xc6:
      return bin(u32());
    case 0xca:
      need(4);
      pos += 4;
      return getFloat32(src, pos - 4);
    case 0xcb:
      need(8);
      pos += 8;
      return getFloat64(src, pos - 8);
    case 0xcc:
      return u8();
    case 0xcd:
      return u16();
    case 0xce:
      return u32();
    case 0xcf: {
      const high = u32();
      return high * 0x100000000 + u32();
    }
    case 0xd0:
      return (u8() << 24) >> 24;
    case 0xd1:
      return (u16() << 16) >> 16;
    case 0xd2:
      return u32() | 0;
    case 0xd3: {
      const high = u32() | 0;
      return high * 0x100000000 + u32();
    }
    case 0xdc:
      return array(u16(), depth);
    case 0xdd:
      return array(u32(), depth);
    case 0xde:
      return map(u16(), depth);
    case 0xdf:
      return map(u32(), depth);
    default:
      throw notHere; // extensions, and 0xc1 (never used)
  }
}

function str(n: number): string {
  need(n);
  if (n <= shortString) {
    const s = shortAscii(n);
    if (s !== undefined) return s;
  }
  const s = utf8Slice.call(src, pos, pos + n);
  pos += n;
  // The library decodes malformed UTF-8 its own ways (each bad byte is a
  // U+FFFD here), and drops a leading byte-order mark from long strings
  // (TextDecoder): leave those to it. An ASCII string is a one-byte string,
  // which V8 searches for U+FFFD without scanning.
  if (s.includes('\ufffd') || (n > 200 && s.charCodeAt(0) === 0xfeff)) throw notHere;
  return s;
}

/**
 * Short ASCII strings recently read, by a hash of their bytes. Names, map
 * keys and tags repeat in every message: a hit allocates nothing (building a
 * string a character at a time allocates one per character), and a machine
 * that keys a Map by it gets a string whose hash is already computed.
 */
const recent = new Array<string | undefined>(1024).fill(undefined);

/** The short string at `pos` (n bytes, in bounds) if it is ASCII, from `recent` when there. */
function shortAscii(n: number): string | undefined {
  const stop = pos + n;
  let h = n;
  for (let k = pos; k < stop; k++) {
    const c = src[k] as number;
    if (c >= 0x80) return undefined;
    h = (Math.imul(h, 31) + c) | 0;
  }
  const slot = (h ^ (h >>> 10)) & 1023;
  const known = recent[slot];
  if (known !== undefined && known.length === n) {
    let k = 0;
    while (k < n && known.charCodeAt(k) === src[pos + k]) k++;
    if (k === n) {
      pos = stop;
      return known;
    }
  }
  let s = '';
  for (let k = pos; k < stop; k++) s += String.fromCharCode(src[k] as number);
  recent[slot] = s;
  pos = stop;
  return s;
}

function bin(n: number): Uint8Array {
  need(n);
  const b = src.subarray(pos, pos + n);
  pos += n;
  return b;
}

function array(n: number, depth: number): unknown[] {
  if (depth >= readDepthMax || n > end - pos) throw notHere; // every element takes a byte at least
  const a = new Array<unknown>(n);
  for (let i = 0; i < n; i++) a[i] = value(depth + 1);
  return a;
}

function map(n: number, depth: number): Record<string, unknown> {
  if (depth >= readDepthMax || 2 * n > end - pos) throw notHere;
  const o: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const length = strLength(u8());
    if (length < 0) throw notHere; // numbers as keys, and what the library refuses
    const k = str(length);
    if (k === '__proto__') throw notHere;
    o[k] = value(depth + 1);
  }
  return o;
}
