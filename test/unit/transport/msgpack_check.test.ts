// The check the leader runs on a command's bytes before they enter the log:
// everything it accepts must decode, on every member, into plain data.
import { describe, expect, it } from 'vitest';
import { decode, encode } from '@msgpack/msgpack';
import { msgpackProblem } from '../../../src/transport/msgpack_check.js';
import { value, defaultCodecLimits } from '../../../src/transport/wire_decode.js';
import { SeededRandom } from '../../../src/io/random.js';

const depthMax = 64;

const samples: unknown[] = [
  null,
  true,
  false,
  0,
  127,
  128,
  -1,
  -33,
  255,
  256,
  65_535,
  65_536,
  2 ** 32,
  -(2 ** 31) - 1,
  Number.MAX_SAFE_INTEGER,
  1.5,
  -2.25e300,
  '',
  'x'.repeat(31),
  'x'.repeat(32),
  'é'.repeat(200),
  'x'.repeat(65_536),
  new Uint8Array(0),
  new Uint8Array(300).fill(7),
  new Uint8Array(70_000),
  new Date(0),
  new Date(1_795_439_239_708),
  new Date(-1),
  [],
  [1, [2, [3, 'x']], { a: null }],
  { type: 'put', key: 'key-1', value: 'v'.repeat(232) },
  Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
  Array.from({ length: 70_000 }, (_, i) => i & 0xff),
];

/** The property that matters: accepted bytes decode, and the result is plain data the transport would accept. */
function decodesToPlainData(bytes: Uint8Array): boolean {
  try {
    value(decode(bytes), defaultCodecLimits);
    return true;
  } catch {
    return false;
  }
}

describe('msgpackProblem', () => {
  it('accepts every kind of value the encoder writes, at every header size', () => {
    for (const v of samples) expect(msgpackProblem(encode(v), depthMax), String(v).slice(0, 40)).toBeUndefined();
  });

  it('accepts a map with number keys, as the decoder does', () => {
    expect(msgpackProblem(new Uint8Array([0x81, 0x01, 0xa1, 0x78]), depthMax)).toBeUndefined();
    expect(decode(new Uint8Array([0x81, 0x01, 0xa1, 0x78]))).toEqual({ 1: 'x' });
  });

  const refused: [string, number[], RegExp][] = [
    ['the never-used type byte', [0xc1], /type byte/],
    ['an empty input', [], /truncated/],
    ['a truncated array', [0x92, 0x01], /truncated/],
    ['a string shorter than its header', [0xa3, 0x61], /truncated/],
    ['bytes after the value', [0x01, 0x02], /after the value/],
    ['a map key that is an array', [0x81, 0x90, 0x01], /map key/],
    ['a map key that is nil', [0x81, 0xc0, 0x01], /map key/],
    ['a map key that is binary', [0x81, 0xc4, 0x01, 0x00, 0x01], /map key/],
    ['the map key __proto__', [0x81, 0xa9, ...new TextEncoder().encode('__proto__'), 0x01], /__proto__/],
    ['an extension other than a timestamp', [0xd5, 42, 0x00, 0x00], /extension/],
    ['a timestamp of the wrong size', [0xd5, 0xff, 0x00, 0x00], /extension/],
    ['nesting deeper than the limit', [...new Array<number>(depthMax + 1).fill(0x91), 0x01], /deeper/],
    ['binary at the depth limit', [...new Array<number>(depthMax).fill(0x91), 0xc4, 0x00], /deeper/],
  ];
  for (const [what, bytes, why] of refused) {
    it(`refuses ${what}`, () => expect(msgpackProblem(new Uint8Array(bytes), depthMax)).toMatch(why));
  }

  it('accepts values nested exactly to the limit', () => {
    expect(msgpackProblem(new Uint8Array([...new Array<number>(depthMax).fill(0x91), 0x01]), depthMax)).toBeUndefined();
  });

  it('never accepts what does not decode to plain data: 20,000 mutations and random inputs (seeded)', () => {
    const r = new SeededRandom(8);
    let accepted = 0;
    for (let n = 0; n < 20_000; n++) {
      let bytes: Uint8Array;
      if (n % 4 === 0) {
        bytes = new Uint8Array(1 + r.int(12));
        for (let i = 0; i < bytes.length; i++) bytes[i] = r.int(256);
      } else {
        bytes = encode(samples[r.int(samples.length)]).slice(0, 2000);
        for (let k = 0; k <= r.int(3); k++) bytes[r.int(bytes.length)] = r.int(256);
        if (r.int(4) === 0) bytes = bytes.subarray(0, r.int(bytes.length + 1));
      }
      if (msgpackProblem(bytes, depthMax) !== undefined) continue;
      accepted++;
      expect(decodesToPlainData(bytes), Array.from(bytes.subarray(0, 16)).join(',')).toBe(true);
    }
    expect(accepted).toBeGreaterThan(1000); // the property was exercised, not vacuously true
  });
});
