/**
 * The simulated caller: a model plays the caller of a scenario, turn by turn, from the prompt in
 * `eval/caller-prompt.md` and the scenario itself (as YAML in the prompt). It hears what the agents
 * said since its last line and answers with its next line, a silence, or the end of the call.
 */
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { languageName } from '../language.js';
import { type ChatMessage, type ModelEndpoint, type Tool, complete } from './chat-model.js';
import { BEHAVIOUR_LINES } from './phrases.js';
import { type Scenario, withFacts } from './scenario.js';

export const CALLER_PROMPT_FILE = new URL('../../eval/caller-prompt.md', import.meta.url);

export type CallerMove =
  | { kind: 'say'; text: string }
  | { kind: 'silent' }
  | { kind: 'end'; text: string; needsMet: boolean; reason: string };

const TOOLS: Tool[] = [
  {
    name: 'end_call',
    description: 'Hang up: your needs are met, or you give up.',
    parameters: {
      type: 'object',
      properties: {
        needs_met: { type: 'boolean', description: 'true when everything you called about was dealt with' },
        reason: { type: 'string', description: 'why you hang up, in a few words' },
      },
      required: ['needs_met', 'reason'],
      additionalProperties: false,
    },
  },
  {
    name: 'stay_silent',
    description: 'Say nothing this turn.',
    parameters: { type: 'object', properties: {}, required: [], additionalProperties: false },
  },
];

/** The scenario as the caller sees it: who they are, what they want, what they do — not what is expected of the agents. */
export function callerView(s: Scenario): string {
  const facts = s.caller.facts;
  return stringify({
    caller: s.caller,
    needs: s.needs.map((n) => ({ say: withFacts(n.say, facts), ...(n.only_when_asked ? { only_when_asked: true } : {}) })),
    behaviour: s.behaviour.map((b) => ({
      kind: b.kind,
      after: b.after,
      ...(b.kind === 'silent' ? {} : { say: withFacts(b.say ?? BEHAVIOUR_LINES[b.kind][s.caller.language], facts) }),
    })),
  }).trimEnd();
}

const LANGUAGE_NAMES = { en: 'English', hi: 'Hindi, in Devanagari script', hinglish: 'Hinglish (Hindi and English mixed, in Latin script)' };

export function callerPrompt(s: Scenario, template = readFileSync(CALLER_PROMPT_FILE, 'utf8')): string {
  return template.replace('{{language}}', LANGUAGE_NAMES[s.caller.language] ?? languageName(s.caller.language)).replace('{{scenario}}', callerView(s));
}

export class SimulatedCaller {
  private readonly messages: ChatMessage[];
  tokens = 0;

  constructor(
    private readonly endpoint: ModelEndpoint,
    scenario: Scenario,
  ) {
    this.messages = [{ role: 'system', content: callerPrompt(scenario) }];
  }

  /** What the agents said since the caller's last move (nothing: the line was quiet). */
  hear(lines: string[]): void {
    this.messages.push({ role: 'user', content: lines.length ? lines.join(' ') : '(silence on the line)' });
  }

  /** The caller's next move; a model that fails throws ModelError. */
  async next(): Promise<CallerMove> {
    const answer = await complete(this.endpoint, this.messages, TOOLS);
    this.tokens += answer.tokens;
    this.messages.push(answer.message);
    for (const c of answer.toolCalls) this.messages.push({ role: 'tool', tool_call_id: c.id, content: 'ok' });
    const text = answer.text.trim();
    const end = answer.toolCalls.find((c) => c.name === 'end_call');
    if (end) return { kind: 'end', text, needsMet: end.arguments.needs_met === true, reason: String(end.arguments.reason ?? '') };
    if (!text || answer.toolCalls.some((c) => c.name === 'stay_silent')) return { kind: 'silent' };
    return { kind: 'say', text };
  }
}
