// A member applies the entry kinds of its runtime version and stops at any
// other: a newer build's kind, skipped, would leave its state apart from the
// members that applied it.
import { describe, expect, it } from 'vitest';
import { encode } from '@msgpack/msgpack';
import { MachineRunner } from '../../../src/raft/server/machine_runner.js';
import { encodeCommand, encodeMachineVersion } from '../../../src/raft/server/entry_codec.js';
import { encodeConfig, EntryKind, noopEntryPayload, runtimeVersion } from '../../../src/raft/core/entry_kind.js';
import { memoryLogger } from '../../../src/lib/logger.js';
import { CounterMachine } from '../../../machines/counter.js';
import type { Entry } from '../../../src/raft/core/types.js';

const incr = (index: number): Entry => ({ index, term: 1, payload: encodeCommand({ type: 'user', timestamp: 0, command: encode({ type: 'incr' }) }) });
const counterOf = (runner: MachineRunner): number | undefined => (runner.state as Map<string, number>).get('default');

describe('entries of a kind this build does not know', () => {
  it('halt the member where they stand, and nothing after them is applied', () => {
    const logger = memoryLogger();
    const runner = new MachineRunner(new CounterMachine(), logger, 'c', null, 60_000);
    runner.apply(incr(1));
    runner.apply({ index: 2, term: 1, payload: noopEntryPayload() });
    runner.apply({ index: 3, term: 1, payload: encodeConfig({ voters: ['a'], nonVoters: [] }) });
    expect(runner.halted).toBeUndefined();
    expect(runner.apply({ index: 4, term: 1, payload: new Uint8Array([EntryKind.timerFiring + 1, 0x90]) })).toBeUndefined();
    expect(runner.halted).toEqual({ index: 4, reason: `the log holds an entry of kind ${EntryKind.timerFiring + 1}, which this build (runtime version ${runtimeVersion}) cannot apply` });
    expect(runner.apply(incr(5))).toBeUndefined();
    expect(runner.appliedIndex).toBe(3);
    expect(counterOf(runner)).toBe(1);
    expect(logger.records.filter((r) => r.level === 'error').map((r) => r.fields?.['kind'])).toEqual([EntryKind.timerFiring + 1]);
  });

  it('say why, as a machine version the member does not run does', () => {
    const runner = new MachineRunner(new CounterMachine(), memoryLogger(), 'c', null, 60_000);
    runner.apply({ index: 1, term: 1, payload: encodeMachineVersion(7) });
    expect(runner.halted).toEqual({ index: 1, reason: 'cluster needs machine version 7, this member runs 1' });
  });
});
