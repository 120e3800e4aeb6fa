// A client session (Raft thesis §6.3): every command carries the session id
// and a sequence number, so the cluster applies it at most once however many
// times it is retried: a retry after a timeout, or after the leader died
// between applying a command and replying, gets the recorded reply.
import { ConcordError } from '../lib/errors.js';
import { encodeValue } from '../raft/server/entry_codec.js';
import type { Request, SessionTag } from '../transport/transport.js';
import type { RequestCallback, RequestOptions } from './requester.js';

/** What a Session needs from its owner (a System or a Client). */
export interface SessionHost {
  submit(cluster: string, body: Request, options: RequestOptions, cb: RequestCallback): void;
}

/** Commands through one exactly-once session. Open one with `System.openSession` or `Client.openSession`. */
export class Session {
  private nextSeq = 1;
  /** Every sequence number below this one has been answered. */
  private lowest = 1;
  /**
   * Which numbers from `lowest` to `nextSeq - 1` have been answered: a ring
   * indexed by sequence number modulo its size (a power of two, doubled when
   * more are outstanding), so that tracking them allocates nothing per command.
   */
  private answered = new Uint8Array(64);

  /** @internal */
  constructor(
    private readonly host: SessionHost,
    readonly cluster: string,
    /** The session id (the index of its registration entry). */
    readonly id: number,
  ) {}

  /** Every reply up to this sequence number has been received (tells the cluster it may forget them). */
  get acked(): number {
    // Answers arrive out of order; the low-water mark only moves past answered numbers (amortised O(1)).
    const ring = this.answered;
    const mask = ring.length - 1;
    while (this.lowest < this.nextSeq && ring[this.lowest & mask] === 1) {
      ring[this.lowest & mask] = 0;
      this.lowest++;
    }
    return this.lowest - 1;
  }

  /**
   * Submits a command, retrying through leader changes and timeouts until the
   * deadline; it is applied at most once. Rejects with `session_expired` if the
   * session idled out (open a new one), or `timeout` if no answer came in time.
   */
  processCommand<R = unknown>(command: unknown, options: RequestOptions = {}): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.submit(command, options, (err, value) => (err === null ? resolve(value as R) : reject(err)));
    });
  }

  /** processCommand with a callback (simulated clients stay on virtual time). */
  submit(command: unknown, options: RequestOptions, cb: (err: ConcordError | null, value: unknown) => void): void {
    let body: Request;
    try {
      body = commandRequest(command, { id: this.id, seq: this.nextSeq, acked: this.acked });
    } catch (e) {
      return cb(e as ConcordError, undefined);
    }
    const seq = this.nextSeq++;
    if (seq - this.lowest >= this.answered.length) this.grow();
    this.host.submit(this.cluster, body, options, (err, value) => {
      this.answered[seq & (this.answered.length - 1)] = 1;
      cb(err, value);
    });
  }

  /** Doubles the ring, keeping what is known of the numbers before the newest. */
  private grow(): void {
    const old = this.answered;
    const ring = new Uint8Array(old.length * 2);
    for (let s = this.lowest; s < this.nextSeq - 1; s++) ring[s & (ring.length - 1)] = old[s & (old.length - 1)] as number;
    this.answered = ring;
  }
}

/**
 * A command request: the command msgpack-encoded here, once (it travels and
 * enters the log as these bytes). Throws an `invalid_argument` ConcordError
 * for a value msgpack cannot encode.
 */
export function commandRequest(command: unknown, session?: SessionTag): Request {
  let bytes: Uint8Array;
  try {
    bytes = encodeValue(command);
  } catch (e) {
    throw new ConcordError('invalid_argument', `command cannot be encoded: ${e instanceof Error ? e.message : String(e)}`);
  }
  return session === undefined ? { type: 'command', command: bytes } : { type: 'command', command: bytes, session };
}

/** Registers a new session with the cluster (a replicated command) and calls back with it. */
export function openSession(host: SessionHost, cluster: string, options: RequestOptions, cb: (err: ConcordError | null, session: Session | undefined) => void): void {
  host.submit(cluster, { type: 'register_session' }, options, (err, id) => {
    if (err !== null) cb(err, undefined);
    else cb(null, new Session(host, cluster, id as number));
  });
}
