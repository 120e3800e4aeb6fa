// Envelopes as positional msgpack arrays (the format codec.ts documents):
// a numeric tag first, then the fields in a fixed order, nil for an absent option.
import { assertNever } from '../lib/assert.js';
import type { ClusterConfig, Entry, RaftMessage } from '../raft/core/types.js';
import type { Envelope, QuerySpec, Request, Response, SessionTag, WireError } from './transport.js';

/** Tags of the envelope kinds (element 0 of an envelope array). */
export const envelopeTag = { raft: 0, request: 1, response: 2, notify: 3 } as const;

/** Tags of the Raft messages (element 0 of a message array). */
export const messageTag = {
  append_entries: 0,
  append_entries_reply: 1,
  request_vote: 2,
  request_vote_reply: 3,
  timeout_now: 4,
  install_snapshot: 5,
  install_snapshot_reply: 6,
} as const;

/** Tags of the request bodies (element 0 of a request body array). */
export const requestTag = {
  command: 0,
  register_session: 1,
  query: 2,
  members: 3,
  add_member: 4,
  remove_member: 5,
  transfer_leadership: 6,
  start_server: 7,
  delete_server: 8,
  overview: 9,
  force_shrink: 10,
} as const;

/** Query modes on the wire. */
export const queryModes = ['consistent', 'leader', 'local'] as const;

/** Why an envelope could not be put on the wire. */
export type EncodeFailureReason = 'fn_query' | 'unencodable' | 'oversized';

/** Thrown inside the encoder for an envelope that cannot travel; caught by the Codec. */
export class EncodeFailure extends Error {
  constructor(
    readonly reason: EncodeFailureReason,
    message: string,
  ) {
    super(message);
  }
}

/** The positional array of an envelope. */
export function envelopeToWire(env: Envelope): unknown[] {
  switch (env.type) {
    case 'raft':
      // The incarnation goes last: a node that does not know it ignores it.
      return [envelopeTag.raft, env.cluster, env.from, env.to, messageToWire(env.msg), env.incarnation ?? null];
    case 'request':
      // The trace goes last, and only when there is one: a node that does not know it ignores it.
      if (env.trace !== undefined) return [envelopeTag.request, env.id, env.from, env.cluster, requestToWire(env.body), env.trace];
      return [envelopeTag.request, env.id, env.from, env.cluster, requestToWire(env.body)];
    case 'response':
      return [envelopeTag.response, env.id, ...responseToWire(env.body)];
    case 'notify':
      return [envelopeTag.notify, env.dest, env.msg];
    default:
      return assertNever(env, 'envelope');
  }
}

/** Entries flattened as index, term, payload triples: one array instead of one per entry. */
function entriesToWire(entries: readonly Entry[]): unknown[] {
  const flat = new Array<unknown>(entries.length * 3);
  let j = 0;
  for (const e of entries) {
    flat[j++] = e.index;
    flat[j++] = e.term;
    flat[j++] = e.payload;
  }
  return flat;
}

function messageToWire(m: RaftMessage): unknown[] {
  switch (m.type) {
    case 'append_entries':
      return [messageTag.append_entries, m.term, m.leaderId, m.prevLogIndex, m.prevLogTerm, m.leaderCommit, m.readSeq, entriesToWire(m.entries), m.quiesce === true];
    case 'append_entries_reply':
      return [messageTag.append_entries_reply, m.term, m.success, m.matchIndex, m.lastIndex, m.rejectedIndex, m.hintIndex, m.hintTerm, m.readSeq];
    case 'request_vote':
      return [messageTag.request_vote, m.term, m.candidateId, m.lastLogIndex, m.lastLogTerm, m.preVote, m.transfer];
    case 'request_vote_reply':
      return [messageTag.request_vote_reply, m.term, m.voteGranted, m.preVote];
    case 'timeout_now':
      return [messageTag.timeout_now, m.term];
    case 'install_snapshot':
      return [
        messageTag.install_snapshot,
        m.term,
        m.leaderId,
        m.lastIncludedIndex,
        m.lastIncludedTerm,
        m.config.voters,
        m.config.nonVoters,
        m.machineVersion,
        m.offset,
        m.data,
        m.done,
        m.size,
        m.configIndex,
      ];
    case 'install_snapshot_reply':
      return [messageTag.install_snapshot_reply, m.term, m.lastIncludedIndex, m.nextOffset, m.done];
    default:
      return assertNever(m, 'raft message');
  }
}

function queryToWire(q: QuerySpec): unknown[] {
  switch (q.type) {
    case 'fn':
      throw new EncodeFailure('fn_query', 'a function query cannot cross the network: use a named query');
    case 'named':
      return ['named', q.name, q.args];
    default:
      return assertNever(q, 'query');
  }
}

function requestToWire(b: Request): unknown[] {
  switch (b.type) {
    case 'command': {
      const s = b.session;
      return [requestTag.command, b.command, s === undefined ? null : [s.id, s.seq, s.acked]];
    }
    case 'register_session':
      return [requestTag.register_session];
    case 'query':
      return [requestTag.query, queryModes.indexOf(b.mode), queryToWire(b.query)];
    case 'members':
      return [requestTag.members];
    case 'add_member':
    case 'remove_member':
      // A node from before the index reads the first two and ignores it.
      return [requestTag[b.type], b.member, b.configIndex ?? null];
    case 'transfer_leadership':
      return [requestTag.transfer_leadership, b.target];
    case 'start_server':
      return [requestTag.start_server, b.machine, b.members, b.config, b.join ?? null, b.sessionTimeoutMs ?? null, b.joinedAfter ?? null, b.incarnation ?? null];
    case 'delete_server':
      return [requestTag.delete_server, b.removedAt];
    case 'overview':
      return [requestTag.overview, b.brief === true];
    case 'force_shrink':
      return [requestTag.force_shrink];
    default:
      return assertNever(b, 'request');
  }
}

function responseToWire(r: Response): unknown[] {
  if (r.ok) return [true, r.value];
  return [false, [r.error.code, r.error.message, r.error.leader ?? null]];
}

// ---- compile-time coverage: a field added to a message type must be added here ----
// A positional format silently drops a field it does not know, so each type's
// fields are listed below; a new field fails the build ("does not satisfy the
// constraint 'never'") until the encoder and decoder carry it.

type Uncovered<U extends { type: string }, F extends { [K in U['type']]: PropertyKey }> = {
  [K in U['type']]: Exclude<keyof Extract<U, { type: K }>, F[K]>;
}[U['type']];
type Covered<T extends never> = T;

/** @internal */
export type EnvelopeFieldsCovered = Covered<
  Uncovered<Envelope, { raft: 'type' | 'cluster' | 'from' | 'to' | 'msg' | 'incarnation'; request: 'type' | 'id' | 'from' | 'cluster' | 'body' | 'trace'; response: 'type' | 'id' | 'body'; notify: 'type' | 'dest' | 'msg' }>
>;
/** @internal */
export type MessageFieldsCovered = Covered<
  Uncovered<
    RaftMessage,
    {
      append_entries: 'type' | 'term' | 'leaderId' | 'prevLogIndex' | 'prevLogTerm' | 'entries' | 'leaderCommit' | 'readSeq' | 'quiesce';
      append_entries_reply: 'type' | 'term' | 'success' | 'matchIndex' | 'lastIndex' | 'rejectedIndex' | 'hintIndex' | 'hintTerm' | 'readSeq';
      request_vote: 'type' | 'term' | 'candidateId' | 'lastLogIndex' | 'lastLogTerm' | 'preVote' | 'transfer';
      request_vote_reply: 'type' | 'term' | 'voteGranted' | 'preVote';
      timeout_now: 'type' | 'term';
      install_snapshot: 'type' | 'term' | 'leaderId' | 'lastIncludedIndex' | 'lastIncludedTerm' | 'config' | 'configIndex' | 'machineVersion' | 'offset' | 'data' | 'done' | 'size';
      install_snapshot_reply: 'type' | 'term' | 'lastIncludedIndex' | 'nextOffset' | 'done';
    }
  >
>;
/** @internal */
export type RequestFieldsCovered = Covered<
  Uncovered<
    Request,
    {
      command: 'type' | 'command' | 'session';
      register_session: 'type';
      query: 'type' | 'mode' | 'query';
      members: 'type';
      add_member: 'type' | 'member' | 'configIndex';
      remove_member: 'type' | 'member' | 'configIndex';
      transfer_leadership: 'type' | 'target';
      start_server: 'type' | 'machine' | 'members' | 'config' | 'join' | 'sessionTimeoutMs' | 'joinedAfter' | 'incarnation';
      delete_server: 'type' | 'removedAt';
      overview: 'type' | 'brief';
      force_shrink: 'type';
    }
  >
>;
/** @internal */
export type PartsCovered = Covered<
  | Exclude<keyof Entry, 'index' | 'term' | 'payload'>
  | Exclude<keyof ClusterConfig, 'voters' | 'nonVoters'>
  | Exclude<keyof SessionTag, 'id' | 'seq' | 'acked'>
  | Exclude<keyof WireError, 'code' | 'message' | 'leader'>
  | Exclude<keyof Extract<QuerySpec, { type: 'named' }>, 'type' | 'name' | 'args'>
  | Exclude<keyof Extract<Response, { ok: true }>, 'ok' | 'value'>
  | Exclude<keyof Extract<Response, { ok: false }>, 'ok' | 'error'>
>;
