/** `npm run calls` as a process (its own entry, an empty settings file, UTC), for the tests that read it. */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

/** Runs `src/cli/calls.ts` with these arguments and settings; `tmp` holds its empty `.env`. */
export function runCallsCli(
  tmp: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const emptyEnv = join(tmp, 'empty.env');
  writeFileSync(emptyEnv, '');
  return new Promise((res, rej) => {
    const child = spawn(TSX, ['src/cli/calls.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ENV_FILE: emptyEnv, TZ: 'UTC', CALLS_DB: process.env.CALLS_DB, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`calls CLI did not exit\n${stderr}`));
    }, 30_000);
    child.on('error', rej);
    child.on('close', (code) => {
      clearTimeout(t);
      res({ code, stdout, stderr });
    });
  });
}
