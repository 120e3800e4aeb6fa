// The serving side of traced requests: a request that arrives with its
// caller's trace (a sampled span) is told to a probe when it arrives and when
// this node answers it, so that telemetry can put a server span in the
// caller's trace. Nothing is kept for requests without a trace, or when no
// probe watches.
import type { Clock } from '../io/clock.js';
import type { Request, RequestEnvelope, Response } from '../transport/transport.js';

/** Hears of each traced request this node serves: `begin` when it arrives, the function returned when it is answered. */
export interface ServeProbe {
  /** A request for `cluster` arrived with the caller's span as a W3C `traceparent`. */
  begin(cluster: string, body: Request, traceparent: string): ServeEnd;
}

/** The request was answered with `response`; undefined when it never will be (the member stopped, the node stops, or it waited too long). */
export type ServeEnd = (response: Response | undefined) => void;

interface Open {
  readonly end: ServeEnd;
  readonly at: number;
}

/** Traced requests that have arrived and are not answered yet, bounded in count and age. */
export class ServedRequests {
  /** Told of traced requests, when set (telemetry). */
  probe: ServeProbe | undefined;
  /** By caller and request id, oldest first. */
  private readonly open = new Map<string, Open>();

  constructor(
    private readonly clock: Clock,
    /** At most this many open at once: past it the oldest ends unanswered. */
    private readonly max = 4096,
    /** A request not answered within this long ends unanswered (its member may have stopped). */
    private readonly maxAgeMs = 120_000,
  ) {}

  /** A request arrived for this node to serve. */
  arrived(env: RequestEnvelope): void {
    if (env.trace === undefined || this.probe === undefined) return;
    const now = this.clock.now();
    for (const [key, o] of this.open) {
      if (this.open.size < this.max && o.at > now - this.maxAgeMs) break;
      this.open.delete(key);
      o.end(undefined);
    }
    const key = `${env.from}\u0000${env.id}`;
    const older = this.open.get(key);
    if (older !== undefined) {
      this.open.delete(key);
      older.end(undefined);
    }
    this.open.set(key, { end: this.probe.begin(env.cluster, env.body, env.trace), at: now });
  }

  /** This node answers request `id` from `node`. */
  answered(node: string, id: number, response: Response): void {
    if (this.open.size === 0) return;
    const key = `${node}\u0000${id}`;
    const o = this.open.get(key);
    if (o === undefined) return;
    this.open.delete(key);
    o.end(response);
  }

  /** Ends every open request unanswered (the node stops, or the probe is taken out). */
  abandonAll(): void {
    const all = [...this.open.values()];
    this.open.clear();
    for (const o of all) o.end(undefined);
  }

  /** How many traced requests are open. */
  get size(): number {
    return this.open.size;
  }
}
