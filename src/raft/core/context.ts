// One step's working set: the state, the time, the log cursor and the effects
// produced so far, with the small helpers every role uses.
import { LogCursor, type LogReader } from './log_cursor.js';
import { decodeConfig, EntryKind, kindOf } from './entry_kind.js';
import type { RaftState } from './state.js';
import { membershipCommitted } from './membership.js';
import type { Effect, Entry, RaftMessage, Role, ServerId, TimerName } from './types.js';

/** The working set of one call to `step`. */
export class Ctx {
  readonly effects: Effect[] = [];
  readonly log: LogCursor;
  private announced: { role: Role; term: number; leaderId: ServerId | undefined };

  constructor(
    readonly s: RaftState,
    readonly now: number,
    reader: LogReader,
  ) {
    this.log = new LogCursor(reader);
    this.announced = { role: s.role, term: s.term, leaderId: s.leaderId };
  }

  /** Queues a message to a peer. */
  send(to: ServerId, msg: RaftMessage): void {
    this.effects.push({ type: 'send', to, msg });
  }

  /** Makes term and vote durable; messages queued after this wait for it (§5.1 persistent state). */
  persist(): void {
    this.effects.push({ type: 'persist', term: this.s.term, votedFor: this.s.votedFor });
  }

  setTimer(name: TimerName, atMs: number): void {
    this.effects.push({ type: 'set_timer', name, atMs });
  }

  cancelTimer(name: TimerName): void {
    this.effects.push({ type: 'cancel_timer', name });
  }

  /** A fresh randomised election deadline (§5.2); the timer is re-armed lazily when it fires early. */
  resetElectionDeadline(): void {
    const { electionTimeoutMinMs: min, electionTimeoutMaxMs: max } = this.s.options;
    this.s.electionDeadline = this.now + min + Math.floor(this.s.random.next() * (max - min + 1));
  }

  /** Appends entries to the log (cursor + effect) and tracks configuration entries. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    this.log.append(entries);
    this.effects.push({ type: 'append', entries });
    for (const e of entries) {
      if (kindOf(e) === EntryKind.config) {
        const config = decodeConfig(e.payload);
        this.s.config = config;
        this.s.configs.push({ index: e.index, config });
      }
    }
  }

  /** Drops entries after `index`, reverting to the configuration in force at `index`. */
  truncateAfter(index: number): void {
    this.log.truncateAfter(index);
    this.effects.push({ type: 'truncate', afterIndex: index });
    const s = this.s;
    if (s.writtenIndex > index) s.writtenIndex = index;
    while (s.configs.length > 1 && (s.configs[s.configs.length - 1] as { index: number }).index > index) s.configs.pop();
    s.config = (s.configs[s.configs.length - 1] as { config: RaftState['config'] }).config;
  }

  /** Moves the commit index forward and asks the shell to apply up to it. */
  commitTo(index: number): void {
    const s = this.s;
    if (index <= s.commitIndex) return;
    s.commitIndex = index;
    // Keep only the last committed configuration and those above the commit index.
    let firstKept = 0;
    for (let i = 0; i < s.configs.length; i++) if ((s.configs[i] as { index: number }).index <= index) firstKept = i;
    if (firstKept > 0) s.configs.splice(0, firstKept);
    if (s.commitIndex > s.appliedIndex) {
      this.effects.push({ type: 'apply', from: s.appliedIndex + 1, to: s.commitIndex });
      s.appliedIndex = s.commitIndex;
    }
    membershipCommitted(this);
  }

  /** Emits a `role` effect if role, term or leader changed since the step began (called once at the end). */
  announce(): void {
    const s = this.s;
    const a = this.announced;
    if (a.role !== s.role || a.term !== s.term || a.leaderId !== s.leaderId) {
      this.effects.push({ type: 'role', role: s.role, term: s.term, leaderId: s.leaderId });
      this.announced = { role: s.role, term: s.term, leaderId: s.leaderId };
    }
  }
}
