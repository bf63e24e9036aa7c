import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 2,
    // A short report: a dot per test, then the failures and the summary; what a passing test prints is kept
    // out (a failing test's output is shown with it). `npx vitest run --reporter=default` lists every test.
    reporters: ['dot'],
    silent: 'passed-only',
  },
});
