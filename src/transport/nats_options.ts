// How a NatsTransport is configured: the options, their documented defaults,
// and the checks made once at start-up (a bad option is an InvalidArgumentError).
import type { NodeConnectionOptions } from '@nats-io/transport-node';
import type { Clock } from '../io/clock.js';
import { RealClock } from '../io/clock.js';
import { InvalidArgumentError } from '../lib/errors.js';
import { stderrLogger, type Logger } from '../lib/logger.js';
import type { CodecLimits } from './codec.js';

/** Options of `NatsTransport.connect`. */
export interface NatsTransportOptions {
  /** This node's id: 1-64 characters of [A-Za-z0-9_.-] (as System's nodeId). */
  readonly nodeId: string;
  /** NATS server URLs, e.g. `nats://10.0.0.1:4222` (default `127.0.0.1:4222`). */
  readonly servers?: string | readonly string[];
  /** User and password, when the server requires them. */
  readonly user?: string;
  readonly pass?: string;
  /** Token, when the server requires one. */
  readonly token?: string;
  /** nats.js TLS options (`caFile`, `certFile`, `keyFile`, ...); `{}` requires TLS, `null` refuses it. */
  readonly tls?: NodeConnectionOptions['tls'];
  /** First token(s) of every subject (default `concord`): separates deployments that share a NATS server. */
  readonly prefix?: string;
  /** Time and timers (default RealClock). */
  readonly clock?: Clock;
  /** Where status changes and drops are logged (default stderr at CONCORD_LOG level). */
  readonly logger?: Logger;
  /** Period of this node's heartbeat (default 250 ms). */
  readonly heartbeatMs?: number;
  /** A node not heard from for this long is down (default 1500 ms; at least twice heartbeatMs). */
  readonly nodeTimeoutMs?: number;
  /**
   * Bytes per published message: a destination's envelopes of one tick are
   * split into messages of at most this size (default 1 MiB - 1 KiB, lowered
   * to the server's max_payload). Must exceed the largest Raft message:
   * AppendEntries up to appendBytesMax (256 KiB) and snapshot chunks (512 KiB).
   */
  readonly batchBytesMax?: number;
  /** Envelopes queued for one destination within one tick; more are dropped (default 65,536). */
  readonly queuedEnvelopesMax?: number;
  /**
   * When no server answers the first connection: keep trying, every
   * reconnectWaitMs, until one does (default false: connect() fails at once).
   * A node process sets it, so that it may start before NATS. Refused
   * credentials fail at once either way.
   */
  readonly waitForServer?: boolean;
  /** Pause between reconnect attempts (default 250 ms; attempts never stop). */
  readonly reconnectWaitMs?: number;
  /** How often nats.js pings the server (default 5000 ms): a connection that died silently is noticed after two unanswered pings. */
  readonly pingIntervalMs?: number;
  /** How long close() waits for queued messages to leave before it cuts the connection (default 2000 ms). */
  readonly closeTimeoutMs?: number;
  /** Bounds on what the decoder accepts (see CodecLimits for the defaults). */
  readonly codec?: Partial<CodecLimits>;
  /** Further nats.js connection options, applied last (for what the options above do not name). */
  readonly nats?: Partial<NodeConnectionOptions>;
}

/** The options with every default filled in. */
export interface ResolvedNatsOptions {
  readonly nodeId: string;
  readonly prefix: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly heartbeatMs: number;
  readonly nodeTimeoutMs: number;
  readonly batchBytesMax: number;
  readonly queuedEnvelopesMax: number;
  readonly closeTimeoutMs: number;
  readonly codec: Partial<CodecLimits>;
  readonly waitForServer: boolean;
  readonly connection: NodeConnectionOptions;
}

/** The defaults named in NatsTransportOptions. */
export const defaultNatsOptions = {
  servers: '127.0.0.1:4222',
  prefix: 'concord',
  heartbeatMs: 250,
  nodeTimeoutMs: 1500,
  batchBytesMax: 1024 * 1024 - 1024,
  queuedEnvelopesMax: 65_536,
  reconnectWaitMs: 250,
  pingIntervalMs: 5000,
  closeTimeoutMs: 2000,
} as const;

const nodeIdPattern = /^[A-Za-z0-9_.-]{1,64}$/;
const prefixPattern = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

function positiveInt(what: string, v: number, min = 1): number {
  if (!Number.isSafeInteger(v) || v < min) throw new InvalidArgumentError(`${what} must be an integer >= ${min}, got ${v}`);
  return v;
}

/** Fills in defaults and checks every option; throws InvalidArgumentError on a bad one. */
export function resolveNatsOptions(o: NatsTransportOptions): ResolvedNatsOptions {
  if (typeof o.nodeId !== 'string' || !nodeIdPattern.test(o.nodeId)) throw new InvalidArgumentError(`nodeId must be 1-64 characters of [A-Za-z0-9_.-], got ${JSON.stringify(o.nodeId)}`);
  const d = defaultNatsOptions;
  const prefix = o.prefix ?? d.prefix;
  if (!prefixPattern.test(prefix)) throw new InvalidArgumentError(`prefix must be dot-separated tokens of [A-Za-z0-9_-], got ${JSON.stringify(prefix)}`);
  const heartbeatMs = positiveInt('heartbeatMs', o.heartbeatMs ?? d.heartbeatMs);
  const nodeTimeoutMs = positiveInt('nodeTimeoutMs', o.nodeTimeoutMs ?? d.nodeTimeoutMs, 2 * heartbeatMs);
  return {
    nodeId: o.nodeId,
    prefix,
    clock: o.clock ?? new RealClock(),
    logger: o.logger ?? stderrLogger(),
    heartbeatMs,
    nodeTimeoutMs,
    batchBytesMax: positiveInt('batchBytesMax', o.batchBytesMax ?? d.batchBytesMax, 4096),
    queuedEnvelopesMax: positiveInt('queuedEnvelopesMax', o.queuedEnvelopesMax ?? d.queuedEnvelopesMax),
    closeTimeoutMs: positiveInt('closeTimeoutMs', o.closeTimeoutMs ?? d.closeTimeoutMs, 0),
    codec: o.codec ?? {},
    waitForServer: o.waitForServer ?? false,
    connection: connectionOptions(o),
  };
}

/** The nats.js options: reconnect forever, no async traces, no echo (self-sends never leave the process). */
function connectionOptions(o: NatsTransportOptions): NodeConnectionOptions {
  const servers = o.servers ?? defaultNatsOptions.servers;
  const base: NodeConnectionOptions = {
    servers: typeof servers === 'string' ? servers : [...servers],
    name: `concord-${o.nodeId}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: positiveInt('reconnectWaitMs', o.reconnectWaitMs ?? defaultNatsOptions.reconnectWaitMs, 0),
    pingInterval: positiveInt('pingIntervalMs', o.pingIntervalMs ?? defaultNatsOptions.pingIntervalMs),
    maxPingOut: 2,
    ignoreAuthErrorAbort: true,
    noAsyncTraces: true,
    noEcho: true,
  };
  if (o.user !== undefined) base.user = o.user;
  if (o.pass !== undefined) base.pass = o.pass;
  if (o.token !== undefined) base.token = o.token;
  if (o.tls !== undefined) base.tls = o.tls;
  return { ...base, ...o.nats };
}
