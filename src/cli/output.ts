// How the CLI prints: plain lines for people, one JSON document for scripts.

/** Prints `value` as JSON (with --json) or as text. */
export function print(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text()}\n`);
}

/** A value as a person reads it: strings bare, the rest as JSON. */
export function show(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '(none)';
  return JSON.stringify(value);
}

/** A progress bar on stderr when it is a terminal (silent otherwise). */
export class ProgressBar {
  private readonly tty = process.stderr.isTTY === true;

  constructor(private readonly width = 30) {}

  /** Redraws the bar at `fraction` (0..1) with a label after it. */
  update(fraction: number, label: string): void {
    if (!this.tty) return;
    const filled = Math.round(Math.max(0, Math.min(1, fraction)) * this.width);
    process.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(this.width - filled)}] ${label}   `);
  }

  /** Ends the bar's line. */
  done(): void {
    if (this.tty) process.stderr.write('\n');
  }
}
