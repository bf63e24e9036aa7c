/**
 * For the fleet benchmark (figure 8), in its own process: one worker process of the fleet. It holds live
 * calls (`FleetCall`: the real routing machine, a scripted conversation), each linked to the inspector by
 * the product's own `attachInspector` — one WebSocket per call, as each job process of a LiveKit worker
 * opens its own. A call that ends is replaced by a new one, so the process keeps its number of live calls.
 *
 * Options as one JSON argument (`{ url, token, index, seed, turnMs, durationMs }`); `{ pid }` back as one
 * JSON line. Lines on stdin, each answered with one JSON line:
 *   `add N`          N more live calls, of ages spread over a call's length (their past turns sent at once) → `{ calls }`
 *   `lines T0 T1`    transcript lines played live with `at` in [T0, T1] → `{ lines }`
 *   `messages`       messages posted to the links so far (hellos, events, snapshots) → `{ messages }`
 *   `linked`         live calls whose link to the inspector is open → `{ linked, calls }`
 * Exits when stdin closes.
 */
import { createInterface } from 'node:readline';
import type { Call } from '../src/call/call.js';
import { type InspectorLink, attachInspector } from '../src/inspector/client.js';
import { seededRandom } from '../src/records/webhooks.js';
import { FleetCall } from './fleet-call.js';

interface WorkerOptions {
  url: string;
  token?: string;
  index: number;
  seed: number;
  turnMs: [number, number];
  durationMs: [number, number];
}

const opts = JSON.parse(process.argv[2] ?? '{}') as WorkerOptions;
const random = seededRandom(opts.seed);
const worker = `fleet-worker-${opts.index}:${process.pid}`;
/** Each live call and its link to the inspector. */
const live = new Map<FleetCall, InspectorLink>();
/** `at` of every transcript line played live, in order. */
const lineTimes: number[] = [];
let messages = 0;
let seq = 0;
let closing = false;

function startCall(ageFraction: number): void {
  const durationMs = opts.durationMs[0] + random() * (opts.durationMs[1] - opts.durationMs[0]);
  const call = new FleetCall({
    callId: `fleet-${opts.index}-${++seq}`,
    random: seededRandom(Math.floor(random() * 2 ** 32)),
    ageMs: Math.floor(ageFraction * durationMs * 0.95),
    durationMs,
    turnMs: opts.turnMs,
    onLine: (at) => lineTimes.push(at),
  });
  call.begin();
  // What the link posts: a hello, the call's events so far, then each event and each snapshot.
  messages += 1 + call.events.length;
  call.on('event', () => messages++);
  call.actor.system.inspect((ev) => {
    if (ev.type === '@xstate.snapshot' && ev.actorRef === call.actor) messages++;
  });
  // `attachInspector` reads only what FleetCall carries of a Call (see ./fleet-call.ts).
  const link = attachInspector(call as unknown as Call, { url: opts.url, token: opts.token, worker });
  call.goLive();
  live.set(call, link);
  void call.finished.then(() => {
    live.delete(call);
    if (!closing) startCall(0);
  });
}

/** How many lines have `at` in [t0, t1] (lineTimes is in order). */
function linesBetween(t0: number, t1: number): number {
  let n = 0;
  for (let i = lineTimes.length - 1; i >= 0 && lineTimes[i]! >= t0; i--) if (lineTimes[i]! <= t1) n++;
  return n;
}

process.stdout.write(`${JSON.stringify({ pid: process.pid })}\n`);
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, a, b] = line.trim().split(/\s+/);
  let answer: Record<string, unknown> = {};
  if (cmd === 'add') {
    const n = Number(a);
    for (let k = 0; k < n; k++) startCall(random());
    answer = { calls: live.size };
  } else if (cmd === 'lines') answer = { lines: linesBetween(Number(a), Number(b)) };
  else if (cmd === 'messages') answer = { messages };
  else if (cmd === 'linked') answer = { linked: [...live.values()].filter((l) => l.connected()).length, calls: live.size };
  process.stdout.write(`${JSON.stringify(answer)}\n`);
});
rl.on('close', () => {
  closing = true;
  for (const call of live.keys()) call.stop();
  process.exit(0);
});
