// `npm run bench -- actors`: message throughput between actors and spawn cost.
import { Actor, type ActorRef } from '../src/actors/actor.js';
import { ActorSystem } from '../src/actors/actor_system.js';
import { silentLogger } from '../src/lib/logger.js';
import { Progress, median, printTable, writeResult } from './lib/report.js';

type Ball = { type: 'ball'; left: number };

/** Returns every ball to its peer until the ball's count runs out. */
class Player extends Actor<Ball | { type: 'peer'; peer: ActorRef<Ball> }, { onDone: () => void }> {
  private peer: ActorRef<Ball> | undefined;
  private onDone: () => void = () => {};
  override init(args: { onDone: () => void }): void {
    this.onDone = args.onDone;
  }
  handle(msg: Ball | { type: 'peer'; peer: ActorRef<Ball> }): void {
    if (msg.type === 'peer') {
      this.peer = msg.peer;
      return;
    }
    if (msg.left === 0) this.onDone();
    else this.send(this.peer as ActorRef<Ball>, { type: 'ball', left: msg.left - 1 });
  }
}

class Idle extends Actor<never> {
  handle(): void {}
}

const config = { pairs: 8, ballsPerPair: 64, messages: 4_000_000, spawns: 200_000, runs: 5 };

function throughputRun(ballsPerPair: number): Promise<number> {
  const system = new ActorSystem({ logger: silentLogger });
  const hops = Math.floor(config.messages / (config.pairs * ballsPerPair));
  const balls = config.pairs * ballsPerPair;
  return new Promise((resolve, reject) => {
    let finished = 0;
    let start = 0;
    const onDone = () => {
      if (++finished === balls) {
        const seconds = (performance.now() - start) / 1000;
        system.shutdown().then(() => {
          const delivered = system.stats.delivered - setupMessages;
          if (delivered !== balls * (hops + 1)) reject(new Error(`expected ${balls * (hops + 1)} deliveries, saw ${delivered}`));
          else resolve(delivered / seconds);
        }, reject);
      }
    };
    const players: [ActorRef<Ball>, ActorRef<Ball>][] = [];
    for (let p = 0; p < config.pairs; p++) {
      const a = system.spawn(Player, { onDone });
      const b = system.spawn(Player, { onDone });
      system.send(a, { type: 'peer', peer: b });
      system.send(b, { type: 'peer', peer: a });
      players.push([a, b]);
    }
    const setupMessages = 2 * config.pairs;
    start = performance.now();
    for (const [a] of players) for (let i = 0; i < ballsPerPair; i++) system.send(a, { type: 'ball', left: hops });
  });
}

async function spawnRun(): Promise<number> {
  const system = new ActorSystem({ logger: silentLogger });
  const start = performance.now();
  for (let i = 0; i < config.spawns; i++) system.spawn(Idle, undefined);
  const perSec = config.spawns / ((performance.now() - start) / 1000);
  await system.shutdown();
  return perSec;
}

/** Runs the benchmark and writes benchmarks/results/actors.json. */
export async function run(): Promise<void> {
  const progress = new Progress('actors', config.runs * 3);
  const msgs: number[] = [];
  const pingPong: number[] = [];
  const spawns: number[] = [];
  await throughputRun(config.ballsPerPair); // warm-up
  for (let i = 0; i < config.runs; i++) {
    msgs.push(await throughputRun(config.ballsPerPair));
    progress.update(3 * i + 1);
    pingPong.push(await throughputRun(1));
    progress.update(3 * i + 2);
    spawns.push(await spawnRun());
    progress.update(3 * i + 3);
  }
  progress.done();
  const results = {
    msgsPerSec: Math.round(median(msgs)),
    pingPongMsgsPerSec: Math.round(median(pingPong)),
    spawnPerSec: Math.round(median(spawns)),
  };
  printTable('actors (median of runs)', [
    { measure: `messages/s (${config.pairs} pairs x ${config.ballsPerPair} in flight)`, value: results.msgsPerSec, target: '>= 2,000,000' },
    { measure: `messages/s (${config.pairs} pairs x 1 in flight)`, value: results.pingPongMsgsPerSec, target: '-' },
    { measure: 'spawns/s', value: results.spawnPerSec, target: '-' },
  ]);
  writeResult('actors', config, results);
}
