/**
 * A past call on one timeline, in Chromium: the recording's waveform (both channels, each where its sound
 * is), the transcript lines, the transfer and the refusal placed on the call's clock, each turn's wait as a
 * bar; a click on a line plays the recording from that line (its `spokeAt`). Without a recording the same is
 * drawn and says so; a recording deleted since says so. The Past tab's dashboard, and a live call's latency
 * chip arriving with its turn. A real inspector server, a real SQLite records store, a real Ogg/Opus file
 * rendered from the voice fixtures with the bundled ffmpeg.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { CallEvent } from '../src/call/events.js';
import { encode, ingestUrl } from '../src/inspector/client.js';
import { type InspectorServer, startInspectorServer } from '../src/inspector/server.js';
import { inspectorRecords } from '../src/records/index.js';
import { SqliteStore } from '../src/records/sqlite.js';
import { CHROMIUM, launchChromium, newPage } from './support/chromium.js';
import { RECORDING_AFTER_START_MS, RECORDING_MS, recordEvents, recordedCallEvents, renderRecording } from './support/recorded-call.js';
import { shotPath } from './support/shots.js';

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: the timeline's browser tests need it on CI (apt-get install -y chromium).`);
const suite = haveChromium ? describe : describe.skip;

const FILE = '20261208T020053Z-b2e18476.ogg';
/** The call's axis: from its start to its recording's end (the recording starts 300 ms in). */
const SPAN = RECORDING_AFTER_START_MS + RECORDING_MS;

suite(haveChromium ? 'a past call on one timeline, in a browser' : `timeline in a browser (SKIPPED: ${CHROMIUM} not found)`, () => {
  let tmp: string;
  let store: SqliteStore;
  let server: InspectorServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'switchboard-timeline-'));
    const dir = join(tmp, 'recordings');
    mkdirSync(dir);
    const { bytes } = await renderRecording(join(dir, FILE));
    store = new SqliteStore(join(tmp, 'calls.sqlite'));
    const t0 = Date.now() - 3_600_000;
    await recordEvents(store, 'gone-call', recordedCallEvents('gone-call', t0, { name: '20261101T000000Z-00000000.ogg', bytes }, { name: 'Priya Raman', phoneNumber: '+15550100042' }));
    await recordEvents(store, 'text-only-call', recordedCallEvents('text-only-call', t0 + 60_000, null, { name: 'Marcus Lee', phoneNumber: '+15550100199' }));
    await recordEvents(store, 'recorded-call', recordedCallEvents('recorded-call', t0 + 120_000, { name: FILE, bytes }));
    server = await startInspectorServer({ host: '127.0.0.1', port: 0, records: inspectorRecords(store), recordingsDir: dir });
    browser = await launchChromium();
  });

  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close().catch(() => undefined);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await store?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  async function openPast(callId: string, size = { width: 1280, height: 900 }) {
    const { page, errors } = await newPage(browser, contexts, size);
    await page.goto(server.url);
    await page.click('[data-testid="tab-past"]');
    await page.locator(`[data-record-id="${callId}"]`).click();
    await expect.poll(() => page.locator('#details-id').innerText()).toBe(callId);
    await page.locator('[data-testid="call-timeline"]').waitFor();
    return { page, errors };
  }

  /** Where something is on a lane: its left (and right) edge as ms on the call's clock. */
  const onClock = (page: Page, selector: string) =>
    page.$$eval(
      selector,
      (els, span) =>
        els.map((el) => {
          const track = el.closest('.ctl-track, .ctl-overlay')!.getBoundingClientRect();
          const r = el.getBoundingClientRect();
          return { from: ((r.left - track.left) / track.width) * span, to: ((r.right - track.left) / track.width) * span };
        }),
      SPAN,
    );

  /** Each canvas's ink (opaque pixels) per ms window on the call's clock: the mean height of its columns. */
  const ink = (page: Page, channel: string, fromMs: number, toMs: number) =>
    page.$eval(
      `#call-tl canvas[data-channel="${channel}"]`,
      (c, [from, to, span]) => {
        const canvas = c as HTMLCanvasElement;
        const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        const x0 = Math.round((from / span) * canvas.width);
        const x1 = Math.round((to / span) * canvas.width);
        let lit = 0;
        for (let x = x0; x < x1; x++) for (let y = 0; y < canvas.height; y++) if (data[(y * canvas.width + x) * 4 + 3]! > 100) lit++;
        return lit / (x1 - x0);
      },
      [fromMs, toMs, SPAN],
    );

  const audioState = (page: Page) =>
    page.$eval('[data-testid="timeline-audio"]', (a) => ({ t: (a as HTMLAudioElement).currentTime, paused: (a as HTMLAudioElement).paused }));

  /** The player is playing from about `seconds` in: near it, not paused, and moving on. */
  async function expectPlayingFrom(page: Page, seconds: number) {
    await expect.poll(async () => (await audioState(page)).paused, { timeout: 10_000 }).toBe(false);
    const first = await audioState(page);
    expect(Math.abs(first.t - seconds), `played from ${first.t} s, the line is at ${seconds} s`).toBeLessThan(0.3);
    await expect.poll(async () => (await audioState(page)).t, { timeout: 5000 }).toBeGreaterThan(first.t + 0.1);
    expect((await audioState(page)).paused).toBe(false);
  }

  const rec = (ms: number) => RECORDING_AFTER_START_MS + ms;

  it('draws the waveform of both channels, the lines, the transfer, the refusal and the waits on the call\'s clock; a clicked line plays from there', async () => {
    const { page, errors } = await openPast('recorded-call');
    await expect.poll(() => page.locator('[data-testid="timeline-status"]').getAttribute('data-state'), { timeout: 15_000 }).toBe('ready');
    expect(await page.locator('[data-testid="timeline-status"]').innerText()).toMatch(/^Recording 0:15 · /);

    // The waveform: each channel has sound where its clips are and none where the other side speaks.
    expect(Number(await page.locator('#call-tl canvas[data-channel="caller"]').getAttribute('data-drawn'))).toBeGreaterThan(50);
    expect(Number(await page.locator('#call-tl canvas[data-channel="agents"]').getAttribute('data-drawn'))).toBeGreaterThan(50);
    const callerSpeaks = [rec(3200), rec(4800)] as const; // "I was charged twice on my card"
    const billingSpeaks = [rec(6300), rec(8500)] as const; // billing's answer
    expect(await ink(page, 'caller', ...callerSpeaks)).toBeGreaterThan(6);
    expect(await ink(page, 'caller', ...billingSpeaks)).toBeLessThan(1);
    expect(await ink(page, 'agents', ...billingSpeaks)).toBeGreaterThan(6);
    expect(await ink(page, 'agents', ...callerSpeaks)).toBeLessThan(1);

    // The lines: the caller's on the caller's lane, the desks' on theirs, each from where it was said.
    expect(await page.locator('.ctl-caller [data-testid="timeline-line"]').allInnerTexts()).toEqual(['I was charged twice on my card', 'Thank you, that is all, goodbye']);
    expect(await page.locator('.ctl-agents [data-testid="timeline-line"]').count()).toBe(3);
    const [greeting, answer] = await onClock(page, '.ctl-agents [data-testid="timeline-line"]');
    expect(Math.abs(greeting!.from - rec(200))).toBeLessThan(60);
    expect(Math.abs(answer!.from - rec(6000))).toBeLessThan(60);
    expect(Math.abs(answer!.to - rec(8900))).toBeLessThan(60);
    // The transfer and the refusal, where they happened.
    const [transfer] = await onClock(page, '[data-testid="timeline-transfer"]');
    expect(Math.abs((transfer!.from + transfer!.to) / 2 - rec(5500))).toBeLessThan(60);
    expect(await page.locator('[data-testid="timeline-transfer"]').getAttribute('title')).toMatch(/Triage → Billing\n“double charge on the card”\n620 ms of silence heard/);
    const [refusal] = await onClock(page, '[data-testid="timeline-refusal"]');
    expect(Math.abs((refusal!.from + refusal!.to) / 2 - rec(9200))).toBeLessThan(60);
    expect(await page.locator('.ctl-route .ctl-leg').allInnerTexts()).toEqual(['Triage', 'Billing']);
    // Each turn's wait: as long as the response time, ending where the answer was first heard, split by stage.
    const turns = page.locator('[data-testid="timeline-turn"]');
    expect(await turns.evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.ms))).toEqual(['920', '790']);
    const [wait] = await onClock(page, '[data-testid="timeline-turn"]');
    expect(Math.abs(wait!.to - rec(6000))).toBeLessThan(60);
    expect(Math.abs(wait!.to - wait!.from - 920)).toBeLessThan(60);
    expect(await turns.first().locator('.ctl-seg').evaluateAll((els) => els.map((e) => e.className.replace('ctl-seg ctl-seg-', '')))).toEqual(['eou', 'llm', 'tts', 'rest']);
    expect(await turns.first().locator('.ctl-stt').count()).toBe(1);

    // A click on billing's answer on the timeline plays the recording from where it was first heard (6.0 s).
    await page.locator('.ctl-agents [data-testid="timeline-line"]').nth(1).click();
    await expectPlayingFrom(page, 6.0);
    const head = await onClock(page, '[data-testid="timeline-playhead"]');
    const { t } = await audioState(page);
    expect(Math.abs(head[0]!.from - rec(t * 1000))).toBeLessThan(250);

    // A click on a line in the transcript does the same: the caller's goodbye, 10.0 s in.
    await page.locator('[data-testid="transcript"] .msg', { hasText: 'Thank you, that is all, goodbye' }).click();
    await expectPlayingFrom(page, 10.0);
    await expect.poll(() => page.locator('.ctl-caller .ctl-line.playing').allInnerTexts()).toEqual(['Thank you, that is all, goodbye']);

    // For the docs: the call just played from billing's answer, paused there.
    await page.locator('.ctl-agents [data-testid="timeline-line"]').nth(1).click();
    await expectPlayingFrom(page, 6.0);
    await page.$eval('[data-testid="timeline-audio"]', (a) => {
      const audio = a as HTMLAudioElement;
      audio.pause();
      audio.currentTime = 7.2;
    });
    await page.mouse.move(1, 1);
    await page.screenshot({ path: shotPath('inspector-timeline.png'), fullPage: true, animations: 'disabled' });
    expect(errors).toEqual([]);
  });

  it('without a recording, the lines, transfer and waits are drawn on the call\'s clock and it says so; a deleted recording says it is gone', async () => {
    const { page, errors } = await openPast('text-only-call');
    const status = page.locator('[data-testid="timeline-status"]');
    await expect.poll(() => status.getAttribute('data-state')).toBe('none');
    expect(await status.innerText()).toMatch(/^No recording of this call/);
    expect(await page.locator('[data-testid="timeline-audio"]').isHidden()).toBe(true);
    expect(await page.locator('[data-testid="timeline-line"]').count()).toBe(5);
    expect(await page.locator('[data-testid="timeline-transfer"]').count()).toBe(1);
    expect(await page.locator('[data-testid="timeline-turn"]').count()).toBe(2);
    expect(await page.locator('#call-tl canvas[data-drawn]').count()).toBe(0);
    expect(await page.locator('[data-testid="transcript"] .msg[data-offset-ms]').count()).toBe(0);
    expect(errors).toEqual([]);

    await page.locator('[data-record-id="gone-call"]').click();
    await expect.poll(() => status.getAttribute('data-state')).toBe('error');
    expect(await status.innerText()).toMatch(/^The recording cannot be played: the recording of this call is gone .*RECORDING_RETENTION_DAYS/);
    expect(await page.locator('[data-testid="timeline-line"]').count()).toBe(5);
  });

  it('the Past tab\'s dashboard: response time p50/p95 per desk and per transfer kind over the recent calls', async () => {
    const { page } = await openPast('recorded-call');
    const cell = (row: string, field: string) => page.locator(`[data-testid="past-figures"] tr[${row}] [data-field="${field}"]`).innerText();
    await expect.poll(() => cell('data-desk="billing"', 'n')).toBe('6');
    expect(await cell('data-desk="billing"', 'p50')).toBe('790 ms');
    expect(await cell('data-desk="billing"', 'p95')).toBe('920 ms');
    expect(await cell('data-kind="specialist"', 'n')).toBe('3');
    expect(await cell('data-kind="specialist"', 'p95')).toBe('620 ms');
    expect(await page.locator('[data-testid="past-figures"] tr[data-kind="specialist"] td').first().innerText()).toBe('into a specialist desk');
    expect(await page.locator('#past-figures-over').innerText()).toBe('over the last 3 calls');
    await page.click('[data-testid="tab-live"]');
    expect(await page.locator('[data-testid="past-figures"]').isHidden()).toBe(true);
    expect(await page.locator('[data-testid="call-timeline"]').isHidden()).toBe(true);
  });

  it('a live call: each answer gets its latency chip when its turn is measured, after the line itself', async () => {
    const ws = new WebSocket(ingestUrl(server.url));
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    const send = (msg: Parameters<typeof encode>[0]) => ws.send(encode(msg)!);
    const callId = 'live-turns';
    const at = Date.now() - 10_000;
    send({ kind: 'hello', callId, startedAt: at, state: 'triage', handoffCount: 0, maxHandoffs: 6, humanAvailable: false, caller: { name: 'Live' } });
    const events = recordedCallEvents(callId, at, null).filter((e) => e.type !== 'end');
    const upTo = (type: CallEvent['type'], nth: number) => events.findIndex((e, i) => e.type === type && events.slice(0, i + 1).filter((x) => x.type === type).length === nth);
    for (const event of events.slice(0, upTo('turn', 1))) send({ kind: 'event', callId, event });
    const { page, errors } = await newPage(browser, contexts);
    await page.goto(server.url);
    await page.locator(`[data-call-id="${callId}"]`).click();
    const chips = page.locator('#transcript [data-testid="turn"]');
    await expect.poll(() => page.locator('#transcript .msg').count()).toBe(3);
    expect(await chips.count()).toBe(0);
    send({ kind: 'event', callId, event: events[upTo('turn', 1)]! });
    await expect.poll(() => chips.allInnerTexts()).toEqual(['answered in 920 ms']);
    for (const event of events.slice(upTo('turn', 1) + 1)) send({ kind: 'event', callId, event });
    await expect.poll(() => chips.allInnerTexts()).toEqual(['answered in 920 ms', 'answered in 790 ms']);
    expect(await page.locator('[data-testid="call-timeline"]').isHidden()).toBe(true);
    ws.close();
    expect(errors).toEqual([]);
  });
});
