// The fast path for hot envelopes writes exactly the bytes the generic path
// (positional arrays through @msgpack/msgpack) writes, at every header size,
// and steps aside for anything it does not write.
import { describe, expect, it } from 'vitest';
import { Encoder } from '@msgpack/msgpack';
import { FastEncoder } from '../../../src/transport/wire_fast.js';
import { envelopeToWire } from '../../../src/transport/wire_encode.js';
import type { Envelope } from '../../../src/transport/transport.js';
import { SeededRandom } from '../../../src/io/random.js';

const generic = new Encoder({ ignoreUndefined: true, maxDepth: 36 });
const fast = new FastEncoder(35);
const r = new SeededRandom(77);

// Every size boundary msgpack has for unsigned integers, strings, binaries and arrays.
const numbers = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 51 + 3, Number.MAX_SAFE_INTEGER];
const pick = <T>(xs: readonly T[]): T => xs[r.int(xs.length)] as T;
const names = ['a', 'n1', 'x'.repeat(31), 'y'.repeat(32), 'load-1a2b3c', 'z'.repeat(64)];
const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => r.int(256));
const sizes = [0, 1, 255, 256, 65_535, 65_536];
const hex = (n: number): string => Array.from({ length: n }, () => '0123456789abcdef'[r.int(16)]).join('');

function randomHot(): Envelope {
  switch (r.int(5)) {
    case 0: {
      const traced = r.int(3) === 0 ? { trace: `00-${hex(32)}-${hex(16)}-0${r.int(2)}` } : {};
      return { type: 'request', id: pick(numbers), from: pick(names), cluster: pick(names), body: { type: 'command', command: bytes(pick(sizes)) }, ...traced };
    }
    case 1:
      return { type: 'request', id: pick(numbers), from: pick(names), cluster: pick(names), body: { type: 'command', command: bytes(3), session: { id: pick(numbers), seq: pick(numbers), acked: pick(numbers) } } };
    case 2:
      return { type: 'response', id: pick(numbers), body: { ok: true, value: pick([undefined, null, { ok: true }, 'v'.repeat(300), [1, -2, 3.5], new Uint8Array(4), { a: { b: [undefined] } }]) } };
    case 3: {
      const n = pick([0, 1, 5, 6, 21, 22_000]);
      const prevLogIndex = pick(numbers.slice(0, -1)); // the entries after it stay safe integers
      const entries = Array.from({ length: n }, (_, i) => ({ index: prevLogIndex + 1 + i, term: pick(numbers), payload: bytes(n > 100 ? 1 : pick(sizes.slice(1))) }));
      const msg = { type: 'append_entries' as const, term: pick(numbers), leaderId: pick(names), prevLogIndex, prevLogTerm: pick(numbers), entries, leaderCommit: pick(numbers), readSeq: pick(numbers), ...(r.int(3) === 0 ? { quiesce: r.int(2) === 0 } : {}) };
      return { type: 'raft', cluster: pick(names), from: pick(names), to: pick(names), msg };
    }
    default: {
      const msg = {
        type: 'append_entries_reply' as const,
        term: pick(numbers),
        success: r.int(2) === 0,
        matchIndex: pick(numbers),
        lastIndex: pick(numbers),
        rejectedIndex: pick(numbers),
        hintIndex: pick(numbers),
        hintTerm: pick(numbers),
        readSeq: pick(numbers),
      };
      return { type: 'raft', cluster: pick(names), from: pick(names), to: pick(names), msg };
    }
  }
}

describe('the fast envelope encoder', () => {
  it('writes byte for byte what the generic path writes', () => {
    for (let i = 0; i < 600; i++) {
      const env = randomHot();
      const mine = fast.encode(env);
      expect(mine, env.type).toBeDefined();
      expect(Buffer.from(mine as Uint8Array).equals(Buffer.from(generic.encode(envelopeToWire(env))))).toBe(true);
    }
  });

  it('leaves everything else to the generic path', () => {
    const others: Envelope[] = [
      { type: 'response', id: 1, body: { ok: false, error: { code: 'not_leader', message: 'x', leader: 'b' } } },
      { type: 'request', id: 1, from: 'a', cluster: 'c', body: { type: 'members' } },
      { type: 'raft', cluster: 'c', from: 'a', to: 'b', msg: { type: 'timeout_now', term: 2 } },
      { type: 'notify', dest: 'd', msg: 1 },
      // Numbers the fast path does not write (the generic one encodes them as it always did).
      { type: 'request', id: -1, from: 'a', cluster: 'c', body: { type: 'command', command: new Uint8Array(1) } },
      { type: 'request', id: 1.5, from: 'a', cluster: 'c', body: { type: 'command', command: new Uint8Array(1) } },
      { type: 'raft', cluster: 'c', from: 'a', to: 'b', msg: { type: 'append_entries_reply', term: 1, success: true, matchIndex: -1, lastIndex: 0, rejectedIndex: 0, hintIndex: 0, hintTerm: 0, readSeq: 0 } },
    ];
    for (const env of others) expect(fast.encode(env)).toBeUndefined();
  });

  it('refuses a response value nested past the depth the generic path allows', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(() => fast.encode({ type: 'response', id: 1, body: { ok: true, value: deep } })).toThrow(/deep/i);
    expect(() => generic.encode(envelopeToWire({ type: 'response', id: 1, body: { ok: true, value: deep } }))).toThrow(/deep/i);
  });
});
