#!/usr/bin/env node
// The `concord` command. For now it has one command, `demo`: a supervised
// actor example (the Raft demo replaces it once clusters exist).
import { Actor, ActorSystem, startSupervisor, whichChildren, workerSpec, type ActorRef, type From } from '../index.js';

type Job = { type: 'work'; n: number } | { type: 'fail' };

/** Squares numbers; fails on request so that the supervisor has something to do. */
class Squarer extends Actor<Job> {
  handle(msg: Job): void {
    if (msg.type === 'fail') throw new Error('asked to fail');
  }
  override handleCall(msg: Job, from: From): void {
    if (msg.type === 'work') from.reply(msg.n * msg.n);
  }
}

async function demo(): Promise<void> {
  const system = new ActorSystem();
  const sup = startSupervisor(system, { strategy: 'one_for_one', children: [workerSpec('squarer', Squarer, undefined, { name: 'squarer' })] });
  const ask = (n: number) => system.call<number>('squarer', { type: 'work', n });
  process.stdout.write(`7 squared is ${await ask(7)}\n`);
  const before = system.whereis('squarer') as ActorRef;
  system.send(before, { type: 'fail' });
  await system.whenExited(before);
  const [child] = await whichChildren(system, sup);
  process.stdout.write(`the squarer crashed; its supervisor restarted it as ${String(child?.ref)}\n`);
  process.stdout.write(`9 squared is ${await ask(9)}\n`);
  await system.shutdown();
}

const [command = 'help'] = process.argv.slice(2);
if (command === 'demo') {
  demo().catch((e: unknown) => {
    process.stderr.write(`demo failed: ${String(e)}\n`);
    process.exitCode = 1;
  });
} else {
  process.stdout.write('usage: concord demo\n');
  process.exitCode = command === 'help' || command === '--help' ? 0 : 2;
}
