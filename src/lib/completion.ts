// A thenable that runs its callbacks synchronously when completed. Actors use
// it for asynchronous `terminate` so that, under a simulated clock, completion
// happens inside the simulation step rather than in a later microtask.

/** A one-shot completion signal that can be returned where a PromiseLike is expected. */
export class Completion implements PromiseLike<void> {
  private done = false;
  private error: unknown = undefined;
  private failed = false;
  private callbacks: [((v: void) => unknown) | null | undefined, ((e: unknown) => unknown) | null | undefined][] = [];

  /** True once resolved or rejected. */
  get settled(): boolean {
    return this.done;
  }

  /** Completes successfully; callbacks run now. */
  resolve(): void {
    this.settle(false, undefined);
  }

  /** Completes with an error; callbacks run now. */
  reject(error: unknown): void {
    this.settle(true, error);
  }

  /** Registers callbacks; runs them at once if already settled. Returns nothing useful for chaining. */
  then<R1 = void, R2 = never>(
    onfulfilled?: ((value: void) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): PromiseLike<R1 | R2> {
    if (this.done) this.run(onfulfilled, onrejected);
    else this.callbacks.push([onfulfilled, onrejected]);
    return this as unknown as PromiseLike<R1 | R2>;
  }

  private settle(failed: boolean, error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.failed = failed;
    this.error = error;
    const callbacks = this.callbacks;
    this.callbacks = [];
    for (const [ok, err] of callbacks) this.run(ok, err);
  }

  private run(
    ok: ((v: void) => unknown) | null | undefined,
    err: ((e: unknown) => unknown) | null | undefined,
  ): void {
    if (this.failed) err?.(this.error);
    else ok?.();
  }
}
