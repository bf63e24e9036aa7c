/**
 * Handoff latency, as every reader of a call sees it: the `handoff` event, the stored events, the
 * records' digest (what the inspector's past calls and `npm run calls --json` show) and the
 * `call.transferred` webhook all carry the same positive number for the same transfer. A transfer takes
 * time (the new desk's first LLM request comes after the machine's answer), so 0 is a broken clock.
 *
 * Real call (scripted LLM server over HTTP), real SQLite file, real HTTP webhook receiver, the real CLI.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/call/events.js';
import { openRecords } from '../src/records/index.js';
import { seededRandom } from '../src/records/webhooks.js';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import { callTools, say, sleep, startCall, startServer, waitForEvent } from './support/harness.js';
import { runCallsCli } from './support/calls-cli.js';


let tmp: string;
let llm: ScriptedServer;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-latency-'));
  llm = await startServer();
});
afterAll(async () => {
  await llm?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function receiver() {
  const bodies: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      bodies.push(body);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    bodies,
    close: () => new Promise<void>((done) => (server.close(() => done()), server.closeAllConnections())),
  };
}

const callsCli = (args: string[], env: Record<string, string>) => runCallsCli(tmp, args, env);

type Handoff = CallEvent & { type: 'handoff' };

describe('handoff latency: one positive number, the same everywhere', () => {
  it('event, stored events, digest (inspector past calls), npm run calls --json and the webhook agree, and it is > 0', async () => {
    const rx = await receiver();
    const file = join(tmp, 'latency.sqlite');
    const records = (await openRecords(
      { CALLS_DB: file, CALL_WEBHOOK_URL: rx.url },
      { deliverer: { pollMs: 50, baseDelayMs: 50, maxDelayMs: 200, timeoutMs: 2000, random: seededRandom(1) } },
    ))!;
    try {
      const call = await startCall(llm, { dtmfMap: { '3': 'support' } });
      const recorder = records.attach(call, 'latency-test');
      // An agent's transfer (the new desk's reply prepared while the old line plays) …
      await say(call, callTools({ name: 'pass_control_to_billing', arguments: { reason: 'charged twice' } }));
      // … a supervisor's (no prepared reply: the new desk asks when it takes the line) …
      expect(call.requestTransfer('triage', 'supervisor sends it back', 'supervisor')).toMatchObject({ accepted: true });
      await waitForEvent(call, (e) => e.type === 'agent' && e.agent === 'triage' && call.events.some((h) => h.type === 'handoff' && h.to === 'triage'));
      // … and the caller's keypad.
      expect(call.pressKey('3')).toMatchObject({ accepted: true });
      await waitForEvent(call, (e) => e.type === 'agent' && e.agent === 'support');
      await sleep(100);
      await say(call, callTools({ name: 'end_call', arguments: { reason: 'done' } }));
      await call.finished;
      await recorder.done;

      // 1. The call's own events.
      const handoffs = call.events.filter((e): e is Handoff => e.type === 'handoff');
      expect(handoffs.map((h) => [h.from, h.to, h.source])).toEqual([
        ['triage', 'billing', 'agent'],
        ['billing', 'triage', 'supervisor'],
        ['triage', 'support', 'keypad'],
      ]);
      const latencies = handoffs.map((h) => h.latencyMs);
      for (const l of latencies) {
        expect(typeof l).toBe('number');
        expect(l!).toBeGreaterThan(0);
        expect(l!).toBeLessThan(10_000);
      }
      // The timings the call keeps agree with its events (rounded to 0.01 ms there).
      expect(call.handoffs.map((h) => Math.round(h.latencyMs! * 100) / 100)).toEqual(latencies);

      // 2. The stored events.
      const rec = (await records.store.getCall(call.callId))!;
      const stored = rec.events.filter((e) => e.type === 'handoff').map((e) => (e.event as Handoff).latencyMs);
      expect(stored).toEqual(latencies);

      // 3. The digest: the inspector's past call (timeline) …
      const view = (await records.inspector.get(call.callId))!;
      expect(view.timeline.slice(1).map((t) => t.latencyMs)).toEqual(latencies);

      // 4. … and `npm run calls -- <id> --json` (route legs).
      await records.deliverer!.drain(10_000);
      const cli = await callsCli([call.callId, '--json'], { CALLS_DB: file });
      expect(cli.code, cli.stderr).toBe(0);
      const j = JSON.parse(cli.stdout) as {
        route: { state: string; via?: { latencyMs: number | null } }[];
        summary: { route: { latencyMs?: number | null }[] };
        events: { type: string; latencyMs?: number }[];
      };
      expect(j.route.slice(1).map((l) => l.via?.latencyMs)).toEqual(latencies);
      expect(j.summary.route.slice(1).map((l) => l.latencyMs)).toEqual(latencies);
      expect(j.events.filter((e) => e.type === 'handoff').map((e) => e.latencyMs)).toEqual(latencies);

      // 5. The webhooks: call.transferred per transfer, and the route in call.ended.
      const hooks = rx.bodies.map((b) => JSON.parse(b) as { type: string; callId: string; data: Record<string, any> });
      const mine = hooks.filter((h) => h.callId === call.callId);
      expect(mine.filter((h) => h.type === 'call.transferred').map((h) => h.data.latencyMs)).toEqual(latencies);
      const ended = mine.find((h) => h.type === 'call.ended')!;
      expect(ended.data.route.slice(1).map((l: { latencyMs?: number }) => l.latencyMs)).toEqual(latencies);
    } finally {
      await records.close();
      await rx.close();
    }
  }, 60_000);
});
