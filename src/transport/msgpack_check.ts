// A check that bytes hold exactly one msgpack value that the log's decoder
// (@msgpack/msgpack with default options) will decode into plain data: the
// leader checks a command this way before it enters the log, without
// building the objects (only the machine's apply needs them). It allocates
// nothing on success: it runs for every command.

import { getUint16, getUint32 } from '../lib/msgpack_numbers.js';

/** Why bytes are not an acceptable value; thrown inside the scan only. */
class Problem {
  constructor(readonly detail: string) {}
}

const proto = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f]; // "__proto__"

/** The msgpack timestamp extension: the one extension the decoder turns into plain data (a Date). */
const extTimestamp = 0xff;

const empty = new Uint8Array(0);

// The scan's cursor: module state, as the scan is synchronous and never re-entered.
let b: Uint8Array = empty;
let pos = 0;
let depthMax = 0;

/** Bytes that follow the type byte of the fixed-size numbers: floats, unsigned and signed integers. */
const numberBytes = new Map([
  [0xca, 4], [0xcb, 8], [0xcc, 1], [0xcd, 2], [0xce, 4], [0xcf, 8], [0xd0, 1], [0xd1, 2], [0xd2, 4], [0xd3, 8],
]);

/** Data bytes of the fixext formats. */
const fixextBytes = new Map([
  [0xd4, 1], [0xd5, 2], [0xd6, 4], [0xd7, 8], [0xd8, 16],
]);

/** One value at `depth`; as a map key only strings and numbers are allowed (as the decoder requires). */
function value(depth: number, key: boolean): void {
  const h = u8();
  if (h <= 0x7f || h >= 0xe0) return; // fixint
  const number = numberBytes.get(h);
  if (number !== undefined) return skip(number);
  if (h >= 0xa0 && h <= 0xbf) return str(h & 0x1f, key);
  if (h === 0xd9) return str(u8(), key);
  if (h === 0xda) return str(u16(), key);
  if (h === 0xdb) return str(u32(), key);
  if (key) throw new Problem('a map key that is not a string or a number');
  if (h === 0xc0 || h === 0xc2 || h === 0xc3) return; // nil, false, true
  if (depth >= depthMax) throw new Problem(`nested deeper than ${depthMax}`);
  const fixext = fixextBytes.get(h);
  if (fixext !== undefined) return ext(fixext);
  if (h >= 0x80 && h <= 0x8f) return map(h & 0x0f, depth);
  if (h >= 0x90 && h <= 0x9f) return array(h & 0x0f, depth);
  switch (h) {
    case 0xc4:
      return skip(u8());
    case 0xc5:
      return skip(u16());
    case 0xc6:
      return skip(u32());
    case 0xc7:
      return ext(u8());
    case 0xc8:
      return ext(u16());
    case 0xc9:
      return ext(u32());
    case 0xdc:
      return array(u16(), depth);
    case 0xdd:
      return array(u32(), depth);
    case 0xde:
      return map(u16(), depth);
    case 0xdf:
      return map(u32(), depth);
    default:
      throw new Problem(`unsupported msgpack type byte 0x${h.toString(16)}`);
  }
}

function array(n: number, depth: number): void {
  for (let i = 0; i < n; i++) value(depth + 1, false);
}

function map(n: number, depth: number): void {
  for (let i = 0; i < n; i++) {
    value(depth + 1, true);
    value(depth + 1, false);
  }
}

function str(length: number, key: boolean): void {
  const at = pos;
  skip(length);
  if (key && length === proto.length && proto.every((c, i) => b[at + i] === c)) throw new Problem('the map key __proto__');
}

/** An extension of `length` bytes: only a timestamp of 4, 8 or 12 bytes decodes to plain data. */
function ext(length: number): void {
  const type = u8();
  if (type !== extTimestamp || (length !== 4 && length !== 8 && length !== 12)) throw new Problem(`unsupported extension type ${type} of ${length} bytes`);
  skip(length);
}

function skip(n: number): void {
  if (pos + n > b.length) throw new Problem('truncated');
  pos += n;
}

function u8(): number {
  skip(1);
  return b[pos - 1] as number;
}

function u16(): number {
  skip(2);
  return getUint16(b, pos - 2);
}

function u32(): number {
  skip(4);
  return getUint32(b, pos - 4);
}

/**
 * Why `bytes` are not exactly one msgpack value of plain data (nil, booleans,
 * numbers, strings, binaries, timestamps, arrays, maps with string or number
 * keys) nested at most `maxDepth` deep; undefined when they are.
 */
export function msgpackProblem(bytes: Uint8Array, maxDepth: number): string | undefined {
  b = bytes;
  pos = 0;
  depthMax = maxDepth;
  try {
    value(0, false);
    return pos === bytes.length ? undefined : `${bytes.length - pos} bytes after the value`;
  } catch (e) {
    if (e instanceof Problem) return e.detail;
    throw e;
  } finally {
    b = empty; // keep no reference to the socket's buffer
  }
}
