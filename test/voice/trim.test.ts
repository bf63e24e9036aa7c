/**
 * The seam's padding trimmed (src/call/trim.ts): an agent clip as a speech engine makes it (silence
 * before and after its sound) plays with only the chosen pause around its sound, whatever the frame
 * sizes, its sound and the pauses inside it untouched.
 */
import { ReadableStream } from 'node:stream/web';
import { AudioFrame } from '@livekit/rtc-node';
import { describe, expect, it } from 'vitest';
import { concatSamples, soundBounds, soundSpans } from '../../src/call/sound.js';
import { trimForPause, trimPadding } from '../../src/call/trim.js';
import { synthSpeech } from '../../dev/scripted-audio.js';

const RATE = 24_000;

async function trimmed(samples: Int16Array, frameMs: number, pauseMs = 150): Promise<Int16Array> {
  const n = (RATE * frameMs) / 1000;
  const frames: AudioFrame[] = [];
  for (let i = 0; i < samples.length; i += n) {
    const d = samples.slice(i, i + n);
    frames.push(new AudioFrame(d, RATE, 1, d.length));
  }
  const out: Int16Array[] = [];
  const stream = new ReadableStream<AudioFrame>({
    start(c) {
      for (const f of frames) c.enqueue(f);
      c.close();
    },
  }).pipeThrough(trimPadding(trimForPause(pauseMs)));
  for await (const f of stream) out.push(f.data.slice(0, f.samplesPerChannel));
  return concatSamples(out);
}

const ms = (samples: Int16Array) => (samples.length / RATE) * 1000;

describe('trimming a clip\'s padding to the seam\'s pause', () => {
  const clip = synthSpeech('Let me transfer you to billing. One moment, please.', { voice: 'alloy', sampleRate: RATE, msPerChar: 40, leadMs: 300, trailMs: 500 });

  for (const frameMs of [100, 20, 10]) {
    it(`${frameMs} ms frames: 20 ms before its sound, 130 ms after, everything between as it was`, async () => {
      const before = soundBounds(clip, RATE)!;
      const out = await trimmed(clip, frameMs);
      const after = soundBounds(out, RATE)!;
      expect(after.onsetMs).toBeGreaterThanOrEqual(10);
      expect(after.onsetMs).toBeLessThanOrEqual(30);
      expect(ms(out) - after.offsetMs).toBeGreaterThanOrEqual(120);
      expect(ms(out) - after.offsetMs).toBeLessThanOrEqual(140);
      // The sound itself, and the pauses between its words, untouched.
      expect(after.offsetMs - after.onsetMs).toBeCloseTo(before.offsetMs - before.onsetMs, -1);
      expect(soundSpans(out, RATE).length).toBe(soundSpans(clip, RATE).length);
      const start = Math.round(((before.onsetMs - after.onsetMs) * RATE) / 1000);
      expect(Array.from(out.subarray(RATE / 10, RATE / 5))).toEqual(Array.from(clip.subarray(start + RATE / 10, start + RATE / 5)));
    });
  }

  it('a clip with no sound plays nothing; a pause of 0 keeps no silence at all', async () => {
    expect((await trimmed(new Int16Array(RATE), 100)).length).toBe(0);
    const out = await trimmed(clip, 100, 0);
    const b = soundBounds(out, RATE)!;
    expect(b.onsetMs).toBe(0);
    expect(ms(out) - b.offsetMs).toBeLessThanOrEqual(10);
  });
});
