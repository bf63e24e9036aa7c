/**
 * Figure 7 — long calls: an 80-turn call (English; four transfers; facts given in the first two turns,
 * asked for in the last three) through the real orchestrator against the scripted server, whose time to
 * first token grows with the prompt (PROMPT_MS_PER_1K_TOKENS). Played with each history policy — `full`
 * (no budget), `summary` (the department table's default), `recent` — side by side in one run: tokens per
 * request and time to first token at turns 10, 40 and 80; what the summaries cost; facts still known at
 * the end; and replies that waited for a summary (a summary started between a caller's line and the
 * request for its reply).
 */
import { LONG_CALL, longCallLines } from '../dev/long-call-script.js';
import { PROMPT_MS_PER_1K_TOKENS, type ScriptedServer, startScriptedServer, usageOf } from '../dev/scripted-llm.js';
import { isSummaryPrompt } from '../dev/scripted-memory.js';
import type { Target } from '../machines/router.js';
import type { CallEvent } from '../src/call/events.js';
import { loadSettings } from '../src/config.js';
import { DEFAULT_CONTEXT_BUDGET_TOKENS, type HistoryPolicy, TARGETS } from '../src/departments.js';
import { newTextCall, sayLine } from '../src/text-calls.js';
import { voice } from '@livekit/agents';

export const AT_TURNS = [10, 40, 80] as const;

export interface LongCallArm {
  policy: HistoryPolicy;
  budgetTokens: number;
  /** At each of AT_TURNS: the prompt tokens of the reply's request, and its time to first token (ms, as the session measured it). */
  at: Record<string, { promptTokens: number; ttftMs: number }>;
  summaries: { requests: number; tokens: number; failed: number };
  /** Questions about the first turns answered right, of those asked. */
  factsKept: { right: number; of: number };
  /** Replies whose request came after a summary that started between the caller's line and it. */
  repliesThatWaited: number;
  /** All the desks' requests of the call: prompt tokens in total. */
  deskPromptTokens: number;
}

export interface LongCallResult {
  turns: number;
  promptMsPer1kTokens: number;
  arms: LongCallArm[];
  /** Target: at turn 80 the summarised call's requests carry ≤ 0.4× the tokens of the whole history. */
  target: { ratioAt80: number; max: number; met: boolean };
}

async function playArm(server: ScriptedServer, policy: HistoryPolicy, budgetTokens: number, lines: string[]): Promise<LongCallArm> {
  const settings = loadSettings({ OPENAI_BASE_URL: server.url, CONTEXT_BUDGET_TOKENS: String(budgetTokens) });
  const history = Object.fromEntries(TARGETS.map((t) => [t, policy])) as Record<Target, HistoryPolicy>;
  const call = newTextCall(settings, { callId: `bench-long-${policy}-${budgetTokens}`, humanAvailable: false, history });
  const events: CallEvent[] = [];
  call.on('event', (e) => events.push(e));
  const metrics: { promptTokens: number; ttftMs: number }[] = [];
  call.session.on(voice.AgentSessionEventTypes.MetricsCollected, ({ metrics: m }) => {
    if (m.type === 'llm_metrics') metrics.push({ promptTokens: m.promptTokens, ttftMs: m.ttftMs });
  });
  const from = server.requests.length;
  await call.start();
  await call.greeted;
  const perTurn: { promptTokens: number; ttftMs: number }[] = [];
  for (const line of lines) {
    const seen = metrics.length;
    await sayLine(call, line, () => false);
    perTurn.push(metrics[seen] ?? metrics.at(-1)!);
  }
  await call.close();
  const mine = server.chatRequests().filter((r) => server.requests.indexOf(r) >= from);
  const desk = mine.filter((r) => !isSummaryPrompt(r.body));
  const userAt = events.filter((e) => e.type === 'user').map((e) => e.at);
  const waited = events.filter((e): e is Extract<CallEvent, { type: 'summary' }> => e.type === 'summary').filter((e) => {
    const start = e.at - e.ms;
    const line = Math.max(...userAt.filter((u) => u <= start));
    const reply = desk.find((r) => r.at >= line);
    return reply !== undefined && reply.at > start;
  }).length;
  const questions = LONG_CALL.en.questions;
  const answers = events.filter((e): e is Extract<CallEvent, { type: 'agent' }> => e.type === 'agent').slice(-questions.length);
  const memory = call.memory.stats;
  return {
    policy,
    budgetTokens,
    at: Object.fromEntries(AT_TURNS.map((t) => [String(t), perTurn[t - 1]!])),
    summaries: { requests: memory.made, tokens: memory.tokens, failed: memory.failed },
    factsKept: { right: questions.filter((q, i) => q.answer.test(answers[i]?.text ?? '')).length, of: questions.length },
    repliesThatWaited: waited,
    deskPromptTokens: desk.reduce((a, r) => a + usageOf(r.body, {}).prompt_tokens, 0),
  };
}

export async function benchLongCall(o: { turns: number; log: (s: string) => void }): Promise<LongCallResult> {
  const server = await startScriptedServer();
  const lines = longCallLines(LONG_CALL.en, o.turns);
  try {
    const arms: LongCallArm[] = [];
    const budgets = [...new Set([400, 600, 800, DEFAULT_CONTEXT_BUDGET_TOKENS, 1200])].sort((a, b) => a - b);
    const plan: [HistoryPolicy, number][] = [['full', 0], ...budgets.map((b): [HistoryPolicy, number] => ['summary', b]), ['recent', DEFAULT_CONTEXT_BUDGET_TOKENS]];
    for (const [policy, budget] of plan) {
      const arm = await playArm(server, policy, budget, lines);
      o.log(
        `  ${policy} (budget ${budget}): turns 10/40/80 ${AT_TURNS.map((t) => arm.at[t]!.promptTokens).join('/')} tokens, ttft ${AT_TURNS.map((t) => arm.at[t]!.ttftMs.toFixed(0)).join('/')} ms; ` +
          `facts ${arm.factsKept.right}/${arm.factsKept.of}; summaries ${arm.summaries.requests} (${arm.summaries.tokens} tokens); desk prompts ${arm.deskPromptTokens}; waited ${arm.repliesThatWaited}`,
      );
      arms.push(arm);
    }
    const full = arms.find((a) => a.policy === 'full')!.at['80']!.promptTokens;
    const summarised = arms.find((a) => a.policy === 'summary' && a.budgetTokens === DEFAULT_CONTEXT_BUDGET_TOKENS)!.at['80']!.promptTokens;
    const ratio = Number((summarised / full).toFixed(3));
    return { turns: o.turns, promptMsPer1kTokens: PROMPT_MS_PER_1K_TOKENS, arms, target: { ratioAt80: ratio, max: 0.4, met: ratio <= 0.4 } };
  } finally {
    await server.close();
  }
}
