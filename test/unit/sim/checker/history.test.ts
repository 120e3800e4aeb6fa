import { describe, expect, it } from 'vitest';
import { check } from '../../../../src/sim/checker/check.js';
import { fromEvents, type HistoryEvent, type Operation } from '../../../../src/sim/checker/history.js';
import { kvModel, type KvCall, type KvOutput } from '../../../../src/sim/checker/kv_model.js';
import { InvalidArgumentError } from '../../../../src/lib/errors.js';

type Event = HistoryEvent<KvCall, KvOutput>;

describe('fromEvents', () => {
  const events: Event[] = [
    { type: 'invoke', client: 1, time: 0, f: 'put', key: 'k', input: 'a' },
    { type: 'invoke', client: 2, time: 1, f: 'get', key: 'k', input: null },
    { type: 'ok', client: 1, time: 2, output: 'ok' },
    { type: 'invoke', client: 3, time: 2, f: 'delete', key: 'k', input: null, id: 'd' },
    { type: 'ok', client: 2, time: 3, output: 'a' },
    { type: 'fail', client: 3, time: 4 },
    { type: 'invoke', client: 1, time: 5, f: 'put', key: 'k', input: 'b' },
    { type: 'unknown', client: 1, time: 9 },
    { type: 'invoke', client: 2, time: 10, f: 'get', key: 'k', input: null },
  ];

  it('pairs completions with their client’s pending invoke, in invoke order; pending at the end is unknown', () => {
    expect(fromEvents<KvCall, KvOutput>(events)).toEqual([
      { id: 0, client: 1, f: 'put', key: 'k', input: 'a', invoke: 0, complete: 2, status: 'ok', output: 'ok' },
      { id: 1, client: 2, f: 'get', key: 'k', input: null, invoke: 1, complete: 3, status: 'ok', output: 'a' },
      { id: 'd', client: 3, f: 'delete', key: 'k', input: null, invoke: 2, complete: 4, status: 'fail' },
      { id: 3, client: 1, f: 'put', key: 'k', input: 'b', invoke: 5, complete: 9, status: 'unknown' },
      { id: 4, client: 2, f: 'get', key: 'k', input: null, invoke: 10, complete: Infinity, status: 'unknown' },
    ] satisfies Operation<KvCall, KvOutput>[]);
  });

  it('gives the checker the same verdict as the operation form', () => {
    expect(check(fromEvents<KvCall, KvOutput>(events), kvModel).result).toBe('ok');
    const stale: Event[] = [...events, { type: 'invoke', client: 4, time: 11, f: 'get', key: 'k', input: null }, { type: 'ok', client: 4, time: 12, output: 'zzz' }];
    expect(check(fromEvents<KvCall, KvOutput>(stale), kvModel).result).toBe('violation');
  });

  it('rejects malformed event lists with InvalidArgumentError', () => {
    const invoke: Event = { type: 'invoke', client: 1, time: 5, f: 'get', key: 'k', input: null };
    expect(() => fromEvents([{ type: 'ok', client: 1, time: 0, output: null }])).toThrow(InvalidArgumentError);
    expect(() => fromEvents([invoke, invoke])).toThrow(/invoked twice/);
    expect(() => fromEvents([invoke, { type: 'ok', client: 1, time: 4, output: null }])).toThrow(/before its invoke/);
  });
});

describe('history validation', () => {
  it('rejects an ok operation that completes before it is invoked, or a non-finite invoke', () => {
    const op: Operation<KvCall, KvOutput> = { f: 'get', key: 'k', input: null, id: 0, client: 0, output: null, invoke: 5, complete: 4, status: 'ok' };
    expect(() => check([op], kvModel)).toThrow(InvalidArgumentError);
    expect(() => check([{ ...op, invoke: NaN }], kvModel)).toThrow(/invoke must be finite/);
    expect(check([{ ...op, complete: 0, status: 'unknown' }], kvModel).result).toBe('ok');
  });
});
