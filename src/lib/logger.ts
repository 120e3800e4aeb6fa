// Structured logging through an injected Logger, so that libraries embedding
// Concord decide where log lines go and tests can capture them.

/** Log levels, quietest last. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** Where Concord writes what it wants an operator to see. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** A line as a capturing logger records it. */
export interface LogRecord {
  level: Exclude<LogLevel, 'silent'>;
  msg: string;
  fields: LogFields | undefined;
}

/** Fields as `key=value` pairs separated by spaces (errors by name and message, the rest as JSON). */
export function formatFields(fields: LogFields | undefined): string {
  if (fields === undefined) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    const text = v instanceof Error ? `${v.name}: ${v.message}` : typeof v === 'string' ? v : safeJson(v);
    parts.push(`${k}=${text}`);
  }
  return parts.join(' ');
}

function render(fields: LogFields | undefined): string {
  const text = formatFields(fields);
  return text === '' ? '' : ' ' + text;
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Writes lines at or above `level` to stderr: `level msg key=value ...`. */
export function stderrLogger(level: LogLevel = envLogLevel()): Logger {
  const min = rank[level];
  const write = (lvl: Exclude<LogLevel, 'silent'>) => (msg: string, fields?: LogFields) => {
    if (rank[lvl] >= min) process.stderr.write(`concord ${lvl} ${msg}${render(fields)}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

/** The level named by the CONCORD_LOG environment variable, `warn` by default. */
export function envLogLevel(): LogLevel {
  const v = process.env['CONCORD_LOG'];
  return v !== undefined && v in rank ? (v as LogLevel) : 'warn';
}

/** A logger that keeps every line in `records` (for tests and the simulator). */
export function memoryLogger(): Logger & { records: LogRecord[] } {
  const records: LogRecord[] = [];
  const keep = (level: LogRecord['level']) => (msg: string, fields?: LogFields) => {
    records.push({ level, msg, fields });
  };
  return { records, debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') };
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
