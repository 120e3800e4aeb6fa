import { describe, expect, it } from 'vitest';
import { Actor, type ActorRef } from '../../../src/actors/actor.js';
import { startSupervisor, workerSpec } from '../../../src/actors/supervisor.js';
import { SeededRandom } from '../../../src/io/random.js';
import { simWorld } from '../../helpers/sim.js';

type Gossip = { type: 'gossip'; hops: number; from: number } | { type: 'tick' };

/** Passes gossip to random peers, sets timers and now and then crashes (its supervisor restarts it). */
class Chatter extends Actor<Gossip, { index: number; peers: string[]; seed: number }> {
  private index = 0;
  private peers: string[] = [];
  private random!: SeededRandom;
  override init(args: { index: number; peers: string[]; seed: number }): void {
    this.index = args.index;
    this.peers = args.peers;
    this.random = new SeededRandom(args.seed);
    this.sendAfter(this.random.between(1, 50), { type: 'tick' });
  }
  handle(msg: Gossip): void {
    if (msg.type === 'tick') {
      this.sendAfter(this.random.between(1, 50), { type: 'tick' });
      this.send(this.random.pick(this.peers), { type: 'gossip', hops: 3, from: this.index });
      return;
    }
    if (this.random.chance(0.01)) throw new Error(`chatter ${this.index} tripped`);
    for (let i = 0; i < msg.hops; i++) {
      this.send(this.random.pick(this.peers), { type: 'gossip', hops: msg.hops - 1, from: this.index });
    }
  }
}

function run(seed: number): string[] {
  const trace: string[] = [];
  const { clock, system } = simWorld(seed, {
    onDeliver: (to: ActorRef, msg: unknown) => trace.push(`${clock.now()} ${to.toString()} ${JSON.stringify(msg)}`),
  });
  const names = Array.from({ length: 8 }, (_, i) => `c${i}`);
  const seeds = new SeededRandom(seed);
  startSupervisor(system, {
    maxRestarts: 1000,
    periodMs: 1000,
    children: names.map((name, index) =>
      workerSpec(name, Chatter, { index, peers: names, seed: seeds.u32() }, { name }),
    ),
  });
  clock.runFor(2000);
  return trace;
}

describe('determinism', () => {
  it('gives the same trace of delivered messages for the same seed, and another for another seed', () => {
    const a = run(42);
    const b = run(42);
    const c = run(43);
    expect(a.length).toBeGreaterThan(1000);
    expect(a.some((line) => line.includes('"hops":0'))).toBe(true);
    expect(a.some((line) => line.includes('"type":"exit"'))).toBe(true); // crashes and restarts happened
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });
});
