import { describe, expect, it } from 'vitest';
import { Actor, type ActorRef, type ExitReason } from '../../../src/actors/actor.js';
import {
  RestartIntensityError,
  startChild,
  startSupervisor,
  supervisorSpec,
  terminateChild,
  whichChildren,
  workerSpec,
  type ChildSpec,
  type RestartType,
  type Strategy,
} from '../../../src/actors/supervisor.js';
import { Completion } from '../../../src/lib/completion.js';
import { simWorld } from '../../helpers/sim.js';

type WorkerMsg = 'crash' | 'quit';

interface Journal {
  events: string[];
}

class Worker extends Actor<WorkerMsg, { id: string; journal: Journal; hang?: boolean }> {
  private id = '';
  private journal!: Journal;
  private hang = false;
  override init(args: { id: string; journal: Journal; hang?: boolean }): void {
    this.id = args.id;
    this.journal = args.journal;
    this.hang = args.hang ?? false;
    this.journal.events.push(`start ${this.id}`);
  }
  handle(msg: WorkerMsg): void {
    if (msg === 'crash') throw new Error(`${this.id} crashed`);
    this.exit('normal');
  }
  override terminate(reason: ExitReason): PromiseLike<void> | void {
    this.journal.events.push(`stop ${this.id}:${typeof reason === 'string' ? reason : 'error'}`);
    if (this.hang) return new Completion(); // never completes: only a kill ends it
  }
}

function spec(id: string, journal: Journal, restart: RestartType = 'permanent', hang = false): ChildSpec {
  return workerSpec(id, Worker, { id, journal, hang }, { restart, name: id, shutdownMs: 100 });
}

function world(strategy: Strategy, ids = ['a', 'b', 'c'], limits = { maxRestarts: 3, periodMs: 5000 }) {
  const w = simWorld(7);
  const journal: Journal = { events: [] };
  const sup = startSupervisor(w.system, { strategy, ...limits, children: ids.map((id) => spec(id, journal)) }, { name: 'sup' });
  journal.events.length = 0;
  const ref = (id: string) => w.system.whereis<WorkerMsg>(id) as ActorRef<WorkerMsg>;
  return { ...w, journal, sup, ref };
}

describe('Supervisor', () => {
  it('one_for_one restarts only the crashed child', () => {
    const { clock, system, journal, ref } = world('one_for_one');
    const [a, b, c] = [ref('a'), ref('b'), ref('c')];
    system.send(b, 'crash');
    clock.runUntilIdle();
    expect(journal.events).toEqual(['stop b:error', 'start b']);
    expect(ref('a')).toBe(a);
    expect(ref('c')).toBe(c);
    expect(ref('b')).not.toBe(b);
    expect(system.isAlive(ref('b'))).toBe(true);
  });

  it('one_for_all stops the others in reverse order, then restarts all in start order', () => {
    const { clock, system, journal, ref } = world('one_for_all');
    system.send(ref('b'), 'crash');
    clock.runUntilIdle();
    expect(journal.events).toEqual(['stop b:error', 'stop c:shutdown', 'stop a:shutdown', 'start a', 'start b', 'start c']);
    for (const id of ['a', 'b', 'c']) expect(system.isAlive(ref(id))).toBe(true);
  });

  it('one_for_all goes on when a child it has yet to stop dies on its own meanwhile', async () => {
    const { clock, system } = simWorld(7);
    const journal: Journal = { events: [] };
    // c takes its whole shutdownMs to stop (then it is killed): a crashes in the meantime.
    const sup = startSupervisor(system, { strategy: 'one_for_all', children: [spec('a', journal), spec('b', journal), spec('c', journal, 'permanent', true)] });
    const ref = (id: string) => system.whereis<WorkerMsg>(id) as ActorRef<WorkerMsg>;
    const before = ['a', 'b', 'c'].map(ref);
    journal.events.length = 0;
    system.send(ref('b'), 'crash');
    clock.runFor(10);
    expect(journal.events).toEqual(['stop b:error', 'stop c:shutdown']);
    system.send(ref('a'), 'crash');
    clock.runUntilIdle();
    // The supervisor did not wait for ever for a to stop: every child runs again, once.
    expect(journal.events.filter((e) => e.startsWith('start'))).toEqual(['start a', 'start b', 'start c']);
    const children = await clock.settle(whichChildren(system, sup));
    expect(children.map((c) => c.id)).toEqual(['a', 'b', 'c']);
    for (const [i, c] of children.entries()) {
      expect(c.ref).not.toBe(before[i]);
      expect(system.isAlive(c.ref as ActorRef)).toBe(true);
    }
  });

  it('rest_for_one restarts the crashed child and those started after it', () => {
    const { clock, journal, ref, system } = world('rest_for_one', ['a', 'b', 'c', 'd']);
    const a = ref('a');
    system.send(ref('b'), 'crash');
    clock.runUntilIdle();
    expect(journal.events).toEqual(['stop b:error', 'stop d:shutdown', 'stop c:shutdown', 'start b', 'start c', 'start d']);
    expect(ref('a')).toBe(a);
  });

  it('restarts transient children only after a crash and never restarts temporary ones', async () => {
    const { clock, system } = simWorld(3);
    const journal: Journal = { events: [] };
    const sup = startSupervisor(system, {
      children: [spec('t1', journal, 'transient'), spec('t2', journal, 'transient'), spec('tmp', journal, 'temporary')],
    });
    journal.events.length = 0;
    system.send('t1', 'quit');
    system.send('t2', 'crash');
    system.send('tmp', 'crash');
    clock.runUntilIdle();
    expect(journal.events.filter((e) => e.startsWith('start'))).toEqual(['start t2']);
    const children = await clock.settle(whichChildren(system, sup));
    expect(children.map((c) => [c.id, c.ref !== undefined])).toEqual([
      ['t1', false],
      ['t2', true],
    ]);
  });

  it('exits past maxRestarts within periodMs, and its own supervisor sees it and restarts it', () => {
    const { clock, system, logger } = simWorld(5);
    const journal: Journal = { events: [] };
    const inner = { maxRestarts: 2, periodMs: 1000, children: [spec('w', journal)] };
    const top = startSupervisor(system, { maxRestarts: 5, periodMs: 1000, children: [supervisorSpec('inner', inner, { name: 'inner' })] });
    const innerRef = system.whereis('inner') as ActorRef;
    const reasons: ExitReason[] = [];
    system.onExit(innerRef, (r) => reasons.push(r));
    for (let i = 0; i < 2; i++) {
      system.send(system.whereis<WorkerMsg>('w') as ActorRef<WorkerMsg>, 'crash');
      clock.runUntilIdle();
    }
    expect(reasons).toEqual([]);
    system.send(system.whereis<WorkerMsg>('w') as ActorRef<WorkerMsg>, 'crash');
    clock.runUntilIdle();
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toBeInstanceOf(RestartIntensityError);
    expect(logger.records.some((r) => r.msg === 'supervisor reached its restart intensity')).toBe(true);
    // The top supervisor restarted the inner one, which started a fresh worker.
    expect(system.isAlive(top)).toBe(true);
    const innerAgain = system.whereis('inner') as ActorRef;
    expect(innerAgain).not.toBe(innerRef);
    expect(system.isAlive(innerAgain)).toBe(true);
    expect(system.isAlive(system.whereis('w') as ActorRef)).toBe(true);
  });

  it('does not count restarts older than periodMs', () => {
    const { clock, system, sup, ref } = world('one_for_one', ['a'], { maxRestarts: 1, periodMs: 1000 });
    for (let i = 0; i < 5; i++) {
      system.send(ref('a'), 'crash');
      clock.runUntilIdle();
      clock.jump(1001);
    }
    expect(system.isAlive(sup)).toBe(true);
    system.send(ref('a'), 'crash');
    clock.runUntilIdle();
    system.send(ref('a'), 'crash');
    clock.runUntilIdle();
    expect(system.isAlive(sup)).toBe(false);
  });

  it('starts, lists and terminates children on request', async () => {
    const { clock, system, journal, sup } = world('one_for_one', ['a']);
    const d = await clock.settle(startChild(system, sup, spec('d', journal)));
    expect(system.whereis('d')).toBe(d);
    await expect(clock.settle(startChild(system, sup, spec('d', journal)))).rejects.toThrow(/already exists/);
    expect((await clock.settle(whichChildren(system, sup))).map((c) => c.id)).toEqual(['a', 'd']);
    await clock.settle(terminateChild(system, sup, 'd'));
    expect(system.isAlive(d)).toBe(false);
    expect((await clock.settle(whichChildren(system, sup))).map((c) => c.id)).toEqual(['a']);
  });

  it('kills a child that does not stop within shutdownMs', async () => {
    const { clock, system } = simWorld(9);
    const journal: Journal = { events: [] };
    const sup = startSupervisor(system, { children: [spec('slow', journal, 'permanent', true)] });
    const slow = system.whereis('slow') as ActorRef;
    const start = clock.now();
    await clock.settle(system.stop(sup));
    expect(system.isAlive(slow)).toBe(false);
    expect(clock.now() - start).toBe(100);
  });
});

