// Real `concord` processes for integration tests: node processes that can be
// SIGKILLed and restarted, and CLI invocations with their exit codes.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI (npm test builds first). */
export const cliPath = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/src/cli/main.js');

/** A `concord node` child process. */
export class NodeProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);
  output = '';

  constructor(
    readonly id: string,
    readonly dataDir: string,
    readonly nats: string,
    readonly extra: string[] = [],
    /** Environment on top of this process's (CONCORD_LOG is `error` unless set here). */
    readonly env: Record<string, string> = {},
  ) {}

  /** Starts the process and waits for its `ready` line. */
  async start(timeoutMs = 20_000): Promise<void> {
    const child = spawn(process.execPath, [cliPath, 'node', '--id', this.id, '--data', this.dataDir, '--nats', this.nats, ...this.extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CONCORD_LOG: 'error', ...this.env },
    });
    this.child = child;
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
    await new Promise<void>((resolveReady, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.id} not ready: ${this.output}`)), timeoutMs);
      const onData = (chunk: Buffer) => {
        this.output += chunk.toString();
        if (this.output.includes('ready ')) {
          clearTimeout(timer);
          resolveReady();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${this.id} exited with ${String(code)}: ${this.output}`));
      });
    });
  }

  /** The process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Sends `signal` and waits for the process to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.child;
    if (child === undefined) return null;
    this.child = undefined;
    child.kill(signal);
    return this.exited;
  }
}

/** The outcome of one CLI run. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `concord <args>` and collects its output and exit code. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, CONCORD_LOG: 'error', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** A data directory under `base` for node `id`. */
export function dataDirOf(base: string, id: string): string {
  return join(base, id);
}

/** A `concord` command left running: its output so far, a wait for a line, and its end. */
export interface RunningCli {
  readonly output: { stdout: string; stderr: string };
  /** Resolves once stderr or stdout holds `text` (rejects after `timeoutMs`). */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  readonly done: Promise<CliResult>;
}

/** Starts `concord <args>` without waiting for it to end (runCli waits). */
export function startCli(args: string[], env: Record<string, string> = {}): RunningCli {
  const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, CONCORD_LOG: 'error', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  const changed = (): void => listeners.forEach((l) => l());
  child.stdout.on('data', (c: Buffer) => ((output.stdout += c.toString()), changed()));
  child.stderr.on('data', (c: Buffer) => ((output.stderr += c.toString()), changed()));
  const done = new Promise<CliResult>((r) => child.once('exit', (code) => (changed(), r({ code, ...output }))));
  const waitFor = (text: string, timeoutMs = 15_000): Promise<void> =>
    new Promise((resolveWait, reject) => {
      const check = (): void => {
        if (output.stdout.includes(text) || output.stderr.includes(text)) finish(null);
        else if (child.exitCode !== null) finish(new Error(`exited before printing ${JSON.stringify(text)}: ${output.stderr}`));
      };
      const timer = setTimeout(() => finish(new Error(`no ${JSON.stringify(text)} within ${timeoutMs} ms: ${output.stderr}`)), timeoutMs);
      const finish = (err: Error | null): void => {
        clearTimeout(timer);
        listeners.delete(check);
        if (err === null) resolveWait();
        else reject(err);
      };
      listeners.add(check);
      check();
    });
  return { output, waitFor, done };
}
