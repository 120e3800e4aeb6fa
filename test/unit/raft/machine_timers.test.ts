// Machine timers whose firing is already in the log when the machine sets the
// timer again or cancels it: the firing that was for the old setting must not
// run the `timeout` hook, and the new setting must still fire, once, when due.
// A cluster with a member of an earlier build keeps that build's firings.
import { describe, expect, it } from 'vitest';
import { World } from '../../../src/sim/world.js';
import type { ApplyMeta, ApplyResult, Machine, MachineEffect } from '../../../src/index.js';
import { EntryKind } from '../../../src/raft/core/entry_kind.js';
import { decodeCommand } from '../../../src/raft/server/entry_codec.js';

type AlarmCommand = { readonly type: 'set'; readonly name: string; readonly ms: number } | { readonly type: 'cancel'; readonly name: string };
/** Each firing the machine saw: the timer's name and the leader time it came with. */
type Firing = readonly [name: string, at: number];
interface AlarmState {
  /** When each timer was last set to come due, by leader time. */
  readonly due: Map<string, number>;
  readonly firings: Firing[];
}

/** Sets and cancels named timers, and records each firing with the time it came with. */
class AlarmMachine implements Machine<AlarmState, AlarmCommand, number | null> {
  init(): AlarmState {
    return { due: new Map(), firings: [] };
  }
  apply(meta: ApplyMeta, cmd: AlarmCommand, state: AlarmState): ApplyResult<AlarmState, number | null> {
    if (cmd.type === 'set') {
      state.due.set(cmd.name, meta.timestamp + cmd.ms);
      const effects: MachineEffect[] = [{ type: 'timer', name: cmd.name, ms: cmd.ms }];
      return { state, reply: meta.timestamp + cmd.ms, effects };
    }
    state.due.delete(cmd.name);
    return { state, reply: null, effects: [{ type: 'cancel_timer', name: cmd.name }] };
  }
  timeout(meta: ApplyMeta, name: string, state: AlarmState): ApplyResult<AlarmState, never> {
    state.firings.push([name, meta.timestamp]);
    state.due.delete(name);
    return { state };
  }
  readonly queries = {
    firings: (state: AlarmState) => state.firings,
    due: (state: AlarmState) => Object.fromEntries(state.due),
  };
  snapshot(state: AlarmState): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ due: [...state.due], firings: state.firings }));
  }
  restore(bytes: Uint8Array): AlarmState {
    const raw = JSON.parse(new TextDecoder().decode(bytes)) as { due: [string, number][]; firings: Firing[] };
    return { due: new Map(raw.due), firings: raw.firings };
  }
}

const nodes = ['n1', 'n2', 'n3'];

/** How the firings applied on n1 were written: as timer firings (runtime version 1) or as command entries (earlier builds). */
function firingKinds(world: World): string[] {
  const kinds: string[] = [];
  world.observers.push({
    applied: (cluster, node, _index, _term, payload) => {
      if (cluster !== 'al' || node !== 'n1') return;
      if (payload[0] === EntryKind.timerFiring) kinds.push('timer_firing');
      else if (payload[0] === EntryKind.command && decodeCommand(payload).type === 'timeout') kinds.push('command');
    },
  });
  return kinds;
}

async function alarmWorld(announce: Record<string, number> = {}): Promise<{ world: World; leader: string; followers: string[] }> {
  const world = new World({ seed: 3, nodes, announce, machines: { alarm: () => new AlarmMachine() } });
  for (const n of nodes) await world.startNode(n);
  await world.settle(world.system('n1').startCluster('al', 'alarm', nodes));
  await world.settle(world.system('n1').processCommand('al', { type: 'cancel', name: 'none' }, { timeoutMs: 10_000 }));
  const { leader } = await world.settle(world.system('n1').members('al'));
  if (leader === undefined) throw new Error('no leader');
  return { world, leader, followers: nodes.filter((n) => n !== leader) };
}

async function firingsEverywhere(world: World): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const n of nodes) out[n] = await world.settle(world.system(n).localQuery('al', { name: 'firings' }));
  return out;
}

/** Checks that every member saw the same single firing, stamped no earlier than `notBefore`; returns the firings by node. */
async function oneFiringEverywhere(world: World, notBefore: number): Promise<Record<string, unknown>> {
  const all = await firingsEverywhere(world);
  const firings = all['n1'] as Firing[];
  expect(firings).toHaveLength(1);
  expect(firings[0]?.[1]).toBeGreaterThanOrEqual(notBefore);
  expect(all).toEqual({ n1: firings, n2: firings, n3: firings });
  return all;
}

/**
 * Sets timer `t` for 60 ms, then makes the followers' disks slow (syncs of
 * 100-400 ms) so that `change`, proposed at once, cannot commit before the
 * timer comes due: the leader, which has not applied `change`, puts the
 * firing in the log after it. Both commit in that order under the same leader.
 */
async function changeWhileFiringInFlight(change: AlarmCommand, announce: Record<string, number> = {}): Promise<{ world: World; setAt: number; kinds: string[] }> {
  const { world, leader, followers } = await alarmWorld(announce);
  const kinds = firingKinds(world);
  const firstDue = (await world.settle(world.system(leader).processCommand('al', { type: 'set', name: 't', ms: 60 }))) as number;
  for (const f of followers) world.disks.get(f)?.setSlowSyncFactor(1_000);
  const setAt = world.clock.now();
  const changed = world.system(leader).processCommand('al', change, { timeoutMs: 10_000 });
  await world.advance(firstDue - world.clock.now() + 10); // the firing for the first setting is proposed, behind `change`
  expect(await firingsEverywhere(world)).toEqual({ n1: [], n2: [], n3: [] });
  for (const f of followers) world.disks.get(f)?.setSlowSyncFactor(1);
  await world.settle(changed);
  expect((await world.settle(world.system(leader).members('al'))).leader).toBe(leader);
  return { world, setAt, kinds };
}

describe('machine timers', () => {
  it('a timer set again while its firing is in the log fires once, when the new setting comes due', async () => {
    const { world, setAt } = await changeWhileFiringInFlight({ type: 'set', name: 't', ms: 1_000 });
    await world.advance(setAt + 900 - world.clock.now());
    expect(await firingsEverywhere(world)).toEqual({ n1: [], n2: [], n3: [] });
    await world.advance(600);
    const all = await oneFiringEverywhere(world, setAt + 1_000);
    await world.advance(2_000);
    expect(await firingsEverywhere(world)).toEqual(all); // and not again
  });

  it('a timer cancelled while its firing is in the log does not fire', async () => {
    const { world, kinds } = await changeWhileFiringInFlight({ type: 'cancel', name: 't' });
    await world.advance(2_000);
    expect(await firingsEverywhere(world)).toEqual({ n1: [], n2: [], n3: [] });
    expect(kinds).toEqual(['timer_firing']); // the stale one, dropped
  });

  it('with a member of an earlier build, firings stay command entries, applied as that build does', async () => {
    // That build runs the hook for any firing: the cancelled timer's firing still runs it, on every member alike.
    const { world, kinds } = await changeWhileFiringInFlight({ type: 'cancel', name: 't' }, { n3: 0 });
    await world.advance(2_000);
    const all = await firingsEverywhere(world);
    expect(all['n1']).toHaveLength(1);
    expect(all).toEqual({ n1: all['n1'], n2: all['n1'], n3: all['n1'] });
    expect(kinds).toEqual(['command']);
  });

  it('a timer set again to a time already passed when its old firing applies fires once, by a firing of its own', async () => {
    const { world, setAt } = await changeWhileFiringInFlight({ type: 'set', name: 't', ms: 5 });
    await world.advance(1_000);
    await oneFiringEverywhere(world, setAt + 5);
  });
});
