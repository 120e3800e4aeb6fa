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
  /**
   * The incarnation of the sender's cluster: a random id the cluster got when
   * it was started. A member of an earlier cluster of the same name (one that
   * deleteCluster could not reach) is told apart by it and not heard.
   * Absent from members started before incarnations (heard by everyone).
   */
  readonly incarnation?: number | undefined;
}

/** A request from a client-side System to the node hosting a cluster member (or the node itself). */
export interface RequestEnvelope {
  readonly type: 'request';
  readonly id: number;
  readonly from: string;
  readonly cluster: string;
  readonly body: Request;
  /**
   * The caller's span as a W3C `traceparent` (00-<trace id>-<span id>-<flags>),
   * only when that span is sampled: the serving node's span joins its trace.
   */
  readonly trace?: string | undefined;
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

/**
 * A client session (Raft thesis §6.3): commands carrying the same session id
 * and sequence number are applied at most once; `acked` tells the cluster
 * that replies up to that sequence number have been received and may be forgotten.
 */
export interface SessionTag {
  readonly id: number;
  readonly seq: number;
  readonly acked: number;
}

/** Requests a System serves. */
export type Request =
  /** `command` is the user's command, msgpack-encoded by the caller; it enters the log as these bytes. */
  | { readonly type: 'command'; readonly command: Uint8Array; readonly session?: SessionTag | undefined }
  | { readonly type: 'register_session' }
  | { readonly type: 'query'; readonly mode: 'consistent' | 'leader' | 'local'; readonly query: QuerySpec }
  | { readonly type: 'members' }
  /** `configIndex`: apply only to the configuration at that index (ServerStatus.configIndex). */
  | { readonly type: 'add_member'; readonly member: string; readonly configIndex?: number | undefined }
  | { readonly type: 'remove_member'; readonly member: string; readonly configIndex?: number | undefined }
  | { readonly type: 'transfer_leadership'; readonly target: string }
  | {
      readonly type: 'start_server';
      readonly machine: string;
      readonly members: readonly string[];
      readonly config: unknown;
      /** Join an existing cluster: start with no configuration and wait for the leader. */
      readonly join?: boolean | undefined;
      /** Idle time after which a client session expires (the same on every member). */
      readonly sessionTimeoutMs?: number | undefined;
      /**
       * For a joining member: the leader's last log index when it was started. A
       * removal at or before it removed an earlier member on this node, not this one.
       */
      readonly joinedAfter?: number | undefined;
      /** The cluster's incarnation (RaftEnvelope.incarnation); absent: the member hears every sender. */
      readonly incarnation?: number | undefined;
    }
  /**
   * The status of every member the node hosts (the request's cluster is
   * ignored); `brief`: only the count of members per role (thousands of
   * statuses do not fit in one message).
   */
  | { readonly type: 'overview'; readonly brief?: boolean | undefined }
  /**
   * Stop the local member of the cluster and delete its data, because the
   * configuration entry at `removedAt` removed it. A member that has since
   * learned of a later configuration including it (it was added again) is kept.
   * With `null`, whatever member the node hosts goes (the cluster is being deleted).
   */
  | { readonly type: 'delete_server'; readonly removedAt: number | null }
  /** Disaster recovery: the node's member continues the cluster alone (System.forceShrinkToLocal). */
  | { readonly type: 'force_shrink' };

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
  /**
   * The runtime version `node` announced (raft/core/entry_kind.ts's
   * runtimeVersion), kept after it goes down; 0 if it never did (a node of an
   * earlier build, or one not heard from yet). Absent: every node counts as 0.
   */
  runtimeOf?(node: string): number;
  /** Stops sending and receiving. */
  close(): Promise<void>;
}
