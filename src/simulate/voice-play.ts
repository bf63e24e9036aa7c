/**
 * One simulated call by voice (`npm run simulate -- --voice`): the scenario's caller (./caller.ts) speaks
 * each line in a voice of its own, and the call runs through the voice loop (src/voice/loop.ts) as
 * `npm run voice` runs it — VAD, end of turn, speech-to-text, the desks, their voices — in real time.
 * The timeline the judges read is the one the caller heard: each line at its first sound, and each
 * transfer at the start of the silence before the new desk's voice.
 */
import { voice } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import type { Settings } from '../config.js';
import { type Language, detectLanguage } from '../language.js';
import { buildVoice } from '../models.js';
import { quiet } from '../call/prepared-reply.js';
import { CALLER_RATE } from '../voice/caller-audio.js';
import { runVoiceCall } from '../voice/loop.js';
import type { ScriptLine } from '../voice/script.js';
import type { Timeline } from '../voice/timeline.js';
import { resample } from '../voice/wav.js';
import type { CallEvent } from '../call/events.js';
import type { ModelEndpoint } from './chat-model.js';
import { SimulatedCaller } from './caller.js';
import type { Entry, SimCall } from './play.js';
import type { Scenario } from './scenario.js';

/** The caller's voice, and what it is told (a scripted server hears a line spoken with these words as a script's clip). */
export const CALLER_VOICE = 'shimmer';
export const CALLER_VOICE_INSTRUCTIONS = 'You are a simulated caller: speak as a customer calling a call center on the phone.';
/** How long a caller who says nothing stays quiet before their next move. */
const SILENCE_MS = 3000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A line in the caller's voice, as a clip the voice loop sends (16 kHz mono). */
async function spoken(tts: ReturnType<typeof buildVoice>, words: string): Promise<ScriptLine> {
  const frames: AudioFrame[] = [];
  const stream = tts.synthesize(words);
  let failed = false;
  quiet(stream, () => (failed = true));
  for await (const audio of stream) frames.push(audio.frame);
  if (failed || !frames.length) throw new Error(`the caller's voice could not say "${words}"`);
  const rate = frames[0]!.sampleRate;
  const pcm = new Int16Array(frames.reduce((n, f) => n + f.data.length, 0));
  let at = 0;
  for (const f of frames) {
    pcm.set(f.data, at);
    at += f.data.length;
  }
  return { audio: '(simulated caller)', words, samples: resample(pcm, rate, CALLER_RATE) };
}

/** The timeline as the caller heard it, for the judges. */
function entriesOf(timeline: Timeline, events: { event: CallEvent; atMs: number }[], silences: number[], language: Language): Entry[] {
  const entries: Entry[] = [];
  let speaks = language;
  for (const u of timeline.utterances) {
    if (u.speaker === 'caller') {
      speaks = detectLanguage(u.text) ?? speaks;
      entries.push({ kind: 'caller', text: u.text, language: speaks, at: u.startMs, heard: u.heard ?? null });
    } else entries.push({ kind: 'agent', desk: u.speaker, text: u.text, at: u.startMs });
  }
  for (const t of timeline.transfers) {
    // The new desk's first sound near the handoff (published once it was heard), less the silence before it.
    const first = timeline.utterances.filter((u) => u.speaker === t.to).sort((a, b) => Math.abs(a.startMs - t.atMs) - Math.abs(b.startMs - t.atMs))[0];
    const at = first && t.silenceMs !== null ? first.startMs - t.silenceMs : t.atMs;
    entries.push({ kind: 'transfer', from: t.from, to: t.to, reason: t.reason, at: Math.min(at, first?.startMs ?? at) - 0.5 });
  }
  for (const { event: e, atMs } of events) {
    if (e.type === 'rejected') entries.push({ kind: 'refused', from: e.from, to: e.to, reason: e.reason, at: atMs });
    if (e.type === 'error') entries.push({ kind: 'error', text: e.message, at: atMs });
  }
  for (const at of silences) entries.push({ kind: 'silence', at });
  return entries.sort((a, b) => a.at - b.at).map((e) => ({ ...e, at: Math.round(e.at) }));
}

export async function playScenarioByVoice(settings: Settings, callerModel: ModelEndpoint, s: Scenario, run: number, runId: string): Promise<SimCall> {
  const started = Date.now();
  const caller = new SimulatedCaller(callerModel, s);
  const tts = buildVoice(settings, CALLER_VOICE, CALLER_VOICE_INSTRUCTIONS);
  const agentLines: string[] = [];
  const silences: number[] = [];
  const tokens = { desks: 0, caller: 0 };
  let lastAt = 0;
  let heard = 0;
  let turns = 0;
  let done = false;
  let end: SimCall['end'] = { by: 'turn limit', needsMet: false, reason: `the caller gave up after ${s.max_turns} lines` };
  const nextLine = async (): Promise<ScriptLine | null> => {
    while (!done && turns < s.max_turns) {
      caller.hear(agentLines.slice(heard));
      heard = agentLines.length;
      let move;
      try {
        move = await caller.next();
      } catch (err) {
        end = { by: 'error', needsMet: null, reason: `the caller's model failed: ${(err as Error).message}` };
        break;
      }
      turns++;
      if (move.kind === 'silent') {
        silences.push(lastAt);
        await sleep(SILENCE_MS);
        continue;
      }
      if (move.kind === 'end') {
        end = { by: 'caller', needsMet: move.needsMet, reason: move.reason };
        done = true;
        if (!move.text) return null;
      }
      return spoken(tts, move.text);
    }
    done = true;
    return null;
  };
  const result = await runVoiceCall({
    settings,
    script: { path: '(simulated caller)', lines: [] },
    callId: `sim-voice-${s.id}-${run}-${runId}`,
    onCall: (call) =>
      call.session.on(voice.AgentSessionEventTypes.MetricsCollected, ({ metrics }) => {
        if (metrics.type === 'llm_metrics') tokens.desks += metrics.totalTokens;
      }),
    onEvent: (e, atMs) => {
      lastAt = atMs;
      if (e.type === 'agent') agentLines.push(e.text);
    },
    nextLine,
  });
  if (!done && end.by === 'turn limit' && result.call.machineState === 'ended') end = { by: 'agent', needsMet: null, reason: 'the agents ended the call' };
  tokens.caller = caller.tokens;
  return { scenario: s.id, run, entries: entriesOf(result.timeline, result.events, silences, s.caller.language), end, tokens, ms: Date.now() - started };
}
