// The machine's `tick` hook: called periodically on every member with its own
// clock, its sends carried out by the leader only, and nothing it does can
// change the replicated state or crash the member.
import { describe, expect, it } from 'vitest';
import { World } from '../../../src/sim/world.js';
import type { ApplyMeta, ApplyResult, Destination, Machine, MachineEffect, TickEffect } from '../../../src/index.js';

type GaugeCommand = { readonly type: 'add' } | { readonly type: 'report_to'; readonly to: Destination } | { readonly type: 'mood'; readonly mood: Mood };
/** How the machine's tick behaves: normally, throwing, or asking to monitor a node (which a tick may not). */
type Mood = 'calm' | 'throw' | 'monitor';
interface GaugeState {
  size: number;
  to: Destination | null;
  mood: Mood;
  /** Downs delivered (only a tick ever asks for a monitor, so this must stay 0). */
  downs: number;
}

/** Counts adds; its tick reports the count to a subscriber. Each instance notes the times it was ticked. */
class GaugeMachine implements Machine<GaugeState, GaugeCommand, number> {
  readonly ticks: number[] = [];
  init(): GaugeState {
    return { size: 0, to: null, mood: 'calm', downs: 0 };
  }
  apply(_meta: ApplyMeta, cmd: GaugeCommand, state: GaugeState): ApplyResult<GaugeState, number> {
    if (cmd.type === 'add') state.size++;
    else if (cmd.type === 'report_to') state.to = cmd.to;
    else state.mood = cmd.mood;
    return { state, reply: state.size };
  }
  down(_meta: ApplyMeta, _node: string, state: GaugeState): ApplyResult<GaugeState, never> {
    state.downs++;
    return { state };
  }
  tick(time: number, state: GaugeState): readonly TickEffect[] {
    this.ticks.push(time);
    if (state.mood === 'throw') throw new Error('tick failed');
    // A node that does not exist is down: a monitor carried out would bring a down through the log.
    if (state.mood === 'monitor') return [{ type: 'monitor', node: 'ghost' } as MachineEffect as TickEffect];
    return state.to === null ? [] : [{ type: 'send', to: state.to, msg: state.size }];
  }
  readonly queries = { downs: (state: GaugeState) => state.downs };
}

const nodes = ['n1', 'n2', 'n3'];

async function gaugeWorld(machineTickMs?: number): Promise<{ world: World; machines: GaugeMachine[]; leader: string }> {
  const machines: GaugeMachine[] = [];
  const world = new World({
    seed: 9,
    nodes,
    ...(machineTickMs === undefined ? {} : { machineTickMs }),
    machines: { gauge: () => (machines.push(new GaugeMachine()), machines.at(-1) as GaugeMachine) },
  });
  for (const n of nodes) await world.startNode(n);
  await world.settle(world.system('n1').startCluster('g', 'gauge', nodes));
  await world.settle(world.system('n1').processCommand('g', { type: 'add' }));
  const { leader } = await world.settle(world.system('n1').members('g'));
  if (leader === undefined) throw new Error('no leader');
  return { world, machines, leader };
}

describe('machine tick', () => {
  it('ticks every member with its clock; only the leader sends what a tick returns', async () => {
    const { world, machines } = await gaugeWorld(500);
    const reports: unknown[] = [];
    const to = world.system('n2').subscribe((msg) => reports.push(msg));
    await world.settle(world.system('n3').processCommand('g', { type: 'report_to', to }));
    const all = machines;
    expect(all).toHaveLength(3); // one machine per member
    const before = all.map((m) => m.ticks.length);
    const start = world.clock.now();
    reports.length = 0;
    await world.advance(5_000);
    for (const [i, m] of all.entries()) {
      const ticked = m.ticks.length - (before[i] as number);
      expect(ticked).toBeGreaterThanOrEqual(9);
      expect(ticked).toBeLessThanOrEqual(11);
      expect(m.ticks.at(-1)).toBeGreaterThan(start);
    }
    // Once per tick of the leader, not once per member.
    expect(reports.length).toBeGreaterThanOrEqual(9);
    expect(reports.length).toBeLessThanOrEqual(11);
    expect(new Set(reports)).toEqual(new Set([1]));
    await world.settle(world.system('n1').processCommand('g', { type: 'add' }));
    reports.length = 0;
    await world.advance(1_000);
    expect(reports).toEqual([2, 2]);
  });

  it('goes on with a new leader when the leader fails', async () => {
    const { world, leader } = await gaugeWorld(500);
    const listener = nodes.find((n) => n !== leader) as string;
    const reports: unknown[] = [];
    const to = world.system(listener).subscribe((msg) => reports.push(msg));
    await world.settle(world.system(listener).processCommand('g', { type: 'report_to', to }));
    world.crash(leader);
    await world.advance(3_000); // an election, then ticks of the new leader
    reports.length = 0;
    await world.advance(2_000);
    expect(reports.length).toBeGreaterThanOrEqual(3);
    const { leader: next } = await world.settle(world.system(listener).members('g'));
    expect(next).not.toBe(leader);
  });

  it('survives a tick that throws, and ignores effects other than sends', async () => {
    const { world, leader, machines } = await gaugeWorld(500);
    const reports: unknown[] = [];
    const to = world.system(leader).subscribe((msg) => reports.push(msg));
    await world.settle(world.system(leader).processCommand('g', { type: 'report_to', to }));
    for (const mood of ['throw', 'monitor'] as const) {
      await world.settle(world.system(leader).processCommand('g', { type: 'mood', mood }));
      reports.length = 0;
      await world.advance(2_000);
      expect(reports).toEqual([]);
    }
    await world.settle(world.system(leader).processCommand('g', { type: 'mood', mood: 'calm' }));
    await world.advance(1_000);
    expect(reports.length).toBeGreaterThanOrEqual(1);
    expect(await world.settle(world.system(leader).members('g'))).toMatchObject({ leader, role: 'leader' });
    for (const n of nodes) expect(await world.settle(world.system(n).localQuery('g', { name: 'downs' }))).toBe(0);
    expect(machines).toHaveLength(3); // no member was restarted (a restart makes a new machine)
  });

  it('never ticks with machineTickMs 0', async () => {
    const { world, machines } = await gaugeWorld(0);
    await world.advance(5_000);
    expect(machines.map((m) => m.ticks.length)).toEqual([0, 0, 0]);
  });
});
