// Which nodes are up, from what was last heard of them: one failure detector
// per process (not per Raft group), fed by heartbeats and inbound batches.
import type { NodeEvent } from './transport.js';

interface Peer {
  lastSeenMs: number;
  /** undefined until a heartbeat names it (a batch carries none). */
  incarnation: number | undefined;
}

const none: readonly NodeEvent[] = [];

/**
 * Tracks the last time each node was heard. A node is up from the first time
 * it is heard until `nodeTimeoutMs` pass in silence, it says goodbye, or it
 * comes back with another incarnation (a restart: reported as down then up).
 * The local node is always up.
 */
export class NodeLiveness {
  private readonly peers = new Map<string, Peer>();
  private readonly up: Set<string>;

  constructor(
    readonly self: string,
    private readonly nodeTimeoutMs: number,
  ) {
    this.up = new Set([self]);
  }

  /** The nodes currently up, this one included (a live view: do not mutate). */
  get live(): ReadonlySet<string> {
    return this.up;
  }

  /** `node` was heard at `nowMs` (a heartbeat carries its incarnation). Returns the events it causes. */
  heard(node: string, nowMs: number, incarnation?: number): readonly NodeEvent[] {
    if (node === this.self) return none;
    const peer = this.peers.get(node);
    if (peer === undefined) {
      this.peers.set(node, { lastSeenMs: nowMs, incarnation });
      this.up.add(node);
      return [{ type: 'node_up', node }];
    }
    peer.lastSeenMs = Math.max(peer.lastSeenMs, nowMs);
    if (incarnation === undefined || incarnation === peer.incarnation) return none;
    const restarted = peer.incarnation !== undefined;
    peer.incarnation = incarnation;
    return restarted ? [{ type: 'node_down', node }, { type: 'node_up', node }] : none;
  }

  /** `node` said goodbye: it is down now (and up again when heard from a later incarnation). */
  left(node: string, incarnation: number): readonly NodeEvent[] {
    const peer = this.peers.get(node);
    if (peer === undefined || node === this.self) return none;
    if (peer.incarnation !== undefined && incarnation !== peer.incarnation) return none; // an older run's goodbye
    this.peers.delete(node);
    this.up.delete(node);
    return [{ type: 'node_down', node }];
  }

  /** Nodes silent for longer than nodeTimeoutMs at `nowMs` are down. */
  sweep(nowMs: number): readonly NodeEvent[] {
    let events: NodeEvent[] | undefined;
    for (const [node, peer] of this.peers) {
      if (nowMs - peer.lastSeenMs <= this.nodeTimeoutMs) continue;
      this.peers.delete(node);
      this.up.delete(node);
      (events ??= []).push({ type: 'node_down', node });
    }
    return events ?? none;
  }
}
