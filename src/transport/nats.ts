// The network transport: envelope batches over NATS (one subject per node), and
// node liveness from one heartbeat per process, whatever the number of Raft groups.
import { connect, type NatsConnection, type Msg, type Status, type Subscription } from '@nats-io/transport-node';
import { sleep, type Clock, type TimerHandle } from '../io/clock.js';
import { assert } from '../lib/assert.js';
import { ConcordError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { Codec, codecDropReasons, type CodecDropReason, type EncodeFailed, type EncodeFailureReason } from './codec.js';
import { NodeLiveness } from './node_liveness.js';
import { defaultNatsOptions, resolveNatsOptions, type NatsTransportOptions, type ResolvedNatsOptions } from './nats_options.js';
import type { Envelope, NodeEvent, Transport } from './transport.js';
import { runtimeVersion } from '../raft/core/entry_kind.js';

/** How many nodes' runtime versions a transport remembers (most recently heard first): members and the clients passing by. */
const runtimesMax = 4096;

export { defaultNatsOptions, type NatsTransportOptions } from './nats_options.js';

/** Why the transport dropped something: the codec's reasons for inbound data, and its own. */
export type NatsDropReason =
  | CodecDropReason
  | EncodeFailureReason
  /** Sent after close(), or received while closing. */
  | 'closed'
  /** Received before listen(). */
  | 'not_listening'
  /** Sent while the NATS connection was down (Raft retries). */
  | 'disconnected'
  /** More than queuedEnvelopesMax envelopes for one destination in one tick. */
  | 'queue_full'
  /** A destination that is not a valid node id (it would make a bad subject). */
  | 'bad_destination'
  /** nats.js refused a publish. */
  | 'publish_error'
  /** The listener threw (the envelope is lost; the transport goes on). */
  | 'handler_error';

const ownReasons = ['oversized', 'fn_query', 'unencodable', 'closed', 'not_listening', 'disconnected', 'queue_full', 'bad_destination', 'publish_error', 'handler_error'] as const;

/** Counters of a NatsTransport. Drops count envelopes, or whole messages when a message is unreadable. */
export interface NatsTransportStats {
  /** Envelopes published. */
  sent: number;
  /** Envelopes delivered to the listener (self-sends included). */
  received: number;
  batchesSent: number;
  batchesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  heartbeatsSent: number;
  heartbeatsReceived: number;
  disconnects: number;
  reconnects: number;
  /** Heartbeats from another process using this node's id. */
  duplicateNodeId: number;
  dropped: Record<NatsDropReason, number>;
}

function newStats(): NatsTransportStats {
  const dropped = {} as Record<NatsDropReason, number>;
  for (const r of [...codecDropReasons, ...ownReasons]) dropped[r] = 0;
  const stats = { sent: 0, received: 0, batchesSent: 0, batchesReceived: 0, bytesSent: 0, bytesReceived: 0 };
  return { ...stats, heartbeatsSent: 0, heartbeatsReceived: 0, disconnects: 0, reconnects: 0, duplicateNodeId: 0, dropped };
}

const nodeIdPattern = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * A Transport over NATS. Subjects: `<prefix>.node.<nodeId>` carries batches
 * addressed to a node, `<prefix>.hb` every node's heartbeat. Sends are queued
 * per destination and published when the task that sent them ends (a
 * microtask: after the actors' whole turn, without one more trip round the
 * event loop), one message per destination, split at batchBytesMax. The
 * connection reconnects forever; while it is down sends are dropped and
 * counted, and Raft retries.
 */
export class NatsTransport implements Transport {
  readonly nodeId: string;
  readonly stats: NatsTransportStats = newStats();
  /** The subjects this transport uses. */
  readonly subjects: { readonly node: string; readonly heartbeat: string };
  /** Distinguishes this run of the node from earlier ones (its start time in ms). */
  readonly incarnation: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly codec: Codec;
  private readonly liveness: NodeLiveness;
  /** The runtime version each node last announced, most recently heard last; kept after it goes down. */
  private readonly runtimes = new Map<string, number>();
  private readonly batchBytesMax: number;
  private onEnvelope: ((env: Envelope) => void) | undefined;
  private onNodeEvent: ((event: NodeEvent) => void) | undefined;
  private outbox = new Map<string, Envelope[]>();
  private flushScheduled = false;
  private readonly flushFn = (): void => this.flushOutbox();
  private connected = true;
  private closed = false;
  private closing: Promise<void> | undefined;
  private timer: TimerHandle | undefined;
  private nodeSub: Subscription | undefined;
  private statusDone: Promise<void> = Promise.resolve();
  private warnedIncarnation = -1;

  /**
   * Connects to NATS and starts heartbeats. Rejects with a `transport`
   * ConcordError when NATS cannot be reached (with waitForServer, only when
   * it refuses the connection: an unreachable server is waited for).
   */
  static async connect(options: NatsTransportOptions): Promise<NatsTransport> {
    const o = resolveNatsOptions(options);
    const servers = String(o.connection.servers);
    let nc: NatsConnection | undefined;
    let attempt = 0;
    while (nc === undefined) {
      attempt++;
      try {
        nc = await connect(o.connection);
      } catch (e) {
        // nats.js names an unreachable server ConnectionError; refused credentials get other names.
        if (!o.waitForServer || !(e instanceof Error && e.name === 'ConnectionError')) {
          throw new ConcordError('transport', `cannot connect to NATS at ${servers}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
        if (attempt === 1) o.logger.warn('nats: no server answers; waiting for one', { node: o.nodeId, servers, error: e.message });
        await sleep(o.clock, o.connection.reconnectTimeWait ?? defaultNatsOptions.reconnectWaitMs);
      }
    }
    if (attempt > 1) o.logger.info('nats: connected', { node: o.nodeId, servers, attempts: attempt });
    const t = new NatsTransport(nc, o);
    t.start();
    return t;
  }

  private constructor(
    private readonly nc: NatsConnection,
    private readonly o: ResolvedNatsOptions,
  ) {
    this.nodeId = o.nodeId;
    this.clock = o.clock;
    this.logger = o.logger;
    this.codec = new Codec(o.codec);
    this.liveness = new NodeLiveness(o.nodeId, o.nodeTimeoutMs);
    this.subjects = { node: `${o.prefix}.node.${o.nodeId}`, heartbeat: `${o.prefix}.hb` };
    this.incarnation = Math.floor(o.clock.now());
    const serverMax = nc.info?.max_payload ?? o.batchBytesMax;
    this.batchBytesMax = Math.min(o.batchBytesMax, serverMax);
    if (this.batchBytesMax < o.batchBytesMax) {
      this.logger.info('nats: batchBytesMax lowered to the server max_payload', { node: this.nodeId, batchBytesMax: this.batchBytesMax });
    }
  }

  private start(): void {
    this.nc.subscribe(this.subjects.heartbeat, { callback: (err, msg) => this.onHeartbeatMsg(err, msg) });
    this.statusDone = this.watchStatus();
    this.tick();
  }

  listen(onEnvelope: (env: Envelope) => void, onNodeEvent: (event: NodeEvent) => void): void {
    assert(this.onEnvelope === undefined, 'listen() was already called');
    this.onEnvelope = onEnvelope;
    this.onNodeEvent = onNodeEvent;
    if (this.closed) return;
    this.nodeSub = this.nc.subscribe(this.subjects.node, { callback: (err, msg) => this.onBatchMsg(err, msg) });
    this.emit([...this.liveness.live].map((node): NodeEvent => ({ type: 'node_up', node })));
  }

  send(to: string, env: Envelope): void {
    if (this.closed) return this.dropped('closed', 1);
    let queue = this.outbox.get(to);
    if (queue === undefined) {
      queue = [];
      this.outbox.set(to, queue);
    }
    if (queue.length >= this.o.queuedEnvelopesMax) return this.dropped('queue_full', 1);
    queue.push(env);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushFn);
    }
  }

  runtimeOf(node: string): number {
    return node === this.nodeId ? runtimeVersion : (this.runtimes.get(node) ?? 0);
  }

  private noteRuntime(node: string, runtime: number): void {
    this.runtimes.delete(node);
    this.runtimes.set(node, runtime);
    if (this.runtimes.size > runtimesMax) this.runtimes.delete(this.runtimes.keys().next().value as string);
  }

  liveNodes(): ReadonlySet<string> {
    return this.liveness.live;
  }

  /** Publishes what is queued now and resolves once the server has seen it (and every subscription). */
  async flush(): Promise<void> {
    this.flushOutbox();
    if (this.connected && !this.nc.isClosed()) await this.nc.flush();
  }

  /** Publishes what is queued, says goodbye (peers see this node down at once), drains and closes. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  // ---- outbound ----

  private flushOutbox(): void {
    this.flushScheduled = false;
    if (this.outbox.size === 0) return;
    const batches = this.outbox;
    this.outbox = new Map();
    for (const [to, envs] of batches) this.flushTo(to, envs);
  }

  private flushTo(to: string, envs: Envelope[]): void {
    if (to === this.nodeId) return this.loopback(envs);
    if (!nodeIdPattern.test(to)) return this.dropped('bad_destination', envs.length, to);
    if (!this.connected) return this.dropped('disconnected', envs.length);
    const out = this.codec.encodeBatch(this.nodeId, to, envs, this.batchBytesMax);
    for (const f of out.failed) this.encodeFailed(to, f);
    const subject = `${this.o.prefix}.node.${to}`;
    for (let i = 0; i < out.messages.length; i++) this.publish(subject, out.messages[i] as Uint8Array, out.counts[i] as number);
  }

  private publish(subject: string, data: Uint8Array, count: number): void {
    try {
      this.nc.publish(subject, data);
      this.stats.sent += count;
      this.stats.batchesSent++;
      this.stats.bytesSent += data.length;
    } catch (e) {
      this.dropped('publish_error', count, e instanceof Error ? e.message : String(e));
    }
  }

  /** Self-sends never leave the process. */
  private loopback(envs: Envelope[]): void {
    for (const env of envs) this.deliver(env);
  }

  /**
   * An envelope that cannot travel: a request fails at once with a typed
   * error (rather than timing out), a reply is replaced by an error reply.
   */
  private encodeFailed(to: string, f: EncodeFailed): void {
    this.dropped(f.reason, 1, f.detail);
    const env = f.env;
    if (env.type === 'request') {
      const error = { code: 'invalid_argument', message: `cannot send to ${to}: ${f.detail}` };
      this.clock.defer(() => this.deliver({ type: 'response', id: env.id, body: { ok: false, error } }));
    } else if (env.type === 'response' && env.body.ok) {
      this.send(to, { type: 'response', id: env.id, body: { ok: false, error: { code: 'machine_error', message: `the reply cannot be sent: ${f.detail}` } } });
    }
  }

  private publishHeartbeat(leaving: boolean): void {
    if (!this.connected) return;
    const data = this.codec.encodeHeartbeat({ type: 'heartbeat', node: this.nodeId, incarnation: this.incarnation, leaving, runtime: runtimeVersion });
    try {
      this.nc.publish(this.subjects.heartbeat, data);
      this.stats.heartbeatsSent++;
    } catch (e) {
      this.dropped('publish_error', 0, e instanceof Error ? e.message : String(e));
    }
  }

  /** Every heartbeatMs: say this node is alive, and declare down the nodes that went silent. */
  private tick(): void {
    this.timer = undefined;
    if (this.closed) return;
    this.publishHeartbeat(false);
    this.emit(this.liveness.sweep(this.clock.now()));
    this.timer = this.clock.setTimer(this.o.heartbeatMs, () => this.tick());
  }

  // ---- inbound (nats.js stops delivering on a connection whose callback throws: catch everything) ----

  private onBatchMsg(err: Error | null, msg: Msg): void {
    try {
      if (err !== null) return this.natsError(err);
      if (this.closed || this.onEnvelope === undefined) return this.dropped(this.closed ? 'closed' : 'not_listening', 1);
      this.stats.batchesReceived++;
      this.stats.bytesReceived += msg.data.length;
      const d = this.codec.decodeBatch(msg.data);
      if (d.type === 'drop') return this.dropped(d.reason, 1, d.detail);
      if (d.to !== this.nodeId) return this.dropped('misaddressed', d.envelopes.length + d.drops.length, `batch for ${d.to}`);
      for (const x of d.drops) this.dropped(x.reason, 1, x.detail);
      this.emit(this.liveness.heard(d.from, this.clock.now()));
      for (const env of d.envelopes) this.deliver(env);
    } catch (e) {
      this.callbackFailed(e);
    }
  }

  private onHeartbeatMsg(err: Error | null, msg: Msg): void {
    try {
      if (err !== null) return this.natsError(err);
      if (this.closed) return;
      this.stats.heartbeatsReceived++;
      const hb = this.codec.decodeHeartbeat(msg.data);
      if (hb.type === 'drop') return this.dropped(hb.reason, 1, hb.detail);
      if (hb.node === this.nodeId) return this.sameNodeId(hb.incarnation);
      if (!hb.leaving) this.noteRuntime(hb.node, hb.runtime);
      const events = hb.leaving ? this.liveness.left(hb.node, hb.incarnation) : this.liveness.heard(hb.node, this.clock.now(), hb.incarnation);
      this.emit(events);
      // A newcomer learns of this node within a round trip instead of a heartbeat period.
      if (!hb.leaving && events.length > 0) this.publishHeartbeat(false);
    } catch (e) {
      this.callbackFailed(e);
    }
  }

  /** Another process uses this node id (noEcho hides this node's own heartbeats): an operator's mistake to shout about. */
  private sameNodeId(incarnation: number): void {
    if (incarnation === this.incarnation) return;
    this.stats.duplicateNodeId++;
    if (incarnation === this.warnedIncarnation) return;
    this.warnedIncarnation = incarnation;
    this.logger.error('nats: another process uses this node id', { node: this.nodeId, incarnation, ours: this.incarnation });
  }

  private deliver(env: Envelope): void {
    if (this.onEnvelope === undefined) return this.dropped('not_listening', 1);
    try {
      this.onEnvelope(env);
      this.stats.received++;
    } catch (e) {
      this.dropped('handler_error', 1, e instanceof Error ? e.message : String(e));
    }
  }

  private emit(events: readonly NodeEvent[]): void {
    const handler = this.onNodeEvent;
    for (const event of events) {
      this.logger.info(`nats: ${event.type}`, { node: this.nodeId, peer: event.node });
      if (handler === undefined || this.closed) continue;
      try {
        handler(event);
      } catch (e) {
        this.logger.warn('nats: node event handler threw', { node: this.nodeId, error: e });
      }
    }
  }

  // ---- connection status ----

  private async watchStatus(): Promise<void> {
    try {
      for await (const s of this.nc.status()) this.onStatus(s);
    } catch (e) {
      this.logger.warn('nats: status watch ended', { node: this.nodeId, error: e });
    }
  }

  private onStatus(s: Status): void {
    const fields = { node: this.nodeId };
    switch (s.type) {
      case 'disconnect':
        this.connected = false;
        this.stats.disconnects++;
        return this.logger.warn('nats: disconnected; sends are dropped until it reconnects', { ...fields, server: s.server });
      case 'reconnect':
        this.connected = true;
        this.stats.reconnects++;
        this.logger.info('nats: reconnected', { ...fields, server: s.server });
        return this.publishHeartbeat(false);
      case 'close':
        this.connected = false;
        if (!this.closed) this.logger.error('nats: connection closed; this node is cut off', fields);
        return;
      case 'error':
        return this.natsError(s.error);
      case 'staleConnection':
      case 'slowConsumer':
      case 'ldm':
      case 'forceReconnect':
        return this.logger.warn(`nats: ${s.type}`, fields);
      case 'reconnecting':
      case 'update':
      case 'ping':
        return;
      default:
        // Not assertNever: a newer nats.js may add statuses, and this loop must not die of one.
        return this.logger.debug('nats: status', { ...fields, status: (s as { type: string }).type });
    }
  }

  private natsError(err: Error): void {
    this.logger.warn('nats: error', { node: this.nodeId, error: err });
  }

  private callbackFailed(e: unknown): void {
    this.logger.error('nats: inbound callback failed', { node: this.nodeId, error: e });
  }

  /** Counts a drop; logs the 1st, 2nd, 4th, 8th, ... of each reason so a flood cannot flood the log. */
  private dropped(reason: NatsDropReason, count: number, detail?: string): void {
    const before = this.stats.dropped[reason];
    const after = before + count;
    this.stats.dropped[reason] = after;
    // Crossing a power of two: the count's highest set bit moved.
    if (count > 0 && (before === 0 || Math.clz32(after) < Math.clz32(before))) {
      this.logger.warn('nats: dropped', { node: this.nodeId, reason, count: after, ...(detail === undefined ? {} : { detail }) });
    }
  }

  // ---- shutdown ----

  private async shutdown(): Promise<void> {
    this.flushOutbox();
    this.publishHeartbeat(true);
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.nodeSub?.unsubscribe();
    await this.closeConnection();
    await this.statusDone;
  }

  /** Drains (sends what is buffered) when connected, within closeTimeoutMs; closes outright otherwise. */
  private async closeConnection(): Promise<void> {
    if (this.nc.isClosed()) return;
    let timer: TimerHandle | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = this.clock.setTimer(this.o.closeTimeoutMs, resolve);
    });
    try {
      if (this.connected) await Promise.race([this.nc.drain(), deadline]);
    } catch (e) {
      this.logger.debug('nats: drain failed', { node: this.nodeId, error: e });
    } finally {
      if (timer !== undefined) this.clock.clearTimer(timer);
    }
    if (!this.nc.isClosed()) await this.nc.close().catch(() => undefined);
  }
}
