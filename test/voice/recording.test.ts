/**
 * RECORD_CALLS=on: a voice-loop call records itself the way the worker's calls do (LiveKit's RecorderIO
 * tapping the session's audio), and the recording is the call the caller had: decoded, each of its two
 * channels matches the same channel of the loop's own `call.wav` (caller left, agents right), in sound
 * and in time. The notice (RECORDING_NOTICE) is heard before the greeting, and told in the transcript.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFfmpegPath } from '@livekit/av';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallEvent } from '../../src/call/events.js';
import { RECORDING_NOTICES } from '../../src/call/recording.js';
import { AGENT_RATE } from '../../src/voice/agent-audio.js';
import type { BrowserContext } from 'playwright-core';
import { startInspectorServer } from '../../src/inspector/server.js';
import { inspectorRecords } from '../../src/records/index.js';
import { type Recorder, attachRecorder } from '../../src/records/recorder.js';
import { runCallsCli } from '../support/calls-cli.js';
import { CHROMIUM, launchChromium, newPage } from '../support/chromium.js';
import { SqliteStore } from '../../src/records/sqlite.js';
import { type VoiceRun, playVoiceCall } from './voice-run.js';

const ENVELOPE_MS = 20;

/** A stereo Ogg/Opus file decoded by ffmpeg to two channels at the agents' rate. */
function decode(path: string): { caller: Int16Array; agents: Int16Array } {
  const ffmpeg = process.env.LIVEKIT_FFMPEG_PATH || getFfmpegPath() || 'ffmpeg';
  const raw = execFileSync(ffmpeg, ['-v', 'error', '-i', path, '-f', 's16le', '-ac', '2', '-ar', String(AGENT_RATE), '-'], { maxBuffer: 1 << 28 });
  const pcm = new Int16Array(raw.buffer, raw.byteOffset, raw.length / 2);
  const caller = new Int16Array(pcm.length / 2);
  const agents = new Int16Array(pcm.length / 2);
  for (let i = 0; i < caller.length; i++) {
    caller[i] = pcm[i * 2]!;
    agents[i] = pcm[i * 2 + 1]!;
  }
  return { caller, agents };
}

/** Where the channel sounds, every 20 ms: its RMS over −40 dBFS. */
function sounding(ch: Int16Array): boolean[] {
  const n = (AGENT_RATE * ENVELOPE_MS) / 1000;
  const out: boolean[] = [];
  for (let i = 0; i + n <= ch.length; i += n) {
    let sum = 0;
    for (let j = i; j < i + n; j++) sum += ch[j]! * ch[j]!;
    out.push(Math.sqrt(sum / n) > 328);
  }
  return out;
}

/**
 * With `recorded` moved by `shift` steps: the share of the sounding steps of each that the other also
 * sounds at, within 40 ms (the lower of the two shares; an edge of a word may fall either side of a step).
 */
function overlap(heard: boolean[], recorded: boolean[], shift: number): number {
  const near = (xs: boolean[], i: number) => [-2, -1, 0, 1, 2].some((d) => xs[i + d] ?? false);
  const moved = heard.map((_, i) => recorded[i + shift] ?? false);
  const share = (a: boolean[], b: boolean[]) => {
    const on = a.flatMap((v, i) => (v ? [i] : []));
    return on.length ? on.filter((i) => near(b, i)).length / on.length : 0;
  };
  return Math.min(share(heard, moved), share(moved, heard));
}

/** The best match of `recorded` against `heard` within ±1 s: its overlap and where (ms; the recording earlier: −). */
function bestMatch(heard: Int16Array, recorded: Int16Array): { overlap: number; offsetMs: number } {
  const a = sounding(heard);
  const b = sounding(recorded);
  let best = { overlap: -1, offsetMs: 0 };
  for (let s = -50; s <= 50; s++) {
    const o = overlap(a, b, s);
    if (o > best.overlap) best = { overlap: o, offsetMs: s * ENVELOPE_MS };
  }
  return best;
}

describe('a recorded voice call (RECORD_CALLS=on)', { timeout: 180_000 }, () => {
  let dir: string;
  let run: VoiceRun;
  let recording: Extract<CallEvent, { type: 'recording' }>;
  let store: SqliteStore;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-recordings-'));
    store = new SqliteStore(join(dir, 'calls.sqlite'));
    let recorder: Recorder | undefined;
    run = await playVoiceCall('short', { RECORD_CALLS: 'on', RECORDINGS_DIR: join(dir, 'recordings'), RECORDING_NOTICE: 'on' }, {}, (call) => {
      recorder = attachRecorder(call, store, { webhooks: true });
    });
    await recorder!.done;
    const ev = run.events.map((e) => e.event).find((e) => e.type === 'recording');
    if (!ev || ev.type !== 'recording') throw new Error(`no recording event: ${run.events.map((e) => e.event.type).join(' ')}`);
    recording = ev;
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves one Ogg/Opus file in RECORDINGS_DIR, named by the recording event before the end', () => {
    expect(readdirSync(join(dir, 'recordings'))).toEqual([recording.file]);
    expect(recording.file).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{8}\.ogg$/);
    expect(recording.file).not.toContain(run.call.callId);
    expect(recording.bytes).toBe(statSync(join(dir, 'recordings', recording.file)).size);
    const types = run.events.map((e) => e.event.type);
    expect(types.indexOf('recording')).toBe(types.length - 2);
    expect(types.at(-1)).toBe('end');
    // As long as the call (the loop's clock starts a moment before the recorder's).
    const callMs = run.channels.agents.length / (AGENT_RATE / 1000);
    expect(Math.abs(recording.durationMs - callMs)).toBeLessThan(1500);
  });

  it('holds the caller on the left and the agents on the right, as call.wav does, in time', async () => {
    const rec = decode(join(dir, 'recordings', recording.file));
    expect(rec.caller.length / (AGENT_RATE / 1000)).toBeGreaterThan(recording.durationMs - 100);
    const caller = bestMatch(run.channels.caller, rec.caller);
    const agents = bestMatch(run.channels.agents, rec.agents);
    expect(caller.overlap).toBeGreaterThan(0.95);
    expect(agents.overlap).toBeGreaterThan(0.95);
    // Both channels on one clock: the agents' sound sits where the caller's puts it.
    expect(Math.abs(caller.offsetMs - agents.offsetMs)).toBeLessThanOrEqual(100);
    expect(Math.abs(caller.offsetMs)).toBeLessThanOrEqual(300);
    // Not swapped: the caller's channel of the recording is not the agents' voice.
    expect(bestMatch(run.channels.agents, rec.caller).overlap).toBeLessThan(0.5);
  });

  it('is named, with the turns and their latency, by the call record and the call.ended webhook', async () => {
    const { type: _t, at: _a, ...info } = recording;
    const rec = await store.getCall(run.call.callId);
    expect(rec!.call.recording).toEqual(info);
    const [row] = await store.listCalls(1);
    expect(row!.recording).toEqual(info);
    // Both caller lines answered, each with the caller's wait measured in sound.
    expect(row!.turns.map((t) => t.line)).toEqual([1, 2]);
    for (const t of row!.turns) expect(t.responseMs).toBeGreaterThan(0);
    const ended = (await store.webhooks()).find((w) => w.type === 'call.ended');
    const body = JSON.parse(ended!.body) as { data: { recording: unknown; turns: { line: number; responseMs: number }[] } };
    expect(body.data.recording).toEqual(info);
    expect(body.data.turns).toEqual(row!.turns);
    // npm run calls names it too (the file's name is not the call's).
    const shown = await runCallsCli(dir, [run.call.callId], { CALLS_DB: join(dir, 'calls.sqlite') });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`Recording: ${recording.file} in RECORDINGS_DIR (Ogg/Opus, caller left, agents right, `);
  });

  it('opens in the inspector\'s Past tab on its timeline, and a clicked line plays from where the caller said it', { skip: !existsSync(CHROMIUM) && !process.env.CI }, async () => {
    const server = await startInspectorServer({ host: '127.0.0.1', port: 0, records: inspectorRecords(store), recordingsDir: join(dir, 'recordings') });
    const browser = await launchChromium();
    const contexts: BrowserContext[] = [];
    try {
      const { page, errors } = await newPage(browser, contexts, { width: 1280, height: 900 });
      await page.goto(server.url);
      await page.click('[data-testid="tab-past"]');
      await page.locator(`[data-record-id="${run.call.callId}"]`).click();
      const status = page.locator('[data-testid="timeline-status"]');
      await expect.poll(() => status.getAttribute('data-state'), { timeout: 20_000 }).toBe('ready');
      expect(await page.locator('.ctl-caller [data-testid="timeline-line"]').count()).toBe(2);
      // The caller's goodbye: the recording plays from when the caller started to say it.
      const goodbye = run.events.map((e) => e.event).filter((e) => e.type === 'user')[1]!;
      const fromS = (goodbye.spokeAt! - recording.startedAt) / 1000;
      await page.locator('.ctl-caller [data-testid="timeline-line"]').nth(1).click();
      const audio = () => page.$eval('[data-testid="timeline-audio"]', (a) => ({ t: (a as HTMLAudioElement).currentTime, paused: (a as HTMLAudioElement).paused }));
      await expect.poll(async () => (await audio()).paused, { timeout: 10_000 }).toBe(false);
      expect(Math.abs((await audio()).t - fromS)).toBeLessThan(0.5);
      // …and there, in the file, is the caller's voice.
      const rec = decode(join(dir, 'recordings', recording.file));
      const at = Math.round(fromS * AGENT_RATE);
      expect(sounding(rec.caller.subarray(at, at + AGENT_RATE)).filter(Boolean).length).toBeGreaterThan(10);
      expect(errors).toEqual([]);
    } finally {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser.close();
      await server.close();
    }
  });

  it('says the notice before the greeting, and tells it in the transcript with when it sounded', () => {
    const agentLines = run.events.map((e) => e.event).filter((e) => e.type === 'agent');
    expect(agentLines[0]).toMatchObject({ agent: 'triage', text: RECORDING_NOTICES.en, interrupted: false });
    expect(agentLines[1]!.text).not.toBe(RECORDING_NOTICES.en);
    const notice = run.timeline.utterances.find((u) => u.text === RECORDING_NOTICES.en);
    const first = run.timeline.utterances.find((u) => u.speaker !== 'caller');
    expect(notice).toBe(first);
    // Each line knows when its sound started, on the recording's clock: the first agent line at its sound.
    const spokeAt = agentLines[0]!.spokeAt!;
    expect(spokeAt - recording.startedAt).toBeGreaterThan(0);
    const t0 = run.events[0]!.event.at - run.events[0]!.atMs; // the loop's clock zero, epoch ms
    expect(Math.abs(spokeAt - t0 - notice!.startMs)).toBeLessThan(250);
    const caller = run.events.map((e) => e.event).find((e) => e.type === 'user');
    const heardLine = run.timeline.utterances.find((u) => u.speaker === 'caller')!;
    expect(Math.abs(caller!.spokeAt! - t0 - heardLine.startMs)).toBeLessThan(400);
  });
});
