/**
 * The LiveKit worker: `npm run dev` (development) or `npm start` (production).
 *
 * One job per call, each in its own process: the caller's identity is read from the SIP participant,
 * then one `Call` (routing actor + AgentSession) runs until the caller hangs up or the agent ends it.
 */
import { hostname } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type JobContext, type JobProcess, ServerOptions, cli, defineAgent, inference, log, voice } from '@livekit/agents';
import * as silero from '@livekit/agents-plugin-silero';
import { ParticipantKind, type RemoteParticipant, RoomEvent } from '@livekit/rtc-node';
import { type Settings, loadEnvFile, loadWorkerSettings, settingsOrExit } from '../config.js';
import { buildLLM, buildSTT, buildTTSFor, llmConnOptions } from '../models.js';
import { Call } from '../call/call.js';
import { attachInspector } from '../inspector/client.js';
import { inspectorOptionsFrom, startInspectorServer } from '../inspector/server.js';
import { callerFromParticipant, enrichCaller } from '../telephony/caller.js';
import { livekitPhoneLine } from '../telephony/phone-line.js';
import { type Records, openRecords } from '../records/index.js';

type WorkerSettings = ReturnType<typeof loadWorkerSettings>;
type Logger = ReturnType<typeof log>;

function turnDetection(s: Settings): voice.AgentSessionOptions['turnHandling'] {
  switch (s.TURN_DETECTION) {
    case 'vad':
    case 'stt':
      return { turnDetection: s.TURN_DETECTION };
    case 'cloud':
      return { turnDetection: new inference.TurnDetector({ version: 'v1' }) };
    default:
      // The local end-of-turn model: no cloud dependency, also under `dev` (which would pick the cloud one).
      return { turnDetection: new inference.TurnDetector({ version: 'v1-mini' }) };
  }
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
  return new Call({
    // The room name says where the call is; the job id makes it unique even when a room name is
    // reused (a fixed test room), so call records never merge two calls.
    callId: ctx.room.name ? `${ctx.room.name}_${ctx.job.id}` : ctx.job.id,
    llm: buildLLM(settings),
    company: settings.COMPANY_NAME,
    maxHandoffs: settings.MAX_HANDOFFS,
    humanAvailable: Boolean(settings.HUMAN_TRANSFER_TO),
    caller: await enrichCaller(settings.CALLER_LOOKUP, caller, (err) => logger.warn({ err }, 'caller lookup failed')),
    ttsFor: buildTTSFor(settings),
    apologyOnLlmError: "I'm sorry, I didn't catch that. Could you say it again?",
    dtmfMap: settings.DTMF_MAP,
    sessionOptions: {
      stt: buildSTT(settings),
      vad: ctx.proc.userData.vad as silero.VAD,
      turnHandling: turnDetection(settings),
      connOptions: llmConnOptions(settings),
    },
    connectHuman: async () => {
      if (participant.kind !== ParticipantKind.SIP) throw new Error('the caller is not on a phone line');
      // Cold transfer (SIP REFER): the caller leaves the room when the provider accepts it.
      await line.transferToPerson();
    },
    hangUp: () => line.hangUp(),
  });
}

export default defineAgent({
  prewarm: async (proc: JobProcess) => {
    proc.userData.vad = await silero.VAD.load();
  },
  entry: async (ctx: JobContext) => {
    loadEnvFile();
    const settings = loadWorkerSettings();
    const logger = log().child({ room: ctx.room.name });
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
      attachInspector(call, { url: inspectorUrl, token: settings.INSPECTOR_TOKEN, worker: `${hostname()}:${process.pid}` });
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

/**
 * The worker process: opens the records, serves the inspector under `dev`, then hands over to LiveKit's
 * CLI, which forks one job process per call running this same file's default export.
 */
async function runWorker(): Promise<void> {
  const settings = settingsOrExit('worker', () => loadWorkerSettings());
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
  if (process.argv[2] === 'dev' && settings.INSPECTOR === 'on' && !settings.INSPECTOR_URL) {
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
  cli.runApp(
    new ServerOptions({
      // This file: job processes import it for the agent above.
      agent: fileURLToPath(import.meta.url),
      agentName: settings.AGENT_NAME,
      wsURL: settings.LIVEKIT_URL,
      apiKey: settings.LIVEKIT_API_KEY,
      apiSecret: settings.LIVEKIT_API_SECRET,
    }),
  );
}

// Job processes import this file for its default export only; the worker runs when started as a program.
const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) await runWorker();
