// Work done in steps: a generator that yields between pieces of work and
// returns its result, so that a caller can spread it over turns of the event
// loop (a snapshot read and restored while other groups keep running), or
// run it through in one go.

/** Runs `steps` to the end at once; returns its result. */
export function completeSteps<T>(steps: Iterator<unknown, T, undefined>): T {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/** `steps` as a generator, so that another generator can `yield*` it. */
export function* stepsOf<T>(steps: Iterator<unknown, T, undefined>): Generator<unknown, T, undefined> {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    yield r.value;
  }
}
