// What simulated clients do: a Workload draws random operations for one
// machine, each as the call its checker model sees and the request that
// carries it (a command, or a named consistent query). The kv and counter
// workloads drive the machines shipped in machines/.
import type { Random } from '../io/random.js';
import { assertNever } from '../lib/assert.js';
import type { Call } from './checker/history.js';
import type { CounterCall, CounterOutput } from './checker/counter_model.js';
import { counterModel } from './checker/counter_model.js';
import type { KvCall, KvOutput, KvState } from './checker/kv_model.js';
import { kvModel } from './checker/kv_model.js';
import type { Model } from './checker/model.js';

/** How an operation reaches the cluster: a command, or a named query read with ReadIndex. */
export type OpRequest =
  | { readonly type: 'command'; readonly command: unknown }
  | { readonly type: 'query'; readonly name: string; readonly args?: unknown };

/** One operation: the call as the model sees it and the request that carries it. */
export interface PlannedOp<C extends Call = Call> {
  readonly call: C;
  readonly request: OpRequest;
}

/** What a client remembers between its operations (to aim compare-and-set at real values). */
export interface ClientMemory {
  /** Last value seen per key (null: absent). */
  readonly seen: Map<string, unknown>;
}

/**
 * Random operations against one machine, checked with `model`. `next` gets a
 * tag unique in the run: a workload whose machine ignores unknown command
 * fields puts it in the command (`op: tag`) and sets `tagged`, so that the
 * simulator finds each command in the committed log; otherwise the
 * simulator identifies commands through client sessions.
 */
export interface Workload<S = unknown, C extends Call = Call, O = unknown> {
  /** The machine's registered name (the key in the world's `machines`). */
  readonly machine: string;
  readonly model: Model<S, C, O>;
  /** True when commands carry the tag given to `next` in an `op` field. */
  readonly tagged?: boolean;
  /** The next operation of a client. */
  next(random: Random, tag: string, memory: ClientMemory): PlannedOp<C>;
  /** The model's output for the machine's reply (default: the reply itself). */
  output?(call: C, reply: unknown): O;
  /** Updates what the client remembers after an operation succeeded. */
  remember?(memory: ClientMemory, call: C, output: O): void;
}

/** Any workload, as the simulator handles them. */
export type AnyWorkload = Workload<any, any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Options of the kv workload. */
export interface KvWorkloadOptions {
  /** Number of keys (default 4): few keys, many conflicts. */
  readonly keys?: number;
  /** Share of reads (default 0.4). */
  readonly readShare?: number;
}

function kvPick(random: Random, o: Required<KvWorkloadOptions>): 'get' | 'put' | 'cas' | 'delete' | 'put_if_absent' {
  const r = random.next();
  if (r < o.readShare) return 'get';
  const w = (r - o.readShare) / (1 - o.readShare);
  return w < 0.5 ? 'put' : w < 0.8 ? 'cas' : w < 0.9 ? 'delete' : 'put_if_absent';
}

/** The kv machine (machines/kv.ts) with unique values per write, so that every write can be found in the log. */
export function kvWorkload(options: KvWorkloadOptions = {}): Workload<KvState, KvCall, KvOutput> {
  const o: Required<KvWorkloadOptions> = { keys: options.keys ?? 4, readShare: options.readShare ?? 0.4 };
  return {
    machine: 'kv',
    model: kvModel,
    tagged: true,
    next(random, tag, memory) {
      const key = `k${random.int(o.keys)}`;
      const f = kvPick(random, o);
      switch (f) {
        case 'get':
          return { call: { f, key, input: null }, request: { type: 'query', name: 'get', args: key } };
        case 'put':
          return { call: { f, key, input: tag }, request: { type: 'command', command: { type: 'put', key, value: tag, op: tag } } };
        case 'delete':
          return { call: { f, key, input: null }, request: { type: 'command', command: { type: 'delete', key, op: tag } } };
        case 'put_if_absent':
          return { call: { f, key, input: tag }, request: { type: 'command', command: { type: 'put_if_absent', key, value: tag, op: tag } } };
        case 'cas': {
          const seen = memory.seen.get(key);
          const expected = typeof seen === 'string' && random.chance(0.8) ? seen : null;
          const command = { type: 'cas', key, expected, value: tag, op: tag };
          return { call: { f, key, input: { expected, value: tag } }, request: { type: 'command', command } };
        }
        default:
          return assertNever(f, 'kv operation');
      }
    },
    output(call, reply) {
      switch (call.f) {
        case 'get':
          return (reply ?? null) as KvOutput;
        case 'cas':
        case 'put_if_absent':
          return (reply as { ok?: unknown } | null)?.ok === true;
        case 'put':
        case 'delete':
          return 'ok';
        default:
          return assertNever(call, 'kv call');
      }
    },
    remember(memory, call, output) {
      if (call.f === 'get' || call.f === 'put') memory.seen.set(call.key, call.f === 'get' ? output : call.input);
      else if ((call.f === 'cas' || call.f === 'put_if_absent') && output === true) memory.seen.set(call.key, call.f === 'cas' ? call.input.value : call.input);
      else if (call.f === 'delete') memory.seen.set(call.key, null);
    },
  };
}

/** The counter machine (machines/counter.ts): increments by 1 to 3 and reads, on a few names. */
export function counterWorkload(options: { names?: number; readShare?: number } = {}): Workload<number, CounterCall, CounterOutput> {
  const names = options.names ?? 2;
  const readShare = options.readShare ?? 0.3;
  return {
    machine: 'counter',
    model: counterModel,
    tagged: true,
    next(random, tag) {
      const key = `c${random.int(names)}`;
      if (random.chance(readShare)) return { call: { f: 'get', key, input: null }, request: { type: 'query', name: 'get', args: key } };
      const by = random.between(1, 3);
      return { call: { f: 'incr', key, input: by }, request: { type: 'command', command: { type: 'incr', name: key, by, op: tag } } };
    },
    output: (_call, reply) => reply as number,
  };
}
