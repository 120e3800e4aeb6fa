// Operating errors: typed, with a stable snake_case `code` so that callers
// (and callers in other processes) can branch on them.

/** Every stable error code Concord reports. */
export type ErrorCode =
  | 'timeout'
  | 'noproc'
  | 'not_leader'
  | 'no_leader'
  | 'no_quorum'
  | 'cluster_not_found'
  | 'cluster_exists'
  | 'machine_error'
  | 'shutdown'
  | 'invalid_argument'
  | 'membership_change_in_progress'
  | 'membership_changed'
  | 'transfer_in_progress'
  | 'session_expired'
  | 'machine_version'
  | 'overloaded'
  | 'disk_full'
  | 'disk_error'
  | 'corrupt'
  | 'restart_intensity'
  | 'member_failed'
  | 'transport';

/** Base class of every operating error Concord raises. */
export class ConcordError extends Error {
  override name = 'ConcordError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A call or command did not complete in time; it may or may not have taken effect. */
export class TimeoutError extends ConcordError {
  override name = 'TimeoutError';
  constructor(message = 'timed out', options?: { cause?: unknown }) {
    super('timeout', message, options);
  }
}

/** The target actor does not exist, or exited before it replied. */
export class NoProcError extends ConcordError {
  override name = 'NoProcError';
  constructor(
    message: string,
    readonly exitReason?: unknown,
  ) {
    super('noproc', message, exitReason === undefined ? undefined : { cause: exitReason });
  }
}

/** A bad argument from a caller: nothing was changed. */
export class InvalidArgumentError extends ConcordError {
  override name = 'InvalidArgumentError';
  constructor(message: string) {
    super('invalid_argument', message);
  }
}

/** Returns true when `e` is a ConcordError with the given code. */
export function hasCode(e: unknown, code: ErrorCode): e is ConcordError {
  return e instanceof ConcordError && e.code === code;
}
