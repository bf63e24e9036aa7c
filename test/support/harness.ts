/** Shared test plumbing: the scripted OpenAI-compatible server and calls wired to it. */
import { initializeLogger } from '@livekit/agents';
import * as openai from '@livekit/agents-plugin-openai';
import type { CallerInfo } from '../../machines/router.js';
import type { Call } from '../../src/call/call.js';
import { textCall } from '../../src/call/text-call.js';
import type { CallEvent } from '../../src/call/events.js';
import type { CallOptions } from '../../src/call/options.js';
import {
  type ChatRequest,
  type RecordedRequest,
  type Script,
  type ScriptedReply,
  type ScriptedServer,
  isTakeover,
  keywordBrain,
  startScriptedServer,
  textOf,
} from '../../dev/scripted-llm.js';
import { isSummaryPrompt } from '../../dev/scripted-memory.js';

let loggerReady = false;
export function initTestLogging(): void {
  if (loggerReady) return;
  initializeLogger({ pretty: false, level: process.env.TEST_LOG_LEVEL ?? 'fatal' });
  loggerReady = true;
}

/** A caller line that makes the scripted model call these tools (a test's stand-in for intent). */
export const callTools = (...calls: { name: string; arguments: Record<string, unknown> | string }[]) =>
  `@call ${JSON.stringify(calls)}`;

export const DIRECTIVE = /^@call (.*)$/s;

type ScriptedCall = { name: string; arguments: Record<string, unknown> | string };
/** Tool calls the next request of a call that hears a caller line answers with (see `sayAndCall`). */
const queued = new Map<string, ScriptedCall[]>();
/** The call a recorded request belongs to: its API key is the call id (see startCall). */
export const callIdOf = (rec: RecordedRequest) => rec.authorization?.replace(/^Bearer /, '') ?? '';

/**
 * The caller says `line` — real words, in any language — and the desk that hears it calls these tools,
 * as a `callTools` directive would, but with nothing of the directive in what the caller said (a
 * directive's JSON reads as English to the call's language detection).
 */
export async function sayAndCall(call: Call, line: string, ...calls: ScriptedCall[]): Promise<CallEvent[]> {
  queued.set(call.callId, calls);
  try {
    return await say(call, line);
  } finally {
    queued.delete(call.callId);
  }
}

/**
 * keywordBrain, plus `@call [...]` caller lines that script the model's tool calls exactly. A directive
 * scripts the desk that heard the line: a desk taking the call over afterwards (whose last user message
 * is still that line) answers as a model would, from what it was handed, not by replaying it.
 */
export function directiveScript(extra?: (req: ChatRequest, rec: RecordedRequest) => ScriptedReply | undefined): Script {
  return (req, rec) => {
    const fromExtra = extra?.(req, rec);
    if (fromExtra) return fromExtra;
    const last = req.messages.at(-1);
    const hearsTheLine = last?.role === 'user' && req.tool_choice !== 'none' && !isTakeover(req);
    const m = hearsTheLine ? DIRECTIVE.exec(textOf(last)) : null;
    if (m) return { toolCalls: JSON.parse(m[1]!) };
    const toolCalls = hearsTheLine ? queued.get(callIdOf(rec)) : undefined;
    if (toolCalls) {
      queued.delete(callIdOf(rec));
      return { toolCalls };
    }
    return keywordBrain(req, rec);
  };
}

export async function startServer(script: Script = directiveScript()): Promise<ScriptedServer> {
  initTestLogging();
  return startScriptedServer({ script });
}

let seq = 0;
export interface TestCallOptions {
  maxHandoffs?: number;
  humanAvailable?: boolean;
  caller?: CallerInfo;
  maxRetry?: number;
  timeoutMs?: number;
  connectHuman?: CallOptions['connectHuman'];
  humanTransferMode?: CallOptions['humanTransferMode'];
  personTimeoutMs?: number;
  hangUp?: () => Promise<void>;
  dtmfMap?: Record<string, import('../../machines/router.js').Target>;
  /** Default: a fresh `test-call-N`. */
  callId?: string;
  /** Prepare the new desk's reply while the old line plays (default on, as in the product). */
  prepareReplies?: boolean;
  /** GREETING_LANGUAGE: the greeting's language while the caller's is unknown. */
  greetingLanguage?: string;
  /** The caller's language became known or changed (the worker tells its speech-to-text). */
  languageChanged?: CallOptions['languageChanged'];
  /** Voices per desk: the call then bridges silent transfers and prepares speech (its lines are still text events). */
  ttsFor?: CallOptions['ttsFor'];
}

/** A room-less call through the real orchestrator, the real OpenAI plugin and the scripted server. */
export async function startCall(server: ScriptedServer, o: TestCallOptions = {}): Promise<Call> {
  const callId = o.callId ?? `test-call-${++seq}`;
  const call = textCall({
    callId,
    // The API key tags this call's requests on the shared server.
    llm: new openai.LLM({ model: 'scripted', apiKey: callId, baseURL: server.url }),
    company: 'Acme',
    maxHandoffs: o.maxHandoffs ?? 6,
    humanAvailable: o.humanAvailable ?? false,
    caller: o.caller,
    connectHuman: o.connectHuman,
    humanTransferMode: o.humanTransferMode,
    personTimeoutMs: o.personTimeoutMs,
    hangUp: o.hangUp,
    dtmfMap: o.dtmfMap,
    prepareReplies: o.prepareReplies,
    greetingLanguage: o.greetingLanguage,
    languageChanged: o.languageChanged,
    ttsFor: o.ttsFor,
    sessionOptions: {
      connOptions: { llmConnOptions: { maxRetry: o.maxRetry ?? 0, timeoutMs: o.timeoutMs ?? 5000, retryIntervalMs: 50 } },
    },
  });
  await call.start();
  await call.greeted;
  return call;
}

/** The desks' requests of a call (not the background summaries of a long call: see src/call/memory.ts). */
export const requestsOf = (server: ScriptedServer, call: Call) =>
  server.chatRequests().filter((r) => r.authorization === `Bearer ${call.callId}` && !isSummaryPrompt(r.body));

/** Says a line and waits for the whole turn, transfers and the new agent's reply included. */
export async function say(call: Call, text: string): Promise<CallEvent[]> {
  const from = call.events.length;
  await call.session.run({ userInput: text }).wait();
  return call.events.slice(from);
}

export function waitForEvent(call: Call, pred: (e: CallEvent) => boolean, timeoutMs = 5000): Promise<CallEvent> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      call.off('event', on);
      reject(new Error(`timed out waiting for a call event; saw: ${JSON.stringify(call.events.map((e) => e.type))}`));
    }, timeoutMs);
    const on = (e: CallEvent) => {
      if (pred(e)) {
        clearTimeout(t);
        call.off('event', on);
        resolve(e);
      }
    };
    call.on('event', on);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One tool call as the scripted server sent it, with the request that asked for it. */
export interface SentToolCall {
  rec: RecordedRequest;
  name: string;
  arguments: string | Record<string, unknown>;
}

/** Every tool call the scripted server sent to this call, in order (arguments as sent, nulls filled in). */
export const toolCallsSent = (server: ScriptedServer, call: Call): SentToolCall[] =>
  requestsOf(server, call).flatMap((rec) => (rec.reply?.toolCalls ?? []).map((c) => ({ rec, ...c })));

/**
 * What is wrong with a sent tool call for the schema its request offered: a property of the schema
 * the arguments leave out. Undefined when all are there (or the tool was not offered).
 */
export function schemaGap(c: SentToolCall): string | undefined {
  const properties = c.rec.body.tools?.find((t) => t.function.name === c.name)?.function.parameters?.properties;
  if (!properties) return undefined;
  const args = typeof c.arguments === 'string' ? (JSON.parse(c.arguments) as Record<string, unknown>) : c.arguments;
  const missing = Object.keys(properties).filter((k) => !(k in args));
  return missing.length ? `${c.name} without ${missing.join(', ')}: ${JSON.stringify(args)}` : undefined;
}
