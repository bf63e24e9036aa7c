import { defineConfig } from 'vitest/config';

/** What every test runs with. */
const each = { testTimeout: 30_000, hookTimeout: 30_000, pool: 'forks' as const };

export default defineConfig({
  test: {
    // Once per run (not per project): a temp CALLS_DB for everyone, the skip notes, the no-trace check.
    globalSetup: ['test/support/global-setup.ts'],
    maxWorkers: 2,
    // A short report: a dot per test, then the failures and the summary; what a passing test prints is kept
    // out (a failing test's output is shown with it). `npx vitest run --reporter=default` lists every test.
    reporters: ['dot'],
    silent: 'passed-only',
    // The voice calls run in real time and measure silences in the sound: they run after the rest, so no
    // burst of other tests (the model-based paths run concurrently) starves their audio of the CPU.
    projects: [
      { test: { ...each, name: 'calls', include: ['test/**/*.test.ts'], exclude: ['test/voice/**'], sequence: { groupOrder: 0 } } },
      // One voice file at a time: `npm run voice` processes (voice-cli) beside a real-time call starve its VAD.
      // A voice call that fails is played once more: its silences are measured in real time on a 2-core
      // machine, where a scheduling hiccup can add 60 ms to one seam (a broken rule fails both plays).
      {
        test: {
          ...each,
          name: 'voice',
          include: ['test/voice/**/*.test.ts'],
          fileParallelism: false,
          retry: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
