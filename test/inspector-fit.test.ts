/**
 * The inspector page as an operator sees it, in headless Chromium (playwright-core, Debian's chromium):
 * the whole statechart in its card at 1280×800 and 1440×900, no sideways scrolling at 400 px, edge
 * labels and chips in words (the developer's names on hover), and Hindi drawn with the inspector's own
 * Devanagari font — whatever fonts the machine has.
 *
 * Each page is a real call's page: a call through the real orchestrator and the scripted LLM server
 * (three transfers, its transcript), and a Hindi voice call reported over the wire as a worker reports
 * it (silence chips, a prepared reply, the per-desk silence table).
 */
import { existsSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import { machineGraph } from '../machines/derive.js';
import type { Call } from '../src/call/call.js';
import type { HandoffStages } from '../src/call/events.js';
import { type InspectorLink, attachInspector, encode, ingestUrl } from '../src/inspector/client.js';
import { type InspectorServer, startInspectorServer } from '../src/inspector/server.js';
import { say, startCall, startServer } from './support/harness.js';
import { shotPath } from './support/shots.js';
import { CHROMIUM, launchChromium, newPage } from './support/chromium.js';

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) {
  throw new Error(`${CHROMIUM} is missing: the inspector browser tests need it on CI. Install it with \`apt-get install -y chromium\`.`);
}
const suite = haveChromium ? describe : describe.skip;

/** The Hindi call: its caller's name and transcript (Devanagari only, no Latin letters). */
const HINDI = {
  callId: 'hindi-call',
  name: 'प्रिया शर्मा',
  lines: [
    { who: 'user', text: 'नमस्ते, मेरे कार्ड से दो बार पैसे कट गए हैं' },
    { who: 'billing', text: 'मैं बिलिंग विभाग से हूँ। आपका दूसरा भुगतान लौटा दिया जाएगा।' },
    { who: 'user', text: 'धन्यवाद, और मुझे नया प्लान भी चाहिए' },
  ],
};

suite('inspector page: fits its window, speaks plainly, draws Hindi (Chromium)', () => {
  let browser: Browser;
  let llm: ScriptedServer;
  let inspector: InspectorServer;
  let call: Call;
  let link: InspectorLink;
  let wire: WebSocket;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    llm = await startServer();
    inspector = await startInspectorServer({ host: '127.0.0.1', port: 0 });

    // A real call: three transfers (billing, back to triage, sales), a transcript.
    call = await startCall(llm, { caller: { phoneNumber: '+15550100042', accountId: 'AC-1042' } });
    link = attachInspector(call, { url: inspector.url });
    await say(call, 'Hi, my name is Maya');
    await say(call, 'I was charged twice on my card');
    await say(call, 'I also want to upgrade my plan');

    // A Hindi voice call from a worker elsewhere, reporting over the wire.
    wire = new WebSocket(ingestUrl(inspector.url));
    await new Promise((ok, fail) => wire.once('open', ok).once('error', fail));
    const send = (msg: Parameters<typeof encode>[0]) => wire.send(encode(msg)!);
    const stages = (silenceMs: number, preparedPlayed: boolean, bridged = false): HandoffStages => ({
      decisionMs: 0.05, swapMs: 1200, llmTtftMs: 310, ttsTtfbMs: 290, silenceMs, preparedPlayed, bridged,
    });
    const at = Date.now() - 60_000;
    const { callId } = HINDI;
    const caller = { name: HINDI.name, language: 'hi' };
    send({ kind: 'hello', callId, startedAt: at, state: 'triage', handoffCount: 0, maxHandoffs: 6, humanAvailable: true, caller });
    send({ kind: 'event', callId, event: { type: 'started', callId, state: 'triage', caller, maxHandoffs: 6, humanAvailable: true, at } });
    send({ kind: 'event', callId, event: { type: 'user', text: HINDI.lines[0]!.text, at: at + 500 } });
    send({ kind: 'event', callId, event: { type: 'handoff', from: 'triage', to: 'billing', handoffCount: 1, reason: 'दो बार भुगतान', source: 'agent', escalated: false, latencyMs: 0.4, stages: stages(160, true), at: at + 1000 } });
    send({ kind: 'event', callId, event: { type: 'agent', agent: 'billing', text: HINDI.lines[1]!.text, interrupted: false, at: at + 1500 } });
    send({ kind: 'event', callId, event: { type: 'user', text: HINDI.lines[2]!.text, at: at + 2500 } });
    send({ kind: 'snapshot', callId, state: 'billing', handoffCount: 1, status: 'active', at: at + 1000 });
    send({ kind: 'event', callId, event: { type: 'handoff', from: 'billing', to: 'human', handoffCount: 2, reason: 'asked for a person', source: 'keypad', escalated: false, latencyMs: null, mode: 'cold', stages: stages(420, false, true), at: at + 3000 } });
    send({ kind: 'snapshot', callId, state: 'human', handoffCount: 2, status: 'active', at: at + 3000 });
    for (let i = 0; inspector.stats().calls < 2; i++) {
      if (i > 100) throw new Error('the Hindi call did not reach the inspector');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close().catch(() => undefined);
  });

  afterAll(async () => {
    wire?.close();
    link?.close();
    await call?.close().catch(() => undefined);
    await browser?.close();
    await inspector?.close();
    await llm?.close();
  });

  /** A page at `size` showing `callId`'s details, its transcript, chips and the silence table loaded. */
  async function callPage(size: { width: number; height: number }, callId: string): Promise<{ page: Page; errors: string[] }> {
    const { page, errors } = await newPage(browser, contexts, size);
    await page.goto(inspector.url);
    const row = page.locator(`[data-call-id="${callId}"]`);
    await row.click();
    await expect.poll(() => row.getAttribute('aria-selected')).toBe('true');
    await page.waitForSelector('#diagram [data-active="true"]');
    await expect.poll(() => page.locator('[data-testid="transcript"] .msg').count()).toBeGreaterThanOrEqual(3);
    await expect.poll(() => page.locator('#timeline .tl-tags .tag').count()).toBeGreaterThanOrEqual(2);
    await expect.poll(() => page.locator('[data-testid="seams"] tr[data-desk]').count()).toBeGreaterThanOrEqual(1);
    await page.evaluate(() => document.fonts.ready);
    return { page, errors };
  }

  /** The page's width against the window's, and what sticks out (for the failure message). */
  const pageWidth = (page: Page) =>
    page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      wider: Array.from(document.querySelectorAll('body *'))
        .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5 && !e.closest('#diagram'))
        .slice(0, 6)
        .map((e) => `${e.tagName.toLowerCase()}.${e.getAttribute('class') ?? ''} → ${Math.round(e.getBoundingClientRect().right)} px`),
    }));

  /** The statechart's card (its visible box) and what of the drawing lies outside it. */
  const fit = (page: Page) =>
    page.evaluate(() => {
      const box = document.getElementById('diagram')!;
      const card = box.getBoundingClientRect();
      const svg = box.querySelector('svg')!.getBoundingClientRect();
      const outside = (r: DOMRect) => r.left < card.left - 0.5 || r.top < card.top - 0.5 || r.right > card.right + 0.5 || r.bottom > card.bottom + 0.5;
      const clipped = Array.from(box.querySelectorAll('[data-state], .edge-label'))
        .filter((el) => outside(el.getBoundingClientRect()))
        .map((el) => el.getAttribute('data-state') ?? `label ${el.getAttribute('data-edge')}`);
      return {
        card: { width: Math.round(card.width), height: Math.round(card.height) },
        svg: { width: Math.round(svg.width), height: Math.round(svg.height) },
        svgInside: !outside(svg),
        clipped,
        scrolls: box.scrollWidth > box.clientWidth + 1 || box.scrollHeight > box.clientHeight + 1,
      };
    });

  for (const size of [
    { width: 1280, height: 800 },
    { width: 1440, height: 900 },
  ]) {
    it(`at ${size.width}×${size.height} the whole statechart is in its card, "Ended" included, nothing to scroll`, async () => {
      const { page, errors } = await callPage(size, call.callId);
      const f = await fit(page);
      expect(f.clipped, JSON.stringify(f)).toEqual([]);
      expect(f.svgInside, JSON.stringify(f)).toBe(true);
      expect(f.scrolls, JSON.stringify(f)).toBe(false);
      expect(await page.locator('#diagram [data-state="ended"]').isVisible()).toBe(true);
      // Legible: an edge label (11 px in the drawing) is at least 8.5 px on screen.
      const labelPx = await page.evaluate(() => {
        const svg = document.querySelector('#diagram svg') as SVGSVGElement;
        return (11 * svg.getBoundingClientRect().width) / svg.viewBox.baseVal.width;
      });
      expect(labelPx).toBeGreaterThanOrEqual(8.5);
      const w = await pageWidth(page);
      expect(w.scrollWidth, JSON.stringify(w)).toBeLessThanOrEqual(w.innerWidth);
      await page.mouse.move(1, 1);
      await page.screenshot({ path: shotPath(`inspector-${size.width}.png`), animations: 'disabled' });
      expect(errors).toEqual([]);
    });
  }

  it('at 400 px wide the page does not scroll sideways (a real call, the Hindi call)', async () => {
    const seen: ({ callId: string } & Awaited<ReturnType<typeof pageWidth>>)[] = [];
    for (const callId of [call.callId, HINDI.callId]) {
      const { page, errors } = await callPage({ width: 400, height: 800 }, callId);
      seen.push({ callId, ...(await pageWidth(page)) });
      await page.mouse.move(1, 1);
      await page.screenshot({ path: shotPath(`inspector-400-${callId}.png`), fullPage: true, animations: 'disabled' });
      expect(errors).toEqual([]);
    }
    for (const s of seen) expect(s.scrollWidth, JSON.stringify(s)).toBeLessThanOrEqual(s.innerWidth);
  });

  it('edge labels are in words; the machine\'s event and guard names are on hover', async () => {
    const { page } = await callPage({ width: 1280, height: 800 }, call.callId);
    const label = (edge: string) => page.locator(`#diagram .edge-label[data-edge="${edge}"]`);
    const lines = (edge: string) => label(edge).locator('tspan').allTextContents();
    expect(await lines('triage->billing')).toEqual(['transfer']);
    expect(await lines('billing->human')).toEqual(['person asked for', 'or cap reached → person']);
    expect(await lines('human->sales')).toEqual(['person unreachable → back']);
    expect(await lines('sales->ended')).toEqual(['ended or hung up']);
    // Every edge of the machine: words only, no event or guard names; those are on hover.
    for (const e of machineGraph().edges) {
      const key = `${e.source}->${e.target}`;
      const text = (await lines(key)).join(' ');
      expect(text, key).not.toMatch(/[A-Z]{2,}|\[|\]|[a-z][A-Z]/);
      const hover = (await label(key).locator('title').textContent()) ?? '';
      for (const l of e.labels) expect(hover, key).toContain(l);
    }
    expect(await label('human->billing').locator('title').textContent()).toMatch(/HUMAN_TRANSFER_FAILED \[cameFrom\]/);
  });

  it('each chip says what it measures, in words, with its meaning on hover', async () => {
    const { page } = await callPage({ width: 1440, height: 900 }, call.callId);
    const realChips = await page.$$eval('#timeline .tl-tags .tag', (els) => els.map((e) => ({ text: (e as HTMLElement).innerText, title: e.getAttribute('title') ?? '' })));
    const { page: hindi } = await callPage({ width: 1440, height: 900 }, HINDI.callId);
    const voiceChips = await hindi.$$eval('#timeline .tl-tags .tag', (els) => els.map((e) => ({ text: (e as HTMLElement).innerText, title: e.getAttribute('title') ?? '' })));
    const chips = [...realChips, ...voiceChips];
    for (const c of chips) {
      expect(c.title.length, `"${c.text}" has no hover text`).toBeGreaterThan(20);
      expect(c.text).not.toMatch(/ms handoff|latency/);
    }
    const said = (text: string) => chips.find((c) => c.text === text)?.title;
    // Was "0 ms handoff": what it times, from where to where.
    expect(said('desk switched in 0 ms')).toMatch(/^Time from the machine's decision to the new desk starting work/);
    expect(said('switch time not measured')).toMatch(/not timed/);
    expect(said('160 ms silence heard')).toMatch(/^The silence the caller heard at this transfer: from the last sound on the line to the new desk's first sound\.\nWhere the time went:/);
    expect(said('prepared reply played')).toMatch(/prepared during the transfer/);
    expect(said('bridging line')).toMatch(/short bridging line/);
    expect(said('cold transfer')).toMatch(/SIP REFER/);
    // Who asked for the transfer, in words (was "agent", "keypad").
    expect(said('asked by the desk')).toMatch(/AI agent asked for this transfer/);
    expect(said('caller pressed a key')).toMatch(/keypad/);
  });

  it('Hindi is drawn with the inspector\'s own Devanagari font: every glyph present, no boxes', async () => {
    const { page, errors } = await callPage({ width: 1440, height: 900 }, HINDI.callId);
    // The fonts Chromium actually drew each Hindi text with (DevTools protocol, per node): every
    // Devanagari letter with the served font. A letter no font has is drawn by another font (a box), so
    // the other fonts may draw no more glyphs than the text has non-Devanagari characters (spaces, commas).
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('DOM.enable');
    await cdp.send('CSS.enable');
    const { root } = await cdp.send('DOM.getDocument', { depth: -1 });
    const texts = ['.caller-big', `[data-call-id="${HINDI.callId}"] [data-field="caller"]`, '[data-testid="transcript"] .msg-text', '#timeline .tl-reason'];
    let drawn = 0;
    for (const selector of texts) {
      const { nodeIds } = await cdp.send('DOM.querySelectorAll', { nodeId: root.nodeId, selector });
      expect(nodeIds.length, selector).toBeGreaterThan(0);
      for (const nodeId of nodeIds) {
        const { outerHTML } = await cdp.send('DOM.getOuterHTML', { nodeId });
        const text = outerHTML.replace(/<[^>]*>/g, '');
        if (!/[\u0900-\u097F]/.test(text)) continue;
        drawn++;
        const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId });
        const served = fonts.filter((f) => f.familyName === 'Noto Sans Devanagari' && f.isCustomFont);
        const others = fonts.filter((f) => !served.includes(f)).reduce((n, f) => n + f.glyphCount, 0);
        const nonDevanagari = [...text].filter((ch) => !/[\u0900-\u097F]/.test(ch)).length;
        expect(served.length, `${selector} "${text}": ${JSON.stringify(fonts)}`).toBe(1);
        expect(others, `${selector} "${text}": ${JSON.stringify(fonts)}`).toBeLessThanOrEqual(nonDevanagari);
      }
    }
    expect(drawn).toBeGreaterThanOrEqual(HINDI.lines.length + 2);

    // The font file comes from the inspector itself (no CDN): same origin, a woff2, loaded.
    const fontFiles = await page.evaluate(() =>
      performance.getEntriesByType('resource').map((r) => r.name).filter((n) => /\.woff2(\?|$)/.test(n)),
    );
    expect(fontFiles.length).toBeGreaterThan(0);
    for (const u of fontFiles) expect(new URL(u).origin).toBe(new URL(inspector.url).origin);
    expect(await page.evaluate(() => document.fonts.check('16px "Noto Sans Devanagari"', 'प्रिया शर्मा')), 'the font face is loaded').toBe(true);
    await page.mouse.move(1, 1);
    await page.screenshot({ path: shotPath('inspector-hindi.png'), animations: 'disabled' });
    expect(errors).toEqual([]);
  });

  it('the font is served like the page: with the token (or the page\'s session cookie) only, and only its own files', async () => {
    const token = 'fit-test-token-0123456789';
    const secured = await startInspectorServer({ host: '127.0.0.1', port: 0, token });
    try {
      const base = `http://127.0.0.1:${secured.port}/`;
      const file = 'vendor/fonts/noto-sans-devanagari-devanagari-wght-normal.woff2';
      expect((await fetch(`${base}${file}`)).status).toBe(401);
      const withToken = await fetch(`${base}${file}?token=${token}`);
      expect(withToken.status).toBe(200);
      expect(withToken.headers.get('content-type')).toBe('font/woff2');
      expect((await withToken.arrayBuffer()).byteLength).toBeGreaterThan(50_000);
      // The page opened with ?token= gets a session cookie; its font loads with it.
      const context = await browser.newContext();
      contexts.push(context);
      const page = await context.newPage();
      await page.goto(`${base}?token=${token}`);
      const viaCookie = await page.request.get(`${base}${file}`);
      expect(viaCookie.status()).toBe(200);
      for (const other of ['vendor/fonts/noto-sans-devanagari-nope.woff2', 'vendor/fonts/LICENSE', 'vendor/fonts/..%2F..%2Fpackage.json']) {
        expect((await fetch(`${base}${other}?token=${token}`)).status, other).toBe(404);
      }
    } finally {
      await secured.close();
    }
  });
});
