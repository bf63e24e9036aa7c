/**
 * The LiveKit worker: `npm run dev` (development) or `npm start` (production).
 *
 * One job per call, each in its own process: the caller's identity is read from the SIP participant,
 * then one `Call` (routing actor + AgentSession) runs until the caller hangs up or the agent ends it.
 *
 * The worker process runs LiveKit's `AgentServer` itself (not `cli.runApp`), so that what a person sees
 * is ours to choose: the log at `info` (LOG_LEVEL or `--log-level` for more), one readable line per
 * entry under `dev` (JSON lines under `start`, for log collectors), a failure to reach LiveKit said in
 * one line naming the setting to check, and the worker's own HTTP server (health check) on loopback
 * unless WORKER_HOST says otherwise.
 */
import { hostname } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import {
  AgentServer,
  type JobContext,
  type JobProcess,
  ServerOptions,
  defineAgent,
  inference,
  log,
  voice,
} from '@livekit/agents';
import { ParticipantKind, type RemoteParticipant, RoomEvent } from '@livekit/rtc-node';
import { loadEnvFile, loadWorkerSettings, redactPiiOn, settingsOrExit } from '../config.js';
import { type LogEntry, errorMessageOf, filterStdoutForFrameworkLogger, initLogging, refusalWeReport } from '../logging.js';
import { buildSTT, buildTTSFor, callOptionsFrom, llmConnOptions, sttFollower } from '../models.js';
import { Call } from '../call/call.js';
import { attachInspector } from '../inspector/client.js';
import { closeStatelyLink, reportToStately, statelyNotice } from '../inspector/stately.js';
import { inspectorOptionsFrom, startInspectorServer } from '../inspector/server.js';
import { callerFromParticipant, enrichCaller } from '../telephony/caller.js';
import { livekitPhoneLine } from '../telephony/phone-line.js';
import { MoveSupport, type WarmLineOptions, dialTarget, livekitConsultation, warmTransfer } from '../telephony/warm-transfer.js';
import { briefingFor } from '../call/briefing.js';
import { turnHandlingFor } from '../voice/turn.js';
import { newVAD } from '../voice/vad.js';
import { type Records, openRecords } from '../records/index.js';
import { keepRecordings, recordingProblem } from '../records/recordings.js';

type WorkerSettings = ReturnType<typeof loadWorkerSettings>;
type Logger = ReturnType<typeof log>;

/** Warm transfers of this job: LiveKit's task where the server can move participants, else the fallback. */
function warmLineFor(ctx: JobContext, settings: WorkerSettings, logger: Logger): WarmLineOptions {
  const api = { url: settings.LIVEKIT_URL, apiKey: settings.LIVEKIT_API_KEY, apiSecret: settings.LIVEKIT_API_SECRET };
  return {
    api,
    room: ctx.room.name!,
    dial: {
      trunkId: settings.SIP_OUTBOUND_TRUNK_ID!,
      to: dialTarget(settings.HUMAN_TRANSFER_TO!),
      fromNumber: settings.SIP_OUTBOUND_NUMBER,
      headers: { 'X-Switchboard-Call': ctx.room.name ?? '' },
      ringingTimeoutS: Math.min(30, settings.HUMAN_TRANSFER_TIMEOUT_S),
    },
    consultation: livekitConsultation(),
    moves: new MoveSupport(api, (m) => logger.warn(m)),
  };
}

/** The call of this job: the SIP caller's line (transfer, hang-up) and one `Call` with the worker's models. */
async function callFor(ctx: JobContext, settings: WorkerSettings, participant: RemoteParticipant, logger: Logger): Promise<Call> {
  const caller = callerFromParticipant(participant);
  const line = livekitPhoneLine({
    url: settings.LIVEKIT_URL,
    apiKey: settings.LIVEKIT_API_KEY,
    apiSecret: settings.LIVEKIT_API_SECRET,
    room: ctx.room.name!,
    participantIdentity: participant.identity,
    transferTo: settings.HUMAN_TRANSFER_TO,
  });
  const known = await enrichCaller(settings.CALLER_LOOKUP, caller, (err) => logger.warn({ err }, 'caller lookup failed'));
  const stt = buildSTT(settings, known.language);
  return new Call({
    // The room name says where the call is; the job id makes it unique even when a room name is
    // reused (a fixed test room), so call records never merge two calls.
    callId: ctx.room.name ? `${ctx.room.name}_${ctx.job.id}` : ctx.job.id,
    ...callOptionsFrom(settings),
    caller: known,
    languageChanged: sttFollower(stt),
    ttsFor: buildTTSFor(settings),
    apologyOnLlmError: "I'm sorry, I didn't catch that. Could you say it again?",
    dtmfMap: settings.DTMF_MAP,
    sessionOptions: {
      stt,
      vad: ctx.proc.userData.vad as inference.VAD,
      // The local end-of-turn model runs in the worker's shared inference process, through the job.
      turnHandling: turnHandlingFor(settings, ctx.inferenceExecutor),
      connOptions: llmConnOptions(settings),
    },
    connectHuman: async (call, steps) => {
      if (participant.kind !== ParticipantKind.SIP) throw new Error('the caller is not on a phone line');
      if (settings.HUMAN_TRANSFER_MODE === 'warm') {
        const context = call.actor.getSnapshot().context;
        await warmTransfer(warmLineFor(ctx, settings, logger), { ...briefingFor(context, settings.COMPANY_NAME), history: call.session.history }, steps);
        return;
      }
      // Cold transfer (SIP REFER): the caller leaves the room when the provider accepts it.
      await line.transferToPerson();
    },
    hangUp: () => line.hangUp(),
  });
}

export default defineAgent({
  prewarm: async (proc: JobProcess) => {
    // LiveKit's bundled Silero VAD (local inference, weights inside the package: nothing to download),
    // handing speech-to-text a copy of each utterance (src/voice/vad.ts).
    proc.userData.vad = newVAD();
  },
  entry: async (ctx: JobContext) => {
    loadEnvFile();
    const settings = loadWorkerSettings();
    const logger = log().child({ room: ctx.room.name });
    // XSTATE_INSPECT=ws: this job process's call reports to Stately's inspector too (the worker said where).
    reportToStately(settings, { notice: (m) => logger.debug(m), warn: (m) => logger.warn(m) });
    // Call records and webhooks: each job is its own process and opens its own store (a failure is
    // logged and the call goes on unrecorded).
    const recordsOpening = openRecords(settings, { onError: (m) => logger.warn(m) }).catch((err: Error) => {
      logger.warn({ err }, 'call records unavailable; this call is not recorded');
      return null;
    });
    await ctx.connect();
    const participant = await ctx.waitForParticipant();
    const call = await callFor(ctx, settings, participant, logger);
    const records = await recordsOpening;
    const recorder = records?.attach(call, `${hostname()}:${process.pid}`);
    const inspectorUrl = process.env.INSPECTOR_URL;
    if (inspectorUrl) {
      // The worker's inspector (started by `npm run dev`, or INSPECTOR_URL): a call never waits for it.
      attachInspector(call, {
        url: inspectorUrl,
        token: settings.INSPECTOR_TOKEN,
        worker: `${hostname()}:${process.pid}`,
        redact: settings.REDACT_PII === 'on',
      });
    }
    ctx.room.on(RoomEvent.DtmfReceived, (_code: number, digit: string) => {
      const answer = call.pressKey(digit);
      if (!answer) logger.info({ digit }, 'keypad digit with no meaning here, ignored');
    });
    call.on('event', (e) => {
      if (e.type === 'handoff' || e.type === 'rejected' || e.type === 'error' || e.type === 'end') {
        logger.info({ callEvent: e }, `call ${e.type}`);
      }
    });
    ctx.addShutdownCallback(async () => {
      await call.close('job shutdown');
      await closeStatelyLink();
      if (records) {
        await Promise.race([recorder?.done, new Promise((r) => setTimeout(r, 2000))]);
        // Webhooks still pending after this are sent by the next process that opens the records.
        await records.close({ drainMs: 3000 });
      }
    });
    void call.finished.then((end) => ctx.shutdown(String(end.reason ?? 'call ended')));
    await call.start({ room: ctx.room });
  },
});

const USAGE = `usage: npm run dev | npm start   (tsx src/cli/worker.ts dev | node dist/src/cli/worker.js start, after npm run build) [--log-level LEVEL]

  dev     development: readable log lines, the live inspector next to the worker
  start   production: JSON log lines, drains calls on SIGTERM
  --log-level trace|debug|info|warn|error|fatal   (default info, or LOG_LEVEL)`;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

function parseWorkerArgs(argv: string[]): { production: boolean; logLevel?: string } {
  const [mode, ...rest] = argv;
  if (mode === '--help' || mode === '-h') {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (mode !== 'dev' && mode !== 'start') usageError(mode ? `unknown command ${mode}` : 'dev or start?');
  let logLevel: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const v = a.startsWith('--log-level=') ? a.slice('--log-level='.length) : a === '--log-level' ? rest[++i] : undefined;
    if (v === undefined) usageError(`unknown option ${a}`);
    if (!LOG_LEVELS.includes(v)) usageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
    logLevel = v;
  }
  return { production: mode === 'start', logLevel };
}

function usageError(message: string): never {
  process.stderr.write(`worker: ${message}\n${USAGE}\n`);
  process.exit(2);
}

/** What went wrong reaching LiveKit, in one line naming the setting to check. */
export interface LiveKitProblem {
  line: string;
  /** The server refused the key: retrying cannot help. */
  refused: boolean;
}

/**
 * The framework's "failed to connect to LiveKit server (…), retrying in N seconds: (i/max)" entry (a
 * 16-line stack trace under `dev`) as one line: what happened, which setting to check, when it retries.
 */
export function liveKitProblem(e: LogEntry, url: string): LiveKitProblem | null {
  const m = /^failed to connect to LiveKit server \(.*\), retrying in (\d+) seconds: \((\d+)\/(\d+)\)/.exec(String(e.msg ?? ''));
  if (!m) return null;
  const [, delay, attempt, max] = m;
  const why = errorMessageOf(e) ?? 'no reason given';
  const status = /Unexpected server response: (\d{3})/.exec(why)?.[1];
  const retry = `; retrying in ${delay} s (${attempt}/${max})`;
  if (status === '401' || status === '403') {
    return {
      refused: true,
      line: `worker: LiveKit at ${url} refused the worker's key (HTTP ${status}): check LIVEKIT_API_KEY and LIVEKIT_API_SECRET`,
    };
  }
  if (status) return { refused: false, line: `worker: ${url} answered HTTP ${status}, not as a LiveKit server does: check LIVEKIT_URL${retry}` };
  return { refused: false, line: `worker: cannot reach LiveKit at ${url} (${why}): check LIVEKIT_URL${retry}` };
}

/** The worker process's log: `line` format under dev (readable), JSON under start (log collectors). */
const logFormat = (production: boolean) => (production ? ('json' as const) : ('line' as const));

/**
 * The worker process: opens the records, serves the inspector under `dev`, then runs LiveKit's
 * `AgentServer`, which forks one job process per call running this same file's default export.
 */
async function runWorker(): Promise<void> {
  const { production, logLevel } = parseWorkerArgs(process.argv.slice(2));
  const settings = settingsOrExit('worker', () => loadWorkerSettings());
  const level = logLevel ?? settings.LOG_LEVEL ?? 'info';
  // Job processes (forked, so they inherit the environment) format their log the same way.
  process.env.SWITCHBOARD_LOG_FORMAT = logFormat(production);
  if (!production) process.env.LIVEKIT_DEV_MODE = '1';

  let server: AgentServer | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await server?.close().catch(() => undefined);
    process.exit(code);
  };
  initLogging({
    level,
    format: logFormat(production),
    redact: settings.REDACT_PII === 'on',
    drop: refusalWeReport,
    rewrite: (e) => {
      const problem = liveKitProblem(e, settings.LIVEKIT_URL);
      if (!problem) return null;
      process.stderr.write(`${problem.line}\n`);
      // A refused key does not fix itself: say so once and stop (exit 2, a setting to fix).
      if (problem.refused) void stop(2);
      return '';
    },
  });

  // Recordings: an encoder and a directory that can be written, or a line naming what is missing.
  const recordings = recordingProblem(settings);
  if (recordings) {
    process.stderr.write(`worker: ${recordings}\n`);
    process.exit(2);
  }
  if (settings.RECORD_CALLS === 'on') process.stdout.write(`worker: recording calls to ${resolve(settings.RECORDINGS_DIR)}\n`);
  keepRecordings(settings, (line) => process.stdout.write(`worker: ${line}\n`));

  // The worker process keeps the records open too: its open marks calls of dead job processes
  // interrupted, its deliverer retries webhooks between calls, and the inspector shows past calls.
  let records: Records | null = null;
  try {
    records = await openRecords(settings, { onError: (m) => process.stderr.write(`worker: ${m}\n`) });
  } catch (err) {
    process.stderr.write(`worker: call records unavailable: ${(err as Error).message}\n`);
  }
  // `npm run dev` serves the live inspector next to the worker; job processes (forked from this one,
  // so they inherit the environment) send their calls to it.
  if (!production && settings.INSPECTOR === 'on' && !settings.INSPECTOR_URL) {
    try {
      const inspector = await startInspectorServer({ ...inspectorOptionsFrom(settings), records: records?.inspector });
      process.env.INSPECTOR_URL = new URL(inspector.url).origin;
      process.stdout.write(`Inspector: ${inspector.url}\n`);
    } catch (err) {
      const message = (err as Error).message;
      process.stderr.write(`worker: inspector not started: ${message}\n`);
      // Exposing caller data without a token is a setting to fix; a busy port only costs the page.
      if (/INSPECTOR_TOKEN/.test(message)) process.exit(2);
    }
  } else if (settings.INSPECTOR_URL) {
    process.env.INSPECTOR_URL = settings.INSPECTOR_URL;
  }

  // Job processes each open their own connection to Stately's inspector; where the data goes is said once, here.
  if (settings.XSTATE_INSPECT === 'ws') process.stdout.write(`${statelyNotice(settings.XSTATE_INSPECT_URL)}\n`);

  server = new AgentServer(
    new ServerOptions({
      // This file: job processes import it for the agent above.
      agent: fileURLToPath(import.meta.url),
      agentName: settings.AGENT_NAME,
      wsURL: settings.LIVEKIT_URL,
      apiKey: settings.LIVEKIT_API_KEY,
      apiSecret: settings.LIVEKIT_API_SECRET,
      // The worker's own HTTP server (health check): loopback, like everything else here, unless set.
      host: settings.WORKER_HOST,
      ...(settings.WORKER_PORT !== undefined ? { port: settings.WORKER_PORT } : {}),
      logLevel: level,
      production,
    }),
  );
  server.event.once('worker_registered' as never, () => {
    process.stdout.write(`worker: registered with LiveKit at ${settings.LIVEKIT_URL} as "${settings.AGENT_NAME}"; waiting for calls\n`);
  });

  // Ctrl-C / SIGTERM: production drains the calls under way first; a second signal quits at once.
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
    void (async () => {
      if (production) await server!.drain().catch(() => undefined);
      await records?.close({ drainMs: 2000 }).catch(() => undefined);
      await stop(signal === 'SIGINT' ? 130 : 143);
    })();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    await server.run();
  } catch (err) {
    if (stopping) return;
    const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
    const gaveUp = /^failed to connect to LiveKit server \(.*\) after (\d+) attempts: (.*)$/.exec(message);
    process.stderr.write(
      gaveUp
        ? `worker: gave up: LiveKit at ${settings.LIVEKIT_URL} could not be reached after ${gaveUp[1]} attempts (${gaveUp[2]}); check LIVEKIT_URL\n`
        : `worker: stopped: ${message}\n`,
    );
    await stop(1);
  }
}

// Job processes import this file for its default export only; the worker runs when started as a program.
const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) await runWorker();
// A job process of ours (forked by the worker above): its framework logger writes what the worker's does.
else if (process.env.SWITCHBOARD_LOG_FORMAT && /job_proc_lazy_main\.[cm]?[jt]s$/.test(process.argv[1] ?? '')) {
  filterStdoutForFrameworkLogger({
    level: 'info',
    format: process.env.SWITCHBOARD_LOG_FORMAT === 'line' ? 'line' : 'json',
    // The call's log (its events, caller lookups) masked as the worker's is: REDACT_PII is inherited.
    redact: redactPiiOn(process.env),
  });
}
