/**
 * The bridging line's audio: synthesized once per voice and kept for the life of the process, so a
 * desk taking the line after a silent transfer is heard at once (see `bridgeLine` in departments.ts).
 */
import type { tts as ttsNs } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import { quiet } from './prepared-reply.js';

const cache = new WeakMap<ttsNs.TTS, Map<string, Promise<AudioFrame[] | null>>>();

/** The frames of `text` in this TTS's voice; null when synthesis failed (the line is then synthesized live). */
export function bridgeAudio(tts: ttsNs.TTS, text: string): Promise<AudioFrame[] | null> {
  let byText = cache.get(tts);
  if (!byText) cache.set(tts, (byText = new Map()));
  let frames = byText.get(text);
  if (!frames) {
    frames = synthesize(tts, text).catch(() => {
      byText.delete(text);
      return null;
    });
    byText.set(text, frames);
  }
  return frames;
}

async function synthesize(tts: ttsNs.TTS, text: string): Promise<AudioFrame[]> {
  const frames: AudioFrame[] = [];
  const stream = tts.synthesize(text);
  let failed = false;
  quiet(stream, () => (failed = true));
  for await (const audio of stream) frames.push(audio.frame);
  if (failed) throw new Error('speech synthesis failed');
  return frames;
}
