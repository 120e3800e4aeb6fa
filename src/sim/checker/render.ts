// Printing a violation: the failing window with its times, and the longest
// linearizable prefix the search reached, as Porcupine and Knossos show.
import type { Call, Operation } from './history.js';
import { describeCall, type Model } from './model.js';

/** One op of the longest linearizable prefix, with the state after it. */
export interface PrefixStep<S, C extends Call, O> {
  readonly op: Operation<C, O>;
  /** False when the op was taken not to have happened (unknown ops only). */
  readonly applied: boolean;
  readonly inWindow: boolean;
  readonly state: S;
}

/** What the report shows. */
export interface ViolationView<S, C extends Call, O> {
  readonly model: Model<S, C, O>;
  readonly key: string | undefined;
  readonly window: readonly Operation<C, O>[];
  readonly minimal: boolean;
  readonly prefix: readonly PrefixStep<S, C, O>[] | null;
  readonly stuck: readonly Operation<C, O>[];
}

const LEAD_SHOWN = 3;
const WINDOW_SHOWN = 40;
const PREFIX_SHOWN = 60;

function time(t: number): string {
  return (Number.isFinite(t) ? String(t) : 'inf').padStart(8);
}

function opLine<S, C extends Call, O>(model: Model<S, C, O>, op: Operation<C, O>): string {
  const end = op.status === 'unknown' ? Infinity : op.complete;
  const describe = model.describe ?? describeCall;
  return `[${time(op.invoke)}, ${time(end)}] client ${String(op.client).padEnd(4)} #${String(op.id).padEnd(5)} ${describe(op)}`;
}

function stateText<S, C extends Call, O>(model: Model<S, C, O>, state: S): string {
  return model.describeState?.(state) ?? JSON.stringify(state);
}

function prefixLines<S, C extends Call, O>(view: ViolationView<S, C, O>, prefix: readonly PrefixStep<S, C, O>[]): string[] {
  // Ops before the window, beyond the last few, and the start of a very long
  // prefix are summed up by the state they left.
  const firstInWindow = prefix.findIndex((s) => s.inWindow);
  const beforeWindow = firstInWindow < 0 ? prefix.length : firstInWindow;
  const lead = Math.max(beforeWindow <= LEAD_SHOWN ? 0 : beforeWindow, prefix.length - PREFIX_SHOWN, 0);
  const lines: string[] = [];
  if (lead > 0) {
    const state = stateText(view.model, prefix[lead - 1]!.state);
    lines.push(`  ... ${lead} operation(s) first, leaving state ${state}`);
  }
  prefix.slice(lead).forEach((s, i) => {
    const mark = s.inWindow ? '' : ' (outside window: output ignored)';
    const skipped = s.applied ? '' : ' (taken not to have happened)';
    const line = `  ${String(lead + i + 1).padStart(4)}. ${opLine(view.model, s.op)}${mark}${skipped}`;
    lines.push(`${line}  => ${stateText(view.model, s.state)}`);
  });
  return lines;
}

/** The window's ops; of a long (unshrunk) window only the last ones, where it fails. */
function windowLines<S, C extends Call, O>(view: ViolationView<S, C, O>): string[] {
  const hidden = Math.max(0, view.window.length - WINDOW_SHOWN);
  const lines = view.window.slice(hidden).map((op) => `  ${opLine(view.model, op)}`);
  return hidden === 0 ? lines : [`  ... ${hidden} earlier operation(s) of the window not shown`, ...lines];
}

/** The printable report of a violation. */
export function renderViolation<S, C extends Call, O>(view: ViolationView<S, C, O>): string {
  const where = view.key === undefined ? 'a partition' : `key ${JSON.stringify(view.key)}`;
  const size = `${view.window.length} operation(s)${view.minimal ? '' : ' (not fully shrunk: budget spent)'}`;
  const lines = [
    `not linearizable (${view.model.name} model) on ${where}; smallest failing window: ${size}`,
    `window, in invoke order (ops outside it still took effect in their interval, but their outputs are ignored):`,
    ...windowLines(view),
  ];
  if (view.prefix !== null) {
    const inWindow = view.prefix.filter((s) => s.inWindow).length;
    lines.push(`longest linearizable prefix (${inWindow} of ${view.window.length} window ops), with the state after each:`);
    lines.push(...prefixLines(view, view.prefix));
    lines.push(`window ops it could not linearize: ${view.stuck.map((op) => `#${String(op.id)}`).join(', ')}`);
  }
  return lines.join('\n');
}
