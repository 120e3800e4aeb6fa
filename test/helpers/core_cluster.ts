// A deterministic cluster of bare Raft cores for unit tests: an in-memory log
// per member, a seeded network with drops, delays and partitions, durable
// writes that complete later, and invariant checks after every step.
import { SimClock } from '../../src/io/sim_clock.js';
import { SeededRandom } from '../../src/io/random.js';
import { concatBytes } from '../../src/lib/bytes.js';
import { initState, type RaftState } from '../../src/raft/core/state.js';
import { start, step } from '../../src/raft/core/step.js';
import type { LogReader } from '../../src/raft/core/log_cursor.js';
import type { TimerHandle } from '../../src/io/clock.js';
import type { ClusterConfig, CoreOptions, Effect, Entry, RaftEvent, RaftMessage, ServerId, TimerName } from '../../src/raft/core/types.js';
import { decodeConfig, kindOf } from '../../src/raft/core/entry_kind.js';
import { EntryKind } from '../../src/raft/core/entry_kind.js';

/** An in-memory log: entries[i] holds index i + 1 + offset. */
export class MemLog {
  entries: Entry[] = [];
  snapshotIndex = 0;
  snapshotTerm = 0;
  /** Index up to which the log is durable (what survives a crash). */
  durable = 0;
  get firstIndex(): number {
    return this.snapshotIndex + 1;
  }
  get lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }
  get lastTerm(): number {
    return this.entries.length > 0 ? (this.entries[this.entries.length - 1] as Entry).term : this.snapshotTerm;
  }
  term(index: number): number | undefined {
    if (index === 0) return 0;
    if (index === this.snapshotIndex) return this.snapshotTerm;
    return this.entries[index - this.snapshotIndex - 1]?.term;
  }
  entries_(from: number, to: number): Entry[] {
    return this.entries.slice(Math.max(0, from - this.snapshotIndex - 1), Math.max(0, to - this.snapshotIndex));
  }
  entriesFn = (from: number, to: number, maxBytes = Infinity): Entry[] => {
    const out: Entry[] = [];
    let bytes = 0;
    for (const e of this.entries_(from, to)) {
      if (out.length > 0 && bytes + e.payload.length > maxBytes) break;
      out.push(e);
      bytes += e.payload.length;
    }
    return out;
  };
  truncateAfter(index: number): void {
    this.entries.length = Math.max(0, index - this.snapshotIndex);
    if (this.durable > index) this.durable = index;
  }
  /** Drops the prefix up to a snapshot point (keeping what follows if the log has that entry). */
  compact(index: number, term: number): void {
    if (this.term(index) === term && index <= this.lastIndex) {
      this.entries = this.entries.slice(index - this.snapshotIndex);
    } else {
      this.entries = [];
    }
    this.snapshotIndex = index;
    this.snapshotTerm = term;
    this.durable = Math.max(this.durable, index);
  }
  append(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.index !== this.lastIndex + 1) throw new Error(`MemLog append at ${e.index} after ${this.lastIndex}`);
      this.entries.push(e);
    }
  }
}
// LogReader wants a method named `entries`; MemLog keeps the array under that name, so adapt.
export function reader(log: MemLog): LogReader {
  return {
    get firstIndex() {
      return log.firstIndex;
    },
    get lastIndex() {
      return log.lastIndex;
    },
    get lastTerm() {
      return log.lastTerm;
    },
    get snapshotIndex() {
      return log.snapshotIndex;
    },
    get snapshotTerm() {
      return log.snapshotTerm;
    },
    term: (i) => log.term(i),
    entries: (from, to, maxBytes) => log.entriesFn(from, to, maxBytes),
  };
}

export interface Member {
  id: ServerId;
  state: RaftState;
  log: MemLog;
  reader: LogReader;
  /** Durable term and vote. */
  persisted: { term: number; votedFor: ServerId | undefined };
  /** Messages held until a persist completes (persist-before-send rule). */
  held: { barrier: number; to: ServerId; msg: RaftMessage }[];
  persistSeq: number;
  persistDone: number;
  timers: Map<TimerName, TimerHandle>;
  applied: Entry[];
  up: boolean;
  /** Every effect, for tests that look at what the core asked for. */
  effects: Effect[];
  accepted: Map<number, { index: number; term: number }>;
  rejected: Map<number, string>;
  readsReady: Map<number, number>;
  readsFailed: Set<number>;
  /** The latest durable snapshot: the applied entries it stands for, and its configuration. */
  snapshot: { index: number; term: number; data: Uint8Array; config: ClusterConfig } | undefined;
  incoming: Uint8Array[];
  done: Map<number, string>;
}

export interface NetOptions {
  dropRate: number;
  dupRate: number;
  minDelayMs: number;
  maxDelayMs: number;
  diskMinMs: number;
  diskMaxMs: number;
}

export class CoreCluster {
  readonly clock = new SimClock({ startMs: 0 });
  readonly random: SeededRandom;
  readonly members = new Map<ServerId, Member>();
  /** Pairs that cannot talk: `${from}>${to}`. */
  readonly cut = new Set<string>();
  net: NetOptions = { dropRate: 0, dupRate: 0, minDelayMs: 1, maxDelayMs: 5, diskMinMs: 1, diskMaxMs: 3 };
  readonly leadersByTerm = new Map<number, ServerId>();
  /** index -> entry known committed somewhere, and the term in which that was first seen. */
  readonly committed = new Map<number, { entry: Entry; term: number }>();
  /** index -> entry applied somewhere. */
  readonly appliedAt = new Map<number, Entry>();
  violations: string[] = [];
  private nextRef = 1;

  constructor(
    readonly ids: ServerId[],
    seed: number,
    readonly options: Partial<CoreOptions> = { electionTimeoutMinMs: 150, electionTimeoutMaxMs: 300, heartbeatMs: 30 },
  ) {
    this.random = new SeededRandom(seed);
    for (const id of ids) this.boot(id, new MemLog(), { term: 0, votedFor: undefined }, undefined, { voters: [...ids], nonVoters: [] });
  }

  /** Starts a brand-new member that joins with no configuration (it learns it from the leader). */
  join(id: ServerId): void {
    this.ids.push(id);
    this.boot(id, new MemLog(), { term: 0, votedFor: undefined }, undefined, { voters: [], nonVoters: [] });
  }

  private boot(
    id: ServerId,
    log: MemLog,
    persisted: { term: number; votedFor: ServerId | undefined },
    snapshot: Member['snapshot'],
    initial: ClusterConfig,
  ): void {
    const r = reader(log);
    const configs = [snapshot === undefined ? { index: 0, config: initial } : { index: snapshot.index, config: snapshot.config }];
    for (const e of log.entries) if (kindOf(e) === 2) configs.push({ index: e.index, config: decodeConfig(e.payload) });
    const state = initState({
      id,
      term: persisted.term,
      votedFor: persisted.votedFor,
      configs,
      log: r,
      now: this.clock.now(),
      random: this.random.fork(),
      options: this.options,
      snapshot: snapshot === undefined ? undefined : { index: snapshot.index, term: snapshot.term, size: snapshot.data.length },
    });
    const m: Member = {
      id,
      state,
      log,
      reader: r,
      persisted: { ...persisted },
      held: [],
      persistSeq: 0,
      persistDone: 0,
      timers: new Map(),
      applied: [],
      up: true,
      effects: [],
      accepted: new Map(),
      rejected: new Map(),
      readsReady: new Map(),
      readsFailed: new Set(),
      snapshot,
      incoming: [],
      done: new Map(),
    };
    if (snapshot !== undefined) m.applied = decodeApplied(snapshot.data, log);
    this.members.set(id, m);
    this.carryOut(m, start(state, { now: this.clock.now(), log: r }));
  }

  member(id: ServerId): Member {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  /** Steps one member with an event and carries out the effects. */
  deliver(id: ServerId, event: RaftEvent): void {
    const m = this.member(id);
    if (!m.up) return;
    const effects = step(m.state, event, { now: this.clock.now(), log: m.reader });
    this.carryOut(m, effects);
    this.check();
  }

  private carryOut(m: Member, effects: Effect[]): void {
    for (const e of effects) {
      m.effects.push(e);
      switch (e.type) {
        case 'send':
          if (m.persistSeq > m.persistDone) m.held.push({ barrier: m.persistSeq, to: e.to, msg: e.msg });
          else this.transmit(m.id, e.to, e.msg);
          break;
        case 'persist': {
          const seq = ++m.persistSeq;
          const value = { term: e.term, votedFor: e.votedFor };
          this.later(m, this.diskDelay(), () => {
            m.persisted = value;
            m.persistDone = Math.max(m.persistDone, seq);
            const ready = m.held.filter((h) => h.barrier <= m.persistDone);
            m.held = m.held.filter((h) => h.barrier > m.persistDone);
            for (const h of ready) this.transmit(m.id, h.to, h.msg);
          });
          break;
        }
        case 'truncate':
          m.log.truncateAfter(e.afterIndex);
          break;
        case 'append': {
          m.log.append(e.entries);
          const last = (e.entries[e.entries.length - 1] as Entry).index;
          const term = (e.entries[e.entries.length - 1] as Entry).term;
          this.later(m, this.diskDelay(), () => {
            // Durable only if the entry is still there (a truncation may have replaced it).
            if (m.log.term(last) !== term) return;
            m.log.durable = Math.max(m.log.durable, last);
            this.deliver(m.id, { type: 'written', index: last });
          });
          break;
        }
        case 'apply':
          for (let i = e.from; i <= e.to; i++) {
            const entry = m.log.entries_(i, i)[0];
            if (entry === undefined) throw new Error(`${m.id} applies missing ${i}`);
            m.applied.push(entry);
            const prev = this.appliedAt.get(i);
            if (prev !== undefined && !sameEntry(prev, entry)) this.violations.push(`state machine safety at ${i}`);
            this.appliedAt.set(i, entry);
          }
          break;
        case 'set_timer': {
          const old = m.timers.get(e.name);
          if (old !== undefined) this.clock.clearTimer(old);
          const name = e.name;
          m.timers.set(
            name,
            this.clock.setTimer(e.atMs - this.clock.now(), () => {
              m.timers.delete(name);
              this.deliver(m.id, { type: name === 'election' ? 'election_timeout' : name === 'heartbeat' ? 'heartbeat_timeout' : 'transfer_timeout' });
            }),
          );
          break;
        }
        case 'cancel_timer': {
          const old = m.timers.get(e.name);
          if (old !== undefined) this.clock.clearTimer(old);
          m.timers.delete(e.name);
          break;
        }
        case 'accepted':
          m.accepted.set(e.ref, { index: e.index, term: e.term });
          break;
        case 'rejected':
          m.rejected.set(e.ref, e.reason.code);
          break;
        case 'reads_ready':
          for (const ref of e.refs) m.readsReady.set(ref, e.index);
          break;
        case 'reads_failed':
          for (const ref of e.refs) m.readsFailed.add(ref);
          break;
        case 'membership_done':
          m.done.set(e.ref, 'membership');
          break;
        case 'transfer_done':
          m.done.set(e.ref, 'transfer');
          break;
        case 'send_snapshot_chunk': {
          const snap = m.snapshot;
          if (snap === undefined || snap.index !== e.index) break;
          this.transmitNow(m, e.to, {
            type: 'install_snapshot',
            term: e.term,
            leaderId: m.id,
            lastIncludedIndex: e.index,
            lastIncludedTerm: e.snapshotTerm,
            config: snap.config,
            configIndex: e.index,
            machineVersion: 0,
            offset: e.offset,
            data: snap.data.slice(e.offset, e.offset + e.length),
            done: e.offset + e.length >= e.size,
            size: e.size,
          });
          break;
        }
        case 'receive_snapshot_chunk': {
          if (e.msg.offset === 0) m.incoming = [];
          m.incoming.push(e.msg.data);
          if (e.msg.done) {
            const msg = e.msg;
            const data = concatBytes(m.incoming);
            this.later(m, this.diskDelay(), () => this.install(m, msg.lastIncludedIndex, msg.lastIncludedTerm, msg.config, data));
          }
          break;
        }
        case 'abort_snapshot':
          m.incoming = [];
          break;
        default:
          break;
      }
    }
  }

  private transmitNow(m: Member, to: ServerId, msg: RaftMessage): void {
    if (m.persistSeq > m.persistDone) m.held.push({ barrier: m.persistSeq, to, msg });
    else this.transmit(m.id, to, msg);
  }

  /** A follower finished receiving a snapshot: make it durable, restore, compact, tell the core. */
  private install(m: Member, index: number, term: number, config: ClusterConfig, data: Uint8Array): void {
    m.snapshot = { index, term, data, config };
    m.log.compact(index, term);
    m.applied = decodeApplied(data, m.log);
    const configs = [{ index, config }];
    for (const e of m.log.entries) if (kindOf(e) === 2) configs.push({ index: e.index, config: decodeConfig(e.payload) });
    this.deliver(m.id, { type: 'snapshot_installed', index, term, size: data.length, configs });
  }

  /** Takes a snapshot of `id` at its applied index and compacts its log. */
  snapshotNow(id: ServerId): void {
    const m = this.member(id);
    const index = m.state.appliedIndex;
    if (index === 0 || (m.snapshot !== undefined && m.snapshot.index >= index)) return;
    const term = m.log.term(index) as number;
    const committedConfig = [...m.state.configs].reverse().find((c) => c.index <= index) ?? m.state.configs[0];
    // m.applied holds every entry applied since index 1 (a restored snapshot brings them back).
    m.snapshot = { index, term, data: encodeApplied(m.applied), config: (committedConfig as { config: ClusterConfig }).config };
    m.log.compact(index, term);
    this.deliver(id, { type: 'snapshot_taken', index, term, size: m.snapshot.data.length });
  }

  private later(m: Member, ms: number, fn: () => void): void {
    const epoch = m.state;
    this.clock.setTimer(ms, () => {
      if (m.up && m.state === epoch) fn();
    });
  }

  private diskDelay(): number {
    return this.random.between(this.net.diskMinMs, this.net.diskMaxMs);
  }

  private transmit(from: ServerId, to: ServerId, msg: RaftMessage): void {
    if (this.cut.has(`${from}>${to}`)) return;
    if (this.random.chance(this.net.dropRate)) return;
    const copies = this.random.chance(this.net.dupRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = this.random.between(this.net.minDelayMs, this.net.maxDelayMs);
      this.clock.setTimer(delay, () => {
        if (!this.cut.has(`${from}>${to}`)) this.deliver(to, { type: 'message', from, msg });
      });
    }
  }

  /** Submits a command to `id`; returns its ref. */
  command(id: ServerId, body = 'x'): number {
    const ref = this.nextRef++;
    const payload = new Uint8Array([EntryKind.command, ...new TextEncoder().encode(body)]);
    this.deliver(id, { type: 'commands', items: [{ ref, payload }] });
    return ref;
  }

  /** Asks `id` for a ReadIndex; returns the ref. */
  read(id: ServerId): number {
    const ref = this.nextRef++;
    this.deliver(id, { type: 'read', refs: [ref] });
    return ref;
  }

  isolate(id: ServerId): void {
    for (const other of this.ids) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** Crash: lose everything not durable; restart later with `restart`. */
  crash(id: ServerId): void {
    const m = this.member(id);
    m.up = false;
    for (const t of m.timers.values()) this.clock.clearTimer(t);
    m.timers.clear();
  }

  restart(id: ServerId): void {
    const m = this.member(id);
    const log = new MemLog();
    log.snapshotIndex = m.log.snapshotIndex;
    log.snapshotTerm = m.log.snapshotTerm;
    log.entries = m.log.entries.slice(0, Math.max(0, m.log.durable - m.log.snapshotIndex));
    log.durable = log.lastIndex;
    const initial = m.state.configs[0]?.config ?? { voters: [], nonVoters: [] };
    this.boot(id, log, m.persisted, m.snapshot, m.snapshot === undefined ? initial : m.snapshot.config);
  }

  /** Submits a membership change at `id`; returns its ref. */
  change(id: ServerId, change: { type: 'add_member' | 'remove_member'; id: ServerId }): number {
    const ref = this.nextRef++;
    this.deliver(id, { type: 'change_membership', ref, change });
    return ref;
  }

  /** Asks `id` to hand leadership to `target`; returns the ref. */
  transfer(id: ServerId, target: ServerId): number {
    const ref = this.nextRef++;
    this.deliver(id, { type: 'transfer_leadership', ref, target });
    return ref;
  }

  leaders(): Member[] {
    return [...this.members.values()].filter((m) => m.up && m.state.role === 'leader');
  }

  /** Runs until exactly one live leader exists (and returns it). */
  awaitLeader(maxMs = 10_000): Member {
    const ok = this.clock.runUntil(() => this.leaders().length === 1, maxMs);
    if (!ok) throw new Error('no leader elected');
    return this.leaders()[0] as Member;
  }

  /** Election safety, log matching, leader completeness, state machine safety. */
  check(): void {
    for (const m of this.members.values()) {
      const s = m.state;
      if (m.up && s.role === 'leader') {
        const known = this.leadersByTerm.get(s.term);
        if (known !== undefined && known !== m.id) this.violations.push(`two leaders in term ${s.term}: ${known}, ${m.id}`);
        this.leadersByTerm.set(s.term, m.id);
        for (const [index, { entry, term }] of this.committed) {
          if (index <= m.log.snapshotIndex || term >= s.term) continue;
          const mine = m.log.entries_(index, index)[0];
          if (mine === undefined || !sameEntry(mine, entry)) this.violations.push(`leader ${m.id} term ${s.term} lacks committed ${index}`);
        }
      }
      for (let i = s.commitIndex; i > 0 && !this.committed.has(i); i--) {
        const e = m.log.entries_(i, i)[0];
        if (e === undefined) break; // compacted into a snapshot
        this.committed.set(i, { entry: e, term: s.term });
      }
    }
    const list = [...this.members.values()];
    for (let a = 0; a < list.length; a++) {
      for (let b = a + 1; b < list.length; b++) checkMatching(list[a] as Member, list[b] as Member, this.violations);
    }
  }
}

/** A snapshot's data in this harness: the applied entries it stands for, as JSON. */
function encodeApplied(applied: Entry[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(applied.map((e) => [e.index, e.term, [...e.payload]])));
}

function decodeApplied(data: Uint8Array, _log: MemLog): Entry[] {
  const raw = JSON.parse(new TextDecoder().decode(data)) as [number, number, number[]][];
  return raw.map(([index, term, payload]) => ({ index, term, payload: new Uint8Array(payload) }));
}


function sameEntry(a: Entry, b: Entry): boolean {
  if (a.index !== b.index || a.term !== b.term || a.payload.length !== b.payload.length) return false;
  for (let i = 0; i < a.payload.length; i++) if (a.payload[i] !== b.payload[i]) return false;
  return true;
}

/** Log matching (§5.3): same index and term implies identical logs up to there. Checked from the top match down. */
function checkMatching(a: Member, b: Member, out: string[]): void {
  const top = Math.min(a.log.lastIndex, b.log.lastIndex);
  const floor = Math.max(a.log.snapshotIndex, b.log.snapshotIndex);
  let i = top;
  while (i > floor && a.log.term(i) !== b.log.term(i)) i--;
  for (; i > floor; i--) {
    const ea = a.log.entries_(i, i)[0] as Entry;
    const eb = b.log.entries_(i, i)[0] as Entry;
    if (!sameEntry(ea, eb)) {
      out.push(`log matching: ${a.id} and ${b.id} differ at ${i}`);
      return;
    }
  }
}
