// Traced requests a node serves: each ends once, answered or not, and the
// open ones stay bounded in count and age.
import { describe, expect, it } from 'vitest';
import { ServedRequests, type ServeProbe } from '../../../src/api/served.js';
import { SimClock } from '../../../src/io/sim_clock.js';
import type { RequestEnvelope, Response } from '../../../src/transport/transport.js';

const trace = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const request = (id: number, from = 'c', traced = true): RequestEnvelope =>
  traced ? { type: 'request', id, from, cluster: 'kv', body: { type: 'members' }, trace } : { type: 'request', id, from, cluster: 'kv', body: { type: 'members' } };
const ok: Response = { ok: true, value: 1 };

/** A probe that records, per request id, how it ended ('ok', 'error' or 'unanswered'). */
function recorder(): { probe: ServeProbe; ends: [number, string][] } {
  const ends: [number, string][] = [];
  let next = 0;
  const probe: ServeProbe = {
    begin: () => {
      const n = next++;
      return (r) => ends.push([n, r === undefined ? 'unanswered' : r.ok ? 'ok' : 'error']);
    },
  };
  return { probe, ends };
}

describe('ServedRequests', () => {
  it('tells the probe of traced requests only, each end once, and nothing without a probe', () => {
    const clock = new SimClock();
    const served = new ServedRequests(clock);
    served.arrived(request(1));
    expect(served.size).toBe(0);
    const { probe, ends } = recorder();
    served.probe = probe;
    served.arrived(request(2, 'c', false));
    served.arrived(request(3));
    served.arrived(request(3, 'd'));
    served.answered('c', 2, ok);
    served.answered('c', 3, { ok: false, error: { code: 'not_leader', message: 'ask b' } });
    served.answered('c', 3, ok);
    expect(ends).toEqual([[0, 'error']]);
    expect(served.size).toBe(1);
    served.abandonAll();
    expect(ends).toEqual([
      [0, 'error'],
      [1, 'unanswered'],
    ]);
  });

  it('ends the oldest unanswered past the bound, and any open longer than the age limit', () => {
    const clock = new SimClock();
    const served = new ServedRequests(clock, 3, 1_000);
    const { probe, ends } = recorder();
    served.probe = probe;
    for (let id = 0; id < 5; id++) served.arrived(request(id));
    expect(ends).toEqual([
      [0, 'unanswered'],
      [1, 'unanswered'],
    ]);
    clock.jump(500);
    served.arrived(request(5));
    expect(served.size).toBe(3);
    clock.jump(600); // requests 2-4 arrived 1,100 ms ago, request 5 600 ms ago
    served.arrived(request(6));
    expect(ends.slice(2)).toEqual([
      [2, 'unanswered'],
      [3, 'unanswered'],
      [4, 'unanswered'],
    ]);
    served.answered('c', 5, ok);
    served.answered('c', 6, ok);
    expect(ends.slice(5)).toEqual([
      [5, 'ok'],
      [6, 'ok'],
    ]);
    expect(served.size).toBe(0);
  });
});
