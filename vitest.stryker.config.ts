/**
 * The tests `npm run mutate` (Stryker, see stryker.config.mjs) runs against its mutants: the fast ones that
 * guard the mutated files. The full suite is `vitest.config.ts`.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The tests that guard the mutated files without a browser, a child process or audio (Stryker's
    // `related` runs only those that import the mutant's file).
    include: [
      'test/machine.test.ts',
      'test/router-guards.test.ts',
      'test/transfers-offered.test.ts',
      'test/context.test.ts',
      'test/handoff-timing.test.ts',
      'test/handoff-latency.test.ts',
      'test/prepared-rules.test.ts',
      'test/prepared-freshness.test.ts',
      'test/seam.test.ts',
      'test/keypad.test.ts',
      'test/bad-input.test.ts',
      'test/faults.test.ts',
      'test/arguments.test.ts',
      'test/telephony.test.ts',
      'test/warm-transfer.test.ts',
      'test/webhook-signature.test.ts',
      'test/webhooks.test.ts',
      'test/records.test.ts',
      'test/sqlite-durability.test.ts',
      'test/interrupted-calls.test.ts',
      'test/inspector-auth.test.ts',
      'test/language.test.ts',
      'test/eval-score.test.ts',
      'test/config.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
