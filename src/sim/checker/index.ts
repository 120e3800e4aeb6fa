// The checker's public surface, for src/index.ts to re-export.
export { check, type CheckOptions, type CheckResult, type Violation } from './check.js';
export { fromEvents, validateHistory, type Call, type HistoryEvent, type Operation, type OpRecord, type OpStatus } from './history.js';
export {
  partitionByKey,
  describeCall,
  type Model,
  type Outcome,
  type StepResult,
  type StateKey,
} from './model.js';
export { type Resolution, type Resolver } from './prepare.js';
export { type PrefixStep } from './render.js';
export { deadlineAfter, DEFAULT_MAX_STEPS, type Budget } from './budget.js';
export { kvModel, type KvCall, type KvOutput, type KvState } from './kv_model.js';
export { counterModel, type CounterCall, type CounterOutput } from './counter_model.js';
