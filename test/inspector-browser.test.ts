/**
 * The inspector page in a real browser (headless Chromium through playwright-core): calls through the
 * real orchestrator and the scripted OpenAI-compatible server, fed to a real inspector server by
 * `attachInspector`, watched by the page over `/feed`.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { machineGraph } from '../machines/derive.js';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import type { Call } from '../src/call/call.js';
import { type InspectorLink, attachInspector } from '../src/inspector/client.js';
import { type InspectorServer, startInspectorServer } from '../src/inspector/server.js';
import { inspectorRecords, openStore } from '../src/records/index.js';
import { attachRecorder } from '../src/records/recorder.js';
import { type TestCallOptions, say, startCall, startServer, waitForEvent } from './support/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SCREENSHOT = join(REPO, 'docs', 'inspector.png');
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
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
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
    const context = await browser.newContext({ viewport: size, deviceScaleFactor: 1 });
    contexts.push(context);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
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

    await say(call, 'I also want to upgrade my plan');
    await expect.poll(() => active(page)).toEqual(['triage']);
    await page.waitForSelector('#diagram .edge.taken[data-edge="billing->triage"]');
    await expect.poll(() => rowField(page, call, 'handoffs')).toBe('2/6');
    await expect.poll(() => page.locator('#timeline .tl-item').count()).toBe(3);
    await expect.poll(() => page.locator('#timeline').innerText()).toContain('I was charged twice on my card');
    await expect.poll(() => page.locator('[data-testid="transcript"]').innerText()).toContain('I also want to upgrade my plan');
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
    await expect.poll(() => rowField(page, b, 'state')).toBe('Triage');
    await expect.poll(() => rowField(page, b, 'handoffs')).toBe('2/6');
    await expect.poll(() => rowField(page, b, 'caller')).toBe('+15550100077');

    // Selecting a row shows that call's state in the diagram.
    await selectCall(page, a);
    await expect.poll(() => active(page)).toEqual(['billing']);
    await selectCall(page, b);
    await expect.poll(() => active(page)).toEqual(['triage']);
  });

  it('a supervisor moves a call, and a refused move shows the machine’s reason', async () => {
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

    const refused = waitForEvent(call, (e) => e.type === 'rejected');
    await page.click('[data-testid="send-billing"]');
    const rejection = await refused;
    if (rejection.type !== 'rejected') throw new Error('expected a refusal');
    expect(rejection.reason).toMatch(/support cannot transfer directly to billing/);
    const result = page.locator('[data-testid="command-result"]');
    await expect.poll(() => result.innerText()).toContain(rejection.reason);
    await expect.poll(() => result.getAttribute('data-accepted')).toBe('false');
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

  it('screenshot of a call mid-way (two transfers, transcript) → docs/inspector.png', async () => {
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
    // A refused supervisor move (billing reaches only triage), for the refusals list.
    await page.click('[data-testid="send-sales"]');
    await expect.poll(() => page.locator('[data-testid="command-result"]').innerText()).toMatch(/refused/i);
    await say(call, 'I also want to upgrade my plan');

    await expect.poll(() => active(page)).toEqual(['triage']);
    await expect.poll(() => rowField(page, call, 'handoffs')).toBe('2/6');
    await expect.poll(() => rowField(page, call, 'caller')).toBe('Maya');
    await page.waitForSelector('#diagram .edge.taken[data-edge="billing->triage"]');
    await expect.poll(() => page.locator('[data-testid="transcript"] .msg').count()).toBeGreaterThanOrEqual(6);

    await page.mouse.move(1, 1); // no hover highlight in the picture
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
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
      await page.screenshot({ path: join(REPO, 'docs', 'inspector-replay.png'), animations: 'disabled' });
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

  it('says so when the server has no call records', async () => {
    const { page, errors } = await openPage(inspector.url);
    await page.click('[data-testid="tab-past"]');
    await expect.poll(() => page.locator('[data-testid="past-problem"]').innerText()).toMatch(/Call records are not available on this server/);
    expect(errors.filter((e) => !/404/.test(e))).toEqual([]);
  });
});
