/**
 * A recorded voice call for the inspector's timeline tests: its events (written to a records store as the
 * recorder writes them) and its recording, a real Ogg/Opus stereo file rendered at test time from the voice
 * fixtures with the bundled ffmpeg (caller left, agents right), each clip where the events say it was said.
 */
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { getFfmpegPath } from '@livekit/av';
import type { Call } from '../../src/call/call.js';
import type { CallEvent, TurnFigures } from '../../src/call/events.js';
import { attachRecorder } from '../../src/records/recorder.js';
import { encodeWav, firstChannel, parseWav, resample } from '../../src/voice/wav.js';
import type { CallStore } from '../../src/records/types.js';

const CLIPS = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'voice', 'clips');

/** Writes `events` to `store` through the recorder, as a call of `callId` would (no model needed). */
export async function recordEvents(store: CallStore, callId: string, events: CallEvent[]): Promise<void> {
  const call = Object.assign(new EventEmitter(), { callId, events: [] as CallEvent[], reportError: () => undefined });
  const recorder = attachRecorder(call as unknown as Call, store, { worker: 'timeline-test' });
  for (const e of events) call.emit('event', e);
  await recorder.flush();
  recorder.detach();
}

/** Where each clip sounds, in ms from the recording's first sample (the events below say the same). */
export const SOUNDS = {
  caller: [
    { clip: 'en-charged.wav', at: 3000 }, // 2.08 s
    { clip: 'en-goodbye.wav', at: 10_000 }, // 2.21 s
  ],
  agents: [
    { clip: 'en-upgrade.wav', at: 200 }, // 2.25 s: the greeting
    { clip: 'en-debit.wav', at: 6000 }, // 2.83 s: billing's answer
    { clip: 'en-internet.wav', at: 13_000 }, // 1.66 s: billing's goodbye
  ],
};
export const RECORDING_MS = 15_000;

/**
 * Renders the call's recording (Ogg/Opus, 48 kHz stereo, caller left, agents right) into `file`: the clips
 * placed on two channels here (the bundled ffmpeg has no mixing filters), ffmpeg encodes.
 */
export async function renderRecording(file: string): Promise<{ durationMs: number; bytes: number }> {
  const ffmpeg = process.env.LIVEKIT_FFMPEG_PATH || getFfmpegPath();
  if (!ffmpeg) throw new Error('no ffmpeg: @livekit/av has no build for this platform (set LIVEKIT_FFMPEG_PATH)');
  const rate = 16_000;
  const frames = (RECORDING_MS / 1000) * rate;
  const stereo = new Int16Array(frames * 2);
  const lay = (sounds: { clip: string; at: number }[], channel: number) => {
    for (const s of sounds) {
      const pcm = parseWav(readFileSync(join(CLIPS, s.clip)));
      const mono = resample(firstChannel(pcm), pcm.sampleRate, rate);
      const from = Math.round((s.at / 1000) * rate);
      for (let i = 0; i < mono.length && from + i < frames; i++) stereo[(from + i) * 2 + channel] = mono[i]!;
    }
  };
  lay(SOUNDS.caller, 0);
  lay(SOUNDS.agents, 1);
  const wav = `${file}.wav`;
  writeFileSync(wav, encodeWav({ sampleRate: rate, channels: 2, samples: stereo }));
  try {
    await promisify(execFile)(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-y', '-i', wav, '-ar', '48000', '-c:a', 'libopus', '-b:a', '96k', file]);
  } finally {
    rmSync(wav, { force: true });
  }
  return { durationMs: RECORDING_MS, bytes: statSync(file).size };
}

/** The recording starts this long after the call (its first sample: the greeting's first frame). */
export const RECORDING_AFTER_START_MS = 300;

export const TURN_1: TurnFigures = { eouMs: 450, sttMs: 260, llmTtftMs: 210, ttsTtfbMs: 190, responseMs: 920 };
export const TURN_2: TurnFigures = { eouMs: 380, sttMs: 240, llmTtftMs: 180, ttsTtfbMs: 170, responseMs: 790 };

/**
 * The call's events, started at `t0`: the greeting, the caller's charge (a transfer to billing), billing's
 * answer, a refused transfer to sales, the caller's goodbye and billing's; then its recording (`file`: null
 * for a call that was not recorded) and the end. Each line's `spokeAt` is where its clip sounds; its `at`
 * (committed) is later.
 */
export function recordedCallEvents(
  callId: string,
  t0: number,
  file: { name: string; bytes: number } | null,
  caller = { name: 'Odile Martin', phoneNumber: '+15550100777' },
): CallEvent[] {
  const rec = t0 + RECORDING_AFTER_START_MS;
  const line = (who: 'caller' | 'triage' | 'billing', text: string, spokeAt: number, at: number): CallEvent =>
    who === 'caller'
      ? { type: 'user', text, spokeAt: rec + spokeAt, at: rec + at }
      : { type: 'agent', agent: who, text, interrupted: false, spokeAt: rec + spokeAt, at: rec + at };
  return [
    { type: 'started', callId, state: 'triage', caller, maxHandoffs: 6, humanAvailable: true, at: t0 },
    line('triage', 'Hello, you have reached the front desk. How can I help you today?', 200, 2500),
    line('caller', 'I was charged twice on my card', 3000, 5400),
    {
      type: 'handoff', from: 'triage', to: 'billing', handoffCount: 1, reason: 'double charge on the card', source: 'agent', escalated: false, latencyMs: 0.4,
      stages: { decisionMs: 0.05, swapMs: 40, llmTtftMs: 210, ttsTtfbMs: 190, silenceMs: 620, preparedPlayed: true, bridged: false },
      at: rec + 5500,
    },
    line('billing', 'I can see the double charge of 49 dollars; I will refund one of them now.', 6000, 8900),
    { type: 'turn', line: 1, agent: 'billing', ...TURN_1, at: rec + 8950 },
    { type: 'rejected', from: 'billing', to: 'sales', reason: 'billing cannot transfer directly to sales; only to triage.', source: 'agent', at: rec + 9200 },
    line('caller', 'Thank you, that is all, goodbye', 10_000, 12_400),
    line('billing', 'You are welcome. Goodbye!', 13_000, 14_700),
    { type: 'turn', line: 2, agent: 'billing', ...TURN_2, at: rec + 14_750 },
    ...(file
      ? [{
          type: 'recording' as const, file: file.name, format: 'audio/ogg; codecs=opus' as const, channels: ['caller', 'agents'] as ['caller', 'agents'],
          startedAt: rec, durationMs: RECORDING_MS, bytes: file.bytes, at: rec + 14_900,
        }]
      : []),
    { type: 'end', state: 'ended', handoffCount: 1, reason: 'the caller is done and said goodbye', at: rec + RECORDING_MS },
  ];
}
