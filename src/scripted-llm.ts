/**
 * A scripted OpenAI-compatible server on 127.0.0.1: the tests, the demo and the benchmarks talk to it
 * through the real `@livekit/agents-plugin-openai`, over real HTTP and Server-Sent Events.
 *
 * It checks requests as OpenAI does where it matters to us — an assistant `tool_calls` message must be
 * followed by a tool message for every call id, and a tool message must answer a call — and answers
 * 400 with OpenAI's error shape otherwise. It can fail, stall, or cut a stream on demand.
 *
 * The default script, `keywordBrain`, plays a plausible call-center model from the request alone
 * (which desk is asking, what the caller said last), so a scripted call routes like a real one.
 */
import { once } from 'node:events';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ChatMessageIn {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content?: string | null | { type: string; text?: string }[];
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessageIn[];
  tools?: { type: 'function'; function: { name: string; description?: string; parameters?: unknown } }[];
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
}

export type Script = (req: ChatRequest, recorded: RecordedRequest) => ScriptedReply | Promise<ScriptedReply>;

export interface ScriptedServer {
  /** Base URL for `OPENAI_BASE_URL`, e.g. http://127.0.0.1:43123/v1 */
  url: string;
  requests: RecordedRequest[];
  /** Chat requests only. */
  chatRequests(): RecordedRequest[];
  setScript(script: Script): void;
  /** Closes every open connection (keep-alive ones included); the server keeps listening. */
  dropConnections(): void;
  close(): Promise<void>;
}

export interface ScriptedServerOptions {
  script?: Script;
  host?: string;
  port?: number;
  /** TTS: delay before the first audio byte, and audio length per character of text. */
  ttsTtfbMs?: number;
  ttsMsPerChar?: number;
  /** STT: what every transcription returns. */
  transcript?: string;
}

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

async function readBody(req: IncomingMessage, limit = 20 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new Error('body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

function openAIError(res: ServerResponse, status: number, message: string, type = 'invalid_request_error') {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message, type, param: null, code: null } }));
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
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [], usage: { prompt_tokens: 10, completion_tokens: Math.ceil(text.length / 4) + 1, total_tokens: 11 + Math.ceil(text.length / 4), prompt_tokens_details: { cached_tokens: 0 } } })}\n\n`,
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

export async function startScriptedServer(opts: ScriptedServerOptions = {}): Promise<ScriptedServer> {
  let script: Script = opts.script ?? keywordBrain;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();

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
      const reply = await script(body, rec);
      if (reply.hang) return; // the client's timeout ends it
      if (reply.fail) {
        await sleep(reply.ttftMs ?? 0);
        return openAIError(res, reply.fail.status, reply.fail.message ?? 'scripted failure', 'server_error');
      }
      return streamReply(res, body, reply);
    }
    if (req.method === 'POST' && path === '/audio/speech') {
      const body = JSON.parse(await readBody(req)) as { input?: string };
      await sleep(opts.ttsTtfbMs ?? 0);
      const ms = Math.min(8000, Math.max(100, (body.input ?? '').length * (opts.ttsMsPerChar ?? 10)));
      res.writeHead(200, { 'content-type': 'audio/pcm' });
      res.end(Buffer.alloc(Math.floor((24000 * ms) / 1000) * 2)); // s16le 24 kHz mono silence
      return;
    }
    if (req.method === 'POST' && path === '/audio/transcriptions') {
      await readBody(req);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ text: opts.transcript ?? '' }));
      return;
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
    chatRequests: () => requests.filter((r) => r.path === '/chat/completions'),
    setScript: (s) => (script = s),
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

const offered = (req: ChatRequest, name: string) =>
  req.tool_choice !== 'none' && (req.tools ?? []).some((t) => t.function.name === name);

const TOPICS: [string, RegExp][] = [
  ['billing', /\b(bill|billing|billed|charge[ds]?|refund|invoice|payment|paid|overcharged)\b/i],
  ['sales', /\b(buy|sales|upgrade|plan|plans|price|pricing|purchase|quote|subscribe)\b/i],
  ['support', /\b(support|broken|not working|doesn't work|error|crash|outage|fix|technical|internet)\b/i],
];

/**
 * A deterministic stand-in for a call-center model: routes on keywords, saves names, ends on goodbye,
 * continues (never re-greets) after a transfer, explains refusals.
 */
export const keywordBrain: Script = (req) => {
  const desk = deskOf(req);
  const sys = systemText(req);
  const last = req.messages.at(-1);
  const lastText = textOf(last);

  if (last?.role === 'tool') {
    if (/call is ending/i.test(lastText)) return { text: 'Thank you for calling. Goodbye!' };
    if (/refused|error|invalid|cannot|under way|unknown/i.test(lastText) && !/saved/.test(lastText)) {
      return { text: `I'm sorry, I can't do that: ${lastText.replace(/^"|"$/g, '')} What else can I help with?` };
    }
    if (/saved/.test(lastText)) {
      const name = /"name":"([^"]+)"/.exec(lastText.replace(/\\"/g, '"'))?.[1];
      return { text: `Thanks${name ? `, ${name}` : ''}, I've noted that. How can I help?` };
    }
    return { text: 'Done.' };
  }

  if (/The call has just connected/.test(sys)) {
    return { text: 'Thank you for calling Acme, this is the front desk. How can I help you today?' };
  }
  if (/did not go through/.test(sys)) {
    return { text: "I'm sorry, I couldn't reach a colleague just now. I'm still here with you." };
  }
  if (/being connected to a person/.test(sys) && req.tool_choice === 'none') {
    return { text: "I'm connecting you to a colleague now; please stay on the line." };
  }
  const takeover = /You have just taken over this call from ([\w -]+?);/.exec(sys);
  if (takeover) {
    const lastUser = textOf([...req.messages].reverse().find((m) => m.role === 'user'));
    return { text: `This is ${desk}. I understand: "${lastUser}". Let's sort that out.` };
  }

  const user = lastText;
  if (/\b(bye|goodbye|that's all|that is all|nothing else)\b/i.test(user) && offered(req, 'end_call')) {
    return { toolCalls: [{ name: 'end_call', arguments: { reason: 'caller is done' } }] };
  }
  const name = /\bmy name is ([A-Z][a-z]+)/i.exec(user)?.[1];
  if (name && offered(req, 'update_caller_info')) {
    return { toolCalls: [{ name: 'update_caller_info', arguments: { name } }] };
  }
  if (/\b(human|person|real agent|operator|someone real)\b/i.test(user)) {
    if (offered(req, 'transfer_to_human')) {
      return { text: 'Let me get you to a colleague.', toolCalls: [{ name: 'transfer_to_human', arguments: { reason: user } }] };
    }
    return { text: "I'm afraid no colleague is available on this line, but I can keep helping you." };
  }
  const topic = TOPICS.find(([, re]) => re.test(user))?.[0];
  const own = desk.toLowerCase();
  if (topic && topic !== own) {
    if (offered(req, `pass_control_to_${topic}`)) {
      return {
        text: `Let me transfer you to ${topic}.`,
        toolCalls: [{ name: `pass_control_to_${topic}`, arguments: { reason: user } }],
      };
    }
    if (offered(req, 'pass_control_to_triage')) {
      return {
        text: 'Let me send you back to the front desk.',
        toolCalls: [{ name: 'pass_control_to_triage', arguments: { reason: `caller needs ${topic}: ${user}` } }],
      };
    }
  }
  return { text: `${desk} here: I can help with that.` };
};

// `npm run scripted-llm`: serve the keyword script on 127.0.0.1 for a key-free `npm run chat`.
const isMain = process.argv[1] !== undefined && import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1]).href;
if (isMain) {
  const port = Number(process.env.PORT ?? 8787);
  const server = await startScriptedServer({ port, host: process.env.HOST ?? '127.0.0.1' });
  process.stdout.write(
    `Scripted OpenAI-compatible server (keyword script, no real model) at ${server.url}\n` +
      `Try: OPENAI_BASE_URL=${server.url} npm run chat\n`,
  );
}
