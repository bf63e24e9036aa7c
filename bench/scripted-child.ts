/**
 * The scripted OpenAI-compatible server in its own process, so its CPU, memory and event loop do not
 * count as (or compete with) the worker's being measured. Options come as one JSON argument; the URL
 * goes out as one JSON line on stdout; the process exits when its stdin closes (the parent went away).
 */
import { type ScriptedReply, keywordBrain, startScriptedServer } from '../dev/scripted-llm.js';

export interface ChildServerOptions {
  /** Time to first token of every chat reply (ms). */
  ttftMs?: number;
  /** Delay between streamed chunks (12 characters each) of a reply (ms). */
  chunkDelayMs?: number;
  /** TTS: delay before the first audio byte, and audio length per character. */
  ttsTtfbMs?: number;
  ttsMsPerChar?: number;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as ChildServerOptions;
const server = await startScriptedServer({
  script: async (req, rec): Promise<ScriptedReply> => ({
    ...(await keywordBrain(req, rec)),
    ttftMs: opts.ttftMs ?? 0,
    chunkDelayMs: opts.chunkDelayMs ?? 0,
  }),
  ttsTtfbMs: opts.ttsTtfbMs ?? 0,
  ttsMsPerChar: opts.ttsMsPerChar ?? 10,
});
// Nothing reads the recorded requests here: keep the child's memory flat over a long run.
setInterval(() => (server.requests.length = 0), 5000).unref();
process.stdout.write(`${JSON.stringify({ url: server.url, pid: process.pid })}\n`);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
