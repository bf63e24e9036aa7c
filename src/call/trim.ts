/**
 * Speech engines pad every clip with silence at both ends (OpenAI, ElevenLabs, Azure… 100–800 ms). Played
 * as is, a transfer's seam holds the old line's trailing padding *and* the new one's leading padding —
 * ~350 ms of silence where the call itself left none — and every reply starts late by its leading padding.
 *
 * `trimPadding` passes an agent's audio through, cutting the silence (below −45 dBFS) before its first
 * sound down to `leadMs` and after its last sound down to `trailMs`: the pause at a seam is then the one
 * chosen (SEAM_PAUSE_MS, default 150 ms: a natural breath between two speakers), not the providers'
 * padding added up. Silence *inside* the speech (between sentences) is untouched. Nothing is delayed:
 * leading silence is dropped as it arrives, and only silence is held back (until sound follows, or the
 * clip ends and all but `trailMs` of it is dropped).
 */
import { TransformStream } from 'node:stream/web';
import { AudioFrame } from '@livekit/rtc-node';
import { SOUND_THRESHOLD_DBFS, concatSamples } from './sound.js';

const WINDOW_MS = 10;

export interface TrimOptions {
  /** Silence kept before the first sound (a few ms keep its attack whole). */
  leadMs: number;
  /** Silence kept after the last sound. */
  trailMs: number;
}

/** The seam's pause split as the trimmer keeps it: 20 ms before a clip's sound, the rest after it. */
export function trimForPause(pauseMs: number): TrimOptions {
  const leadMs = Math.min(20, pauseMs);
  return { leadMs, trailMs: pauseMs - leadMs };
}

/** Sample indices (of a mono frame) where each 10 ms window is sound. */
function soundWindows(data: Int16Array, rate: number): { first: number; last: number } | null {
  const n = Math.max(1, Math.round((rate * WINDOW_MS) / 1000));
  const floor = 32768 * 10 ** (SOUND_THRESHOLD_DBFS / 20);
  let first = -1;
  let last = -1;
  for (let at = 0; at < data.length; at += n) {
    const end = Math.min(data.length, at + n);
    let sum = 0;
    for (let i = at; i < end; i++) sum += data[i]! * data[i]!;
    if (Math.sqrt(sum / (end - at)) < floor) continue;
    if (first < 0) first = at;
    last = end;
  }
  return first < 0 ? null : { first, last };
}

const frameOf = (data: Int16Array, rate: number) => new AudioFrame(data, rate, 1, data.length);

/** The last `ms` of held silence, as one frame (or none). */
function tail(held: Int16Array[], ms: number, rate: number): AudioFrame | null {
  const want = Math.round((rate * ms) / 1000);
  const all = concatSamples(held);
  return want > 0 && all.length ? frameOf(all.slice(Math.max(0, all.length - want)), rate) : null;
}

export function trimPadding(o: TrimOptions): TransformStream<AudioFrame, AudioFrame> {
  let started = false;
  /** Silence not yet passed on: before the first sound, or since the last one. */
  let held: Int16Array[] = [];
  let rate = 24_000;
  return new TransformStream<AudioFrame, AudioFrame>({
    transform(frame, controller) {
      rate = frame.sampleRate;
      const data = frame.data.subarray(0, frame.samplesPerChannel * frame.channels);
      const sound = frame.channels === 1 ? soundWindows(data, rate) : { first: 0, last: data.length };
      if (!sound) {
        held.push(data.slice());
        return;
      }
      if (!started) {
        // Before the first sound: only `leadMs` of silence.
        const lead = tail([...held, data.subarray(0, sound.first)], o.leadMs, rate);
        if (lead) controller.enqueue(lead);
        started = true;
      } else if (held.length || sound.first > 0) {
        // A pause inside the speech: all of it.
        controller.enqueue(frameOf(concatSamples([...held, data.subarray(0, sound.first)]), rate));
      }
      held = [];
      controller.enqueue(frameOf(data.slice(sound.first, sound.last), rate));
      if (sound.last < data.length) held.push(data.slice(sound.last));
    },
    flush(controller) {
      // After the last sound: only `trailMs` of silence.
      const all = concatSamples(held);
      const keep = Math.min(all.length, Math.round((rate * o.trailMs) / 1000));
      if (started && keep > 0) controller.enqueue(frameOf(all.slice(0, keep), rate));
    },
  });
}

/** Where the sound of one clip lies, as it is played (after trimming): filled in as its frames pass. */
export interface ClipSound {
  /** Silence before its first sound (ms); null until sound has passed. */
  leadMs: number | null;
  /** Where its last sound so far ends (ms from the clip's start). */
  soundEndMs: number;
  /** All that passed so far (ms). */
  durationMs: number;
}

export const newClipSound = (): ClipSound => ({ leadMs: null, soundEndMs: 0, durationMs: 0 });

/**
 * Passes a clip through unchanged, noting where its sound lies (`clip`): `on.firstFrame` when its first
 * frame passes (the moment it is handed to the line), `on.sound` when its first sound has.
 */
export function measureClip(clip: ClipSound, on: { firstFrame(): void; sound(): void }): TransformStream<AudioFrame, AudioFrame> {
  let started = false;
  return new TransformStream<AudioFrame, AudioFrame>({
    transform(frame, controller) {
      if (!started) on.firstFrame();
      started = true;
      const rate = frame.sampleRate;
      const data = frame.data.subarray(0, frame.samplesPerChannel * frame.channels);
      const sound = frame.channels === 1 ? soundWindows(data, rate) : { first: 0, last: data.length };
      const firstSound = sound !== null && clip.leadMs === null;
      if (sound) {
        if (firstSound) clip.leadMs = clip.durationMs + (sound.first / rate) * 1000;
        clip.soundEndMs = clip.durationMs + (sound.last / rate) * 1000;
      }
      clip.durationMs += (frame.samplesPerChannel / rate) * 1000;
      controller.enqueue(frame);
      if (firstSound) on.sound();
    },
  });
}
