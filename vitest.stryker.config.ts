/**
 * The tests `npm run mutate` (Stryker, see stryker.config.mjs) runs against its mutants: the fast ones that
 * guard the mutated files. The full suite is `vitest.config.ts`.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'test/machine.test.ts',
      'test/router-guards.test.ts',
      'test/context.test.ts',
      'test/handoff-timing.test.ts',
      'test/webhook-signature.test.ts',
      'test/sqlite-durability.test.ts',
      'test/interrupted-calls.test.ts',
      'test/inspector-auth.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
