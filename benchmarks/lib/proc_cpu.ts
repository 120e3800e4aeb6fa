// CPU time of a process from /proc (Linux), for figures per command: on this
// machine they drift less than rates do.
import { readFileSync } from 'node:fs';

/** CPU seconds (user + system, every thread) process `pid` has used so far. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
}

/** Microseconds of CPU per operation each of `pids` spent while `work` ran `ops` operations. */
export async function cpuPerOp(pids: readonly number[], ops: number, work: () => Promise<void>): Promise<number[]> {
  const before = pids.map(cpuSeconds);
  await work();
  return pids.map((pid, i) => (1e6 * (cpuSeconds(pid) - (before[i] as number))) / ops);
}
