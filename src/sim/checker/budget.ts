// How much search the checker may spend before it gives up with `unknown`:
// a step count (deterministic, for tests) and an optional deadline.

/** Limits on a check. The deadline is polled every `DEADLINE_POLL_STEPS` steps. */
export interface Budget {
  /** Search steps allowed (one step: one move of the search loop). Default `DEFAULT_MAX_STEPS`. */
  readonly maxSteps?: number;
  /**
   * Steps allowed for shrinking a violation to its smallest window, on top
   * of `maxSteps`; each probe costs up to one refutation. Default 2 x maxSteps.
   */
  readonly shrinkMaxSteps?: number;
  /** Returns true once the caller's time is up; see `deadlineAfter`. */
  readonly deadline?: () => boolean;
}

/** Default step limit: 2 to 10 seconds of search on a current machine (1 to 5 million steps/s). */
export const DEFAULT_MAX_STEPS = 10_000_000;

/** How often the deadline function is called, in steps. */
export const DEADLINE_POLL_STEPS = 1024;

/**
 * A deadline `ms` after the first call of `now`, for real callers: pass
 * `deadlineAfter(10_000, () => performance.now())`. `now` is injected so the
 * checker itself never reads a clock.
 */
export function deadlineAfter(ms: number, now: () => number): () => boolean {
  const end = now() + ms;
  return () => now() >= end;
}

/** Why a search stopped early. */
export type Exhausted = 'max_steps' | 'deadline';

/** Counts steps against a Budget. */
export class Meter {
  steps = 0;
  exhausted: Exhausted | null = null;
  private readonly maxSteps: number;

  constructor(
    private readonly budget: Budget,
    /** Which allowance this meter counts against. */
    allowance: 'search' | 'shrink' = 'search',
  ) {
    const maxSteps = budget.maxSteps ?? DEFAULT_MAX_STEPS;
    this.maxSteps = allowance === 'search' ? maxSteps : (budget.shrinkMaxSteps ?? 2 * maxSteps);
  }

  /** Spends one step; returns true when the budget is exhausted. */
  spend(): boolean {
    this.steps++;
    if (this.steps > this.maxSteps) this.exhausted = 'max_steps';
    else if (this.steps % DEADLINE_POLL_STEPS === 0 && this.budget.deadline?.() === true) this.exhausted = 'deadline';
    return this.exhausted !== null;
  }

  /** A sentence saying why the search stopped. */
  reason(): string {
    return this.exhausted === 'deadline'
      ? `deadline passed after ${this.steps} search steps`
      : `step budget of ${this.maxSteps} search steps exhausted`;
  }
}
