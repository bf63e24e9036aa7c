/**
 * The VAD fix (src/voice/vad.ts): real speech through LiveKit's Silero VAD, and each END_OF_SPEECH
 * frame, read only after the VAD has gone on to the next utterance (as HTTP speech-to-text reads it),
 * still holds its own utterance's audio. On a bare `inference.VAD` of @livekit/agents 1.9.0 the frames
 * are views of a buffer the VAD reuses, and this fails.
 */
import { type VADEvent, VADEventType, initializeLogger } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { newVAD } from '../../src/voice/vad.js';
import { clip, spokenPart } from './clips.js';

beforeAll(() => initializeLogger({ pretty: false, level: 'fatal' }));

const RATE = 16_000;
const FRAME = RATE / 50; // 20 ms

/** Where `needle` occurs exactly in `hay`, or -1. */
function indexOfSamples(hay: Int16Array, needle: Int16Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}


/** Feeds 20 ms frames of `audio` to a fresh VAD stream, then reads every event once the VAD is done. */
async function endOfSpeechFrames(audio: Int16Array, utterances: number): Promise<Int16Array[]> {
  const stream = newVAD().stream();
  for (let i = 0; i < audio.length; i += FRAME) {
    const data = audio.slice(i, i + FRAME);
    stream.pushFrame(new AudioFrame(data, RATE, 1, data.length));
  }
  // Every frame is queued before the first event is read: by then the VAD has gone through all of them.
  const ends: VADEvent[] = [];
  while (ends.length < utterances) {
    const { done, value } = await stream.next();
    if (done) break;
    if (value.type === VADEventType.END_OF_SPEECH) ends.push(value);
  }
  stream.close();
  return ends.map((e) => e.frames[0]!.data);
}

describe('the VAD hands speech-to-text each utterance as it was spoken', () => {
  it('two caller lines: each END_OF_SPEECH frame, read after both, holds its own line whole', async () => {
    const lines = [clip('en-goodbye'), clip('en-charged')];
    const gap = new Int16Array(RATE); // a second of silence after each line
    const audio = new Int16Array(gap.length + lines.reduce((n, l) => n + l.samples.length + gap.length, 0));
    let at = gap.length;
    for (const l of lines) {
      audio.set(l.samples, at);
      at += l.samples.length + gap.length;
    }
    const frames = await endOfSpeechFrames(audio, lines.length);
    expect(frames).toHaveLength(2);
    frames.forEach((frame, i) => {
      // The whole spoken part of the line, sample for sample, with the VAD's pre-roll before it.
      expect(indexOfSamples(frame, spokenPart(lines[i]!.samples)), `line ${i + 1}: "${lines[i]!.words}"`).toBeGreaterThan(0);
    });
  });
});
