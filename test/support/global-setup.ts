/**
 * `npm test` leaves no trace: call records go to a temp database (CALLS_DB, inherited by every test and
 * every process a test starts), and after the run the working tree and `data/` must be as they were —
 * otherwise the run fails, naming what changed. (`npm run docs:shots`, DOCS_SHOTS=1, may rewrite docs/*.png.)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Tracked files changed and untracked files added (git), and what `data/` holds. */
function snapshot(): string[] {
  const lines: string[] = [];
  try {
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: REPO, encoding: 'utf8' });
    lines.push(...status.split('\n').filter(Boolean).map((l) => `git: ${l}`));
  } catch {
    /* not a git checkout: the data/ check still runs */
  }
  const data = join(REPO, 'data');
  if (existsSync(data)) {
    for (const f of readdirSync(data)) {
      const st = statSync(join(data, f));
      lines.push(`data/${f}: ${st.size} bytes, modified ${st.mtimeMs}`);
    }
  }
  return lines.filter((l) => !(process.env.DOCS_SHOTS === '1' && /docs\/[\w-]+\.png$/.test(l)));
}

/** What this machine lacks, and so what is skipped, said before the run (with CI=true these fail instead). */
function sayWhatIsSkipped(): void {
  const notes: string[] = [];
  if (!process.env.TEST_DATABASE_URL) {
    notes.push('PostgreSQL: TEST_DATABASE_URL is not set, so the records tests on PostgreSQL are skipped (bash .ci/run installs and starts one).');
  }
  if (!existsSync('/usr/bin/chromium')) {
    notes.push('Chromium: /usr/bin/chromium is missing, so the inspector and eval browser tests are skipped (apt-get install -y chromium).');
  }
  if (notes.length && !process.env.CI) process.stdout.write(`${notes.map((n) => `note: ${n}`).join('\n')}\n`);
}

export default function setup(): () => void {
  sayWhatIsSkipped();
  const tmp = mkdtempSync(join(tmpdir(), 'switchboard-test-'));
  process.env.CALLS_DB = join(tmp, 'calls.sqlite');
  const before = snapshot();
  return () => {
    rmSync(tmp, { recursive: true, force: true });
    const after = snapshot();
    const changed = [...after.filter((l) => !before.includes(l)), ...before.filter((l) => !after.includes(l)).map((l) => `gone: ${l}`)];
    if (changed.length) throw new Error(`npm test changed files outside temp directories:\n  ${changed.join('\n  ')}`);
  };
}
