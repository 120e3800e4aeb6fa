// Raft's safety properties, checked across a simulated world after every
// step: election safety, log matching, leader completeness and state machine
// safety (Raft thesis figure 3.2), monotonic term, vote and commit index, and
// what members revealed to others (terms, votes) surviving their restarts.
import type { ServerObserver } from '../raft/server/server.js';
import type { System } from '../api/system.js';
import type { Envelope } from '../transport/transport.js';

/** FNV-1a of the bytes: enough to tell payloads apart in checks. */
export function digest(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193) >>> 0;
  return h;
}

const digests = new WeakMap<Uint8Array, number>();

/** digest(), remembered per payload object (payloads are never mutated). */
function payloadDigest(bytes: Uint8Array): number {
  let d = digests.get(bytes);
  if (d === undefined) {
    d = digest(bytes);
    digests.set(bytes, d);
  }
  return d;
}

/** What inspectServer shows of one member. */
export type MemberView = NonNullable<ReturnType<System['inspectServer']>>;

interface Recorded {
  readonly term: number;
  readonly digest: number;
}

/** What one incarnation of a member showed at the last step. */
interface Seen {
  /** The incarnation seen (its machine runner, new on every start of the member's actor). */
  incarnation: object;
  term: number;
  votedFor: string | undefined;
  commit: number;
  /** Role, log bounds and snapshot point at the last check: the heavier checks run only when something changed. */
  role: string;
  lastIndex: number;
  lastTerm: number;
  snapshotIndex: number;
  /** Leader completeness: how many entries of the cluster's committed list were checked for this term. */
  checkedTerm: number;
  checkedUpTo: number;
}

/** What a member told others: the highest term in its messages and its vote in that term. */
interface Revealed {
  term: number;
  vote: string | undefined;
}

interface ClusterRecord {
  /** term -> leader */
  readonly leaders: Map<number, string>;
  /** index -> entry applied somewhere */
  readonly applied: Map<number, Recorded>;
  /** index -> entry committed somewhere, with the term of the member that showed it */
  readonly committed: Map<number, Recorded & { readonly seenInTerm: number }>;
  /** committed indexes in the order they were discovered (for incremental leader completeness) */
  readonly discovered: number[];
}

/** True when nothing the checks look at changed since `s` was recorded. */
function same(s: Seen, view: MemberView): boolean {
  const { core, log } = view;
  return (
    s.role === core.role &&
    s.term === core.term &&
    s.votedFor === core.votedFor &&
    s.commit === core.commitIndex &&
    s.lastIndex === log.lastIndex &&
    s.lastTerm === log.lastTerm &&
    s.snapshotIndex === log.snapshotIndex
  );
}

/** Hands the first application of each entry to a check (the durability check). */
export type FirstApplied = (cluster: string, node: string, index: number, term: number) => void;

/** Collects violations of Raft's safety properties. */
export class Invariants {
  readonly violations: string[] = [];
  /** Called when an entry is applied for the first time anywhere. */
  onFirstApplied: FirstApplied | undefined;
  /** Called after a step changed a member's role, term, vote, commit index or log bounds. */
  onMemberChanged: ((cluster: string, node: string, view: MemberView) => void) | undefined;
  private readonly clusters = new Map<string, ClusterRecord>();
  /** `${cluster}/${node}` -> the current incarnation's last seen state */
  private readonly seen = new Map<string, Seen>();
  private readonly revealed = new Map<string, Revealed>();
  /** Per System: actor activity (messages delivered, spawns, crashes) at the last check. */
  private readonly activity = new WeakMap<System, number>();

  /** Feed this to every System (`observer` option): it checks state machine safety as entries apply. */
  readonly observer: ServerObserver = {
    removed: (cluster, node) => {
      this.seen.delete(`${cluster}/${node}`);
      this.revealed.delete(`${cluster}/${node}`);
    },
    applied: (cluster, node, index, term, payload) => {
      const map = this.record(cluster).applied;
      const mine: Recorded = { term, digest: payloadDigest(payload) };
      const prev = map.get(index);
      if (prev === undefined) {
        map.set(index, mine);
        this.onFirstApplied?.(cluster, node, index, term);
      } else if (prev.term !== mine.term || prev.digest !== mine.digest) {
        this.fail(`state machine safety: ${cluster}/${node} applied a different entry at ${index}`);
      }
    },
  };

  /**
   * Every member of `cluster` has been deleted (deleteCluster): a cluster
   * started later under the name is a new one, with a history of its own.
   */
  clusterDeleted(cluster: string): void {
    this.clusters.delete(cluster);
    for (const map of [this.seen, this.revealed]) for (const key of [...map.keys()]) if (key.startsWith(`${cluster}/`)) map.delete(key);
  }

  /** A member restarted: a new incarnation (its volatile state starts over). */
  restarted(cluster: string, node: string): void {
    this.seen.delete(`${cluster}/${node}`);
  }

  /**
   * An envelope left `from`: remember the term it revealed (pre-vote
   * messages carry a prospective term, not the sender's) and the vote it
   * granted or cast; a second vote in one term is a violation at once.
   */
  sent(from: string, to: string, env: Envelope): void {
    if (env.type !== 'raft') return;
    const m = env.msg;
    if ((m.type === 'request_vote' || m.type === 'request_vote_reply') && m.preVote) return;
    const key = `${env.cluster}/${from}`;
    let r = this.revealed.get(key);
    if (r === undefined) {
      r = { term: 0, vote: undefined };
      this.revealed.set(key, r);
    }
    if (m.term > r.term) {
      r.term = m.term;
      r.vote = undefined;
    }
    const vote = m.type === 'request_vote' ? from : m.type === 'request_vote_reply' && m.voteGranted ? to : undefined;
    if (vote === undefined || m.term !== r.term) return;
    if (r.vote !== undefined && r.vote !== vote) this.fail(`election safety: ${key} voted for ${r.vote} and ${vote} in term ${m.term}`);
    r.vote = vote;
  }

  /**
   * Checks every live member of `clusters` on the given systems. A member's
   * state only changes while its System's actors run, so Systems whose
   * actors did nothing since the last check are skipped.
   */
  check(systems: ReadonlyMap<string, System>, clusters: readonly string[]): void {
    let active: Set<string> | undefined;
    for (const [node, system] of systems) {
      const st = system.actors.stats;
      const activity = st.delivered + st.spawned + st.crashed;
      if (this.activity.get(system) === activity) continue;
      this.activity.set(system, activity);
      (active ??= new Set()).add(node);
    }
    if (active === undefined) return;
    for (const cluster of clusters) this.checkCluster(systems, cluster, active);
  }

  private checkCluster(systems: ReadonlyMap<string, System>, cluster: string, active: ReadonlySet<string>): void {
    const views: { node: string; view: MemberView; changed: boolean }[] = [];
    let changed = false;
    for (const [node, system] of systems) {
      const view = system.inspectServer(cluster);
      if (view === undefined) continue;
      const c = active.has(node) && this.checkMember(cluster, node, view);
      changed ||= c;
      views.push({ node, view, changed: c });
    }
    if (!changed) return;
    for (let a = 0; a < views.length; a++) {
      for (let b = a + 1; b < views.length; b++) {
        const va = views[a] as (typeof views)[0];
        const vb = views[b] as (typeof views)[0];
        if (va.changed || vb.changed) this.checkMatching(cluster, va, vb);
      }
    }
  }

  /** The first violation found, if any. */
  get first(): string | undefined {
    return this.violations[0];
  }

  /** Checks one member; returns whether its state changed since the last step. */
  private checkMember(cluster: string, node: string, view: MemberView): boolean {
    const { core, log } = view;
    const key = `${cluster}/${node}`;
    let s = this.seen.get(key);
    // A member restarted by its supervisor inside a running node is a new incarnation too.
    if (s !== undefined && s.incarnation !== view.runner) s = undefined;
    if (s !== undefined && same(s, view)) return false;
    if (s === undefined) {
      s = { incarnation: view.runner, term: core.term, votedFor: core.votedFor, commit: core.commitIndex, role: '', lastIndex: -1, lastTerm: -1, snapshotIndex: -1, checkedTerm: -1, checkedUpTo: 0 };
      this.seen.set(key, s);
      this.checkRevealed(key, core.term, core.votedFor);
    }
    this.checkMonotonic(key, s, core);
    s.role = core.role;
    s.lastIndex = log.lastIndex;
    s.lastTerm = log.lastTerm;
    s.snapshotIndex = log.snapshotIndex;
    const rec = this.record(cluster);
    this.recordCommitted(key, rec, view);
    if (core.role === 'leader') this.checkLeader(cluster, node, rec, s, view);
    this.onMemberChanged?.(cluster, node, view);
    return true;
  }

  /** A new incarnation must not forget a term or a vote it revealed before it crashed. */
  private checkRevealed(key: string, term: number, votedFor: string | undefined): void {
    const r = this.revealed.get(key);
    if (r === undefined) return;
    if (term < r.term) this.fail(`${key}: restarted at term ${term}, below term ${r.term} it had revealed`);
    else if (term === r.term && r.vote !== undefined && votedFor !== r.vote) {
      this.fail(`${key}: restarted in term ${term} with vote ${String(votedFor)}, but it had voted for ${r.vote}`);
    }
  }

  /** Within an incarnation: term, vote (within a term) and commit index never go back. */
  private checkMonotonic(key: string, s: Seen, core: MemberView['core']): void {
    if (core.term < s.term) this.fail(`${key}: term went back from ${s.term} to ${core.term}`);
    else if (core.term === s.term && s.votedFor !== undefined && core.votedFor !== s.votedFor) {
      this.fail(`${key}: vote changed from ${s.votedFor} to ${String(core.votedFor)} within term ${core.term}`);
    }
    if (core.commitIndex < s.commit) this.fail(`${key}: commit index went back from ${s.commit} to ${core.commitIndex}`);
    s.term = Math.max(s.term, core.term);
    if (core.term === s.term) s.votedFor = core.votedFor;
    s.commit = Math.max(s.commit, core.commitIndex);
  }

  /** Records what this member holds committed (incrementally, from the top down). */
  private recordCommitted(key: string, rec: ClusterRecord, view: MemberView): void {
    const { core, log } = view;
    for (let i = core.commitIndex; i > log.snapshotIndex; i--) {
      const e = log.entry(i);
      if (e === undefined) break;
      const prev = rec.committed.get(i);
      const d = payloadDigest(e.payload);
      if (prev !== undefined) {
        if (prev.term !== e.term || prev.digest !== d) this.fail(`${key}: committed entry ${i} differs from one committed elsewhere`);
        break;
      }
      rec.committed.set(i, { term: e.term, digest: d, seenInTerm: core.term });
      rec.discovered.push(i);
    }
  }

  /** Election safety, and leader completeness for entries committed in earlier terms (checked once each per term). */
  private checkLeader(cluster: string, node: string, rec: ClusterRecord, s: Seen, view: MemberView): void {
    const { core, log } = view;
    const other = rec.leaders.get(core.term);
    if (other !== undefined && other !== node) this.fail(`election safety: ${cluster} has leaders ${other} and ${node} in term ${core.term}`);
    rec.leaders.set(core.term, node);
    if (s.checkedTerm !== core.term) {
      s.checkedTerm = core.term;
      s.checkedUpTo = 0;
    }
    for (; s.checkedUpTo < rec.discovered.length; s.checkedUpTo++) {
      const index = rec.discovered[s.checkedUpTo] as number;
      const c = rec.committed.get(index);
      if (c === undefined || c.seenInTerm >= core.term || index <= log.snapshotIndex) continue;
      if (log.term(index) !== c.term) this.fail(`leader completeness: ${cluster}/${node} (term ${core.term}) lacks committed entry ${index}`);
    }
  }

  /** Log matching: where two logs hold an entry with the same index and term, they agree up to it (checks the top 16). */
  private checkMatching(cluster: string, a: { node: string; view: MemberView }, b: { node: string; view: MemberView }): void {
    const la = a.view.log;
    const lb = b.view.log;
    let i = Math.min(la.lastIndex, lb.lastIndex);
    const floor = Math.max(la.snapshotIndex, lb.snapshotIndex, la.firstIndex - 1, lb.firstIndex - 1);
    while (i > floor && la.term(i) !== lb.term(i)) i--;
    for (let n = 0; i > floor && n < 16; i--, n++) {
      const ea = la.entry(i);
      const eb = lb.entry(i);
      if (ea === undefined || eb === undefined) return;
      if (ea === eb) continue; // the same object (in-process delivery shares entries)
      if (ea.term !== eb.term || payloadDigest(ea.payload) !== payloadDigest(eb.payload)) {
        this.fail(`log matching: ${cluster} ${a.node} and ${b.node} differ at ${i}`);
        return;
      }
    }
  }

  private record(cluster: string): ClusterRecord {
    let r = this.clusters.get(cluster);
    if (r === undefined) {
      r = { leaders: new Map(), applied: new Map(), committed: new Map(), discovered: [] };
      this.clusters.set(cluster, r);
    }
    return r;
  }

  /** Records a violation (the first 100 are kept). */
  fail(message: string): void {
    if (this.violations.length < 100) this.violations.push(message);
  }
}
