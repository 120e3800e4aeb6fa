// The machine of ra's own benchmark (ra_bench): commands are opaque bytes it
// keeps nothing of, and every reply is `ok`. The throughput benchmark runs it
// (through `concord node --machine-module`) to compare Concord with ra on the
// same workload; the kv puts it also runs decode each command and keep its
// value in a Map of 100,000 keys, which ra's benchmark does not.
import type { ApplyMeta, ApplyResult, Machine } from '../../src/index.js';

/** Applies nothing; replies `ok`. */
export default class NoopMachine implements Machine<null, unknown, 'ok'> {
  readonly version = 1;

  init(): null {
    return null;
  }

  apply(_meta: ApplyMeta, _command: unknown, state: null): ApplyResult<null, 'ok'> {
    return { state, reply: 'ok' };
  }
}
