// @ts-check
/**
 * `npm run mutate`: mutation testing (Stryker) of what matters most — the routing machine, the history a
 * new desk inherits, handoff timing, webhook signing, SQLite writes and the inspector's token — against
 * the fast tests that guard them. Not part of `npm test` or CI: it takes a while (2 cores).
 *
 * Tests: `vitest.stryker.config.ts` lists the test files it runs; with `related`, Stryker's vitest runner
 * further limits each run to tests that import the mutated file, and per-test coverage limits each
 * mutant to the tests that reach it. Mutants that do not type-check are discarded first
 * (`tsconfig.stryker.json`: the sources only, so a test file being edited elsewhere does not block a run).
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  packageManager: 'npm',
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.stryker.config.ts', related: true },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.stryker.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  mutate: [
    'machines/router.ts',
    'src/call/context.ts',
    'src/call/handoff.ts',
    'src/inspector/auth.ts',
    // Webhook signing: the key, the signature, the receiver's check, the signed headers.
    'src/records/webhooks.ts:95-132',
    'src/records/webhooks.ts:197-209',
    // SQLite writes: durability settings, the transaction, events + calls row + outbox, interrupted marking.
    'src/records/sqlite.ts:71-88',
    'src/records/sqlite.ts:117-130',
    'src/records/sqlite.ts:150-200',
  ],
  concurrency: 2,
  timeoutMS: 20_000,
  timeoutFactor: 2,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 85, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  ignorePatterns: ['data', 'reports', 'bench', 'docs', '.stryker-tmp'],
};
