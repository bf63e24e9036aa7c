/**
 * What the caller hears of the agents, on the line's own clock. The session's audio output reports when
 * each clip starts and stops playing; each clip's own frames (see `measureClip`) tell where its sound
 * lies inside it, padding and all. Together they give the moment each agent's sound starts and ends in
 * the caller's ear — what a transfer's silence is measured in (see `Line`).
 */
import { voice } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import type { TransformStream } from 'node:stream/web';
import { type ClipSound, measureClip, newClipSound } from './trim.js';

interface Clip<Owner> {
  owner: Owner;
  sound: ClipSound;
  /** When it started playing (epoch ms); null until then. */
  startedAt: number | null;
  told: boolean;
}

export class Earpiece<Owner> {
  /** Clips handed to the line, not yet playing, in order. */
  private handed: Clip<Owner>[] = [];
  private playing: Clip<Owner> | null = null;
  /** When the agents' last sound ended in the caller's ear (epoch ms; 0 before any). */
  lastSoundEndAt = 0;
  /** The first sound of the clip that finished last, until taken. */
  private finishedClipSoundAt: number | null = null;

  /** @param firstSound told once per clip: when its first sound reached the caller (epoch ms) */
  constructor(private readonly firstSound: (owner: Owner, at: number) => void) {}

  /** Follows an audio output's playback (the session's). */
  follow(output: voice.AudioOutput): void {
    output.on(voice.AudioOutput.EVENT_PLAYBACK_STARTED, ({ createdAt }: { createdAt: number }) => this.started(createdAt));
    output.on(voice.AudioOutput.EVENT_PLAYBACK_FINISHED, ({ playbackPosition }: { playbackPosition: number }) =>
      this.finished(playbackPosition * 1000),
    );
  }

  /** A transform an owner's clip passes through on its way to the line. */
  meter(owner: Owner): TransformStream<AudioFrame, AudioFrame> {
    const clip: Clip<Owner> = { owner, sound: newClipSound(), startedAt: null, told: false };
    return measureClip(clip.sound, {
      firstFrame: () => this.handed.push(clip),
      sound: () => this.tell(clip),
    });
  }

  private started(createdAt: number): void {
    const clip = this.handed.shift();
    if (!clip) return;
    clip.startedAt = createdAt;
    this.playing = clip;
    this.tell(clip);
  }

  private finished(playedMs: number): void {
    const clip = this.playing;
    this.playing = null;
    if (!clip || clip.startedAt === null || clip.sound.leadMs === null || playedMs <= clip.sound.leadMs) return;
    this.finishedClipSoundAt = clip.startedAt + clip.sound.leadMs;
    this.lastSoundEndAt = Math.max(this.lastSoundEndAt, clip.startedAt + Math.min(playedMs, clip.sound.soundEndMs));
  }

  /**
   * When the clip that finished last first sounded (epoch ms), once: an agent line is told after its clip
   * has played, so this is when the caller started to hear it. Null: no clip sounded since it was last taken.
   */
  takeFinishedClipSound(): number | null {
    const at = this.finishedClipSoundAt;
    this.finishedClipSoundAt = null;
    return at;
  }

  private tell(clip: Clip<Owner>): void {
    if (clip.told || clip.startedAt === null || clip.sound.leadMs === null) return;
    clip.told = true;
    this.firstSound(clip.owner, clip.startedAt + clip.sound.leadMs);
  }
}
