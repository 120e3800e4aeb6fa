// Entry payload layout: byte 0 is the kind, the rest its body. The core reads
// kinds and writes no-op and configuration entries; command bodies are opaque
// to it (the server encodes them with msgpack).
import { assert } from '../../lib/assert.js';
import type { ClusterConfig, Entry } from './types.js';

/** Kinds of log entries. */
export const EntryKind = {
  /** Appended by a new leader so that it can commit entries of earlier terms (§5.4.2). */
  noop: 0,
  /** A user command for the machine. */
  command: 1,
  /** A cluster configuration; takes effect as soon as it is appended (thesis §4.1). */
  config: 2,
  /** Switches the machine version at this index on every member. */
  machineVersion: 3,
  /**
   * A machine timer firing for one setting of the timer (its due time): a
   * member whose timer has been set again or cancelled since drops it. Only
   * written when every member runs runtime version 1 or later (a member of an
   * earlier build would skip it); otherwise a firing is a command entry.
   */
  timerFiring: 4,
} as const;

/**
 * The version of the rules this build applies entries by. Nodes announce it
 * (NATS heartbeats); a leader uses an entry kind only once every member
 * announces the version that brought it, so that all apply it alike.
 * 1: timer firings carry their due time (EntryKind.timerFiring).
 */
export const runtimeVersion = 1;

/** One of the EntryKind values. */
export type EntryKindValue = (typeof EntryKind)[keyof typeof EntryKind];

const noopPayload = new Uint8Array([EntryKind.noop]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The kind byte of an entry. */
export function kindOf(entry: Entry): number {
  return entry.payload[0] ?? -1;
}

/** The payload of a no-op entry (shared: payloads are never mutated). */
export function noopEntryPayload(): Uint8Array {
  return noopPayload;
}

/** Encodes a configuration entry payload. */
export function encodeConfig(config: ClusterConfig): Uint8Array {
  const body = encoder.encode(JSON.stringify({ voters: config.voters, nonVoters: config.nonVoters }));
  const out = new Uint8Array(body.length + 1);
  out[0] = EntryKind.config;
  out.set(body, 1);
  return out;
}

/** Decodes a configuration entry payload (asserts the kind). */
export function decodeConfig(payload: Uint8Array): ClusterConfig {
  assert(payload[0] === EntryKind.config, 'not a config entry');
  const parsed = JSON.parse(decoder.decode(payload.subarray(1))) as { voters: string[]; nonVoters: string[] };
  return { voters: parsed.voters, nonVoters: parsed.nonVoters };
}
