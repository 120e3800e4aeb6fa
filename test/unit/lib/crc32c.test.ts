import { describe, expect, it } from 'vitest';
import { crc32c, crc32cUpdate } from '../../../src/lib/crc32c.js';

/** Bit-at-a-time reference implementation, to check the sliced tables against. */
function reference(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

const ascii = (s: string) => new TextEncoder().encode(s);

describe('crc32c', () => {
  it('matches the published check value and RFC 3720 vectors', () => {
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('agrees with a bitwise reference for every length and offset around the 8-byte stride', () => {
    const data = Uint8Array.from({ length: 200 }, (_, i) => (i * 73 + 11) & 0xff);
    for (let start = 0; start < 9; start++) {
      for (let end = start; end <= 100; end++) {
        expect(crc32c(data, start, end)).toBe(reference(data.subarray(start, end)));
      }
    }
  });

  it('continues a checksum across pieces', () => {
    const data = ascii('The quick brown fox jumps over the lazy dog');
    for (let cut = 0; cut <= data.length; cut++) {
      expect(crc32cUpdate(crc32cUpdate(0, data, 0, cut), data, cut)).toBe(crc32c(data));
    }
    expect(crc32c(data)).toBe(0x22620404);
  });
});
