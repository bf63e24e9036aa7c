/**
 * The caller's earpiece in the voice loop: a `voice.AudioOutput` that plays what the agents say in real
 * time, as a phone line would (a segment starts at its first frame, or when the one before it has played;
 * it lasts as long as its audio; the caller barging in cuts it where it is), and keeps every sample where
 * it played on the call's clock (the agents' channel of `call.wav`).
 */
import { voice } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import { concatSamples } from '../call/sound.js';

export const AGENT_RATE = 24_000;

/** One stretch of agent audio as it played. */
export interface PlayedSegment {
  /** Call-clock ms when its first sample played, and when its last one did (or it was cut). */
  startMs: number;
  endMs: number;
  /** Its samples (AGENT_RATE, mono) as they played: cut where the segment was interrupted. */
  samples: Int16Array;
  interrupted: boolean;
}

interface Open {
  seg: PlayedSegment;
  chunks: Int16Array[];
  /** Call-clock ms when the samples captured so far will have played. */
  writeEndMs: number;
}

export class AgentAudio extends voice.AudioOutput {
  readonly segments: PlayedSegment[] = [];
  private current: Open | null = null;
  private playing: { seg: PlayedSegment; timer: NodeJS.Timeout }[] = [];
  /** Call-clock ms when the last queued sample will have played. */
  private lastEnd = 0;

  constructor(private readonly clock: () => number) {
    super(AGENT_RATE);
  }

  /** Is agent audio playing (or queued to play) now? */
  get sounding(): boolean {
    return this.current !== null || this.playing.length > 0 || this.lastEnd > this.clock();
  }

  override async captureFrame(frame: AudioFrame): Promise<void> {
    const before = this.capturedPlayoutSegments;
    await super.captureFrame(frame);
    if (this.capturedPlayoutSegments > before || !this.current) {
      const startMs = Math.max(this.clock(), this.lastEnd);
      this.current = { seg: { startMs, endMs: startMs, samples: new Int16Array(0), interrupted: false }, chunks: [], writeEndMs: startMs };
      this.segments.push(this.current.seg);
      // Reported when its first sample plays, which may be after the segment before it — with the time it
      // plays at on the call's clock (a timer may fire late on a busy machine; the line does not).
      const waitMs = Math.max(0, startMs - this.clock());
      const playsAt = Date.now() + waitMs;
      setTimeout(() => this.onPlaybackStarted(playsAt), waitMs);
    }
    const open = this.current;
    // Audio that arrives after what came before it has played leaves the caller that long in silence.
    const lateMs = this.clock() - open.writeEndMs;
    if (lateMs > 0) open.chunks.push(new Int16Array(Math.round((lateMs * AGENT_RATE) / 1000)));
    const data = frame.data.slice(0, frame.samplesPerChannel);
    open.chunks.push(data);
    open.writeEndMs = Math.max(open.writeEndMs, this.clock()) + (data.length / AGENT_RATE) * 1000;
  }

  override flush(): void {
    super.flush();
    const open = this.current;
    this.current = null;
    if (!open) return;
    const seg = open.seg;
    seg.samples = concatSamples(open.chunks);
    const durMs = (seg.samples.length / AGENT_RATE) * 1000;
    seg.endMs = seg.startMs + durMs;
    this.lastEnd = seg.endMs;
    const entry = {
      seg,
      timer: setTimeout(() => {
        this.playing = this.playing.filter((p) => p !== entry);
        this.onPlaybackFinished({ playbackPosition: durMs / 1000, interrupted: false });
      }, Math.max(0, seg.endMs - this.clock())),
    };
    this.playing.push(entry);
  }

  override clearBuffer(): void {
    const at = this.clock();
    for (const p of this.playing) {
      clearTimeout(p.timer);
      this.cut(p.seg, at);
      this.onPlaybackFinished({ playbackPosition: (p.seg.endMs - p.seg.startMs) / 1000, interrupted: true });
    }
    this.playing = [];
    if (this.current) {
      const { seg, chunks } = this.current;
      this.current = null;
      super.flush();
      seg.samples = concatSamples(chunks);
      this.cut(seg, at);
      this.onPlaybackFinished({ playbackPosition: (seg.endMs - seg.startMs) / 1000, interrupted: true });
    }
    this.lastEnd = at;
  }

  /** What played of a segment when it was cut at `at`: nothing of it after that moment. */
  private cut(seg: PlayedSegment, at: number): void {
    const playedMs = Math.max(0, Math.min(at, seg.startMs + (seg.samples.length / AGENT_RATE) * 1000) - seg.startMs);
    seg.samples = seg.samples.subarray(0, Math.round((playedMs * AGENT_RATE) / 1000));
    seg.endMs = seg.startMs + playedMs;
    seg.interrupted = true;
  }
}

