// A private nats-server (tests and benchmarks): a free port on 127.0.0.1, a
// temp dir for its config and log, stop/start on the same port for reconnect tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** How the server is configured. */
export interface NatsServerOptions {
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  /** Largest message the server accepts (nats-server's default is 1 MiB). */
  readonly maxPayload?: number;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The nats-server binary: NATS_SERVER_BIN, then PATH, /usr/sbin, /usr/local/bin. */
export function natsServerBin(): string {
  const fromEnv = process.env['NATS_SERVER_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin', '/usr/bin'];
  for (const d of dirs) if (d !== '' && executable(join(d, 'nats-server'))) return join(d, 'nats-server');
  throw new Error('nats-server not found: install it (apt-get install nats-server) or set NATS_SERVER_BIN');
}

/** A port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once a TCP client can connect and reads the server's INFO line. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tcpConnect({ port, host: '127.0.0.1' });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.once('data', (d) => done(d.toString().startsWith('INFO')));
    sock.once('error', () => done(false));
    sock.setTimeout(1000, () => done(false));
  });
}

function configText(port: number, o: NatsServerOptions): string {
  const lines = [`host: 127.0.0.1`, `port: ${port}`];
  if (o.maxPayload !== undefined) lines.push(`max_payload: ${o.maxPayload}`);
  if (o.user !== undefined) lines.push(`authorization { user: "${o.user}", password: "${o.pass ?? ''}" }`);
  if (o.token !== undefined) lines.push(`authorization { token: "${o.token}" }`);
  return lines.join('\n') + '\n';
}

/** One nats-server child process. */
export class NatsServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly bin: string,
  ) {}

  /** Starts a server on a free port and waits until it accepts connections. */
  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const bin = natsServerBin();
    const dir = mkdtempSync(join(tmpdir(), 'concord-nats-'));
    const port = await freePort();
    writeFileSync(join(dir, 'nats.conf'), configText(port, options));
    const server = new NatsServer(port, dir, bin);
    await server.start();
    return server;
  }

  /** `nats://127.0.0.1:<port>`. */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** The server's process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Whether the process is running. */
  get running(): boolean {
    return this.child !== undefined;
  }

  /** (Re)starts the process on the same port and waits until it accepts connections. */
  async start(timeoutMs = 10_000): Promise<void> {
    if (this.child !== undefined) return;
    const child = spawn(this.bin, ['-c', join(this.dir, 'nats.conf'), '-l', join(this.dir, 'nats.log')], { stdio: 'ignore' });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + timeoutMs;
    while (!(await accepts(this.port))) {
      if (this.child === undefined) throw new Error(`nats-server exited at start:\n${this.log()}`);
      if (Date.now() > deadline) throw new Error(`nats-server did not accept connections on ${this.port} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops the process (SIGKILL by default: as abrupt as a crash) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill(signal);
    await this.exited;
    this.child = undefined;
  }

  /** Stops and starts again on the same port. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** The server's log so far (for failure messages). */
  log(): string {
    try {
      return readFileSync(join(this.dir, 'nats.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Stops the server and removes its temp dir. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
