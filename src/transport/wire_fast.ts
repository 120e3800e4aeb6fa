// The envelopes that carry every command (requests, responses, AppendEntries
// and its replies) written straight into bytes, in the exact form
// wire_encode.ts + @msgpack/msgpack give them (a test checks byte equality):
// no positional arrays to build, no per-element type dispatch, entries'
// payloads copied once. Anything unusual (a negative or fractional number
// where a count belongs, an error response) is left to the generic path.
import { Encoder } from '@msgpack/msgpack';
import type { AppendEntries, AppendEntriesReply } from '../raft/core/types.js';
import type { Envelope } from './transport.js';
import { envelopeTag, messageTag, requestTag } from './wire_encode.js';
import { putNumber } from '../lib/msgpack_numbers.js';
import { GrowableBytes } from '../lib/bytes.js';
import { writeArrayHead, writeBinary, writeByte, writeRaw, writeValue } from '../lib/msgpack_values.js';

/** Thrown (and caught inside) when a field is not of the form the fast path writes. */
const notFast = new Error('not for the fast path');

/** Writes hot envelopes; one per Codec (it keeps a growing buffer and a cache of encoded names). */
export class FastEncoder {
  private readonly out = new GrowableBytes(4096);
  private readonly names = new Map<string, Uint8Array>();

  /** Encodes names once (then cached) and the response values the hand-written writer leaves to the library. */
  private readonly generic: Encoder;

  constructor(
    /**
     * How deep a response value may nest, for both writers: one less than the
     * envelope encoder's maxDepth, as a value written here sits one level
     * below an envelope there, and must fail alike.
     */
    private readonly valueMaxDepth: number,
  ) {
    this.generic = new Encoder({ ignoreUndefined: true, maxDepth: valueMaxDepth });
  }

  /** The envelope's bytes (a view, valid until the next call), or undefined when the generic path must encode it. */
  encode(env: Envelope): Uint8Array | undefined {
    this.out.reset();
    try {
      if (!this.envelope(env)) return undefined;
    } catch (e) {
      if (e === notFast) return undefined;
      throw e;
    }
    return this.out.written();
  }

  private envelope(env: Envelope): boolean {
    switch (env.type) {
      case 'request': {
        const b = env.body;
        if (b.type !== 'command') return false;
        const trace = env.trace;
        if (trace !== undefined && typeof trace !== 'string') throw notFast;
        this.arrayHead(trace === undefined ? 5 : 6);
        this.uint(envelopeTag.request);
        this.uint(env.id);
        this.name(env.from);
        this.name(env.cluster);
        this.arrayHead(3);
        this.uint(requestTag.command);
        this.bin(b.command);
        const s = b.session;
        if (s === undefined) this.byte(0xc0);
        else {
          this.arrayHead(3);
          this.uint(s.id);
          this.uint(s.seq);
          this.uint(s.acked);
        }
        if (trace !== undefined) this.raw(this.generic.encode(trace));
        return true;
      }
      case 'response': {
        const r = env.body;
        if (!r.ok) return false;
        this.arrayHead(4);
        this.uint(envelopeTag.response);
        this.uint(env.id);
        this.byte(0xc3);
        if (!writeValue(this.out, r.value, this.valueMaxDepth)) this.raw(this.generic.encodeSharedRef(r.value));
        return true;
      }
      case 'raft': {
        const m = env.msg;
        if (m.type !== 'append_entries' && m.type !== 'append_entries_reply') return false;
        this.arrayHead(6);
        this.uint(envelopeTag.raft);
        this.name(env.cluster);
        this.name(env.from);
        this.name(env.to);
        if (m.type === 'append_entries') this.appendEntries(m);
        else this.appendEntriesReply(m);
        this.optionalUint(env.incarnation);
        return true;
      }
      default:
        return false;
    }
  }

  private appendEntries(m: AppendEntries): void {
    this.arrayHead(9);
    this.uint(messageTag.append_entries);
    this.uint(m.term);
    this.name(m.leaderId);
    this.uint(m.prevLogIndex);
    this.uint(m.prevLogTerm);
    this.uint(m.leaderCommit);
    this.uint(m.readSeq);
    const entries = m.entries;
    this.arrayHead(entries.length * 3);
    for (const e of entries) {
      this.uint(e.index);
      this.uint(e.term);
      this.bin(e.payload);
    }
    this.byte(m.quiesce === true ? 0xc3 : 0xc2);
  }

  private appendEntriesReply(m: AppendEntriesReply): void {
    this.arrayHead(9);
    this.uint(messageTag.append_entries_reply);
    this.uint(m.term);
    if (typeof m.success !== 'boolean') throw notFast;
    this.byte(m.success ? 0xc3 : 0xc2);
    this.uint(m.matchIndex);
    this.uint(m.lastIndex);
    this.optionalUint(m.rejectedIndex);
    this.optionalUint(m.hintIndex);
    this.optionalUint(m.hintTerm);
    this.optionalUint(m.readSeq);
  }

  // ---- msgpack pieces ----

  private byte(b: number): void {
    writeByte(this.out, b);
  }

  /** A non-negative safe integer, in the smallest form (as @msgpack encodes it). */
  private uint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw notFast;
    this.out.reserve(9);
    this.out.length = putNumber(this.out.bytes, this.out.length, n);
  }

  /** A number, or nil for undefined/null (as arrays carry absent options). */
  private optionalUint(n: number | undefined | null): void {
    if (n === undefined || n === null) this.byte(0xc0);
    else this.uint(n);
  }

  private arrayHead(n: number): void {
    writeArrayHead(this.out, n);
  }

  private bin(data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw notFast;
    writeBinary(this.out, data);
  }

  /** A string that names a node or cluster: encoded once, then copied (they are few). */
  private name(s: string): void {
    if (typeof s !== 'string') throw notFast;
    let encoded = this.names.get(s);
    if (encoded === undefined) {
      if (this.names.size >= 4096) this.names.clear();
      encoded = this.generic.encode(s);
      this.names.set(s, encoded);
    }
    this.raw(encoded);
  }

  private raw(bytes: Uint8Array): void {
    writeRaw(this.out, bytes);
  }
}
