// A snapshot restored a few steps at a time: the runner is untouched until the
// last step, and then holds exactly what a restore in one go gives.
import { describe, expect, it } from 'vitest';
import { MachineRunner } from '../../../src/raft/server/machine_runner.js';
import { memoryLogger } from '../../../src/lib/logger.js';
import { KvMachine, KvState } from '../../../machines/kv.js';
import { CounterMachine } from '../../../machines/counter.js';
import type { AnyMachine } from '../../../src/raft/machine.js';
import { concatBytes } from '../../../src/lib/bytes.js';

/** A runner whose state is `state`, and its snapshot bytes taken at `index`. */
function snapshotOf(machine: AnyMachine, state: unknown, index: number): Uint8Array {
  const runner = new MachineRunner(machine, memoryLogger(), 'c', null, 60_000);
  runner.state = state;
  runner.appliedIndex = index;
  const { header, chunks } = runner.snapshotStream();
  const parts = [header];
  for (let r = chunks.next(); r.done !== true; r = chunks.next()) parts.push(r.value);
  return concatBytes(parts);
}

describe('restoring a snapshot in steps', () => {
  const keys = 1000; // four chunks of 256 entries: four steps and the last one
  const big = new KvState();
  big.buckets.set('', new Map(Array.from({ length: keys }, (_, i) => [`k${i}`, i] as [string, unknown])));

  it('changes nothing until the last step, then holds the snapshot', () => {
    const bytes = snapshotOf(new KvMachine(), big, 1234);
    const runner = new MachineRunner(new KvMachine(), memoryLogger(), 'c', null, 60_000);
    const before = runner.state;
    const job = runner.beginRestore(bytes, 1234);
    let steps = 0;
    while (!job.step(1)) {
      steps++;
      expect(runner.appliedIndex).toBe(0);
      expect(runner.state).toBe(before);
    }
    expect(steps).toBe(4);
    expect(runner.appliedIndex).toBe(1234);
    expect(runner.state).toEqual(big);
  });

  it('gives what a restore in one go gives', () => {
    const bytes = snapshotOf(new KvMachine(), big, 99);
    const stepped = new MachineRunner(new KvMachine(), memoryLogger(), 'c', null, 60_000);
    const job = stepped.beginRestore(bytes, 99);
    while (!job.step(3));
    const whole = new MachineRunner(new KvMachine(), memoryLogger(), 'c', null, 60_000);
    whole.restore(bytes, 99);
    expect(stepped.state).toEqual(whole.state);
    expect(stepped.appliedIndex).toBe(whole.appliedIndex);
  });

  it('takes one step for a machine without restoreSteps', () => {
    const bytes = snapshotOf(new CounterMachine(), new CounterMachine().init(), 7);
    const runner = new MachineRunner(new CounterMachine(), memoryLogger(), 'c', null, 60_000);
    expect(runner.beginRestore(bytes, 7).step(1)).toBe(true);
    expect(runner.appliedIndex).toBe(7);
  });

  it('refuses truncated bytes at its first step', () => {
    const runner = new MachineRunner(new KvMachine(), memoryLogger(), 'c', null, 60_000);
    expect(() => runner.beginRestore(new Uint8Array([200, 0, 0, 0, 1]), 5).step(1)).toThrow(/truncated/);
  });
});
