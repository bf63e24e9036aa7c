/**
 * A scripted OpenAI-compatible server on 127.0.0.1: the tests, the demo and the benchmarks talk to it
 * through the real `@livekit/agents-plugin-openai`, over real HTTP and Server-Sent Events.
 *
 * It checks requests as OpenAI does where it matters to us — an assistant `tool_calls` message must be
 * followed by a tool message for every call id, and a tool message must answer a call — and answers
 * 400 with OpenAI's error shape otherwise. It can fail, stall, or cut a stream on demand.
 *
 * Tool-call arguments are sent as a real model sends them for the schema the request offers: the
 * OpenAI plugin lists every property in `required` (an optional one as nullable, `"type": ["string",
 * "null"]`), so every property a script leaves out is sent as `null` (see `withSchemaArguments`).
 *
 * The default script, `keywordBrain`, plays a plausible call-center model from the request alone
 * (which desk is asking, what the caller said last), so a scripted call routes like a real one.
 *
 * Its audio is scripted too (dev/scripted-audio.ts): `/audio/speech` answers speech-like audio padded
 * with silence as real voices are, and `/audio/transcriptions` hears the caller clips it is given only
 * when their audio arrives intact.
 */
import { once } from 'node:events';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseWav } from '../src/voice/wav.js';
import { NO_MORE_TRANSFERS } from '../src/departments.js';
import { type Clip, ClipRecogniser, TTS_PADDING, synthSpeech } from './scripted-audio.js';
import { isCallerPrompt, isJudgePrompt, scriptedCaller, scriptedJudge } from './scripted-caller.js';
import { FAULTS, type Fault, withFault } from './scripted-faults.js';
import { isSummaryPrompt, recall, scriptedSummary } from './scripted-memory.js';

export interface ChatMessageIn {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content?: string | null | { type: string; text?: string }[];
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

/** A tool's JSON Schema as the OpenAI plugin sends it (every property in `required`, optional ones nullable). */
export interface ToolParameters {
  type?: string;
  properties?: Record<string, { type?: string | string[]; description?: string; [k: string]: unknown }>;
  required?: string[];
  additionalProperties?: boolean;
  [k: string]: unknown;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessageIn[];
  tools?: { type: 'function'; function: { name: string; description?: string; parameters?: ToolParameters } }[];
  tool_choice?: unknown;
  stream?: boolean;
  [k: string]: unknown;
}

export interface ScriptedReply {
  text?: string;
  toolCalls?: { name: string; arguments: string | Record<string, unknown> }[];
  /** Delay before the first chunk (time to first token). */
  ttftMs?: number;
  /** Delay between chunks. */
  chunkDelayMs?: number;
  /** Answer with an HTTP error instead (e.g. 500, 429). */
  fail?: { status: number; message?: string };
  /** Never answer (the client times out). */
  hang?: boolean;
  /** Drop the connection after this many chunks. */
  cutAfterChunks?: number;
}

export interface RecordedRequest {
  at: number;
  path: string;
  authorization?: string;
  body: ChatRequest;
  /** Set when the request was refused as OpenAI would refuse it. */
  invalid?: string;
  /** What the server answered (tool-call arguments as sent, after `withSchemaArguments`). */
  reply?: ScriptedReply;
}

export type Script = (req: ChatRequest, recorded: RecordedRequest) => ScriptedReply | Promise<ScriptedReply>;

export interface ScriptedServer {
  /** Base URL for `OPENAI_BASE_URL`, e.g. http://127.0.0.1:43123/v1 */
  url: string;
  requests: RecordedRequest[];
  /** Chat requests only. */
  chatRequests(): RecordedRequest[];
  /**
   * Transcription requests: the form fields sent with the audio (model, language when the STT was told
   * one), and `heard`, the text answered.
   */
  transcriptions: Record<string, string>[];
  setScript(script: Script): void;
  /** The caller clips transcriptions are recognised against (none: every one returns `transcript`). */
  setClips(clips: Clip[]): void;
  /** Closes every open connection (keep-alive ones included); the server keeps listening. */
  dropConnections(): void;
  close(): Promise<void>;
}

export interface ScriptedServerOptions {
  script?: Script;
  host?: string;
  port?: number;
  /** TTS: delay before the first audio byte, and spoken length per character of text (default 10 ms). */
  ttsTtfbMs?: number;
  ttsMsPerChar?: number;
  /** TTS: the silence around every clip (default TTS_PADDING; `{ leadMs: 0, trailMs: 0 }` for none). */
  ttsPadding?: { leadMs?: number; trailMs?: number };
  /** STT: the caller clips it can hear (see ClipRecogniser); without them, `transcript` for every request. */
  clips?: Clip[];
  /** STT: what every transcription returns when no clips are set. */
  transcript?: string;
  /** A regression planted in the desks' answers (see ./scripted-faults.ts), to prove the simulation's judges. */
  fault?: Fault;
  /**
   * Time to first token grows with the prompt, as a real model's prefill does: this many ms per 1,000
   * prompt tokens, on top of a reply's own `ttftMs` (default PROMPT_MS_PER_1K_TOKENS; 0: none).
   */
  promptMsPer1kTokens?: number;
  /** How a summary request is answered (default `scriptedSummary`; a test's summariser may fail or hang). */
  summariser?: Script;
}

/**
 * Published measurements put a hosted model's prefill at 20–30 ms per 500 prompt tokens (shared APIs;
 * Glean measured up to 0.24 ms a token at P95): the low end, 50 ms per 1,000 tokens, by default.
 */
export const PROMPT_MS_PER_1K_TOKENS = 50;

export const textOf = (m: ChatMessageIn | undefined): string => {
  if (!m?.content) return '';
  if (typeof m.content === 'string') return m.content;
  return m.content.map((p) => p.text ?? '').join('');
};

/** Why OpenAI would answer this history with HTTP 400, or undefined. */
export function historyProblem(messages: ChatMessageIn[]): string | undefined {
  if (!Array.isArray(messages) || messages.length === 0) return "'messages' must be a non-empty array";
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role === 'assistant' && m.tool_calls?.length) {
      const answered = new Set<string>();
      for (let j = i + 1; j < messages.length && messages[j]!.role === 'tool'; j++) {
        answered.add(messages[j]!.tool_call_id ?? '');
      }
      const missing = m.tool_calls.map((c) => c.id).filter((id) => !answered.has(id));
      if (missing.length) {
        return (
          "An assistant message with 'tool_calls' must be followed by tool messages responding to each " +
          `'tool_call_id'. The following tool_call_ids did not have response messages: ${missing.join(', ')}`
        );
      }
    }
    if (m.role === 'tool') {
      let k = i - 1;
      while (k >= 0 && messages[k]!.role === 'tool') k--;
      const prev = messages[k];
      if (!prev || prev.role !== 'assistant' || !prev.tool_calls?.some((c) => c.id === m.tool_call_id)) {
        return "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.";
      }
    }
  }
  return undefined;
}

async function readRawBody(req: IncomingMessage, limit = 20 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new Error('body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

const readBody = async (req: IncomingMessage) => (await readRawBody(req)).toString('utf8');

const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

function openAIError(res: ServerResponse, status: number, message: string, type = 'invalid_request_error') {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message, type, param: null, code: null } }));
}

/** The JSON Schema of the tool `name` as this request offers it, or undefined when it is not offered. */
export function offeredSchema(req: ChatRequest, name: string): ToolParameters | undefined {
  return req.tools?.find((t) => t.function.name === name)?.function.parameters ?? undefined;
}

/**
 * The reply with its tool-call arguments as a real model sends them: every property of the offered
 * schema that the script did not give is sent as `null` (the plugin marks every property required,
 * an optional one nullable). Left exactly as scripted: arguments given as a raw string (malformed
 * JSON on purpose), arguments that are not a JSON object, and calls to a tool the request did not offer.
 */
export function withSchemaArguments(req: ChatRequest, reply: ScriptedReply): ScriptedReply {
  if (!reply.toolCalls?.length) return reply;
  const toolCalls = reply.toolCalls.map((call) => {
    const args = call.arguments;
    if (typeof args !== 'object' || args === null || Array.isArray(args)) return call;
    const properties = offeredSchema(req, call.name)?.properties;
    if (!properties) return call;
    const keys = Object.keys(properties);
    if (keys.every((k) => k in args)) return call;
    // In the schema's order, as a model writes them; any extra property the script gave stays, after.
    const filled: Record<string, unknown> = Object.fromEntries(keys.map((k) => [k, k in args ? args[k] : null]));
    for (const [k, v] of Object.entries(args)) if (!(k in filled)) filled[k] = v;
    return { ...call, arguments: filled };
  });
  return { ...reply, toolCalls };
}

let callCounter = 0;

async function streamReply(res: ServerResponse, body: ChatRequest, reply: ScriptedReply): Promise<void> {
  const id = `chatcmpl-scripted-${++callCounter}`;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta: unknown, finish: string | null = null) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  await sleep(reply.ttftMs ?? 0);
  if (res.destroyed) return;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const pieces: string[] = [chunk({ role: 'assistant', content: '' })];
  const text = reply.text ?? '';
  for (let i = 0; i < text.length; i += 12) pieces.push(chunk({ content: text.slice(i, i + 12) }));
  (reply.toolCalls ?? []).forEach((call, index) => {
    const args = typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
    pieces.push(
      chunk({
        tool_calls: [{ index, id: `call_${callCounter}_${index}`, type: 'function', function: { name: call.name, arguments: '' } }],
      }),
    );
    pieces.push(chunk({ tool_calls: [{ index, function: { arguments: args } }] }));
  });
  pieces.push(chunk({}, reply.toolCalls?.length ? 'tool_calls' : 'stop'));
  pieces.push(
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [], usage: { ...usageOf(body, reply), prompt_tokens_details: { cached_tokens: 0 } } })}\n\n`,
  );
  pieces.push('data: [DONE]\n\n');
  let n = 0;
  for (const p of pieces) {
    if (res.destroyed) return;
    if (reply.cutAfterChunks !== undefined && n >= reply.cutAfterChunks) {
      res.destroy();
      return;
    }
    res.write(p);
    n++;
    if (reply.chunkDelayMs) await sleep(reply.chunkDelayMs);
  }
  res.end();
}

/**
 * The tokens a request and its reply cost, as a real server counts them (about 4 characters a token):
 * the whole prompt — messages and tool schemas — every time, so a long call's requests cost more.
 */
export function usageOf(body: ChatRequest, reply: ScriptedReply): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const prompt = Math.ceil((JSON.stringify(body.messages).length + JSON.stringify(body.tools ?? []).length) / 4);
  const args = (reply.toolCalls ?? []).map((c) => (typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments))).join('');
  const completion = Math.ceil(((reply.text ?? '').length + args.length) / 4) + 1;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** A completion answered whole (`stream` not set), as OpenAI answers it. */
async function jsonReply(res: ServerResponse, body: ChatRequest, reply: ScriptedReply): Promise<void> {
  await sleep(reply.ttftMs ?? 0);
  if (res.destroyed) return;
  const id = `chatcmpl-scripted-${++callCounter}`;
  const text = reply.text ?? '';
  const toolCalls = (reply.toolCalls ?? []).map((call, index) => ({
    id: `call_${callCounter}_${index}`,
    type: 'function',
    function: { name: call.name, arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments) },
  }));
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      id,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: text || null, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) },
          finish_reason: toolCalls.length ? 'tool_calls' : 'stop',
        },
      ],
      usage: usageOf(body, reply),
    }),
  );
}

interface FormPart {
  name: string;
  filename?: string;
  data: Buffer;
}

/** The parts of a multipart/form-data body, binary intact, split by the boundary its content-type names. */
function formParts(body: Buffer, contentType: string | undefined): FormPart[] {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  if (!m) return [];
  const delimiter = Buffer.from(`--${m[1] ?? m[2]}`);
  const parts: FormPart[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.toString('latin1', start, start + 2) === '--') break; // the closing delimiter
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    const part = body.subarray(start + 2, next - 2); // between the CRLF after one delimiter and before the next
    const headEnd = part.indexOf('\r\n\r\n');
    const head = part.toString('utf8', 0, Math.max(0, headEnd));
    const name = /;\s*name="([^"]*)"/i.exec(head)?.[1];
    const filename = /;\s*filename="([^"]*)"/i.exec(head)?.[1];
    if (headEnd >= 0 && name !== undefined) {
      parts.push({ name, ...(filename !== undefined ? { filename } : {}), data: part.subarray(headEnd + 4) });
    }
    at = next;
  }
  return parts;
}

/** The longest stretch of speech `/audio/speech` answers with (padding aside). */
const TTS_MAX_SPOKEN_MS = 8000;

/** `/audio/speech`: scripted speech for the text in the voice asked for, as raw s16le 24 kHz mono (OpenAI's `pcm`). */
/** A simulated caller's voice asks for its speech with these words in its instructions (see src/simulate/voice-play.ts). */
export const SIMULATED_CALLER_VOICE = /simulated caller/i;

async function answerSpeech(req: IncomingMessage, res: ServerResponse, opts: ScriptedServerOptions, remember: (clip: Clip) => void): Promise<void> {
  const body = JSON.parse(await readBody(req)) as { input?: string; voice?: string; instructions?: string };
  await sleep(opts.ttsTtfbMs ?? 0);
  const input = body.input ?? '';
  const chars = Math.max(1, [...input].length);
  const msPerChar = Math.min(opts.ttsMsPerChar ?? 10, TTS_MAX_SPOKEN_MS / chars);
  const samples = synthSpeech(input, { voice: body.voice, sampleRate: 24000, msPerChar, ...TTS_PADDING, ...opts.ttsPadding });
  // A simulated caller's line: its speech-to-text will be asked to hear it, as a script's clip is.
  if (SIMULATED_CALLER_VOICE.test(body.instructions ?? '')) remember({ words: input, samples, sampleRate: 24000 });
  const bytes = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) bytes.writeInt16LE(samples[i]!, i * 2);
  res.writeHead(200, { 'content-type': 'audio/pcm' });
  res.end(bytes);
}

/**
 * `/audio/transcriptions`: the multipart form's text fields are recorded, its `file` part read as WAV
 * and recognised against the clips (or answered with `transcript` when there are none). The text
 * answered is recorded too, as `heard`.
 */
async function answerTranscription(
  req: IncomingMessage,
  res: ServerResponse,
  heard: (wav: Buffer) => string,
  record: (entry: Record<string, string>) => void,
): Promise<void> {
  const parts = formParts(await readRawBody(req), req.headers['content-type']);
  const entry: Record<string, string> = {};
  for (const p of parts) if (p.filename === undefined) entry[p.name] = p.data.toString('utf8');
  record(entry);
  const file = parts.find((p) => p.name === 'file' && p.filename !== undefined);
  if (!file) return openAIError(res, 400, "Missing required parameter: 'file'.");
  let text: string;
  try {
    text = heard(file.data);
  } catch (err) {
    return openAIError(res, 400, `Invalid file format: ${(err as Error).message}`);
  }
  entry.heard = text;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ text }));
}

export async function startScriptedServer(opts: ScriptedServerOptions = {}): Promise<ScriptedServer> {
  let script: Script = opts.script ?? keywordBrain;
  const desks = (s: Script) => (opts.fault ? withFault(s, opts.fault) : s);
  // A simulated caller and a judge (npm run simulate) are played whatever script plays the desks.
  const answer: Script = (req, rec) =>
    isCallerPrompt(req) ? scriptedCaller(req) : isJudgePrompt(req) ? scriptedJudge(req) : isSummaryPrompt(req) ? (opts.summariser ?? scriptedSummary)(req, rec) : desks(script)(req, rec);
  const prefillMs = (body: ChatRequest, reply: ScriptedReply) => (usageOf(body, reply).prompt_tokens / 1000) * (opts.promptMsPer1kTokens ?? PROMPT_MS_PER_1K_TOKENS);
  const requests: RecordedRequest[] = [];
  const transcriptions: Record<string, string>[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const recogniserOf = (clips: Clip[] | undefined) => (clips?.length ? new ClipRecogniser(clips) : undefined);
  let recogniser = recogniserOf(opts.clips);
  // The simulated callers' lines it spoke (the latest 48), heard as a script's clips are when none are set.
  const callerLines: Clip[] = [];
  let callerRecogniser: ClipRecogniser | undefined;
  const rememberCallerLine = (clip: Clip) => {
    callerLines.push(clip);
    if (callerLines.length > 48) callerLines.shift();
    callerRecogniser = undefined;
  };
  const heard = (wav: Buffer) => {
    const pcm = parseWav(wav); // a WAV we cannot read is refused, clips or not
    if (!recogniser && callerLines.length) callerRecogniser ??= new ClipRecogniser(callerLines);
    const r = recogniser ?? callerRecogniser;
    return r ? r.recognise(pcm).text : (opts.transcript ?? '');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!.replace(/^\/v1/, '');
    if (req.method === 'GET' && path === '/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: 'scripted', object: 'model', owned_by: 'switchboard' }] }));
      return;
    }
    if (req.method === 'POST' && path === '/chat/completions') {
      let body: ChatRequest;
      try {
        body = JSON.parse(await readBody(req)) as ChatRequest;
      } catch {
        return openAIError(res, 400, 'We could not parse the JSON body of your request.');
      }
      const rec: RecordedRequest = { at: Date.now(), path, authorization: req.headers.authorization, body };
      requests.push(rec);
      const problem = historyProblem(body.messages);
      if (problem) {
        rec.invalid = problem;
        return openAIError(res, 400, problem);
      }
      const scripted = withSchemaArguments(body, await answer(body, rec));
      const reply = { ...scripted, ttftMs: (scripted.ttftMs ?? 0) + prefillMs(body, scripted) };
      rec.reply = reply;
      if (reply.hang) return; // the client's timeout ends it
      if (reply.fail) {
        await sleep(reply.ttftMs ?? 0);
        return openAIError(res, reply.fail.status, reply.fail.message ?? 'scripted failure', 'server_error');
      }
      return body.stream ? streamReply(res, body, reply) : jsonReply(res, body, reply);
    }
    if (req.method === 'POST' && path === '/audio/speech') return answerSpeech(req, res, opts, rememberCallerLine);
    if (req.method === 'POST' && path === '/audio/transcriptions') {
      return answerTranscription(req, res, heard, (entry) => transcriptions.push(entry));
    }
    openAIError(res, 404, `Unknown request URL: ${req.method} ${req.url}`);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) openAIError(res, 500, String(err), 'server_error');
      else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}/v1`,
    requests,
    transcriptions,
    chatRequests: () => requests.filter((r) => r.path === '/chat/completions'),
    setScript: (s) => (script = s),
    setClips: (clips) => (recogniser = recogniserOf(clips)),
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// ---- the default script --------------------------------------------------------------------------

/** The desk a request comes from, read from its system prompt ("You are the Billing desk at …"). */
export function deskOf(req: ChatRequest): string {
  const sys = req.messages.filter((m) => m.role === 'system' || m.role === 'developer').map(textOf).join('\n');
  return /You are the ([\w -]+?) desk/.exec(sys)?.[1] ?? 'Assistant';
}

export const systemText = (req: ChatRequest) =>
  req.messages.filter((m) => m.role === 'system' || m.role === 'developer').map(textOf).join('\n');

/**
 * How the desk introduces itself to the caller: the entry instruction's "say you are <name> and
 * continue", else the prompt's "To the caller you are <name>;", else the desk's title.
 */
export function introOf(req: ChatRequest): string {
  const sys = systemText(req);
  return /\bsay you are (.+?) and continue\b/.exec(sys)?.[1] ?? /\bTo the caller you are (.+?);/.exec(sys)?.[1] ?? deskOf(req);
}

/** The first reply of a desk that has just taken the call over (its one-off entry instruction says so). */
export const isTakeover = (req: ChatRequest) => /You have just taken over this call from ([\w -]+?);/.test(systemText(req));

const offered = (req: ChatRequest, name: string) =>
  req.tool_choice !== 'none' && (req.tools ?? []).some((t) => t.function.name === name);

const capitalized = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** The last thing the caller said. */
const lastCallerLine = (req: ChatRequest) => textOf([...req.messages].reverse().find((m) => m.role === 'user'));

/** A caller line as words to understand: a test's `@call [...]` directive says nothing about topics. */
const callerWords = (text: string) => (text.startsWith('@call ') ? '' : text);

export type Topic = 'billing' | 'sales' | 'support';

/** What callers say about each department's business: English, Hinglish, and Hindi in Devanagari. */
const TOPICS: [Topic, RegExp][] = [
  [
    'billing',
    /\b(bills?|billing|billed|charges?|charged|double[- ]charged?|refunds?|invoices?|payments?|paid|overcharged|paise kat gaye|kat gaya|kat gaye|do baar|bhugtan)\b|बिल|पैसे|कट ग|रिफंड|भुगतान|चार्ज|दो बार|इनवॉइस/i,
  ],
  ['sales', /\b(buy|sales|upgrade|upgrading|plans?|prices?|pricing|purchase|quote|subscribe|naya plan|kharid\w*|kitne ka)\b|प्लान|अपग्रेड|खरीद|कीमत|नया कनेक्शन/i],
  [
    'support',
    /\b(support|broken|not working|doesn't work|does not work|errors?|crash(?:es|ed)?|outage|fix|technical|internet|router|modem|wi-?fi|down|slow|not connecting|can't connect|cannot connect|no signal|disconnect(?:s|ed|ing)?|kaam nahi|nahi chal\w*|band ho\w*|net nahi)\b|इंटरनेट|नेटवर्क|राउटर|नहीं चल|काम नहीं|बंद हो|धीमा|सिग्नल/i,
  ],
];

/** The language a desk is told to answer in ("The caller speaks Hindi; reply in Hindi"), or English. */
export function replyLanguageOf(req: ChatRequest): 'en' | 'hi' | 'hinglish' {
  const named = /The caller speaks (\w+)[ ;(]/.exec(systemText(req))?.[1]?.toLowerCase();
  return named === 'hindi' ? 'hi' : named === 'hinglish' ? 'hinglish' : 'en';
}

/** The scripted model's stock lines in each language it answers in. */
const LINES = {
  en: {
    thisIs: (me: string) => `This is ${me}.`,
    thanks: (name?: string) => `Thanks${name ? `, ${name}` : ''}.`,
    // The machine's reasons are English: a model answering in English passes them on as they are.
    refused: (why: string) => `I'm sorry, I can't transfer you: ${why} What else can I help with?`,
    cantDo: (why: string) => `I'm sorry, I can't do that: ${why} What else can I help with?`,
    done: 'Done.',
    toColleague: 'Let me get you to a colleague.',
    noColleague: "I'm afraid no colleague is available on this line, but I can keep helping you.",
    noted: "I've noted that. How can I help?",
    transfer: (t: string) => `Let me transfer you to ${t}.`,
    back: (t: string) => `Let me send you back to the front desk so they can get you to ${t}.`,
    intro: (me: string, said: string) => `This is ${me}. I understand: "${said}". Let's sort that out.`,
    greet: (company: string) => `Thank you for calling ${company}, this is the front desk. How can I help you today?`,
    help: (me: string) => `${capitalized(me)} here: I can help with that.`,
    bye: 'Thank you for calling. Goodbye!',
    connecting: "I'm connecting you to a colleague now; please stay on the line.",
    notReached: "I'm sorry, I couldn't reach a colleague just now. I'm still here with you.",
    noTransfer: (person: boolean) =>
      "I'm sorry, I can't transfer you to another department on this call any more" +
      (person ? ', but I can connect you to a colleague if you like.' : ", but I'll help you here as best I can."),
    desk: (t: Topic) => t,
  },
  hi: {
    thisIs: (me: string) => `मैं ${me} से हूँ।`,
    thanks: (name?: string) => `धन्यवाद${name ? ` ${name} जी` : ''}।`,
    // A model answering in Hindi says why in Hindi; the scripted one cannot translate the machine's reason.
    refused: () => 'माफ़ कीजिए, यह ट्रांसफ़र अभी नहीं हो सकता। मैं और क्या मदद कर सकता हूँ?',
    cantDo: () => 'माफ़ कीजिए, यह अभी नहीं हो सकता। मैं और क्या मदद कर सकता हूँ?',
    done: 'हो गया।',
    toColleague: 'मैं आपको हमारी टीम के एक साथी से जोड़ता हूँ।',
    noColleague: 'माफ़ कीजिए, इस लाइन पर अभी कोई साथी उपलब्ध नहीं है, पर मैं आपकी मदद करता रहूँगा।',
    noted: 'मैंने यह नोट कर लिया है। मैं आपकी क्या मदद कर सकता हूँ?',
    transfer: (t: string) => `मैं आपको ${t} से जोड़ रहा हूँ।`,
    back: (t: string) => `मैं आपको फ्रंट डेस्क पर वापस भेज रहा हूँ, वे आपको ${t} से जोड़ देंगे।`,
    intro: (me: string, said: string) => `नमस्ते, मैं ${me} से हूँ। मैं समझ गया: "${said}"। आइए इसे ठीक करते हैं।`,
    greet: (company: string) => `${company} को कॉल करने के लिए धन्यवाद, यह फ्रंट डेस्क है। मैं आपकी क्या मदद कर सकता हूँ?`,
    help: (me: string) => `मैं ${me} से हूँ, मैं इसमें आपकी मदद कर सकता हूँ।`,
    bye: 'कॉल करने के लिए धन्यवाद। नमस्ते!',
    connecting: 'मैं आपको अभी एक साथी से जोड़ रहा हूँ; कृपया लाइन पर बने रहिए।',
    notReached: 'माफ़ कीजिए, अभी किसी साथी से बात नहीं हो पाई। मैं आपके साथ हूँ।',
    noTransfer: (person: boolean) =>
      'माफ़ कीजिए, इस कॉल पर अब आपको किसी और विभाग से नहीं जोड़ा जा सकता' +
      (person ? ', पर आप चाहें तो मैं आपको एक साथी से जोड़ सकता हूँ।' : ', पर मैं यहीं आपकी पूरी मदद करूँगा।'),
    desk: (t: Topic) => ({ billing: 'बिलिंग टीम', sales: 'सेल्स टीम', support: 'टेक्निकल सपोर्ट' })[t],
  },
  hinglish: {
    thisIs: (me: string) => `Main ${me} se hoon.`,
    thanks: (name?: string) => `Thank you${name ? ` ${name} ji` : ''}.`,
    refused: () => 'Sorry, yeh transfer abhi nahi ho sakta. Main aur kya madad kar sakta hoon?',
    cantDo: () => 'Sorry, yeh abhi nahi ho sakta. Main aur kya madad kar sakta hoon?',
    done: 'Ho gaya.',
    toColleague: 'Main aapko hamari team ke ek colleague se connect karta hoon.',
    noColleague: 'Sorry, is line pe abhi koi colleague available nahi hai, par main aapki madad karta rahunga.',
    noted: 'Maine note kar liya hai. Main aapki kya madad kar sakta hoon?',
    transfer: (t: string) => `Main aapko ${t} se connect kar raha hoon.`,
    back: (t: string) => `Main aapko front desk pe wapas bhej raha hoon, woh aapko ${t} se jod denge.`,
    intro: (me: string, said: string) => `Namaste, main ${me} se hoon. Samajh gaya: "${said}". Chaliye isko theek karte hain.`,
    greet: (company: string) => `${company} ko call karne ke liye dhanyavaad, yeh front desk hai. Main aapki kya madad kar sakta hoon?`,
    help: (me: string) => `Main ${me} se hoon, main isme aapki madad kar sakta hoon.`,
    bye: 'Call karne ke liye dhanyavaad. Bye!',
    connecting: 'Main aapko abhi ek colleague se connect kar raha hoon; please line pe bane rahiye.',
    notReached: 'Sorry, abhi kisi colleague se baat nahi ho paayi. Main aapke saath hoon.',
    noTransfer: (person: boolean) =>
      'Sorry, is call pe ab aapko kisi aur department se connect nahi kiya ja sakta' +
      (person ? ', par aap chahein toh main aapko ek colleague se connect kar sakta hoon.' : ', par main yahin aapki madad karunga.'),
    desk: (t: Topic) => `${t} team`,
  },
};
const linesFor = (req: ChatRequest) => LINES[replyLanguageOf(req)];

/** The departments a line asks for, in the order it names them. */
export function topicsIn(text: string): Topic[] {
  return TOPICS.map(([topic, re]) => [topic, re.exec(text)?.index ?? -1] as const)
    .filter(([, at]) => at >= 0)
    .sort((a, b) => a[1] - b[1])
    .map(([topic]) => topic);
}

/** What a caller line tells about the caller: "my name is Maya and my account is 4411". */
export function callerInfoIn(text: string): { name?: string; accountId?: string } {
  const name =
    /\b(?:my name is|mera naam)\s+([A-Za-z][A-Za-z'-]*)/i.exec(text)?.[1] ?? /मेरा नाम\s+([\u0900-\u097F]+)/.exec(text)?.[1];
  const accountId = /\baccount(?:\s+(?:number|no\.?|id|#))?(?:\s+is)?\s*[:#]?\s*([A-Za-z]{0,4}-?\d[\w-]*)/i
    .exec(text)?.[1]
    ?.replace(/-+$/, '');
  return { ...(name ? { name: capitalized(name) } : {}), ...(accountId ? { accountId } : {}) };
}

/**
 * Where a desk sends a caller whose topics are these: nowhere when its own business is among them
 * (the specialist handles its own topic first), else the first one named — straight there when this
 * desk has the tool, else back to the front desk with a reason naming the need.
 */
function routeFor(req: ChatRequest, topics: Topic[], words: string): ScriptedReply | undefined {
  const own = deskOf(req).toLowerCase();
  if ((topics as string[]).includes(own)) return undefined;
  const topic = topics[0];
  if (!topic) return undefined;
  if (offered(req, `pass_control_to_${topic}`)) {
    return { text: linesFor(req).transfer(linesFor(req).desk(topic)), toolCalls: [{ name: `pass_control_to_${topic}`, arguments: { reason: words } }] };
  }
  if (offered(req, 'pass_control_to_triage')) {
    return {
      text: linesFor(req).back(linesFor(req).desk(topic)),
      toolCalls: [{ name: 'pass_control_to_triage', arguments: { reason: `caller needs ${topic}: ${words}` } }],
    };
  }
  return undefined;
}

/**
 * The caller needs another department, and the desk was told none can be reached on this call any more:
 * it says so (offering a person when it can), instead of help it cannot give or a transfer it cannot make.
 */
const noMoreTransfers = (req: ChatRequest, topics: Topic[]) =>
  systemText(req).includes(NO_MORE_TRANSFERS) && topics.length > 0 && !(topics as string[]).includes(deskOf(req).toLowerCase());

/**
 * The first reply of a desk that has just taken the call over. With tools allowed, a reason (or,
 * failing that, a last caller line) naming another department's business is routed on at once, with
 * one bridging line: the caller never repeats themselves. Otherwise the desk introduces itself and
 * continues with what the caller said.
 */
function takeoverReply(req: ChatRequest): ScriptedReply {
  const sys = systemText(req);
  const me = introOf(req);
  const lastUser = lastCallerLine(req);
  if (req.tool_choice !== 'none') {
    const reason = /the reason given was: "([\s\S]*?)"[.;,]?(?:\s|$)/.exec(sys)?.[1] ?? '';
    const named = /\bcaller needs (billing|sales|support)\b:?\s*([\s\S]*)/i.exec(reason);
    let topics: Topic[] = named ? [named[1]!.toLowerCase() as Topic] : topicsIn(reason);
    // A key press is the caller's own choice of desk: it is not second-guessed from earlier words.
    if (!topics.length && !/^caller pressed\b/i.test(reason)) topics = topicsIn(callerWords(lastUser));
    const words = named?.[2]?.trim() || callerWords(lastUser) || reason;
    const route = routeFor(req, topics, words);
    if (route) return { ...route, text: `${linesFor(req).thisIs(me)} ${route.text}` };
    if (noMoreTransfers(req, topics)) return { text: `${linesFor(req).thisIs(me)} ${linesFor(req).noTransfer(offered(req, 'transfer_to_human'))}` };
  }
  return { text: linesFor(req).intro(me, lastUser) };
}

/**
 * A deterministic stand-in for a call-center model: routes on keywords (chaining on at once when it
 * takes over a call that belongs elsewhere), saves names and account ids, ends on goodbye, continues
 * (never re-greets) after a transfer, explains refusals.
 */
export const keywordBrain: Script = (req) => {
  const sys = systemText(req);
  const last = req.messages.at(-1);
  const lastText = textOf(last);

  if (last?.role === 'tool') {
    if (/call is ending/i.test(lastText)) return { text: linesFor(req).bye };
    if (/refused|error|invalid|cannot|under way|unknown/i.test(lastText) && !/saved/.test(lastText)) {
      // What is marked for the model alone ("(For you, not to be read out: …)") is not said to the caller.
      const said = lastText.replace(/^"|"$/g, '').replace(/\s*\(For you, not to be read out:[^)]*\)/g, '');
      // A refused transfer is told in the caller's terms: the reason, not the tool's "Transfer refused:".
      const refused = /^Transfer refused: ([\s\S]*)$/.exec(said)?.[1];
      if (refused) return { text: linesFor(req).refused(refused) };
      return { text: linesFor(req).cantDo(said) };
    }
    if (/saved/.test(lastText)) {
      const name = /"name":"([^"]+)"/.exec(lastText.replace(/\\"/g, '"'))?.[1];
      const thanks = linesFor(req).thanks(name);
      // The line that gave the details may also say what the caller needs: act on it now.
      const words = callerWords(lastCallerLine(req));
      const route = routeFor(req, topicsIn(words), words);
      if (route) return { ...route, text: `${thanks} ${route.text}` };
      return { text: `${thanks} ${linesFor(req).noted}` };
    }
    return { text: linesFor(req).done };
  }

  if (/The call has just connected/.test(sys)) {
    const company = /desk at (.+?)'s call center/.exec(sys)?.[1] ?? 'us';
    // A greeting in another language is asked for by name ("Greet them in Hindi").
    const greetIn = /Greet them in (Hindi|Hinglish)\./.exec(sys)?.[1]?.toLowerCase() as 'hindi' | 'hinglish' | undefined;
    const lines = greetIn ? LINES[greetIn === 'hindi' ? 'hi' : 'hinglish'] : linesFor(req);
    return { text: lines.greet(company) };
  }
  if (/did not go through/.test(sys)) {
    return { text: linesFor(req).notReached };
  }
  // The person hand-off's entry reply: its one-off instruction repeats the role in its prompt.
  const handOff = sys.match(/being connected to a person/g)?.length ?? 0;
  if (handOff > 0 && (req.tool_choice === 'none' || handOff > 1)) {
    return { text: linesFor(req).connecting };
  }
  if (isTakeover(req)) return takeoverReply(req);

  const user = lastText;
  if (/\b(bye|goodbye|that's all|that is all|nothing else|dhanyavaad|dhanyawad|shukriya|bas itna hi)\b|धन्यवाद|शुक्रिया|बस इतना ही/i.test(user) && offered(req, 'end_call')) {
    return { toolCalls: [{ name: 'end_call', arguments: { reason: 'caller is done' } }] };
  }
  // "What was my order number again?": answered from what this request carries of the call.
  const reminded = recall(req, user);
  if (reminded) return reminded;
  const info = callerInfoIn(user);
  if (Object.keys(info).length && offered(req, 'update_caller_info')) {
    return { toolCalls: [{ name: 'update_caller_info', arguments: info }] };
  }
  if (/\b(human|person|real agent|operator|someone real|insaan|kisi aadmi)\b|इंसान|व्यक्ति|किसी आदमी|असली/i.test(user)) {
    if (offered(req, 'transfer_to_human')) {
      return { text: linesFor(req).toColleague, toolCalls: [{ name: 'transfer_to_human', arguments: { reason: user } }] };
    }
    return { text: linesFor(req).noColleague };
  }
  const topics = topicsIn(user);
  const route = routeFor(req, topics, user);
  if (route) return route;
  if (noMoreTransfers(req, topics)) return { text: linesFor(req).noTransfer(offered(req, 'transfer_to_human')) };
  return { text: linesFor(req).help(introOf(req)) };
};

const isTransferTool = (name: string) => name === 'transfer_to_human' || name.startsWith('pass_control_to_');

/**
 * `script`, except that the desk answering one of these caller lines (exact text) with a transfer says
 * nothing before its tool call: a transfer with no spoken line. A desk taking the call over keeps its words.
 */
export function silentTransfers(script: Script, lines: string[]): Script {
  return async (req, rec) => {
    const reply = await script(req, rec);
    const last = req.messages.at(-1);
    const silentLine = last?.role === 'user' && lines.includes(textOf(last));
    if (!silentLine || isTakeover(req) || !reply.toolCalls?.some((c) => isTransferTool(c.name))) return reply;
    return { ...reply, text: '' };
  };
}

// `npm run scripted-llm`: serve the keyword script on 127.0.0.1 for a key-free `npm run chat`.
const isMain = process.argv[1] !== undefined && import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1]).href;
if (isMain) {
  const rawPort = process.env.PORT?.trim() || '8787';
  const port = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || port > 65535) {
    process.stderr.write(`scripted-llm: PORT is "${rawPort}": must be a whole number from 0 to 65535 (0: any free port).\n`);
    process.exit(2);
  }
  const host = process.env.HOST ?? '127.0.0.1';
  const fault = process.env.SCRIPTED_FAULT?.trim() || undefined;
  if (fault !== undefined && !(FAULTS as readonly string[]).includes(fault)) {
    process.stderr.write(`scripted-llm: SCRIPTED_FAULT is "${fault}": must be one of ${FAULTS.join(', ')}.\n`);
    process.exit(2);
  }
  const rawPrefill = process.env.PROMPT_MS_PER_1K_TOKENS?.trim();
  const promptMsPer1kTokens = rawPrefill ? Number(rawPrefill) : undefined;
  if (promptMsPer1kTokens !== undefined && !(/^\d+(\.\d+)?$/.test(rawPrefill!) && promptMsPer1kTokens <= 10_000)) {
    process.stderr.write(`scripted-llm: PROMPT_MS_PER_1K_TOKENS is "${rawPrefill}": must be a number of ms from 0 to 10000.\n`);
    process.exit(2);
  }
  const server = await startScriptedServer({ port, host, fault: fault as Fault | undefined, promptMsPer1kTokens }).catch((err: NodeJS.ErrnoException) => {
    const why = err.code === 'EADDRINUSE' ? `${host}:${port} is already in use (is another one running?)` : err.message;
    process.stderr.write(`scripted-llm: cannot listen: ${why}. Set PORT to use another port.\n`);
    process.exit(2);
  });
  process.stdout.write(
    `Scripted OpenAI-compatible server (keyword script, no real model${fault ? `, planted fault: ${fault}` : ''}) at ${server.url}\n` +
      `Try: OPENAI_BASE_URL=${server.url} npm run chat\n`,
  );
}
