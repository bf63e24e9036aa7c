/**
 * What the batch commands (`npm run eval`, `npm run simulate`) share: how they exit on a bad option or
 * something to fix, their reports folder, a progress bar, and a pool that runs N jobs at once.
 */
import { mkdirSync } from 'node:fs';

/** `fail`: a bad option, one line and the usage; `stop`: something to fix before a run, one line. Both exit 2. */
export function exitsFor(program: string, usage: string): { fail: (message: string) => never; stop: (message: string) => never } {
  return {
    fail: (message) => {
      process.stderr.write(`${program}: ${message}\n${usage}\n`);
      process.exit(2);
    },
    stop: (message) => {
      process.stderr.write(`${program}: ${message}\n`);
      process.exit(2);
    },
  };
}

/** The reports folder, made if need be; one that cannot be written stops the run before it starts. */
export function reportsFolder(out: string, stop: (message: string) => never): void {
  try {
    mkdirSync(out, { recursive: true });
  } catch (err) {
    stop(`cannot write the reports to --out ${out} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** A progress bar on stderr: redrawn in place at a terminal, one line per tenth otherwise. */
export function progress(total: number): (done: number) => void {
  let lastTenth = -1;
  return (done) => {
    const bar = `[${'#'.repeat(Math.round((done / total) * 30)).padEnd(30, '.')}] ${done}/${total}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${bar}${done === total ? '\n' : ''}`);
    else if (Math.floor((done / total) * 10) > lastTenth) {
      lastTenth = Math.floor((done / total) * 10);
      process.stderr.write(`${bar}\n`);
    }
  };
}

/** Runs `job` on every item, at most `concurrency` at once, with a progress bar; results in the items' order. */
export async function inPool<T, R>(items: T[], concurrency: number, job: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  const tick = progress(items.length);
  let next = 0;
  let done = 0;
  tick(0);
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await job(items[i]!);
      tick(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
