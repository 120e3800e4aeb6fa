// What one WAL file holds for each log: the index range its records touched
// and the terms they gave those indexes. The segment writer uses it to copy a
// rolled-over file's effect into segment files.
import type { FileHandle } from '../io/disk.js';
import type { GroupState } from './group_state.js';

/**
 * The effect of one WAL file on one log: indexes `lo..hi` as the file left
 * them (hi is the log's last index after the file's last record for it), with
 * their terms as runs of (first index, term).
 */
export class FileGroupRange {
  /** Lowest index the file wrote or cut below (Infinity when untouched). */
  lo = Infinity;
  /** The log's last index after this file (-1 when untouched). */
  hi = -1;
  private readonly starts: number[] = [];
  private readonly terms: number[] = [];

  /** An entry record (index, term): everything after index - 1 was replaced. */
  entry(index: number, term: number): void {
    if (index < this.lo) this.lo = index;
    this.dropRunsFrom(index);
    if (this.terms.length === 0 || this.terms[this.terms.length - 1] !== term) {
      this.starts.push(index);
      this.terms.push(term);
    }
    this.hi = index;
  }

  /** A truncate or reset record: the log now ends at `index`. */
  cut(index: number): void {
    if (index + 1 < this.lo) this.lo = index + 1;
    this.dropRunsFrom(index + 1);
    this.hi = index;
  }

  /** The term this file gave `index`, for lo <= index <= hi. */
  termAt(index: number): number | undefined {
    if (index > this.hi || index < this.lo) return undefined;
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((starts[mid] as number) <= index) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? undefined : this.terms[found];
  }

  private dropRunsFrom(index: number): void {
    while (this.starts.length > 0 && (this.starts[this.starts.length - 1] as number) >= index) {
      this.starts.pop();
      this.terms.pop();
    }
  }
}

/** One WAL file: where it is, how much of it is durable, and what it holds per log. */
export class WalFile {
  /** Bytes written and synced (the offset of the next batch). */
  size = 0;
  /** Open handle while it is the file being written. */
  handle: FileHandle | undefined;
  /** Bytes planned for it (written plus queued batches), for the rollover decision. */
  planned = 0;
  /** Per log: what the file did to it, in first-seen order. */
  readonly groups = new Map<GroupState, FileGroupRange>();

  constructor(
    readonly seq: number,
    readonly path: string,
  ) {}

  /** The range of `group`, created on first use. */
  rangeOf(group: GroupState): FileGroupRange {
    let r = this.groups.get(group);
    if (r === undefined) {
      r = new FileGroupRange();
      this.groups.set(group, r);
    }
    return r;
  }
}
