// A readable trace of one simulated run: nemesis actions, crashes and
// restarts, leader changes, client outcomes and violations, each with its
// virtual time. Kept only when asked (replaying a seed); tracing never
// changes what the run does.

/** Lines of a run's trace. */
export class Trace {
  readonly lines: string[] = [];

  constructor(
    /** False: every call is a no-op (sweeps). */
    readonly enabled: boolean,
    private readonly now: () => number,
    /** Lines kept at most (default 200,000). */
    private readonly linesMax = 200_000,
  ) {}

  /** Adds a line stamped with the virtual time (ms since the run began). */
  add(what: string, text: string | (() => string)): void {
    if (!this.enabled || this.lines.length >= this.linesMax) return;
    const t = this.now().toFixed(1).padStart(8);
    this.lines.push(`${t} ms  ${what.padEnd(9)} ${typeof text === 'function' ? text() : text}`);
  }
}
