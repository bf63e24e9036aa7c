/**
 * The caller's microphone in the voice loop: a `voice.AudioInput` that sends a 20 ms frame every 20 ms,
 * as a phone line does — the caller's clips when they speak, silence otherwise — and keeps what it sent
 * on the call's clock (the caller's channel of `call.wav`).
 */
import { ReadableStream } from 'node:stream/web';
import { voice } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';

export const CALLER_RATE = 16_000;
const FRAME_MS = 20;
const FRAME = (CALLER_RATE * FRAME_MS) / 1000;

/** One clip the caller said, on the call's clock. */
export interface Spoken {
  startMs: number;
  endMs: number;
}

export class CallerAudio extends voice.AudioInput {
  /** Everything sent, from the call's start: one 20 ms frame per slot. */
  private readonly sent: Int16Array[] = [];
  private controller!: ReadableStreamDefaultController<AudioFrame>;
  private queue: { samples: Int16Array; at: number; done: (s: Spoken) => void; startMs?: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;

  constructor() {
    super();
    this.multiStream.addInputStream(
      new ReadableStream<AudioFrame>({
        start: (c) => {
          this.controller = c;
        },
      }),
    );
  }

  /** Starts the line: from now on a frame every 20 ms (the call's clock starts at `t0`, performance.now()). */
  open(t0: number): void {
    this.startedAt = t0;
    this.tick();
  }

  /** Ms on the call's clock. */
  now(): number {
    return performance.now() - this.startedAt;
  }

  /** Says `samples` (16 kHz mono) from the next frame on; resolves when the last of it has been sent. */
  say(samples: Int16Array): Promise<Spoken> {
    return new Promise((done) => this.queue.push({ samples, at: 0, done }));
  }

  /** Is the caller speaking (a clip being sent)? */
  get speaking(): boolean {
    return this.queue.length > 0;
  }

  /** Stops sending; what was sent stays readable. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    try {
      this.controller.close();
    } catch {
      /* already closed */
    }
  }

  /** What the caller's line carried, from the call's start (16 kHz mono). */
  recording(): Int16Array {
    const out = new Int16Array(this.sent.length * FRAME);
    this.sent.forEach((f, i) => out.set(f, i * FRAME));
    return out;
  }

  /** Sends every frame that is due by now (a late timer catches up), then waits for the next slot. */
  private tick(): void {
    const due = Math.floor(this.now() / FRAME_MS) + 1;
    while (this.sent.length < due) this.sendFrame();
    const next = due * FRAME_MS - this.now();
    this.timer = setTimeout(() => this.tick(), Math.max(1, next));
  }

  private sendFrame(): void {
    const slotMs = this.sent.length * FRAME_MS;
    const data = new Int16Array(FRAME);
    let filled = 0;
    while (filled < FRAME && this.queue.length) {
      const clip = this.queue[0]!;
      clip.startMs ??= slotMs + (filled * 1000) / CALLER_RATE;
      const take = Math.min(FRAME - filled, clip.samples.length - clip.at);
      data.set(clip.samples.subarray(clip.at, clip.at + take), filled);
      clip.at += take;
      filled += take;
      if (clip.at >= clip.samples.length) {
        this.queue.shift();
        clip.done({ startMs: clip.startMs, endMs: slotMs + (filled * 1000) / CALLER_RATE });
      }
    }
    this.sent.push(data);
    try {
      this.controller.enqueue(new AudioFrame(data, CALLER_RATE, 1, FRAME));
    } catch {
      /* the session closed its input */
    }
  }
}
