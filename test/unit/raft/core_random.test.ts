import { describe, expect, it } from 'vitest';
import { CoreCluster } from '../../helpers/core_cluster.js';

/** One randomized run: faults for a while, then heal and demand progress. */
function run(seed: number, size: 3 | 5): { violations: string[]; committed: number; acked: number } {
  const ids = size === 3 ? ['a', 'b', 'c'] : ['a', 'b', 'c', 'd', 'e'];
  const c = new CoreCluster(ids, seed, { electionTimeoutMinMs: 150, electionTimeoutMaxMs: 300, heartbeatMs: 30, snapshotChunkBytes: 48 });
  const r = c.random.fork();
  c.net = { dropRate: 0.05, dupRate: 0.03, minDelayMs: 1, maxDelayMs: 20, diskMinMs: 1, diskMaxMs: 8 };
  const acceptedRefs: { id: string; ref: number }[] = [];
  for (let t = 0; t < 60; t++) {
    const choice = r.int(12);
    const id = r.pick(ids);
    if (choice < 5) {
      acceptedRefs.push({ id, ref: c.command(id, `cmd-${seed}-${t}`) });
    } else if (choice === 5) {
      c.isolate(id);
    } else if (choice === 6) {
      c.heal();
    } else if (choice === 7 && c.member(id).up) {
      c.crash(id);
    } else if (choice === 8 && !c.member(id).up) {
      c.restart(id);
    } else if (choice === 9 && c.member(id).up) {
      c.snapshotNow(id); // compaction: lagging members will need InstallSnapshot
    } else if (choice === 10) {
      const leader = c.leaders()[0];
      if (leader !== undefined) c.transfer(leader.id, r.pick(ids));
    } else {
      c.read(id);
    }
    c.clock.runFor(r.between(5, 120));
  }
  // Liveness: heal, restart everyone, and a command must commit.
  c.heal();
  // Still lossy: repair must not depend on a perfect network, only on a connected one.
  c.net = { dropRate: 0.05, dupRate: 0.02, minDelayMs: 1, maxDelayMs: 5, diskMinMs: 1, diskMaxMs: 3 };
  for (const id of ids) if (!c.member(id).up) c.restart(id);
  // Like a client: resubmit after a definite rejection (e.g. during a leadership transfer).
  let leader = c.awaitLeader(20_000);
  let ref = c.command(leader.id, 'final');
  const ok = c.clock.runUntil(() => {
    if (leader.rejected.has(ref) || leader.state.role !== 'leader') {
      leader = c.leaders()[0] ?? leader;
      if (leader.state.role === 'leader') ref = c.command(leader.id, 'final');
    }
    const acc = leader.accepted.get(ref);
    return acc !== undefined && leader.state.commitIndex >= acc.index;
  }, 20_000);
  if (!ok) c.violations.push('no progress after healing');
  // Every member converges on the leader's commit index once the network is healthy.
  const converged = c.clock.runUntil(
    () => [...c.members.values()].every((m) => m.state.commitIndex === leader.state.commitIndex && m.applied.length > 0),
    5_000,
  );
  if (!converged) c.violations.push(`members did not converge on commit ${leader.state.commitIndex}`);
  return { violations: c.violations, committed: leader.state.commitIndex, acked: acceptedRefs.length };
}

describe('Raft core under random faults', () => {
  it('keeps election safety, log matching, leader completeness and state machine safety (3 members, 100 seeds)', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const { violations } = run(seed, 3);
      expect(violations, `seed ${seed}`).toEqual([]);
    }
  });

  it('keeps the invariants with 5 members (50 seeds)', () => {
    for (let seed = 1000; seed < 1050; seed++) {
      const { violations } = run(seed, 5);
      expect(violations, `seed ${seed}`).toEqual([]);
    }
  });
});
