/**
 * The LLM judge (JUDGE_MODEL): a model reads a finished call and the scenario's rubric
 * (`eval/judge-prompt.md`) and answers pass or fail per criterion, with its reason. A call passes
 * the judge when every criterion passes; an answer that cannot be read is a failure that says so,
 * never a pass.
 */
import { readFileSync } from 'node:fs';
import { type ChatMessage, type ModelEndpoint, type Tool, complete } from './chat-model.js';
import { callerView } from './caller.js';
import type { Verdict } from './judges.js';
import type { SimCall } from './play.js';
import type { Scenario } from './scenario.js';

export const JUDGE_PROMPT_FILE = new URL('../../eval/judge-prompt.md', import.meta.url);

const VERDICT: Tool = {
  name: 'verdict',
  description: 'Your verdict on each criterion of the rubric, in order.',
  parameters: {
    type: 'object',
    properties: {
      verdicts: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            criterion: { type: 'integer', description: 'The criterion number (1-based)' },
            pass: { type: 'boolean' },
            reason: { type: 'string', description: 'One short sentence, quoting the line that decides it' },
          },
          required: ['criterion', 'pass', 'reason'],
          additionalProperties: false,
        },
      },
    },
    required: ['verdicts'],
    additionalProperties: false,
  },
};

/** The call as the judge reads it: one line per thing that happened, with its time. */
export function transcriptOf(call: SimCall): string {
  return call.entries
    .map((e) => {
      const t = `[${(e.at / 1000).toFixed(1)} s]`;
      if (e.kind === 'caller') return `${t} Caller: ${e.text}`;
      if (e.kind === 'agent') return `${t} Agent (${e.desk}): ${e.text}`;
      if (e.kind === 'silence') return `${t} Caller: (says nothing)`;
      if (e.kind === 'transfer') return `${t} — transferred from ${e.from} to ${e.to}`;
      if (e.kind === 'refused') return `${t} — transfer from ${e.from} to ${e.to} refused: ${e.reason}`;
      return `${t} — error: ${e.text}`;
    })
    .join('\n');
}

export function judgePrompt(call: SimCall, s: Scenario, template = readFileSync(JUDGE_PROMPT_FILE, 'utf8')): string {
  return template
    .replace('{{scenario}}', `${s.title}\n\n${callerView(s)}`)
    .replace('{{rubric}}', s.rubric.map((c, i) => `${i + 1}. ${c}`).join('\n'))
    .replace('{{transcript}}', transcriptOf(call));
}

/** The model's verdicts read against the rubric: every criterion answered, or a failure saying what is missing. */
export function readVerdicts(args: Record<string, unknown>, rubric: string[]): Verdict {
  const list = Array.isArray(args.verdicts) ? (args.verdicts as { criterion?: unknown; pass?: unknown; reason?: unknown }[]) : null;
  if (!list) return { pass: false, reason: 'the judge gave no verdicts' };
  const failed: string[] = [];
  for (const [i, criterion] of rubric.entries()) {
    const v = list.find((x) => x.criterion === i + 1) ?? list[i];
    if (!v || typeof v.pass !== 'boolean') return { pass: false, reason: `the judge gave no verdict on criterion ${i + 1} ("${criterion}")` };
    if (!v.pass) failed.push(`${i + 1}. ${criterion}: ${String(v.reason ?? 'no reason given')}`);
  }
  if (failed.length) return { pass: false, reason: failed.join(' · ') };
  const first = list[0]?.reason;
  return { pass: true, reason: `${rubric.length} criteria met${typeof first === 'string' && first ? ` (${first})` : ''}` };
}

/** The judge's verdict on a call (and its tokens); a scenario without a rubric is not judged. */
export async function llmJudge(endpoint: ModelEndpoint, call: SimCall, s: Scenario): Promise<{ verdict: Verdict; tokens: number }> {
  if (!s.rubric.length) return { verdict: { pass: null, reason: 'the scenario has no rubric' }, tokens: 0 };
  const messages: ChatMessage[] = [{ role: 'system', content: judgePrompt(call, s) }];
  try {
    const answer = await complete(endpoint, messages, [VERDICT]);
    const call = answer.toolCalls.find((c) => c.name === 'verdict');
    const verdict = call ? readVerdicts(call.arguments, s.rubric) : { pass: false, reason: `the judge did not call verdict${answer.text ? `: "${answer.text.slice(0, 120)}"` : ''}` };
    return { verdict, tokens: answer.tokens };
  } catch (err) {
    return { verdict: { pass: false, reason: `the judge failed: ${(err as Error).message}` }, tokens: 0 };
  }
}
