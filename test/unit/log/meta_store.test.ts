import { describe, expect, it } from 'vitest';
import { crashAndRestart, logTreeChild, logWorld } from './world.js';

describe('MetaStore', () => {
  it('answers once durable, batching the stores queued together into one sync', () => {
    const w = logWorld();
    w.settle();
    const meta = w.ls.metaStore();
    expect(meta.fetch('k/1')).toEqual({ term: 0, votedFor: null });
    const syncs = w.disk.stats.syncs;
    for (let i = 1; i <= 10; i++) meta.store(`k/${i}`, i, i % 2 === 0 ? `n${i}` : null, w.owner, { req: i });
    expect(w.state.meta).toEqual([]);
    expect(meta.fetch('k/1')).toEqual({ term: 0, votedFor: null });
    w.settle();
    expect(w.state.meta.map((m) => m.tag)).toEqual(Array.from({ length: 10 }, (_, i) => ({ req: i + 1 })));
    expect(w.state.meta[1]).toEqual({ type: 'meta_stored', logId: 'k/2', term: 2, votedFor: 'n2', tag: { req: 2 } });
    expect(w.disk.stats.syncs - syncs).toBe(1);
    expect(meta.fetch('k/4')).toEqual({ term: 4, votedFor: 'n4' });
  });

  it('keeps every acknowledged value across a crash, and never an unacknowledged one it did not write', () => {
    const w = logWorld();
    w.settle();
    const meta = w.ls.metaStore();
    meta.store('k/1', 3, 'n2', w.owner, 'a');
    w.settle();
    meta.store('k/1', 4, null, w.owner, 'b');
    // Crash before the second store is durable.
    const w2 = crashAndRestart(w);
    expect(w2.ls.metaStore().fetch('k/1')).toEqual({ term: 3, votedFor: 'n2' });
    w.settle();
    const w3 = crashAndRestart(w);
    expect(w3.ls.metaStore().fetch('k/1')).toEqual({ term: 4, votedFor: null });
  });

  it('compacts its file by rewrite and rename, and the values survive a crash at any step of it', () => {
    const w = logWorld({ log: { metaFileBytesMax: 2048 } });
    w.settle();
    const meta = w.ls.metaStore();
    let steps = 0;
    for (let term = 1; term <= 100; term++) {
      meta.store('k/1', term, `n${term % 3}`, w.owner, term);
      meta.store('k/2', term * 10, null, w.owner, term);
      // Crash after every step of the write (and of any compaction it starts).
      const acked = w.state.meta.filter((m) => m.logId === 'k/1').length;
      while (!w.clock.idle()) {
        w.clock.step();
        steps++;
        const w2 = crashAndRestart(w, { seed: steps, log: { metaFileBytesMax: 2048 } });
        const got = w2.ls.metaStore().fetch('k/1').term;
        expect(got).toBeGreaterThanOrEqual(acked);
        expect(got).toBeLessThanOrEqual(term);
      }
    }
    expect(w.ls.metaStats.compactions).toBeGreaterThan(2);
    const w2 = crashAndRestart(w, { log: { metaFileBytesMax: 2048 } });
    expect(w2.ls.metaStore().fetch('k/1')).toEqual({ term: 100, votedFor: 'n1' });
    expect(w2.ls.metaStore().fetch('k/2')).toEqual({ term: 1000, votedFor: null });
    expect(w2.disk.contents('/data/meta/meta.dat').length).toBeLessThan(2048);
  });

  it('on a disk error it retries, answers only once durable, and logs the error once', () => {
    const w = logWorld({ log: { walRetryMs: 50 } });
    w.settle();
    w.disk.failAlways('sync', 'ENOSPC', '/data/meta/');
    w.ls.metaStore().store('k/1', 7, 'n1', w.owner, 'x');
    w.clock.runFor(500);
    expect(w.state.meta).toEqual([]);
    expect(w.logger.records.filter((r) => r.level === 'error').length).toBe(1);
    w.disk.clearFaults();
    w.settle();
    expect(w.state.meta.map((m) => m.tag)).toEqual(['x']);
    const w2 = crashAndRestart(w);
    expect(w2.ls.metaStore().fetch('k/1')).toEqual({ term: 7, votedFor: 'n1' });
  });

  it('a restarted meta store writes again what its dead instance had taken and not written, and answers', async () => {
    const w = logWorld({ log: { walRetryMs: 100 } });
    w.settle();
    const meta = w.ls.metaStore();
    w.disk.failAlways('sync', 'EIO', '/data/meta/');
    meta.store('k/1', 5, 'n1', w.owner, 'x');
    w.clock.runFor(300); // taken, written, not synced: retried every 100 ms
    expect(w.state.meta).toEqual([]);
    w.disk.clearFaults();
    const { child: store } = await logTreeChild(w, 'meta_store');
    w.system.stop(store, new Error('injected crash')).catch(() => {});
    w.settle();
    expect(w.state.meta).toEqual([{ type: 'meta_stored', logId: 'k/1', term: 5, votedFor: 'n1', tag: 'x' }]);
    expect(meta.fetch('k/1')).toEqual({ term: 5, votedFor: 'n1' });
    expect(crashAndRestart(w).ls.metaStore().fetch('k/1')).toEqual({ term: 5, votedFor: 'n1' });
  });
});
