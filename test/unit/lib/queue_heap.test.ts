import { describe, expect, it } from 'vitest';
import { Queue } from '../../../src/lib/queue.js';
import { Heap } from '../../../src/lib/heap.js';
import { SeededRandom } from '../../../src/io/random.js';

describe('Queue', () => {
  it('behaves like an array used as a deque, across growth and wrap-around', () => {
    const random = new SeededRandom(11);
    const q = new Queue<number>(4);
    const model: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const op = random.int(4);
      if (op === 0) {
        q.push(i);
        model.push(i);
      } else if (op === 1) {
        q.unshift(i);
        model.unshift(i);
      } else {
        expect(q.shift()).toBe(model.shift());
      }
      expect(q.length).toBe(model.length);
      expect(q.peek()).toBe(model[0]);
    }
    expect(q.drain()).toEqual(model);
    expect(q.length).toBe(0);
  });
});

describe('Heap', () => {
  it('pops items in order', () => {
    const random = new SeededRandom(5);
    const heap = new Heap<number>((a, b) => a < b);
    const items = Array.from({ length: 1000 }, () => random.int(100));
    for (const x of items) heap.push(x);
    const out: number[] = [];
    while (heap.size > 0) out.push(heap.pop() as number);
    expect(out).toEqual([...items].sort((a, b) => a - b));
  });
});

describe('SeededRandom', () => {
  it('is reproducible from its seed and stays in range', () => {
    const a = new SeededRandom(99);
    const b = new SeededRandom(99);
    const xs = Array.from({ length: 100 }, () => a.int(10));
    expect(Array.from({ length: 100 }, () => b.int(10))).toEqual(xs);
    expect(new Set(xs).size).toBe(10);
    for (let i = 0; i < 1000; i++) {
      const v = a.between(3, 5);
      expect(v >= 3 && v <= 5).toBe(true);
    }
  });
});
