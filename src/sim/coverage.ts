// Counters that show which fault paths and rare protocol paths a run (or a
// sweep) exercised. A path that never runs across a sweep is a gap in the
// simulator. Names are `fault.*` (what the nemesis did) and `path.*` (what
// the system did, observed from outside: messages, roles, logs, disks, logs).

/** Named counters. */
export class Coverage {
  readonly counts = new Map<string, number>();

  /** Adds `n` to counter `name`. */
  add(name: string, n = 1): void {
    if (n === 0) return;
    this.counts.set(name, (this.counts.get(name) ?? 0) + n);
  }

  /** The value of counter `name`. */
  get(name: string): number {
    return this.counts.get(name) ?? 0;
  }

  /** Adds every counter of `other`. */
  merge(other: Coverage | ReadonlyMap<string, number>): void {
    const counts = other instanceof Coverage ? other.counts : other;
    for (const [k, v] of counts) this.add(k, v);
  }

  /** Counters sorted by name, as `name value` lines. */
  lines(): string[] {
    return [...this.counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k.padEnd(40)} ${v}`);
  }
}

/** Paths every sweep must show (the CI sweep asserts each ran at least once). */
export const requiredPaths: readonly string[] = [
  'fault.drop',
  'fault.duplicate',
  'fault.delay',
  'fault.partition',
  'fault.isolate_leader',
  'fault.one_way',
  'fault.bridge',
  'fault.crash',
  'fault.crash_leader',
  'fault.crash_mid_batch',
  'fault.member_crash',
  'fault.log_crash',
  'fault.power_loss',
  'fault.slow_disk',
  'fault.disk_full',
  'fault.disk_error',
  'fault.clock_jump',
  'fault.transfer_leadership',
  'fault.add_member',
  'fault.remove_member',
  'fault.bound_keys',
  'scenario.pause_kill',
  'scenario.solo_crash',
  'scenario.late_written',
  'scenario.membership_partition',
  'scenario.election_reads',
  'scenario.many_groups',
  'path.pre_vote_rejected',
  'path.vote_rejected',
  'path.append_rejected',
  'path.conflict_truncation',
  'path.late_write_truncated',
  'path.snapshot_taken',
  'path.snapshot_sent',
  'path.snapshot_installed',
  'path.restore_in_steps',
  'path.member_crash_while_restoring',
  'path.member_crash_mid_step',
  'path.receive_snapshot',
  'path.timeout_now',
  'path.transfer_done',
  'path.await_condition',
  'path.leader_step_down',
  'path.member_added',
  'path.member_removed',
  'path.removed_member_told',
  'path.read_ok',
  'path.read_after_election',
  'path.read_failed',
  'path.session_duplicate',
  'path.command_dropped_by_leader_change',
  'path.unknown_resolved',
  'path.wal_rollover',
  'path.segment_flush',
  'path.wal_down',
  'path.wal_overloaded',
  'path.torn_tail_cut',
  'path.crash_with_wal_in_flight',
  'path.wal_crash_with_io_in_flight',
  'path.net_dropped',
  'path.net_duplicated',
  'path.quiesce_leader',
  'path.quiesce_follower',
  'path.wake_leader',
  'path.wake_follower',
  'path.machine_timer_fired',
  'path.machine_node_down',
];
