import { describe, expect, it } from 'vitest';
import { crashAndRestart, logWorld, makeEntries, payloadMatches } from './world.js';

describe('smoke', () => {
  it('appends, acknowledges, reads back, survives a crash', () => {
    const w = logWorld();
    w.settle();
    const log = w.open('kv1/n1');
    expect(log.append(makeEntries('kv1/n1', 1, 10, 1))).toBe('ok');
    expect(log.lastIndex).toBe(10);
    expect(log.writtenIndex).toBe(0);
    w.settle();
    expect(log.writtenIndex).toBe(10);
    const es = log.entries(1, 10);
    expect(es.length).toBe(10);
    expect(es.every((e) => payloadMatches('kv1/n1', e))).toBe(true);
    const w2 = crashAndRestart(w);
    w2.settle();
    const log2 = w2.open('kv1/n1');
    expect(log2.lastIndex).toBe(10);
    expect(log2.entries(1, 10).every((e) => payloadMatches('kv1/n1', e))).toBe(true);
    expect(w.logger.records.filter((r) => r.level === 'error')).toEqual([]);
  });
});
