// Entry payloads as the server writes them: the kind byte the core reads,
// then a msgpack body. Commands carry the leader's timestamp so that
// time-based machine logic gives the same answer on every member.
import { Decoder, Encoder, decodeMulti } from '@msgpack/msgpack';
import { ConcordError } from '../../lib/errors.js';
import { EntryKind } from '../core/entry_kind.js';

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
  | { readonly type: 'user'; readonly timestamp: number; readonly command: unknown; readonly session?: SessionRef | undefined }
  | { readonly type: 'down'; readonly timestamp: number; readonly node: string }
  | { readonly type: 'timeout'; readonly timestamp: number; readonly name: string }
  | { readonly type: 'register_session'; readonly timestamp: number };

const tags = { user: 0, down: 1, timeout: 2, register: 3 } as const;

function withKind(kind: number, body: unknown): Uint8Array {
  const view = encoder.encodeSharedRef(body);
  const out = new Uint8Array(view.length + 1);
  out[0] = kind;
  out.set(view, 1);
  return out;
}

/** Encodes a command entry payload. */
export function encodeCommand(body: CommandBody): Uint8Array {
  switch (body.type) {
    case 'user':
      return body.session === undefined
        ? withKind(EntryKind.command, [tags.user, body.timestamp, body.command])
        : withKind(EntryKind.command, [tags.user, body.timestamp, body.command, body.session.id, body.session.seq, body.session.acked]);
    case 'down':
      return withKind(EntryKind.command, [tags.down, body.timestamp, body.node]);
    case 'timeout':
      return withKind(EntryKind.command, [tags.timeout, body.timestamp, body.name]);
    case 'register_session':
      return withKind(EntryKind.command, [tags.register, body.timestamp, null]);
  }
}

/** Decodes a command entry payload; a malformed one is a `corrupt` error (it passed checksums, so it is a bug). */
export function decodeCommand(payload: Uint8Array): CommandBody {
  const raw = decoder.decode(payload.subarray(1)) as unknown;
  if (Array.isArray(raw) && (raw.length === 3 || raw.length === 6) && typeof raw[1] === 'number') {
    const [tag, timestamp, value, id, seq, acked] = raw as [number, number, unknown, unknown, unknown, unknown];
    if (tag === tags.user && raw.length === 3) return { type: 'user', timestamp, command: value };
    if (tag === tags.user && typeof id === 'number' && typeof seq === 'number' && typeof acked === 'number') {
      return { type: 'user', timestamp, command: value, session: { id, seq, acked } };
    }
    if (tag === tags.down && typeof value === 'string') return { type: 'down', timestamp, node: value };
    if (tag === tags.timeout && typeof value === 'string') return { type: 'timeout', timestamp, name: value };
    if (tag === tags.register) return { type: 'register_session', timestamp };
  }
  throw new ConcordError('corrupt', 'malformed command entry');
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

/** msgpack for machine states and other values (snapshots by default). */
export function encodeValue(value: unknown): Uint8Array {
  return encoder.encode(value);
}

/** Decodes what encodeValue made. */
export function decodeValue(bytes: Uint8Array): unknown {
  return decoder.decode(bytes);
}

/** Decodes a concatenation of values made by encodeValue (e.g. snapshot chunks), in order. */
export function decodeValues(bytes: Uint8Array): Iterable<unknown> {
  return decodeMulti(bytes);
}
