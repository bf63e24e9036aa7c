/**
 * A past call's recording as the inspector serves it (`GET /api/records/:id/recording`): the file the
 * record names, under the token, with Range (Chromium seeks with it), and 404s that say why (no recording,
 * the file gone, a name that points out of RECORDINGS_DIR); and the Past tab's figures (`GET /api/figures`).
 * A real inspector server, a real SQLite records store, a real Ogg/Opus file rendered from the voice fixtures.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HandoffStages } from '../src/call/events.js';
import { percentile } from '../src/cli/turn-figures.js';
import { type Figures, figuresOf, nearestRank, transferKind } from '../src/inspector/figures.js';
import { byteRange } from '../src/inspector/recording.js';
import { type InspectorServer, inspectorOptionsFrom, startInspectorServer } from '../src/inspector/server.js';
import { inspectorRecords } from '../src/records/index.js';
import { SqliteStore } from '../src/records/sqlite.js';
import { recordEvents, recordedCallEvents, renderRecording } from './support/recorded-call.js';

const TOKEN = 'recording-Token_0123456789';
const FILE = '20261208T020053Z-b2e18476.ogg';

let tmp: string;
let dir: string;
let store: SqliteStore;
let server: InspectorServer;
let base: string;
let ogg: Buffer;

/** A call whose record names `file` as its recording (null: not recorded). */
const recorded = (callId: string, t0: number, file: string | null) =>
  recordEvents(store, callId, recordedCallEvents(callId, t0, file === null ? null : { name: file, bytes: 1000 }));

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-recording-'));
  dir = join(tmp, 'recordings');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  await renderRecording(join(dir, FILE));
  ogg = readFileSync(join(dir, FILE));
  // Files a record must never reach: beside the directory, under it, and a link out of it.
  writeFileSync(join(tmp, 'secret.ogg'), 'not yours');
  writeFileSync(join(dir, 'sub', 'x.ogg'), 'not a recording of a call');
  symlinkSync(join(tmp, 'secret.ogg'), join(dir, 'link.ogg'));
  store = new SqliteStore(join(tmp, 'calls.sqlite'));
  const t0 = Date.now() - 600_000;
  await recorded('with-recording', t0, FILE);
  await recorded('not-recorded', t0 + 1000, null);
  await recorded('gone', t0 + 2000, '20261101T000000Z-00000000.ogg');
  await recorded('escape', t0 + 3000, '../secret.ogg');
  await recorded('nested', t0 + 4000, 'sub/x.ogg');
  await recorded('link', t0 + 5000, 'link.ogg');
  server = await startInspectorServer({ token: TOKEN, records: inspectorRecords(store), recordingsDir: dir });
  base = new URL(server.url).origin;
});

afterAll(async () => {
  await server?.close();
  await store?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
  fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, ...headers } });
const recordingOf = (id: string) => `/api/records/${encodeURIComponent(id)}/recording`;

describe('GET /api/records/:id/recording', () => {
  it('needs the token, like every endpoint', async () => {
    expect((await fetch(`${base}${recordingOf('with-recording')}`)).status).toBe(401);
    expect((await fetch(`${base}${recordingOf('with-recording')}`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const viaQuery = await fetch(`${base}${recordingOf('with-recording')}?token=${TOKEN}`);
    expect(viaQuery.status).toBe(200);
    await viaQuery.arrayBuffer();
  });

  it('serves the whole file as audio/ogg, saying it takes ranges', async () => {
    const res = await get(recordingOf('with-recording'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/ogg');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-length')).toBe(String(ogg.length));
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.equals(ogg)).toBe(true);
    expect(body.subarray(0, 4).toString('ascii')).toBe('OggS');
    const head = await get(recordingOf('with-recording'), {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(ogg.length));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('answers a Range with 206 and exactly those bytes (first bytes, from an offset to the end, the last n)', async () => {
    const cases: [string, number, number][] = [
      ['bytes=0-99', 0, 99],
      [`bytes=${ogg.length - 300}-`, ogg.length - 300, ogg.length - 1],
      ['bytes=-50', ogg.length - 50, ogg.length - 1],
      [`bytes=1000-${ogg.length + 5000}`, 1000, ogg.length - 1],
    ];
    for (const [range, start, end] of cases) {
      const res = await get(recordingOf('with-recording'), { range });
      expect(res.status, range).toBe(206);
      expect(res.headers.get('content-range'), range).toBe(`bytes ${start}-${end}/${ogg.length}`);
      expect(res.headers.get('content-length'), range).toBe(String(end - start + 1));
      expect(res.headers.get('content-type')).toBe('audio/ogg');
      expect(Buffer.from(await res.arrayBuffer()).equals(ogg.subarray(start, end + 1)), range).toBe(true);
    }
    const outside = await get(recordingOf('with-recording'), { range: `bytes=${ogg.length}-` });
    expect(outside.status).toBe(416);
    expect(outside.headers.get('content-range')).toBe(`bytes */${ogg.length}`);
    await outside.arrayBuffer();
    // Several ranges at once are not answered as such: the whole file.
    const several = await get(recordingOf('with-recording'), { range: 'bytes=0-9,20-29' });
    expect(several.status).toBe(200);
    expect((await several.arrayBuffer()).byteLength).toBe(ogg.length);
  });

  it('says why there is nothing to play: no such call, not recorded, the file gone (retention)', async () => {
    const cases: [string, RegExp][] = [
      ['no-such-call', /^no such call$/],
      ['not-recorded', /this call has no recording/],
      ['gone', /the recording of this call is gone .*RECORDING_RETENTION_DAYS/],
    ];
    for (const [id, error] of cases) {
      const res = await get(recordingOf(id));
      expect(res.status, id).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(((await res.json()) as { error: string }).error, id).toMatch(error);
    }
  });

  it('never serves a file outside RECORDINGS_DIR, whatever the record names (.., a subfolder, a link out)', async () => {
    for (const id of ['escape', 'nested', 'link']) {
      const res = await get(recordingOf(id));
      expect(res.status, id).toBe(404);
      const body = await res.text();
      expect(body, id).toMatch(/outside the recordings directory: refused/);
      expect(body).not.toContain('not yours');
    }
    // The path itself cannot reach further: an encoded slash is a call id, never a path.
    const res = await get(`/api/records/${encodeURIComponent('../../secret')}/recording`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'no such call' });
  });

  it('serves none without RECORDINGS_DIR or call records; inspectorOptionsFrom passes RECORDINGS_DIR', async () => {
    const bare = await startInspectorServer({ records: inspectorRecords(store) });
    try {
      const res = await fetch(`${new URL(bare.url).origin}${recordingOf('with-recording')}`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: string }).error).toMatch(/without RECORDINGS_DIR/);
    } finally {
      await bare.close();
    }
    const noRecords = await startInspectorServer({ recordingsDir: dir });
    try {
      const res = await fetch(`${new URL(noRecords.url).origin}${recordingOf('with-recording')}`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: string }).error).toMatch(/call records are not available/);
    } finally {
      await noRecords.close();
    }
    const settings = { INSPECTOR_HOST: '127.0.0.1', INSPECTOR_PORT: 7300, INSPECTOR_TOKEN: undefined, INSPECTOR_HIDE_PHONE_NUMBERS: false, REDACT_PII: 'off' as const };
    expect(inspectorOptionsFrom({ ...settings, RECORDINGS_DIR: 'data/recordings' }).recordingsDir).toBe(join(process.cwd(), 'data/recordings'));
    expect(inspectorOptionsFrom(settings).recordingsDir).toBeUndefined();
  });

  it('the page may play it: its CSP allows same-origin media', async () => {
    const res = await get('/');
    expect(res.headers.get('content-security-policy')).toContain("media-src 'self'");
    await res.text();
  });

  it('reads a Range header as Chromium sends it', () => {
    expect(byteRange(undefined, 100)).toBeNull();
    expect(byteRange('bytes=0-', 100)).toEqual({ start: 0, end: 99 });
    expect(byteRange('bytes=-0', 100)).toBe('unsatisfiable');
    expect(byteRange('bytes=-500', 100)).toEqual({ start: 0, end: 99 });
    expect(byteRange('bytes=50-10', 100)).toBe('unsatisfiable');
    expect(byteRange('items=0-1', 100)).toBeNull();
  });
});

describe('GET /api/figures: response time per desk and per transfer kind over recent calls', () => {
  const stages = (silenceMs: number | null, llmTtftMs: number): HandoffStages => ({
    decisionMs: 0.1, swapMs: 30, llmTtftMs, ttsTtfbMs: 200, silenceMs, preparedPlayed: true, bridged: false,
  });

  it('p50/p95 nearest-rank, as npm run calls figures them', () => {
    for (const n of [1, 2, 3, 7, 19, 20, 21, 100]) {
      const sorted = Array.from({ length: n }, (_, i) => (i * 37) % 101).sort((a, b) => a - b);
      for (const p of [50, 95]) expect(nearestRank(sorted, p), `${n} ${p}`).toBe(percentile(sorted, p));
    }
    expect(nearestRank([], 50)).toBeNull();
  });

  it('kinds of transfer: into a specialist desk, back to the front desk, to a person, back from a person', () => {
    expect(transferKind('triage', 'billing')).toBe('specialist');
    expect(transferKind('billing', 'triage')).toBe('triage');
    expect(transferKind('sales', 'human')).toBe('person');
    expect(transferKind('triage', 'human')).toBe('person');
    expect(transferKind('human', 'support')).toBe('back');
    expect(transferKind('billing', 'sales')).toBe('desk');
  });

  it('figures the recorded calls, each read whole', async () => {
    const res = await get('/api/figures?limit=10');
    expect(res.status).toBe(200);
    const f = (await res.json()) as Figures;
    // Six calls, each: billing answered two turns (920 and 790 ms), one transfer triage → billing (620 ms heard).
    expect(f.calls).toBe(6);
    expect(f.desks).toEqual([{ desk: 'billing', turns: 12, response: { n: 12, p50: 790, p95: 920 }, model: { n: 12, p50: 180, p95: 210 } }]);
    expect(f.transfers).toEqual([{ kind: 'specialist', transfers: 6, response: { n: 6, p50: 620, p95: 620 }, model: { n: 6, p50: 210, p95: 210 } }]);
    const one = (await (await get('/api/figures?limit=1')).json()) as Figures;
    expect(one.calls).toBe(1);
    expect((await get('/api/figures?limit=0')).status).toBe(400);
    expect((await fetch(`${base}/api/figures`)).status).toBe(401);
  });

  it('per kind, over voice and text calls (a text call: the model\'s figures only)', () => {
    const at = 1_000_000;
    const leg = (state: string, silenceMs: number | null, llm: number) => ({ state, enteredAt: at, stages: stages(silenceMs, llm) });
    const view = (timeline: { state: string; enteredAt: number; stages?: HandoffStages }[], turns: [string, number | null, number][]) => ({
      callId: 'x', live: false, startedAt: at, state: 'ended', handoffCount: 0, maxHandoffs: 6, humanAvailable: true, caller: {},
      timeline, refusals: [], errors: [],
      transcript: turns.map(([who, responseMs, llmTtftMs]) => ({ at, who, text: '…', turn: { eouMs: null, sttMs: null, llmTtftMs, ttsTtfbMs: null, responseMs } })),
    });
    const f = figuresOf([
      view([{ state: 'triage', enteredAt: at }, leg('billing', 100, 300), leg('triage', 400, 250), leg('sales', 200, 350), leg('human', 900, 500)], [['billing', 1000, 200], ['sales', 1400, 300]]),
      view([{ state: 'triage', enteredAt: at }, leg('support', null, 320), leg('human', null, 510), leg('support', null, 330)], [['support', null, 260]]),
    ]);
    expect(f.transfers.map((t) => [t.kind, t.transfers, t.response.n, t.response.p95, t.model.p50])).toEqual([
      ['specialist', 3, 2, 200, 320],
      ['triage', 1, 1, 400, 250],
      ['person', 2, 1, 900, 500],
      ['back', 1, 0, null, 330],
    ]);
    expect(f.desks.map((d) => [d.desk, d.turns, d.response.p50, d.model.p50])).toEqual([
      ['billing', 1, 1000, 200],
      ['sales', 1, 1400, 300],
      ['support', 1, null, 260],
    ]);
  });
});
