// The hand-written msgpack reader and writer must be the library, only
// faster: the same bytes for every value they write, the same value for
// every byte string they read, and a fall-back (never a different answer)
// for everything else.
import { describe, expect, it } from 'vitest';
import { Decoder, Encoder } from '@msgpack/msgpack';
import { GrowableBytes } from '../../../src/lib/bytes.js';
import { readValue, unread, writeValue } from '../../../src/lib/msgpack_values.js';
import { SeededRandom } from '../../../src/io/random.js';

const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder();

function written(v: unknown, maxDepth?: number): Uint8Array | undefined {
  const out = new GrowableBytes(8);
  out.length = 3; // something before, as in a message
  if (!writeValue(out, v, maxDepth)) {
    expect(out.length).toBe(3);
    return undefined;
  }
  return out.written().slice(3);
}

const numbers = [
  0, -0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1), -1, -32, -33, -128, -129,
  -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 2 ** 53, -(2 ** 53), 0.5, -1.25, 1e300, Number.MIN_VALUE, NaN, Infinity, -Infinity,
];
const strings = ['', 'a', 'put', 'key-12345', 'x'.repeat(16), 'y'.repeat(17), 'v'.repeat(31), 'v'.repeat(32), 'v'.repeat(230), 'w'.repeat(256), 'héllo', '日本語のテキスト', '😀 emoji', 'é'.repeat(120)];
/** Strings kept out of the random values: too big to print when a test fails, or left to the library by the reader. */
const oddStrings = ['z'.repeat(70_000), '\ufeff' + 'b'.repeat(300), 'a \ufffd replacement character'];

function randomValue(r: SeededRandom, depth: number): unknown {
  const pick = Math.floor(r.next() * (depth > 3 ? 6 : 9));
  switch (pick) {
    case 0:
      return numbers[Math.floor(r.next() * numbers.length)];
    case 1:
      return strings[Math.floor(r.next() * strings.length)];
    case 2:
      return r.next() < 0.5 ? null : r.next() < 0.5;
    case 3:
      return Math.floor((r.next() - 0.5) * 2 ** (r.next() * 60));
    case 4:
      return Uint8Array.from({ length: Math.floor(r.next() * 300) }, (_, i) => i & 0xff);
    case 5:
      return (r.next() - 0.5) * 1e6;
    case 6:
      return Array.from({ length: Math.floor(r.next() * 20) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      const n = Math.floor(r.next() * 20);
      for (let i = 0; i < n; i++) o[strings[Math.floor(r.next() * 9)] + String(i)] = r.next() < 0.1 ? undefined : randomValue(r, depth + 1);
      return o;
    }
  }
}

/** Byte equality (vitest's deep equality is slow on arrays of many thousand bytes). */
function expectSameBytes(actual: Uint8Array | undefined, expected: Uint8Array, what: string): void {
  expect(actual, what).toBeDefined();
  const a = Buffer.from(actual as Uint8Array);
  if (!a.equals(expected)) expect(a.toString('hex'), what).toBe(Buffer.from(expected).toString('hex'));
}

describe('writeValue', () => {
  it('writes the bytes the library writes, for every kind of plain value', () => {
    for (const v of [...numbers, ...strings, ...oddStrings, null, undefined, true, false, new Uint8Array(0), new Uint8Array(70_000).fill(7), Buffer.from('bytes')]) {
      expectSameBytes(written(v), encoder.encode(v), String(v).slice(0, 40));
    }
    const r = new SeededRandom(7);
    for (let i = 0; i < 500; i++) {
      const v = randomValue(r, 0);
      expectSameBytes(written(v), encoder.encode(v), `random value ${i}`);
    }
    const wide = Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`k${i}`, i]));
    expectSameBytes(written(wide), encoder.encode(wide), 'a map of 70,000 keys');
    const long = Array.from({ length: 70_000 }, (_, i) => i);
    expectSameBytes(written(long), encoder.encode(long), 'an array of 70,000 numbers');
  });

  it('leaves to the library what only it writes', () => {
    class Point {
      constructor(readonly x: number) {}
    }
    for (const v of [new Date(0), new Map([[1, 2]]), new Point(1), 10n, Symbol('s'), () => 1, new Int16Array(2), 'lone \ud800 surrogate', { a: [new Date(0)] }]) {
      expect(written(v)).toBeUndefined();
    }
  });

  it('lists the keys the library lists: none inherited, and what a getter leaves', () => {
    const withGetter = () => ({
      a: 1,
      get b(): number {
        delete (this as { c?: number }).c;
        return 2;
      },
      c: 3,
    });
    expectSameBytes(written(withGetter()), encoder.encode(withGetter()), 'a getter that deletes a later key');
    const proto = Object.prototype as Record<string, unknown>;
    proto['polluted'] = 1;
    try {
      expect(written({ a: 1 })).toBeUndefined(); // for-in would list 'polluted': the library writes it
    } finally {
      delete proto['polluted'];
    }
    expectSameBytes(written({ a: 1 }), encoder.encode({ a: 1 }), 'after the prototype is clean again');
  });

  it('refuses nesting exactly where the library does', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 5; i++) deep = [deep];
    expect(() => new Encoder({ maxDepth: 5 }).encode(deep)).toThrow(/Too deep/);
    expect(written(deep, 5)).toBeUndefined();
    expectSameBytes(written(deep, 6), new Encoder({ maxDepth: 6 }).encode(deep), 'six levels');
  });
});

describe('readValue', () => {
  it('reads every value the library writes as the library reads it', () => {
    const r = new SeededRandom(11);
    for (let i = 0; i < 300; i++) {
      const bytes = encoder.encode(randomValue(r, 0));
      expect(readValue(bytes)).toEqual(decoder.decode(bytes));
    }
    for (const v of [...numbers, ...strings]) expect(readValue(encoder.encode(v))).toEqual(decoder.decode(encoder.encode(v)));
  });

  it('reads the forms the library does not write: float32, signed and unsigned 64-bit, map and array 32', () => {
    const cases = [
      [0xca, 0x3f, 0xc0, 0x00, 0x00],
      [0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02],
      [0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe],
      [0xd0, 0x05],
      [0xd1, 0xff, 0x00],
      [0xdd, 0x00, 0x00, 0x00, 0x01, 0xc3],
      [0xdf, 0x00, 0x00, 0x00, 0x01, 0xa1, 0x6b, 0x07],
      [0xdb, 0x00, 0x00, 0x00, 0x02, 0x68, 0x69],
      [0xc6, 0x00, 0x00, 0x00, 0x01, 0x09],
    ];
    for (const c of cases) expect(readValue(Uint8Array.from(c))).toEqual(decoder.decode(Uint8Array.from(c)));
  });

  it('gives byte arrays as views into the input, as the library does', () => {
    const bytes = encoder.encode({ b: new Uint8Array([1, 2, 3]) });
    const v = readValue(bytes) as { b: Uint8Array };
    expect(v.b.buffer).toBe(bytes.buffer);
    expect([...v.b]).toEqual([1, 2, 3]);
  });

  it('reads a value inside a larger buffer', () => {
    const inner = encoder.encode({ type: 'put', key: 'k', value: 'v'.repeat(230) });
    const bytes = new Uint8Array(inner.length + 10);
    bytes.set(inner, 4);
    expect(readValue(bytes, 4, 4 + inner.length)).toEqual(decoder.decode(inner));
  });

  it('leaves to the library what it must decide: extensions, number keys, __proto__, bad UTF-8, a byte-order mark, truncation, trailing bytes, deep nesting', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 80; i++) deep = [deep];
    const cases: Uint8Array[] = [
      encoder.encode(new Date(0)),
      encoder.encode(new Map([[1, 2]])),
      Uint8Array.from([0x81, 0xa9, ...Buffer.from('__proto__'), 0x01]),
      Uint8Array.from([0xa3, 0xed, 0xa0, 0x80]), // a lone surrogate as the library's short-string encoder writes it
      Uint8Array.from([0xa2, 0xc3, 0x28]),
      encoder.encode('\ufeff' + 'b'.repeat(300)),
      Uint8Array.from([0xc1]),
      Uint8Array.from([0xa5, 0x61]),
      Uint8Array.from([0xdd, 0xff, 0xff, 0xff, 0xff]),
      Uint8Array.from([0x01, 0x02]),
      encoder.encode(deep),
    ];
    cases[1] = Uint8Array.from([0x81, 0x01, 0x02]);
    for (const c of cases) expect(readValue(c)).toBe(unread);
    // What the library makes of them, for the record: the callers fall back to it.
    expect(decoder.decode(Uint8Array.from([0xa3, 0xed, 0xa0, 0x80]))).toBe('\ud800');
    expect(decoder.decode(encoder.encode('\ufeff' + 'b'.repeat(300)))).toBe('b'.repeat(300));
  });

  it('reads short strings right however often they repeat or collide in its cache of recent ones', () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `k${(i * 7919) % 4999}`.slice(0, 1 + (i % 16)));
    for (let round = 0; round < 2; round++) {
      for (const k of keys) expect(readValue(encoder.encode({ [k]: k }))).toEqual({ [k]: k });
    }
  });

  it('never reads damaged bytes differently from the library: the same value, or a fall-back where it throws', () => {
    const r = new SeededRandom(29);
    let fellBack = 0;
    for (let i = 0; i < 1500; i++) {
      const bytes = encoder.encode(randomValue(r, 2)).slice();
      const cuts = 1 + Math.floor(r.next() * 3);
      for (let k = 0; k < cuts; k++) bytes[Math.floor(r.next() * bytes.length)] = Math.floor(r.next() * 256);
      const damaged = r.next() < 0.2 ? bytes.subarray(0, Math.floor(r.next() * bytes.length)) : bytes;
      const mine = readValue(damaged);
      let theirs: unknown;
      let threw = false;
      try {
        theirs = decoder.decode(damaged);
      } catch {
        threw = true;
      }
      if (threw) expect(mine).toBe(unread);
      else if (mine === unread) fellBack++;
      else expect(mine).toEqual(theirs);
    }
    expect(fellBack).toBeLessThan(1500);
  });

  it('reads what writeValue wrote', () => {
    const r = new SeededRandom(3);
    for (let i = 0; i < 200; i++) {
      const v = randomValue(r, 0);
      const bytes = written(v) as Uint8Array;
      expect(readValue(bytes)).toEqual(decoder.decode(bytes));
    }
  });
});
