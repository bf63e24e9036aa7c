/**
 * `npm run mutate:changed [-- --base REV]`: mutation testing of what a change touched — the files in
 * Stryker's scope (stryker.config.mjs `mutate`) that differ from `--base` (default `origin/main` when it
 * exists, else `HEAD~1`), uncommitted changes included — run incrementally, so mutants whose code and tests
 * did not change keep their last result. Nothing in scope changed: says so, exit 0.
 */
import { execFileSync, spawnSync } from 'node:child_process';

const strykerConfig: string = '../stryker.config.mjs';
const config = ((await import(strykerConfig)) as { default: { mutate?: string[] } }).default;

/** Stryker's `mutate` globs as they are written there: `dir/**\/*.ts`, or a file (a `:from-to` line range dropped). */
export function matchesGlob(file: string, glob: string): boolean {
  const pattern = glob
    .replace(/:\d+-\d+$/, '')
    .split('**/')
    .map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*'))
    .join('(?:.*/)?');
  return new RegExp(`^${pattern}$`).test(file);
}

function git(...args: string[]): string | null {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

const argv = process.argv.slice(2);
const at = argv.indexOf('--base');
const base = at >= 0 ? argv[at + 1] : git('rev-parse', '--verify', '-q', 'origin/main') ? 'origin/main' : 'HEAD~1';
if (!base || git('rev-parse', '--verify', '-q', `${base}^{commit}`) === null) {
  process.stderr.write(`mutate:changed: ${base ?? '--base needs a revision'} is not a revision of this repository\n`);
  process.exit(2);
}
const changed = (git('diff', '--name-only', base, '--') ?? '').split('\n').filter(Boolean);
const scope = config.mutate ?? [];
const files = changed.filter((f) => scope.some((glob) => matchesGlob(f, glob)));
if (!files.length) {
  process.stdout.write(`mutate:changed: nothing in the mutation scope changed since ${base}\n`);
  process.exit(0);
}
process.stdout.write(`mutate:changed: ${files.length} file(s) changed since ${base}: ${files.join(', ')}\n`);
const run = spawnSync('npx', ['stryker', 'run', '--incremental', '--mutate', files.join(',')], { stdio: 'inherit' });
process.exit(run.status ?? 1);
