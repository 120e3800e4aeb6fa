// The simulator's Logger: counts every message by its text (the coverage of
// log-visible paths: torn tails cut, WAL down, actor crashes), keeps the
// first errors for the report, and forwards lines to the trace when replaying.
import { formatFields, type LogFields, type Logger, type LogLevel } from '../lib/logger.js';

/** A log line kept for the report. */
export interface KeptLine {
  readonly level: Exclude<LogLevel, 'silent'>;
  readonly msg: string;
  readonly text: string;
}

/** Options of a SimLogger. */
export interface SimLoggerOptions {
  /** Error lines kept (default 20). */
  readonly keptMax?: number;
  /** Receives every line at info and above (the replay trace). */
  readonly sink?: (line: KeptLine) => void;
  /** Receives every error line. */
  readonly onError?: (line: KeptLine) => void;
}

/** Counts log messages and keeps the first errors. */
export class SimLogger implements Logger {
  /** How often each message text was logged. */
  readonly counts = new Map<string, number>();
  /** The first error lines. */
  readonly errors: KeptLine[] = [];
  private readonly keptMax: number;

  constructor(private readonly options: SimLoggerOptions = {}) {
    this.keptMax = options.keptMax ?? 20;
  }

  debug(): void {}

  info(msg: string, fields?: LogFields): void {
    this.line('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.line('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.line('error', msg, fields);
  }

  /** A logger that adds `node` to every line's fields. */
  forNode(node: string): Logger {
    const add = (fields: LogFields | undefined): LogFields => ({ node, ...fields });
    return {
      debug: () => {},
      info: (msg, fields) => this.info(msg, add(fields)),
      warn: (msg, fields) => this.warn(msg, add(fields)),
      error: (msg, fields) => this.error(msg, add(fields)),
    };
  }

  /** How often `msg` was logged. */
  count(msg: string): number {
    return this.counts.get(msg) ?? 0;
  }

  private line(level: KeptLine['level'], msg: string, fields: LogFields | undefined): void {
    this.counts.set(msg, (this.counts.get(msg) ?? 0) + 1);
    const sink = this.options.sink;
    if (level !== 'error' && sink === undefined) return;
    const kept: KeptLine = { level, msg, text: formatFields(fields) };
    if (level === 'error') {
      if (this.errors.length < this.keptMax) this.errors.push(kept);
      this.options.onError?.(kept);
    }
    sink?.(kept);
  }
}
