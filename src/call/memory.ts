/**
 * A long call's memory: once the history passes a budget (CONTEXT_BUDGET_TOKENS), its older turns are
 * summarised in the background — started when an agent starts speaking, never between a caller's turn
 * and the reply — and later requests carry the summary plus the most recent turns verbatim. A tool call
 * is never separated from its result. A summary that fails or is not ready changes nothing: the whole
 * history is sent. Caller details stay in each desk's instructions.
 *
 * How much of it a desk's requests carry is the department table's `history` (see `HistoryPolicy`).
 */
import { llm, log, voice } from '@livekit/agents';
import type { HistoryPolicy } from '../departments.js';
import { languageName } from '../language.js';
import { carriedHistory } from './context.js';
import type { CallEvent } from './events.js';
import { quiet } from './prepared-reply.js';

/** The share of the budget kept verbatim (the most recent turns) when the rest is summarised. */
const KEEP_SHARE = 0.4;

const THE_PROMPT = (language: string) =>
  '# Summarise this call\n\n' +
  "You keep the notes of a call center's phone call, for the agents who take it next. From the earlier " +
  'notes (if any) and the part of the conversation given, write new notes that replace both: who the caller ' +
  'is, every need they raised and what became of each (solved, pending, transferred and why), every fact ' +
  'they gave (names, account, order and phone numbers, amounts, dates, addresses) copied exactly, what was ' +
  'promised to them, and their mood. Short sentences, no greeting, at most 150 words. ' +
  `Write them in ${language}, keeping names and numbers as the caller said them.`;

type Item = llm.ChatItem;
type Summary = { text: string; lastId: string; covered: number };

/** About 4 characters a token, as OpenAI's tokenizers count English. */
export function tokensOf(item: Item): number {
  if (item.type === 'message') return Math.ceil((item.textContent ?? '').length / 4) + 4;
  if (item.type === 'function_call') return Math.ceil((item.name.length + item.args.length) / 4) + 4;
  if (item.type === 'function_call_output') return Math.ceil(item.output.length / 4) + 4;
  return 0;
}

const sum = (items: Item[]) => items.reduce((a, i) => a + tokensOf(i), 0);
const isInstruction = (i: Item) => i.type === 'message' && (i.role === 'system' || i.role === 'developer');

/**
 * Where to cut `items` so the part from the cut on (kept verbatim) holds at most `keepTokens`: the
 * first index kept, moved earlier so that no tool result is kept without its call.
 */
export function cutFor(items: Item[], keepTokens: number): number {
  let cut = items.length;
  let kept = 0;
  while (cut > 0 && kept + tokensOf(items[cut - 1]!) <= keepTokens) kept += tokensOf(items[--cut]!);
  const callAt = (callId: string) => items.findIndex((i) => i.type === 'function_call' && i.callId === callId);
  for (let i = cut; i < items.length; i++) {
    const item = items[i]!;
    if (item.type === 'function_call_output') {
      const at = callAt(item.callId);
      if (at >= 0 && at < cut) cut = at;
    }
  }
  return cut;
}

/** The covered turns as the summariser reads them. */
function transcript(items: Item[]): string {
  return items
    .map((i) => {
      if (i.type === 'message' && !isInstruction(i)) return `${i.role === 'user' ? 'Caller' : 'Agent'}: ${i.textContent ?? ''}`;
      if (i.type === 'function_call') return `(agent called ${i.name} ${i.args})`;
      if (i.type === 'function_call_output') return `(result: ${i.output.slice(0, 300)})`;
      if (i.type === 'agent_handoff') return `(the call moved to the ${i.newAgentId} desk)`;
      return '';
    })
    .filter(Boolean)
    .join('\n');
}

export interface MemoryOptions {
  llm: llm.LLM | unknown;
  /** 0: never summarise. */
  budgetTokens: number;
  /** Some desk's requests carry the summary (a call whose desks all take `full` or `recent` needs none made). */
  summarises: boolean;
  /** The caller's language (a code), for the summary. */
  language: () => string | undefined;
  emit: (e: CallEvent) => void;
}

export class CallMemory {
  private summary: Summary | null = null;
  private running = false;
  /** Summaries asked for, and those that failed (the whole history was used meanwhile). */
  readonly stats = { made: 0, failed: 0, tokens: 0 };

  constructor(private readonly o: MemoryOptions) {}

  private get keepTokens(): number {
    return Math.floor(this.o.budgetTokens * KEEP_SHARE);
  }

  /** Summarises whenever an agent starts speaking and the history is over its budget. */
  follow<T>(session: voice.AgentSession<T>): void {
    session.on(voice.AgentSessionEventTypes.AgentStateChanged, ({ newState }) => {
      if (newState === 'speaking') this.consider(session.history);
    });
  }

  /** Starts a summary in the background if the turns not yet summarised pass the budget. */
  consider(history: llm.ChatContext): void {
    if (this.running || !this.o.budgetTokens || !this.o.summarises || !(this.o.llm instanceof llm.LLM)) return;
    const items = carriedHistory(history).items;
    const from = this.summary ? items.findIndex((i) => i.id === this.summary!.lastId) + 1 : 0;
    const fresh = items.slice(from);
    if (sum(fresh) <= this.o.budgetTokens) return;
    const cut = cutFor(fresh, this.keepTokens);
    if (cut <= 0) return;
    this.running = true;
    void this.summarise(fresh.slice(0, cut), sum(items)).finally(() => (this.running = false));
  }

  private async summarise(covered: Item[], historyTokens: number): Promise<void> {
    const model = this.o.llm as llm.LLM;
    const startedAt = performance.now();
    const before = this.summary;
    const ctx = llm.ChatContext.empty();
    ctx.addMessage({ role: 'system', content: THE_PROMPT(languageName(this.o.language() ?? 'en')) });
    ctx.addMessage({
      role: 'user',
      content: `${before ? `Earlier notes:\n${before.text}\n\n` : ''}Conversation to add:\n${transcript(covered)}`,
    });
    this.stats.made++;
    try {
      const stream = model.chat({ chatCtx: ctx });
      let failed: string | null = null;
      quiet(stream, () => (failed = 'the model failed'));
      const answer = await stream.collect();
      const text = answer.text.trim();
      if (failed || !text) throw new Error(failed ?? 'an empty summary');
      const tokens = answer.usage?.totalTokens ?? 0;
      this.stats.tokens += tokens;
      const covers = (before?.covered ?? 0) + covered.length;
      this.summary = { text, lastId: covered.at(-1)!.id, covered: covers };
      this.o.emit({
        type: 'summary',
        text,
        coveredItems: covers,
        historyTokens,
        summaryTokens: tokens,
        ms: Math.round(performance.now() - startedAt),
        at: Date.now(),
      });
    } catch (err) {
      this.stats.failed++;
      log().warn({ err: (err as Error).message }, 'summary of the call failed; the whole history is used');
    }
  }

  /** The context a desk's request carries under its policy (the instructions always first). */
  forModel(ctx: llm.ChatContext, policy: HistoryPolicy): llm.ChatContext {
    if (policy === 'full' || !this.o.budgetTokens) return ctx;
    const lead = ctx.items.findIndex((i) => !isInstruction(i));
    if (lead < 0) return ctx;
    const head = ctx.items.slice(0, lead);
    const rest = ctx.items.slice(lead);
    let kept: Item[];
    let note: Item[] = [];
    if (policy === 'summary') {
      const at = this.summary ? rest.findIndex((i) => i.id === this.summary!.lastId) : -1;
      if (at < 0) return ctx;
      kept = rest.slice(at + 1);
      note = [llm.ChatMessage.create({ role: 'system', content: `Notes on the call so far (the turns before those below): ${this.summary!.text}` })];
    } else {
      if (sum(rest) <= this.o.budgetTokens) return ctx;
      kept = rest.slice(cutFor(rest, this.keepTokens));
    }
    const copy = ctx.copy();
    copy.items = [...head, ...note, ...withoutOrphans(kept)];
    return copy;
  }
}

/** No tool result whose call was cut off (OpenAI refuses one). */
function withoutOrphans(items: Item[]): Item[] {
  const calls = new Set(items.flatMap((i) => (i.type === 'function_call' ? [i.callId] : [])));
  return items.filter((i) => i.type !== 'function_call_output' || calls.has(i.callId));
}
