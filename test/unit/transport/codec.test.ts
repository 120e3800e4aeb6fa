// The NATS wire codec: every envelope round-trips; nothing the network can
// send makes the decoder throw; binaries never alias the socket buffer.
import { describe, expect, it } from 'vitest';
import { encode } from '@msgpack/msgpack';
import { Codec, codecDropReasons, EncodeFailure, encodedSize, wireVersion, type CodecDrop, type DecodedBatch } from '../../../src/transport/codec.js';
import { envelopeToWire } from '../../../src/transport/wire_encode.js';
import type { Envelope } from '../../../src/transport/transport.js';
import type { Entry, RaftMessage } from '../../../src/raft/core/types.js';
import { SeededRandom } from '../../../src/io/random.js';

const codec = new Codec();

function bytesOf(n: number, seed: number): Uint8Array {
  const r = new SeededRandom(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = r.int(256);
  return b;
}

function entries(prevLogIndex: number, n: number, size: number, term = 3): Entry[] {
  return Array.from({ length: n }, (_, i) => ({ index: prevLogIndex + 1 + i, term, payload: bytesOf(size, i + 1) }));
}

const raftMessages: RaftMessage[] = [
  { type: 'append_entries', term: 3, leaderId: 'a', prevLogIndex: 10, prevLogTerm: 2, entries: [], leaderCommit: 9, readSeq: 0 },
  { type: 'append_entries', term: 3, leaderId: 'a', prevLogIndex: 10, prevLogTerm: 2, entries: entries(10, 64, 256), leaderCommit: 10, readSeq: 7 },
  { type: 'append_entries', term: 9, leaderId: 'n-1.x', prevLogIndex: 0, prevLogTerm: 0, entries: entries(0, 512, 1, 9), leaderCommit: 0, readSeq: 2 ** 40 },
  { type: 'append_entries_reply', term: 3, success: true, matchIndex: 74, lastIndex: 74, rejectedIndex: 0, hintIndex: 0, hintTerm: 0, readSeq: 7 },
  { type: 'append_entries_reply', term: 3, success: false, matchIndex: 0, lastIndex: 5, rejectedIndex: 10, hintIndex: 4, hintTerm: 1, readSeq: 7 },
  { type: 'request_vote', term: 4, candidateId: 'b', lastLogIndex: 74, lastLogTerm: 3, preVote: true, transfer: false },
  { type: 'request_vote', term: 4, candidateId: 'b', lastLogIndex: 74, lastLogTerm: 3, preVote: false, transfer: true },
  { type: 'request_vote_reply', term: 4, voteGranted: true, preVote: false },
  { type: 'timeout_now', term: 4 },
  {
    type: 'install_snapshot',
    term: 5,
    leaderId: 'a',
    lastIncludedIndex: 1000,
    lastIncludedTerm: 4,
    config: { voters: ['a', 'b', 'c'], nonVoters: ['d'] },
    configIndex: 990,
    machineVersion: 2,
    offset: 4096,
    data: bytesOf(4096, 99),
    done: true,
    size: 8192,
  },
  { type: 'install_snapshot_reply', term: 5, lastIncludedIndex: 1000, nextOffset: 524288, done: false },
];

/** A W3C traceparent of a sampled span. */
const trace = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

const others: Envelope[] = [
  { type: 'request', id: 1, from: 'a', cluster: 'kv1', body: { type: 'command', command: encode({ type: 'put', key: 'k', value: bytesOf(300, 5), nested: [1, -2.5, null, 'x', { deep: true }] }) } },
  { type: 'request', id: 2, from: 'a', cluster: 'kv1', body: { type: 'command', command: encode('plain'), session: { id: 7, seq: 3, acked: 2 } } },
  { type: 'request', id: 3, from: 'a', cluster: 'kv1', body: { type: 'register_session' } },
  { type: 'request', id: 4, from: 'a', cluster: 'kv1', body: { type: 'query', mode: 'consistent', query: { type: 'named', name: 'get', args: 'colour' } } },
  { type: 'request', id: 5, from: 'a', cluster: 'kv1', body: { type: 'query', mode: 'leader', query: { type: 'named', name: 'keys', args: null } } },
  { type: 'request', id: 6, from: 'a', cluster: 'kv1', body: { type: 'query', mode: 'local', query: { type: 'named', name: 'size', args: [1, 2] } } },
  { type: 'request', id: 7, from: 'a', cluster: 'kv1', body: { type: 'members' } },
  { type: 'request', id: 7, from: 'a', cluster: '_', body: { type: 'overview' } },
  { type: 'request', id: 7, from: 'a', cluster: '_', body: { type: 'overview', brief: true } },
  { type: 'request', id: 8, from: 'a', cluster: 'kv1', body: { type: 'add_member', member: 'd' } },
  { type: 'request', id: 9, from: 'a', cluster: 'kv1', body: { type: 'remove_member', member: 'd' } },
  { type: 'request', id: 10, from: 'a', cluster: 'kv1', body: { type: 'transfer_leadership', target: 'c' } },
  { type: 'request', id: 11, from: 'a', cluster: 'kv1', body: { type: 'start_server', machine: 'kv', members: ['a', 'b', 'c'], config: { ttl: 5 } } },
  { type: 'request', id: 12, from: 'a', cluster: 'kv1', body: { type: 'start_server', machine: 'kv', members: ['a'], config: null, join: true, sessionTimeoutMs: 30_000, joinedAfter: 42 } },
  { type: 'request', id: 15, from: 'a', cluster: 'kv1', body: { type: 'delete_server', removedAt: 42 } },
  { type: 'response', id: 2 ** 53 - 1, body: { ok: true, value: { ok: true, previous: 'blue', when: new Date(1_700_000_000_000) } } },
  { type: 'response', id: 13, body: { ok: false, error: { code: 'not_leader', message: 'ask b', leader: 'b' } } },
  { type: 'response', id: 14, body: { ok: false, error: { code: 'timeout', message: '' } } },
  { type: 'notify', dest: 's12', msg: { event: 'changed', key: 'k', raw: new Uint8Array([1, 2, 3]) } },
  { type: 'request', id: 16, from: 'a', cluster: 'kv1', body: { type: 'command', command: encode('traced'), session: { id: 7, seq: 4, acked: 3 } }, trace },
  { type: 'request', id: 17, from: 'a', cluster: 'kv1', body: { type: 'query', mode: 'consistent', query: { type: 'named', name: 'get', args: 'k' } }, trace },
  { type: 'request', id: 8, from: 'a', cluster: 'kv1', body: { type: 'add_member', member: 'd', configIndex: 0 } },
  { type: 'request', id: 9, from: 'a', cluster: 'kv1', body: { type: 'remove_member', member: 'd', configIndex: 2 ** 40 } },
  { type: 'request', id: 18, from: 'a', cluster: 'kv1', body: { type: 'delete_server', removedAt: null } },
  { type: 'request', id: 20, from: 'a', cluster: 'kv1', body: { type: 'force_shrink' } },
  { type: 'raft', cluster: 'kv1', from: 'a', to: 'b', msg: raftMessages[1] as RaftMessage, incarnation: 0xffff_ffff },
  { type: 'raft', cluster: 'kv1', from: 'a', to: 'b', msg: raftMessages[3] as RaftMessage, incarnation: 1 },
  { type: 'raft', cluster: 'kv1', from: 'a', to: 'b', msg: { type: 'request_vote', term: 4, candidateId: 'a', lastLogIndex: 9, lastLogTerm: 3, preVote: false, transfer: false }, incarnation: 77 },
  { type: 'request', id: 19, from: 'a', cluster: 'kv1', body: { type: 'start_server', machine: 'kv', members: ['a'], config: null, sessionTimeoutMs: 1000, incarnation: 123_456 } },
];

const all: Envelope[] = [...raftMessages.map((msg): Envelope => ({ type: 'raft', cluster: 'kv1', from: 'a', to: 'b', msg })), ...others];

function decodeOk(bytes: Uint8Array): DecodedBatch {
  const d = codec.decodeBatch(bytes);
  if (d.type !== 'batch') throw new Error(`dropped: ${d.reason} ${d.detail}`);
  return d;
}

/** A batch built from raw wire arrays, to send what a valid encoder never would. */
function rawBatch(from: unknown, to: unknown, envs: unknown[]): Uint8Array {
  const body = encode([from, to, ...envs], { maxDepth: 1000 });
  const out = new Uint8Array(body.length + 1);
  out[0] = wireVersion;
  out.set(body, 1);
  return out;
}

function expectDrop(bytes: Uint8Array, reason: CodecDrop['reason']): void {
  const d = codec.decodeBatch(bytes);
  if (d.type === 'batch') {
    expect(d.envelopes).toEqual([]);
    expect(d.drops.map((x) => x.reason)).toEqual([reason]);
  } else {
    expect(d.reason).toBe(reason);
  }
}

function wireOf(env: Envelope): unknown[] {
  return envelopeToWire(env);
}

describe('codec round trips', () => {
  it('round-trips every envelope and Raft message variant in one batch, in order', () => {
    const out = codec.encodeBatch('a', 'b', all, 4 * 1024 * 1024);
    expect(out.failed).toEqual([]);
    expect(out.messages).toHaveLength(1);
    const d = decodeOk(out.messages[0] as Uint8Array);
    expect(d.from).toBe('a');
    expect(d.to).toBe('b');
    expect(d.drops).toEqual([]);
    expect(d.envelopes).toEqual(all);
  });

  it('round-trips each envelope on its own and reports its exact encoded size', () => {
    for (const env of all) {
      const out = codec.encodeBatch('a', 'b', [env], 2 * 1024 * 1024);
      expect(decodeOk(out.messages[0] as Uint8Array).envelopes).toEqual([env]);
      expect(codec.encodedSize(env)).toBe(codec.encodeEnvelope(env).length);
      expect(encodedSize(env)).toBe(codec.encodedSize(env));
    }
  });

  it('splits a batch at bytesMax: every message fits, nothing is lost or reordered', () => {
    const envs: Envelope[] = Array.from({ length: 300 }, (_, i) => ({
      type: 'raft',
      cluster: 'kv1',
      from: 'a',
      to: 'b',
      msg: { type: 'append_entries', term: 3, leaderId: 'a', prevLogIndex: i * 4, prevLogTerm: 3, entries: entries(i * 4, 4, 256), leaderCommit: 0, readSeq: i },
    }));
    const bytesMax = 16 * 1024;
    const out = codec.encodeBatch('a', 'b', envs, bytesMax);
    expect(out.failed).toEqual([]);
    expect(out.messages.length).toBeGreaterThan(10);
    for (const m of out.messages) expect(m.length).toBeLessThanOrEqual(bytesMax);
    expect(out.counts.reduce((x, y) => x + y, 0)).toBe(300);
    const back = out.messages.flatMap((m) => decodeOk(m).envelopes);
    expect(back).toEqual(envs);
  });

  it('reports what cannot travel instead of throwing: function queries, unencodable values, oversized envelopes', () => {
    const fnQuery: Envelope = { type: 'request', id: 1, from: 'a', cluster: 'c', body: { type: 'query', mode: 'local', query: { type: 'fn', fn: (s) => s } } };
    const fnNotify: Envelope = { type: 'notify', dest: 's1', msg: { f: () => 1 } };
    const big: Envelope = { type: 'notify', dest: 's1', msg: new Uint8Array(20_000) };
    const fine: Envelope = { type: 'notify', dest: 's1', msg: 'ok' };
    const out = codec.encodeBatch('a', 'b', [fnQuery, fine, fnNotify, big, fine], 10_000);
    expect(out.failed.map((f) => [f.env, f.reason])).toEqual([
      [fnQuery, 'fn_query'],
      [fnNotify, 'unencodable'],
      [big, 'oversized'],
    ]);
    expect(out.messages.flatMap((m) => decodeOk(m).envelopes)).toEqual([fine, fine]);
    expect(() => encodedSize(fnQuery)).toThrow(EncodeFailure);
  });

  it('reads a request with a malformed trace without it, and one from a node that sends none (no sixth element)', () => {
    const traced = others.find((e) => e.type === 'request' && e.id === 16) as Extract<Envelope, { type: 'request' }>;
    const { trace: _, ...plain } = traced;
    const wire = wireOf(traced);
    expect(wire).toHaveLength(6);
    expect(decodeOk(rawBatch('a', 'b', [wire.slice(0, 5)])).envelopes).toEqual([plain]);
    for (const bad of ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7', trace.toUpperCase(), `01${trace.slice(2)}`, `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, 42, null, { trace }]) {
      expect(decodeOk(rawBatch('a', 'b', [[...wire.slice(0, 5), bad]])).envelopes).toEqual([plain]);
    }
  });

  it('reads an install_snapshot without the configuration index (from an older node) as dated at the snapshot', () => {
    const msg = raftMessages[9] as Extract<RaftMessage, { type: 'install_snapshot' }>;
    const wire = wireOf({ type: 'raft', cluster: 'kv1', from: 'a', to: 'b', msg });
    const older = [...wire.slice(0, 4), (wire[4] as unknown[]).slice(0, 12)];
    const back = decodeOk(rawBatch('a', 'b', [older])).envelopes;
    expect(back).toEqual([{ type: 'raft', cluster: 'kv1', from: 'a', to: 'b', msg: { ...msg, configIndex: msg.lastIncludedIndex } }]);
    expectDrop(rawBatch('a', 'b', [[...wire.slice(0, 4), (wire[4] as unknown[]).slice(0, 11)]]), 'shape');
  });

  it('carries a full 512 KiB snapshot chunk and 512 KiB of entries in one message under 1 MiB', () => {
    const chunk: Envelope = { type: 'raft', cluster: 'kv1', from: 'a', to: 'b', msg: { ...(raftMessages[9] as Extract<RaftMessage, { type: 'install_snapshot' }>), offset: 0, data: bytesOf(512 * 1024, 7), size: 1 << 20, done: false } };
    const ae: Envelope = { type: 'raft', cluster: 'kv1', from: 'a', to: 'b', msg: { type: 'append_entries', term: 3, leaderId: 'a', prevLogIndex: 0, prevLogTerm: 0, entries: entries(0, 2048, 256), leaderCommit: 0, readSeq: 0 } };
    for (const env of [chunk, ae]) {
      const out = codec.encodeBatch('a', 'b', [env], 1024 * 1024);
      expect(out.messages).toHaveLength(1);
      const back = decodeOk(out.messages[0] as Uint8Array).envelopes[0] as Extract<Envelope, { type: 'raft' }>;
      // Compared as buffers: element-wise deep equality of 512 KiB is slow.
      if (back.msg.type === 'install_snapshot' && env.type === 'raft' && env.msg.type === 'install_snapshot') {
        expect(Buffer.from(back.msg.data).equals(env.msg.data)).toBe(true);
        expect({ ...back.msg, data: null }).toEqual({ ...env.msg, data: null });
      } else if (back.msg.type === 'append_entries' && env.type === 'raft' && env.msg.type === 'append_entries') {
        expect(back.msg.entries.map((e) => e.index)).toEqual(env.msg.entries.map((e) => e.index));
        expect(Buffer.concat(back.msg.entries.map((e) => e.payload)).equals(Buffer.concat(env.msg.entries.map((e) => e.payload)))).toBe(true);
      } else {
        throw new Error('unexpected message');
      }
    }
  });

  it('round-trips heartbeats', () => {
    const hb = { type: 'heartbeat', node: 'n1', incarnation: 1_700_000_000_123, leaving: true, runtime: 1 } as const;
    expect(codec.decodeHeartbeat(codec.encodeHeartbeat(hb))).toEqual(hb);
  });
});

describe('decoded binaries are copies', () => {
  it('entry payloads, snapshot data and binaries inside values survive mutation of the received buffer', () => {
    const env = all[1] as Envelope; // 64 entries of 256 bytes
    const snap = all[9] as Envelope;
    const cmd = others[0] as Envelope;
    const msg = codec.encodeBatch('a', 'b', [env, snap, cmd], 4 * 1024 * 1024).messages[0] as Uint8Array;
    const received = Buffer.from(msg); // nats.js hands out Buffer views of its socket buffer
    const d = decodeOk(received.subarray(0));
    received.fill(0xee);
    expect(d.envelopes).toEqual([env, snap, cmd]);
    const ae = d.envelopes[0] as Extract<Envelope, { type: 'raft' }>;
    if (ae.msg.type !== 'append_entries') throw new Error('expected append_entries');
    const payload = ae.msg.entries[0]?.payload as Uint8Array;
    expect(payload.buffer).not.toBe(received.buffer);
    expect(Buffer.isBuffer(payload)).toBe(false);
  });
});

describe('a newer sender may append fields (a rolling upgrade)', () => {
  const future = 'a field from a newer version';
  /** The wire array with a trailing field appended, and, when `inner` is given, one appended to its element at that position too. */
  const extend = (wire: unknown[], inner?: number): unknown[] => {
    const out = [...wire, future];
    if (inner !== undefined) out[inner] = [...(wire[inner] as unknown[]), future];
    return out;
  };

  it('reads every envelope, Raft message and request body with trailing fields, and ignores them', () => {
    const extended = all.map((env) => {
      const wire = wireOf(env);
      return extend(wire, env.type === 'raft' || env.type === 'request' ? 4 : undefined);
    });
    expect(decodeOk(rawBatch('a', 'b', extended)).envelopes).toEqual(all);
  });

  it('reads a session tag, an error and a heartbeat with trailing fields', () => {
    const withSession = wireOf(others[1] as Envelope);
    const body = withSession[4] as unknown[];
    const sessionExtended = [...withSession.slice(0, 4), [body[0], body[1], extend(body[2] as unknown[])]];
    const notLeader = wireOf(others[16] as Envelope);
    const errorExtended = [...notLeader.slice(0, 3), extend(notLeader[3] as unknown[])];
    expect(decodeOk(rawBatch('a', 'b', [sessionExtended, errorExtended])).envelopes).toEqual([others[1], others[16]]);
    const hb = new Uint8Array([wireVersion, ...encode(['n1', 5, false, 1, future])]);
    expect(codec.decodeHeartbeat(hb)).toEqual({ type: 'heartbeat', node: 'n1', incarnation: 5, leaving: false, runtime: 1 });
    // A node of an earlier build announces no runtime version: it counts as 0.
    const older = new Uint8Array([wireVersion, ...encode(['n1', 5, false])]);
    expect(codec.decodeHeartbeat(older)).toEqual({ type: 'heartbeat', node: 'n1', incarnation: 5, leaving: false, runtime: 0 });
  });
});

describe('an older sender leaves fields out', () => {
  it('reads a membership change without a configuration index as one that names none', () => {
    const { envelopes } = decodeOk(rawBatch('a', 'b', [[1, 8, 'a', 'kv1', [4, 'd']], [1, 9, 'a', 'kv1', [5, 'd']]]));
    expect(envelopes.map((e) => (e.type === 'request' ? e.body : undefined))).toEqual([
      { type: 'add_member', member: 'd' },
      { type: 'remove_member', member: 'd' },
    ]);
  });
});

describe('the decoder refuses what a valid sender never sends', () => {
  const ae = wireOf(all[1] as Envelope);
  const aeMsg = ae[4] as unknown[];
  const withMsg = (m: unknown[]): unknown[] => [...ae.slice(0, 4), m];
  const setField = (i: number, v: unknown): unknown[] => withMsg(aeMsg.map((x, j) => (j === i ? v : x)));

  const cases: [string, Uint8Array, CodecDrop['reason']][] = [
    ['an empty message', new Uint8Array(0), 'truncated'],
    ['a future format version', new Uint8Array([wireVersion + 1, 0x90]), 'version'],
    ['bytes that are not msgpack', new Uint8Array([wireVersion, 0xc1, 0xc1]), 'msgpack'],
    ['trailing garbage after the batch', new Uint8Array([...rawBatch('a', 'b', []), 0x00]), 'msgpack'],
    ['an array header claiming 4 billion elements', new Uint8Array([wireVersion, 0xdd, 0xff, 0xff, 0xff, 0xff]), 'msgpack'],
    ['a batch that is not an array', new Uint8Array([wireVersion, ...encode({ from: 'a' })]), 'shape'],
    ['a sender name with a NATS wildcard', rawBatch('a.*', 'b', []), 'bad_name'],
    ['an empty receiver name', rawBatch('a', '', []), 'bad_name'],
    ['a 65-character name', rawBatch('x'.repeat(65), 'b', []), 'bad_name'],
    ['an unknown envelope tag', rawBatch('a', 'b', [[9, 'x']]), 'unknown_type'],
    ['an envelope that is a map', rawBatch('a', 'b', [{ type: 'raft' }]), 'shape'],
    ['an unknown Raft message tag', rawBatch('a', 'b', [withMsg([42, 1])]), 'unknown_type'],
    ['an incarnation that is not an id', rawBatch('a', 'b', [[...ae.slice(0, 5), -7]]), 'bad_field'],
    ['a Raft message with a missing field', rawBatch('a', 'b', [withMsg(aeMsg.slice(0, 7))]), 'shape'],
    ['a negative term', rawBatch('a', 'b', [setField(1, -1)]), 'bad_field'],
    ['a fractional prevLogIndex', rawBatch('a', 'b', [setField(3, 10.5)]), 'bad_field'],
    ['an index beyond 2^53', rawBatch('a', 'b', [setField(3, 2 ** 60)]), 'bad_field'],
    ['a term given as a string', rawBatch('a', 'b', [setField(1, '3')]), 'bad_field'],
    ['entries that skip an index', rawBatch('a', 'b', [setField(7, [11, 3, new Uint8Array([1]), 13, 3, new Uint8Array([1])])]), 'inconsistent'],
    ['an entry term above the leader term', rawBatch('a', 'b', [setField(7, [11, 4, new Uint8Array([1])])]), 'inconsistent'],
    ['an entry with an empty payload', rawBatch('a', 'b', [setField(7, [11, 3, new Uint8Array(0)])]), 'bad_field'],
    ['entries that are not triples', rawBatch('a', 'b', [setField(7, [11, 3])]), 'shape'],
    ['a Raft message from another node than the batch sender', rawBatch('c', 'b', [ae]), 'from_mismatch'],
    ['a Raft message for another node than the batch receiver', rawBatch('a', 'c', [ae]), 'misaddressed'],
    ['a function query', rawBatch('a', 'b', [[1, 1, 'a', 'kv1', [2, 0, ['fn', 'x', null]]]]), 'fn_query'],
    ['an unknown query mode', rawBatch('a', 'b', [[1, 1, 'a', 'kv1', [2, 5, ['named', 'x', null]]]]), 'unknown_type'],
    ['an unknown request', rawBatch('a', 'b', [[1, 1, 'a', 'kv1', [99]]]), 'unknown_type'],
    ['a configuration index that is not an index', rawBatch('a', 'b', [[1, 1, 'a', 'kv1', [4, 'd', -1]]]), 'bad_field'],
    ['a removal index that is not an index', rawBatch('a', 'b', [[1, 1, 'a', 'kv1', [8, 'x']]]), 'bad_field'],
    ['a negative request id', rawBatch('a', 'b', [[1, -4, 'a', 'kv1', [3]]]), 'bad_field'],
    ['a malformed session tag', rawBatch('a', 'b', [[1, 1, 'a', 'kv1', [0, encode('cmd'), [1, 2]]]]), 'shape'],
    ['a command that is a value, not its msgpack bytes', rawBatch('a', 'b', [[1, 1, 'a', 'kv1', [0, 'cmd', null]]]), 'bad_field'],
    ['an unknown msgpack extension in a command', command([0xd5, 42, 0xde, 0xad]), 'bad_value'],
    ['a command nested 200 deep', command([...new Array<number>(200).fill(0x91), 0x01]), 'bad_value'],
    ['command bytes that are not msgpack', command([0xc1]), 'bad_value'],
    ['a command with bytes after its value', command([0x01, 0x02]), 'bad_value'],
    ['a truncated command', command([0x92, 0x01]), 'bad_value'],
    ['an error code longer than 64', rawBatch('a', 'b', [[2, 1, false, ['x'.repeat(65), 'm', null]]]), 'too_long'],
    ['a snapshot chunk past its size', rawBatch('a', 'b', [withMsg([5, 5, 'a', 10, 4, ['a'], [], 1, 10, new Uint8Array(8), false, 12])]), 'inconsistent'],
    ['a snapshot configuration past the snapshot', rawBatch('a', 'b', [withMsg([5, 5, 'a', 10, 4, ['a'], [], 1, 0, new Uint8Array(8), false, 12, 11])]), 'inconsistent'],
    ['a snapshot config naming a bad member', rawBatch('a', 'b', [withMsg([5, 5, 'a', 10, 4, ['a', 'b>'], [], 1, 0, new Uint8Array(8), false, 12])]), 'bad_name'],
  ];

  for (const [what, bytes, reason] of cases) {
    it(`drops ${what} (${reason})`, () => expectDrop(bytes, reason));
  }

  it('enforces the entry, member and text limits it is given', () => {
    const small = new Codec({ entriesMax: 4, membersMax: 2, textLengthMax: 10 });
    const ok = (b: Uint8Array) => small.decodeBatch(b);
    const tooMany = ok(codec.encodeBatch('a', 'b', [all[1] as Envelope], 1 << 20).messages[0] as Uint8Array);
    expect(tooMany.type === 'batch' && tooMany.drops[0]?.reason).toBe('too_long');
    const members = ok(rawBatch('a', 'b', [[1, 1, 'a', 'kv1', [7, 'kv', ['a', 'b', 'c'], null, null, null, null]]]));
    expect(members.type === 'batch' && members.drops[0]?.reason).toBe('too_long');
    const message = ok(rawBatch('a', 'b', [[2, 1, false, ['timeout', 'x'.repeat(11), null]]]));
    expect(message.type === 'batch' && message.drops[0]?.reason).toBe('too_long');
    const huge = new Codec({ messageBytesMax: 100 }).decodeBatch(new Uint8Array(101).fill(wireVersion));
    expect(huge).toMatchObject({ type: 'drop', reason: 'too_long' });
  });

  it('drops only the bad envelope of a batch and delivers the rest', () => {
    const good = wireOf(others[6] as Envelope);
    const d = codec.decodeBatch(rawBatch('a', 'b', [good, [1, -1, 'a', 'kv1', [3]], good]));
    expect(d.type).toBe('batch');
    if (d.type !== 'batch') return;
    expect(d.envelopes).toEqual([others[6], others[6]]);
    expect(d.drops.map((x) => x.reason)).toEqual(['bad_field']);
  });

  it('refuses malformed heartbeats', () => {
    const hb = (v: unknown) => new Uint8Array([wireVersion, ...encode(v)]);
    expect(codec.decodeHeartbeat(hb(['n1', -1, false]))).toMatchObject({ reason: 'bad_field' });
    expect(codec.decodeHeartbeat(hb(['n*', 1, false]))).toMatchObject({ reason: 'bad_name' });
    expect(codec.decodeHeartbeat(hb(['n1', 1, 'no']))).toMatchObject({ reason: 'bad_field' });
    expect(codec.decodeHeartbeat(hb(['n1', 1]))).toMatchObject({ reason: 'shape' });
    expect(codec.decodeHeartbeat(hb(['n1', 1, false, 'one']))).toMatchObject({ reason: 'bad_field' });
    expect(codec.decodeHeartbeat(new Uint8Array([7, 1, 2]))).toMatchObject({ reason: 'version' });
  });
});

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** A command request whose command bytes are `bytes`. */
function command(bytes: number[]): Uint8Array {
  return rawBatch('a', 'b', [[1, 1, 'a', 'kv1', [0, new Uint8Array(bytes), null]]]);
}

// ---- fuzzing ----

const knownReasons = new Set<string>(codecDropReasons);

/** Decodes and checks the decoder's contract: no throw, and a known reason for every drop. */
function decodeChecked(c: Codec, bytes: Uint8Array): DecodedBatch | CodecDrop {
  const d = c.decodeBatch(bytes);
  if (d.type === 'drop') expect(knownReasons.has(d.reason)).toBe(true);
  else for (const x of d.drops) expect(knownReasons.has(x.reason)).toBe(true);
  return d;
}

/** Junk of every kind to put where a field was. */
function junk(r: SeededRandom): unknown {
  switch (r.int(14)) {
    case 0:
      return -r.int(1000) - 1;
    case 1:
      return r.next() * 1000;
    case 2:
      return 2 ** 53 + r.int(1000);
    case 3:
      return 'x'.repeat(r.int(100));
    case 4:
      return null;
    case 5:
      return r.chance(0.5);
    case 6:
      return bytesOf(r.int(20), r.u32());
    case 7:
      return { a: 1 };
    case 8:
      return Array.from({ length: r.int(2000) }, () => r.int(3));
    case 9:
      return r.int(100);
    case 10:
      return [];
    case 11:
      return 'a*';
    case 12:
      return Number.NaN;
    default:
      return nested(r.int(100));
  }
}

/** Replaces one randomly chosen node of a wire tree (arrays only) with junk. */
function mutate(tree: unknown, r: SeededRandom): unknown {
  if (!Array.isArray(tree) || tree.length === 0 || r.chance(0.25)) return junk(r);
  const copy = [...tree];
  const i = r.int(copy.length);
  copy[i] = mutate(copy[i], r);
  if (r.chance(0.05)) copy.push(junk(r));
  if (r.chance(0.05)) copy.pop();
  return copy;
}

describe('decoder fuzzing (seeded)', () => {
  it('never throws on 5,000 random byte strings, with or without a valid version byte', () => {
    const r = new SeededRandom(1);
    for (let i = 0; i < 5000; i++) {
      const b = bytesOf(r.int(200), r.u32());
      if (b.length > 0 && r.chance(0.8)) b[0] = wireVersion;
      if (b.length > 1 && r.chance(0.5)) b[1] = r.pick([0x90 + r.int(16), 0xdc, 0xdd]);
      decodeChecked(codec, b);
      codec.decodeHeartbeat(b);
    }
  });

  it('drops every truncation of a valid batch and heartbeat', () => {
    const msg = codec.encodeBatch('a', 'b', all.slice(0, 9).concat(others), 1 << 22).messages[0] as Uint8Array;
    for (let n = 0; n < msg.length; n += n < 2000 ? 1 : 97) {
      const d = decodeChecked(codec, msg.subarray(0, n));
      expect(d.type).toBe('drop');
    }
    const hb = codec.encodeHeartbeat({ type: 'heartbeat', node: 'n1', incarnation: 5, leaving: false, runtime: 1 });
    for (let n = 0; n < hb.length; n++) expect(codec.decodeHeartbeat(hb.subarray(0, n)).type).toBe('drop');
  });

  it('never throws on 10,000 field mutations of valid envelopes, and what passes is well-typed', () => {
    const r = new SeededRandom(2);
    const wires = all.map(wireOf);
    let dropped = 0;
    for (let i = 0; i < 10_000; i++) {
      const env = mutate(r.pick(wires), r);
      const d = decodeChecked(codec, rawBatch('a', 'b', [env]));
      if (d.type === 'drop' || d.drops.length > 0) dropped++;
      // A mutation that still decodes must encode again: it is a valid envelope.
      if (d.type === 'batch') for (const e of d.envelopes) expect(() => codec.encodeEnvelope(e)).not.toThrow();
    }
    expect(dropped).toBeGreaterThan(8000);
  });

  it('never throws on random bit flips of valid batches', () => {
    const r = new SeededRandom(3);
    const msg = codec.encodeBatch('a', 'b', others, 1 << 20).messages[0] as Uint8Array;
    for (let i = 0; i < 5000; i++) {
      const b = msg.slice();
      for (let k = r.int(4) + 1; k > 0; k--) {
        const j = r.int(b.length - 1) + 1;
        b[j] = (b[j] as number) ^ (1 << r.int(8));
      }
      decodeChecked(codec, b);
    }
  });
});
