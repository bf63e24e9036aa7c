/**
 * A call's recording, made in process (RECORD_CALLS=on): no egress service, nothing leaves the machine.
 *
 * The recorder is LiveKit's own `RecorderIO` — what an `AgentSession` uses under a job with recording on:
 * it taps the session's audio input (the caller) and output (the agents, placed where they played, cut
 * where the caller barged in) and streams them through the ffmpeg that `@livekit/av` bundles into one
 * Ogg/Opus file, 48 kHz stereo, the caller on the left and the agents on the right. The package does not
 * export it, so it is loaded from the package's own files (wrap, don't fork).
 *
 * The session's audio is tapped where it is set: the worker's room (LiveKit's RoomIO sets the session's
 * input and output inside `session.start`) and the voice loop (it sets its caller and earpiece before) go
 * through the same setters, so both record the same way, from the first frame of the greeting.
 */
import { statSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import type { voice } from '@livekit/agents';
import type { RecordingInfo } from './events.js';

interface RecorderIO {
  recordInput(input: voice.AudioInput): voice.AudioInput;
  recordOutput(output: voice.AudioOutput): voice.AudioOutput;
  start(path: string): Promise<void>;
  close(): Promise<void>;
  readonly recordingStartedAt: number | undefined;
}
type RecorderIOClass = new (o: { agentSession: object; sampleRate?: number }) => RecorderIO;

const agentsDist = dirname(createRequire(import.meta.url).resolve('@livekit/agents'));
const { RecorderIO } = (await import(pathToFileURL(join(agentsDist, 'voice', 'recorder_io', 'index.js')).href)) as {
  RecorderIO: RecorderIOClass;
};

export const RECORDING_FORMAT = 'audio/ogg; codecs=opus' as const;
/** The channels, left to right. */
export const RECORDING_CHANNELS: RecordingInfo['channels'] = ['caller', 'agents'];

/**
 * A recording's file name: when it started and a random part — never the call id, which may carry the
 * caller's number (a SIP dispatch rule's room name). The records name the file of each call.
 */
export function recordingFileName(at = new Date()): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomUUID().slice(0, 8)}.ogg`;
}

/** The notice said before the greeting when RECORDING_NOTICE=on, in the greeting's language. */
export const RECORDING_NOTICES: Readonly<Record<string, string>> = {
  en: 'This call is recorded for quality and training.',
  hi: 'गुणवत्ता और प्रशिक्षण के लिए यह कॉल रिकॉर्ड की जा रही है।',
  hinglish: 'Yeh call quality aur training ke liye record ki ja rahi hai.',
};

/** RECORDING_NOTICE's words for a call greeted in `language`: null for `off` (or nothing). */
export function recordingNotice(setting: string | undefined, language: string | undefined): string | null {
  const v = setting?.trim() ?? '';
  // The words a switch is set with are never read to a caller: `true` is `on`, `false` is `off`.
  if (!v || ['off', 'false', 'no', '0'].includes(v.toLowerCase())) return null;
  if (['on', 'true', 'yes', '1'].includes(v.toLowerCase())) return RECORDING_NOTICES[language ?? 'en'] ?? RECORDING_NOTICES.en!;
  return v;
}

/** What a recording could not do, said once on the call (it never stops the call). */
export type RecordingProblem = (message: string) => void;

export class CallRecording {
  private readonly recorder: RecorderIO;
  private input: voice.AudioInput | null = null;
  private output: voice.AudioOutput | null = null;
  private started: Promise<void> | null = null;
  readonly file: string;
  readonly path: string;

  /** Taps `session`'s audio as it is set; the recording starts once both its ends are there. */
  constructor(
    session: { readonly input: object; readonly output: object },
    private readonly dir: string,
    private readonly problem: RecordingProblem,
  ) {
    this.recorder = new RecorderIO({ agentSession: session });
    this.file = recordingFileName();
    this.path = join(dir, this.file);
    tapSetter(session.input, (input: voice.AudioInput) => {
      if (this.input) return input; // the recorder has one caller end
      this.input = this.recorder.recordInput(input);
      this.startWhenReady();
      return this.input;
    });
    tapSetter(session.output, (output: voice.AudioOutput) => {
      if (this.output) return output;
      this.output = this.recorder.recordOutput(output);
      this.startWhenReady();
      return this.output;
    });
  }

  private startWhenReady(): void {
    if (!this.input || !this.output || this.started) return;
    this.started = mkdir(this.dir, { recursive: true })
      .then(() => this.recorder.start(this.path))
      .catch((err) => this.problem(`the call is not recorded: ${(err as Error).message}`));
  }

  /**
   * Finishes the file (what is still playing is waited for, at most 2 s) and tells what was recorded;
   * null when nothing was (no audio on this call, or the recording failed — said on the call).
   */
  async close(): Promise<RecordingInfo | null> {
    if (!this.started) return null;
    await this.started;
    const startedAt = this.recorder.recordingStartedAt;
    try {
      await this.recorder.close();
    } catch (err) {
      this.problem(`the recording could not be finished: ${(err as Error).message}`);
      return null;
    }
    if (startedAt === undefined) return null;
    try {
      const bytes = statSync(this.path).size;
      const durationMs = await oggOpusDurationMs(this.path);
      if (durationMs === null) throw new Error('the file holds no audio');
      return { file: this.file, format: RECORDING_FORMAT, channels: RECORDING_CHANNELS, startedAt, durationMs, bytes };
    } catch (err) {
      this.problem(`the recording ${this.path} was not written: ${(err as Error).message}`);
      return null;
    }
  }
}

/**
 * Has every value set on `holder.audio` pass through `wrap` first (the session's input and output keep
 * their own setter, which attaches what it is given).
 */
function tapSetter<T>(holder: object, wrap: (value: T) => T): void {
  let proto = Object.getPrototypeOf(holder);
  let desc: PropertyDescriptor | undefined;
  while (proto && !(desc = Object.getOwnPropertyDescriptor(proto, 'audio'))) proto = Object.getPrototypeOf(proto);
  if (!desc?.get || !desc.set) throw new Error('the session has no audio to record');
  const { get, set } = desc;
  Object.defineProperty(holder, 'audio', {
    configurable: true,
    enumerable: true,
    get() {
      return get.call(holder);
    },
    set(value: T | null) {
      set.call(holder, value ? wrap(value) : value);
    },
  });
}

/**
 * An Ogg/Opus file's length: its last page's granule position (48 kHz samples) less the pre-skip the
 * Opus header declares. Null when the file holds no audio page.
 */
export async function oggOpusDurationMs(path: string): Promise<number | null> {
  const f = await open(path, 'r');
  try {
    const { size } = await f.stat();
    const head = Buffer.alloc(Math.min(size, 64));
    await f.read(head, 0, head.length, 0);
    const opusHead = head.indexOf('OpusHead');
    if (head.toString('ascii', 0, 4) !== 'OggS' || opusHead < 0) return null;
    const preSkip = head.readUInt16LE(opusHead + 10);
    const tailLen = Math.min(size, 65_536);
    const tail = Buffer.alloc(tailLen);
    await f.read(tail, 0, tailLen, size - tailLen);
    const last = tail.lastIndexOf('OggS');
    if (last < 0 || last + 14 > tail.length) return null;
    const granule = Number(tail.readBigUInt64LE(last + 6));
    if (granule <= preSkip) return null;
    return Math.round(((granule - preSkip) / 48_000) * 1000);
  } finally {
    await f.close();
  }
}
