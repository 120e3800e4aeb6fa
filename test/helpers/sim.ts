// A deterministic actor world for unit tests: SimClock, seeded scheduling
// order and a logger that keeps crash reports out of the test output.
import { ActorSystem, type ActorSystemOptions } from '../../src/actors/actor_system.js';
import { SimClock } from '../../src/io/sim_clock.js';
import { SeededRandom } from '../../src/io/random.js';
import { memoryLogger } from '../../src/lib/logger.js';

export function simWorld(seed = 1, options: ActorSystemOptions = {}) {
  const clock = new SimClock();
  const random = new SeededRandom(seed);
  const logger = memoryLogger();
  const system = new ActorSystem({ clock, random, shuffle: true, sliceMax: 4, drainMax: 8, logger, ...options });
  return { clock, random, logger, system };
}

/** A promise's outcome as a word: 'ok', or the error's code (for asserting on typed failures). */
export function outcomeCode(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'ok',
    (err: { code?: unknown }) => err.code,
  );
}
