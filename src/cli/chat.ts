/**
 * `npm run chat`: a call in the terminal, no LiveKit server, no audio — the same machine, agents,
 * tools and LLM settings as the worker. Each stdin line is what the caller says.
 *
 *   npm run chat                 readable transcript with the transfers (a prompt when typing at a terminal)
 *   npm run -s chat -- --json    one JSON object per stdout line (logs go to stderr)
 *
 * End of input (Ctrl-D) ends the call where it is; Ctrl-C is the caller hanging up (the call ends,
 * recorded as `hangup`). Exit status: 0; 2 for a setting to fix; 1 when the model never answered in
 * the whole call (e.g. nothing listens at OPENAI_BASE_URL) — the one line on stderr names the URL.
 */
import { randomUUID } from 'node:crypto';
import { createInterface, clearLine, cursorTo } from 'node:readline';
import { loadSettings, settingsOrExit } from '../config.js';
import { harmlessInTextCalls, initLogging } from '../logging.js';
import { buildLLM, llmConnOptions } from '../models.js';
import { attachInspector } from '../inspector/client.js';
import { inspectorOptionsFrom, startInspectorServer } from '../inspector/server.js';
import type { CallEvent } from '../call/events.js';
import { Call } from '../call/call.js';
import { DEFAULT_APOLOGY } from '../call/options.js';
import { type Records, openRecords } from '../records/index.js';
import { connectHumanInText, describeError, modelServer } from './text-calls.js';

const USAGE = `usage: npm run chat [-- --json] [--inspect]

A text call with Switchboard: type what the caller says, one line per turn.
End of input (Ctrl-D) ends the call after the last turn; Ctrl-C hangs up.

  --json    one JSON object per line on stdout:
            {"type":"user"|"agent"|"handoff"|"rejected"|"error"|"end", ...}
            (npm run -s chat -- --json: without -s, npm prints its own banner on stdout first)
  --inspect serve the live inspector page for this call and print its address
            (JSON mode: {"type":"inspector","url":...} before the first turn)
  --help    this text

Settings come from the environment or .env (see README): OPENAI_API_KEY and/or OPENAI_BASE_URL,
LLM_MODEL, MAX_HANDOFFS, HUMAN_TRANSFER_TO, INSPECTOR_URL, ...
No key? npm run scripted-llm, then OPENAI_BASE_URL=http://127.0.0.1:8787/v1 npm run chat`;

/** Said after the settings problems when there is no model to talk to. */
const NO_MODEL_HINT = `No key? Try a call against the scripted model (a keyword script: no key, no network):
  npm run scripted-llm                                   # in one terminal; prints its URL
  OPENAI_BASE_URL=http://127.0.0.1:8787/v1 npm run chat  # in another
(npm run demo plays scripted calls with the live inspector, no settings at all.)`;

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
function toJson(e: CallEvent, server: string): Record<string, unknown> | null {
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
      return { type: 'error', message: describeError(e.message, server) };
    case 'end':
      return { type: 'end', state: e.state, handoffCount: e.handoffCount, reason: e.reason };
    default:
      return null;
  }
}

function toText(e: CallEvent, server: string): string | null {
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
      return `        ! ${describeError(e.message, server)}`;
    case 'end':
      return e.reason === 'hangup'
        ? `        ■ the caller hung up, after ${e.handoffCount} transfer(s)`
        : `        ■ call over in ${e.state} after ${e.handoffCount} transfer(s)${e.reason ? ` (${e.reason})` : ''}`;
    default:
      return null;
  }
}

/** Resolves once the call has left `human` and the department it returned to has spoken (at most 10 s). */
function backFromPerson(call: Call): Promise<void> {
  return new Promise((done) => {
    let returned = false;
    const finish = () => {
      clearTimeout(timer);
      call.off('event', onEvent);
      done();
    };
    const onEvent = (e: CallEvent) => {
      if (e.type === 'handoff' && e.from === 'human') returned = true;
      else if ((returned && e.type === 'agent') || e.type === 'end') finish();
    };
    const timer = setTimeout(finish, 10_000);
    call.on('event', onEvent);
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const settings = settingsOrExit('chat', () => loadSettings(), (problems) =>
    problems.some((p) => p.startsWith('OPENAI_API_KEY')) ? NO_MODEL_HINT : undefined,
  );
  // stdout carries the transcript (or JSON lines); the framework's log goes to stderr, without the
  // lines a text call always causes or reports itself (see harmlessInTextCalls).
  initLogging({ level: settings.LOG_LEVEL ?? 'warn', toStderr: true, drop: harmlessInTextCalls });
  const server = modelServer(settings);

  // Typing at a terminal: a prompt, the typed line stands as the caller's line (no second copy).
  const interactive = !args.json && Boolean(process.stdin.isTTY) && Boolean(process.stdout.isTTY);
  const prompt = `${'caller'.padStart(7)} │ `;
  const rl = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive, prompt });
  // Read from now on (lines piped in arrive at once): the iterator keeps them until each turn takes one.
  const lines = rl[Symbol.asyncIterator]();
  let prompting = false;
  const out = (line: string) => {
    if (!prompting) {
      process.stdout.write(`${line}\n`);
      return;
    }
    // Something arrived while the prompt waits: print it above the prompt.
    clearLine(process.stdout, 0);
    cursorTo(process.stdout, 0);
    process.stdout.write(`${line}\n`);
    rl.prompt(true);
  };

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
    // No line to pass the caller on: the hand-off to a person fails, the caller returns (see text-calls.ts).
    connectHuman: connectHumanInText,
  });

  // Did the model ever answer? A call in which every LLM request failed ends with exit status 1.
  let modelAnswered = false;
  let lastModelFailure: string | null = null;
  call.on('event', (e) => {
    if (e.type === 'agent' && e.text !== DEFAULT_APOLOGY) modelAnswered = true;
    if (e.type === 'handoff') modelAnswered = true;
    if (e.type === 'error' && e.message.startsWith('llm_error')) lastModelFailure = describeError(e.message, server);
    if (interactive && e.type === 'user') return; // the typed line is already on the screen
    const json = args.json ? toJson(e, server) : null;
    const line = args.json ? json && JSON.stringify(json) : toText(e, server);
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
  // A running inspector (`npm run inspector`, a worker's) sees this call too.
  if (settings.INSPECTOR_URL) attachInspector(call, { url: settings.INSPECTOR_URL, token: settings.INSPECTOR_TOKEN, worker: 'chat' });

  // Ctrl-C: the caller hangs up. The call ends the way a phone call does (recorded `hangup`), not
  // killed mid-way (which the records would mark `interrupted`). A second Ctrl-C a moment later quits.
  let hungUp = 0;
  const hangUp = () => {
    if (hungUp && Date.now() - hungUp > 1000) process.exit(130);
    if (hungUp) return; // the same Ctrl-C, relayed by npm / tsx
    hungUp = Date.now();
    if (prompting) process.stdout.write('\n');
    prompting = false;
    if (call.machineState !== 'ended') call.hangup();
    rl.close();
  };
  rl.on('SIGINT', hangUp);
  process.on('SIGINT', hangUp);

  if (interactive) out('Type what the caller says and press Enter. Ctrl-D ends the call; Ctrl-C hangs up.');
  await call.start();
  await call.greeted;

  while (!hungUp && call.machineState !== 'ended') {
    if (interactive) {
      prompting = true;
      rl.prompt();
    }
    const next = await lines.next();
    prompting = false;
    if (next.done || hungUp) break;
    const line = next.value.trim();
    if (!line) continue;
    if ((call.machineState as string) === 'ended') break; // ended while the line was being typed
    try {
      await call.session.run({ userInput: line }).wait();
    } catch (err) {
      if (!hungUp) call.reportError(`turn failed: ${(err as Error).message}`);
    }
    // Handed to a person: that fails in a text call, and the department the caller returns to says
    // so; the next line waits for that, so it reads in the order it happened.
    if (call.machineState === 'human') await backFromPerson(call);
  }
  rl.close();
  await call.close(hungUp ? 'hangup' : 'end of input');
  await recorder?.done;
  // Let the page receive the end of the call before the server goes away.
  if (inspector) {
    await new Promise((r) => setTimeout(r, 300));
    await inspector.close();
  }
  // Webhooks get a moment to go out; whatever is left is sent by the next process that opens the records.
  await records?.close({ drainMs: 2000 });
  if (!modelAnswered && lastModelFailure) {
    process.stderr.write(
      `chat: the model never answered in this call: ${lastModelFailure}. ` +
        (settings.OPENAI_BASE_URL
          ? 'Is that server running? Check OPENAI_BASE_URL (npm run scripted-llm serves one without a key).\n'
          : 'Check OPENAI_API_KEY (or set OPENAI_BASE_URL to another server).\n'),
    );
    process.exitCode = 1;
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    process.stderr.write(`chat: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
