// The process-level failure detector behind NatsTransport's node events.
import { describe, expect, it } from 'vitest';
import { NodeLiveness } from '../../../src/transport/node_liveness.js';

describe('node liveness', () => {
  it('reports a node up when first heard and down after nodeTimeoutMs of silence', () => {
    const l = new NodeLiveness('a', 1500);
    expect([...l.live]).toEqual(['a']);
    expect(l.heard('b', 0, 7)).toEqual([{ type: 'node_up', node: 'b' }]);
    expect(l.heard('b', 250, 7)).toEqual([]);
    expect(l.sweep(1750)).toEqual([]);
    expect(l.sweep(1751)).toEqual([{ type: 'node_down', node: 'b' }]);
    expect([...l.live]).toEqual(['a']);
    expect(l.heard('b', 1800, 7)).toEqual([{ type: 'node_up', node: 'b' }]);
  });

  it('never reports the local node, which is always live', () => {
    const l = new NodeLiveness('a', 100);
    expect(l.heard('a', 0, 1)).toEqual([]);
    expect(l.left('a', 1)).toEqual([]);
    expect(l.sweep(10_000)).toEqual([]);
    expect(l.live.has('a')).toBe(true);
  });

  it('reports a goodbye at once, and ignores an older run saying goodbye', () => {
    const l = new NodeLiveness('a', 1500);
    l.heard('b', 0, 1);
    expect(l.left('b', 1)).toEqual([{ type: 'node_down', node: 'b' }]);
    l.heard('b', 10, 2);
    expect(l.left('b', 1)).toEqual([]);
    expect(l.live.has('b')).toBe(true);
  });

  it('reports a restart (a new incarnation) as down then up, so monitors fire', () => {
    const l = new NodeLiveness('a', 1500);
    l.heard('b', 0, 1);
    expect(l.heard('b', 100, 2)).toEqual([
      { type: 'node_down', node: 'b' },
      { type: 'node_up', node: 'b' },
    ]);
  });

  it('counts a batch (no incarnation) as a sign of life and adopts the first incarnation it hears', () => {
    const l = new NodeLiveness('a', 1000);
    expect(l.heard('b', 0)).toEqual([{ type: 'node_up', node: 'b' }]);
    expect(l.heard('b', 900, 5)).toEqual([]);
    expect(l.heard('b', 1800)).toEqual([]);
    expect(l.sweep(2700)).toEqual([]);
  });
});
