/**
 * `npm run demo`: watch the statechart move with no keys at all. Plays scripted calls — scripted caller
 * lines, answered by the scripted OpenAI-compatible server the tests use (`dev/scripted-llm.ts`) — through
 * the real call core, with the live inspector serving. With OPENAI_API_KEY set, the real model answers instead.
 *
 *   npm run demo               a new call every few seconds until Ctrl-C
 *   npm run demo -- --once     one call, then exit
 */
import { randomUUID } from 'node:crypto';
import { exitOnConfigError, loadEnvFile, loadSettings } from '../config.js';
import { attachInspector } from '../inspector/client.js';
import { inspectorOptionsFrom, startInspectorServer } from '../inspector/server.js';
import { initLogging } from '../logging.js';
import { buildLLM } from '../models.js';
import { Call } from '../call/call.js';
import { type Records, openRecords } from '../records/index.js';
import { startScriptedServer } from '../../dev/scripted-llm.js';

const SCRIPT = [
  'Hi, my name is Maya',
  'I was charged twice on my card this month',
  'Thanks. Actually I also want to upgrade my plan',
  'Yes, please upgrade my plan to the family plan',
  "Great, that's all, bye",
];
const CALLERS = ['+919876543210', '+14155550123', '+447700900123'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const once = process.argv.includes('--once');
  const pauseMs = Number(process.env.DEMO_PAUSE_MS ?? 2500);
  loadEnvFile();
  const realModel = Boolean(process.env.OPENAI_API_KEY?.trim());
  const scripted = realModel ? undefined : await startScriptedServer();
  let settings;
  try {
    settings = loadSettings({ ...process.env, ...(scripted ? { OPENAI_BASE_URL: scripted.url, LLM_MODEL: 'scripted' } : {}) });
  } catch (err) {
    exitOnConfigError(err, 'demo');
  }
  initLogging({ level: settings.LOG_LEVEL ?? 'warn', toStderr: true });
  // Demo calls are recorded like any other (`npm run calls`, the inspector's past calls).
  let records: Records | null = null;
  try {
    records = await openRecords(settings, { onError: (m) => process.stderr.write(`demo: ${m}\n`) });
  } catch (err) {
    process.stderr.write(`demo: calls are not recorded: ${(err as Error).message}\n`);
  }
  const inspector = await startInspectorServer({
    ...inspectorOptionsFrom(settings, { freePort: true }),
    records: records?.inspector,
  }).catch((err: Error) => {
    process.stderr.write(`demo: ${err.message}\n`);
    process.exit(2);
  });
  process.stdout.write(
    `Switchboard demo — open ${inspector.url}\n` +
      (realModel
        ? `Answers come from the real model (${settings.LLM_MODEL}); the caller's lines are scripted.\n`
        : 'The answers are SCRIPTED (a keyword script standing in for a model, no keys needed); set OPENAI_API_KEY to use the real model.\n'),
  );

  let n = 0;
  const playCall = async () => {
    n++;
    const call = new Call({
      // Unique across runs: every run records into the same call records.
      callId: `demo-${n}-${randomUUID().slice(0, 8)}`,
      llm: buildLLM(settings),
      company: settings.COMPANY_NAME,
      maxHandoffs: settings.MAX_HANDOFFS,
      humanAvailable: false,
      caller: { phoneNumber: CALLERS[(n - 1) % CALLERS.length] },
      sessionOptions: { vad: null, turnHandling: { turnDetection: 'manual' }, userAwayTimeout: null },
    });
    attachInspector(call, { url: new URL(inspector.url).origin, token: settings.INSPECTOR_TOKEN, worker: 'demo' });
    const recorder = records?.attach(call, 'demo');
    call.on('event', (e) => {
      if (e.type === 'handoff') process.stdout.write(`  call ${n}: ${e.from} → ${e.to} (${e.reason})\n`);
    });
    await call.start();
    await call.greeted;
    for (const line of SCRIPT) {
      await sleep(pauseMs);
      if (call.machineState === 'ended') break;
      await call.session.run({ userInput: line }).wait();
    }
    await call.close('demo over');
    await recorder?.done;
  };

  if (once) {
    await playCall();
    await sleep(500);
    await inspector.close();
    await records?.close({ drainMs: 2000 });
    await scripted?.close();
    return;
  }
  process.stdout.write('A new call starts every few seconds; Ctrl-C to stop.\n');
  const calls = new Set<Promise<void>>();
  for (;;) {
    const p = playCall().catch((err: Error) => {
      process.stderr.write(`demo call failed: ${err.message}\n`);
    });
    calls.add(p);
    void p.finally(() => calls.delete(p));
    await sleep(pauseMs * 3);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`demo: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
