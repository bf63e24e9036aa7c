/**
 * Per-turn latency: each caller line answered is told as a `turn` event with where its time went, kept in
 * the records (events and the calls row), in `call.ended`, in `npm run calls` and in the inspector's view.
 *
 * - TurnLatency on its own, fed the session's metrics in the order LiveKit 1.9.0 reports them (measured on
 *   voice-loop calls: a reply's LLM request can start before the caller's line is committed, and a transfer's
 *   prepared reply is reported under the same reply), so each figure's source is pinned exactly.
 * - Text calls through the real orchestrator and the scripted server: the model's time only.
 * - The records, the webhook, the command and the view, from a recorded call.
 * The voice side (all five figures, the response time against call.wav) is test/voice/turn-latency.test.ts
 * and test/voice/voice-call.test.ts; the inspector's chip is in test/inspector-browser.test.ts.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { voice, type metrics } from '@livekit/agents';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Call } from '../src/call/call.js';
import { digestOf, summaryOf, viewOf } from '../src/call/digest.js';
import { type CallEvent, callEventSchema } from '../src/call/events.js';
import { TurnLatency } from '../src/call/turn-latency.js';
import { redactEvent } from '../src/redact.js';
import { attachRecorder } from '../src/records/recorder.js';
import { MIGRATIONS } from '../src/records/migrations.js';
import { PostgresStore } from '../src/records/postgres.js';
import { SqliteStore } from '../src/records/sqlite.js';
import type { CallStore } from '../src/records/types.js';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import { isTakeover, textOf } from '../dev/scripted-llm.js';
import { directiveScript, say, sayAndCall, startCall, startServer } from './support/harness.js';
import { runCallsCli } from './support/calls-cli.js';
import { PG_SKIP_REASON, TEST_DATABASE_URL, dropSchema, uniqueSchema } from './support/pg.js';

const S = voice.AgentSessionEventTypes;
type Turn = Extract<CallEvent, { type: 'turn' }>;
const turnsOf = (events: readonly CallEvent[]) => events.filter((e): e is Turn => e.type === 'turn');
const figures = ({ type: _t, at: _a, ...rest }: Turn) => rest;

// ---- TurnLatency, fed as LiveKit feeds it ---------------------------------------------------------

/** A session as TurnLatency sees it: its events, and an audio output or none. */
function fakeSession(audio: boolean) {
  const session = Object.assign(new EventEmitter(), { output: { audio: audio ? {} : null } });
  const told: CallEvent[] = [];
  const turns = new TurnLatency(session as unknown as voice.AgentSession<unknown>, (e) => told.push(e));
  /** A call event, as the call tells it (TurnLatency hears each one after it was told). */
  const hear = (e: CallEvent) => {
    told.push(e);
    turns.heard(e);
  };
  return {
    session,
    told,
    turns,
    metric: (m: Partial<metrics.AgentMetrics> & { type: metrics.AgentMetrics['type'] }) => session.emit(S.MetricsCollected, { metrics: m }),
    speech: (id: string, source = 'generate_reply') => session.emit(S.SpeechCreated, { source, speechHandle: { id }, userInitiated: true }),
    user: (text = 'hello') => hear({ type: 'user', text, at: Date.now() }),
    agent: (agent: 'triage' | 'billing', text = 'a line') => hear({ type: 'agent', agent, text, interrupted: false, at: Date.now() }),
    close: () => session.emit(S.Close, { reason: 'user_initiated' }),
  };
}

/** An LLM or speech request's metrics: started at `startAt` (epoch ms), reported `durationMs` later. */
const llm = (speechId: string | undefined, startAt: number, durationMs: number, ttftMs: number) =>
  ({ type: 'llm_metrics', speechId, timestamp: startAt + durationMs, durationMs, ttftMs, requestId: `r-${startAt}` }) as const;
const tts = (speechId: string | undefined, startAt: number, durationMs: number, ttfbMs: number) =>
  ({ type: 'tts_metrics', speechId, timestamp: startAt + durationMs, durationMs, ttfbMs, requestId: `t-${startAt}` }) as const;
const eou = (speechId: string, speechEndAt: number, eouMs: number, sttMs: number) =>
  ({ type: 'eou_metrics', speechId, lastSpeakingTimeMs: speechEndAt, endOfUtteranceDelayMs: eouMs, transcriptionDelayMs: sttMs, onUserTurnCompletedDelayMs: 0, timestamp: Date.now() }) as const;

describe('TurnLatency: a turn from the session\'s metrics and the sound the caller heard', () => {
  afterEach(() => vi.useRealTimers());

  it('a voice turn: each figure from its own source, the reply\'s first requests (not the next desk\'s prepared reply, nor a summary)', () => {
    const f = fakeSession(true);
    const end = Date.now() - 900; // the caller stopped speaking
    f.speech('S1');
    // LiveKit's preemptive generation: the reply's request starts on the final transcript, before the turn is committed.
    f.metric(llm('S1', end + 150, 90, 70));
    f.metric(tts(undefined, end - 5000, 20, 5)); // a bridging line made in advance: no reply of the call's
    f.metric(eou('S1', end, 600.4, 300.6));
    f.user();
    // Reported under the same reply: the next desk's reply prepared in the transfer tool, and a summary.
    f.metric(llm('S1', end + 700, 60, 40));
    f.metric(tts('S1', end + 650, 320, 310)); // the reply's speech (the adapter's report and the request's)
    f.metric(tts('S1', end + 650, 321, 311));
    f.metric(llm('S1', end + 1500, 900, 850));
    f.turns.sounded('triage', end + 1234);
    expect(turnsOf(f.told)).toEqual([]); // told once the answering line is
    f.agent('triage', 'Let me transfer you to billing.');
    expect(f.told.map((e) => e.type)).toEqual(['user', 'agent', 'turn']);
    expect(figures(turnsOf(f.told)[0]!)).toEqual({ line: 1, agent: 'triage', eouMs: 600, sttMs: 301, llmTtftMs: 70, ttsTtfbMs: 310, responseMs: 1234 });
    expect(callEventSchema.parse(turnsOf(f.told)[0])).toEqual(turnsOf(f.told)[0]);
  });

  it('the answer is the first sound after the caller\'s speech ended, whoever makes it; a line said over the caller answers nothing', () => {
    const f = fakeSession(true);
    const end = Date.now() - 2000;
    f.turns.sounded('triage', end - 400); // the transfer line the caller spoke over
    f.metric(eou('S1', end, 500, 300));
    f.user('it was my debit card');
    f.agent('triage', 'Let me transfer you to billing.'); // committed now, but it sounded before they finished
    expect(turnsOf(f.told)).toEqual([]);
    f.turns.sounded('billing', end + 900);
    f.turns.sounded('billing', end + 1900); // its next clip
    f.agent('billing', 'Sure.');
    f.agent('billing', 'This is the billing team.');
    expect(turnsOf(f.told).map(figures)).toEqual([
      { line: 1, agent: 'billing', eouMs: 500, sttMs: 300, llmTtftMs: null, ttsTtfbMs: null, responseMs: 900 },
    ]);
  });

  it('a sound between the end of speech and the committed line answers it; a line never answered is not told; close tells the one answered', () => {
    const f = fakeSession(true);
    const end = Date.now() - 1000;
    f.metric(eou('S1', end, 400, 200));
    f.turns.sounded('triage', end + 450);
    f.user('one');
    // The caller speaks again before the answer's line was committed: the first turn is told as it stands.
    f.metric(eou('S2', end + 800, 400, 200));
    f.user('two');
    expect(turnsOf(f.told).map((t) => [t.line, t.responseMs])).toEqual([[1, 450]]);
    // Never answered: the next line opens its own turn, and nothing is told for the second.
    f.metric(eou('S3', end + 950, 300, 100));
    f.user('three');
    f.turns.sounded('triage', end + 1000);
    f.close();
    expect(turnsOf(f.told).map((t) => [t.line, t.responseMs])).toEqual([[1, 450], [3, 50]]);
    // The session lets its audio output go as it closes: a line committed then is still no answer unheard.
    f.metric(eou('S4', end + 1100, 300, 100));
    f.user('four');
    f.session.output.audio = null;
    f.agent('triage', 'Goodbye!');
    expect(turnsOf(f.told).map((t) => t.line)).toEqual([1, 3]);
  });

  it('a text turn (no audio): the model\'s time only, its reply the one asked for with the line; told after the answering line', () => {
    const f = fakeSession(false);
    const t0 = Date.now() - 500;
    f.speech('greeting');
    f.metric(llm('greeting', t0 - 3000, 100, 80));
    f.speech('S2');
    f.metric(llm('S2', t0 - 2, 120, 95)); // asked for a moment before the line is committed
    f.user('I was charged twice');
    f.metric(llm('S2', t0 + 200, 60, 30)); // after its tool: the words
    f.speech('bridge', 'say');
    f.agent('triage');
    expect(figures(turnsOf(f.told)[0]!)).toEqual({ line: 1, agent: 'triage', eouMs: null, sttMs: null, llmTtftMs: 95, ttsTtfbMs: null, responseMs: null });
  });

  it('an end-of-turn report that saw no end of speech (LiveKit\'s zeros) gives no figures of its own', () => {
    const f = fakeSession(true);
    f.metric(eou('S1', 0, 0, 0));
    f.user();
    f.turns.sounded('triage', Date.now() + 5);
    f.agent('triage');
    expect(turnsOf(f.told)[0]).toMatchObject({ eouMs: null, sttMs: null, responseMs: null });
  });

  it('an end-of-turn report belongs to the line committed right after it, not to a later one', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const f = fakeSession(true);
    f.speech('S1');
    f.metric(eou('S0', Date.now() - 500, 400, 200)); // its line was never committed
    vi.setSystemTime(Date.now() + 5000);
    f.user();
    f.turns.sounded('triage', Date.now() + 10);
    f.agent('triage');
    expect(turnsOf(f.told)[0]).toMatchObject({ eouMs: null, sttMs: null, responseMs: null });
  });
});

// ---- text calls through the orchestrator ------------------------------------------------------------

describe('text calls: each answered line with the model\'s time to first token', () => {
  let server: ScriptedServer;
  const calls: Call[] = [];
  // The desks' replies take their time to a first token, each its own, so the figure says which request it is.
  const SLOW_REPLY_MS = 400;
  const TAKEOVER_MS = 1500;
  beforeAll(async () => {
    server = await startServer(
      directiveScript((req) => {
        const last = req.messages.at(-1);
        if (isTakeover(req)) return { text: 'This is the billing team, how can I help?', ttftMs: TAKEOVER_MS };
        if (last?.role === 'user' && /slowly/.test(textOf(last))) return { text: 'Here you are.', ttftMs: SLOW_REPLY_MS };
        return undefined;
      }),
    );
  });
  afterAll(async () => {
    for (const c of calls) await c.close().catch(() => undefined);
    await server?.close();
  });

  it('one per answered line, right after its answer, with llmTtftMs only; a silent transfer\'s turn answered by the new desk, timed by the old desk\'s request', async () => {
    const call = await startCall(server);
    calls.push(call);
    const first = await say(call, 'answer me slowly please');
    expect(first.map((e) => e.type)).toEqual(['user', 'agent', 'turn']);
    const [slow] = turnsOf(first);
    expect(slow).toMatchObject({ line: 1, agent: 'triage', eouMs: null, sttMs: null, ttsTtfbMs: null, responseMs: null });
    // The scripted server's delay, plus its prompt's prefill (it grows with the prompt), the HTTP round trip
    // and, on a busy machine, a few hundred ms of waiting for the event loop.
    expect(slow!.llmTtftMs).toBeGreaterThanOrEqual(SLOW_REPLY_MS);
    expect(slow!.llmTtftMs).toBeLessThan(SLOW_REPLY_MS + 1000);

    // A silent transfer: answered by Billing's reply, prepared in the front desk's transfer tool and reported
    // under the front desk's reply; the turn's figure is still the front desk's own request (fast).
    const transfer = await sayAndCall(call, 'I was charged twice on my card', { name: 'pass_control_to_billing', arguments: { reason: 'charged twice' } });
    const [hop] = turnsOf(transfer);
    expect(hop).toMatchObject({ line: 2, agent: 'billing' });
    expect(transfer.map((e) => e.type)).toEqual(['user', 'handoff', 'agent', 'turn']);
    expect(hop!.llmTtftMs).toBeLessThan(TAKEOVER_MS - 500);
    const next = await say(call, 'ok, thank you');
    expect(turnsOf(next).map((t) => [t.line, t.agent])).toEqual([[3, 'billing']]);
    expect(turnsOf(call.events)).toHaveLength(3);
    // The call's `turn` events are what the redaction passes on (no personal data in them).
    for (const t of turnsOf(call.events)) expect(redactEvent(t)).toEqual(t);
  });
});

// ---- records, webhook, command, view ----------------------------------------------------------------

/** A voice call's events as a call would tell them (two answered lines, a bridging line, a summary). */
function voiceCallEvents(callId: string, t0: number): CallEvent[] {
  const turn = (line: number, agent: 'triage' | 'billing', responseMs: number, at: number): CallEvent => ({
    type: 'turn', line, agent, eouMs: 500, sttMs: 300, llmTtftMs: 60, ttsTtfbMs: 320, responseMs, at,
  });
  return [
    { type: 'started', callId, state: 'triage', caller: {}, maxHandoffs: 6, humanAvailable: false, at: t0 },
    { type: 'agent', agent: 'triage', text: 'Hello, how can I help?', interrupted: false, at: t0 + 3000 },
    { type: 'user', text: 'I was charged twice', at: t0 + 6000 },
    { type: 'agent', agent: 'triage', text: 'Let me transfer you to billing.', interrupted: false, at: t0 + 8000 },
    turn(1, 'triage', 1200, t0 + 8001),
    { type: 'handoff', from: 'triage', to: 'billing', handoffCount: 1, reason: 'charged twice', source: 'agent', escalated: false, latencyMs: 1, at: t0 + 9000 },
    { type: 'agent', agent: 'billing', text: 'This is billing.', interrupted: false, at: t0 + 11000 },
    { type: 'user', text: 'thanks, bye', at: t0 + 14000 },
    { type: 'summary', text: 'notes', coveredItems: 2, historyTokens: 900, summaryTokens: 90, ms: 300, at: t0 + 14500 },
    { type: 'agent', agent: 'billing', text: 'Sure.', interrupted: false, at: t0 + 15000 },
    turn(2, 'billing', 800, t0 + 15001),
    { type: 'agent', agent: 'billing', text: 'Goodbye!', interrupted: false, at: t0 + 16000 },
    { type: 'end', state: 'ended', handoffCount: 1, reason: 'caller is done', at: t0 + 17000 },
  ];
}

describe('the turns kept with the call', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'switchboard-turns-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('digest, call.ended and the view: each turn once, the answering line carries its figures', () => {
    const events = voiceCallEvents('v-1', 1_700_000_000_000);
    const d = digestOf('v-1', events);
    expect(d.turns.map((t) => [t.line, t.agent, t.responseMs])).toEqual([[1, 'triage', 1200], [2, 'billing', 800]]);
    expect(summaryOf(d, 'ended', 'caller is done').turns).toEqual(d.turns);
    const view = viewOf({ callId: 'v-1', live: false, startedAt: 1, state: 'ended', handoffCount: 1, humanAvailable: false, caller: {} }, events);
    const withTurn = view.transcript.filter((l) => l.turn).map((l) => [l.text, l.turn!.responseMs]);
    // The first agent line after each caller line (not the greeting, not the summary, not the line after).
    expect(withTurn).toEqual([['Let me transfer you to billing.', 1200], ['Sure.', 800]]);
  });

  /** Three calls (two by voice, one text) recorded into `store` through the recorder; its webhooks' call.ended data. */
  async function recordThree(store: CallStore, t0: number): Promise<Record<string, unknown>[]> {
    const record = async (callId: string, events: CallEvent[], whileLive?: () => Promise<void>) => {
      const call = Object.assign(new EventEmitter(), { callId, events: [] as CallEvent[], reportError: () => undefined });
      const recorder = attachRecorder(call as unknown as Call, store, { worker: 'turns-test', webhooks: true });
      for (const e of events) {
        call.emit('event', e);
        if (e.type === 'turn' && e.line === 1 && whileLive) {
          await recorder.flush();
          await whileLive();
        }
      }
      await recorder.flush();
    };
    // A live call's row has its turns as they are told (the list shows a call in progress too).
    await record('voice-a', voiceCallEvents('voice-a', t0), async () => {
      const live = (await store.getCall('voice-a'))!.call;
      expect([live.status, live.turns.map((t) => t.responseMs)]).toEqual(['live', [1200]]);
    });
    const b = voiceCallEvents('voice-b', t0 + 30_000).map((e) => (e.type === 'turn' ? { ...e, responseMs: e.line === 1 ? 3000 : 400 } : e));
    await record('voice-b', b);
    const text = voiceCallEvents('text-c', t0 + 60_000).map((e) =>
      e.type === 'turn' ? { ...e, eouMs: null, sttMs: null, ttsTtfbMs: null, responseMs: null, llmTtftMs: 90 } : e,
    );
    await record('text-c', text);
    expect((await store.getCall('voice-a'))!.call.turns).toEqual(digestOf('voice-a', voiceCallEvents('voice-a', t0)).turns);
    expect((await store.listCalls(5)).map((r) => [r.id, r.turns.length])).toEqual([['text-c', 2], ['voice-b', 2], ['voice-a', 2]]);
    return (await store.webhooks()).filter((w) => w.type === 'call.ended').map((w) => JSON.parse(w.body).data);
  }

  const expectEnded = (ended: Record<string, unknown>[], t0: number) => {
    const responses = (d: Record<string, unknown>) => (d.turns as { responseMs: number | null }[]).map((t) => t.responseMs);
    expect(ended.map((d) => [d.callId, responses(d)])).toEqual([
      ['voice-a', [1200, 800]],
      ['voice-b', [3000, 400]],
      ['text-c', [null, null]],
    ]);
    expect((ended[0]!.turns as unknown[])[0]).toEqual({ line: 1, agent: 'triage', eouMs: 500, sttMs: 300, llmTtftMs: 60, ttsTtfbMs: 320, responseMs: 1200, at: t0 + 8001 });
  };

  it.skipIf(!TEST_DATABASE_URL)(`PostgreSQL: the calls row keeps them, call.ended carries them${PG_SKIP_REASON ? ` (skipped: ${PG_SKIP_REASON})` : ''}`, async () => {
    const schema = uniqueSchema('turns_test');
    const store = await PostgresStore.open(TEST_DATABASE_URL!, { schema });
    try {
      const t0 = Date.now() - 120_000;
      expectEnded(await recordThree(store, t0), t0);
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });

  it('a store made before turns were kept: opening it adds them, its calls with none', async () => {
    const file = join(tmp, 'old.sqlite');
    const { Database } = createRequire(import.meta.url)('node-sqlite3-wasm') as typeof import('node-sqlite3-wasm');
    const db = new Database(file);
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const m of MIGRATIONS.filter((m) => m.version < 3)) {
      db.exec(m.sqlite);
      db.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, 1]);
    }
    db.run(
      "INSERT INTO calls (id, started_at, updated_at, status, state, department) VALUES ('old-call', 1, 1, 'ended', 'ended', 'billing')",
    );
    db.close();
    const store = new SqliteStore(file);
    expect(await store.migrations()).toEqual(MIGRATIONS.map((m) => m.version)); // every later one applied
    expect((await store.listCalls(5)).map((r) => [r.id, r.turns])).toEqual([['old-call', []]]);
    await store.close();
  });

  it('recorded: the calls row keeps them, call.ended carries them, npm run calls lists them with p50/p95', async () => {
    const file = join(tmp, 'calls.sqlite');
    const store = new SqliteStore(file);
    const t0 = Date.now() - 120_000;
    expectEnded(await recordThree(store, t0), t0);
    await store.close();

    const list = await runCallsCli(tmp, [], { CALLS_DB: file });
    expect(list.code, list.stderr).toBe(0);
    const lines = list.stdout.split('\n');
    expect(lines[0]).toMatch(/\sRESPONSE p50\/p95\s+OUTCOME$/);
    const row = (id: string) => lines.find((l) => l.startsWith(id))!;
    // Nearest rank: of two turns, p50 is the faster and p95 the slower.
    expect(row('voice-a')).toMatch(/\s800\/1200 ms\s+caller is done$/);
    expect(row('voice-b')).toMatch(/\s400\/3000 ms\s+caller is done$/);
    expect(row('text-c')).toMatch(/\s—\s+caller is done$/);
    // Over the listed calls: every turn once (400, 800, 1200, 3000), and the model's time of all six.
    expect(list.stdout).toContain("response time (the end of the caller's speech → the agents' first sound): p50 800 ms, p95 3000 ms over 4 turns of 2 calls");
    expect(list.stdout).toContain('LLM time to first token: p50 60 ms, p95 90 ms over 6 turns of 3 calls');

    const one = await runCallsCli(tmp, ['voice-a'], { CALLS_DB: file });
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/LINE\s+ANSWERED BY\s+RESPONSE\s+END OF TURN\s+SPEECH-TO-TEXT\s+LLM FIRST TOKEN\s+VOICE FIRST BYTE\n\s+1\s+triage\s+1200\s+500\s+300\s+60\s+320\n\s+2\s+billing\s+800\s+500/);
    const textOne = await runCallsCli(tmp, ['text-c'], { CALLS_DB: file });
    expect(textOne.stdout).toMatch(/\n\s+1\s+triage\s+—\s+—\s+—\s+90\s+—\n/);
    const json = JSON.parse((await runCallsCli(tmp, ['--json'], { CALLS_DB: file })).stdout) as { id: string; latency: unknown }[];
    expect(json.find((r) => r.id === 'voice-b')!.latency).toEqual({
      responseMs: { turns: 2, p50: 400, p95: 3000 },
      llmTtftMs: { turns: 2, p50: 60, p95: 60 },
    });
  });
});
