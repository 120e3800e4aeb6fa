// The slab allocator of hot paths: every array is zero-filled, never overlaps
// another, and big ones get their own buffer.
import { describe, expect, it } from 'vitest';
import { allocBytes, copyBytes } from '../../../src/lib/bytes.js';

describe('allocBytes', () => {
  it('hands out zero-filled arrays that never share bytes, across slab boundaries', () => {
    const arrays = Array.from({ length: 2000 }, (_, i) => allocBytes(1 + ((i * 37) % 300)));
    arrays.forEach((a, i) => {
      expect(a.every((b) => b === 0)).toBe(true);
      a.fill((i % 255) + 1);
    });
    arrays.forEach((a, i) => expect(a.every((b) => b === (i % 255) + 1)).toBe(true));
    expect(new Set(arrays.map((a) => a.buffer)).size).toBeGreaterThan(1);
  });

  it('gives large arrays a buffer of their own', () => {
    const big = allocBytes(100_000);
    expect(big.buffer.byteLength).toBe(100_000);
    expect(big.byteOffset).toBe(0);
  });

  it('copies bytes into a fresh array', () => {
    const src = new Uint8Array([1, 2, 3]);
    const copy = copyBytes(src);
    src[0] = 9;
    expect([...copy]).toEqual([1, 2, 3]);
  });
});
