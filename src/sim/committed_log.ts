// What each simulated cluster committed, as seen by the `applied` observer
// hook: every index with its first application time, and the tags that name
// client operations in it (an `op` field in the command, or a client
// session's id and sequence number). The history's unknown operations are
// resolved from it, and acknowledged ones are checked to be in it.
import { EntryKind } from '../raft/core/entry_kind.js';
import type { Entry } from '../raft/core/types.js';
import type { ServerObserver } from '../raft/server/server.js';
import { decodeCommand } from '../raft/server/entry_codec.js';
import { Sessions } from '../raft/server/sessions.js';

/** One committed entry, as first applied. */
export interface CommittedEntry extends Entry {
  /** Virtual time of its first application anywhere. */
  readonly time: number;
  /** Tags of the client operation it carries (none for no-ops and configurations). */
  readonly tags: readonly string[];
}

/** The tag of a session command: `session/<session id>/<sequence number>`. */
export function sessionTag(id: number, seq: number): string {
  return `session/${id}/${seq}`;
}

/** True for tags made by sessionTag. */
export function isSessionTag(tag: string): boolean {
  return tag.startsWith('session/');
}

/** Tags of a command entry: its session tag and its `op` field, when present. */
export function entryTags(payload: Uint8Array): string[] {
  if (payload[0] !== EntryKind.command) return [];
  const body = decodeCommand(payload);
  if (body.type !== 'user') return [];
  const tags: string[] = [];
  if (body.session !== undefined) tags.push(sessionTag(body.session.id, body.session.seq));
  const op = (body.command as { op?: unknown } | null)?.op;
  if (typeof op === 'string') tags.push(op);
  return tags;
}

interface ClusterLog {
  readonly entries: Map<number, CommittedEntry>;
  /** tag -> indexes carrying it, in order of application */
  readonly byTag: Map<string, number[]>;
  /** tag -> the index where its command took effect (computed on demand, see `effective`) */
  effect: Map<string, number> | undefined;
  /** Session commands that were answered from the session's record (retries). */
  duplicates: number;
}

/**
 * Where each tagged command took effect: a plain command where it first
 * appears; a session command only where its session let it apply (a retry
 * is answered from the record, and a command whose sequence number the
 * client already acknowledged, or whose session expired, has no effect),
 * decided by the same Sessions table the members run.
 */
function effects(log: ClusterLog, sessionTimeoutMs: number): void {
  const sessions = new Sessions(sessionTimeoutMs);
  const effect = new Map<string, number>();
  const last = Math.max(0, ...log.entries.keys());
  for (let i = 1; i <= last; i++) {
    const e = log.entries.get(i);
    if (e === undefined || e.payload[0] !== EntryKind.command) continue;
    const body = decodeCommand(e.payload);
    if (body.type === 'register_session') sessions.register(i, body.timestamp);
    if (body.type !== 'user') continue;
    if (body.session !== undefined) {
      const verdict = sessions.check(body.session, body.timestamp);
      if (verdict.type === 'duplicate') log.duplicates++;
      if (verdict.type !== 'apply') continue;
      sessions.record(body.session, { ok: true, value: null });
    }
    for (const t of e.tags) if (!effect.has(t)) effect.set(t, i);
  }
  log.effect = effect;
}

/** The committed entries of every cluster of a world. */
export class CommittedLog {
  private readonly clusters = new Map<string, ClusterLog>();

  /** `now` gives the time recorded for first applications (the run's virtual ms). */
  constructor(
    private readonly now: () => number,
    /** The clusters' session timeout (System default: 60 s). */
    private readonly sessionTimeoutMs = 60_000,
  ) {}

  /** Feed this to the world's observers. */
  readonly observer: ServerObserver = {
    applied: (cluster, _node, index, term, payload) => {
      const log = this.logOf(cluster);
      if (log.entries.has(index)) return;
      const tags = entryTags(payload);
      log.entries.set(index, { index, term, payload, time: this.now(), tags });
      for (const t of tags) {
        const at = log.byTag.get(t);
        if (at === undefined) log.byTag.set(t, [index]);
        else at.push(index);
      }
    },
  };

  /** The entries of `cluster` by index. */
  entries(cluster: string): ReadonlyMap<number, CommittedEntry> {
    return this.logOf(cluster).entries;
  }

  /** Highest committed index of `cluster` seen applied. */
  lastIndex(cluster: string): number {
    let max = 0;
    for (const i of this.logOf(cluster).entries.keys()) if (i > max) max = i;
    return max;
  }

  /** The first committed entry carrying `tag`. */
  find(cluster: string, tag: string): CommittedEntry | undefined {
    const at = this.logOf(cluster).byTag.get(tag);
    return at === undefined ? undefined : this.logOf(cluster).entries.get(at[0] as number);
  }

  /**
   * The committed entry where the command tagged `tag` took effect, if it
   * did. Call once the run is over (the answer is computed once).
   */
  effective(cluster: string, tag: string): CommittedEntry | undefined {
    const log = this.logOf(cluster);
    if (log.effect === undefined) effects(log, this.sessionTimeoutMs);
    const at = log.effect?.get(tag);
    return at === undefined ? undefined : log.entries.get(at);
  }

  /** Session commands answered from the session's record (retries), once `effective` ran. */
  duplicates(cluster: string): number {
    return this.logOf(cluster).duplicates;
  }

  /** Every tag that appears more than once, with its indexes. */
  repeated(cluster: string): [string, number[]][] {
    return [...this.logOf(cluster).byTag].filter(([, at]) => at.length > 1);
  }

  private logOf(cluster: string): ClusterLog {
    let log = this.clusters.get(cluster);
    if (log === undefined) {
      log = { entries: new Map(), byTag: new Map(), effect: undefined, duplicates: 0 };
      this.clusters.set(cluster, log);
    }
    return log;
  }
}
