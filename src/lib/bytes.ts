// Small byte arrays carved out of shared slabs. A Uint8Array with its own
// ArrayBuffer costs a backing-store allocation and the garbage collector's
// bookkeeping for it (1.5-2.5 µs for 300 bytes, measured here); a view on a
// slab costs a small object. Hot paths (a command, an entry, a message) take
// their bytes from here.
//
// Slab memory is handed out once and never reused, so a view is never shared
// with another: it is as safe to keep (or give to nats.js) as a fresh array.
// A slab is freed when its last view goes, so bytes kept for long (in a
// machine's state, say) should be copied out with `slice()`.

const slabBytes = 64 * 1024;
/** Larger arrays get their own buffer: a slab would waste too much of itself on them. */
const smallBytesMax = 4 * 1024;

let slab = new ArrayBuffer(slabBytes);
let used = 0;

/** A zero-filled array of `length` bytes, from a slab when it is small. */
export function allocBytes(length: number): Uint8Array {
  if (length > smallBytesMax) return new Uint8Array(length);
  if (used + length > slabBytes) {
    slab = new ArrayBuffer(slabBytes);
    used = 0;
  }
  const out = new Uint8Array(slab, used, length);
  used += (length + 7) & ~7; // 8-byte aligned, for DataViews
  return out;
}

/** A copy of `src` (a view into a buffer that will be reused, say), from a slab when it is small. */
export function copyBytes(src: Uint8Array): Uint8Array {
  const out = allocBytes(src.length);
  out.set(src);
  return out;
}

/** The bytes of `parts`, one after the other, in a new array (a snapshot's chunks, say). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A byte buffer that grows as it is written (doubling), reused from one
 * message or batch to the next: `length` bytes of `bytes` are written.
 */
export class GrowableBytes {
  bytes: Uint8Array;
  view: DataView;
  length = 0;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
    this.view = new DataView(this.bytes.buffer);
  }

  /** Empties the buffer, keeping its memory. */
  reset(): void {
    this.length = 0;
  }

  /** The bytes written (a view, valid until the next change). */
  written(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  /** Makes room for `n` more bytes after `length`. */
  reserve(n: number): void {
    const need = this.length + n;
    if (need <= this.bytes.length) return;
    let cap = this.bytes.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
    this.view = new DataView(next.buffer);
  }
}
