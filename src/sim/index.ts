// The simulator's public surface, for src/index.ts to re-export: `simulate`
// for users' own machines, the pieces it is made of for those who build
// their own runs, and the linearizability checker.
export { simulate, type SimulateOptions, type SimulationReport, type SeedFailure, type UserWorkload } from './simulate.js';
export { runSeed, type RunOptions, type RunStats, type SeedResult } from './run.js';
export { scenarioFor, type Scenario, type ScenarioBase, type ClusterPlan } from './scenario.js';
export { kvWorkload, counterWorkload, type Workload, type AnyWorkload, type PlannedOp, type OpRequest, type ClientMemory, type KvWorkloadOptions } from './workload.js';
export { faultKinds, type FaultKind } from './nemesis.js';
export { featuredScenarios, type Featured } from './scripts.js';
export { plantedBug, plantedBugNames, type PlantedBugName } from './planted.js';
export { Coverage, requiredPaths } from './coverage.js';
export { World, simRaft, type WorldOptions } from './world.js';
export type { Finding, FindingKind } from './verdict.js';
export * from './checker/index.js';
