import { describe, expect, it } from 'vitest';
import type { From } from '../../../src/actors/actor.js';
import { Statem, type EventKind, type StateHandler } from '../../../src/actors/statem.js';
import { simWorld } from '../../helpers/sim.js';

type DoorState = 'locked' | 'open' | 'jammed';
type DoorEvent =
  | { type: 'knock'; n: number }
  | { type: 'unlock' }
  | { type: 'close' }
  | { type: 'ping' }
  | { type: 'auto_lock' }
  | { type: 'idle' }
  | { type: 'alarm' }
  | { type: 'set_alarm'; ms: number }
  | { type: 'cancel_alarm' }
  | { type: 'idle_watch'; ms: number }
  | { type: 'chain' }
  | { type: 'status' }
  | { type: 'break' };

interface Log {
  lines: string[];
}

/** A door: knocks are postponed while locked; opening arms a state timeout that locks it again. */
class Door extends Statem<DoorState, DoorEvent, Log> {
  private log!: Log;
  protected start(log: Log): DoorState {
    this.log = log;
    return 'locked';
  }
  private note(kind: EventKind, ev: DoorEvent): void {
    this.log.lines.push(`${this.state}:${kind}:${ev.type}${'n' in ev ? ev.n : ''}`);
  }
  private common(kind: EventKind, ev: DoorEvent, from: From | undefined): boolean {
    switch (ev.type) {
      case 'set_alarm':
        this.genericTimeout('alarm', ev.ms, { type: 'alarm' });
        return true;
      case 'cancel_alarm':
        this.cancelTimeout('alarm');
        return true;
      case 'alarm':
      case 'idle':
        this.note(kind, ev);
        return true;
      case 'idle_watch':
        this.eventTimeout(ev.ms, { type: 'idle' });
        return true;
      case 'status':
        if (from !== undefined) this.reply(from, this.state);
        return true;
      case 'break':
        this.stopMachine('normal');
        return true;
      default:
        return false;
    }
  }
  protected readonly states: { [K in DoorState]: StateHandler<DoorState, DoorEvent> } = {
    locked: {
      enter: (from) => this.log.lines.push(`enter locked from ${from}`),
      handle: (kind, ev, from) => {
        if (this.common(kind, ev, from)) return;
        this.note(kind, ev);
        if (ev.type === 'knock') this.postpone();
        if (ev.type === 'unlock') this.nextState('open');
        if (ev.type === 'chain') {
          this.nextEvent({ type: 'knock', n: 100 });
          this.nextEvent({ type: 'unlock' });
        }
      },
    },
    open: {
      enter: (from) => {
        this.log.lines.push(`enter open from ${from}`);
        this.stateTimeout(1000, { type: 'auto_lock' });
      },
      handle: (kind, ev, from) => {
        if (this.common(kind, ev, from)) return;
        this.note(kind, ev);
        if (ev.type === 'auto_lock' || ev.type === 'close') this.nextState('locked');
        if (ev.type === 'ping') this.nextState('open'); // same state: no enter, timeout kept
      },
    },
    jammed: { handle: () => {} },
  };
}

function door(seed = 1) {
  const w = simWorld(seed);
  const log: Log = { lines: [] };
  const ref = w.system.spawn(Door, log);
  return { ...w, log, ref };
}

describe('Statem', () => {
  it('runs enter for the initial state and on every state change, with the old state', () => {
    const { clock, system, log, ref } = door();
    system.send(ref, { type: 'unlock' });
    system.send(ref, { type: 'ping' });
    system.send(ref, { type: 'close' });
    clock.runUntilIdle();
    expect(log.lines).toEqual([
      'enter locked from locked',
      'locked:cast:unlock',
      'enter open from locked',
      'open:cast:ping',
      'open:cast:close',
      'enter locked from open',
    ]);
  });

  it('retries postponed events after the next state change, oldest first, before newer mail', () => {
    const { clock, system, log, ref } = door();
    system.send(ref, { type: 'knock', n: 1 });
    system.send(ref, { type: 'knock', n: 2 });
    system.send(ref, { type: 'unlock' });
    system.send(ref, { type: 'knock', n: 3 });
    clock.runFor(10);
    expect(log.lines.slice(1)).toEqual([
      'locked:cast:knock1',
      'locked:cast:knock2',
      'locked:cast:unlock',
      'enter open from locked',
      'open:cast:knock1',
      'open:cast:knock2',
      'open:cast:knock3',
    ]);
  });

  it('handles next events before mail already queued, in the order they were given', () => {
    const { clock, system, log, ref } = door();
    system.send(ref, { type: 'chain' });
    system.send(ref, { type: 'close' });
    clock.runFor(10);
    expect(log.lines.slice(1)).toEqual([
      'locked:cast:chain',
      'locked:internal:knock100',
      'locked:internal:unlock',
      'enter open from locked',
      'open:internal:knock100',
      'open:cast:close',
      'enter locked from open',
    ]);
  });

  it('fires a state timeout in the state that set it and cancels it on a state change', () => {
    const { clock, system, log, ref } = door();
    system.send(ref, { type: 'unlock' });
    clock.runFor(999);
    expect(log.lines.at(-1)).toBe('enter open from locked');
    clock.runFor(1);
    expect(log.lines.slice(-2)).toEqual(['open:state_timeout:auto_lock', 'enter locked from open']);

    log.lines.length = 0;
    system.send(ref, { type: 'unlock' });
    clock.runFor(500);
    system.send(ref, { type: 'close' });
    clock.runFor(5000);
    expect(log.lines.filter((l) => l.includes('auto_lock'))).toEqual([]);
  });

  it('keeps the state timeout when a transition stays in the same state', () => {
    const { clock, system, log, ref } = door();
    system.send(ref, { type: 'unlock' });
    clock.runFor(600);
    system.send(ref, { type: 'ping' });
    clock.runFor(400);
    expect(log.lines).toContain('open:state_timeout:auto_lock');
  });

  it('fires an event timeout only if no event arrives first', () => {
    const { clock, system, log, ref } = door();
    system.send(ref, { type: 'idle_watch', ms: 100 });
    clock.runFor(50);
    system.send(ref, { type: 'ping' });
    clock.runFor(500);
    expect(log.lines.filter((l) => l.includes('idle'))).toEqual([]);
    system.send(ref, { type: 'idle_watch', ms: 100 });
    clock.runFor(100);
    expect(log.lines.filter((l) => l.includes('idle'))).toEqual(['locked:event_timeout:idle']);
  });

  it('fires named generic timeouts across state changes, restarts them by name and cancels them', () => {
    const { clock, system, log, ref } = door();
    system.send(ref, { type: 'set_alarm', ms: 100 });
    clock.runFor(50);
    system.send(ref, { type: 'unlock' }); // state change does not cancel a generic timeout
    system.send(ref, { type: 'set_alarm', ms: 100 }); // restart: now due at t=150
    clock.runFor(99);
    expect(log.lines.filter((l) => l.includes('alarm'))).toEqual([]);
    clock.runFor(1);
    expect(log.lines.filter((l) => l.includes('alarm'))).toEqual(['open:timeout:alarm']);
    system.send(ref, { type: 'set_alarm', ms: 100 });
    system.send(ref, { type: 'cancel_alarm' });
    clock.runFor(1000);
    expect(log.lines.filter((l) => l.includes('alarm'))).toHaveLength(1);
  });

  it('keeps one timer, not one per restart, when timeouts are restarted or cancelled again and again', () => {
    const { clock, system, ref } = door();
    for (let i = 0; i < 1000; i++) {
      system.send(ref, { type: 'set_alarm', ms: 100 });
      system.send(ref, { type: 'idle_watch', ms: 100 });
      if (i % 2 === 0) system.send(ref, { type: 'cancel_alarm' });
      clock.runFor(1);
    }
    expect(system.timerCount(ref)).toBeLessThanOrEqual(2);
    clock.runFor(1000);
    expect(system.timerCount(ref)).toBe(0);
  });

  it('replies to calls and stops on the stop action', async () => {
    const { clock, system, ref } = door();
    await expect(clock.settle(system.call(ref, { type: 'status' }))).resolves.toBe('locked');
    system.send(ref, { type: 'break' });
    const reason = await clock.settle(system.whenExited(ref));
    expect(reason).toBe('normal');
  });

  it('replies to a postponed call once the state changes', async () => {
    class Gate extends Statem<'closed' | 'open', 'ask' | 'open', void> {
      protected start(): 'closed' {
        return 'closed';
      }
      protected readonly states = {
        closed: {
          handle: (_k: EventKind, ev: 'ask' | 'open') => {
            if (ev === 'ask') this.postpone();
            else this.nextState('open');
          },
        },
        open: {
          handle: (_k: EventKind, ev: 'ask' | 'open', from: From | undefined) => {
            if (ev === 'ask' && from !== undefined) this.reply(from, 'answered in open');
          },
        },
      };
    }
    const { clock, system } = simWorld(2);
    const gate = system.spawn(Gate, undefined);
    const answer = system.call(gate, 'ask');
    clock.runFor(100);
    system.send(gate, 'open');
    await expect(clock.settle(answer)).resolves.toBe('answered in open');
  });
});
