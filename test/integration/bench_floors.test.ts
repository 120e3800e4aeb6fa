// The latency benchmark's floors, measured by real child processes: a bare
// NATS round trip, fdatasync with several writers at once, and the whole
// replication path with raw bytes instead of Raft. The
// helpers fork their own module, so they run from the build (npm test builds
// first), as the benchmarks do.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NatsServer } from '../helpers/nats_server.js';

type Floor = { p50Ms: number; p99Ms: number };
type RoundTripFloor = Floor & { cpuUs: { echo: number; server: number | undefined; caller: number } };
const lib = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/benchmarks/lib');
const load = async <T>(name: string): Promise<T> => (await import(pathToFileURL(resolve(lib, name)).href)) as T;

let server: NatsServer;
beforeAll(async () => {
  server = await NatsServer.start();
});
afterAll(async () => {
  await server.close();
});

/** A floor is a pair of positive, finite times, p99 no lower than p50. */
function expectFloor(f: Floor): void {
  expect(Number.isFinite(f.p50Ms) && Number.isFinite(f.p99Ms)).toBe(true);
  expect(f.p50Ms).toBeGreaterThan(0);
  expect(f.p99Ms).toBeGreaterThanOrEqual(f.p50Ms);
}

describe('benchmark floors', () => {
  it('times a bare round trip through nats-server between two processes, and the CPU each process spent on it', async () => {
    const { natsRoundTrip } = await load<{ natsRoundTrip(url: string, serverPid: number | undefined, count: number, warmup: number): Promise<RoundTripFloor> }>('nats_floor.js');
    const f = await natsRoundTrip(server.url, server.pid, 200, 20);
    expectFloor(f);
    // /proc counts in 10 ms ticks: 200 round trips may round to zero, never below it.
    for (const us of [f.cpuUs.echo, f.cpuUs.server, f.cpuUs.caller]) {
      expect(Number.isFinite(us)).toBe(true);
      expect(us).toBeGreaterThanOrEqual(0);
    }
  });

  it('times the replication path without Raft: client, leader and two followers that each sync, answered at two durable copies', async () => {
    const { pipelineFloor } = await load<{ pipelineFloor(url: string, count: number, warmup: number): Promise<Floor> }>('pipeline_floor.js');
    const f = await pipelineFloor(server.url, 200, 20);
    expectFloor(f);
    // Four trips through nats-server and a durable write cannot all take less than one bare round trip.
    const { natsRoundTrip } = await load<{ natsRoundTrip(url: string, serverPid: number | undefined, count: number, warmup: number): Promise<RoundTripFloor> }>('nats_floor.js');
    const bare = await natsRoundTrip(server.url, undefined, 200, 20);
    expect(f.p50Ms).toBeGreaterThan(bare.p50Ms);
  });

  it('times write-and-fdatasync with three processes syncing at once', async () => {
    const { concurrentSync } = await load<{ concurrentSync(writers: number, count: number): Promise<Floor> }>('fsync_floor.js');
    expectFloor(await concurrentSync(3, 50));
  });
});
