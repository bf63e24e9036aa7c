/**
 * One voice call for a test: a script of committed clips, the scripted server hearing exactly those clips
 * (and only intact ones), and the voice loop of `npm run voice` with the settings a user would have.
 * What the caller heard is read back from the call's own `call.wav`.
 */
import { initializeLogger } from '@livekit/agents';
import { type Target } from '../../machines/router.js';
import { loadSettings } from '../../src/config.js';
import { voiceFor } from '../../src/models.js';
import { AGENT_RATE } from '../../src/voice/agent-audio.js';
import { CALLER_RATE } from '../../src/voice/caller-audio.js';
import { runVoiceCall, type VoiceCallOptions, type VoiceCallResult } from '../../src/voice/loop.js';
import { loadScript } from '../../src/voice/script.js';
import { soundBounds } from '../../src/call/sound.js';
import { parseWav } from '../../src/voice/wav.js';
import { estimatePitch, pitchOf } from '../../dev/scripted-audio.js';
import { type Script, isTakeover, keywordBrain, silentTransfers, startScriptedServer } from '../../dev/scripted-llm.js';

export const CALLS_DIR = new URL('./calls/', import.meta.url).pathname;

/** Agent speech in the tests: faster than a person speaks, so a whole call fits CI's time. */
const TEST_MS_PER_CHAR = 25;

export interface VoiceRun extends VoiceCallResult {
  /** The agents' channel of call.wav (AGENT_RATE) and the caller's (resampled to AGENT_RATE). */
  agentsChannel: Int16Array;
  callerChannel: Int16Array;
  settings: ReturnType<typeof loadSettings>;
}

let logging = false;

export interface ServerShape {
  /** The voices' delay to their first byte. */
  ttsTtfbMs?: number;
  /** The model's time to first token when a desk takes a call over (its prepared or entry reply). */
  takeoverTtftMs?: number;
  /** Caller lines the desk answers with a transfer and no word before it (a silent transfer). */
  silentLines?: string[];
}

/** The scripted model: the keyword script, shaped as `o` says. */
function modelFor(o: ServerShape): Script {
  const slow: Script = async (req, rec) => ({ ...(await keywordBrain(req, rec)), ...(isTakeover(req) ? { ttftMs: o.takeoverTtftMs ?? 0 } : {}) });
  return silentTransfers(slow, o.silentLines ?? []);
}

/** Plays `calls/<name>.json` by voice against its own scripted server, shaped as `shape` says. */
export async function playVoiceCall(
  name: string,
  env: Record<string, string> = {},
  shape: ServerShape = {},
  onCall?: VoiceCallOptions['onCall'],
): Promise<VoiceRun> {
  if (!logging) initializeLogger({ pretty: false, level: process.env.TEST_LOG_LEVEL ?? 'fatal' });
  logging = true;
  const script = loadScript(`${CALLS_DIR}${name}.json`);
  const server = await startScriptedServer({
    clips: script.lines.map((l) => ({ words: l.words, samples: l.samples, sampleRate: CALLER_RATE })),
    ttsMsPerChar: TEST_MS_PER_CHAR,
    ttsTtfbMs: shape.ttsTtfbMs ?? 0,
    script: modelFor(shape),
  });
  try {
    const settings = loadSettings({ OPENAI_BASE_URL: server.url, OPENAI_API_KEY: 'test', LLM_MODEL: 'scripted', CALLS_DB: 'off', ...env });
    const result = await runVoiceCall({ settings, script, callId: `voice-test-${name}`, quietEndMs: 1500, onCall });
    const wav = parseWav(result.wav);
    const agentsChannel = new Int16Array(wav.samples.length / 2);
    const callerChannel = new Int16Array(wav.samples.length / 2);
    for (let i = 0; i < agentsChannel.length; i++) {
      callerChannel[i] = wav.samples[i * 2]!;
      agentsChannel[i] = wav.samples[i * 2 + 1]!;
    }
    return { ...result, agentsChannel, callerChannel, settings };
  } finally {
    await server.close();
  }
}

/** A stretch of a channel of call.wav, by call-clock ms. */
export function stretch(channel: Int16Array, startMs: number, endMs: number): Int16Array {
  return channel.subarray(Math.round((startMs * AGENT_RATE) / 1000), Math.round((endMs * AGENT_RATE) / 1000));
}

/** Whose voice sounds in a stretch of the agents' channel: the desk whose voice's pitch is nearest. */
export function deskHeard(run: VoiceRun, startMs: number, endMs: number): Target | undefined {
  const f0 = estimatePitch(stretch(run.agentsChannel, startMs, endMs), AGENT_RATE);
  if (f0 === undefined) return undefined;
  const desks: Target[] = ['triage', 'billing', 'sales', 'support'];
  const distance = (d: Target) => Math.abs(Math.log(f0 / pitchOf(voiceFor(run.settings, d))));
  return desks.reduce((a, b) => (distance(a) <= distance(b) ? a : b));
}

/** Where sound is in a channel between two moments (call-clock ms), or null. */
export function soundIn(channel: Int16Array, startMs: number, endMs: number): { onsetMs: number; offsetMs: number } | null {
  const b = soundBounds(stretch(channel, startMs, endMs), AGENT_RATE);
  return b && { onsetMs: startMs + b.onsetMs, offsetMs: startMs + b.offsetMs };
}
