// @ts-check
/**
 * `npm run mutate`: mutation testing (Stryker) of every file that holds a rule (see `mutate`) against the
 * tests that guard them. Not part of `npm test` or CI: the whole scope takes hours on 2 cores;
 * `npm run mutate:changed` (dev/mutate-changed.ts) mutates only the files a change touched, incrementally.
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
  // Every file that holds a rule: the machine, the call core, telephony, the records, languages, the
  // eval's scores, the settings. `npm run mutate:changed` narrows this to what a change touched.
  mutate: [
    'machines/**/*.ts',
    'src/call/**/*.ts',
    'src/telephony/**/*.ts',
    'src/records/**/*.ts',
    'src/language.ts',
    'src/eval/score.ts',
    'src/config.ts',
    'src/inspector/auth.ts',
  ],
  concurrency: 2,
  timeoutMS: 20_000,
  timeoutFactor: 2,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // Incremental: a later run re-tests only mutants whose code or tests changed (`--incremental`).
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  thresholds: { high: 90, low: 85, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  ignorePatterns: ['data', 'reports', 'bench', '.stryker-tmp'],
};
