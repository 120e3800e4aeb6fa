// The WAL record format, the per-file range bookkeeping and the mem table.
import { describe, expect, it } from 'vitest';
import { MemTable } from '../../../src/log/mem_table.js';
import { FileGroupRange } from '../../../src/log/wal_file.js';
import { readFileHeader, scanRecords, WAL_HEADER_BYTES, WalBuffer, type RecordKind } from '../../../src/log/wal_format.js';

function encode(): { bytes: Uint8Array; ends: number[] } {
  const b = new WalBuffer(64);
  b.putFileHeader(2 ** 40 + 5);
  const ends: number[] = [];
  b.putRecord('group', 7, 0, 0, new TextEncoder().encode('kv/n1'));
  ends.push(b.length);
  for (let i = 1; i <= 5; i++) {
    b.putRecord('entry', 7, 2 ** 33 + i, 2 ** 35, new Uint8Array(i * 10).fill(i));
    ends.push(b.length);
  }
  b.putRecord('truncate', 7, 2 ** 33 + 2, 2 ** 35, undefined);
  ends.push(b.length);
  return { bytes: b.written().slice(), ends };
}

describe('WAL format', () => {
  it('round-trips header and records with 64-bit indexes and terms', () => {
    const { bytes } = encode();
    expect(readFileHeader(bytes)).toBe(2 ** 40 + 5);
    const seen: [RecordKind, number, number, number, number][] = [];
    const end = scanRecords(bytes, (kind, group, index, term, payload) => seen.push([kind, group, index, term, payload.length]));
    expect(end).toBe(bytes.length);
    expect(seen[0]).toEqual(['group', 7, 0, 0, 5]);
    expect(seen[3]).toEqual(['entry', 7, 2 ** 33 + 3, 2 ** 35, 30]);
    expect(seen[6]).toEqual(['truncate', 7, 2 ** 33 + 2, 2 ** 35, 0]);
  });

  it('stops at the first torn or damaged record', () => {
    const { bytes, ends } = encode();
    for (let cut = WAL_HEADER_BYTES; cut < bytes.length; cut++) {
      const end = scanRecords(bytes.subarray(0, cut), () => {});
      expect(end).toBe(Math.max(WAL_HEADER_BYTES, ...ends.filter((e) => e <= cut)));
    }
    for (let at = WAL_HEADER_BYTES; at < bytes.length; at += 7) {
      const bad = bytes.slice();
      bad[at] = (bad[at] as number) ^ 0x10;
      const end = scanRecords(bad, () => {});
      const recordStart = Math.max(WAL_HEADER_BYTES, ...ends.filter((e) => e <= at));
      expect(end).toBe(recordStart);
    }
    expect(readFileHeader(new Uint8Array(16))).toBeUndefined();
  });
});

describe('FileGroupRange', () => {
  it('tracks the lowest index touched, the end, and the terms as the file left them', () => {
    const r = new FileGroupRange();
    for (let i = 10; i <= 20; i++) r.entry(i, i < 15 ? 1 : 2);
    expect([r.lo, r.hi, r.termAt(12), r.termAt(15), r.termAt(21), r.termAt(9)]).toEqual([10, 20, 1, 2, undefined, undefined]);
    r.cut(12);
    expect([r.lo, r.hi, r.termAt(12), r.termAt(13)]).toEqual([10, 12, 1, undefined]);
    r.entry(13, 3);
    r.cut(4);
    expect([r.lo, r.hi]).toEqual([5, 4]);
    r.entry(5, 4);
    expect([r.lo, r.hi, r.termAt(5)]).toEqual([5, 5, 4]);
  });
});

describe('MemTable', () => {
  it('appends, truncates, drops a prefix and keeps the shared byte count', () => {
    const budget = { bytes: 0 };
    const m = new MemTable(budget, 1);
    const e = (index: number, term = 1) => ({ index, term, payload: new Uint8Array(10) });
    m.append([e(1), e(2), e(3), e(4)]);
    expect([m.first, m.last, m.count, budget.bytes]).toEqual([1, 4, 4, 4 * 74]);
    expect(() => m.push(e(6))).toThrow(/expects index 5/);
    m.truncateAfter(2);
    expect([m.first, m.last, budget.bytes]).toEqual([1, 2, 2 * 74]);
    m.dropThrough(1);
    expect([m.first, m.last, m.get(1), m.termAt(2)]).toEqual([2, 2, undefined, 1]);
    m.truncateAfter(0);
    expect([m.first, m.last, m.count, budget.bytes]).toEqual([1, 0, 0, 0]);
    for (let i = 1; i <= 3000; i++) m.push(e(i));
    m.dropThrough(2500);
    expect([m.first, m.last, m.slice(2999, 5000).map((x) => x.index)]).toEqual([2501, 3000, [2999, 3000]]);
    m.resetTo(100);
    expect([m.first, m.last, budget.bytes]).toEqual([100, 99, 0]);
  });
});
