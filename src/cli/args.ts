// Command-line parsing for `concord`: node's util.parseArgs plus the shared
// connection options, with usage errors (exit code 2) kept apart from
// operating errors (exit code 1).
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in how a command was called: printed with its usage, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Options every command that talks to NATS accepts (flags, or CONCORD_* environment variables). */
export const connectionOptions = {
  nats: { type: 'string' },
  user: { type: 'string' },
  pass: { type: 'string' },
  token: { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  prefix: { type: 'string' },
  cluster: { type: 'string' },
  members: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** Help text for the connection options. */
export const connectionHelp = `Connection (flags, or the CONCORD_* environment variable in brackets):
  --nats <url[,url]>   NATS servers [CONCORD_NATS] (default nats://127.0.0.1:4222)
  --user, --pass       NATS user and password [CONCORD_NATS_USER, CONCORD_NATS_PASS]
  --token <token>      NATS token [CONCORD_NATS_TOKEN]
  --tls-ca/--tls-cert/--tls-key <file>   TLS files (any of them turns TLS on)
  --prefix <p>         subject prefix [CONCORD_PREFIX] (default concord)
  --cluster <name>     the cluster [CONCORD_CLUSTER]
  --members a,b,c      its members' node ids [CONCORD_MEMBERS]
  --timeout <ms>       deadline of the call (default 5000)
  --json               print JSON for scripts
  -h, --help           this help`;

/** The values of parsed options: booleans for boolean options, strings for the rest (lists of them for `multiple`). */
export type ParsedValues<O> = { [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { multiple: true } ? string[] : string };

/** Parses `argv` with `options`; unknown flags and bad shapes are usage errors. */
export function parse<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O): { values: ParsedValues<O>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as ParsedValues<O>, positionals };
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

/** A flag's value, else an environment variable, else a default. */
export function flagOrEnv(value: string | undefined, env: string, fallback?: string): string | undefined {
  return value ?? process.env[env] ?? fallback;
}

/** A required option (flag or environment variable). */
export function required(value: string | undefined, env: string, what: string): string {
  const v = flagOrEnv(value, env);
  if (v === undefined || v === '') throw new UsageError(`missing ${what} (--${what} or ${env})`);
  return v;
}

/** A comma-separated list. */
export function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** A positive integer option. */
export function positiveInt(value: string | undefined, what: string, fallback: number): number {
  return integerFlag(value, what, fallback, 1, 'a positive integer');
}

/** An integer option that may be 0. */
export function nonNegativeInt(value: string | undefined, what: string, fallback: number): number {
  return integerFlag(value, what, fallback, 0, 'an integer >= 0');
}

function integerFlag(value: string | undefined, what: string, fallback: number, min: number, expected: string): number {
  if (value === undefined) return fallback;
  const n = value.trim() === '' ? Number.NaN : Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${what} must be ${expected}, got ${JSON.stringify(value)}`);
  return n;
}
