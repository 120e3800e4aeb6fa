// The typed errors the public API raises, and the conversion from errors as
// they travel between nodes (a code and a message) back to classes.
import { ConcordError, NoProcError, TimeoutError, type ErrorCode } from '../lib/errors.js';
import type { WireError } from '../transport/transport.js';

/** The member asked is not the leader; `leader` is its best guess of who is. */
export class NotLeaderError extends ConcordError {
  override name = 'NotLeaderError';
  constructor(
    message: string,
    readonly leader: string | undefined,
  ) {
    super('not_leader', message);
  }
}

/** No member could name a leader before the deadline (an election is under way, or no quorum). */
export class NoLeaderError extends ConcordError {
  override name = 'NoLeaderError';
  constructor(message: string) {
    super('no_leader', message);
  }
}

/** No member of the cluster is known or reachable from here. */
export class ClusterNotFoundError extends ConcordError {
  override name = 'ClusterNotFoundError';
  constructor(cluster: string) {
    super('cluster_not_found', `cluster '${cluster}' not found`);
  }
}

/**
 * This node's member of the cluster crashed more often than its restart
 * intensity allows and was stopped (the node's other members go on); the
 * message gives the last reason. `restartServer` tries it again.
 */
export class MemberFailedError extends ConcordError {
  override name = 'MemberFailedError';
  constructor(message: string) {
    super('member_failed', message);
  }
}

/** The machine threw while applying a command or running a query. */
export class MachineError extends ConcordError {
  override name = 'MachineError';
  constructor(message: string) {
    super('machine_error', message);
  }
}

/** The System (or the member) shut down before the outcome was known. */
export class ShutdownError extends ConcordError {
  override name = 'ShutdownError';
  constructor(message = 'shut down') {
    super('shutdown', message);
  }
}

const known = new Set<string>([
  'timeout', 'noproc', 'not_leader', 'no_leader', 'no_quorum', 'cluster_not_found', 'cluster_exists', 'machine_error',
  'shutdown', 'invalid_argument', 'membership_change_in_progress', 'membership_changed', 'transfer_in_progress', 'session_expired',
  'machine_version', 'overloaded', 'disk_full', 'disk_error', 'corrupt', 'restart_intensity', 'member_failed', 'transport',
]);

/** Turns an error received from another node into the matching typed error. */
export function fromWire(error: WireError): ConcordError {
  switch (error.code) {
    case 'not_leader':
      return new NotLeaderError(error.message, error.leader);
    case 'no_leader':
      return new NoLeaderError(error.message);
    case 'machine_error':
      return new MachineError(error.message);
    case 'member_failed':
      return new MemberFailedError(error.message);
    case 'shutdown':
      return new ShutdownError(error.message);
    case 'timeout':
      return new TimeoutError(error.message);
    case 'noproc':
      return new NoProcError(error.message);
    default:
      return new ConcordError(known.has(error.code) ? (error.code as ErrorCode) : 'transport', error.message);
  }
}
