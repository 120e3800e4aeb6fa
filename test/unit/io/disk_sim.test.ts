import { describe, expect, it } from 'vitest';
import { SimClock } from '../../../src/io/sim_clock.js';
import { SeededRandom } from '../../../src/io/random.js';
import { SimDisk } from '../../../src/io/sim_disk.js';
import { DiskError, type DiskCallback, type FileHandle } from '../../../src/io/disk.js';

function setup(seed = 1) {
  const clock = new SimClock();
  const disk = new SimDisk(clock, new SeededRandom(seed));
  disk.mkdirpSync('/d');
  /** Runs an async disk call to completion under the simulated clock. */
  function run<T>(op: (cb: DiskCallback<T>) => void): T {
    let out: { err: DiskError | null; value: T } | undefined;
    op((err, value) => (out = { err, value }));
    clock.runUntilIdle();
    if (out === undefined) throw new Error('no completion');
    if (out.err !== null) throw out.err;
    return out.value;
  }
  const bytes = (s: string) => new TextEncoder().encode(s);
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { clock, disk, run, bytes, text };
}

describe('SimDisk', () => {
  it('completes operations through the clock, never before the call returns', () => {
    const { clock, disk } = setup();
    let done = false;
    disk.open('/d/a', 'write', () => (done = true));
    expect(done).toBe(false);
    const before = clock.now();
    clock.runUntilIdle();
    expect(done).toBe(true);
    expect(clock.now()).toBeGreaterThan(before);
  });

  it('a crash drops writes not synced and names not made durable by syncDir', () => {
    const { disk, run, bytes, text } = setup();
    const h = run<FileHandle>((cb) => disk.open('/d/a', 'write', cb));
    run((cb) => disk.write(h, bytes('hello'), 0, cb));
    run((cb) => disk.sync(h, 'datasync', cb));
    run((cb) => disk.syncDir('/d', cb));
    run((cb) => disk.write(h, bytes(' world'), 5, cb));
    expect(text(disk.readFileSync('/d/a'))).toBe('hello world');
    const h2 = run<FileHandle>((cb) => disk.open('/d/b', 'write', cb));
    run((cb) => disk.write(h2, bytes('lost'), 0, cb));
    run((cb) => disk.sync(h2, 'fsync', cb));
    disk.crash();
    expect(text(disk.readFileSync('/d/a'))).toBe('hello');
    expect(disk.existsSync('/d/b')).toBe(false);
    expect(() => disk.readSync(h, new Uint8Array(1), 0)).toThrow(DiskError);
  });

  it('a torn crash keeps a prefix of the last unsynced write', () => {
    const lengths = new Set<number>();
    for (let seed = 1; seed <= 20; seed++) {
      const { disk, run, bytes, text } = setup(seed);
      const h = run<FileHandle>((cb) => disk.open('/d/a', 'write', cb));
      run((cb) => disk.syncDir('/d', cb));
      run((cb) => disk.write(h, bytes('base'), 0, cb));
      run((cb) => disk.sync(h, 'datasync', cb));
      run((cb) => disk.write(h, bytes('0123456789'), 4, cb));
      disk.crash({ torn: true });
      const got = text(disk.readFileSync('/d/a'));
      expect(got.startsWith('base')).toBe(true);
      expect('base0123456789'.startsWith(got)).toBe(true);
      lengths.add(got.length);
    }
    expect(lengths.size).toBeGreaterThan(3);
  });

  it('rename and unlink are durable only after syncDir', () => {
    const { disk, run, bytes, text } = setup();
    const h = run<FileHandle>((cb) => disk.open('/d/tmp', 'write', cb));
    run((cb) => disk.write(h, bytes('new'), 0, cb));
    run((cb) => disk.sync(h, 'fsync', cb));
    run((cb) => disk.syncDir('/d', cb));
    run((cb) => disk.rename('/d/tmp', '/d/final', cb));
    expect(disk.listSync('/d')).toEqual(['final']);
    const copy = disk.fork(new SimClock(), new SeededRandom(3));
    copy.crash();
    expect(copy.listSync('/d')).toEqual(['tmp']);
    run((cb) => disk.syncDir('/d', cb));
    run((cb) => disk.unlink('/d/final', cb));
    disk.crash();
    expect(text(disk.readFileSync('/d/final'))).toBe('new');
  });

  it('mkdir makes a directory that a crash keeps only once its parent is synced', () => {
    const { disk, run, bytes } = setup();
    run((cb) => disk.mkdir('/d/g', cb));
    run((cb) => disk.mkdir('/d/g', cb)); // one already there is no error
    expect(() => run((cb) => disk.mkdir('/d/missing/g', cb))).toThrow(expect.objectContaining({ errno: 'ENOENT' }));
    const h = run<FileHandle>((cb) => disk.open('/d/g/f', 'write', cb));
    run((cb) => disk.write(h, bytes('x'), 0, cb));
    run((cb) => disk.sync(h, 'fsync', cb));
    run((cb) => disk.syncDir('/d/g', cb));
    const copy = disk.fork(new SimClock(), new SeededRandom(3));
    copy.crash();
    expect(copy.existsSync('/d/g')).toBe(false); // the file went with its directory
    expect(copy.existsSync('/d/g/f')).toBe(false);
    run((cb) => disk.syncDir('/d', cb));
    disk.crash();
    expect(disk.readFileSync('/d/g/f')).toEqual(bytes('x'));
  });

  it('injects faults by operation (and path), then clears them', () => {
    const { disk, run, bytes } = setup();
    const h = run<FileHandle>((cb) => disk.open('/d/a', 'write', cb));
    disk.failNext('write', 'ENOSPC');
    expect(() => run((cb) => disk.write(h, bytes('x'), 0, cb))).toThrow(expect.objectContaining({ errno: 'ENOSPC', code: 'disk_full', op: 'write' }));
    run((cb) => disk.write(h, bytes('x'), 0, cb));
    disk.failAlways('sync', 'EIO', '/d/b');
    run((cb) => disk.sync(h, 'datasync', cb));
    const hb = run<FileHandle>((cb) => disk.open('/d/b', 'write', cb));
    expect(() => run((cb) => disk.sync(hb, 'datasync', cb))).toThrow(expect.objectContaining({ errno: 'EIO', code: 'disk_error' }));
    expect(() => run((cb) => disk.sync(hb, 'datasync', cb))).toThrow(DiskError);
    disk.clearFaults();
    run((cb) => disk.sync(hb, 'datasync', cb));
    disk.failNext('read', 'EIO');
    expect(() => disk.readSync(h, new Uint8Array(1), 0)).toThrow(DiskError);
    expect(disk.stats.faults).toBe(4);
  });

  it('after a failed sync the dirty data is not made durable by a later sync (fsyncgate)', () => {
    const { disk, run, bytes, text } = setup();
    const h = run<FileHandle>((cb) => disk.open('/d/a', 'write', cb));
    run((cb) => disk.syncDir('/d', cb));
    run((cb) => disk.write(h, bytes('data'), 0, cb));
    disk.failNext('sync', 'EIO');
    expect(() => run((cb) => disk.sync(h, 'datasync', cb))).toThrow(DiskError);
    run((cb) => disk.sync(h, 'datasync', cb));
    expect(text(disk.readFileSync('/d/a'))).toBe('data');
    disk.crash();
    // The size may survive, the lost pages do not.
    expect([...disk.readFileSync('/d/a')].every((b) => b === 0)).toBe(true);
  });

  it('a crash drops operations still in flight and counts syncs and bytes', () => {
    const { clock, disk, run, bytes } = setup();
    const h = run<FileHandle>((cb) => disk.open('/d/a', 'write', cb));
    let called = false;
    disk.write(h, bytes('zzz'), 0, () => (called = true));
    disk.crash();
    clock.runUntilIdle();
    expect(called).toBe(false);
    expect(disk.stats.bytesWritten).toBe(0);
    const h2 = run<FileHandle>((cb) => disk.open('/d/a', 'append', cb));
    run((cb) => disk.write(h2, bytes('abc'), 0, cb));
    run((cb) => disk.sync(h2, 'none', cb));
    run((cb) => disk.sync(h2, 'fsync', cb));
    expect(disk.stats).toMatchObject({ writes: 1, bytesWritten: 3, syncs: 1, crashes: 1 });
  });
});
