/**
 * The scripted OpenAI-compatible server in its own process, so its CPU, memory and event loop do not
 * count as (or compete with) the worker's being measured. Options come as one JSON argument; the URL
 * goes out as one JSON line on stdout; the process exits when its stdin closes (the parent went away).
 *
 * Its request log, per call: the bench gives each call its own API key (`bench-call-7`), and a line
 * `requests bench-call-7` on stdin is answered with that call's chat requests (count, prompt and
 * completion size) as one JSON line — then forgotten, so the child's memory stays flat.
 *
 * `silentLines`: the desk answering one of these caller lines with a transfer says nothing before its
 * tool call (the reply's text is removed): a transfer with no spoken line.
 */
import { createInterface } from 'node:readline';
import { type ChatRequest, type ScriptedReply, keywordBrain, silentTransfers, startScriptedServer, textOf } from '../dev/scripted-llm.js';
import { CALLER_RATE } from '../src/voice/caller-audio.js';
import { loadScript } from '../src/voice/script.js';

export interface ChildServerOptions {
  /** Time to first token of every chat reply (ms). */
  ttftMs?: number;
  /** Delay between streamed chunks (12 characters each) of a reply (ms). */
  chunkDelayMs?: number;
  /** TTS: delay before the first audio byte, and audio length per character. */
  ttsTtfbMs?: number;
  ttsMsPerChar?: number;
  /** Caller lines whose transfer is made without a word (exact text). */
  silentLines?: string[];
  /** A voice script (`npm run voice`'s format) whose clips the speech-to-text hears. */
  voiceScript?: string;
}

/** One call's chat requests as the server saw them. */
export interface CallRequests {
  requests: number;
  /** Characters of the request bodies' messages (≈ 4 characters a token). */
  promptChars: number;
  /** Characters of the replies (text and tool-call arguments). */
  completionChars: number;
  /** Usage tokens the server reported (prompt + completion, about 4 characters a token; see usageOf). */
  usageTokens: number;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as ChildServerOptions;
const perCall = new Map<string, CallRequests>();

const keyOf = (authorization: string | undefined) => (authorization ?? '').replace(/^Bearer\s+/i, '');

function count(key: string, req: ChatRequest, reply: ScriptedReply): void {
  const c = perCall.get(key) ?? { requests: 0, promptChars: 0, completionChars: 0, usageTokens: 0 };
  const text = reply.text ?? '';
  const args = (reply.toolCalls ?? []).map((t) => (typeof t.arguments === 'string' ? t.arguments : JSON.stringify(t.arguments)));
  c.requests++;
  c.promptChars += req.messages.map((m) => textOf(m).length + JSON.stringify(m.tool_calls ?? '').length).reduce((a, b) => a + b, 0);
  c.completionChars += text.length + args.join('').length;
  // As streamReply reports it: prompt 10, completion ceil(text / 4) + 1.
  c.usageTokens += 10 + Math.ceil(text.length / 4) + 1;
  perCall.set(key, c);
}

const brain = silentTransfers(keywordBrain, opts.silentLines ?? []);
const server = await startScriptedServer({
  script: async (req, rec): Promise<ScriptedReply> => {
    const key = keyOf(rec.authorization);
    const reply = await brain(req, rec);
    count(key, req, reply);
    return { ...reply, ttftMs: opts.ttftMs ?? 0, chunkDelayMs: opts.chunkDelayMs ?? 0 };
  },
  ttsTtfbMs: opts.ttsTtfbMs ?? 0,
  ttsMsPerChar: opts.ttsMsPerChar ?? 10,
  clips: opts.voiceScript
    ? loadScript(opts.voiceScript).lines.map((l) => ({ words: l.words, samples: l.samples, sampleRate: CALLER_RATE }))
    : undefined,
});
// The raw request log is not read here (the per-call counts are): keep the child's memory flat.
setInterval(() => (server.requests.length = 0), 5000).unref();
process.stdout.write(`${JSON.stringify({ url: server.url, pid: process.pid })}\n`);
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, id] = line.trim().split(/\s+/);
  if (cmd !== 'requests' || !id) return;
  const c = perCall.get(id) ?? { requests: 0, promptChars: 0, completionChars: 0, usageTokens: 0 };
  perCall.delete(id);
  process.stdout.write(`${JSON.stringify(c)}\n`);
});
rl.on('close', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
