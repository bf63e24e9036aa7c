/**
 * The LiveKit worker: `npm run dev` (development) or `npm start` (production).
 *
 * One job per call, each in its own process: the caller's identity is read from the SIP participant,
 * then one `Call` (routing actor + AgentSession) runs until the caller hangs up or the agent ends it.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type JobContext, type JobProcess, ServerOptions, cli, defineAgent, inference, log, voice } from '@livekit/agents';
import * as silero from '@livekit/agents-plugin-silero';
import { ParticipantKind, type RemoteParticipant, RoomEvent } from '@livekit/rtc-node';
import type { CallerInfo } from '../machines/router.js';
import { type Settings, loadEnvFile, loadWorkerSettings, settingsOrExit } from './config.js';
import { buildLLM, buildSTT, buildTTSFor, llmConnOptions } from './models.js';
import { Call } from './orchestrator.js';
import { attachInspector } from './inspector/client.js';
import { inspectorOptionsFrom, startInspectorServer } from './inspector/server.js';
import { livekitPhoneLine } from './telephony.js';
import { type Records, openRecords } from './records/index.js';

/** Caller info from a SIP participant's attributes; empty for other participants or hidden numbers. */
export function callerFromParticipant(p: Pick<RemoteParticipant, 'kind' | 'attributes'>): CallerInfo {
  if (p.kind !== ParticipantKind.SIP) return {};
  const a = p.attributes ?? {};
  const info: CallerInfo = {
    phoneNumber: a['sip.phoneNumber'],
    dialedNumber: a['sip.trunkPhoneNumber'],
    sipCallId: a['sip.callID'],
    sipCallIdFull: a['sip.callIDFull'],
  };
  return Object.fromEntries(Object.entries(info).filter(([, v]) => v)) as CallerInfo;
}

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

/**
 * Runs the CALLER_LOOKUP module (default export: `async (caller) => Partial<CallerInfo>`) before the
 * greeting, so Triage can say "welcome back". A slow or failing lookup never holds up the call.
 */
export async function enrichCaller(
  modulePath: string | undefined,
  caller: CallerInfo,
  onError: (err: unknown) => void = () => {},
  timeoutMs = 1500,
): Promise<CallerInfo> {
  if (!modulePath) return caller;
  try {
    const mod = (await import(pathToFileURL(resolve(modulePath)).href)) as {
      default: (c: CallerInfo) => Promise<Partial<CallerInfo> | undefined> | Partial<CallerInfo> | undefined;
    };
    const found = await Promise.race([
      Promise.resolve(mod.default({ ...caller })),
      new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`lookup took over ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
    const extra = Object.fromEntries(Object.entries(found ?? {}).filter(([, v]) => typeof v === 'string' && v.trim()));
    return { ...caller, ...extra };
  } catch (err) {
    onError(err);
    return caller;
  }
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
    const caller = callerFromParticipant(participant);

    const line = livekitPhoneLine({
      url: settings.LIVEKIT_URL,
      apiKey: settings.LIVEKIT_API_KEY,
      apiSecret: settings.LIVEKIT_API_SECRET,
      room: ctx.room.name!,
      participantIdentity: participant.identity,
      transferTo: settings.HUMAN_TRANSFER_TO,
    });
    const call = new Call({
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

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
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
      agent: fileURLToPath(import.meta.url),
      agentName: settings.AGENT_NAME,
      wsURL: settings.LIVEKIT_URL,
      apiKey: settings.LIVEKIT_API_KEY,
      apiSecret: settings.LIVEKIT_API_SECRET,
    }),
  );
}
