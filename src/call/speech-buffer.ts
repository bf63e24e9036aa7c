/**
 * Speech made ahead of time (a prepared reply's), kept as it arrives: it can start playing at its first
 * frame while the rest is still being made, and be played from any number of readers (each from the start).
 *
 * Its first sentence is asked for on its own, the rest at the same time in a second request, as LiveKit's
 * own pipeline speaks a reply sentence by sentence: a speech engine answers a short text sooner, so the
 * first words are ready as soon as they would be in a live reply. The pause between the two is trimmed to a
 * sentence's pause (the engines pad every clip).
 */
import { ReadableStream } from 'node:stream/web';
import { tokenize, type tts as ttsNs } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import { trimPadding } from './trim.js';

/** The pause kept between the first sentence and the rest (ms), as between two sentences of one clip. */
const SENTENCE_PAUSE_MS = 150;
/** Silence kept untouched: the trimmer's edge that is not trimmed. */
const ALL = 60_000;

const sentences = new tokenize.basic.SentenceTokenizer();

export class SpeechBuffer {
  private readonly frames: AudioFrame[] = [];
  private done = false;
  private wake: (() => void)[] = [];
  /** Its request → its first frame (ms); null until then. */
  ttfbMs: number | null = null;
  /** True at its first frame; false when it ended (or failed) without one. */
  readonly started: Promise<boolean>;
  private resolveStarted!: (b: boolean) => void;

  /** Asks `tts` for `text` (a failure after the first frame cuts the speech short). */
  constructor(tts: ttsNs.TTS, text: string) {
    this.started = new Promise((r) => (this.resolveStarted = r));
    const [first, ...rest] = sentences.tokenize(text);
    const parts = rest.length && first ? [first, rest.join(' ')] : [text];
    const askedAt = performance.now();
    // Both asked for now; played in order.
    const streams = parts.map((p, i) => {
      // A signal of its own: without one, LiveKit 1.9.0's TTS hangs a listener on the engine's own signal
      // for every request, never removed (Node warns past 10).
      const frames = framesOf(tts.synthesize(p, undefined, new AbortController().signal));
      const last = i === parts.length - 1;
      return frames.pipeThrough(trimPadding({ leadMs: i === 0 ? ALL : 20, trailMs: last ? ALL : SENTENCE_PAUSE_MS - 20 }));
    });
    void this.read(streams, askedAt);
  }

  private async read(streams: ReadableStream<AudioFrame>[], askedAt: number): Promise<void> {
    try {
      for (const stream of streams) {
        for await (const frame of stream) {
          this.ttfbMs ??= performance.now() - askedAt;
          this.frames.push(frame);
          this.resolveStarted(true);
          this.notify();
        }
      }
    } catch {
      /* cut short */
    }
    this.done = true;
    this.resolveStarted(false);
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = [];
    for (const w of wake) w();
  }

  /** Its frames from the first, as they come, to its end. */
  stream(): ReadableStream<AudioFrame> {
    let at = 0;
    return new ReadableStream<AudioFrame>({
      pull: async (controller) => {
        while (at >= this.frames.length && !this.done) await new Promise<void>((r) => this.wake.push(r));
        if (at < this.frames.length) controller.enqueue(this.frames[at++]!);
        else controller.close();
      },
    });
  }
}

/**
 * A speech engine's frames, as a stream that errors when the engine fails. (LiveKit's streams report a
 * failure on their engine's `error` event, an error of the call: it is kept here.) Not aborted when unused:
 * LiveKit 1.9.0's ChunkedStream turns an aborted request into an unhandled rejection.
 */
function framesOf(stream: ttsNs.ChunkedStream): ReadableStream<AudioFrame> {
  let failed = false;
  (stream as unknown as { emitError: () => void }).emitError = () => (failed = true);
  const it = stream[Symbol.asyncIterator]();
  return new ReadableStream<AudioFrame>({
    async pull(controller) {
      const next = await it.next();
      if (failed) controller.error(new Error('speech synthesis failed'));
      else if (next.done) controller.close();
      else controller.enqueue(next.value.frame);
    },
  });
}
