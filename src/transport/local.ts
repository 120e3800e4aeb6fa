// In-process transport: Systems in one process reach each other through a
// LocalNetwork. It is the embedded default and the simulator's network:
// seeded drops, delays (hence reordering), duplicates, and partitions,
// including one-way ones.
import { assert } from '../lib/assert.js';
import type { Clock } from '../io/clock.js';
import type { Random } from '../io/random.js';
import type { Envelope, NodeEvent, Transport } from './transport.js';
import { runtimeVersion } from '../raft/core/entry_kind.js';

/** Fault rates of the network (all off by default). */
export interface NetworkFaults {
  /** Probability that an envelope is lost. */
  dropRate: number;
  /** Probability that an envelope is delivered twice. */
  dupRate: number;
  /** Delivery delay range in ms; a range wider than zero reorders envelopes. */
  minDelayMs: number;
  maxDelayMs: number;
}

const noFaults: NetworkFaults = { dropRate: 0, dupRate: 0, minDelayMs: 0, maxDelayMs: 0 };

/** Counters of a LocalNetwork. */
export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
}

/** The wiring between LocalTransports. */
export class LocalNetwork {
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 };
  private readonly nodes = new Map<string, LocalTransport>();
  /** The runtime version each node that ever connected announced (kept after it leaves, as a NATS node's is). */
  private readonly runtimes = new Map<string, number>();
  private readonly blocked = new Set<string>();
  private faults: NetworkFaults;

  constructor(
    readonly clock: Clock,
    private readonly random: Random | undefined = undefined,
    faults: Partial<NetworkFaults> = {},
  ) {
    this.faults = { ...noFaults, ...faults };
    this.checkFaults();
  }

  /**
   * A transport for `nodeId` on this network. In one process every node runs
   * this build; `announce` makes one pass for an earlier build (tests of
   * clusters during an upgrade).
   */
  connect(nodeId: string, options: { readonly announce?: number | undefined } = {}): LocalTransport {
    assert(!this.nodes.has(nodeId), () => `node ${nodeId} is already connected`);
    const t = new LocalTransport(nodeId, this);
    this.nodes.set(nodeId, t);
    this.runtimes.set(nodeId, options.announce ?? runtimeVersion);
    this.topologyChanged();
    return t;
  }

  /** Changes the fault rates. */
  setFaults(faults: Partial<NetworkFaults>): void {
    this.faults = { ...this.faults, ...faults };
    this.checkFaults();
  }

  /** Cuts traffic from `from` to `to` (one way). */
  block(from: string, to: string): void {
    this.blocked.add(`${from}>${to}`);
    this.topologyChanged();
  }

  /** Splits the network: nodes in different groups cannot reach each other (both ways). */
  partition(groups: readonly (readonly string[])[]): void {
    this.blocked.clear();
    const groupOf = new Map<string, number>();
    groups.forEach((g, i) => g.forEach((n) => groupOf.set(n, i)));
    const all = [...new Set([...this.nodes.keys(), ...groupOf.keys()])];
    for (const a of all) for (const b of all) if (a !== b && groupOf.get(a) !== groupOf.get(b)) this.blocked.add(`${a}>${b}`);
    this.topologyChanged();
  }

  /** The runtime version `node` announced when it last connected; 0 if it never did. */
  runtimeOf(node: string): number {
    return this.runtimes.get(node) ?? 0;
  }

  /** Removes every partition and block. */
  heal(): void {
    this.blocked.clear();
    this.topologyChanged();
  }

  /** True when envelopes from `from` can reach `to`. */
  canReach(from: string, to: string): boolean {
    return from === to || (!this.blocked.has(`${from}>${to}`) && this.nodes.has(to));
  }

  /** @internal */
  detach(nodeId: string): void {
    this.nodes.delete(nodeId);
    this.topologyChanged();
  }

  /** @internal Carries a batch of envelopes from one node to another, applying the faults. */
  carry(from: string, to: string, batch: Envelope[]): void {
    const f = this.faults;
    const r = this.random;
    this.stats.sent += batch.length;
    if (r === undefined || (f.dropRate === 0 && f.dupRate === 0 && f.maxDelayMs === 0)) {
      if (!this.canReach(from, to)) {
        this.stats.dropped += batch.length;
        return;
      }
      const target = this.nodes.get(to);
      for (const env of batch) {
        this.stats.delivered++;
        target?.receive(env);
      }
      return;
    }
    for (const env of batch) {
      if (r.chance(f.dropRate)) {
        this.stats.dropped++;
        continue;
      }
      const copies = r.chance(f.dupRate) ? 2 : 1;
      if (copies === 2) this.stats.duplicated++;
      for (let i = 0; i < copies; i++) {
        const delay = r.between(f.minDelayMs, f.maxDelayMs);
        this.clock.setTimer(delay, () => {
          // Reachability is checked on arrival, so a partition also catches envelopes in flight.
          if (!this.canReach(from, to)) {
            this.stats.dropped++;
            return;
          }
          this.stats.delivered++;
          this.nodes.get(to)?.receive(env);
        });
      }
    }
  }

  private topologyChanged(): void {
    for (const t of this.nodes.values()) t.refreshLiveness();
  }

  /** @internal Nodes reachable both ways from `nodeId`. */
  reachableFrom(nodeId: string): Set<string> {
    const out = new Set<string>([nodeId]);
    for (const other of this.nodes.keys()) if (this.canReach(nodeId, other) && this.canReach(other, nodeId)) out.add(other);
    return out;
  }

  private checkFaults(): void {
    const f = this.faults;
    assert(f.dropRate >= 0 && f.dropRate < 1 && f.dupRate >= 0 && f.dupRate < 1, 'fault rates must be in [0, 1)');
    assert(f.minDelayMs >= 0 && f.maxDelayMs >= f.minDelayMs, 'bad delay range');
  }
}

/** One node's end of a LocalNetwork. Sends are batched per destination and flushed once per tick. */
export class LocalTransport implements Transport {
  private onEnvelope: ((env: Envelope) => void) | undefined;
  private onNodeEvent: ((event: NodeEvent) => void) | undefined;
  private readonly outbox = new Map<string, Envelope[]>();
  private flushScheduled = false;
  private closed = false;
  private live = new Set<string>();

  /** @internal */
  constructor(
    readonly nodeId: string,
    private readonly network: LocalNetwork,
  ) {}

  listen(onEnvelope: (env: Envelope) => void, onNodeEvent: (event: NodeEvent) => void): void {
    this.onEnvelope = onEnvelope;
    this.onNodeEvent = onNodeEvent;
    this.refreshLiveness();
  }

  send(to: string, env: Envelope): void {
    if (this.closed) return;
    let batch = this.outbox.get(to);
    if (batch === undefined) {
      batch = [];
      this.outbox.set(to, batch);
    }
    batch.push(env);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.network.clock.defer(() => this.flush());
    }
  }

  liveNodes(): ReadonlySet<string> {
    return this.live;
  }

  runtimeOf(node: string): number {
    return this.network.runtimeOf(node);
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.outbox.clear();
      this.network.detach(this.nodeId);
    }
    return Promise.resolve();
  }

  /** @internal */
  receive(env: Envelope): void {
    if (this.closed || this.onEnvelope === undefined) return;
    this.onEnvelope(env);
  }

  /** @internal Recomputes which nodes are reachable and reports the changes. */
  refreshLiveness(): void {
    if (this.closed) return;
    const next = this.network.reachableFrom(this.nodeId);
    const prev = this.live;
    this.live = next;
    if (this.onNodeEvent === undefined) return;
    for (const n of prev) if (!next.has(n)) this.onNodeEvent({ type: 'node_down', node: n });
    for (const n of next) if (!prev.has(n)) this.onNodeEvent({ type: 'node_up', node: n });
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    const batches = [...this.outbox];
    this.outbox.clear();
    for (const [to, batch] of batches) this.network.carry(this.nodeId, to, batch);
  }
}
