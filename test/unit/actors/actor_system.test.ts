import { describe, expect, it } from 'vitest';
import { Actor, Down, Exit, From, type ActorRef, type ExitReason } from '../../../src/actors/actor.js';
import { NoProcError, TimeoutError, InvalidArgumentError } from '../../../src/lib/errors.js';
import { simWorld } from '../../helpers/sim.js';
import type { TimerHandle } from '../../../src/io/clock.js';

type Msg = { type: 'num'; n: number } | { type: 'boom' } | { type: 'quit' } | { type: 'fwd'; to: ActorRef<Msg>; n: number };

class Recorder extends Actor<Msg, { log: number[]; terminated?: string[] }> {
  log: number[] = [];
  terminated: string[] | undefined;
  override init(args: { log: number[]; terminated?: string[] }): void {
    this.log = args.log;
    this.terminated = args.terminated;
  }
  handle(msg: Msg): void {
    switch (msg.type) {
      case 'num':
        this.log.push(msg.n);
        return;
      case 'boom':
        throw new Error('boom');
      case 'quit':
        this.exit('normal');
        return;
      case 'fwd':
        this.send(msg.to, { type: 'num', n: msg.n });
        return;
    }
  }
  override handleCall(msg: Msg, from: From): void {
    if (msg.type === 'num') from.reply(msg.n * 2);
    if (msg.type === 'boom') throw new Error('boom in call');
    // any other call is left unanswered on purpose
  }
  override terminate(reason: ExitReason): void {
    this.terminated?.push(`${this.self.name ?? this.self.id}:${typeof reason === 'string' ? reason : 'error'}`);
  }
}

class Watcher extends Actor<never, { downs: Down[]; exits: Exit[]; trap: boolean }> {
  downs: Down[] = [];
  exits: Exit[] = [];
  override init(args: { downs: Down[]; exits: Exit[]; trap: boolean }): void {
    this.downs = args.downs;
    this.exits = args.exits;
    this.trapExit = args.trap;
  }
  handle(): void {}
  override handleDown(down: Down): void {
    this.downs.push(down);
  }
  override handleExit(exit: Exit): void {
    this.exits.push(exit);
  }
}

/** Re-arms one reminder on every message, as a watchdog does. */
class Rearmer extends Actor<{ type: 'poke' } | { type: 'ring' }, { rings: number[] }> {
  private timer: TimerHandle | undefined;
  private rings: number[] = [];
  override init(args: { rings: number[] }): void {
    this.rings = args.rings;
  }
  handle(msg: { type: 'poke' } | { type: 'ring' }): void {
    if (msg.type === 'ring') {
      this.rings.push(1);
      return;
    }
    if (this.timer !== undefined) this.cancelTimer(this.timer);
    this.timer = this.sendAfter(50, { type: 'ring' });
  }
}

describe('ActorSystem', () => {
  it('forgets a cancelled timer: an actor that re-arms one keeps one pending, not one per re-arm', () => {
    const { clock, system } = simWorld(3);
    const rings: number[] = [];
    const ref = system.spawn(Rearmer, { rings });
    for (let i = 0; i < 500; i++) {
      system.send(ref, { type: 'poke' });
      clock.runFor(1);
    }
    expect(system.timerCount(ref)).toBe(1);
    expect(rings).toEqual([]);
    clock.runFor(100);
    expect(rings).toEqual([1]);
    expect(system.timerCount(ref)).toBe(0);
  });

  it('delivers messages from one sender to one receiver in send order, under shuffled scheduling', () => {
    for (const seed of [1, 2, 3]) {
      const { clock, system } = simWorld(seed);
      const log: number[] = [];
      const sink = system.spawn(Recorder, { log });
      const relays = [0, 1, 2].map(() => system.spawn(Recorder, { log: [] }));
      for (let i = 0; i < 300; i++) {
        const relay = relays[i % 3] as ActorRef<Msg>;
        system.send(relay, { type: 'fwd', to: sink, n: i });
      }
      clock.runUntilIdle();
      expect(log).toHaveLength(300);
      for (const r of [0, 1, 2]) {
        const fromRelay = log.filter((n) => n % 3 === r);
        expect(fromRelay).toEqual([...fromRelay].sort((a, b) => a - b));
      }
    }
  });

  it('crashes only the actor whose handler throws, with the error as its exit reason', async () => {
    const { clock, system } = simWorld();
    const a = system.spawn(Recorder, { log: [] });
    const bLog: number[] = [];
    const b = system.spawn(Recorder, { log: bLog });
    const exited = system.whenExited(a);
    system.send(a, { type: 'boom' });
    system.send(b, { type: 'num', n: 7 });
    clock.runUntilIdle();
    const reason = await exited;
    expect(reason).toBeInstanceOf(Error);
    expect((reason as Error).message).toBe('boom');
    expect(system.isAlive(a)).toBe(false);
    expect(system.isAlive(b)).toBe(true);
    expect(bLog).toEqual([7]);
    expect(system.send(a, { type: 'num', n: 1 })).toBe(false);
  });

  it('takes a linked actor down on a crash but not on a normal exit', () => {
    const { clock, system } = simWorld();
    const a = system.spawn(Recorder, { log: [] });
    const b = system.spawn(Recorder, { log: [] });
    const c = system.spawn(Recorder, { log: [] });
    const d = system.spawn(Recorder, { log: [] });
    system.link(a, b);
    system.link(c, d);
    system.send(a, { type: 'boom' });
    system.send(c, { type: 'quit' });
    clock.runUntilIdle();
    expect(system.isAlive(b)).toBe(false);
    expect(system.isAlive(d)).toBe(true);
  });

  it('turns a linked exit into an Exit signal when the actor traps exits', () => {
    const { clock, system } = simWorld();
    const exits: Exit[] = [];
    const w = system.spawn(Watcher, { downs: [], exits, trap: true });
    const a = system.spawn(Recorder, { log: [] });
    const b = system.spawn(Recorder, { log: [] });
    system.link(w, a);
    system.link(w, b);
    system.send(a, { type: 'boom' });
    system.send(b, { type: 'quit' });
    clock.runUntilIdle();
    expect(system.isAlive(w)).toBe(true);
    expect(exits.map((e) => (e.reason instanceof Error ? 'error' : e.reason)).sort()).toEqual(['error', 'normal']);
  });

  it('sends a down to monitors on crash, on normal exit, and at once for a dead target', () => {
    const { clock, system } = simWorld();
    const downs: Down[] = [];
    const w = system.spawn(Watcher, { downs, exits: [], trap: false });
    const a = system.spawn(Recorder, { log: [] });
    const b = system.spawn(Recorder, { log: [] });
    const c = system.spawn(Recorder, { log: [] });
    const ma = system.monitor(w, a);
    const mb = system.monitor(w, b);
    const mc = system.monitor(w, c);
    system.demonitor(w, mc);
    system.send(a, { type: 'boom' });
    system.send(b, { type: 'quit' });
    system.send(c, { type: 'boom' });
    clock.runUntilIdle();
    const late = system.monitor(w, a);
    clock.runUntilIdle();
    expect(system.isAlive(w)).toBe(true);
    const byId = new Map(downs.map((d) => [d.monitor, d]));
    expect(byId.get(ma)?.reason).toBeInstanceOf(Error);
    expect(byId.get(mb)?.reason).toBe('normal');
    expect(byId.has(mc)).toBe(false);
    expect(byId.get(late)?.actor).toBe(a);
  });

  it('answers calls, rejects with TimeoutError in virtual time, and with NoProcError for dead actors', async () => {
    const { clock, system } = simWorld();
    const a = system.spawn(Recorder, { log: [] });
    await expect(clock.settle(system.call(a, { type: 'num', n: 21 }))).resolves.toBe(42);

    const start = clock.now();
    const silent = system.call(a, { type: 'quit' as const }, 250);
    // 'quit' as a call is not answered and the actor stays up: only the timeout ends it.
    await expect(clock.settle(silent)).rejects.toBeInstanceOf(TimeoutError);
    expect(clock.now() - start).toBe(250);

    const b = system.spawn(Recorder, { log: [] });
    const pending = system.call(b, { type: 'boom' as const }, 10_000);
    await expect(clock.settle(pending)).rejects.toBeInstanceOf(NoProcError);
    await expect(system.call(b, { type: 'num', n: 1 })).rejects.toBeInstanceOf(NoProcError);
    await expect(system.call('nobody', { type: 'num', n: 1 })).rejects.toBeInstanceOf(NoProcError);
  });

  it('rejects a call pending when the callee exits, instead of waiting for the timeout', async () => {
    const { clock, system } = simWorld();
    const a = system.spawn(Recorder, { log: [] });
    const pending = system.call(a, { type: 'quit' }, 60_000);
    system.send(a, { type: 'quit' });
    const start = clock.now();
    await expect(clock.settle(pending)).rejects.toBeInstanceOf(NoProcError);
    expect(clock.now()).toBe(start);
  });

  it('keeps a registry of names that is freed when the actor exits', () => {
    const { clock, system } = simWorld();
    const a = system.spawn(Recorder, { log: [] }, { name: 'alpha' });
    expect(system.whereis('alpha')).toBe(a);
    expect(() => system.spawn(Recorder, { log: [] }, { name: 'alpha' })).toThrow(InvalidArgumentError);
    const b = system.spawn(Recorder, { log: [] });
    system.register('beta', b);
    expect(system.send('beta', { type: 'num', n: 1 })).toBe(true);
    expect(system.unregister('beta')).toBe(true);
    expect(system.whereis('beta')).toBeUndefined();
    system.send(a, { type: 'quit' });
    clock.runUntilIdle();
    expect(system.whereis('alpha')).toBeUndefined();
    expect(system.send('alpha', { type: 'num', n: 1 })).toBe(false);
  });

  it('runs terminate on stop and shuts everything down in reverse start order', async () => {
    const { clock, system } = simWorld();
    const terminated: string[] = [];
    const a = system.spawn(Recorder, { log: [], terminated }, { name: 'a' });
    system.spawn(Recorder, { log: [], terminated }, { name: 'b' });
    system.spawn(Recorder, { log: [], terminated }, { name: 'c' });
    await clock.settle(system.stop(a, 'normal'));
    expect(terminated).toEqual(['a:normal']);
    await clock.settle(system.shutdown());
    expect(terminated).toEqual(['a:normal', 'c:shutdown', 'b:shutdown']);
    expect(system.size).toBe(0);
  });

  it('drops and counts messages past the mailbox bound', () => {
    const { clock, system } = simWorld();
    const log: number[] = [];
    const a = system.spawn(Recorder, { log }, { mailboxMax: 3 });
    const accepted = [1, 2, 3, 4, 5].map((n) => system.send(a, { type: 'num', n }));
    expect(accepted).toEqual([true, true, true, false, false]);
    expect(system.stats.dropped).toBe(2);
    clock.runUntilIdle();
    expect(log).toEqual([1, 2, 3]);
  });

  it('rejects a spawn whose init throws and leaves no trace of the actor', () => {
    const { system } = simWorld();
    class Bad extends Actor<never> {
      override init(): void {
        throw new Error('bad init');
      }
      handle(): void {}
    }
    expect(() => system.spawn(Bad, undefined, { name: 'bad' })).toThrow('bad init');
    expect(system.whereis('bad')).toBeUndefined();
    expect(system.size).toBe(0);
  });
});
