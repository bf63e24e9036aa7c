/**
 * What a call's context may hold and what it carries across a transfer: the bounds on text the model
 * (or any other source) puts into the call, the context as it is sent to the model, and the history
 * the next agent inherits.
 */
import { llm } from '@livekit/agents';
import type { CallerInfo } from '../../machines/router.js';
import { parseLanguage } from '../language.js';
import { toE164 } from '../telephony/numbers.js';

/**
 * Bounds on what the model (or any other source) may put into the call's context. A transfer reason
 * goes into the route, the events and the next department's instructions; caller details go into every
 * department's instructions. Longer values are cut (on a character boundary) and marked with "…".
 */
export const MAX_REASON_CHARS = 500;
export const MAX_CALLER_FIELD_CHARS = 200;

/** A tool call's arguments, or a tool's output, longer than this is cut before it goes to the model again. */
export const MAX_TOOL_ARGS_CHARS = 2000;

/** `text` trimmed and cut to at most `max` characters (code points, so no emoji is split in half). */
export function bounded(text: string, max: number): string {
  const t = text.trim();
  if (t.length <= max) return t;
  const chars = Array.from(t);
  return chars.length <= max ? t : `${chars.slice(0, max - 1).join('').trimEnd()}…`;
}

/**
 * Caller details as they are saved: each text cut to `MAX_CALLER_FIELD_CHARS`, a number as the caller
 * said it ("098765 43210") kept in E.164, a language by its code ("Hindi" → hi).
 */
export function cleanCallerInfo(info: Partial<CallerInfo>): Partial<CallerInfo> {
  const clean = Object.fromEntries(
    Object.entries(info).map(([k, v]) => [k, typeof v === 'string' ? bounded(v, MAX_CALLER_FIELD_CHARS) : v]),
  ) as Partial<CallerInfo>;
  if (clean.phoneNumber) clean.phoneNumber = toE164(clean.phoneNumber) ?? clean.phoneNumber;
  if (clean.language !== undefined) clean.language = parseLanguage(clean.language) ?? undefined;
  return clean;
}

/** Oversized JSON arguments: each string value cut to `MAX_REASON_CHARS`; anything else unusable → `{}`. */
function boundedArgs(args: string): string {
  try {
    const v: unknown = JSON.parse(args);
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const cut = Object.fromEntries(
        Object.entries(v).map(([k, x]) => [k, typeof x === 'string' ? bounded(x, MAX_REASON_CHARS) : x]),
      );
      const json = JSON.stringify(cut);
      if (json.length <= MAX_TOOL_ARGS_CHARS) return json;
    }
  } catch {
    /* not JSON: nothing worth keeping */
  }
  return '{}';
}

/**
 * The context as it is sent to the model: tool calls with oversized arguments (a model gone wrong, a
 * 200 KB "reason") and oversized tool outputs are cut, so one bad call does not weigh on every later
 * request of the call. The context itself (the history) is left as it was.
 */
export function boundedForModel(ctx: llm.ChatContext): llm.ChatContext {
  const tooBig = (item: llm.ChatItem) =>
    (item.type === 'function_call' && item.args.length > MAX_TOOL_ARGS_CHARS) ||
    (item.type === 'function_call_output' && item.output.length > MAX_TOOL_ARGS_CHARS);
  if (!ctx.items.some(tooBig)) return ctx;
  const copy = ctx.copy();
  copy.items = copy.items.map((item) => {
    if (!tooBig(item)) return item;
    if (item.type === 'function_call') {
      return llm.FunctionCall.create({
        id: item.id,
        callId: item.callId,
        name: item.name,
        args: boundedArgs(item.args),
        createdAt: item.createdAt,
        extra: item.extra,
        groupId: item.groupId,
        thoughtSignature: item.thoughtSignature,
      });
    }
    if (item.type === 'function_call_output') {
      return llm.FunctionCallOutput.create({
        id: item.id,
        callId: item.callId,
        name: item.name,
        output: bounded(item.output, MAX_TOOL_ARGS_CHARS),
        isError: item.isError,
        createdAt: item.createdAt,
      });
    }
    return item;
  });
  return copy;
}

/**
 * The session history as the next agent should see it: no system/developer instructions, and no
 * function call without its output (or output without its call) — OpenAI rejects such a history.
 */
export function carriedHistory(history: llm.ChatContext): llm.ChatContext {
  const ctx = history.copy({ excludeInstructions: true });
  const calls = new Set<string>();
  const outputs = new Set<string>();
  for (const item of ctx.items) {
    if (item.type === 'function_call') calls.add(item.callId);
    if (item.type === 'function_call_output') outputs.add(item.callId);
  }
  ctx.items = ctx.items.filter(
    (item) =>
      (item.type !== 'function_call' || outputs.has(item.callId)) &&
      (item.type !== 'function_call_output' || calls.has(item.callId)),
  );
  return ctx;
}
