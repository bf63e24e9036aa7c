/**
 * `npm run demo`: watch the statechart move with no keys at all. Plays scripted calls — scripted caller
 * lines, answered by the scripted OpenAI-compatible server the tests use (`dev/scripted-llm.ts`) — through
 * the real call core, with the live inspector serving. With OPENAI_API_KEY or OPENAI_BASE_URL set (a key-less
 * OpenAI-compatible server is enough), that model answers instead.
 *
 *   npm run demo               a new call every few seconds until Ctrl-C (each live call is hung up, cleanly)
 *   npm run demo -- --once     one call, then exit (the page's server goes with it, as it says)
 *
 * With INSPECTOR_URL set (a running `npm run inspector`, a worker's), the calls report there and the
 * demo serves no page of its own.
 */
import { randomUUID } from 'node:crypto';
import { type Settings, exitOnConfigError, loadEnvFile, loadSettings } from '../config.js';
import { attachInspector } from '../inspector/client.js';
import { closeStatelyLink, reportToStately, sayOnStderr } from '../inspector/stately.js';
import { type InspectorServer, inspectorOptionsFrom, startInspectorServer } from '../inspector/server.js';
import type { Call } from '../call/call.js';
import type { Records } from '../records/index.js';
import { type ScriptedServer, startScriptedServer } from '../../dev/scripted-llm.js';
import { newTextCall, sayLine } from '../text-calls.js';
import { describeError, logToStderr, modelServer, onCtrlC, openRecordsOrSay } from './text-calls.js';

/** The callers' lines, one script per call in turn: English, then Hindi, then Hinglish. */
const SCRIPTS = [
  [
    'Hi, my name is Maya',
    'I was charged twice on my card this month',
    'Thanks. Actually I also want to upgrade my plan',
    'Yes, please upgrade my plan to the family plan',
    "Great, that's all, bye",
  ],
  ['नमस्ते, मेरा नाम अमित है', 'मेरा इंटरनेट दो दिन से नहीं चल रहा है', 'ठीक है, धन्यवाद, बस इतना ही'],
  ['Namaste, mera naam Priya hai', 'mera bill do baar kat gaya hai', 'aur mujhe naya plan bhi chahiye', 'bas itna hi, shukriya'],
];
const CALLERS = ['+919876543210', '+14155550123', '+447700900123'];

/** Ctrl-C: every live call is hung up (recorded `hangup`, not `interrupted`) and the demo stops. */
const stop = new AbortController();
const sleep = (ms: number) =>
  new Promise<void>((r) => {
    if (stop.signal.aborted) return r();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      stop.signal.removeEventListener('abort', done);
      r();
    }
    stop.signal.addEventListener('abort', done);
  });

/** The page of the inspector at `url` (an INSPECTOR_URL: http(s) or ws(s), maybe with a path), with its token. */
function pageOf(url: string, token?: string): string {
  const u = new URL(url);
  u.protocol = u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol;
  u.pathname = '/';
  u.search = token ? `?token=${encodeURIComponent(token)}` : '';
  return u.toString();
}

/** Is an inspector answering at `url`? (A demo reporting to INSPECTOR_URL says when nothing is there.) */
async function inspectorAnswers(url: string, token?: string): Promise<boolean> {
  try {
    const u = new URL('/api/machine', url.replace(/^ws/, 'http'));
    const res = await fetch(u, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** What the demo runs on: its settings, and the scripted model answering (unless a model is configured). */
interface Setup {
  settings: Settings;
  /** OPENAI_API_KEY or OPENAI_BASE_URL is set: that model answers the scripted caller. */
  realModel: boolean;
  /** The scripted OpenAI-compatible server, stopped at the end; undefined when the real model answers. */
  scripted: ScriptedServer | undefined;
}

/** The settings, with the scripted model started and put in for the real one when there is no key; the log on stderr. */
async function demoSettings(): Promise<Setup> {
  try {
    loadEnvFile();
  } catch (err) {
    exitOnConfigError(err, 'demo');
  }
  const realModel = Boolean(process.env.OPENAI_API_KEY?.trim() || process.env.OPENAI_BASE_URL?.trim());
  const scripted = realModel ? undefined : await startScriptedServer();
  let settings;
  try {
    settings = loadSettings({ ...process.env, ...(scripted ? { OPENAI_BASE_URL: scripted.url, LLM_MODEL: 'scripted' } : {}) });
  } catch (err) {
    exitOnConfigError(err, 'demo');
  }
  logToStderr(settings);
  return { settings, realModel, scripted };
}

/** Where the demo's calls are shown: the page of a running inspector (INSPECTOR_URL), or of the demo's own. */
interface Page {
  /** The demo's own inspector, closed at the end; null when the calls report to INSPECTOR_URL. */
  inspector: InspectorServer | null;
  /** Where each call reports (attachInspector's url). */
  ingest: string;
}

/** Starts the demo's own inspector (unless INSPECTOR_URL is set) and says where to look and who answers. */
async function openPage({ settings, realModel }: Setup, records: Records | null): Promise<Page> {
  const reportTo = settings.INSPECTOR_URL;
  const inspector = reportTo
    ? null
    : await startInspectorServer({ ...inspectorOptionsFrom(settings, { freePort: true }), records: records?.inspector }).catch((err: Error) => {
        process.stderr.write(`demo: ${err.message}\n`);
        process.exit(2);
      });
  const page = inspector ? inspector.url : pageOf(reportTo!, settings.INSPECTOR_TOKEN);
  process.stdout.write(
    `Switchboard demo — open ${page}\n` +
      (reportTo ? `(calls report to the inspector at INSPECTOR_URL; this demo serves no page of its own)\n` : '') +
      (realModel
        ? `Answers come from the model ${settings.LLM_MODEL} at ${modelServer(settings)}; the caller's lines are scripted.\n`
        : 'The answers are SCRIPTED (a keyword script standing in for a model, no keys needed); set OPENAI_API_KEY (or OPENAI_BASE_URL) to use a real model.\n'),
  );
  if (reportTo && !(await inspectorAnswers(reportTo, settings.INSPECTOR_TOKEN))) {
    process.stderr.write(
      `demo: no inspector answers at INSPECTOR_URL (${reportTo}); start one with \`npm run inspector\`, or unset INSPECTOR_URL ` +
        'for a page of the demo\'s own. The calls go on and reach it once it is up.\n',
    );
  }
  return { inspector, ingest: inspector ? new URL(inspector.url).origin : reportTo! };
}

/** What every demo call needs: settings, where it reports and is recorded, the pause between lines, the calls still live. */
interface Demo {
  settings: Settings;
  server: string;
  ingest: string;
  records: Records | null;
  pauseMs: number;
  live: Set<Call>;
}

/** Call number `id`: the scripted caller's lines, one every pause, until the script, the call or the demo ends. */
async function playCall(demo: Demo, id: number): Promise<void> {
  const { settings, server } = demo;
  const call = newTextCall(settings, {
    // Unique across runs: every run records into the same call records.
    callId: `demo-${id}-${randomUUID().slice(0, 8)}`,
    humanAvailable: false,
    caller: { phoneNumber: CALLERS[(id - 1) % CALLERS.length] },
  });
  demo.live.add(call);
  attachInspector(call, { url: demo.ingest, token: settings.INSPECTOR_TOKEN, worker: 'demo', redact: settings.REDACT_PII === 'on' });
  const recorder = demo.records?.attach(call, 'demo');
  call.on('event', (e) => {
    if (e.type === 'handoff') process.stdout.write(`  call ${id}: ${e.from} → ${e.to} (${e.reason})\n`);
    if (e.type === 'error') process.stderr.write(`demo: call ${id}: ${describeError(e.message, server)}\n`);
  });
  try {
    await call.start();
    await call.greeted;
    for (const line of SCRIPTS[(id - 1) % SCRIPTS.length]!) {
      await sleep(demo.pauseMs);
      if (stop.signal.aborted || call.machineState === 'ended') break;
      await sayLine(call, line, () => stop.signal.aborted);
    }
    await call.close(stop.signal.aborted ? 'hangup' : 'demo over');
    await recorder?.done;
  } finally {
    demo.live.delete(call);
  }
}

/** Ctrl-C: the demo stops, and every live call is hung up. */
function hangUpOnCtrlC(live: Set<Call>): void {
  process.on(
    'SIGINT',
    onCtrlC(() => {
      process.stdout.write(`\nStopping: hanging up ${live.size} live call(s)…\n`);
      stop.abort();
      for (const call of live) if (call.machineState !== 'ended') call.hangup();
    }),
  );
}

/**
 * The calls: one with --once, else a new one every few seconds until Ctrl-C (calls overlap).
 * Resolves once every call started is over, with how many were started.
 */
async function playCalls(demo: Demo, once: boolean, ownPage: boolean): Promise<number> {
  const calls = new Set<Promise<void>>();
  // Each call keeps its own number: calls overlap, and a later one must not relabel an earlier one's lines.
  let n = 0;
  const start = () => {
    const q = playCall(demo, ++n).catch((err: Error) => {
      process.stderr.write(`demo call failed: ${err.message}\n`);
    });
    calls.add(q);
    void q.finally(() => calls.delete(q));
  };
  if (once) {
    if (ownPage) {
      const about = Math.round((SCRIPTS[0]!.length * demo.pauseMs) / 1000) + 2;
      process.stdout.write(`One call (--once): the page's server stops when the call is over, in about ${about} s.\n`);
    }
    start();
  } else {
    process.stdout.write('A new call starts every few seconds; Ctrl-C hangs up the calls and stops.\n');
    while (!stop.signal.aborted) {
      start();
      await sleep(demo.pauseMs * 3);
    }
  }
  while (calls.size) await Promise.all([...calls]);
  return n;
}

async function main() {
  const once = process.argv.includes('--once');
  const pauseMs = Number(process.env.DEMO_PAUSE_MS ?? 2500);
  const setup = await demoSettings();
  const { settings } = setup;
  // Demo calls are recorded like any other (`npm run calls`, the inspector's past calls).
  const records = await openRecordsOrSay(settings, 'demo', 'calls are not recorded');
  const { inspector, ingest } = await openPage(setup, records);
  reportToStately(settings, sayOnStderr('demo'));

  const live = new Set<Call>();
  hangUpOnCtrlC(live);
  const n = await playCalls({ settings, server: modelServer(settings), ingest, records, pauseMs, live }, once, Boolean(inspector));
  if (stop.signal.aborted) process.stdout.write(`Stopped after ${n} call(s); every call is recorded as it ended (npm run calls).\n`);
  else if (inspector) process.stdout.write('The call is over; the inspector stops now (its page goes offline). `npm run demo` keeps it open.\n');
  // Let the page receive the end of the last call before its server goes away.
  await sleep(500);
  await inspector?.close();
  await records?.close({ drainMs: 2000 });
  await closeStatelyLink();
  await setup.scripted?.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`demo: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
