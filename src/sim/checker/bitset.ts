// The set of linearized operations as a bitset, with an incrementally kept
// Zobrist hash so that Lowe's cache can look configurations up in O(1).
import { SeededRandom } from '../../io/random.js';

/** A fixed-size bitset over operation indices with a hash kept up to date by set/clear. */
export class Bitset {
  readonly words: Uint32Array;
  hash = 0;
  private readonly zobrist: Uint32Array;

  constructor(readonly size: number) {
    this.words = new Uint32Array((size + 31) >>> 5);
    // Fixed seed: hashes only need to be well spread, and runs must replay.
    const random = new SeededRandom(0x5eed);
    this.zobrist = new Uint32Array(size);
    for (let i = 0; i < size; i++) this.zobrist[i] = random.u32();
  }

  /** Adds index `i` (which must be absent). */
  set(i: number): void {
    this.words[i >>> 5]! |= 1 << (i & 31);
    this.hash = (this.hash ^ this.zobrist[i]!) >>> 0;
  }

  /** Removes index `i` (which must be present). */
  clear(i: number): void {
    this.words[i >>> 5]! &= ~(1 << (i & 31));
    this.hash = (this.hash ^ this.zobrist[i]!) >>> 0;
  }

  /** True when the words equal `other`'s. */
  equals(other: Uint32Array): boolean {
    const words = this.words;
    for (let i = 0; i < words.length; i++) if (words[i] !== other[i]) return false;
    return true;
  }

  /** A copy of the words, for the cache. */
  snapshot(): Uint32Array {
    return this.words.slice();
  }
}
