/** A batch command (`npm run eval`, `npm run simulate`) as a process, against a model server, for the tests that read it. */
import { spawn } from 'node:child_process';

const REPO = new URL('../..', import.meta.url).pathname;

/** Runs `src/cli/<name>.ts` with these arguments, the model at `modelUrl` (no key) and these settings. */
export function runBatchCli(name: string, modelUrl: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn('npx', ['tsx', `src/cli/${name}.ts`, ...args], {
      cwd: REPO,
      env: { ...process.env, OPENAI_BASE_URL: modelUrl, OPENAI_API_KEY: '', LOG_LEVEL: 'fatal', ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}
