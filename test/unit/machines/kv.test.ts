import { describe, expect, it } from 'vitest';
import { KvMachine, sameValue, type KvCommand, type KvState } from '../../../machines/kv.js';

const meta = (index: number) => ({ index, term: 1, timestamp: 1_000 + index, machineVersion: 1 });

function run(commands: KvCommand[]) {
  const m = new KvMachine();
  let state: KvState = m.init();
  const replies = commands.map((c, i) => {
    const r = m.apply(meta(i + 1), c, state);
    state = r.state;
    return r.reply;
  });
  return { m, state, replies };
}

describe('kv machine', () => {
  it('puts, gets, deletes and reports the previous value', () => {
    const { m, state, replies } = run([
      { type: 'put', key: 'a', value: 1, returnPrevious: true },
      { type: 'put', key: 'a', value: 2, returnPrevious: true },
      { type: 'delete', key: 'a', returnPrevious: true },
      { type: 'delete', key: 'a', returnPrevious: true },
      { type: 'put', key: 'b', value: { deep: [1, 2] } },
      { type: 'put', key: 'c', value: 'plain' },
      { type: 'delete', key: 'c' },
      { type: 'delete', key: 'c' },
    ]);
    expect(replies).toEqual([
      { ok: true, previous: null },
      { ok: true, previous: 1 },
      { ok: true, previous: 2 },
      { ok: false, previous: null },
      // Without returnPrevious the reply stays small.
      { ok: true },
      { ok: true },
      { ok: true },
      { ok: false },
    ]);
    expect(m.queries.get(state, 'a')).toBe(null);
    expect(m.queries.get(state, 'b')).toEqual({ deep: [1, 2] });
    expect(m.queries.keys(state)).toEqual(['b']);
  });

  it('compare-and-set succeeds only on the expected value, with null meaning absent, compared structurally', () => {
    const { replies, state, m } = run([
      { type: 'cas', key: 'x', expected: null, value: { v: 1 } },
      { type: 'cas', key: 'x', expected: null, value: 'nope' },
      { type: 'cas', key: 'x', expected: { v: 1 }, value: 'two' },
      { type: 'cas', key: 'x', expected: { v: 1 }, value: 'three' },
    ]);
    expect(replies.map((r) => (r as { ok: boolean }).ok)).toEqual([true, false, true, false]);
    expect(m.queries.get(state, 'x')).toBe('two');
  });

  it('put_if_absent writes once', () => {
    const { replies, state, m } = run([
      { type: 'put_if_absent', key: 'once', value: 'first' },
      { type: 'put_if_absent', key: 'once', value: 'second' },
    ]);
    expect(replies).toEqual([
      { ok: true, previous: null },
      { ok: false, previous: 'first' },
    ]);
    expect(m.queries.get(state, 'once')).toBe('first');
  });

  it('answers bad commands with an error reply and leaves the state alone', () => {
    const { replies, state } = run([{ type: 'put', key: 7 } as unknown as KvCommand, { type: 'frob', key: 'k' } as unknown as KvCommand]);
    expect(replies).toEqual([{ error: 'a kv command needs a string key' }, { error: 'unknown kv command' }]);
    expect(state.size).toBe(0);
  });

  it('round-trips its state through snapshot chunks and restore, as of the moment the snapshot was asked for', () => {
    const commands: KvCommand[] = [
      { type: 'put', key: 'a', value: new Uint8Array([1, 2, 3]) },
      { type: 'put', key: 'b', value: [null, 'x'] },
    ];
    for (let i = 0; i < 1000; i++) commands.push({ type: 'put', key: `k${i}`, value: i });
    const { m, state } = run(commands);
    const chunks = m.snapshotChunks(state);
    // Commands keep applying while the chunks are encoded: the snapshot must not see them.
    m.apply(meta(9999), { type: 'put', key: 'late', value: 1 }, state);
    m.apply(meta(10000), { type: 'put', key: 'a', value: 'changed' }, state);
    const parts = [...chunks];
    expect(parts.length).toBeGreaterThan(3);
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.length;
    }
    const back = m.restore(bytes);
    expect(back.size).toBe(1002);
    expect(back.has('late')).toBe(false);
    expect(sameValue(back.get('a'), new Uint8Array([1, 2, 3]))).toBe(true);
    expect(back.get('b')).toEqual([null, 'x']);
    expect(back.get('k999')).toBe(999);
  });
});
