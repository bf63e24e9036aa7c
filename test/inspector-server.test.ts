/**
 * The inspector server, through real calls (the harness's room-less calls + attachInspector) and real
 * sockets: the feed, fan-out to many pages, slow pages, hostile ingest input, supervisor commands,
 * the token, phone-number masking, and a call whose inspector is not there.
 */
import { existsSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { CallEvent, CallView } from '../src/call/events.js';
import { attachInspector } from '../src/inspector/client.js';
import type { FeedMessage, PageCallView } from '../src/inspector/protocol.js';
import { type InspectorServer, startInspectorServer } from '../src/inspector/server.js';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import { callTools, say, sleep, startCall, startServer } from './support/harness.js';
import { freePort } from './support/ports.js';

let llm: ScriptedServer;
const inspectors: InspectorServer[] = [];
const sockets: { close(): void }[] = [];

beforeAll(async () => {
  llm = await startServer();
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await Promise.all(inspectors.map((i) => i.close()));
  await llm.close();
});

async function inspector(opts: Parameters<typeof startInspectorServer>[0] = {}): Promise<InspectorServer> {
  const s = await startInspectorServer(opts);
  inspectors.push(s);
  return s;
}

const origin = (s: InspectorServer) => new URL(s.url).origin;
const wsBase = (s: InspectorServer) => origin(s).replace(/^http/, 'ws');

async function waitUntil(pred: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface Viewer {
  ws: WebSocket;
  /** Every feed message with its arrival time (performance.now()). */
  log: { at: number; msg: FeedMessage; raw: string }[];
  calls: Map<string, CallView>;
  bytes: number;
  opened: Promise<void>;
}

function viewer(s: InspectorServer, query = ''): Viewer {
  const ws = new WebSocket(`${wsBase(s)}/feed${query}`);
  const v: Viewer = {
    ws,
    log: [],
    calls: new Map(),
    bytes: 0,
    opened: new Promise((ok, fail) => {
      ws.once('open', () => ok());
      ws.once('error', fail);
    }),
  };
  ws.on('message', (data) => {
    const at = performance.now();
    const raw = data.toString();
    v.bytes += raw.length;
    const msg = JSON.parse(raw) as FeedMessage;
    v.log.push({ at, msg, raw });
    if (msg.kind === 'welcome') for (const c of msg.calls) v.calls.set(c.callId, c);
    if (msg.kind === 'call') v.calls.set(msg.call.callId, msg.call);
  });
  ws.on('error', () => undefined);
  sockets.push({ close: () => ws.terminate() });
  return v;
}

async function getJson(s: InspectorServer, path: string, init?: RequestInit): Promise<{ status: number; body: any; text: string }> {
  const res = await fetch(`${origin(s)}${path}`, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

const postCommand = (s: InspectorServer, callId: string, action: unknown, headers: Record<string, string> = {}) =>
  getJson(s, `/api/calls/${encodeURIComponent(callId)}/command`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ action }),
  });

const transferLine = (to: string, reason: string) => callTools({ name: `pass_control_to_${to}`, arguments: { reason } });

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** A raw ingest link, as a misbehaving call process would open it. */
async function rawIngest(s: InspectorServer): Promise<WebSocket & { closedWith: Promise<number> }> {
  const ws = new WebSocket(`${wsBase(s)}/ingest`) as WebSocket & { closedWith: Promise<number> };
  ws.closedWith = new Promise((r) => ws.once('close', (code) => r(code)));
  ws.on('error', () => undefined);
  await new Promise<void>((ok, fail) => {
    ws.once('open', () => ok());
    ws.once('error', fail);
  });
  sockets.push({ close: () => ws.terminate() });
  return ws;
}

describe('inspector server', () => {
  it('a transfer reaches a page within a second, with its new department and reason', async () => {
    const s = await inspector();
    const page = viewer(s);
    await page.opened;
    const call = await startCall(llm, { caller: { name: 'Maya' } });
    const link = attachInspector(call, { url: origin(s) });
    try {
      await waitUntil(() => page.calls.has(call.callId), 5000, 'the call on the feed');
      expect(page.calls.get(call.callId)).toMatchObject({ live: true, state: 'triage', caller: { name: 'Maya' } });

      const handoffAt: number[] = [];
      call.on('event', (e: CallEvent) => {
        if (e.type === 'handoff') handoffAt.push(performance.now());
      });
      const route: [string, string][] = [
        ['billing', 'charged twice'],
        ['triage', 'wants something else'],
        ['sales', 'upgrade the plan'],
        ['triage', 'one more question'],
        ['support', 'the app crashes'],
      ];
      const delays: number[] = [];
      for (const [i, [to, reason]] of route.entries()) {
        await say(call, transferLine(to, reason));
        expect(call.machineState).toBe(to);
        const shown = (m: FeedMessage) =>
          m.kind === 'call' && m.call.callId === call.callId && m.call.state === to && m.call.timeline.some((t) => t.reason === reason && t.state === to);
        await waitUntil(() => page.log.some((l) => shown(l.msg)), 1000, `the ${to} transfer on the feed`);
        const first = page.log.find((l) => shown(l.msg))!;
        delays.push(first.at - handoffAt[i]!);
        const view = (first.msg as { call: CallView }).call;
        expect(view.timeline.at(-1)).toMatchObject({ state: to, reason, source: 'agent', escalated: false });
        expect(view.handoffCount).toBe(i + 1);
      }
      const med = median(delays);
      console.log(
        `inspector feed delay, handoff CallEvent → page message: median ${med.toFixed(1)} ms over ${delays.length} transfers ` +
          `(each: ${delays.map((d) => d.toFixed(1)).join(', ')} ms)`,
      );
      for (const d of delays) expect(d).toBeLessThan(1000);

      await waitUntil(() => page.calls.get(call.callId)!.transcript.some((l) => l.who === 'support'), 1000, "support's reply on the feed");
      const view = page.calls.get(call.callId)!;
      expect(view.timeline.map((t) => t.state)).toEqual(['triage', 'billing', 'triage', 'sales', 'triage', 'support']);
      expect(view.timeline.slice(0, -1).every((t) => t.leftAt !== undefined)).toBe(true);
      expect(view.transcript.some((l) => l.who === 'caller')).toBe(true);

      await call.close();
      await waitUntil(() => page.calls.get(call.callId)?.live === false, 2000, 'the end on the feed');
      expect(page.calls.get(call.callId)).toMatchObject({ endReason: 'completed', state: 'support' });
      await waitUntil(() => !link.connected(), 2000, 'the link to close after the call');
    } finally {
      await call.close();
    }
  });

  it('20 calls and 10 pages: every page ends with every call, each with its own caller and route', async () => {
    const s = await inspector();
    const pages = Array.from({ length: 5 }, () => viewer(s));
    const depts = ['billing', 'sales', 'support'] as const;
    const calls = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        startCall(llm, { caller: { name: `Caller ${i}`, phoneNumber: `+1555010${String(i).padStart(4, '0')}` } }),
      ),
    );
    try {
      for (const c of calls) attachInspector(c, { url: origin(s), worker: `w${c.callId}` });
      // Half the pages open while the calls are already flowing (they start from the welcome).
      pages.push(...Array.from({ length: 5 }, () => viewer(s)));
      await Promise.all(pages.map((p) => p.opened));
      await Promise.all(calls.map((c, i) => say(c, transferLine(depts[i % 3]!, `reason of call ${i}`))));
      for (const [i, c] of calls.entries()) expect(c.machineState).toBe(depts[i % 3]);

      const settled = (p: Viewer) =>
        calls.every((c, i) => {
          const v = p.calls.get(c.callId);
          return v?.state === depts[i % 3] && v.timeline.at(-1)?.reason === `reason of call ${i}`;
        });
      await waitUntil(() => pages.every(settled), 5000, 'every page to see every call');
      for (const p of pages) {
        expect(p.calls.size).toBe(20);
        for (const [i, c] of calls.entries()) {
          const v = p.calls.get(c.callId)!;
          expect(v.caller).toMatchObject({ name: `Caller ${i}`, phoneNumber: `+1555010${String(i).padStart(4, '0')}` });
          expect(v.worker).toBe(`w${c.callId}`);
          expect(v.timeline.map((t) => t.state)).toEqual(['triage', depts[i % 3]]);
          expect(v.timeline.map((t) => t.reason ?? null)).toEqual([null, `reason of call ${i}`]);
          // No line of another call in this one's transcript.
          const mentioned = v.transcript.flatMap((l) => [...l.text.matchAll(/reason of call (\d+)/g)].map((m) => Number(m[1])));
          expect(mentioned.length).toBeGreaterThan(0);
          expect(new Set(mentioned)).toEqual(new Set([i]));
        }
      }
      expect(s.stats()).toMatchObject({ calls: 20, viewers: 10, dropped: 0, rejectedMessages: 0 });
    } finally {
      await Promise.all(calls.map((c) => c.close()));
    }
  }, 60_000);

  it('a page that never reads is cut off; the other pages keep receiving', async () => {
    const s = await inspector({ maxViewerBufferBytes: 1024 * 1024 });
    const good = viewer(s);
    await good.opened;
    // A page that completes the WebSocket upgrade and then never reads a byte.
    const stalled: Socket = connect(s.port, '127.0.0.1');
    sockets.push({ close: () => stalled.destroy() });
    stalled.on('error', () => undefined);
    await new Promise<void>((r) => stalled.once('connect', () => r()));
    stalled.write(
      'GET /feed HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    stalled.pause();
    await waitUntil(() => s.stats().viewers === 2, 2000, 'both pages connected');

    const ingest = await rawIngest(s);
    const callId = 'flood-call';
    ingest.send(JSON.stringify({ kind: 'hello', callId, startedAt: Date.now(), state: 'triage', handoffCount: 0, maxHandoffs: 6, humanAvailable: false, caller: { name: 'Flood' } }));
    const line = 'x'.repeat(2000);
    let n = 0;
    const deadline = Date.now() + 25_000;
    while (s.stats().dropped === 0 && Date.now() < deadline) {
      for (let k = 0; k < 20; k++) ingest.send(JSON.stringify({ kind: 'event', callId, event: { type: 'user', text: `${n++} ${line}`, at: Date.now() } }));
      await sleep(5);
    }
    expect(s.stats().dropped).toBeGreaterThanOrEqual(1);
    expect(s.stats().viewers).toBe(1);
    expect(good.bytes).toBeGreaterThan(2 * 1024 * 1024);
    await waitUntil(() => stalled.destroyed || stalled.readableEnded || (stalled as Socket & { closed?: boolean }).closed === true, 3000, 'the stalled page to be disconnected').catch(() => undefined);

    // The good page still gets updates: a new line shows up.
    ingest.send(JSON.stringify({ kind: 'event', callId, event: { type: 'user', text: 'after the drop', at: Date.now() } }));
    await waitUntil(() => good.calls.get(callId)?.transcript.at(-1)?.text === 'after the drop', 3000, 'the good page to keep receiving');
    expect(good.calls.get(callId)!.transcript.length).toBe(500);
    console.log(`slow page dropped after ${n} ingest lines; the reading page got ${(good.bytes / 1048576).toFixed(1)} MiB`);
  }, 40_000);

  it('a page opened on a busy inspector is not cut off by its own welcome, however big; the changes made meanwhile follow it', async () => {
    const limit = 64 * 1024;
    const s = await inspector({ maxViewerBufferBytes: limit });
    const ingest = await rawIngest(s);
    const send = (m: unknown) => ingest.send(JSON.stringify(m));
    // 300 live calls, 10 long lines each: a welcome of about 9 MB, over a hundred times the page's limit
    // (each call's own update, about 30 KB, is within it).
    const line = 'y'.repeat(3000);
    for (let c = 0; c < 300; c++) {
      const callId = `busy-${c}`;
      send({ kind: 'hello', callId, startedAt: Date.now(), state: 'triage', handoffCount: 0, maxHandoffs: 6, humanAvailable: false, caller: {} });
      for (let k = 0; k < 10; k++) send({ kind: 'event', callId, event: { type: 'user', text: `${k} ${line}`, at: Date.now() } });
    }
    const full = async () => ((await getJson(s, '/api/calls')).body as CallView[]).filter((v) => v.transcript.length === 10).length === 300;
    await waitUntil(full, 15_000, 'every line in');

    // A page opens while the calls keep talking: it gets the welcome, then the updates, and stays.
    let n = 0;
    const talk = setInterval(() => send({ kind: 'event', callId: `busy-${n % 300}`, event: { type: 'user', text: `live ${n++}`, at: Date.now() } }), 10);
    try {
      const page = viewer(s);
      await page.opened;
      await waitUntil(() => page.log.some((l) => l.msg.kind === 'welcome'), 10_000, 'the welcome');
      const welcome = page.log.find((l) => l.msg.kind === 'welcome')!;
      expect(welcome.raw.length).toBeGreaterThan(100 * limit);
      const seen = n;
      await waitUntil(() => page.log.some((l) => l.msg.kind === 'call' && l.msg.call.transcript.at(-1)?.text === `live ${seen + 20}`), 5000, 'updates after the welcome');
      expect(page.ws.readyState).toBe(WebSocket.OPEN);
      expect(s.stats().dropped).toBe(0);
    } finally {
      clearInterval(talk);
    }
  }, 40_000);

  it('a page that falls behind for a few seconds stays, and catches up with the latest of every call', async () => {
    const s = await inspector({ maxViewerBufferBytes: 64 * 1024 });
    const ingest = await rawIngest(s);
    const send = (m: unknown) => ingest.send(JSON.stringify(m));
    const calls = Array.from({ length: 20 }, (_, c) => `behind-${c}`);
    for (const callId of calls) send({ kind: 'hello', callId, startedAt: Date.now(), state: 'triage', handoffCount: 0, maxHandoffs: 6, humanAvailable: false, caller: {} });
    const page = viewer(s);
    await page.opened;
    await waitUntil(() => page.calls.size === 20, 3000, 'the calls on the page');

    // The page stops reading (a busy browser tab) while every call keeps talking, well past its limit.
    page.ws.pause();
    const line = 'z'.repeat(2000);
    let n = 0;
    const talk = setInterval(() => {
      for (const callId of calls) send({ kind: 'event', callId, event: { type: 'user', text: `${n} ${line}`, at: Date.now() } });
      n++;
    }, 20);
    try {
      await sleep(3000);
    } finally {
      clearInterval(talk);
    }
    const last = n - 1;
    const before = page.log.length;
    page.ws.resume();
    const latest = (callId: string) => page.calls.get(callId)?.transcript.at(-1)?.text.startsWith(`${last} `) === true;
    await waitUntil(() => calls.every(latest), 10_000, 'the latest line of every call on the page');
    expect(page.ws.readyState).toBe(WebSocket.OPEN);
    expect(s.stats()).toMatchObject({ viewers: 1, dropped: 0 });
    // It was sent the latest views, not every version of each call.
    expect(page.log.length - before).toBeLessThan(calls.length * (n + 1));
  }, 30_000);

  it("the supervisor's moves on the feed follow each transfer, and stay the machine's answers as lines come in", async () => {
    const s = await inspector();
    const page = viewer(s);
    await page.opened;
    const ingest = await rawIngest(s);
    const send = (m: unknown) => ingest.send(JSON.stringify(m));
    const callId = 'moves-call';
    const moves = () => (page.calls.get(callId) as PageCallView | undefined)?.moves ?? [];
    const allowed = () => Object.fromEntries(moves().map((m) => [m.to, m.allowed]));
    // As a call's link reports a transfer: the call's event, and the routing actor's snapshot.
    const handoff = (from: string, to: string, handoffCount: number) => {
      send({ kind: 'event', callId, event: { type: 'handoff', from, to, handoffCount, reason: `to ${to}`, source: 'agent', escalated: false, latencyMs: 1, at: Date.now() } });
      send({ kind: 'snapshot', callId, state: to, handoffCount, status: 'active', at: Date.now() });
    };
    const say = (text: string) => send({ kind: 'event', callId, event: { type: 'user', text, at: Date.now() } });
    send({ kind: 'hello', callId, startedAt: Date.now(), state: 'triage', handoffCount: 0, maxHandoffs: 2, humanAvailable: false, caller: {} });
    const atTriage = { triage: false, billing: true, sales: true, support: true, human: false };
    await waitUntil(() => JSON.stringify(allowed()) === JSON.stringify(atTriage), 3000, 'the moves at triage');
    say('first line');
    await waitUntil(() => page.calls.get(callId)?.transcript.length === 1, 3000, 'a line');
    expect(allowed()).toEqual(atTriage);

    handoff('triage', 'billing', 1);
    // From billing only triage, but that hop would spend the last transfer (cap 2) and strand the caller there.
    const atBilling = { triage: false, billing: false, sales: false, support: false, human: false };
    await waitUntil(() => page.calls.get(callId)?.state === 'billing', 3000, 'the transfer');
    expect(allowed()).toEqual(atBilling);
    const refused = moves().find((m) => m.to === 'triage')!;
    expect(refused.reason).toMatch(/limit|transfer/i);

    say('second line');
    await waitUntil(() => page.calls.get(callId)?.transcript.length === 2, 3000, 'another line');
    expect(allowed()).toEqual(atBilling);
  });

  it('malformed ingest input is rejected; the server and other calls are unaffected', async () => {
    const s = await inspector();
    const page = viewer(s);
    const call = await startCall(llm);
    attachInspector(call, { url: origin(s) });
    try {
      await waitUntil(() => page.calls.has(call.callId), 5000, 'the real call');
      const bad = await rawIngest(s);
      const frames: (string | Buffer)[] = [
        'not json',
        '[1,2,3]',
        'null',
        JSON.stringify({ kind: 'hello' }),
        JSON.stringify({ kind: 'wat', callId: 'x' }),
        JSON.stringify({ kind: 'hello', callId: '', startedAt: 1, state: 'triage', handoffCount: 0, maxHandoffs: 6, humanAvailable: false, caller: {} }),
        JSON.stringify({ kind: 'event', callId: 'nobody', event: { type: 'user', text: 'hi', at: 1 } }),
        JSON.stringify({ kind: 'event', callId: call.callId, event: { type: 'nonsense', at: 1 } }),
        // A known call with a malformed handoff (no `to`) must not corrupt its view.
        JSON.stringify({ kind: 'event', callId: call.callId, event: { type: 'handoff', at: 1, reason: 'r' } }),
        JSON.stringify({ kind: 'snapshot', callId: call.callId, state: 'billing', handoffCount: -1, status: 'active', at: 1 }),
        JSON.stringify({ kind: 'command-result', commandId: 'never-sent', accepted: true }),
        Buffer.from([0xff, 0xfe, 0x00, 0x01]),
      ];
      for (const f of frames) bad.send(f);
      await waitUntil(() => s.stats().rejectedMessages >= frames.length, 2000, 'every bad frame rejected');
      expect(bad.readyState).toBe(WebSocket.OPEN); // invalid messages are dropped, the link stays

      // 100 KB (over MAX_MESSAGE_BYTES): ws closes that link; the server carries on.
      bad.send(JSON.stringify({ kind: 'event', callId: call.callId, event: { type: 'user', text: 'y'.repeat(100_000), at: 1 } }));
      expect(await bad.closedWith).toBe(1009);
      await waitUntil(() => s.stats().rejectedMessages >= frames.length + 1, 2000, 'the oversized frame counted');

      const api = await getJson(s, '/api/calls');
      expect(api.status).toBe(200);
      expect(api.body).toHaveLength(1);
      expect(api.body[0]).toMatchObject({ callId: call.callId, live: true, state: 'triage', handoffCount: 0 });
      expect(api.body[0].timeline).toHaveLength(1);
      expect(api.body[0].transcript.some((l: { text: string }) => l.text.startsWith('yyy'))).toBe(false);

      // The real call still flows.
      await say(call, transferLine('billing', 'after the noise'));
      await waitUntil(() => page.calls.get(call.callId)?.state === 'billing' && page.calls.get(call.callId)!.timeline.length === 2, 2000, 'the transfer after the noise');
      expect((await getJson(s, '/api/machine')).body.states.map((x: { id: string }) => x.id)).toContain('billing');
    } finally {
      await call.close();
    }
  });

  it('a supervisor moves a call through POST; the machine refuses what it does not allow', async () => {
    const s = await inspector();
    const page = viewer(s);
    const call = await startCall(llm);
    attachInspector(call, { url: origin(s) });
    try {
      await waitUntil(() => page.calls.has(call.callId), 5000, 'the call');
      const moved = await postCommand(s, call.callId, { type: 'TRANSFER', to: 'billing' });
      expect(moved).toMatchObject({ status: 200, body: { accepted: true, state: 'billing' } });
      expect(call.machineState).toBe('billing');
      await waitUntil(() => call.events.some((e) => e.type === 'handoff' && e.to === 'billing'), 5000, 'the handoff');
      await waitUntil(() => page.calls.get(call.callId)?.timeline.at(-1)?.source === 'supervisor', 2000, 'the supervisor transfer on the feed');
      expect(page.calls.get(call.callId)!.timeline.at(-1)).toMatchObject({ state: 'billing', reason: 'moved by a supervisor' });

      const refused = await postCommand(s, call.callId, { type: 'TRANSFER', to: 'sales' });
      expect(refused.status).toBe(200);
      expect(refused.body).toMatchObject({ accepted: false, state: 'billing', reason: expect.stringMatching(/billing cannot transfer directly to sales; only to triage/) });
      await waitUntil(() => page.calls.get(call.callId)?.refusals.length === 1, 2000, 'the refusal on the feed');
      expect(page.calls.get(call.callId)!.refusals[0]).toMatchObject({ from: 'billing', to: 'sales', source: 'supervisor', reason: refused.body.reason });
      expect(page.log.some((l) => l.msg.kind === 'command-result' && l.msg.accepted === false)).toBe(true);

      // Back to triage, then on to support: a live call moves as often as the machine allows.
      expect((await postCommand(s, call.callId, { type: 'TRANSFER', to: 'triage' })).body).toMatchObject({ accepted: true, state: 'triage' });
      expect((await postCommand(s, call.callId, { type: 'TRANSFER', to: 'support' })).body).toMatchObject({ accepted: true, state: 'support' });
      expect(call.machineState).toBe('support');

      // Bad requests.
      expect((await postCommand(s, 'no-such-call', { type: 'END_CALL' })).status).toBe(404);
      expect((await postCommand(s, call.callId, { type: 'FLY' })).status).toBe(400);
      expect((await getJson(s, `/api/calls/${call.callId}/command`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' })).status).toBe(400);
      const huge = JSON.stringify({ action: { type: 'END_CALL' }, pad: 'z'.repeat(5000) });
      expect((await getJson(s, `/api/calls/${call.callId}/command`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: huge })).status).toBe(400);

      // END_CALL ends it; the page sees who ended it; the ended call takes no more commands.
      expect((await postCommand(s, call.callId, { type: 'END_CALL' })).body).toMatchObject({ accepted: true, state: 'ended' });
      await call.finished;
      await waitUntil(() => page.calls.get(call.callId)?.live === false, 3000, 'the end on the feed');
      expect(page.calls.get(call.callId)).toMatchObject({ state: 'ended', endReason: 'ended by a supervisor' });
      expect((await postCommand(s, call.callId, { type: 'TRANSFER', to: 'triage' })).status).toBe(404);
    } finally {
      await call.close();
    }
  });

  it('an event too long for one message is truncated by the call, not dropped or rejected', async () => {
    const s = await inspector();
    const page = viewer(s);
    const call = await startCall(llm);
    attachInspector(call, { url: origin(s) });
    try {
      await say(call, `long:${'z'.repeat(100_000)}`);
      await waitUntil(() => page.calls.get(call.callId)?.transcript.some((l) => l.who === 'caller') === true, 5000, 'the long line');
      const line = page.calls.get(call.callId)!.transcript.find((l) => l.who === 'caller')!;
      expect(line.text.startsWith('long:zzz')).toBe(true);
      expect(line.text.length).toBeLessThan(10_000);
      expect(s.stats().rejectedMessages).toBe(0);
    } finally {
      await call.close();
    }
  });

  it('a call process that does not answer a command gets a 504', async () => {
    const s = await inspector();
    const mute = await rawIngest(s);
    mute.send(JSON.stringify({ kind: 'hello', callId: 'mute', startedAt: Date.now(), state: 'triage', handoffCount: 0, maxHandoffs: 6, humanAvailable: false, caller: {} }));
    await waitUntil(async () => (await getJson(s, '/api/calls')).body.length === 1, 2000, 'the mute call');
    const t0 = Date.now();
    const r = await postCommand(s, 'mute', { type: 'END_CALL' });
    expect(r.status).toBe(504);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4900);
    // Its link dropping without an `end`: the call shows as ended, link lost.
    mute.close();
    await waitUntil(async () => (await getJson(s, '/api/calls')).body[0]?.live === false, 2000, 'link lost');
    expect((await getJson(s, '/api/calls')).body[0]).toMatchObject({ endReason: 'inspector link lost' });
  }, 15_000);

  it('the token: required off loopback, and by every endpoint when set; never echoed', async () => {
    await expect(startInspectorServer({ host: '0.0.0.0' })).rejects.toThrow(/INSPECTOR_TOKEN is required to listen on 0\.0\.0\.0/);
    await expect(startInspectorServer({ host: '192.168.1.20' })).rejects.toThrow(/INSPECTOR_TOKEN is required to listen on 192\.168\.1\.20/);

    const token = 's3cret-Token_value';
    const s = await inspector({ host: '0.0.0.0', token });
    expect(s.url).toBe(`http://0.0.0.0:${s.port}/?token=${token}`);
    const base = `http://127.0.0.1:${s.port}`;
    const bodies: string[] = [];
    const get = async (path: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${base}${path}`, { headers });
      const text = await res.text();
      bodies.push(text);
      return { res, text };
    };
    const hasIndex = existsSync(join(import.meta.dirname, '..', 'visualizer', 'index.html'));

    for (const path of ['/', '/api/calls', '/api/machine', '/vendor/elk.bundled.js', '/app.js', '/api/calls?token=wrong']) {
      expect((await get(path)).res.status, path).toBe(401);
    }
    expect((await get('/api/calls', { authorization: 'Bearer nope' })).res.status).toBe(401);
    expect((await get('/api/calls', { authorization: `Bearer ${token}` })).res.status).toBe(200);
    expect((await get(`/api/machine?token=${token}`)).res.status).toBe(200);
    const elk = await fetch(`${base}/vendor/elk.bundled.js`, { headers: { authorization: `Bearer ${token}` } });
    expect(elk.status).toBe(200);
    expect(elk.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    await elk.arrayBuffer();

    const page = await get(`/?token=${token}`);
    expect(page.res.status).toBe(hasIndex ? 200 : 404);
    if (hasIndex) {
      expect(page.res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
      // The page's own assets and sockets load through the session cookie (derived, not the token).
      const cookie = page.res.headers.get('set-cookie')!.split(';')[0]!;
      expect(cookie).not.toContain(token);
      expect((await get('/api/calls', { cookie })).res.status).toBe(200);
    }

    // Both WebSockets.
    const upgrade = (path: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${s.port}${path}`, { headers });
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.on('open', () => {
          resolve(101);
          ws.close();
        });
        ws.on('error', () => undefined);
      });
    expect(await upgrade('/feed')).toBe(401);
    expect(await upgrade('/ingest')).toBe(401);
    expect(await upgrade('/feed?token=wrong')).toBe(401);
    expect(await upgrade(`/feed?token=${token}`)).toBe(101);
    expect(await upgrade(`/ingest?token=${token}`)).toBe(101);
    // A foreign page cannot open the feed even with a good token (cross-site WebSocket hijacking).
    expect(await upgrade(`/feed?token=${token}`, { origin: 'http://evil.example' })).toBe(403);

    // A call with the token reaches a page with the token; nothing sent back carries the token.
    const call = await startCall(llm, { caller: { name: 'Tok' } });
    try {
      attachInspector(call, { url: base, token });
      const feed = new WebSocket(`ws://127.0.0.1:${s.port}/feed?token=${encodeURIComponent(token)}`);
      sockets.push({ close: () => feed.terminate() });
      const seen: string[] = [];
      feed.on('message', (d) => seen.push(d.toString()));
      await waitUntil(() => seen.some((m) => m.includes(call.callId) && m.includes('"Tok"')), 5000, 'the call on the tokened feed');
      bodies.push(...seen, (await get('/api/calls', { authorization: `Bearer ${token}` })).text);
      for (const b of bodies) expect(b).not.toContain(token);
    } finally {
      await call.close();
    }
  });

  it('hidePhoneNumbers masks numbers in the feed and /api/calls', async () => {
    const s = await inspector({ hidePhoneNumbers: true });
    const page = viewer(s);
    const phone = '+15550100010';
    const dialed = '+918045678977';
    const call = await startCall(llm, { caller: { name: 'Priya', phoneNumber: phone, dialedNumber: dialed } });
    attachInspector(call, { url: origin(s) });
    try {
      await say(call, `my number is ${phone}`);
      await waitUntil(() => page.calls.get(call.callId)?.transcript.some((l) => l.text.includes('my number')) === true, 5000, 'the line');
      const welcome = page.log[0]!;
      expect(welcome.msg).toMatchObject({ kind: 'welcome', hidePhoneNumbers: true });
      const v = page.calls.get(call.callId)!;
      expect(v.caller).toMatchObject({ name: 'Priya', phoneNumber: '••••••••••10', dialedNumber: '•••••••••••77' });
      const api = await getJson(s, '/api/calls');
      expect(api.body[0].caller).toMatchObject({ phoneNumber: '••••••••••10', dialedNumber: '•••••••••••77' });
      for (const text of [...page.log.map((l) => l.raw), api.text]) {
        expect(text).not.toContain(phone);
        expect(text).not.toContain(dialed);
        expect(text).not.toContain('5550100010');
      }
      expect(v.transcript.find((l) => l.text.includes('my number'))!.text).toBe('my number is ••••••••••10');
    } finally {
      await call.close();
    }
  });

  it('a call whose inspector is not there runs normally, then catches up when it appears', async () => {
    const port = await freePort();
    const call = await startCall(llm, { caller: { name: 'Alone' } });
    const link = attachInspector(call, { url: `ws://127.0.0.1:${port}`, maxQueue: 1000 });
    try {
      const t0 = performance.now();
      const events = await say(call, transferLine('sales', 'upgrade please'));
      expect(events.find((e) => e.type === 'handoff')).toMatchObject({ from: 'triage', to: 'sales' });
      await say(call, transferLine('triage', 'something else'));
      await say(call, transferLine('support', 'broken app'));
      expect(call.machineState).toBe('support');
      expect(call.events.filter((e) => e.type === 'handoff')).toHaveLength(3);
      expect(call.events.filter((e) => e.type === 'error')).toEqual([]);
      expect(link.connected()).toBe(false);
      expect(performance.now() - t0).toBeLessThan(10_000);

      // The inspector comes up on that port: the queued history arrives after a fresh hello.
      const s = await inspector({ port });
      await waitUntil(() => link.connected(), 7000, 'the reconnect');
      await waitUntil(async () => (await getJson(s, '/api/calls')).body[0]?.timeline.length === 4, 3000, 'the queued history');
      const v = (await getJson(s, '/api/calls')).body[0] as CallView;
      expect(v).toMatchObject({ callId: call.callId, live: true, state: 'support', handoffCount: 3, caller: { name: 'Alone' } });
      expect(v.timeline.map((t) => t.state)).toEqual(['triage', 'sales', 'triage', 'support']);
    } finally {
      await call.close();
    }
  }, 30_000);
});
