/** What the batch commands (`npm run eval`, `npm run simulate`) share: a progress bar, and a pool that runs N jobs at once. */

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
