// A Transport wrapper that shows the simulator every envelope a node sends,
// before the network sees it: what a member has revealed to the world
// (terms, votes) and which protocol paths ran (pre-vote rejections, snapshots).
// It also adds a fixed latency (a network without one lets a request loop
// between two nodes without virtual time moving) and duplicates Raft
// messages on request: the network below would duplicate client requests
// too, which no real transport does (NATS and TCP deliver a request at most
// once), and a plain command is not idempotent.
import type { Clock } from '../io/clock.js';
import type { Envelope, NodeEvent, Transport } from '../transport/transport.js';

/** Called for every envelope `from` sends to `to`. */
export type SendWatcher = (from: string, to: string, env: Envelope) => void;

/** What the wrapper asks its world. */
export interface TransportHooks {
  /** Sees every envelope sent. */
  readonly sent: SendWatcher;
  /** Whether to send this Raft envelope twice. */
  readonly duplicate: (env: Envelope) => boolean;
  /** One-way latency added to every envelope (the same for all: order per link is kept). */
  readonly latencyMs: () => number;
  readonly clock: Clock;
}

/** Passes everything through to `inner`, reporting sends and adding latency. */
export class ObservedTransport implements Transport {
  readonly nodeId: string;

  constructor(
    private readonly inner: Transport,
    private readonly hooks: TransportHooks,
  ) {
    this.nodeId = inner.nodeId;
  }

  /** Starts delivering inbound envelopes to the handlers. */
  listen(onEnvelope: (env: Envelope) => void, onNodeEvent: (event: NodeEvent) => void): void {
    this.inner.listen(onEnvelope, onNodeEvent);
  }

  /** Reports the envelope, then sends it (twice, sometimes) after the latency. */
  send(to: string, env: Envelope): void {
    const h = this.hooks;
    h.sent(this.nodeId, to, env);
    const copies = env.type === 'raft' && h.duplicate(env) ? 2 : 1;
    const latency = h.latencyMs();
    for (let i = 0; i < copies; i++) {
      if (latency > 0) h.clock.setTimer(latency, () => this.inner.send(to, env));
      else this.inner.send(to, env);
    }
  }

  /** Nodes the inner transport believes up. */
  liveNodes(): ReadonlySet<string> {
    return this.inner.liveNodes();
  }

  /** The runtime version the inner transport knows `node` runs. */
  runtimeOf(node: string): number {
    return this.inner.runtimeOf?.(node) ?? 0;
  }

  /** Closes the inner transport. */
  close(): Promise<void> {
    return this.inner.close();
  }
}
