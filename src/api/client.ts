// A Client for processes that host no members: it reaches a cluster over a
// transport (NATS across hosts), finds the leader, follows not_leader hints,
// and sends commands through an exactly-once session, so that its retries
// (after a timeout or a leader change) never apply a command twice.
import type { Clock } from '../io/clock.js';
import { RealClock } from '../io/clock.js';
import { systemRandom } from '../io/random.js';
import { ConcordError } from '../lib/errors.js';
import { stderrLogger, type Logger } from '../lib/logger.js';
import type { Destination } from '../raft/machine.js';
import type { Envelope, Transport } from '../transport/transport.js';
import { Caller, validName, type CallOptions } from './caller.js';
import { firstRequestId, Requester } from './requester.js';
import type { Session } from './session.js';

/** How a Client connects. */
export interface ClientOptions {
  /** How it reaches the nodes (a NatsTransport with a node id of its own, e.g. `client-1234`). */
  readonly transport: Transport;
  /** Members of the clusters it will use, by cluster name (the nodes to ask first). */
  readonly clusters?: Readonly<Record<string, readonly string[]>>;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Default deadline of calls, retries included (default 5000 ms). */
  readonly requestTimeoutMs?: number;
}

/** Counters of what a Client received but could not use. */
export interface ClientStats {
  /** Envelopes a client never expects (Raft traffic, requests). */
  unexpected: number;
}

/** A connection to Concord clusters from a process that hosts no members. */
export class Client extends Caller {
  readonly clock: Clock;
  readonly nodeId: string;
  readonly stats: ClientStats = { unexpected: 0 };
  protected readonly requester: Requester;
  private readonly logger: Logger;
  private readonly sessions = new Map<string, Promise<Session>>();
  /** The sessions that are open (a command through one needs no wait). */
  private readonly readySessions = new Map<string, Session>();
  private readonly subscriptions = new Map<string, (msg: unknown) => void>();
  private nextSubscription = 1;
  private closed = false;
  protected readonly random = systemRandom();

  private constructor(
    /** How this client reaches the nodes. */
    readonly transport: Transport,
    options: ClientOptions,
  ) {
    super();
    this.clock = options.clock ?? new RealClock();
    this.logger = options.logger ?? stderrLogger();
    this.nodeId = validName('client id', transport.nodeId);
    this.requester = new Requester(
      this.clock,
      this.nodeId,
      (node, env) => this.transport.send(node, env),
      options.requestTimeoutMs ?? 5000,
      (node) => this.transport.liveNodes().has(node),
      firstRequestId(this.random),
    );
    for (const [cluster, members] of Object.entries(options.clusters ?? {})) this.knowMembers(cluster, members);
  }

  /** Starts listening on the transport and returns the client. */
  static connect(options: ClientOptions): Promise<Client> {
    const client = new Client(options.transport, options);
    options.transport.listen(
      (env) => client.onEnvelope(env),
      (event) => {
        if (event.type === 'node_down') client.requester.nodeDown(event.node);
      },
    );
    return Promise.resolve(client);
  }

  /**
   * Submits a command exactly once: through this client's session with the
   * cluster, retried across leader changes and timeouts until the deadline.
   * If the session expired (idle too long), the call fails with
   * `session_expired` and the next call opens a new session.
   */
  override processCommand<R = unknown>(cluster: string, command: unknown, options: CallOptions = {}): Promise<R> {
    const ready = this.readySessions.get(cluster);
    if (ready === undefined) return this.session(cluster, options).then((s) => this.sessionCommand<R>(cluster, s, command, options));
    return this.sessionCommand<R>(cluster, ready, command, options);
  }

  /** This client's session with `cluster` (opened on first use). */
  session(cluster: string, options: CallOptions = {}): Promise<Session> {
    const open = this.sessions.get(cluster);
    if (open !== undefined) return open;
    const opening = this.openSession(cluster, options);
    opening.then(
      (session) => {
        if (this.sessions.get(cluster) === opening) this.readySessions.set(cluster, session);
      },
      () => {
        if (this.sessions.get(cluster) === opening) this.sessions.delete(cluster);
      },
    );
    this.sessions.set(cluster, opening);
    return opening;
  }

  /** One command through `session`: a session that expired is forgotten, so the next call opens a new one. */
  private sessionCommand<R>(cluster: string, session: Session, command: unknown, options: CallOptions): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      session.submit(command, options, (err, value) => {
        if (err === null) return resolve(value as R);
        if (err.code === 'session_expired') this.forgetSession(cluster, session);
        reject(err);
      });
    });
  }

  private forgetSession(cluster: string, session: Session): void {
    if (this.readySessions.get(cluster) !== session) return;
    this.sessions.delete(cluster);
    this.readySessions.delete(cluster);
  }

  /** Registers a handler for machine `send` effects addressed to this client. */
  subscribe(handler: (msg: unknown) => void): Destination {
    const id = `s${this.nextSubscription++}`;
    this.subscriptions.set(id, handler);
    return { node: this.nodeId, id };
  }

  /** Stops: pending calls fail with `shutdown`, and the transport closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.requester.close();
    await this.transport.close();
  }

  private onEnvelope(env: Envelope): void {
    try {
      if (env.type === 'response') this.requester.onResponse(env);
      else if (env.type === 'notify') this.subscriptions.get(env.dest)?.(env.msg);
      else this.stats.unexpected++;
    } catch (e) {
      this.logger.warn('client failed to handle an envelope', { client: this.nodeId, error: e instanceof ConcordError ? e.message : String(e) });
    }
  }
}
