// Small helpers for sequences of callback-based disk operations, and a gate
// that lets an actor's `terminate` wait until its operations in flight end.
import type { Disk, DiskError, FileHandle, SyncMethod } from '../io/disk.js';

/**
 * Background writers (a WAL spare's zeros, segment chunks) write at most this
 * many bytes before they sync: a flush waits for every byte written before it,
 * and the WAL's flushes, which every commit waits for, are no exception.
 */
export const backgroundSyncEveryBytes = 1024 * 1024;

/** One asynchronous step: calls `next` once, with an error or null. */
export type Step = (next: (err: DiskError | null) => void) => void;

/**
 * Steps that write `bytes` bytes at `position` as background writes of at most
 * backgroundSyncEveryBytes, each synced with `method` before the next starts.
 * `piece(from, to)` gives the bytes [from, to) when their write starts;
 * `handle()` the file, opened by an earlier step.
 */
export function writeInSyncedPieces(disk: Disk, handle: () => FileHandle, position: number, bytes: number, piece: (from: number, to: number) => Uint8Array, method: SyncMethod): Step[] {
  const steps: Step[] = [];
  for (let at = 0; at < bytes; at += backgroundSyncEveryBytes) {
    const to = Math.min(bytes, at + backgroundSyncEveryBytes);
    steps.push((next) => disk.write(handle(), piece(at, to), position + at, next, true));
    steps.push((next) => disk.sync(handle(), method, next));
  }
  return steps;
}

/** Runs steps one after another; `done` gets the first error, or null after the last step. */
export function runSteps(steps: readonly Step[], done: (err: DiskError | null) => void): void {
  let i = 0;
  const next = (err: DiskError | null): void => {
    if (err !== null || i === steps.length) return done(err);
    const step = steps[i++] as Step;
    step(next);
  };
  next(null);
}

/**
 * Runs step sequences side by side, at most `limit` at a time; `done` gets the
 * first error (or null) once all have ended. After an error, sequences not yet
 * started are skipped.
 */
export function runParallel(sequences: readonly (readonly Step[])[], done: (err: DiskError | null) => void, limit = Infinity): void {
  let left = sequences.length;
  let next = 0;
  let first: DiskError | null = null;
  if (left === 0) return done(null);
  const startNext = (): void => {
    const seq = sequences[next++] as readonly Step[];
    runSteps(first === null ? seq : [], (err) => {
      if (err !== null && first === null) first = err;
      if (--left === 0) return done(first);
      if (next < sequences.length) startNext();
    });
  };
  for (let i = 0; i < Math.min(limit, sequences.length); i++) startNext();
}

/** Counts operations in flight, so that `terminate` can wait for them (never mutates actor state). */
export class IoGate {
  private inflight = 0;
  private waiters: (() => void)[] = [];

  /** An operation starts. */
  begin(): void {
    this.inflight++;
  }

  /** An operation ended (called from its disk callback). */
  end(): void {
    this.inflight--;
    if (this.inflight === 0 && this.waiters.length > 0) {
      const w = this.waiters;
      this.waiters = [];
      for (const fn of w) fn();
    }
  }

  /** Runs `fn` now if nothing is in flight, else when the last operation ends. */
  whenIdle(fn: () => void): void {
    if (this.inflight === 0) fn();
    else this.waiters.push(fn);
  }
}
