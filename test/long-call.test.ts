/**
 * Long calls (src/call/memory.ts): 60-odd caller turns and several transfers, in English and Hindi. Past
 * CONTEXT_BUDGET_TOKENS the older turns are summarised in the background and later requests carry the
 * notes and the recent turns: requests stay small, and every fact the caller gave early — the order
 * number, the amount, the first need — is still known to the desk that is asked for it late in the call.
 * A summary is never made between a caller's turn and its reply; one that fails or never comes changes
 * nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ScriptedServer, startScriptedServer, textOf, usageOf } from '../dev/scripted-llm.js';
import type { Script } from '../dev/scripted-llm.js';
import type { CallEvent } from '../src/call/events.js';
import { loadSettings } from '../src/config.js';
import { DEFAULT_CONTEXT_BUDGET_TOKENS } from '../src/departments.js';
import { newTextCall, sayLine } from '../src/text-calls.js';
import { initTestLogging } from './support/harness.js';
import { LONG_CALL, longCallLines } from '../dev/long-call-script.js';

interface Played {
  events: CallEvent[];
  /** The desks' answers to the questions, in order. */
  answers: string[];
  /** Prompt tokens of each desk request, in order. */
  promptTokens: number[];
  /** When each desk request and each summary request reached the server, and when each caller line was said. */
  deskAt: number[];
  summaryAt: number[];
  userAt: number[];
  invalid: string[];
}

const isSummary = (body: { messages: { content?: unknown }[] }) => textOf(body.messages[0] as never).startsWith('# Summarise this call');

async function playLong(server: ScriptedServer, lang: 'en' | 'hi', budget: number): Promise<Played> {
  const settings = loadSettings({ OPENAI_BASE_URL: server.url, CONTEXT_BUDGET_TOKENS: String(budget) });
  const callId = `long-${lang}-${budget}-${Math.random().toString(36).slice(2, 8)}`;
  const call = newTextCall(settings, { callId, humanAvailable: false });
  const events: CallEvent[] = [];
  call.on('event', (e) => events.push(e));
  const from = server.requests.length;
  await call.start();
  await call.greeted;
  const lines = longCallLines(LONG_CALL[lang]);
  for (const line of lines) await sayLine(call, line, () => false);
  await call.close();
  const mine = server.chatRequests().filter((r) => server.requests.indexOf(r) >= from);
  const agents = events.filter((e): e is Extract<CallEvent, { type: 'agent' }> => e.type === 'agent');
  return {
    events,
    answers: agents.slice(-LONG_CALL[lang].questions.length).map((a) => a.text),
    promptTokens: mine.filter((r) => !isSummary(r.body)).map((r) => usageOf(r.body, {}).prompt_tokens),
    deskAt: mine.filter((r) => !isSummary(r.body)).map((r) => r.at),
    summaryAt: mine.filter((r) => isSummary(r.body)).map((r) => r.at),
    userAt: events.filter((e) => e.type === 'user').map((e) => e.at),
    invalid: mine.flatMap((r) => (r.invalid ? [r.invalid] : [])),
  };
}

let server: ScriptedServer;
beforeAll(async () => {
  initTestLogging();
  server = await startScriptedServer();
});
afterAll(async () => {
  await server.close();
});

describe.each(['en', 'hi'] as const)('a long call (%s): 63 caller turns, four transfers', (lang) => {
  it('every early fact is known late; requests stay small; summaries are made off the critical path', async () => {
    const summarised = await playLong(server, lang, DEFAULT_CONTEXT_BUDGET_TOKENS);
    const whole = await playLong(server, lang, 0);
    const questions = LONG_CALL[lang].questions;
    for (const [i, q] of questions.entries()) expect(summarised.answers[i], q.line).toMatch(q.answer);
    // The same call without a budget knows them too (the scripted desks answer from what they are sent).
    for (const [i, q] of questions.entries()) expect(whole.answers[i], q.line).toMatch(q.answer);

    const summaries = summarised.events.filter((e) => e.type === 'summary');
    expect(summaries.length).toBeGreaterThanOrEqual(2); // a second summary folded the first one's notes in
    expect(whole.events.some((e) => e.type === 'summary')).toBe(false);
    expect(summarised.events.filter((e) => e.type === 'error')).toEqual([]);
    expect(summarised.invalid).toEqual([]); // no tool call cut from its result: OpenAI would refuse the request
    expect(summarised.events.filter((e) => e.type === 'handoff').map((e) => (e as { to: string }).to)).toEqual(['billing', 'triage', 'support', 'triage', 'sales']);

    // The last requests carry the notes and the recent turns: well under the whole history.
    const last = (p: Played) => p.promptTokens.slice(-3).reduce((a, b) => a + b, 0) / 3;
    expect(last(summarised) / last(whole)).toBeLessThan(0.6);

    // A summary starts once the reply to the caller's line was asked for (while it is spoken), never between
    // the line and that request. (Its start: the event's time less the time it took.)
    for (const e of summaries as Extract<CallEvent, { type: 'summary' }>[]) {
      const at = e.at - e.ms;
      const line = Math.max(...summarised.userAt.filter((u) => u <= at));
      const reply = summarised.deskAt.find((d) => d >= line);
      expect(reply, 'the reply was asked for before the summary').toBeLessThanOrEqual(at);
    }
  }, 120_000);
});

describe('a summary that fails or never comes changes nothing', () => {
  it.each<[string, Script]>([
    ['fails', () => ({ fail: { status: 500, message: 'overloaded' } })],
    ['never answers', () => ({ hang: true })],
  ])('the summariser %s: the call goes on with its whole history, no error said', async (_, summariser) => {
    const broken = await startScriptedServer({ summariser });
    try {
      const played = await playLong(broken, 'en', DEFAULT_CONTEXT_BUDGET_TOKENS);
      expect(played.summaryAt.length).toBeGreaterThanOrEqual(1); // one was asked for
      expect(played.events.some((e) => e.type === 'summary')).toBe(false);
      expect(played.events.filter((e) => e.type === 'error')).toEqual([]);
      for (const [i, q] of LONG_CALL.en.questions.entries()) expect(played.answers[i]).toMatch(q.answer);
    } finally {
      broken.dropConnections();
      await broken.close();
    }
  }, 120_000);
});

describe('the scripted server, as demanding as a real model', () => {
  it('takes longer to the first token for a longer prompt, and counts the whole prompt in its usage', async () => {
    const slow = await startScriptedServer({ promptMsPer1kTokens: 200 });
    try {
      const ask = async (words: number) => {
        const started = performance.now();
        const res = await fetch(`${slow.url}/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'm', stream: false, messages: [{ role: 'user', content: 'word '.repeat(words) }] }),
        });
        const body = (await res.json()) as { usage: { prompt_tokens: number } };
        return { ms: performance.now() - started, promptTokens: body.usage.prompt_tokens };
      };
      const short = await ask(10);
      const long = await ask(4000); // ≈ 5,000 tokens: ≈ 1 s more at 200 ms per 1,000
      expect(long.promptTokens).toBeGreaterThan(4900);
      expect(short.promptTokens).toBeLessThan(50);
      expect(long.ms - short.ms).toBeGreaterThan(800);
    } finally {
      await slow.close();
    }
  });
});
