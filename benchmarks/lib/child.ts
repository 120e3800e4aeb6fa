// The floors' helper processes: each floor module forks itself in a role and
// waits for the child's first IPC message, which says it is ready.
import type { ChildProcess } from 'node:child_process';

/** Resolves with `child`'s first message; rejects if it exits (or closes its pipes) first. */
export function firstMessage(child: ChildProcess, what: string, end: 'exit' | 'close' = 'exit'): Promise<unknown> {
  return new Promise((done, fail) => {
    child.once('message', done);
    child.once(end, (code) => fail(new Error(`${what} exited with ${String(code)}`)));
  });
}
