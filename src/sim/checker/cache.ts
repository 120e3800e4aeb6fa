// Lowe's memoisation: the configurations (linearized set, model state) the
// search has already explored, so that it never explores one twice.
import type { Bitset } from './bitset.js';
import type { StateKey } from './model.js';

/** The set of explored configurations, grouped by state key, then by bitset hash. */
export class ConfigCache {
  private readonly byState = new Map<StateKey, Map<number, Uint32Array[]>>();
  size = 0;

  /** Records (bits, state) and returns true if it was not there yet. */
  add(bits: Bitset, state: StateKey): boolean {
    let byHash = this.byState.get(state);
    if (byHash === undefined) {
      byHash = new Map();
      this.byState.set(state, byHash);
    }
    const bucket = byHash.get(bits.hash);
    if (bucket === undefined) {
      byHash.set(bits.hash, [bits.snapshot()]);
    } else {
      for (const seen of bucket) if (bits.equals(seen)) return false;
      bucket.push(bits.snapshot());
    }
    this.size++;
    return true;
  }
}
