/**
 * `npm run chat`: a call in the terminal, no LiveKit server, no audio — the same machine, agents,
 * tools and LLM settings as the worker. Each stdin line is what the caller says.
 *
 *   npm run chat                 readable transcript with the transfers
 *   npm run chat -- --json       one JSON object per stdout line (logs go to stderr)
 */
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { loadSettings, settingsOrExit } from '../config.js';
import { initLogging } from '../logging.js';
import { buildLLM, llmConnOptions } from '../models.js';
import { attachInspector } from '../inspector/client.js';
import { inspectorOptionsFrom, startInspectorServer } from '../inspector/server.js';
import type { CallEvent } from '../call/events.js';
import { Call } from '../call/call.js';
import { type Records, openRecords } from '../records/index.js';

const USAGE = `usage: npm run chat [-- --json] [--inspect]

A text call with Switchboard: type what the caller says, one line per turn.
End of input (Ctrl-D) ends the call after the last turn.

  --json    one JSON object per line on stdout:
            {"type":"user"|"agent"|"handoff"|"rejected"|"error"|"end", ...}
  --inspect serve the live inspector page for this call and print its address
            (JSON mode: {"type":"inspector","url":...} before the first turn)
  --help    this text

Settings come from the environment or .env (see README): OPENAI_API_KEY and/or OPENAI_BASE_URL,
LLM_MODEL, MAX_HANDOFFS, HUMAN_TRANSFER_TO, ...`;

function parseArgs(argv: string[]) {
  const opts = { json: false, inspect: false };
  for (const a of argv) {
    if (a === '--json') opts.json = true;
    else if (a === '--inspect') opts.inspect = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else {
      process.stderr.write(`chat: unknown option ${a}\n${USAGE}\n`);
      process.exit(2);
    }
  }
  return opts;
}

/** The JSON contract: a stable subset of each call event, plus extra fields. */
function toJson(e: CallEvent): Record<string, unknown> | null {
  switch (e.type) {
    case 'user':
      return { type: 'user', text: e.text };
    case 'agent':
      return { type: 'agent', agent: e.agent, text: e.text, interrupted: e.interrupted || undefined };
    case 'handoff':
      return {
        type: 'handoff',
        from: e.from,
        to: e.to,
        handoffCount: e.handoffCount,
        reason: e.reason,
        escalated: e.escalated || undefined,
        latencyMs: e.latencyMs,
      };
    case 'rejected':
      return { type: 'rejected', from: e.from, to: e.to, reason: e.reason };
    case 'error':
      return { type: 'error', message: e.message };
    case 'end':
      return { type: 'end', state: e.state, handoffCount: e.handoffCount, reason: e.reason };
    default:
      return null;
  }
}

function toText(e: CallEvent): string | null {
  switch (e.type) {
    case 'agent':
      return `${e.agent.padStart(7)} │ ${e.text}${e.interrupted ? ' …(interrupted)' : ''}`;
    case 'user':
      return `${'caller'.padStart(7)} │ ${e.text}`;
    case 'handoff':
      return `        ↪ ${e.escalated ? 'escalated' : 'transferred'} ${e.from} → ${e.to} (${e.handoffCount}) — ${e.reason}${e.latencyMs !== null ? ` [${e.latencyMs} ms]` : ''}`;
    case 'rejected':
      return `        ✗ transfer ${e.from} → ${e.to} refused: ${e.reason}`;
    case 'error':
      return `        ! ${e.message}`;
    case 'end':
      return `        ■ call over in ${e.state} after ${e.handoffCount} transfer(s)${e.reason ? ` (${e.reason})` : ''}`;
    default:
      return null;
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const settings = settingsOrExit('chat', () => loadSettings());
  // stdout carries the transcript (or JSON lines); the framework's log goes to stderr.
  initLogging({ level: settings.LOG_LEVEL ?? 'warn', toStderr: true });

  const out = (line: string) => process.stdout.write(`${line}\n`);
  const call = new Call({
    callId: `chat-${randomUUID().slice(0, 8)}`,
    llm: buildLLM(settings),
    company: settings.COMPANY_NAME,
    maxHandoffs: settings.MAX_HANDOFFS,
    humanAvailable: Boolean(settings.HUMAN_TRANSFER_TO),
    sessionOptions: {
      vad: null,
      turnHandling: { turnDetection: 'manual' },
      userAwayTimeout: null,
      connOptions: llmConnOptions(settings),
    },
  });
  call.on('event', (e) => {
    const line = args.json ? (toJson(e) && JSON.stringify(toJson(e))) : toText(e);
    if (line) out(line);
  });

  // Call records (CALLS_DB / DATABASE_URL) and webhooks: silent on stdout, problems on stderr.
  const recordsProblem = (m: string) => process.stderr.write(`chat: ${m}\n`);
  let records: Records | null = null;
  try {
    records = await openRecords(settings, { onError: recordsProblem });
  } catch (err) {
    recordsProblem(`this call is not recorded: ${(err as Error).message}`);
  }
  const recorder = records?.attach(call, 'chat');

  let inspector: Awaited<ReturnType<typeof startInspectorServer>> | undefined;
  if (args.inspect) {
    inspector = await startInspectorServer({ ...inspectorOptionsFrom(settings, { freePort: true }), records: records?.inspector });
    attachInspector(call, { url: new URL(inspector.url).origin, token: settings.INSPECTOR_TOKEN, worker: 'chat' });
    out(args.json ? JSON.stringify({ type: 'inspector', url: inspector.url }) : `Inspector: ${inspector.url}`);
  }

  await call.start();
  await call.greeted;

  const rl = createInterface({ input: process.stdin, terminal: false });
  for await (const raw of rl) {
    const line = raw.trim();
    if (!line) continue;
    if (call.machineState === 'ended') break;
    try {
      await call.session.run({ userInput: line }).wait();
    } catch (err) {
      call.reportError(`turn failed: ${(err as Error).message}`);
    }
    if ((call.machineState as string) === 'ended') break;
  }
  rl.close();
  await call.close('end of input');
  await recorder?.done;
  // Let the page receive the end of the call before the server goes away.
  if (inspector) {
    await new Promise((r) => setTimeout(r, 300));
    await inspector.close();
  }
  // Webhooks get a moment to go out; whatever is left is sent by the next process that opens the records.
  await records?.close({ drainMs: 2000 });
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    process.stderr.write(`chat: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
