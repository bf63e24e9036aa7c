/**
 * `npm run chat`: a call in the terminal, no LiveKit server, no audio — the same machine, agents,
 * tools and LLM settings as the worker. Each stdin line is what the caller says.
 *
 *   npm run chat                 readable transcript with the transfers (a prompt when typing at a terminal)
 *   npm run -s chat -- --json    one JSON object per stdout line (logs go to stderr)
 *
 * End of input (Ctrl-D) ends the call where it is; Ctrl-C is the caller hanging up (the call ends,
 * recorded as `hangup`). Exit status: 0; 2 for a setting to fix (a refused key included); 1 when the
 * model never answered in the whole call (e.g. nothing listens at OPENAI_BASE_URL) — the one line on
 * stderr names the URL.
 */
import { randomUUID } from 'node:crypto';
import { type Interface, createInterface, clearLine, cursorTo } from 'node:readline';
import { type Settings, loadSettings, settingsOrExit } from '../config.js';
import { llmConnOptions } from '../models.js';
import { attachInspector } from '../inspector/client.js';
import { closeStatelyLink, reportToStately, sayOnStderr } from '../inspector/stately.js';
import { type InspectorServer as Inspector, inspectorOptionsFrom, startInspectorServer } from '../inspector/server.js';
import type { CallEvent } from '../call/events.js';
import type { Call } from '../call/call.js';
import { DEFAULT_APOLOGY, DEFAULT_GREETING_APOLOGY } from '../call/options.js';
import type { Records } from '../records/index.js';
import type { Recorder } from '../records/recorder.js';
import { newTextCall, sayLine } from '../text-calls.js';
import { describeError, logToStderr, modelServer, onCtrlC, openRecordsOrSay } from './text-calls.js';
import { toJson, toText } from './call-lines.js';

const USAGE = `usage: npm run chat [-- --json] [--inspect]

A text call with Switchboard: type what the caller says, one line per turn.
End of input (Ctrl-D) ends the call after the last turn; Ctrl-C hangs up.

  --json    one JSON object per line on stdout:
            {"type":"user"|"agent"|"handoff"|"rejected"|"error"|"end", ...}
            (npm run -s chat -- --json: without -s, npm prints its own banner on stdout first)
  --inspect serve the live inspector page for this call and print its address
            (JSON mode: {"type":"inspector","url":...} before the first turn)
  --help    this text

Settings come from the environment or .env (see docs/settings.md): OPENAI_API_KEY and/or OPENAI_BASE_URL,
LLM_MODEL, MAX_HANDOFFS, HUMAN_TRANSFER_TO, INSPECTOR_URL, ...
No key? npm run scripted-llm, then OPENAI_BASE_URL=http://127.0.0.1:8787/v1 npm run chat`;

/** Said after the settings problems when there is no model to talk to. */
const NO_MODEL_HINT = `No key? Try a call against the scripted model (a keyword script: no key, no network):
  npm run scripted-llm                                   # in one terminal; prints its URL
  OPENAI_BASE_URL=http://127.0.0.1:8787/v1 npm run chat  # in another
(npm run demo plays scripted calls with the live inspector, no settings at all.)`;

interface Args {
  json: boolean;
  inspect: boolean;
}

function parseArgs(argv: string[]): Args {
  const opts: Args = { json: false, inspect: false };
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

/** The chat's settings (exit 2 with the key-free way in when there is no model to talk to), and its log on stderr. */
function chatSettings(): Settings {
  const settings = settingsOrExit('chat', () => loadSettings(), (problems) =>
    problems.some((p) => p.startsWith('OPENAI_API_KEY')) ? NO_MODEL_HINT : undefined,
  );
  logToStderr(settings);
  return settings;
}

/** The caller's side: stdin, one line per turn, and stdout, which carries the transcript (or JSON lines). */
class Terminal {
  /** Typing at a terminal: a prompt, the typed line stands as the caller's line (no second copy). */
  readonly interactive: boolean;
  readonly rl: Interface;
  /** Read from now on (lines piped in arrive at once): the iterator keeps them until each turn takes one. */
  private readonly lines: AsyncIterator<string>;
  private prompting = false;

  constructor(json: boolean) {
    this.interactive = !json && Boolean(process.stdin.isTTY) && Boolean(process.stdout.isTTY);
    const prompt = `${'caller'.padStart(7)} │ `;
    this.rl = createInterface({ input: process.stdin, output: this.interactive ? process.stdout : undefined, terminal: this.interactive, prompt });
    this.lines = this.rl[Symbol.asyncIterator]();
  }

  out(line: string): void {
    if (!this.prompting) {
      process.stdout.write(`${line}\n`);
      return;
    }
    // Something arrived while the prompt waits: print it above the prompt.
    clearLine(process.stdout, 0);
    cursorTo(process.stdout, 0);
    process.stdout.write(`${line}\n`);
    this.rl.prompt(true);
  }

  /** The caller's next line (after a prompt at a terminal); null at the end of input. */
  async ask(): Promise<string | null> {
    if (this.interactive) {
      this.prompting = true;
      this.rl.prompt();
    }
    const next = await this.lines.next();
    // Ctrl-D at the prompt: what follows starts on a line of its own.
    if (next.done && this.prompting) process.stdout.write('\n');
    this.prompting = false;
    return next.done ? null : next.value;
  }

  /** Ctrl-C while the prompt waits: end the prompt's line, print nothing above it any more. */
  leavePrompt(): void {
    if (this.prompting) process.stdout.write('\n');
    this.prompting = false;
  }

  close(): void {
    this.rl.close();
  }
}

/** Did the model ever answer? A call in which every LLM request failed ends with exit status 1. */
function watchModel(call: Call, server: string): { answered: boolean; lastFailure: string | null } {
  const model = { answered: false, lastFailure: null as string | null };
  call.on('event', (e) => {
    if (e.type === 'agent' && e.text !== DEFAULT_APOLOGY && e.text !== DEFAULT_GREETING_APOLOGY) model.answered = true;
    if (e.type === 'handoff') model.answered = true;
    if (e.type === 'error' && e.message.startsWith('llm_error')) model.lastFailure = describeError(e.message, server);
  });
  return model;
}

/** How long the model may keep the caller waiting before chat says it is waiting for it. */
const SLOW_MODEL_MS = 2500;

/**
 * A slow or silent model: when the greeting or a reply has not come after SLOW_MODEL_MS, one line on
 * stderr says chat is waiting for the model, naming where (stdout, the call's own output, is unchanged).
 */
function noticeSlowModel(call: Call, server: string): void {
  let timer: NodeJS.Timeout | undefined;
  const wait = () => {
    clearTimeout(timer);
    timer = setTimeout(() => process.stderr.write(`chat: waiting for the model at ${server}…\n`), SLOW_MODEL_MS);
    timer.unref();
  };
  wait(); // the greeting
  call.on('event', (e) => {
    if (e.type === 'user') wait();
    else if (e.type === 'agent' || e.type === 'error' || e.type === 'handoff' || e.type === 'end') clearTimeout(timer);
  });
}

/** Each call event on stdout: a transcript line, or a JSON object with --json. */
function showEvents(call: Call, term: Terminal, json: boolean, server: string): void {
  call.on('event', (e) => {
    if (term.interactive && e.type === 'user') return; // the typed line is already on the screen
    const object = json ? toJson(e, server) : null;
    const line = json ? object && JSON.stringify(object) : toText(e, server);
    if (line) term.out(line);
  });
}

/**
 * --inspect: a live inspector page for this call, its address printed (returned, to be closed at the
 * end). A running inspector (`npm run inspector`, a worker's, at INSPECTOR_URL) sees this call too.
 */
async function showInspector(
  call: Call,
  settings: Settings,
  records: Records | null,
  args: Args,
  term: Terminal,
): Promise<Inspector | undefined> {
  let inspector: Inspector | undefined;
  if (args.inspect) {
    inspector = await startInspectorServer({ ...inspectorOptionsFrom(settings, { freePort: true }), records: records?.inspector });
    attachInspector(call, { url: new URL(inspector.url).origin, token: settings.INSPECTOR_TOKEN, worker: 'chat', redact: settings.REDACT_PII === 'on' });
    term.out(args.json ? JSON.stringify({ type: 'inspector', url: inspector.url }) : `Inspector: ${inspector.url}`);
  }
  if (settings.INSPECTOR_URL) {
    const url = settings.INSPECTOR_URL;
    attachInspector(call, {
      url,
      token: settings.INSPECTOR_TOKEN,
      worker: 'chat',
      redact: settings.REDACT_PII === 'on',
      // Said once: the call goes on without it, and the link keeps trying.
      onUnreachable: (why) => process.stderr.write(`chat: cannot reach the inspector at ${url} (${why}): check INSPECTOR_URL; the call goes on\n`),
    });
  }
  return inspector;
}

/**
 * Ctrl-C: the caller hangs up. The call ends the way a phone call does (recorded `hangup`), not
 * killed mid-way (which the records would mark `interrupted`). A second Ctrl-C a moment later quits.
 * Returns whether the caller has hung up.
 */
function hangUpOnCtrlC(call: Call, term: Terminal): () => boolean {
  let hungUp = false;
  const hangUp = onCtrlC(() => {
    hungUp = true;
    term.leavePrompt();
    if (call.machineState !== 'ended') call.hangup();
    term.close();
  });
  term.rl.on('SIGINT', hangUp);
  process.on('SIGINT', hangUp);
  return () => hungUp;
}

/** The turns: each line the caller types (or pipes in) until the end of input, a hang-up or the call's end. */
async function talk(call: Call, term: Terminal, hungUp: () => boolean): Promise<void> {
  while (!hungUp() && call.machineState !== 'ended') {
    const typed = await term.ask();
    if (typed === null || hungUp()) break;
    const line = typed.trim();
    if (!line) continue;
    if ((call.machineState as string) === 'ended') break; // ended while the line was being typed
    await sayLine(call, line, hungUp);
    // Handed to a person: that fails in a text call, and the department the caller returns to says
    // so; the next line waits for that, so it reads in the order it happened.
    if (call.machineState === 'human') await backFromPerson(call);
  }
}

/** The end of the chat: the call closed and recorded, the page told, the records (and webhooks) given their moment. */
async function endChat(
  call: Call,
  reason: string,
  recorder: Recorder | undefined,
  inspector: Inspector | undefined,
  records: Records | null,
): Promise<void> {
  await call.close(reason);
  await recorder?.done;
  // Let the page receive the end of the call before the server goes away.
  if (inspector) {
    await new Promise((r) => setTimeout(r, 300));
    await inspector.close();
  }
  // Webhooks get a moment to go out; whatever is left is sent by the next process that opens the records.
  await records?.close({ drainMs: 2000 });
  // Stately's inspector (XSTATE_INSPECT=ws) gets the end of the call.
  await closeStatelyLink();
}

/** A call in which the model never answered: one line on stderr naming where it was asked, and exit status 1. */
function modelNeverAnswered(settings: Settings, failure: string): void {
  // A refused key is a setting to fix (exit 2), not a server to start.
  const keyRefused = /refused the key/.test(failure);
  process.stderr.write(
    `chat: the model never answered in this call: ${failure.replace(/[.!?…\s]+$/, '')}. ` +
      (keyRefused
        ? 'Check OPENAI_API_KEY.\n'
        : settings.OPENAI_BASE_URL
          ? 'Is that server running? Check OPENAI_BASE_URL (npm run scripted-llm serves one without a key).\n'
          : 'Check OPENAI_API_KEY (or set OPENAI_BASE_URL to another server).\n'),
  );
  process.exitCode = keyRefused ? 2 : 1;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const settings = chatSettings();
  reportToStately(settings, sayOnStderr('chat'));
  const server = modelServer(settings);
  const term = new Terminal(args.json);
  const call = newTextCall(settings, {
    callId: `chat-${randomUUID().slice(0, 8)}`,
    humanAvailable: Boolean(settings.HUMAN_TRANSFER_TO),
    sessionOptions: { connOptions: llmConnOptions(settings) },
  });
  const model = watchModel(call, server);
  noticeSlowModel(call, server);
  showEvents(call, term, args.json, server);
  const records = await openRecordsOrSay(settings, 'chat', 'this call is not recorded');
  const recorder = records?.attach(call, 'chat');
  const inspector = await showInspector(call, settings, records, args, term);
  const hungUp = hangUpOnCtrlC(call, term);

  if (term.interactive) term.out('Type what the caller says and press Enter. Ctrl-D ends the call; Ctrl-C hangs up.');
  await call.start();
  await call.greeted;
  await talk(call, term, hungUp);
  term.close();
  await endChat(call, hungUp() ? 'hangup' : 'end of input', recorder, inspector, records);
  if (!model.answered && model.lastFailure) modelNeverAnswered(settings, model.lastFailure);
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    process.stderr.write(`chat: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
