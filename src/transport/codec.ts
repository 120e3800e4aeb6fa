// The wire format of NatsTransport: batches of Envelopes and node heartbeats,
// msgpack behind a version byte. Decoding validates every field and never throws.
//
// A batch:     [version] msgpack array32 [from, to, envelope, envelope, ...]
// A heartbeat: [version] msgpack [node, incarnation, leaving, runtime version]
// Each envelope is a positional array (wire_encode.ts); envelopes are encoded
// one by one and concatenated, so a batch is split at an exact byte size.
// Decoded binaries never alias the socket buffer: the entries of one
// AppendEntries share one fresh copy, other binaries get their own.
import { Decoder, Encoder } from '@msgpack/msgpack';
import { allocBytes, copyBytes } from '../lib/bytes.js';
import type { Envelope } from './transport.js';
import { EncodeFailure, envelopeToWire, type EncodeFailureReason } from './wire_encode.js';
import { FastEncoder } from './wire_fast.js';
import { readValue, unread } from '../lib/msgpack_values.js';
import { defaultCodecLimits, envelopeFromWire, Invalid, name, tuple, uint, type CodecDropReason, type CodecLimits } from './wire_decode.js';

export { codecDropReasons, defaultCodecLimits, type CodecDropReason, type CodecLimits } from './wire_decode.js';
export { EncodeFailure, type EncodeFailureReason } from './wire_encode.js';

/**
 * Byte 0 of every message. A receiver drops versions it does not know. Within
 * a version the format evolves by appending: a newer sender may add fields
 * at the end of any array-encoded message, and a receiver ignores fields past
 * those it knows (and fills in a default for ones an older sender leaves
 * out, as install_snapshot's configIndex). A change an older receiver must
 * not ignore takes a new version.
 */
export const wireVersion = 2;

/** Why something inbound was not delivered, with a human detail (for logs). */
export interface CodecDrop {
  readonly type: 'drop';
  readonly reason: CodecDropReason;
  readonly detail: string;
}

/** A decoded batch: the valid envelopes, and a drop for each invalid one. */
export interface DecodedBatch {
  readonly type: 'batch';
  readonly from: string;
  readonly to: string;
  readonly envelopes: Envelope[];
  readonly drops: CodecDrop[];
}

/** A node's periodic "I am alive" (or, with `leaving`, its goodbye). */
export interface Heartbeat {
  readonly type: 'heartbeat';
  readonly node: string;
  /** Distinguishes runs of one node id: a new value means the node restarted. */
  readonly incarnation: number;
  readonly leaving: boolean;
  /** The runtime version the node runs (0 from a node of an earlier build, which sends none). */
  readonly runtime: number;
}

/** An envelope that could not be put on the wire. */
export interface EncodeFailed {
  readonly env: Envelope;
  readonly reason: EncodeFailureReason;
  readonly detail: string;
}

/** One destination's envelopes as messages ready to publish. */
export interface EncodedBatches {
  /** Fresh buffers (never reused: nats.js keeps them until its flush), each at most bytesMax long. */
  readonly messages: Uint8Array[];
  /** Envelopes in each message. */
  readonly counts: number[];
  readonly failed: EncodeFailed[];
}

function drop(reason: CodecDropReason, detail: string): CodecDrop {
  return { type: 'drop', reason, detail };
}

function dropOf(e: unknown): CodecDrop {
  if (e instanceof Invalid) return drop(e.reason, e.detail);
  return drop('internal', e instanceof Error ? e.message : String(e));
}

/** Encodes and decodes; one per transport (it keeps a scratch buffer and msgpack state). */
export class Codec {
  readonly limits: CodecLimits;
  private readonly encoder: Encoder;
  private readonly fast: FastEncoder;
  private readonly decoder: Decoder;
  private scratch = new Uint8Array(0);
  private readonly heads = new Map<string, Uint8Array>();

  constructor(limits: Partial<CodecLimits> = {}) {
    this.limits = { ...defaultCodecLimits, ...limits };
    const l = this.limits;
    // Envelope arrays add up to four levels above a user value.
    this.encoder = new Encoder({ ignoreUndefined: true, maxDepth: l.valueDepthMax + 4 });
    this.fast = new FastEncoder(l.valueDepthMax + 3);
    const max = l.messageBytesMax;
    this.decoder = new Decoder({ maxStrLength: max, maxBinLength: max, maxArrayLength: max, maxMapLength: max, maxExtLength: max });
  }

  /**
   * Encodes `envs` (all for `to`) into as few messages as fit in `bytesMax`
   * each. An envelope that cannot travel (a function query, a value msgpack
   * cannot encode, bigger than a message) is reported in `failed`.
   */
  encodeBatch(from: string, to: string, envs: readonly Envelope[], bytesMax: number): EncodedBatches {
    const out: EncodedBatches = { messages: [], counts: [], failed: [] };
    const head = this.batchHead(from, to);
    const buf = this.scratchOf(bytesMax);
    buf.set(head, 0);
    let off = head.length;
    let count = 0;
    for (const env of envs) {
      const bytes = this.tryEncode(env, out.failed);
      if (bytes === undefined) continue;
      if (head.length + bytes.length > bytesMax) {
        out.failed.push({ env, reason: 'oversized', detail: `${bytes.length} bytes do not fit in a ${bytesMax}-byte message` });
        continue;
      }
      if (off + bytes.length > bytesMax) {
        this.seal(buf, off, count, out);
        off = head.length;
        count = 0;
      }
      buf.set(bytes, off);
      off += bytes.length;
      count++;
    }
    if (count > 0) this.seal(buf, off, count, out);
    return out;
  }

  /** One envelope's encoding (a copy); throws EncodeFailure when it cannot travel. */
  encodeEnvelope(env: Envelope): Uint8Array {
    return this.encodeShared(env).slice();
  }

  /** The bytes an envelope takes in a batch; throws EncodeFailure when it cannot travel. */
  encodedSize(env: Envelope): number {
    return this.encodeShared(env).length;
  }

  /** Decodes and validates a batch. Never throws: anything wrong is a drop with a reason. */
  decodeBatch(bytes: Uint8Array): DecodedBatch | CodecDrop {
    try {
      const raw = this.unpack(bytes);
      if (!Array.isArray(raw) || raw.length < 2) return drop('shape', 'batch: expected [from, to, ...envelopes]');
      const from = name(raw[0], 'batch.from');
      const to = name(raw[1], 'batch.to');
      const batch: DecodedBatch = { type: 'batch', from, to, envelopes: [], drops: [] };
      for (let i = 2; i < raw.length; i++) {
        try {
          batch.envelopes.push(envelopeFromWire(raw[i], from, to, this.limits));
        } catch (e) {
          batch.drops.push(dropOf(e));
        }
      }
      return batch;
    } catch (e) {
      return dropOf(e);
    }
  }

  /** Encodes a heartbeat. */
  encodeHeartbeat(hb: Heartbeat): Uint8Array {
    return this.withVersion(this.encoder.encodeSharedRef([hb.node, hb.incarnation, hb.leaving, hb.runtime]));
  }

  /** Decodes and validates a heartbeat. Never throws. */
  decodeHeartbeat(bytes: Uint8Array): Heartbeat | CodecDrop {
    try {
      const [node, incarnation, leaving, runtime] = tuple(this.unpack(bytes), 3, 'heartbeat');
      if (typeof leaving !== 'boolean') return drop('bad_field', 'heartbeat.leaving: expected a boolean');
      const announced = runtime === undefined ? 0 : uint(runtime, 'heartbeat.runtime');
      return { type: 'heartbeat', node: name(node, 'heartbeat.node'), incarnation: uint(incarnation, 'heartbeat.incarnation'), leaving, runtime: announced };
    } catch (e) {
      return dropOf(e);
    }
  }

  // ---- internals ----

  private encodeShared(env: Envelope): Uint8Array {
    let fast: Uint8Array | undefined;
    try {
      fast = this.fast.encode(env);
    } catch (e) {
      throw new EncodeFailure('unencodable', e instanceof Error ? e.message : String(e));
    }
    if (fast !== undefined) return fast;
    const wire = envelopeToWire(env);
    try {
      return this.encoder.encodeSharedRef(wire);
    } catch (e) {
      throw new EncodeFailure('unencodable', e instanceof Error ? e.message : String(e));
    }
  }

  private tryEncode(env: Envelope, failed: EncodeFailed[]): Uint8Array | undefined {
    try {
      return this.encodeShared(env);
    } catch (e) {
      if (e instanceof EncodeFailure) failed.push({ env, reason: e.reason, detail: e.message });
      else failed.push({ env, reason: 'unencodable', detail: e instanceof Error ? e.message : String(e) });
      return undefined;
    }
  }

  /** Version byte, array32 marker with room for the count, then both names (kept per pair: they are few). */
  private batchHead(from: string, to: string): Uint8Array {
    const key = `${from} ${to}`;
    let head = this.heads.get(key);
    if (head === undefined) {
      if (this.heads.size >= 4096) this.heads.clear();
      head = this.newBatchHead(from, to);
      this.heads.set(key, head);
    }
    return head;
  }

  private newBatchHead(from: string, to: string): Uint8Array {
    const f = this.encoder.encode(from);
    const t = this.encoder.encode(to);
    const head = new Uint8Array(6 + f.length + t.length);
    head[0] = wireVersion;
    head[1] = 0xdd;
    head.set(f, 6);
    head.set(t, 6 + f.length);
    return head;
  }

  private seal(buf: Uint8Array, end: number, count: number, out: EncodedBatches): void {
    new DataView(buf.buffer, buf.byteOffset, 6).setUint32(2, count + 2);
    out.messages.push(copyBytes(buf.subarray(0, end)));
    out.counts.push(count);
  }

  private scratchOf(bytesMax: number): Uint8Array {
    if (this.scratch.length < bytesMax) this.scratch = new Uint8Array(bytesMax);
    return this.scratch;
  }

  private withVersion(body: Uint8Array): Uint8Array {
    const out = allocBytes(body.length + 1);
    out[0] = wireVersion;
    out.set(body, 1);
    return out;
  }

  /** Checks size and version, then msgpack; any failure is thrown as Invalid. */
  private unpack(bytes: Uint8Array): unknown {
    if (bytes.length < 2) throw new Invalid('truncated', `${bytes.length} bytes`);
    if (bytes.length > this.limits.messageBytesMax) throw new Invalid('too_long', `${bytes.length} bytes > messageBytesMax`);
    if (bytes[0] !== wireVersion) throw new Invalid('version', `format version ${bytes[0]}, this node reads ${wireVersion}`);
    try {
      const v = readValue(bytes, 1);
      return v !== unread ? v : this.decoder.decode(bytes.subarray(1));
    } catch (e) {
      throw new Invalid('msgpack', e instanceof Error ? e.message : String(e));
    }
  }
}

let shared: Codec | undefined;

/** The bytes `env` takes in a batch, with the default limits (for sizing batches); throws EncodeFailure when it cannot travel. */
export function encodedSize(env: Envelope): number {
  shared ??= new Codec();
  return shared.encodedSize(env);
}
