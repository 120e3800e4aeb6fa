// Inbound validation: turns a decoded msgpack tree into a typed Envelope, or
// throws Invalid (caught by the Codec and turned into a counted drop). Every
// field is checked; binaries are copied out of the socket buffer.
import type { ClusterConfig, Entry, RaftMessage } from '../raft/core/types.js';
import type { Envelope, QuerySpec, Request, Response, SessionTag } from './transport.js';
import { envelopeTag, messageTag, queryModes, requestTag } from './wire_encode.js';
import { msgpackProblem } from './msgpack_check.js';
import { allocBytes, copyBytes } from '../lib/bytes.js';
import { isName } from '../lib/names.js';

/** Why an inbound message (or one envelope in it) was dropped. */
export type CodecDropReason =
  | 'truncated'
  | 'version'
  | 'msgpack'
  | 'shape'
  | 'unknown_type'
  | 'bad_field'
  | 'bad_name'
  | 'too_long'
  | 'bad_value'
  | 'inconsistent'
  | 'fn_query'
  | 'from_mismatch'
  | 'misaddressed'
  | 'internal';

/** Every CodecDropReason, for counters. */
export const codecDropReasons: readonly CodecDropReason[] = [
  'truncated',
  'version',
  'msgpack',
  'shape',
  'unknown_type',
  'bad_field',
  'bad_name',
  'too_long',
  'bad_value',
  'inconsistent',
  'fn_query',
  'from_mismatch',
  'misaddressed',
  'internal',
];

/** Bounds the decoder enforces beyond what the message size already bounds. */
export interface CodecLimits {
  /** Entries in one AppendEntries (default 65,536; Raft sends at most `appendEntriesMax`, 512 by default). */
  readonly entriesMax: number;
  /** Voters, non-voters or members named in one message (default 1,024). */
  readonly membersMax: number;
  /** Characters of free text: error messages, query and machine names, subscription ids (default 65,536). */
  readonly textLengthMax: number;
  /** Nesting depth of user values: commands, replies, queries' arguments, configs (default 64). */
  readonly valueDepthMax: number;
  /** Bytes of one inbound message handed to msgpack; also bounds every string, binary and array in it (default 16 MiB). */
  readonly messageBytesMax: number;
}

/** The defaults named in CodecLimits. */
export const defaultCodecLimits: CodecLimits = {
  entriesMax: 65_536,
  membersMax: 1_024,
  textLengthMax: 65_536,
  valueDepthMax: 64,
  messageBytesMax: 16 * 1024 * 1024,
};

/** A validation failure: thrown by the readers below, caught at the envelope or batch level. */
export class Invalid {
  constructor(
    readonly reason: CodecDropReason,
    readonly detail: string,
  ) {}
}

// ---- field readers ----

/** A safe non-negative integer (indexes, terms, ids, offsets). */
export function uint(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  throw new Invalid('bad_field', `${what}: expected a non-negative integer`);
}

function bool(v: unknown, what: string): boolean {
  if (typeof v === 'boolean') return v;
  throw new Invalid('bad_field', `${what}: expected a boolean`);
}

/** A W3C traceparent of version 00 with a non-zero trace and span id. */
const traceparentPattern = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/** Whether `v` is a W3C traceparent Concord carries (version 00). */
export function isTraceparent(v: unknown): v is string {
  return typeof v === 'string' && v.length === 55 && traceparentPattern.test(v);
}

/** A node or cluster name. */
export function name(v: unknown, what: string): string {
  if (isName(v)) return v;
  throw new Invalid('bad_name', `${what}: expected a name of 1-64 [A-Za-z0-9_.-]`);
}

function text(v: unknown, lim: CodecLimits, what: string, minLength = 0): string {
  if (typeof v !== 'string') throw new Invalid('bad_field', `${what}: expected a string`);
  if (v.length > lim.textLengthMax) throw new Invalid('too_long', `${what}: longer than ${lim.textLengthMax}`);
  if (v.length < minLength) throw new Invalid('bad_field', `${what}: empty`);
  return v;
}

/** A binary field, copied: the decoder's binaries are views into the socket buffer. */
function bytes(v: unknown, what: string): Uint8Array {
  if (v instanceof Uint8Array) return copyBytes(v);
  throw new Invalid('bad_field', `${what}: expected binary`);
}

/**
 * A command's msgpack bytes, copied: checked to hold one value of plain
 * data, so that what enters the log decodes on every member.
 */
function commandBytes(v: unknown, lim: CodecLimits): Uint8Array {
  const b = bytes(v, 'command');
  const problem = msgpackProblem(b, lim.valueDepthMax);
  if (problem !== undefined) throw new Invalid('bad_value', `command: ${problem}`);
  return b;
}

/**
 * An array of at least `length` elements. Elements past those this version
 * knows are fields a newer sender appended (see `wireVersion`): ignored, so
 * that nodes of two versions can run side by side during a rolling upgrade.
 */
export function tuple(v: unknown, length: number, what: string): unknown[] {
  if (Array.isArray(v) && v.length >= length) return v;
  throw new Invalid('shape', `${what}: expected an array of ${length}`);
}

function names(v: unknown, lim: CodecLimits, what: string): string[] {
  if (!Array.isArray(v)) throw new Invalid('bad_field', `${what}: expected an array`);
  if (v.length > lim.membersMax) throw new Invalid('too_long', `${what}: more than ${lim.membersMax}`);
  return v.map((n) => name(n, what));
}

/**
 * A user value (command, reply, query argument, notification, config):
 * msgpack's plain data only, nested at most valueDepthMax deep. Binaries are
 * copied in place (the tree is the decoder's own fresh objects).
 */
export function value(v: unknown, lim: CodecLimits, depth = 0): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (depth >= lim.valueDepthMax) throw new Invalid('bad_value', `value nested deeper than ${lim.valueDepthMax}`);
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = value(v[i], lim, depth + 1);
    return v;
  }
  if (v instanceof Date) return v;
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) o[k] = value(o[k], lim, depth + 1);
    return o;
  }
  throw new Invalid('bad_value', `unsupported value of type ${typeof v}`);
}

// ---- envelopes ----

/** Validates one envelope of a batch sent by `from` to `to`. */
export function envelopeFromWire(raw: unknown, from: string, to: string, lim: CodecLimits): Envelope {
  if (!Array.isArray(raw) || raw.length === 0) throw new Invalid('shape', 'envelope: expected a non-empty array');
  switch (raw[0]) {
    case envelopeTag.raft:
      return raftFromWire(raw, from, to, lim);
    case envelopeTag.request: {
      const [, id, sender, cluster, body, trace] = tuple(raw, 5, 'request');
      const env = { type: 'request', id: uint(id, 'request.id'), from: name(sender, 'request.from'), cluster: name(cluster, 'request.cluster'), body: requestFromWire(body, lim) } as const;
      // A trace that is not a well-formed traceparent is left out, not held against the request.
      return isTraceparent(trace) ? { ...env, trace } : env;
    }
    case envelopeTag.response: {
      const [, id, ok, rest] = tuple(raw, 4, 'response');
      return { type: 'response', id: uint(id, 'response.id'), body: responseFromWire(bool(ok, 'response.ok'), rest, lim) };
    }
    case envelopeTag.notify: {
      const [, dest, msg] = tuple(raw, 3, 'notify');
      return { type: 'notify', dest: text(dest, lim, 'notify.dest', 1), msg: value(msg, lim) };
    }
    default:
      throw new Invalid('unknown_type', 'envelope: unknown tag');
  }
}

function raftFromWire(raw: unknown[], from: string, to: string, lim: CodecLimits): Envelope {
  const [, cluster, sender, receiver, msg, incarnation] = tuple(raw, 5, 'raft');
  const envFrom = name(sender, 'raft.from');
  const envTo = name(receiver, 'raft.to');
  // A member speaks only for its own node: a Raft message naming another sender is forged or broken.
  if (envFrom !== from) throw new Invalid('from_mismatch', `raft.from ${envFrom} in a batch from ${from}`);
  if (envTo !== to) throw new Invalid('misaddressed', `raft.to ${envTo} in a batch to ${to}`);
  const c = name(cluster, 'raft.cluster');
  const m = messageFromWire(msg, lim);
  // One shape whether or not the sender names an incarnation (an older sender names none).
  return { type: 'raft', cluster: c, from: envFrom, to: envTo, msg: m, incarnation: incarnation === undefined || incarnation === null ? undefined : uint(incarnation, 'raft.incarnation') };
}

// ---- Raft messages ----

function messageFromWire(raw: unknown, lim: CodecLimits): RaftMessage {
  if (!Array.isArray(raw) || raw.length === 0) throw new Invalid('shape', 'raft message: expected a non-empty array');
  switch (raw[0]) {
    case messageTag.append_entries:
      return appendEntriesFromWire(raw, lim);
    case messageTag.append_entries_reply: {
      const [, term, success, matchIndex, lastIndex, rejectedIndex, hintIndex, hintTerm, readSeq] = tuple(raw, 9, 'append_entries_reply');
      return {
        type: 'append_entries_reply',
        term: uint(term, 'term'),
        success: bool(success, 'success'),
        matchIndex: uint(matchIndex, 'matchIndex'),
        lastIndex: uint(lastIndex, 'lastIndex'),
        rejectedIndex: uint(rejectedIndex, 'rejectedIndex'),
        hintIndex: uint(hintIndex, 'hintIndex'),
        hintTerm: uint(hintTerm, 'hintTerm'),
        readSeq: uint(readSeq, 'readSeq'),
      };
    }
    case messageTag.request_vote: {
      const [, term, candidateId, lastLogIndex, lastLogTerm, preVote, transfer] = tuple(raw, 7, 'request_vote');
      return {
        type: 'request_vote',
        term: uint(term, 'term'),
        candidateId: name(candidateId, 'candidateId'),
        lastLogIndex: uint(lastLogIndex, 'lastLogIndex'),
        lastLogTerm: uint(lastLogTerm, 'lastLogTerm'),
        preVote: bool(preVote, 'preVote'),
        transfer: bool(transfer, 'transfer'),
      };
    }
    case messageTag.request_vote_reply: {
      const [, term, voteGranted, preVote] = tuple(raw, 4, 'request_vote_reply');
      return { type: 'request_vote_reply', term: uint(term, 'term'), voteGranted: bool(voteGranted, 'voteGranted'), preVote: bool(preVote, 'preVote') };
    }
    case messageTag.timeout_now:
      return { type: 'timeout_now', term: uint(tuple(raw, 2, 'timeout_now')[1], 'term') };
    case messageTag.install_snapshot:
      return installSnapshotFromWire(raw, lim);
    case messageTag.install_snapshot_reply: {
      const [, term, lastIncludedIndex, nextOffset, done] = tuple(raw, 5, 'install_snapshot_reply');
      return {
        type: 'install_snapshot_reply',
        term: uint(term, 'term'),
        lastIncludedIndex: uint(lastIncludedIndex, 'lastIncludedIndex'),
        nextOffset: uint(nextOffset, 'nextOffset'),
        done: bool(done, 'done'),
      };
    }
    default:
      throw new Invalid('unknown_type', 'raft message: unknown tag');
  }
}

function appendEntriesFromWire(raw: unknown[], lim: CodecLimits): RaftMessage {
  const [, t, leaderId, pli, plt, leaderCommit, readSeq, flat, quiesce] = tuple(raw, 9, 'append_entries');
  const term = uint(t, 'term');
  const prevLogIndex = uint(pli, 'prevLogIndex');
  const prevLogTerm = uint(plt, 'prevLogTerm');
  return {
    type: 'append_entries',
    term,
    leaderId: name(leaderId, 'leaderId'),
    prevLogIndex,
    prevLogTerm,
    entries: entriesFromWire(flat, prevLogIndex, prevLogTerm, term, lim),
    leaderCommit: uint(leaderCommit, 'leaderCommit'),
    readSeq: uint(readSeq, 'readSeq'),
    ...(bool(quiesce, 'quiesce') ? { quiesce: true } : {}),
  };
}

/**
 * Entries must follow prevLogIndex one by one, with terms that never go down,
 * from prevLogTerm up to the leader's term (§5.3 Log Matching): the core may
 * rely on that, so a message that breaks it never reaches it.
 */
function entriesFromWire(flat: unknown, prevLogIndex: number, prevLogTerm: number, term: number, lim: CodecLimits): Entry[] {
  if (!Array.isArray(flat) || flat.length % 3 !== 0) throw new Invalid('shape', 'entries: expected index, term, payload triples');
  const n = flat.length / 3;
  if (n > lim.entriesMax) throw new Invalid('too_long', `entries: more than ${lim.entriesMax}`);
  let lastTerm = prevLogTerm;
  let bytesTotal = 0;
  for (let i = 0; i < n; i++) {
    const index = uint(flat[3 * i], 'entry.index');
    const entryTerm = uint(flat[3 * i + 1], 'entry.term');
    const payload = flat[3 * i + 2];
    if (!(payload instanceof Uint8Array)) throw new Invalid('bad_field', 'entry.payload: expected binary');
    if (index !== prevLogIndex + 1 + i) throw new Invalid('inconsistent', 'entries: indexes must follow prevLogIndex');
    if (entryTerm < lastTerm || entryTerm > term) throw new Invalid('inconsistent', 'entries: terms must rise from prevLogTerm to term');
    if (payload.length === 0) throw new Invalid('bad_field', 'entry.payload: empty (byte 0 is the entry kind)');
    lastTerm = entryTerm;
    bytesTotal += payload.length;
  }
  return copyEntries(flat, n, bytesTotal);
}

/**
 * Copies the payloads out of the socket buffer into one fresh buffer per
 * message: one allocation instead of one per entry (an ArrayBuffer costs
 * about 0.5 µs, a view a few ns). The entries of one AppendEntries belong to
 * one log and are kept and released together.
 */
function copyEntries(flat: unknown[], n: number, bytesTotal: number): Entry[] {
  const slab = allocBytes(bytesTotal);
  const entries = new Array<Entry>(n);
  let off = 0;
  for (let i = 0; i < n; i++) {
    const payload = flat[3 * i + 2] as Uint8Array;
    slab.set(payload, off);
    entries[i] = { index: flat[3 * i] as number, term: flat[3 * i + 1] as number, payload: slab.subarray(off, off + payload.length) };
    off += payload.length;
  }
  return entries;
}

function installSnapshotFromWire(raw: unknown[], lim: CodecLimits): RaftMessage {
  // Twelve fields from a node that does not send the configuration's index: the snapshot's stands in for it.
  const [, term, leaderId, lii, lit, voters, nonVoters, machineVersion, off, data, done, sz, ci] = raw.length === 12 ? [...raw, raw[3]] : tuple(raw, 13, 'install_snapshot');
  const offset = uint(off, 'offset');
  const size = uint(sz, 'size');
  const chunk = bytes(data, 'data');
  if (offset + chunk.length > size) throw new Invalid('inconsistent', 'install_snapshot: chunk ends past size');
  const lastIncludedIndex = uint(lii, 'lastIncludedIndex');
  const configIndex = uint(ci, 'configIndex');
  if (configIndex > lastIncludedIndex) throw new Invalid('inconsistent', 'install_snapshot: configuration past the snapshot');
  const config: ClusterConfig = { voters: names(voters, lim, 'voters'), nonVoters: names(nonVoters, lim, 'nonVoters') };
  return {
    type: 'install_snapshot',
    term: uint(term, 'term'),
    leaderId: name(leaderId, 'leaderId'),
    lastIncludedIndex,
    lastIncludedTerm: uint(lit, 'lastIncludedTerm'),
    config,
    configIndex,
    machineVersion: uint(machineVersion, 'machineVersion'),
    offset,
    data: chunk,
    done: bool(done, 'done'),
    size,
  };
}

// ---- requests and responses ----

function requestFromWire(raw: unknown, lim: CodecLimits): Request {
  if (!Array.isArray(raw) || raw.length === 0) throw new Invalid('shape', 'request body: expected a non-empty array');
  switch (raw[0]) {
    case requestTag.command: {
      const [, command, session] = tuple(raw, 3, 'command');
      const bytes = commandBytes(command, lim);
      return session === null ? { type: 'command', command: bytes } : { type: 'command', command: bytes, session: sessionFromWire(session) };
    }
    case requestTag.register_session:
      tuple(raw, 1, 'register_session');
      return { type: 'register_session' };
    case requestTag.query: {
      const [, mode, query] = tuple(raw, 3, 'query');
      const m = queryModes[uint(mode, 'query.mode')];
      if (m === undefined) throw new Invalid('unknown_type', 'query.mode: unknown');
      return { type: 'query', mode: m, query: queryFromWire(query, lim) };
    }
    case requestTag.members:
      tuple(raw, 1, 'members');
      return { type: 'members' };
    case requestTag.add_member:
      return membershipFromWire('add_member', raw);
    case requestTag.remove_member:
      return membershipFromWire('remove_member', raw);
    case requestTag.transfer_leadership:
      return { type: 'transfer_leadership', target: name(tuple(raw, 2, 'transfer_leadership')[1], 'target') };
    case requestTag.start_server:
      return startServerFromWire(raw, lim);
    case requestTag.delete_server: {
      const removedAt = tuple(raw, 2, 'delete_server')[1];
      return { type: 'delete_server', removedAt: removedAt === null ? null : uint(removedAt, 'removedAt') };
    }
    case requestTag.force_shrink:
      tuple(raw, 1, 'force_shrink');
      return { type: 'force_shrink' };
    case requestTag.overview: {
      const [, brief] = tuple(raw, 2, 'overview');
      return bool(brief, 'brief') ? { type: 'overview', brief: true } : { type: 'overview' };
    }
    default:
      throw new Invalid('unknown_type', 'request body: unknown tag');
  }
}

function membershipFromWire(type: 'add_member' | 'remove_member', raw: unknown[]): Request {
  const [, member, configIndex] = tuple(raw, 2, type);
  const body = { type, member: name(member, 'member') };
  return configIndex === undefined || configIndex === null ? body : { ...body, configIndex: uint(configIndex, 'configIndex') };
}

function sessionFromWire(raw: unknown): SessionTag {
  const [id, seq, acked] = tuple(raw, 3, 'session');
  return { id: uint(id, 'session.id'), seq: uint(seq, 'session.seq'), acked: uint(acked, 'session.acked') };
}

/** Only named queries travel: a function cannot be sent, so a message claiming one is refused. */
function queryFromWire(raw: unknown, lim: CodecLimits): QuerySpec {
  const [kind, queryName, args] = tuple(raw, 3, 'query spec');
  if (kind === 'fn') throw new Invalid('fn_query', 'function queries cannot arrive over the network');
  if (kind !== 'named') throw new Invalid('unknown_type', 'query spec: unknown kind');
  return { type: 'named', name: text(queryName, lim, 'query.name', 1), args: value(args, lim) };
}

function startServerFromWire(raw: unknown[], lim: CodecLimits): Request {
  const [, machine, members, config, join, sessionTimeoutMs, joinedAfter, incarnation] = tuple(raw, 7, 'start_server');
  const body: Extract<Request, { type: 'start_server' }> = {
    type: 'start_server',
    machine: text(machine, lim, 'machine', 1),
    members: names(members, lim, 'members'),
    config: value(config, lim),
    ...(join === null ? {} : { join: bool(join, 'join') }),
    ...(sessionTimeoutMs === null ? {} : { sessionTimeoutMs: uint(sessionTimeoutMs, 'sessionTimeoutMs') }),
    ...(joinedAfter === null ? {} : { joinedAfter: uint(joinedAfter, 'joinedAfter') }),
    ...(incarnation === undefined || incarnation === null ? {} : { incarnation: uint(incarnation, 'incarnation') }),
  };
  return body;
}

function responseFromWire(ok: boolean, rest: unknown, lim: CodecLimits): Response {
  if (ok) return { ok, value: value(rest, lim) };
  const [code, message, leader] = tuple(rest, 3, 'error');
  const c = text(code, lim, 'error.code', 1);
  if (c.length > 64) throw new Invalid('too_long', 'error.code: longer than 64');
  const error = { code: c, message: text(message, lim, 'error.message') };
  return { ok, error: leader === null ? error : { ...error, leader: name(leader, 'error.leader') } };
}
