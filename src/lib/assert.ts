// Always-on assertions for programmer errors. A failed assert throws, which
// crashes the actor it runs in; its supervisor decides what happens next.

/** Thrown when an internal invariant does not hold: a bug, never an operating error. */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/** Throws an AssertionError unless `condition` holds. */
export function assert(condition: unknown, message: string | (() => string) = 'assertion failed'): asserts condition {
  if (!condition) {
    throw new AssertionError(typeof message === 'function' ? message() : message);
  }
}

/**
 * Throws an AssertionError: for hot paths, where `assert(cond, () => msg)`
 * would allocate the message closure on every call (`if (!cond) fail(...)`).
 */
export function fail(message: string): never {
  throw new AssertionError(message);
}

/** Marks the end of an exhaustive `switch`; reaching it at run time is a bug. */
export function assertNever(value: never, what = 'value'): never {
  throw new AssertionError(`unexpected ${what}: ${JSON.stringify(value)}`);
}
