import { defineConfig } from 'vitest/config';

// Two projects: `unit` runs in parallel and must be deterministic (SimClock,
// simulated disk); `integration` runs serially against real files, child
// processes and nats-server, with longer timeouts, and only after `unit` has
// finished: its real timers (150-300 ms elections) must not compete for the
// two cores with the simulator's sweeps.
export default defineConfig({
  test: {
    // The JSON report is what .ci/run reads for its closing `N passed, N failed` line.
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-report.json' },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          sequence: { groupOrder: 0 },
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 60_000,
          fileParallelism: false,
          maxWorkers: 1,
        },
      },
    ],
  },
});
