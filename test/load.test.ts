/**
 * Nothing lost, part 6: 50 simultaneous text calls in one process, each with its own caller and three
 * transfers, through the real orchestrator, the real OpenAI plugin and one scripted server. Nothing
 * leaks between calls — every LLM request of a call (tagged by its API key) carries only its own
 * caller's name, account and lines, and each route is its own script's — and the heap returns near its
 * baseline once the calls are over.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../src/call/call.js';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import { callTools, directiveScript, requestsOf, sleep, startCall, startServer } from './support/harness.js';

const CALLS = 50;
const MB = 1024 * 1024;

/** `global.gc`, exposed at run time when the process was not started with --expose-gc. */
function getGc(): (() => void) | null {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
}

async function settledHeap(gc: (() => void) | null): Promise<number> {
  for (let i = 0; i < 4; i++) {
    await sleep(50);
    gc?.();
  }
  return process.memoryUsage().heapUsed;
}

interface Caller {
  n: number;
  name: string;
  accountId: string;
  phoneNumber: string;
  lines: string[];
  route: [string, string][];
}

/** Fixed-width ids, so no caller's id is a substring of another's. */
function callerFor(n: number): Caller {
  const id = String(n).padStart(2, '0');
  const name = `Nova${id}q`;
  const accountId = `AC-77${id}`;
  const phoneNumber = `+1415555${id}00`;
  const viaBilling = n % 2 === 0;
  return {
    n,
    name,
    accountId,
    phoneNumber,
    lines: [
      callTools({ name: 'update_caller_info', arguments: { name, accountId } }),
      viaBilling ? `This is ${name}: I was charged twice on my card` : `This is ${name}: my internet is not working`,
      `${name} again, I also want to upgrade my plan`,
      viaBilling ? `${name} here, yes, upgrade my plan please` : `${name} here, I also need a refund`,
      "That's all, bye",
    ],
    route: viaBilling
      ? [
          ['triage', 'billing'],
          ['billing', 'triage'],
          ['triage', 'sales'],
        ]
      : // Each second need is passed on from the line that states it (chained transfers).
        [
          ['triage', 'support'],
          ['support', 'triage'],
          ['triage', 'sales'],
          ['sales', 'triage'],
          ['triage', 'billing'],
        ],
  };
}

const NAME = /Nova\d\dq/g;
const ACCOUNT = /AC-77\d\d/g;
const PHONE = /\+1415555\d\d00/g;

let server: ScriptedServer;

beforeAll(async () => {
  const base = directiveScript();
  // Each call answers with its own latency (0–80 ms to the first token), so turns interleave.
  server = await startServer(async (req, rec) => {
    const n = Number(/load-(\d+)/.exec(rec.authorization ?? '')?.[1] ?? 0);
    return { ...(await base(req, rec)), ttftMs: (n * 17) % 81, chunkDelayMs: n % 3 };
  });
});
afterAll(async () => {
  await server.close();
});

/** Checks one finished call against its own script: nothing of any other caller anywhere. */
function expectOwnCallOnly(call: Call, c: Caller) {
  const where = `${call.callId} (${c.name})`;
  const reqs = requestsOf(server, call);
  expect(reqs.length, where).toBeGreaterThanOrEqual(8);
  for (const r of reqs) {
    expect(r.invalid, where).toBeUndefined();
    const body = JSON.stringify(r.body);
    expect(new Set(body.match(NAME) ?? []), where).toEqual(new Set(body.match(NAME) ? [c.name] : []));
    expect(new Set(body.match(ACCOUNT) ?? []), where).toEqual(new Set(body.match(ACCOUNT) ? [c.accountId] : []));
    expect(new Set(body.match(PHONE) ?? []), where).toEqual(new Set(body.match(PHONE) ? [c.phoneNumber] : []));
  }
  // Its own details did reach its own requests (the check above is not vacuous).
  const last = JSON.stringify(reqs.at(-1)!.body);
  expect(last, where).toContain(c.name);
  expect(last, where).toContain(c.accountId);
  expect(last, where).toContain(c.phoneNumber);
  // Its transcript is its own lines, in order, and its history speaks only of its own caller.
  const users = call.events.filter((e) => e.type === 'user').map((e) => (e as { text: string }).text);
  expect(users, where).toEqual(c.lines);
  const allText = JSON.stringify(call.events) + JSON.stringify(call.session.history.toJSON());
  expect(new Set(allText.match(NAME)), where).toEqual(new Set([c.name]));
  expect(new Set(allText.match(ACCOUNT)), where).toEqual(new Set([c.accountId]));
  // Its route is its own script's, and it ended on its own goodbye.
  const ctx = call.actor.getSnapshot().context;
  expect(ctx.route.map((r) => [r.from, r.to]), where).toEqual(c.route);
  expect(ctx.caller, where).toMatchObject({ name: c.name, accountId: c.accountId, phoneNumber: c.phoneNumber });
  expect(call.events.at(-1), where).toMatchObject({ type: 'end', state: 'ended', handoffCount: c.route.length });
  expect(call.events.filter((e) => e.type === 'error' || e.type === 'rejected'), where).toEqual([]);
  const handoffs = call.events
    .filter((e) => e.type === 'handoff')
    .map((e) => [(e as { from: string }).from, (e as { to: string }).to]);
  expect(handoffs, where).toEqual(c.route);
}

/**
 * Node 20's built-in HTTP client (undici, behind `fetch`) runs its connect and keep-alive timeouts on
 * one process-wide timer. Each time that timer is re-armed after it went idle, it takes on the async
 * context of whoever re-armed it (Node re-initialises a fired Timeout's async resource on `refresh()`)
 * and keeps it until the next time. When that was the last call to open a connection, that one call
 * stays reachable until the process next talks HTTP. At most one call, never more: not a leak, but it
 * would hide one. So while polling, the test talks HTTP from outside any call on a fresh connection,
 * then closes it: once the timer has gone idle, this re-arms it in the test's own context.
 */
async function httpOutsideCalls() {
  const res = await fetch(`${server.url}/models`);
  await res.arrayBuffer();
  server.dropConnections();
}

/** One call start to end, alone (warms up modules, JIT and the HTTP pool). */
async function warmUp() {
  const call = await startCall(server, { caller: { phoneNumber: '+10000000000' } });
  await call.session.run({ userInput: 'I was charged twice on my card' }).wait();
  await call.close('warm-up over');
}

/**
 * Runs the calls at once and checks them. Returns only weak references: once this returns, nothing of
 * the test holds a call (so the heap check below measures the calls' own leftovers).
 */
async function runCalls(): Promise<{ refs: WeakRef<Call>[]; maxLive: number; requests: number; elapsedMs: number }> {
  const t0 = performance.now();
  const callers = Array.from({ length: CALLS }, (_, n) => callerFor(n));
  const calls = await Promise.all(
    callers.map((c) => startCall(server, { caller: { phoneNumber: c.phoneNumber }, maxHandoffs: 6 })),
  );
  // The API key (= call id) tags each call's requests; the scripted latency is keyed on it too.
  expect(new Set(calls.map((c) => c.callId)).size).toBe(CALLS);
  expect(calls.every((c) => c.machineState === 'triage')).toBe(true);

  let maxLive = 0;
  let running = 0;
  await Promise.all(
    calls.map(async (call, i) => {
      running++;
      maxLive = Math.max(maxLive, running);
      for (const line of callers[i]!.lines) {
        if ((call.machineState as string) === 'ended') break;
        await call.session.run({ userInput: line }).wait();
        expect(call.machineState === 'ended' || call.machineState === call.activeRole).toBe(true);
      }
      await call.finished;
      running--;
    }),
  );
  const elapsedMs = Math.round(performance.now() - t0);
  calls.forEach((call, i) => expectOwnCallOnly(call, callers[i]!));
  return { refs: calls.map((c) => new WeakRef(c)), maxLive, requests: server.chatRequests().length, elapsedMs };
}

describe(`${CALLS} simultaneous calls`, () => {
  it('no caller info, history or route leaks between calls; memory returns near its baseline', async () => {
    const gc = getGc();
    await warmUp();
    server.requests.length = 0;
    const baseline = await settledHeap(gc);

    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 25);
    const { refs, maxLive, requests, elapsedMs } = await runCalls();
    clearInterval(sampler);
    expect(maxLive).toBe(CALLS);

    // ---- memory ----
    server.requests.length = 0; // the test server's log of request bodies is not the calls' memory
    // Every call must become collectable. Pooled keep-alive HTTP sockets hold the async context they
    // were opened in (a call's AgentActivity) until they idle out; the test's server closes them (a
    // real provider does the same on its own schedule), then we poll.
    server.dropConnections();
    const waitStart = Date.now();
    let alive = CALLS;
    let after = 0;
    do {
      after = await settledHeap(gc);
      alive = refs.filter((r) => r.deref() !== undefined).length;
      if (alive === 0 || !gc) break;
      await httpOutsideCalls();
      await sleep(1200); // > undici's 1 s timer resolution: its timer goes idle before the next round
    } while (Date.now() - waitStart < 15_000);
    const figures = {
      calls: CALLS,
      requests,
      elapsedMs,
      gc: gc ? 'yes' : 'no',
      baselineMB: +(baseline / MB).toFixed(1),
      peakMB: +(peak / MB).toFixed(1),
      afterMB: +(after / MB).toFixed(1),
      callsStillReachable: gc ? alive : 'unknown',
      collectedAfterMs: Date.now() - waitStart,
    };
    console.log(`load: ${JSON.stringify(figures)}`);
    if (gc) expect(alive, JSON.stringify(figures)).toBe(0);
    expect(after - baseline, JSON.stringify(figures)).toBeLessThan(30 * MB);
  }, 60_000);
});
