import { describe, expect, it } from 'vitest';
import { KvMachine, sameValue, type KvCommand, type KvEvent, type KvState } from '../../../machines/kv.js';
import { concatBytes, encodeValue, type Destination, type MachineEffect } from '../../../src/index.js';
import { SeededRandom } from '../../../src/io/random.js';

const meta = (index: number) => ({ index, term: 1, timestamp: 1_000 + index, machineVersion: 2 });

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
    expect(m.queries.keys(state, undefined)).toEqual(['b']);
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
    const back = m.restore(concatBytes(parts));
    expect(back.size).toBe(1002);
    expect(back.has('late')).toBe(false);
    expect(sameValue(back.get('a'), new Uint8Array([1, 2, 3]))).toBe(true);
    expect(back.get('b')).toEqual([null, 'x']);
    expect(back.get('k999')).toBe(999);
  });
});

/** A machine driven command by command, at leader times the test chooses. */
class Driver {
  state: KvState;
  index = 0;
  now = 10_000;

  constructor(readonly m = new KvMachine()) {
    this.state = m.init();
  }

  apply(cmd: KvCommand, version = 2) {
    const r = this.m.apply({ index: ++this.index, term: 1, timestamp: this.now, machineVersion: version }, cmd, this.state);
    this.state = r.state;
    return { reply: r.reply, effects: r.effects ?? [] };
  }

  down(node: string) {
    return this.m.down({ index: ++this.index, term: 1, timestamp: this.now, machineVersion: 2 }, node, this.state).effects ?? [];
  }

  fire(name = 'expire') {
    return this.m.timeout({ index: ++this.index, term: 1, timestamp: this.now, machineVersion: 2 }, name, this.state).effects ?? [];
  }

  get(key: string, bucket = '') {
    return this.m.queries.get(this.state, { bucket, key });
  }

  has(key: string, bucket = '') {
    return this.state.has(key, bucket);
  }

  /** The watch events among effects, without the parts that only repeat the watch. */
  static events(effects: readonly MachineEffect[]) {
    return effects.flatMap((e) => (e.type === 'send' ? [e.msg as KvEvent] : []));
  }
}

const to = { node: 'client-1', id: 's0' };

describe('kv machine: keys with a time to live', () => {
  it('sets the expiry timer for the earliest key, and removes keys when it fires by leader time', () => {
    const d = new Driver();
    expect(d.apply({ type: 'put', key: 'a', value: 1, ttlMs: 5_000 }).effects).toEqual([{ type: 'timer', name: 'expire', ms: 5_000 }]);
    d.now += 1_000;
    // Later than the timer already set: no new timer. Earlier: the timer moves.
    expect(d.apply({ type: 'put', key: 'b', value: 2, ttlMs: 9_000 }).effects).toEqual([]);
    expect(d.apply({ type: 'put', key: 'c', value: 3, ttlMs: 1_000 }).effects).toEqual([{ type: 'timer', name: 'expire', ms: 1_000 }]);
    expect(d.m.queries.life(d.state, 'c')).toEqual({ expiresAt: 12_000, node: null, parent: null });
    d.now = 12_000;
    expect(d.fire()).toEqual([{ type: 'timer', name: 'expire', ms: 3_000 }]);
    expect(d.m.queries.keys(d.state, undefined)).toEqual(['a', 'b']);
    d.now = 15_500; // a timer may fire late: everything due by then goes
    expect(d.fire()).toEqual([{ type: 'timer', name: 'expire', ms: 4_500 }]);
    expect(d.m.queries.keys(d.state, undefined)).toEqual(['b']);
    d.now = 20_000;
    expect(d.fire()).toEqual([]);
    expect(d.state.size).toBe(0);
    expect(d.fire('someone-elses-timer')).toEqual([]);
  });

  it('a write without a ttl makes the key permanent; touch gives a key more time; the last ttl key gone cancels the timer', () => {
    const d = new Driver();
    d.apply({ type: 'put', key: 'a', value: 1, ttlMs: 1_000 });
    d.apply({ type: 'put', key: 'b', value: 1, ttlMs: 2_000 });
    expect(d.apply({ type: 'put', key: 'a', value: 'kept' }).effects).toEqual([]);
    expect(d.apply({ type: 'touch', key: 'b', ttlMs: 60_000 }).reply).toEqual({ ok: true });
    expect(d.apply({ type: 'touch', key: 'nope', ttlMs: 60_000 }).reply).toEqual({ ok: false });
    d.now += 1_000;
    // The timer set for 'a' fires early for what is left, finds nothing due, and is set again.
    expect(d.fire()).toEqual([{ type: 'timer', name: 'expire', ms: 59_000 }]);
    expect(d.m.queries.keys(d.state, undefined)).toEqual(['a', 'b']);
    expect(d.apply({ type: 'delete', key: 'b' }).effects).toEqual([{ type: 'cancel_timer', name: 'expire' }]);
    expect(d.apply({ type: 'put', key: 'c', value: 1, ttlMs: 0 }).reply).toEqual({ error: 'ttlMs must be a positive whole number of milliseconds' });
    expect(d.apply({ type: 'touch', key: 'a', ttlMs: 1.5 }).reply).toEqual({ error: 'ttlMs must be a positive whole number of milliseconds' });
  });
});

describe('kv machine: expiry bookkeeping', () => {
  it('keeps the expiry queue bounded when keys are touched again and again', () => {
    const d = new Driver();
    d.apply({ type: 'put', key: 'soon', value: 0, ttlMs: 1_000 }); // the earliest: later entries stay behind it
    for (let k = 0; k < 10; k++) d.apply({ type: 'put', key: `k${k}`, value: k, ttlMs: 60_000 });
    for (let i = 0; i < 5_000; i++) d.apply({ type: 'touch', key: `k${i % 10}`, ttlMs: 60_000 + i });
    expect(d.state.expiries.size).toBeLessThanOrEqual(2 * d.state.lives.size + 1025);
    d.now += 70_000;
    d.fire();
    expect(d.state.size).toBe(0);
    expect(d.state.expiries.size).toBe(0);
  });
});

describe('kv machine: keys bound to a node or to another key', () => {
  it('monitors a node while keys or watches are bound to it, and removes them, and what is bound to them, when it goes down', () => {
    const d = new Driver();
    expect(d.apply({ type: 'put_if_absent', key: 'lock', value: 'me', node: 'client-1' }).effects).toEqual([{ type: 'monitor', node: 'client-1' }]);
    expect(d.apply({ type: 'put', key: 'lock/holder', value: 'x', parent: 'lock' }).effects).toEqual([]);
    expect(d.apply({ type: 'put', key: 'svc', value: 'y', node: 'client-1' }).effects).toEqual([]);
    expect(d.apply({ type: 'put', key: 'other', value: 'z', node: 'client-2' }).effects).toEqual([{ type: 'monitor', node: 'client-2' }]);
    expect(d.apply({ type: 'watch', to: { node: 'watcher', id: 's1' } }).effects).toEqual([{ type: 'monitor', node: 'watcher' }]);
    const effects = d.down('client-1');
    expect(effects.filter((e) => e.type !== 'send')).toEqual([{ type: 'demonitor', node: 'client-1' }]);
    expect(Driver.events(effects).map((e) => [e.key, e.op === 'delete' ? e.reason : e.op])).toEqual([
      ['lock', 'node_down'],
      ['lock/holder', 'parent_deleted'],
      ['svc', 'node_down'],
    ]);
    expect(d.m.queries.keys(d.state, undefined)).toEqual(['other']);
    expect(d.down('client-1')).toEqual([]); // nothing left bound to it
    // The last key bound to a node overwritten without the binding: the node is no longer watched.
    expect(d.apply({ type: 'put', key: 'other', value: 'free' }).effects.filter((e) => e.type !== 'send')).toEqual([{ type: 'demonitor', node: 'client-2' }]);
    expect(d.m.queries.life(d.state, 'other')).toEqual({ expiresAt: null, node: null, parent: null });
    // A watch ends with its node.
    expect(d.down('watcher')).toEqual([{ type: 'demonitor', node: 'watcher' }]);
    expect(d.state.watches.size).toBe(0);
  });

  it('binds a key to an existing key of its bucket, refuses cycles, and deletes bound keys depth first with their parent', () => {
    const d = new Driver();
    d.apply({ type: 'put', key: 'root', value: 0 });
    expect(d.apply({ type: 'put', key: 'a', value: 1, parent: 'root' }).reply).toEqual({ ok: true });
    expect(d.apply({ type: 'put', key: 'a1', value: 1, parent: 'a' }).reply).toEqual({ ok: true });
    expect(d.apply({ type: 'put', key: 'b', value: 1, parent: 'root' }).reply).toEqual({ ok: true });
    expect(d.apply({ type: 'put', key: 'x', value: 1, parent: 'missing' }).reply).toEqual({ error: 'parent key "missing" does not exist' });
    expect(d.apply({ type: 'put', key: 'x', value: 1, parent: 'root', bucket: 'other' }).reply).toEqual({ error: 'parent key "root" does not exist' });
    expect(d.apply({ type: 'put', key: 'root', value: 1, parent: 'a1' }).reply).toEqual({ error: 'binding "root" to "a1" would make a cycle' });
    expect(d.apply({ type: 'put', key: 'a', value: 1, parent: 'a' }).reply).toEqual({ error: 'binding "a" to "a" would make a cycle' });
    expect(d.has('x')).toBe(false);
    // Rewriting a parent keeps what is bound to it; deleting it takes them along.
    d.apply({ type: 'put', key: 'root', value: 'new' });
    expect(d.m.queries.keys(d.state, undefined)).toEqual(['a', 'a1', 'b', 'root']);
    expect(d.apply({ type: 'delete', key: 'root', returnPrevious: true }).reply).toEqual({ ok: true, previous: 'new' });
    expect(d.state.size).toBe(0);
    expect(d.state.children.size).toBe(0);
    expect(d.state.lives.size).toBe(0);
  });
});

describe('kv machine: buckets', () => {
  it('keeps each bucket apart, lists and deletes them whole', () => {
    const d = new Driver();
    d.apply({ type: 'put', key: 'k', value: 'default' });
    d.apply({ type: 'put', key: 'k', value: 'in a', bucket: 'a' });
    d.apply({ type: 'put', key: 'j', value: 'in a too', bucket: 'a', ttlMs: 1_000 });
    expect(d.apply({ type: 'cas', key: 'k', bucket: 'a', expected: 'default', value: 'no' }).reply).toEqual({ ok: false, previous: 'in a' });
    expect([d.get('k'), d.get('k', 'a'), d.get('k', 'b')]).toEqual(['default', 'in a', null]);
    expect(d.m.queries.buckets(d.state)).toEqual(['', 'a']);
    expect([d.m.queries.size(d.state, 'a'), d.m.queries.size(d.state, undefined)]).toEqual([2, 1]);
    expect(d.m.queries.range(d.state, { bucket: 'a', prefix: 'j' })).toEqual([['j', 'in a too']]);
    expect(d.apply({ type: 'delete_bucket', bucket: 'a' })).toEqual({ reply: { ok: true, deleted: 2 }, effects: [{ type: 'cancel_timer', name: 'expire' }] });
    expect(d.apply({ type: 'delete_bucket', bucket: 'a' }).reply).toEqual({ ok: false, deleted: 0 });
    expect(d.m.queries.buckets(d.state)).toEqual(['']);
    expect(d.apply({ type: 'put', key: 'k', value: 1, bucket: 'bad\u0000name' }).reply).toEqual({ error: 'bucket must be a string without NUL' });
  });
});

describe('kv machine: watches', () => {
  it('sends every change of its bucket and prefix, numbered, until unwatched', () => {
    const d = new Driver();
    const { reply } = d.apply({ type: 'watch', to, bucket: 'cfg', prefix: 'db.' });
    const watch = (reply as { watch: number }).watch;
    expect(watch).toBe(1); // the index of the watch command
    const seen: KvEvent[] = [];
    const step = (cmd: KvCommand) => seen.push(...Driver.events(d.apply(cmd).effects));
    step({ type: 'put', key: 'db.host', value: 'h1', bucket: 'cfg' });
    step({ type: 'put', key: 'db.host', value: 'h2', bucket: 'cfg', ttlMs: 100 });
    step({ type: 'put', key: 'web.port', value: 80, bucket: 'cfg' }); // another prefix
    step({ type: 'put', key: 'db.host', value: 'elsewhere' }); // another bucket
    step({ type: 'cas', key: 'db.host', bucket: 'cfg', expected: 'nope', value: 'x' }); // refused: no change
    d.now += 100;
    seen.push(...Driver.events(d.fire()));
    expect(seen).toEqual([
      { watch, seq: 1, index: 2, bucket: 'cfg', key: 'db.host', op: 'put', value: 'h1' },
      { watch, seq: 2, index: 3, bucket: 'cfg', key: 'db.host', op: 'put', value: 'h2' },
      { watch, seq: 3, index: 7, bucket: 'cfg', key: 'db.host', op: 'delete', reason: 'expired' },
    ]);
    expect(seen.every((e, i) => e.seq === i + 1)).toBe(true);
    expect(d.apply({ type: 'unwatch', watch }).effects).toEqual([{ type: 'demonitor', node: 'client-1' }]);
    expect(d.apply({ type: 'unwatch', watch }).reply).toEqual({ ok: false });
    expect(Driver.events(d.apply({ type: 'put', key: 'db.host', value: 'h3', bucket: 'cfg' }).effects)).toEqual([]);
    expect(d.apply({ type: 'watch', to: { node: 7 } as unknown as Destination }).reply).toEqual({ error: 'watch needs a destination { node, id }' });
  });

  it('keeps at most watchesMax watches', () => {
    const d = new Driver(new KvMachine({ watchesMax: 2 }));
    expect(d.apply({ type: 'watch', to }).reply).toMatchObject({ ok: true });
    expect(d.apply({ type: 'watch', to }).reply).toMatchObject({ ok: true });
    expect(d.apply({ type: 'watch', to }).reply).toEqual({ error: 'too many watches (watchesMax 2)' });
    d.apply({ type: 'unwatch', watch: 1 });
    expect(d.apply({ type: 'watch', to }).reply).toMatchObject({ ok: true, watch: 5 });
  });
});

describe('kv machine: versions and snapshots', () => {
  it('refuses what version 2 brought while the cluster runs version 1, and keeps serving the rest', () => {
    const d = new Driver();
    const refused = { error: 'buckets, bound keys and watches need kv machine version 2; the cluster runs 1 until every member is upgraded' };
    expect(d.apply({ type: 'put', key: 'a', value: 1, ttlMs: 10 }, 1).reply).toEqual(refused);
    expect(d.apply({ type: 'put', key: 'a', value: 1, bucket: 'b' }, 1).reply).toEqual(refused);
    expect(d.apply({ type: 'watch', to }, 1).reply).toEqual(refused);
    expect(d.apply({ type: 'put', key: 'a', value: 1 }, 1).reply).toEqual({ ok: true });
    expect(d.apply({ type: 'frob', key: 'a' } as unknown as KvCommand, 1).reply).toEqual({ error: 'unknown kv command' });
    expect(d.state.size).toBe(1);
  });

  it('restores version 1 snapshots: chunks of [key, value] pairs', () => {
    const m = new KvMachine();
    const state = m.restore(concatBytes([encodeValue([['a', 1], ['b', [2]]]), encodeValue([['c', null]])]));
    expect([...state.buckets]).toEqual([['', new Map<string, unknown>([['a', 1], ['b', [2]], ['c', null]])]]);
  });

  it('a member restored from a snapshot at any point goes on exactly as the member it came from', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const random = new SeededRandom(seed);
      const a = new Driver();
      let b: Driver | undefined;
      for (let step = 0; step < 400; step++) {
        if (b === undefined && random.chance(0.01)) {
          b = new Driver();
          b.state = b.m.restore(b.m.snapshot(a.state));
          b.index = a.index;
          b.now = a.now;
          expect(b.m.snapshot(b.state)).toEqual(a.m.snapshot(a.state));
        }
        const move = randomMove(random, a.now);
        a.now = b === undefined ? move.now : (b.now = move.now);
        const ra = move.apply(a);
        if (b !== undefined) expect(move.apply(b), `seed ${seed} step ${step}`).toEqual(ra);
      }
      if (b !== undefined) expect(b.m.snapshot(b.state)).toEqual(a.m.snapshot(a.state));
    }
  });
});

/** A random command, node failure or timer firing against a small key space, at a leader time not before `now`. */
function randomMove(random: SeededRandom, now: number): { now: number; apply: (d: Driver) => unknown } {
  const key = `k${random.int(12)}`;
  const bucket = random.pick(['', '', 'b']);
  const opts = () => ({
    bucket,
    ...(random.chance(0.3) ? { ttlMs: 1 + random.int(3_000) } : {}),
    ...(random.chance(0.2) ? { node: random.pick(['n1', 'n2']) } : {}),
    ...(random.chance(0.25) ? { parent: `k${random.int(12)}` } : {}),
  });
  const later = now + random.int(400);
  const roll = random.int(12);
  let cmd: KvCommand;
  if (roll === 0) {
    const node = random.pick(['n1', 'n2', 'w']);
    return { now: later, apply: (d) => d.down(node) };
  }
  if (roll === 1) return { now: later, apply: (d) => d.fire() };
  if (roll <= 4) cmd = { type: 'put', key, value: random.int(100), ...opts() };
  else if (roll === 5) cmd = { type: 'delete', key, bucket };
  else if (roll === 6) cmd = { type: 'cas', key, expected: random.chance(0.5) ? null : random.int(100), value: random.int(100), ...opts() };
  else if (roll === 7) cmd = { type: 'put_if_absent', key, value: 1, ...opts() };
  else if (roll === 8) cmd = { type: 'touch', key, bucket, ttlMs: 1 + random.int(3_000) };
  else if (roll === 9) cmd = { type: 'watch', to: { node: random.pick(['n1', 'w']), id: 'x' }, bucket, prefix: random.pick(['', 'k1']) };
  else if (roll === 10) cmd = { type: 'unwatch', watch: random.int(50) };
  else cmd = { type: 'delete_bucket', bucket };
  const c = cmd;
  return { now: later, apply: (d) => d.apply(c) };
}

describe('kv machine: hostile commands', () => {
  it('answers any shape of command with a reply, never a throw, and keeps a state that snapshots and restores', () => {
    const random = new SeededRandom(99);
    const junk = (): unknown => random.pick([undefined, null, 0, -1, 1.5, 2 ** 60, '', 'a', '\u0000', 'k1', true, [], ['k1'], {}, { node: 'n', id: 's' }, { node: 1 }, new Uint8Array(2)]);
    const types = ['put', 'delete', 'cas', 'put_if_absent', 'touch', 'delete_bucket', 'watch', 'unwatch', 'frob', 7, null];
    const fields = ['key', 'value', 'bucket', 'ttlMs', 'node', 'parent', 'expected', 'returnPrevious', 'to', 'prefix', 'watch'];
    const d = new Driver();
    for (let i = 0; i < 3000; i++) {
      const cmd: Record<string, unknown> = { type: random.pick(types) };
      for (const f of fields) if (random.chance(0.5)) cmd[f] = random.chance(0.5) ? junk() : f === 'key' || f === 'parent' ? `k${random.int(3)}` : junk();
      d.now += random.int(50);
      if (random.int(20) === 0) d.fire();
      const { reply } = d.apply(cmd as unknown as KvCommand);
      expect(reply !== null && typeof reply === 'object' && ('ok' in reply || 'error' in reply), JSON.stringify(cmd)).toBe(true);
    }
    expect(d.m.snapshot(d.m.restore(d.m.snapshot(d.state)))).toEqual(d.m.snapshot(d.state));
  });
});
