// Test helper: asserts the properties of a reported failing window.
import { expect } from 'vitest';
import { Meter } from '../../../../src/sim/checker/budget.js';
import { type CheckResult } from '../../../../src/sim/checker/check.js';
import type { Call } from '../../../../src/sim/checker/history.js';
import type { Model } from '../../../../src/sim/checker/model.js';
import { prepare } from '../../../../src/sim/checker/prepare.js';
import { searchWindow } from '../../../../src/sim/checker/window.js';

/**
 * The window is a contiguous run (in invoke order) of the violating
 * partition; it is non-linearizable with the outputs of the rest of the
 * partition ignored; ignoring the output of its first or its last op too
 * makes it linearizable.
 */
export function expectMinimalWindow<S, C extends Call, O>(r: CheckResult<S, C, O>, model: Model<S, C, O>): void {
  expect(r.result).toBe('violation');
  if (r.result !== 'violation') return;
  const v = r.violation;
  expect(v.minimal).toBe(true);
  const prepared = prepare(v.operations, model);
  const from = prepared.findIndex((p) => p.op === v.window[0]);
  const to = from + v.window.length - 1;
  expect(from).toBeGreaterThanOrEqual(0);
  expect(prepared.slice(from, to + 1).map((p) => p.op)).toEqual(v.window);
  const verdict = (a: number, b: number): string => searchWindow(prepared, model, a, b, new Meter({})).type;
  expect(verdict(from, to)).toBe('violation');
  if (from < to) {
    expect(verdict(from + 1, to)).toBe('ok');
    expect(verdict(from, to - 1)).toBe('ok');
  }
  expect(v.report).toContain('not linearizable');
}
