// Command entries: the user's command keeps the bytes the caller encoded, and
// every entry decodes back to what was proposed, whatever the header sizes.
import { describe, expect, it } from 'vitest';
import { encode } from '@msgpack/msgpack';
import { decodeCommand, encodeCommand, encodeValue } from '../../../src/raft/server/entry_codec.js';
import { EntryKind } from '../../../src/raft/core/entry_kind.js';

describe('command entries', () => {
  const commands: unknown[] = [null, 0, 'x', { type: 'put', key: 'k', value: 'v'.repeat(232) }, new Uint8Array(300), 'y'.repeat(70_000), [1, [2, { a: -1.5 }]]];
  const sessions = [undefined, { id: 1, seq: 1, acked: 0 }, { id: 2 ** 51 - 3, seq: 70_000, acked: 65_535 }, { id: 300, seq: 2 ** 32 + 5, acked: 2 ** 32 }];
  const timestamps = [0, 127, 1_795_439_239_708, 1_795_439_239_708.25];

  it('round-trips user commands with and without sessions, at every number and binary header size', () => {
    for (const command of commands) {
      for (const session of sessions) {
        for (const timestamp of timestamps) {
          const payload = encodeCommand({ type: 'user', timestamp, command: encodeValue(command), session });
          expect(payload[0]).toBe(EntryKind.command);
          expect(decodeCommand(payload)).toEqual(session === undefined ? { type: 'user', timestamp, command } : { type: 'user', timestamp, command, session });
        }
      }
    }
  });

  it('copies the command bytes as they are, without encoding them again', () => {
    const bytes = encodeValue({ b: 2, a: 1 });
    const payload = encodeCommand({ type: 'user', timestamp: 5, command: bytes });
    expect(Buffer.from(payload).includes(Buffer.from(bytes))).toBe(true);
  });

  it('marks a command whose bytes do not decode as invalid instead of throwing', () => {
    const body = decodeCommand(encodeCommand({ type: 'user', timestamp: 9, command: new Uint8Array([0x92, 0xc1]), session: { id: 4, seq: 2, acked: 1 } }));
    expect(body).toMatchObject({ type: 'user', timestamp: 9, command: undefined, session: { id: 4, seq: 2, acked: 1 } });
    expect(body.type === 'user' && body.invalid).toMatch(/not valid msgpack/);
  });

  it('still reads entries that held the command inline (written before commands kept their bytes)', () => {
    const legacy = (body: unknown[]) => new Uint8Array([EntryKind.command, ...encode(body)]);
    expect(decodeCommand(legacy([0, 42, { op: 'x' }]))).toEqual({ type: 'user', timestamp: 42, command: { op: 'x' } });
    expect(decodeCommand(legacy([0, 42, 'c', 7, 3, 2]))).toEqual({ type: 'user', timestamp: 42, command: 'c', session: { id: 7, seq: 3, acked: 2 } });
  });

  it('round-trips the other command kinds', () => {
    for (const body of [
      { type: 'down', timestamp: 3, node: 'n1' },
      { type: 'timeout', timestamp: 4, name: 't' },
      { type: 'register_session', timestamp: 5 },
    ] as const) {
      expect(decodeCommand(encodeCommand(body))).toEqual(body);
    }
  });

  it('refuses a malformed entry as corrupt', () => {
    expect(() => decodeCommand(new Uint8Array([EntryKind.command, ...encode([4, 1, 2, 3])]))).toThrow(/malformed/);
    expect(() => decodeCommand(new Uint8Array([EntryKind.command, ...encode([9, 1, null])]))).toThrow(/malformed/);
    // A user entry cut inside its numbers, or with a number form no writer uses.
    expect(() => decodeCommand(new Uint8Array([EntryKind.command, 0x96, 4, 0xcd, 1]))).toThrow(/malformed/);
    expect(() => decodeCommand(new Uint8Array([EntryKind.command, 0x93, 4]))).toThrow(/malformed/);
    expect(() => decodeCommand(new Uint8Array([EntryKind.command, 0x93, 4, 0xd0, 1, 0xc0]))).toThrow(/malformed/);
  });
});

describe('binaries in decoded commands', () => {
  it('are copies of their own, not views that would keep the whole entry buffer alive', () => {
    const slab = new Uint8Array(1 << 16);
    const payload = encodeCommand({ type: 'user', timestamp: 1, command: encodeValue({ blob: new Uint8Array([1, 2, 3]), list: [new Uint8Array([4])] }) });
    slab.set(payload, 100);
    const body = decodeCommand(slab.subarray(100, 100 + payload.length));
    const command = (body as { command: { blob: Uint8Array; list: Uint8Array[] } }).command;
    expect(command.blob).toEqual(new Uint8Array([1, 2, 3]));
    expect(command.blob.buffer.byteLength).toBe(3);
    expect(command.list[0]?.buffer.byteLength).toBe(1);
  });
});

describe('encodeValue', () => {
  it('gives the library\'s bytes even when a getter inside the value encodes another value meanwhile', () => {
    const inner = { deep: 'x'.repeat(40) };
    let innerBytes: Uint8Array | undefined;
    const value = {
      a: 'first',
      get b(): string {
        innerBytes = encodeValue(inner);
        return 'second';
      },
    };
    expect(encodeValue(value)).toEqual(encode({ a: 'first', b: 'second' }));
    expect(innerBytes).toEqual(encode(inner));
    expect(encodeValue({ after: 1 })).toEqual(encode({ after: 1 }));
  });
});
