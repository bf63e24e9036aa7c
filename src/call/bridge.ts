/**
 * The bridging line's audio: synthesized once per voice and kept for the life of the process, so a
 * desk taking the line after a silent transfer is heard at once (see `bridgeLine` in departments.ts).
 */
import type { tts as ttsNs } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import { ALL_BRIDGE_LINES, TARGETS, bridgeLine } from '../departments.js';
import type { DepartmentAgent } from './agent.js';
import type { CallOptions } from './options.js';
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

/** The bridge a desk may say first after a silent transfer: its line in the caller's language, and its audio in the desk's voice. */
export function bridgeFor(agent: DepartmentAgent, language?: string): DepartmentAgent['bridge'] {
  const text = bridgeLine(language);
  return { text, audio: agent.tts ? bridgeAudio(agent.tts, text) : Promise.resolve(null) };
}

/** Each desk's bridging lines, synthesized in its voice before any transfer needs them. */
export function prewarmBridges(ttsFor: NonNullable<CallOptions['ttsFor']>): void {
  for (const role of TARGETS.filter((t) => t !== 'human')) {
    const tts = ttsFor(role);
    if (tts && typeof tts !== 'string') for (const line of ALL_BRIDGE_LINES) void bridgeAudio(tts, line);
  }
}
