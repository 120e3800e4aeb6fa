// `concord demo` (what `npm start` runs), in process and with node processes
// over NATS: it must end with `acknowledged: N, lost: 0` for a real N > 0.
import { afterAll, describe, expect, it } from 'vitest';
import { NatsServer } from '../helpers/nats_server.js';
import { runCli } from '../helpers/processes.js';

let nats: NatsServer | undefined;
afterAll(async () => {
  await nats?.close();
});

function summary(stdout: string): { acknowledged: number; lost: number } {
  const last = stdout.trim().split('\n').at(-1) ?? '';
  const m = /^acknowledged: (\d+), lost: (\d+)$/.exec(last);
  expect(m, stdout).not.toBeNull();
  return { acknowledged: Number(m?.[1]), lost: Number(m?.[2]) };
}

describe('concord demo', () => {
  it('runs in process, fails over and loses nothing', async () => {
    const r = await runCli(['demo', '--seconds', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/new leader: n\d; writes were unavailable for \d+\.\d\d s/);
    const s = summary(r.stdout);
    expect(s.acknowledged).toBeGreaterThan(100);
    expect(s.lost).toBe(0);
  });

  it('runs as three node processes over NATS, SIGKILLs the leader and loses nothing', async () => {
    nats = await NatsServer.start();
    const r = await runCli(['demo', '--seconds', '3', '--nats', nats.url]);
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r.stdout);
    expect(s.acknowledged).toBeGreaterThan(50);
    expect(s.lost).toBe(0);
  });
});
