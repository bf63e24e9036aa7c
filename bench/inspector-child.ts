/**
 * For the inspector benchmark, in its own process: optionally an inspector server (the production
 * topology: the worker's inspector is not in the call's process), and pages watching `/feed`s (reading
 * everything, as browsers elsewhere would). Options as one JSON argument; `{ url }` back as one JSON
 * line. A `cpu` line on stdin is answered with this process's CPU time so far (`{ cpuMs }`). Exits when
 * stdin closes.
 */
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { startInspectorServer } from '../src/inspector/server.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as { serve?: boolean; watch?: string[] };
const origin = opts.serve ? new URL((await startInspectorServer({ port: 0 })).url).origin : undefined;
for (const feed of opts.watch ?? []) {
  const viewer = new WebSocket(`${feed.replace(/^http/, 'ws')}/feed`);
  viewer.on('message', () => undefined);
  await new Promise<void>((resolve, reject) => {
    viewer.once('open', () => resolve());
    viewer.once('error', reject);
  });
}
process.stdout.write(`${JSON.stringify({ url: origin, pid: process.pid })}\n`);
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (line.trim() !== 'cpu') return;
  const u = process.cpuUsage();
  process.stdout.write(`${JSON.stringify({ cpuMs: (u.user + u.system) / 1000 })}\n`);
});
rl.on('close', () => process.exit(0));
