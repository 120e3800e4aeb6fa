// How Systems on different processes (or in one process) reach each other:
// envelopes addressed to a node, delivered to the System that owns it.
import type { RaftMessage } from '../raft/core/types.js';

/** Raft traffic between two members of one cluster. */
export interface RaftEnvelope {
  readonly type: 'raft';
  readonly cluster: string;
  readonly from: string;
  readonly to: string;
  readonly msg: RaftMessage;
}

/** A request from a client-side System to the node hosting a cluster member (or the node itself). */
export interface RequestEnvelope {
  readonly type: 'request';
  readonly id: number;
  readonly from: string;
  readonly cluster: string;
  readonly body: Request;
}

/** The answer to a RequestEnvelope, sent back to its `from` node. */
export interface ResponseEnvelope {
  readonly type: 'response';
  readonly id: number;
  readonly body: Response;
}

/** A machine's `send` effect on its way to a subscription. */
export interface NotifyEnvelope {
  readonly type: 'notify';
  readonly dest: string;
  readonly msg: unknown;
}

/** Everything a transport carries. */
export type Envelope = RaftEnvelope | RequestEnvelope | ResponseEnvelope | NotifyEnvelope;

/** A query: a function (in-process only) or a named query of the machine. */
export type QuerySpec =
  | { readonly type: 'fn'; readonly fn: (state: unknown) => unknown }
  | { readonly type: 'named'; readonly name: string; readonly args: unknown };

/** Requests a System serves. */
export type Request =
  | { readonly type: 'command'; readonly command: unknown }
  | { readonly type: 'query'; readonly mode: 'consistent' | 'leader' | 'local'; readonly query: QuerySpec }
  | { readonly type: 'members' }
  | { readonly type: 'start_server'; readonly machine: string; readonly members: readonly string[]; readonly config: unknown };

/** An error as it travels: a stable code, a message and, for not_leader, the leader hint. */
export interface WireError {
  readonly code: string;
  readonly message: string;
  readonly leader?: string | undefined;
}

/** The outcome of a request. */
export type Response = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: WireError };

/** Liveness news about other nodes. */
export type NodeEvent = { readonly type: 'node_up'; readonly node: string } | { readonly type: 'node_down'; readonly node: string };

/** Moves envelopes between nodes. Implementations batch sends per destination per tick. */
export interface Transport {
  /** This node's id. */
  readonly nodeId: string;
  /** Starts delivering inbound envelopes (and node events) to the handlers. */
  listen(onEnvelope: (env: Envelope) => void, onNodeEvent: (event: NodeEvent) => void): void;
  /** Sends an envelope to a node (possibly this one). Delivery is not guaranteed. */
  send(to: string, env: Envelope): void;
  /** Nodes currently believed up (this one included). */
  liveNodes(): ReadonlySet<string>;
  /** Stops sending and receiving. */
  close(): Promise<void>;
}
