// Quorum arithmetic: the committed index of a set of match indexes, and the
// outcome of a vote. Pure functions over the voters of one configuration.
import type { ServerId } from './types.js';

/** Votes needed for a majority of `voters` voters. */
export function quorumSize(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * The highest index that a majority of voters hold (§5.3, §5.4): the
 * quorum-th largest of their match indexes. `match` returns each voter's index.
 */
export function committedIndex(voters: readonly ServerId[], match: (id: ServerId) => number): number {
  const n = voters.length;
  if (n === 0) return 0;
  // An insertion sort, descending, in a reused array: a handful of voters, and this runs for
  // every acknowledgement (map and sort allocated about 2 KB per command on a leader).
  const a = scratch;
  for (let i = 0; i < n; i++) {
    const v = match(voters[i] as ServerId);
    let j = i - 1;
    while (j >= 0 && (a[j] as number) < v) {
      a[j + 1] = a[j] as number;
      j--;
    }
    a[j + 1] = v;
  }
  return a[quorumSize(n) - 1] as number;
}

const scratch: number[] = [];

/** Outcome of an election among `voters` given the replies so far. */
export function voteResult(voters: readonly ServerId[], votes: ReadonlyMap<ServerId, boolean>): 'won' | 'lost' | 'pending' {
  const need = quorumSize(voters.length);
  let yes = 0;
  let no = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) yes++;
    else if (v === false) no++;
  }
  if (yes >= need) return 'won';
  if (no > voters.length - need) return 'lost';
  return 'pending';
}
