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
