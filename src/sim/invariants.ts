// Raft's safety properties, checked across a simulated world after every
// step: election safety, log matching, leader completeness and state machine
// safety (Raft paper figure 3.2), plus monotonic term and commit index.
import type { ServerObserver } from '../raft/server/server.js';
import type { System } from '../api/system.js';

/** FNV-1a of the bytes: enough to tell payloads apart in checks. */
function digest(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193) >>> 0;
  return h;
}

interface Recorded {
  readonly term: number;
  readonly digest: number;
}

/** Collects violations of Raft's safety properties. */
export class Invariants {
  readonly violations: string[] = [];
  /** cluster -> term -> leader */
  private readonly leaders = new Map<string, Map<number, string>>();
  /** cluster -> index -> entry applied somewhere */
  private readonly applied = new Map<string, Map<number, Recorded>>();
  /** cluster -> index -> entry committed somewhere, with the term in which that was seen */
  private readonly committed = new Map<string, Map<number, Recorded & { readonly seenInTerm: number }>>();
  /** `${cluster}/${node}` -> last seen term and commit index of the current incarnation */
  private readonly seen = new Map<string, { term: number; commit: number }>();

  /** Feed this to every System (`observer` option): it checks state machine safety as entries apply. */
  readonly observer: ServerObserver = {
    removed: (cluster, node) => {
      this.seen.delete(`${cluster}/${node}`);
    },
    applied: (cluster, node, index, term, payload) => {
      const map = mapOf(this.applied, cluster);
      const mine: Recorded = { term, digest: digest(payload) };
      const prev = map.get(index);
      if (prev === undefined) map.set(index, mine);
      else if (prev.term !== mine.term || prev.digest !== mine.digest) {
        this.fail(`state machine safety: ${cluster}/${node} applied a different entry at ${index}`);
      }
    },
  };

  /**
   * A member restarted: its volatile state may start lower. That includes its
   * term when the crash came before the new term was durable (no message left
   * at that term: sends wait for the persist), so term and commit index are
   * only compared within one incarnation here.
   */
  restarted(cluster: string, node: string): void {
    this.seen.delete(`${cluster}/${node}`);
  }

  /** Checks every live member of `clusters` on the given systems. */
  check(systems: ReadonlyMap<string, System>, clusters: readonly string[]): void {
    for (const cluster of clusters) {
      const views: { node: string; view: NonNullable<ReturnType<System['inspectServer']>> }[] = [];
      for (const [node, system] of systems) {
        const view = system.inspectServer(cluster);
        if (view !== undefined) views.push({ node, view });
      }
      for (const { node, view } of views) this.checkMember(cluster, node, view);
      for (let a = 0; a < views.length; a++) {
        for (let b = a + 1; b < views.length; b++) this.checkMatching(cluster, views[a] as (typeof views)[0], views[b] as (typeof views)[0]);
      }
    }
  }

  private checkMember(cluster: string, node: string, view: NonNullable<ReturnType<System['inspectServer']>>): void {
    const { core, log } = view;
    const key = `${cluster}/${node}`;
    const s = this.seen.get(key) ?? { term: 0, commit: 0 };
    if (core.term < s.term) this.fail(`${key}: term went back from ${s.term} to ${core.term}`);
    if (core.commitIndex < s.commit) this.fail(`${key}: commit index went back from ${s.commit} to ${core.commitIndex}`);
    this.seen.set(key, { term: Math.max(s.term, core.term), commit: Math.max(s.commit, core.commitIndex) });
    // Record what this member holds committed (incrementally, from the top down).
    const committed = mapOf(this.committed, cluster);
    for (let i = core.commitIndex; i > log.snapshotIndex; i--) {
      const e = log.entry(i);
      if (e === undefined) break;
      const prev = committed.get(i);
      const d = digest(e.payload);
      if (prev !== undefined) {
        if (prev.term !== e.term || prev.digest !== d) this.fail(`${key}: committed entry ${i} differs from one committed elsewhere`);
        break;
      }
      committed.set(i, { term: e.term, digest: d, seenInTerm: core.term });
    }
    if (core.role !== 'leader') return;
    const leaders = mapOf(this.leaders, cluster);
    const other = leaders.get(core.term);
    if (other !== undefined && other !== node) this.fail(`election safety: ${cluster} has leaders ${other} and ${node} in term ${core.term}`);
    leaders.set(core.term, node);
    // Leader completeness: every entry committed in an earlier term is in this leader's log.
    for (const [index, c] of committed) {
      if (c.seenInTerm >= core.term || index <= log.snapshotIndex) continue;
      const t = log.term(index);
      if (t !== c.term) this.fail(`leader completeness: ${key} (term ${core.term}) lacks committed entry ${index}`);
    }
  }

  /** Log matching: where two logs hold an entry with the same index and term, they agree up to it (checks the top 32). */
  private checkMatching(cluster: string, a: { node: string; view: NonNullable<ReturnType<System['inspectServer']>> }, b: typeof a): void {
    const la = a.view.log;
    const lb = b.view.log;
    let i = Math.min(la.lastIndex, lb.lastIndex);
    const floor = Math.max(la.snapshotIndex, lb.snapshotIndex, la.firstIndex - 1, lb.firstIndex - 1);
    while (i > floor && la.term(i) !== lb.term(i)) i--;
    for (let n = 0; i > floor && n < 32; i--, n++) {
      const ea = la.entry(i);
      const eb = lb.entry(i);
      if (ea === undefined || eb === undefined) return;
      if (ea.term !== eb.term || digest(ea.payload) !== digest(eb.payload)) {
        this.fail(`log matching: ${cluster} ${a.node} and ${b.node} differ at ${i}`);
        return;
      }
    }
  }

  private fail(message: string): void {
    if (this.violations.length < 100) this.violations.push(message);
  }
}

function mapOf<K, V>(outer: Map<string, Map<K, V>>, key: string): Map<K, V> {
  let m = outer.get(key);
  if (m === undefined) {
    m = new Map();
    outer.set(key, m);
  }
  return m;
}
