// Entry payloads as the server writes them: the kind byte the core reads,
// then a msgpack body. Commands carry the leader's timestamp so that
// time-based machine logic gives the same answer on every member.
import { Decoder, Encoder, decodeMulti } from '@msgpack/msgpack';
import { ConcordError } from '../../lib/errors.js';
import { allocBytes, copyBytes, GrowableBytes } from '../../lib/bytes.js';
import { readValue, unread, writeValue } from '../../lib/msgpack_values.js';
import { EntryKind } from '../core/entry_kind.js';
import { lastReadEnd, numberSize, putNumber, readNumber } from '../../lib/msgpack_numbers.js';

const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder();

/** A command's client session: id, sequence number, and the highest sequence number whose reply the client has. */
export interface SessionRef {
  readonly id: number;
  readonly seq: number;
  readonly acked: number;
}

/** What a command entry holds once decoded. */
export type CommandBody =
  | {
      readonly type: 'user';
      readonly timestamp: number;
      readonly command: unknown;
      readonly session?: SessionRef | undefined;
      /** Set when the command's bytes do not decode (the command is then undefined): every member rejects it alike. */
      readonly invalid?: string;
    }
  | { readonly type: 'down'; readonly timestamp: number; readonly node: string }
  | { readonly type: 'timeout'; readonly timestamp: number; readonly name: string }
  | { readonly type: 'register_session'; readonly timestamp: number };

/** A command as the leader proposes it: a user command arrives already msgpack-encoded, and stays so. */
export type ProposedCommand = Exclude<CommandBody, { type: 'user' }> | { readonly type: 'user'; readonly timestamp: number; readonly command: Uint8Array; readonly session?: SessionRef | undefined };

// `user` (0) entries, written before commands kept their bytes, had the session after the command; still read.
const tags = { user: 0, down: 1, timeout: 2, register: 3, userBytes: 4 } as const;

function withKind(kind: number, body: unknown): Uint8Array {
  const view = encoder.encodeSharedRef(body);
  const out = allocBytes(view.length + 1);
  out[0] = kind;
  out.set(view, 1);
  return out;
}

/**
 * A user command entry, written by hand so that the command's bytes are
 * copied, not decoded and encoded again: kind, then the msgpack array
 * [userBytes, timestamp, (session id, seq, acked,) command], the command last
 * so that the numbers before it can be read back even if it does not decode.
 */
function userEntry(timestamp: number, command: Uint8Array, session: SessionRef | undefined): Uint8Array {
  let size = 3 + command.length + numberSize(timestamp);
  if (session !== undefined) size += numberSize(session.id) + numberSize(session.seq) + numberSize(session.acked);
  const out = allocBytes(size);
  out[0] = EntryKind.command;
  out[1] = session === undefined ? 0x93 : 0x96;
  out[2] = tags.userBytes;
  let at = putNumber(out, 3, timestamp);
  if (session !== undefined) at = putNumber(out, putNumber(out, putNumber(out, at, session.id), session.seq), session.acked);
  out.set(command, at);
  return out;
}

/**
 * A userBytes entry, read by hand up to the command (the numbers; the
 * command decodes on its own). A command whose bytes do not decode (bytes no
 * caller's encoder makes, sent in process past every check) is marked
 * invalid, with the reason: every member reads the same, so every member
 * refuses it alike.
 */
function decodeUser(payload: Uint8Array): CommandBody {
  const timestamp = readNumber(payload, 3);
  let session: SessionRef | undefined;
  if (payload[1] === 0x96) {
    const id = readNumber(payload, lastReadEnd());
    const seq = readNumber(payload, lastReadEnd());
    const acked = readNumber(payload, lastReadEnd());
    session = { id, seq, acked };
  }
  let command: unknown;
  try {
    command = ownBinaries(decodeValueAt(payload, lastReadEnd()));
  } catch (e) {
    const invalid = `the command is not valid msgpack: ${e instanceof Error ? e.message : String(e)}`;
    return session === undefined ? { type: 'user', timestamp, command: undefined, invalid } : { type: 'user', timestamp, command: undefined, session, invalid };
  }
  return session === undefined ? { type: 'user', timestamp, command } : { type: 'user', timestamp, command, session };
}

/** Encodes a command entry payload. */
export function encodeCommand(body: ProposedCommand): Uint8Array {
  switch (body.type) {
    case 'user':
      return userEntry(body.timestamp, body.command, body.session);
    case 'down':
      return withKind(EntryKind.command, [tags.down, body.timestamp, body.node]);
    case 'timeout':
      return withKind(EntryKind.command, [tags.timeout, body.timestamp, body.name]);
    case 'register_session':
      return withKind(EntryKind.command, [tags.register, body.timestamp, null]);
  }
}

/**
 * The decoder's binaries are views into the entry's buffer, which may be a
 * whole AppendEntries' worth of entries: a machine that keeps one would keep
 * all of it. Commands reach the machine with binaries of their own.
 */
function ownBinaries(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (v instanceof Uint8Array) return v.slice();
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = ownBinaries(v[i]);
  } else if (!(v instanceof Date)) {
    const o = v as Record<string, unknown>;
    for (const k in o) o[k] = ownBinaries(o[k]);
  }
  return v;
}

/** Decodes a command entry payload; a malformed one is a `corrupt` error (it passed checksums, so it is a bug). */
export function decodeCommand(payload: Uint8Array): CommandBody {
  if (payload[2] === tags.userBytes && (payload[1] === 0x93 || payload[1] === 0x96)) return decodeUser(payload);
  let raw: unknown;
  try {
    raw = decoder.decode(payload.subarray(1));
  } catch (e) {
    throw new ConcordError('corrupt', 'malformed command entry', { cause: e });
  }
  if (!Array.isArray(raw) || typeof raw[1] !== 'number' || (raw.length !== 3 && raw.length !== 6)) throw new ConcordError('corrupt', 'malformed command entry');
  const [tag, timestamp, value] = raw as [unknown, number, unknown];
  if (tag === tags.user) {
    // The layout before commands kept their bytes: [user, timestamp, command, (id, seq, acked)].
    const command = ownBinaries(value);
    if (raw.length === 3) return { type: 'user', timestamp, command };
    const [id, seq, acked] = raw.slice(3, 6) as unknown[];
    if (typeof id === 'number' && typeof seq === 'number' && typeof acked === 'number') return { type: 'user', timestamp, command, session: { id, seq, acked } };
  } else if (raw.length === 3) {
    if (tag === tags.down && typeof value === 'string') return { type: 'down', timestamp, node: value };
    if (tag === tags.timeout && typeof value === 'string') return { type: 'timeout', timestamp, name: value };
    if (tag === tags.register) return { type: 'register_session', timestamp };
  }
  throw new ConcordError('corrupt', 'malformed command entry');
}

/** A timer firing (EntryKind.timerFiring): stamped by the leader, for the setting due at `due`. */
export interface TimerFiring {
  readonly timestamp: number;
  readonly name: string;
  readonly due: number;
}

/** Encodes a timer-firing entry payload. */
export function encodeTimerFiring(f: TimerFiring): Uint8Array {
  return withKind(EntryKind.timerFiring, [f.timestamp, f.name, f.due]);
}

/** Decodes a timer-firing entry payload; a malformed one is a `corrupt` error. */
export function decodeTimerFiring(payload: Uint8Array): TimerFiring {
  let raw: unknown;
  try {
    raw = decoder.decode(payload.subarray(1));
  } catch (e) {
    throw new ConcordError('corrupt', 'malformed timer firing entry', { cause: e });
  }
  if (Array.isArray(raw) && raw.length >= 3) {
    const [timestamp, name, due] = raw as unknown[];
    if (typeof timestamp === 'number' && typeof name === 'string' && typeof due === 'number') return { timestamp, name, due };
  }
  throw new ConcordError('corrupt', 'malformed timer firing entry');
}

/** Encodes a machine-version entry payload. */
export function encodeMachineVersion(version: number): Uint8Array {
  return withKind(EntryKind.machineVersion, version);
}

/** Decodes a machine-version entry payload. */
export function decodeMachineVersion(payload: Uint8Array): number {
  const v = decoder.decode(payload.subarray(1));
  if (typeof v !== 'number') throw new ConcordError('corrupt', 'malformed machine version entry');
  return v;
}

/** Where encodeValue writes before copying out (it grows to the largest value, as the library's encoder does). */
const scratch = new GrowableBytes(4096);
/** Set while encodeValue uses `scratch`: a getter in a value that calls encodeValue gets a buffer of its own. */
let scratchBusy = false;

/** msgpack for commands, machine states and other values (snapshots by default). */
export function encodeValue(value: unknown): Uint8Array {
  const owner = !scratchBusy;
  const out = owner ? scratch : new GrowableBytes(256);
  scratchBusy = true;
  try {
    out.reset();
    return copyBytes(writeValue(out, value) ? out.written() : encoder.encodeSharedRef(value));
  } finally {
    if (owner) scratchBusy = false;
  }
}

/** Decodes what encodeValue made. */
export function decodeValue(bytes: Uint8Array): unknown {
  return decodeValueAt(bytes, 0);
}

/** The value in `bytes` from `start` to the end: read by hand when it is plain data, else by the library. */
function decodeValueAt(bytes: Uint8Array, start: number): unknown {
  const v = readValue(bytes, start);
  return v !== unread ? v : decoder.decode(bytes.subarray(start));
}

/** Decodes a concatenation of values made by encodeValue (e.g. snapshot chunks), in order. */
export function decodeValues(bytes: Uint8Array): Iterable<unknown> {
  return decodeMulti(bytes);
}
