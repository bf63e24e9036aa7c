/**
 * The inspector page in a real browser (headless Chromium through playwright-core): calls through the
 * real orchestrator and the scripted OpenAI-compatible server, fed to a real inspector server by
 * `attachInspector`, watched by the page over `/feed`.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { machineGraph } from '../machines/derive.js';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import type { Call } from '../src/call/call.js';
import WebSocket from 'ws';
import type { CallEvent, HandoffStages } from '../src/call/events.js';
import { type InspectorLink, attachInspector, encode, ingestUrl } from '../src/inspector/client.js';
import { type InspectorServer, startInspectorServer } from '../src/inspector/server.js';
import { inspectorRecords, openStore } from '../src/records/index.js';
import { attachRecorder } from '../src/records/recorder.js';
import { type TestCallOptions, callTools, say, startCall, startServer, waitForEvent } from './support/harness.js';
import { startFakeLiveKit } from './support/fake-livekit.js';
import { shotPath } from './support/shots.js';
import { ScriptedConsultation } from './support/warm.js';
import { briefingFor } from '../src/call/briefing.js';
import { MoveSupport, warmTransfer } from '../src/telephony/warm-transfer.js';
import { CHROMIUM, launchChromium, newPage } from './support/chromium.js';

const SCREENSHOT = shotPath('inspector.png');
const haveChromium = existsSync(CHROMIUM);

if (!haveChromium && process.env.CI) {
  throw new Error(`${CHROMIUM} is missing: the inspector browser tests need it on CI. Install it with \`apt-get install -y chromium\`.`);
}

const suite = haveChromium
  ? describe
  : describe.skip;
const suiteName = haveChromium
  ? 'inspector page in a browser'
  : `inspector page in a browser (SKIPPED: ${CHROMIUM} not found; run \`apt-get install -y chromium\`)`;

suite(suiteName, () => {
  let browser: Browser;
  let llm: ScriptedServer;
  let inspector: InspectorServer;
  const contexts: BrowserContext[] = [];
  const calls: Call[] = [];
  const links: InspectorLink[] = [];
  const extraServers: InspectorServer[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    llm = await startServer();
    inspector = await startInspectorServer({ host: '127.0.0.1', port: 0 });
  });

  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close().catch(() => undefined);
    for (const c of calls.splice(0)) await c.close().catch(() => undefined);
    for (const l of links.splice(0)) l.close();
    for (const s of extraServers.splice(0)) await s.close();
  });

  afterAll(async () => {
    await browser?.close();
    await inspector?.close();
    await llm?.close();
  });

  /** A fresh browser context (own cookies) with one page, console errors collected. */
  async function openPage(url: string, size = { width: 1280, height: 800 }) {
    const { page, errors } = await newPage(browser, contexts, size);
    const response = await page.goto(url);
    return { page, response, errors };
  }

  async function liveCall(server: InspectorServer, opts: TestCallOptions = {}, token?: string): Promise<Call> {
    const call = await startCall(llm, opts);
    calls.push(call);
    links.push(attachInspector(call, { url: server.url, token }));
    return call;
  }

  const active = (page: Page) =>
    page.$$eval('[data-active="true"]', (els) => els.map((e) => e.getAttribute('data-state')));

  async function selectCall(page: Page, call: Call) {
    const row = page.locator(`[data-call-id="${call.callId}"]`);
    await row.waitFor();
    await row.click();
    await expect.poll(() => row.getAttribute('aria-selected')).toBe('true');
  }

  const rowField = (page: Page, call: Call, field: string) =>
    page.locator(`[data-call-id="${call.callId}"] [data-field="${field}"]`).innerText();

  it('draws every state of the machine, with exactly one active state (triage) for a new call', async () => {
    const { page, errors } = await openPage(inspector.url);
    const graph = machineGraph();
    await page.waitForSelector(`[data-state="${graph.initial}"]`);
    for (const s of graph.states) {
      expect(await page.locator(`#diagram [data-state="${s.id}"]`).count(), s.id).toBe(1);
    }
    // One polyline per edge (plus the initial arrow), each with a label.
    expect(await page.locator('#diagram .edge[data-edge]').count()).toBe(graph.edges.length);
    expect(await page.locator('#diagram .edge-label').count()).toBe(graph.edges.length);
    expect(await page.locator('#diagram [data-state="ended"].final').count()).toBe(1);

    const call = await liveCall(inspector);
    await selectCall(page, call);
    await expect.poll(() => active(page)).toEqual(['triage']);
    expect(errors).toEqual([]);
  });

  it('moves the active state with each transfer and marks the transition just taken', async () => {
    const { page } = await openPage(inspector.url);
    const call = await liveCall(inspector, { caller: { name: 'Maya' } });
    await selectCall(page, call);
    await expect.poll(() => active(page)).toEqual(['triage']);

    await say(call, 'I was charged twice on my card');
    await expect.poll(() => active(page)).toEqual(['billing']);
    await page.waitForSelector('#diagram .edge.taken[data-edge="triage->billing"]');
    await expect.poll(() => rowField(page, call, 'handoffs')).toBe('1/6');

    // A second need: billing hands back to triage, which passes the caller on to sales (a chain).
    await say(call, 'I also want to upgrade my plan');
    await expect.poll(() => active(page)).toEqual(['sales']);
    await page.waitForSelector('#diagram .edge.taken[data-edge="triage->sales"]');
    await expect.poll(() => rowField(page, call, 'handoffs')).toBe('3/6');
    await expect.poll(() => page.locator('#timeline .tl-item').count()).toBe(4);
    await expect.poll(() => page.locator('#timeline').innerText()).toContain('I was charged twice on my card');
    await expect.poll(() => page.locator('[data-testid="transcript"]').innerText()).toContain('I also want to upgrade my plan');
  });

  it('a warm transfer shows its steps live in the call timeline, each with its time', async () => {
    const lk = await startFakeLiveKit({ apiKey: 'APIwarm', apiSecret: 'a-warm-browser-secret-long-enough-0123456789' });
    try {
      const api = { url: lk.url, apiKey: 'APIwarm', apiSecret: 'a-warm-browser-secret-long-enough-0123456789' };
      const room = `browser-warm-${process.pid}`;
      const consultation = new ScriptedConsultation(api, room, null);
      const line = { api, room, dial: { trunkId: 'ST_b', to: '+918012345678', ringingTimeoutS: 20 }, consultation, moves: new MoveSupport(api, () => undefined, join(tmpdir(), `${room}.marker`)) };
      const { page } = await openPage(inspector.url);
      const call = await liveCall(inspector, {
        humanAvailable: true,
        humanTransferMode: 'warm',
        connectHuman: (c, steps) => warmTransfer(line, { ...briefingFor(c.actor.getSnapshot().context, 'Acme'), history: c.session.history }, steps),
      });
      await selectCall(page, call);
      void say(call, callTools({ name: 'transfer_to_human', arguments: { reason: 'asked for a person' } })).catch(() => undefined);
      const steps = page.locator('#timeline [data-testid="person-steps"]');
      await expect.poll(() => steps.innerText().catch(() => '')).toMatch(/^on hold · dialling \d\d?:\d\d:\d\d( [AP]M)?$/);
      expect(await page.locator('#timeline').innerText()).toContain('warm transfer');
      await expect.poll(() => active(page)).toEqual(['human']);
      consultation.pickUp();
      await expect.poll(() => steps.innerText()).toMatch(/→ briefing \+\d+ s$/);
      consultation.decide('connect');
      await expect.poll(() => steps.innerText()).toMatch(/→ briefing \+\d+ s → connected \+\d+ s$/);
    } finally {
      await lk.close();
    }
  });

  it('lists two concurrent calls separately, each with its own department and handoff count', async () => {
    const { page } = await openPage(inspector.url);
    const a = await liveCall(inspector, { caller: { name: 'Ana' } });
    const b = await liveCall(inspector, { caller: { phoneNumber: '+15550100077' } });
    await Promise.all([
      say(a, 'I was charged twice on my card'),
      (async () => {
        await say(b, 'my internet is not working');
        await say(b, 'I also want to upgrade my plan');
      })(),
    ]);
    await page.locator(`[data-call-id="${a.callId}"]`).waitFor();
    await page.locator(`[data-call-id="${b.callId}"]`).waitFor();
    expect(await page.locator(`[data-call-id="${a.callId}"]`).count()).toBe(1);
    expect(await page.locator(`[data-call-id="${b.callId}"]`).count()).toBe(1);

    await expect.poll(() => rowField(page, a, 'state')).toBe('Billing');
    await expect.poll(() => rowField(page, a, 'handoffs')).toBe('1/6');
    await expect.poll(() => rowField(page, a, 'caller')).toBe('Ana');
    await expect.poll(() => rowField(page, b, 'state')).toBe('Sales');
    await expect.poll(() => rowField(page, b, 'handoffs')).toBe('3/6');
    await expect.poll(() => rowField(page, b, 'caller')).toBe('+15550100077');

    // Selecting a row shows that call's state in the diagram.
    await selectCall(page, a);
    await expect.poll(() => active(page)).toEqual(['billing']);
    await selectCall(page, b);
    await expect.poll(() => active(page)).toEqual(['sales']);
  });

  it('a supervisor moves a call; a move the machine would refuse is shown disabled with its reason, and not sent', async () => {
    const { page } = await openPage(inspector.url);
    const second = await openPage(inspector.url); // another viewer sees the same moves
    const call = await liveCall(inspector, { caller: { name: 'Sam' } });
    await selectCall(page, call);
    await selectCall(second.page, call);
    await expect.poll(() => active(page)).toEqual(['triage']);

    const moved = waitForEvent(call, (e) => e.type === 'handoff');
    await page.click('[data-testid="send-support"]');
    const handoff = await moved;
    expect(handoff).toMatchObject({ from: 'triage', to: 'support', source: 'supervisor' });
    await expect.poll(() => active(page)).toEqual(['support']);
    await expect.poll(() => active(second.page)).toEqual(['support']);
    await expect.poll(() => page.locator('[data-testid="command-result"]').innerText()).toMatch(/accepted/i);
    expect(call.machineState).toBe('support');

    // From support the machine admits only triage: the other moves are shown disabled, each with the
    // machine's own reason on hover, and a click says it instead of sending anything.
    const why = 'support cannot transfer directly to billing';
    const billing = page.locator('[data-testid="send-billing"]');
    await expect.poll(() => billing.getAttribute('aria-disabled')).toBe('true');
    expect(await billing.getAttribute('title')).toContain(why);
    expect(await page.locator('[data-testid="send-sales"]').getAttribute('title')).toContain('support cannot transfer directly to sales');
    expect(await page.locator('[data-testid="send-support"]').getAttribute('title')).toContain('already with support');
    expect(await page.locator('[data-testid="send-human"]').getAttribute('title')).toContain('No human agent is available');
    expect(await page.locator('[data-testid="send-triage"]').getAttribute('aria-disabled')).toBe('false');
    await billing.click({ force: true }); // aria-disabled: focusable and clickable, but nothing is sent
    const result = page.locator('[data-testid="command-result"]');
    await expect.poll(() => result.innerText()).toContain(why);
    await expect.poll(() => result.getAttribute('data-accepted')).toBe('false');
    expect(call.events.filter((e) => e.type === 'rejected')).toEqual([]); // nothing was sent

    // The page's answer is the machine's: asked anyway (the API), the call refuses with the same reason.
    const refused = waitForEvent(call, (e) => e.type === 'rejected');
    const res = await page.request.post(`${inspector.url}api/calls/${encodeURIComponent(call.callId)}/command`, {
      data: { action: { type: 'TRANSFER', to: 'billing' } },
    });
    expect(await res.json()).toMatchObject({ accepted: false });
    const rejection = await refused;
    if (rejection.type !== 'rejected') throw new Error('expected a refusal');
    expect(`The machine would refuse: ${rejection.reason}`).toBe(await billing.getAttribute('title'));
    await expect.poll(() => page.locator('[data-testid="refusals"] .refusal').count()).toBe(1);
    expect(await page.locator('[data-testid="refusals"]').innerText()).toContain(rejection.reason);
    await expect.poll(() => second.page.locator('[data-testid="refusals"]').innerText()).toContain(rejection.reason);
    expect(await active(page)).toEqual(['support']);
    expect(call.machineState).toBe('support');
  });

  it('enforces the token: 401 without it; with it the diagram renders and updates arrive', async () => {
    const token = 'inspector-test-token-42';
    const secured = await startInspectorServer({ host: '127.0.0.1', port: 0, token });
    extraServers.push(secured);
    const base = `http://127.0.0.1:${secured.port}/`;

    const denied = await openPage(base);
    expect(denied.response?.status()).toBe(401);
    const api = await denied.page.request.get(`${base}api/machine`);
    expect(api.status()).toBe(401);

    const { page, response, errors } = await openPage(`${base}?token=${encodeURIComponent(token)}`);
    expect(response?.status()).toBe(200);
    for (const s of machineGraph().states) await page.waitForSelector(`#diagram [data-state="${s.id}"]`);
    await expect.poll(() => page.locator('#conn').getAttribute('data-status')).toBe('open');

    const call = await liveCall(secured, { caller: { name: 'Tok' } }, token);
    await selectCall(page, call);
    await expect.poll(() => active(page)).toEqual(['triage']);
    await say(call, 'I was charged twice on my card');
    await expect.poll(() => active(page)).toEqual(['billing']);
    await expect.poll(() => page.locator('[data-testid="transcript"]').innerText()).toContain('charged twice');
    expect(errors).toEqual([]);
  });

  it('screenshot of a call mid-way (two transfers, transcript), for docs/inspector.png', async () => {
    // A server of its own, so the picture shows only these calls.
    const shot = await startInspectorServer({ host: '127.0.0.1', port: 0 });
    extraServers.push(shot);

    // An ended call and another live one, for a realistic list.
    const earlier = await liveCall(shot, { caller: { name: 'Priya Raman' } });
    await say(earlier, 'my internet is not working');
    await earlier.close();
    const other = await liveCall(shot, { caller: { name: 'Jonas Berg', phoneNumber: '+4915550100' } });
    await say(other, 'How much is the pro plan? I want to upgrade');

    const call = await liveCall(shot, {
      caller: { phoneNumber: '+15550100042', accountId: 'AC-1042' },
    });
    const { page, errors } = await openPage(shot.url, { width: 1280, height: 800 });
    await selectCall(page, call);
    await say(call, 'Hi, my name is Maya');
    await say(call, 'I was charged twice on my card');
    // A supervisor move the machine refuses (billing reaches only triage): the page shows it disabled;
    // asked anyway through the API, the machine refuses it, for the refusals list.
    await expect.poll(() => page.locator('[data-testid="send-sales"]').getAttribute('aria-disabled')).toBe('true');
    const res = await page.request.post(`${shot.url}api/calls/${encodeURIComponent(call.callId)}/command`, {
      data: { action: { type: 'TRANSFER', to: 'sales' } },
    });
    expect(await res.json()).toMatchObject({ accepted: false });
    await expect.poll(() => page.locator('[data-testid="refusals"] .refusal').count()).toBe(1);
    await say(call, 'I also want to upgrade my plan');

    await expect.poll(() => active(page)).toEqual(['sales']);
    await expect.poll(() => rowField(page, call, 'handoffs')).toBe('3/6');
    await expect.poll(() => rowField(page, call, 'caller')).toBe('Maya');
    await page.waitForSelector('#diagram .edge.taken[data-edge="triage->sales"]');
    await expect.poll(() => page.locator('[data-testid="transcript"] .msg').count()).toBeGreaterThanOrEqual(6);

    await page.mouse.move(1, 1); // no hover highlight in the picture
    await page.screenshot({ path: SCREENSHOT, animations: 'disabled' });
    expect(existsSync(SCREENSHOT)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('opens a past call from the records and replays its route on the statechart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-past-'));
    const opened = (await openStore({ CALLS_DB: join(dir, 'calls.sqlite') }))!;
    try {
      // A finished call, recorded as the worker records it: three transfers, a refusal, an end.
      const call = await startCall(llm, { caller: { phoneNumber: '+15550100777' } });
      const recorder = attachRecorder(call, opened.store, { worker: 'browser-test' });
      await say(call, 'Hi, my name is Odile');
      await say(call, 'I was charged twice on my card');
      expect(call.requestTransfer('sales', 'supervisor tries sales', 'supervisor')).toMatchObject({ accepted: false });
      await say(call, 'I also want to upgrade my plan');
      await say(call, 'Yes, upgrade me to the pro plan');
      await say(call, "That's all, thanks, bye");
      const end = await call.finished;
      await recorder.done;
      expect(end.reason).toBeTruthy();
      const route = call.actor.getSnapshot().context.route;
      expect(route.map((r) => r.to)).toEqual(['billing', 'triage', 'sales']);

      const past = await startInspectorServer({ host: '127.0.0.1', port: 0, records: inspectorRecords(opened.store) });
      extraServers.push(past);
      const { page, errors } = await openPage(past.url);
      await page.waitForSelector('#diagram [data-state="triage"]');
      await page.click('[data-testid="tab-past"]');
      const row = page.locator(`[data-record-id="${call.callId}"]`);
      await row.waitFor();
      expect(await row.locator('[data-field="caller"]').innerText()).toBe('Odile');
      expect(await row.locator('[data-field="state"]').innerText()).toBe('Ended');
      expect(await row.locator('[data-field="handoffs"]').innerText()).toBe('3/6');
      expect(await row.locator('[data-field="outcome"]').getAttribute('title')).toBe(end.reason);

      await row.click();
      await expect.poll(() => row.getAttribute('aria-selected')).toBe('true');
      await expect.poll(() => page.locator('#details-id').innerText()).toBe(call.callId);
      // Its route with the reasons, the refusal, the transcript; no supervisor buttons on a record.
      await expect.poll(() => page.locator('#timeline .tl-item').count()).toBe(4);
      const timeline = await page.locator('#timeline').innerText();
      for (const r of route) expect(timeline).toContain(r.reason);
      expect(await page.locator('[data-testid="refusals"]').innerText()).toMatch(/Billing → Sales/);
      expect(await page.locator('[data-testid="transcript"]').innerText()).toContain('Hi, my name is Odile');
      expect(await page.locator('#supervisor').isHidden()).toBe(true);
      expect(await active(page)).toEqual(['ended']);

      // Replay: the active state walks the route, one transfer at a time, each transition marked.
      await page.evaluate(() => {
        const seen: string[] = [];
        const taken: string[] = [];
        (window as unknown as { __replay: unknown }).__replay = { seen, taken };
        new MutationObserver(() => {
          const a = document.querySelector('#diagram [data-active="true"]')?.getAttribute('data-state');
          if (a && seen.at(-1) !== a) seen.push(a);
          const t = document.querySelector('#diagram .edge.taken')?.getAttribute('data-edge');
          if (t && taken.at(-1) !== t) taken.push(t);
        }).observe(document.getElementById('diagram')!, { subtree: true, attributes: true });
      });
      await page.click('[data-testid="replay"]');
      await expect.poll(() => page.locator('[data-testid="replay-status"]').innerText()).toMatch(/^Replay 1\/5: Triage/);
      await expect.poll(() => page.locator('[data-testid="replay-status"]').innerText(), { timeout: 15_000 }).toMatch(/^Replay 4\/5: Sales/);
      await page.mouse.move(1, 1);
      await page.screenshot({ path: shotPath('inspector-replay.png'), animations: 'disabled' });
      await expect
        .poll(() => page.locator('[data-testid="replay-status"]').innerText(), { timeout: 15_000 })
        .toBe(`Replay 5/5: Ended — call ended: ${end.reason} (done)`);
      const replayed = await page.evaluate(() => (window as unknown as { __replay: { seen: string[]; taken: string[] } }).__replay);
      expect(replayed.seen).toEqual(['triage', 'billing', 'triage', 'sales', 'ended']);
      expect(replayed.taken).toEqual(['triage->billing', 'billing->triage', 'triage->sales', 'sales->ended']);
      expect(await page.locator('[data-testid="replay"]').innerText()).toMatch(/Replay again/);

      // Back to the live tab: the record is closed, the supervisor buttons return for live calls.
      await page.click('[data-testid="tab-live"]');
      await expect.poll(() => page.locator('#details-id').innerText()).not.toBe(call.callId);
      expect(errors).toEqual([]);
    } finally {
      await opened.store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('edge labels say "or" between a transition\'s alternatives, never two guards as one (in words; the guards on hover)', async () => {
    const { page } = await openPage(inspector.url);
    await page.waitForSelector('#diagram .edge-label[data-edge="billing->human"]');
    const label = page.locator('#diagram .edge-label[data-edge="billing->human"]');
    const lines = await label.locator('tspan').allTextContents();
    expect(lines).toEqual(['person asked for', 'or cap reached → person']);
    const hover = await label.locator('title').textContent();
    expect(hover).toContain('In the machine: TRANSFER [mustEscalate] or TRANSFER [canReachHuman]');
    expect(hover).toMatch(/person asked for: .*\n.*cap reached → person: /);
    expect(await page.locator('#diagram .edge-label[data-edge="billing->ended"] tspan').allTextContents()).toEqual(['ended or hung up']);
  });

  it('at 1440 and 800 px: no text cut, the statechart legible (a narrow window scrolls it)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-widths-'));
    const opened = (await openStore({ CALLS_DB: join(dir, 'calls.sqlite') }))!;
    try {
      const done = await startCall(llm, { caller: { name: 'Priya Raman', phoneNumber: '+15550100042' } });
      const rec = attachRecorder(done, opened.store, { worker: 'browser-test' });
      await say(done, 'I was charged twice on my card');
      done.endCall('the caller is done and said goodbye');
      await done.finished;
      await rec.done;
      const server = await startInspectorServer({ host: '127.0.0.1', port: 0, records: inspectorRecords(opened.store) });
      extraServers.push(server);
      const call = await liveCall(server, { caller: { name: 'Maya' } });
      await say(call, 'I was charged twice on my card');
      for (const width of [1440, 800]) {
        const { page, errors } = await openPage(server.url, { width, height: 900 });
        await selectCall(page, call);
        await page.waitForSelector('#diagram [data-state="billing"][data-active="true"]');
        // The statechart is never shrunk below a legible size: an edge label is at least 8.5 px high.
        const labelPx = await page.evaluate(() => {
          const svg = document.querySelector('#diagram svg') as SVGSVGElement;
          return (11 * svg.getBoundingClientRect().width) / svg.viewBox.baseVal.width;
        });
        expect(labelPx, `${width} px`).toBeGreaterThanOrEqual(8.5);
        // The page itself never scrolls sideways (a wide statechart scrolls inside its card).
        expect(await page.evaluate(() => document.documentElement.scrollWidth), `${width} px`).toBeLessThanOrEqual(width);
        // Route times are shown whole.
        const clipped = await page.$$eval('#timeline .tl-head .muted', (els) =>
          els.filter((e) => {
            const r = e.getBoundingClientRect();
            const col = e.closest('.col')!.getBoundingClientRect();
            return r.right > col.right + 1 || r.left < col.left - 1;
          }).length,
        );
        expect(clipped, `${width} px`).toBe(0);
        // Past calls: the outcome is shown whole.
        await page.click('[data-testid="tab-past"]');
        const outcome = page.locator(`[data-record-id="${done.callId}"] [data-field="outcome"]`);
        await outcome.waitFor();
        expect(await outcome.innerText()).toBe('the caller is done and said goodbye');
        expect(await outcome.evaluate((e) => e.scrollWidth <= e.clientWidth && e.getBoundingClientRect().right <= e.closest('.call-row')!.getBoundingClientRect().right + 1)).toBe(true);
        expect(errors).toEqual([]);
      }
    } finally {
      await opened.store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('past calls: a call still in progress says so and is updated when it ends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-past-live-'));
    const opened = (await openStore({ CALLS_DB: join(dir, 'calls.sqlite') }))!;
    try {
      const server = await startInspectorServer({ host: '127.0.0.1', port: 0, records: inspectorRecords(opened.store) });
      extraServers.push(server);
      // Recorded, but not reporting to this inspector (another process's call): only the records know it.
      const call = await startCall(llm, { caller: { name: 'Noor' } });
      calls.push(call);
      const rec = attachRecorder(call, opened.store, { worker: 'elsewhere' });
      await say(call, 'I was charged twice on my card');
      await rec.flush();
      const { page, errors } = await openPage(server.url);
      await page.click('[data-testid="tab-past"]');
      const row = page.locator(`[data-record-id="${call.callId}"]`);
      await row.waitFor();
      expect(await row.getAttribute('data-live')).toBe('true');
      expect(await row.locator('[data-field="outcome"]').innerText()).toMatch(/live/);
      expect(await page.locator('#past-calls .call-head').innerText()).not.toMatch(/ended in/i);
      call.endCall('all sorted');
      await call.finished;
      await rec.done;
      await expect.poll(() => row.getAttribute('data-live'), { timeout: 10_000 }).toBe('false');
      expect(await row.locator('[data-field="outcome"]').innerText()).toBe('all sorted');
      expect(errors).toEqual([]);
    } finally {
      await opened.store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says so when the server has no call records', async () => {
    const { page, errors } = await openPage(inspector.url);
    await page.click('[data-testid="tab-past"]');
    await expect.poll(() => page.locator('[data-testid="past-problem"]').innerText()).toMatch(/Call records are not available on this server/);
    expect(errors.filter((e) => !/404/.test(e))).toEqual([]);
  });

  it('each answer in the transcript says how long the caller waited for it (a text call: the model\'s time), where it went on hover', async () => {
    const server = await startInspectorServer({ host: '127.0.0.1', port: 0 });
    extraServers.push(server);
    const ws = new WebSocket(ingestUrl(server.url));
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    const send = (msg: Parameters<typeof encode>[0]) => ws.send(encode(msg)!);
    const at = Date.now() - 30_000;
    const play = (callId: string, figures: { eouMs: number | null; sttMs: number | null; llmTtftMs: number; ttsTtfbMs: number | null; responseMs: number | null }) => {
      send({ kind: 'hello', callId, startedAt: at, state: 'triage', handoffCount: 0, maxHandoffs: 6, humanAvailable: false, caller: { name: callId } });
      const events: CallEvent[] = [
        { type: 'started', callId, state: 'triage', caller: { name: callId }, maxHandoffs: 6, humanAvailable: false, at },
        { type: 'agent', agent: 'triage', text: 'Hello, how can I help?', interrupted: false, at: at + 1000 },
        { type: 'user', text: 'I was charged twice', at: at + 3000 },
        { type: 'agent', agent: 'triage', text: 'Let me look.', interrupted: false, at: at + 5000 },
        { type: 'turn', line: 1, agent: 'triage', ...figures, at: at + 5001 },
      ];
      for (const event of events) send({ kind: 'event', callId, event });
    };
    play('voice-turn', { eouMs: 512, sttMs: 301, llmTtftMs: 64, ttsTtfbMs: 318, responseMs: 1187.6 });
    play('text-turn', { eouMs: null, sttMs: null, llmTtftMs: 85, ttsTtfbMs: null, responseMs: null });
    const { page, errors } = await openPage(server.url);
    const chips = page.locator('#transcript [data-testid="turn"]');
    await page.locator('[data-call-id="voice-turn"]').click();
    // One chip, on the answer (not on the greeting before the caller spoke).
    await expect.poll(() => chips.allInnerTexts()).toEqual(['answered in 1188 ms']);
    expect(await chips.first().getAttribute('title')).toBe(
      [
        "The time the caller waited for this answer: from the end of their speech to this desk's first sound.",
        'Where the time went:',
        '• their turn judged over: 512 ms after they stopped',
        '• their words transcribed: 301 ms after they stopped',
        "• the language model's first token: 64 ms after it was asked",
        "• the voice's first audio: 318 ms after it was asked",
      ].join('\n'),
    );
    await page.locator('[data-call-id="text-turn"]').click();
    await expect.poll(() => chips.allInnerTexts()).toEqual(['model 85 ms']);
    ws.close();
    expect(errors).toEqual([]);
  });

  it('silence at transfers: each transfer says what the caller heard; per desk, p50 and p95 over the calls listed', async () => {
    const server = await startInspectorServer({ host: '127.0.0.1', port: 0 });
    extraServers.push(server);
    // Voice calls from a worker on another machine, reporting over the wire as every worker does.
    const ws = new WebSocket(ingestUrl(server.url));
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    const send = (msg: Parameters<typeof encode>[0]) => ws.send(encode(msg)!);
    const stages = (silenceMs: number | null, preparedPlayed = true): HandoffStages => ({
      decisionMs: 0.05, swapMs: 1200, llmTtftMs: 310, ttsTtfbMs: 290, silenceMs, preparedPlayed, bridged: false,
    });
    const at = Date.now() - 60_000;
    const calls: [string, [string, number | null, boolean?][]][] = [
      ['v1', [['billing', 120]]],
      ['v2', [['billing', 160], ['triage', 30], ['sales', 140]]],
      ['v3', [['billing', 900, false]]],
      ['t1', [['billing', null]]], // a text call: nothing heard, nothing counted
    ];
    for (const [callId, hops] of calls) {
      send({ kind: 'hello', callId, startedAt: at, state: 'triage', handoffCount: 0, maxHandoffs: 6, humanAvailable: false, caller: { name: callId } });
      send({ kind: 'event', callId, event: { type: 'started', callId, state: 'triage', caller: { name: callId }, maxHandoffs: 6, humanAvailable: false, at } });
      let from = 'triage';
      hops.forEach(([to, silence, prepared], i) => {
        const event = { type: 'handoff' as const, from, to, handoffCount: i + 1, reason: 'needs it', source: 'agent', escalated: false, latencyMs: 0.4, stages: stages(silence, prepared), at: at + 1000 * (i + 1) };
        send({ kind: 'event', callId, event });
        from = to;
      });
    }
    const { page, errors } = await openPage(server.url);
    const cell = (desk: string, field: string) => page.locator(`[data-testid="seams"] tr[data-desk="${desk}"] [data-field="${field}"]`).innerText();
    await expect.poll(() => cell('billing', 'transfers')).toBe('3');
    expect(await cell('billing', 'p50')).toBe('160 ms');
    expect(await cell('billing', 'p95')).toBe('900 ms');
    expect(await cell('billing', 'prepared')).toBe('2/3');
    expect(await cell('sales', 'p50')).toBe('140 ms');
    expect(await cell('sales', 'p95')).toBe('140 ms');
    expect(await cell('triage', 'p95')).toBe('30 ms');
    expect(await page.locator('[data-testid="seams"] tr[data-desk]').count()).toBe(3);
    // A call's own route: the silence heard at each transfer, and where its time went on hover.
    await page.locator('[data-call-id="v2"]').click();
    const chips = page.locator('#timeline [data-testid="silence"]');
    await expect.poll(() => chips.allInnerTexts()).toEqual(['160 ms silence heard', '30 ms silence heard', '140 ms silence heard']);
    expect(await chips.first().getAttribute('title')).toBe(
      [
        "The silence the caller heard at this transfer: from the last sound on the line to the new desk's first sound.",
        'Where the time went:',
        "• the machine's decision: 0 ms",
        '• until the new desk was on the line: 1200 ms',
        "• its reply's first word from the language model: 310 ms",
        "• its speech's first audio: 290 ms",
      ].join('\n'),
    );
    ws.close();
    expect(errors).toEqual([]);
  });
});
