/**
 * The scripted server's other roles in `npm run simulate`, key-free:
 *
 * - a deterministic caller: it reads the scenario from the caller prompt (the YAML block
 *   `eval/caller-prompt.md` carries) and plays it step by step — the needs in order, each behaviour
 *   where it belongs, a fact when an agent asks for it, a held-back need only when asked, a goodbye
 *   (`end_call`) when everything was said, and it gives up when asked for the same fact three times;
 * - a judge that reads nothing: every criterion passes with a reason that says so. Its figures prove
 *   the harness, not a model.
 */
import { parse } from 'yaml';
import { asksForMore, factKind, factsAskedIn } from '../src/simulate/phrases.js';
import type { ChatMessageIn, ChatRequest, ScriptedReply } from './scripted-llm.js';

const textOf = (m: ChatMessageIn | undefined): string =>
  !m?.content ? '' : typeof m.content === 'string' ? m.content : m.content.map((p) => p.text ?? '').join('');

export const isCallerPrompt = (req: ChatRequest) => textOf(req.messages[0]).startsWith('# You are a caller');
export const isJudgePrompt = (req: ChatRequest) => textOf(req.messages[0]).startsWith('# You are a judge');

interface CallerView {
  caller: { language: 'en' | 'hi' | 'hinglish'; facts?: Record<string, string> };
  needs: { say: string; only_when_asked?: boolean }[];
  behaviour: { kind: string; after: number; say?: string }[];
}

type Step = { say: string | null; hidden: boolean };

/** The caller's plan: before need N, the behaviours after N-1; then need N. */
function stepsOf(v: CallerView): Step[] {
  const steps: Step[] = [];
  for (let n = 0; n <= v.needs.length; n++) {
    for (const b of v.behaviour.filter((b) => b.after === n)) steps.push({ say: b.kind === 'silent' ? null : (b.say ?? ''), hidden: false });
    const need = v.needs[n];
    if (need) steps.push({ say: need.say, hidden: need.only_when_asked === true });
  }
  return steps;
}

const FACT_LINES = {
  en: (kind: string, value: string) => (kind === 'name' ? `My name is ${value}.` : `My ${kind} is ${value}.`),
  hi: (kind: string, value: string) => (kind === 'name' ? `मेरा नाम ${value} है।` : `मेरा ${({ account: 'अकाउंट नंबर', phone: 'फ़ोन नंबर', email: 'ईमेल' } as Record<string, string>)[kind] ?? kind} ${value} है।`),
  hinglish: (kind: string, value: string) => (kind === 'name' ? `Mera naam ${value} hai.` : `Mera ${kind} ${value} hai.`),
};
const BYE = { en: "That's all, thank you. Bye!", hi: 'बस इतना ही, धन्यवाद।', hinglish: 'Bas itna hi, dhanyavaad. Bye!' };
const GIVE_UP = { en: "I've told you this already. I'll call back later.", hi: 'मैं यह पहले ही बता चुका हूँ। मैं बाद में कॉल करूँगा।', hinglish: 'Maine yeh pehle hi bata diya hai. Main baad mein call karunga.' };

/** The caller's next move, read from the conversation so far (the agents' lines are `user` messages). */
export function scriptedCaller(req: ChatRequest): ScriptedReply {
  const block = /```yaml\n([\s\S]*?)\n```/.exec(textOf(req.messages[0]))?.[1];
  if (!block) return { fail: { status: 400, message: 'scripted caller: no scenario in the prompt' } };
  const v = parse(block) as CallerView;
  const lang = v.caller.language;
  const facts = v.caller.facts ?? {};
  const mine = req.messages.filter((m) => m.role === 'assistant');
  const said = mine.map(textOf);
  const silences = mine.filter((m) => m.tool_calls?.some((c) => c.function.name === 'stay_silent')).length;
  const heard = textOf([...req.messages].reverse().find((m) => m.role === 'user'));

  // A fact asked for is given (once too often: the caller gives up).
  const asked = factsAskedIn(heard)
    .map((kind) => Object.entries(facts).find(([key]) => factKind(key) === kind))
    .filter((f): f is [string, string] => f !== undefined);
  if (asked.length) {
    const [key, value] = asked[0]!;
    const kind = factKind(key)!;
    const line = FACT_LINES[lang](kind, String(value));
    if (said.filter((s) => s === line).length >= 2) return { text: GIVE_UP[lang], toolCalls: [{ name: 'end_call', arguments: { needs_met: false, reason: `asked for my ${kind} again and again` } }] };
    return { text: line };
  }

  // The next step of the plan: past the last one said (silences counted in order).
  const steps = stepsOf(v);
  let next = 0;
  let silent = 0;
  for (const [i, step] of steps.entries()) {
    if (step.say === null ? silent++ < silences : said.includes(step.say)) next = i + 1;
  }
  let skipped = false;
  while (steps[next]?.hidden && !asksForMore(heard)) {
    next++;
    skipped = true;
  }
  const step = steps[next];
  if (!step) {
    const left = skipped || steps.some((s) => s.hidden && s.say !== null && !said.includes(s.say));
    const refused = refusedNeeds(req, v);
    const why = left ? 'a need was never asked about' : refused ? `the agents could not help with: ${refused}` : 'all my needs were dealt with';
    return { text: BYE[lang], toolCalls: [{ name: 'end_call', arguments: { needs_met: !left && !refused, reason: why } }] };
  }
  if (step.say === null) return { toolCalls: [{ name: 'stay_silent', arguments: {} }] };
  return { text: step.say };
}

/** An agent line that says it cannot help ("I can't transfer you…", "नहीं जोड़ा जा सकता", "nahi ho sakta"). */
const REFUSAL = /\b(?:can't|cannot|can not|couldn't)\b|नहीं (?:जोड़ा जा सकता|हो सकता|हो पाई)|नहीं (?:कर|जोड़) सकत|\bnahi (?:kiya ja sakta|ho sakta|ho paayi)\b/i;

/** The first need (its line) an agent answered with a refusal, if any: the caller leaves with it unmet. */
function refusedNeeds(req: ChatRequest, v: CallerView): string | null {
  const needs = new Set(v.needs.map((n) => n.say));
  let current: string | null = null;
  for (const m of req.messages.slice(1)) {
    const text = textOf(m);
    if (m.role === 'assistant' && text) current = needs.has(text) ? text : null;
    else if (m.role === 'user' && current && REFUSAL.test(text)) return current;
  }
  return null;
}

/** A judge that reads nothing: every criterion passes, and the reason says why. */
export function scriptedJudge(req: ChatRequest): ScriptedReply {
  const rubric = /## The rubric\n\n([\s\S]*?)\n\n## The call/.exec(textOf(req.messages[0]))?.[1] ?? '';
  const criteria = rubric.split('\n').filter((l) => /^\d+\. /.test(l));
  return {
    toolCalls: [
      {
        name: 'verdict',
        arguments: { verdicts: criteria.map((_, i) => ({ criterion: i + 1, pass: true, reason: 'scripted judge: no model read this call' })) },
      },
    ],
  };
}
