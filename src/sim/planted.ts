// Named planted bugs ("proof that it bites"): each turns on one test-only
// seam of the Raft core (CoreOptions.plantedBugs) or the log, so that tests
// and `SIM_BUG=... npm run sim` can show the simulator catching it.
import { assertNever } from '../lib/assert.js';
import type { ScenarioBase } from './scenario.js';

/** The bugs the simulator must catch. */
export type PlantedBugName = 'commit_without_quorum' | 'vote_without_persist' | 'read_without_quorum' | 'no_fsync';

/** Every PlantedBugName. */
export const plantedBugNames: readonly PlantedBugName[] = ['commit_without_quorum', 'vote_without_persist', 'read_without_quorum', 'no_fsync'];

/** The scenario options that plant `name`. */
export function plantedBug(name: PlantedBugName): Pick<ScenarioBase, 'raft' | 'log'> {
  switch (name) {
    case 'commit_without_quorum':
      return { raft: { plantedBugs: { commitWithoutQuorum: true } } };
    case 'vote_without_persist':
      return { raft: { plantedBugs: { voteWithoutPersist: true } } };
    case 'read_without_quorum':
      return { raft: { plantedBugs: { readWithoutQuorum: true } } };
    case 'no_fsync':
      // Exactly "acknowledge before fsync": the WAL (and the meta store) never sync.
      return { log: { walSyncMethod: 'none' } };
    default:
      return assertNever(name, 'planted bug');
  }
}
