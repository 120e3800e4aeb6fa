// A Session's low-water mark of answered commands (the `acked` it sends with
// each command) against a model, with answers in random order and enough
// commands outstanding at once to make its ring of answer flags grow.
import { describe, expect, it } from 'vitest';
import { Session, type SessionHost } from '../../../src/api/session.js';
import type { RequestCallback } from '../../../src/api/requester.js';
import type { Request } from '../../../src/transport/transport.js';
import { SeededRandom } from '../../../src/io/random.js';

interface Sent {
  seq: number;
  acked: number;
  cb: RequestCallback;
}

function session(): { s: Session; sent: Sent[] } {
  const sent: Sent[] = [];
  const host: SessionHost = {
    submit(_cluster: string, body: Request, _options: unknown, cb: RequestCallback): void {
      if (body.type !== 'command' || body.session === undefined) throw new Error('not a session command');
      sent.push({ seq: body.session.seq, acked: body.session.acked, cb });
    },
  };
  return { s: new Session(host, 'c', 7), sent };
}

describe('Session', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`sends as acked the highest number below which every command was answered (seed ${seed})`, () => {
      const random = new SeededRandom(seed);
      const { s, sent } = session();
      const answered = new Set<number>();
      const outstanding: Sent[] = [];
      let replies = 0;
      let model = 0;
      let mostOutstanding = 0;
      for (let step = 0; step < 20_000; step++) {
        // Phases that favour sending build up hundreds outstanding; others drain them.
        const sendBias = Math.floor(step / 2000) % 2 === 0 ? 0.7 : 0.3;
        if (outstanding.length === 0 || random.next() < sendBias) {
          s.submit({ step }, {}, () => replies++);
          const last = sent[sent.length - 1] as Sent;
          while (answered.has(model + 1)) model++;
          expect(last.seq).toBe(sent.length);
          expect(last.acked).toBe(model);
          outstanding.push(last);
          mostOutstanding = Math.max(mostOutstanding, outstanding.length);
        } else {
          const i = random.int(outstanding.length);
          const done = outstanding[i] as Sent;
          outstanding[i] = outstanding[outstanding.length - 1] as Sent;
          outstanding.pop();
          answered.add(done.seq);
          done.cb(null, 'ok');
        }
      }
      for (const o of outstanding) {
        answered.add(o.seq);
        o.cb(null, 'ok');
      }
      expect(mostOutstanding).toBeGreaterThan(256); // the ring (64 at first) has grown several times
      expect(replies).toBe(sent.length);
      expect(s.acked).toBe(sent.length);
    });
  }
});
