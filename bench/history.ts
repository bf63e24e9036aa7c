/**
 * Figure 3 — history copy: `carriedHistory(history)` (instructions dropped, unmatched tool calls
 * dropped) and the agent's `updateChatCtx` filter (`chatCtx.copy({ toolCtx })`, by the new agent's own
 * tool names), for histories of 10 … 10 000 items with the mix a real session history has.
 */
import { llm, voice } from '@livekit/agents';
import { z } from 'zod';
import { DEPARTMENT_TABLE, instructionsFor } from '../src/departments.js';
import { carriedHistory } from '../src/call/context.js';
import { fullGc } from './common.js';
import { type Summary, rng, summarize } from './stats.js';

const USER_LINES = [
  'Hi, my name is Maya and I was charged twice on my card last month',
  'My account id is AC-20931, the invoice number is 4471',
  'Can you tell me when the refund will arrive?',
  'I also want to upgrade my plan to the family one',
  'My internet keeps dropping every evening around eight',
];
const AGENT_LINES = [
  "Thanks Maya, I can see two payments of 39 dollars on the fourteenth. I'll refund the duplicate now.",
  'The refund usually takes three to five business days to show on your statement.',
  'Let me transfer you to billing.',
  'This is Billing. I understand you were charged twice; let us sort that out.',
  'Could you restart the router and tell me whether the light turns green?',
];
const TOOLS = ['update_caller_info', 'pass_control_to_billing', 'pass_control_to_triage', 'lookup_invoice'];

/**
 * A session history of `n` items: per "turn" a user message, maybe a tool call with its output
 * (about 1 turn in 3; 1 call in 50 left without output, as a transfer's in-flight call is), an assistant
 * message; every ~25 items a handoff (agent_handoff + agent_config_update + the new instructions).
 */
export function makeHistory(n: number, seed = 1234): llm.ChatContext {
  const rand = rng(seed);
  const items: llm.ChatItem[] = [];
  let t = 1_700_000_000; // createdAt in seconds, strictly increasing
  const at = () => (t += 0.5);
  items.push(llm.ChatMessage.create({ role: 'system', content: instructionsFor('triage', { company: 'Acme', caller: {} }), createdAt: at() }));
  let k = 0;
  while (items.length < n) {
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
    if (k > 0 && k % 8 === 0) {
      const dept = pick(['billing', 'sales', 'support', 'triage'] as const);
      items.push(llm.AgentHandoffItem.create({ oldAgentId: 'triage', newAgentId: dept, createdAt: at() }));
      items.push(llm.AgentConfigUpdate.create({ instructions: instructionsFor(dept, { company: 'Acme', caller: {} }), createdAt: at() }));
      items.push(llm.ChatMessage.create({ role: 'system', content: DEPARTMENT_TABLE[dept].role, createdAt: at() }));
    }
    items.push(llm.ChatMessage.create({ role: 'user', content: pick(USER_LINES), createdAt: at() }));
    if (rand() < 1 / 3) {
      const callId = `call_${k}`;
      const name = pick(TOOLS);
      items.push(llm.FunctionCall.create({ callId, name, args: JSON.stringify({ reason: pick(USER_LINES) }), createdAt: at() }));
      if (rand() > 1 / 50) {
        items.push(llm.FunctionCallOutput.create({ callId, name, output: JSON.stringify({ saved: true, caller: { name: 'Maya' } }), isError: false, createdAt: at() }));
      }
    }
    items.push(llm.ChatMessage.create({ role: 'assistant', content: pick(AGENT_LINES), createdAt: at() }));
    k++;
  }
  return new llm.ChatContext(items.slice(0, n));
}

/** The Billing agent's tool context (its own tool names), as its constructor / updateChatCtx uses it. */
function billingToolCtx(): llm.ToolContext {
  const p = z.object({ reason: z.string() });
  const agent = new voice.Agent({
    instructions: 'bench',
    tools: [
      llm.tool({ name: 'pass_control_to_triage', description: 'x', parameters: p, execute: async () => undefined }),
      llm.tool({ name: 'update_caller_info', description: 'x', parameters: p, execute: async () => undefined }),
      llm.tool({ name: 'end_call', description: 'x', parameters: p, execute: async () => undefined }),
    ],
  });
  return agent.toolCtx as llm.ToolContext;
}

export interface HistoryRow {
  items: number;
  mix: Record<string, number>;
  carriedHistory: Summary;
  toolFilter: Summary;
  both: Summary;
}

export interface HistoryResult {
  rows: HistoryRow[];
  target: { text: string; met: boolean };
  setup: string;
}

function timeIt(fn: () => unknown, batch: number): number {
  const t = performance.now();
  for (let i = 0; i < batch; i++) fn();
  return (performance.now() - t) / batch;
}

export async function benchHistory(opts: { sizes: number[]; samples: number; log: (s: string) => void }): Promise<HistoryResult> {
  const toolCtx = billingToolCtx();
  const rows: HistoryRow[] = [];
  for (const size of opts.sizes) {
    const history = makeHistory(size);
    const mix: Record<string, number> = {};
    for (const it of history.items) {
      const key = it.type === 'message' ? `message:${it.role}` : it.type;
      mix[key] = (mix[key] ?? 0) + 1;
    }
    // Small histories are timed in batches (time per call = batch time / batch).
    const batch = Math.max(1, Math.round(2000 / size));
    const carried = carriedHistory(history);
    for (let i = 0; i < 20; i++) {
      carriedHistory(history);
      carried.copy({ toolCtx });
    }
    await fullGc();
    const a: number[] = [];
    const b: number[] = [];
    const c: number[] = [];
    for (let i = 0; i < opts.samples; i++) {
      a.push(timeIt(() => carriedHistory(history), batch));
      b.push(timeIt(() => carried.copy({ toolCtx }), batch));
      c.push(timeIt(() => carriedHistory(history).copy({ toolCtx }), batch));
    }
    rows.push({ items: size, mix, carriedHistory: summarize(a, 4), toolFilter: summarize(b, 4), both: summarize(c, 4) });
    opts.log(`  history: ${size} items done`);
  }
  const largest = rows.find((r) => r.items === 10_000);
  return {
    rows,
    target: { text: 'carriedHistory + tool filter of 10 000 items under 5 ms (median)', met: !!largest && largest.both.median < 5 },
    setup:
      `synthetic session history (system prompt, user/assistant messages, ~1 tool call per 3 turns with its output, ` +
      `1 in 50 calls without output, a handoff + config update + new instructions every 8 turns); ` +
      `${opts.samples} samples per size after 20 warm-up runs; sizes ≤ 200 timed in batches of 2000/size calls`,
  };
}
