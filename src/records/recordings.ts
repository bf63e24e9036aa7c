/**
 * The recordings directory (RECORDINGS_DIR) as the worker keeps it: checked before the first call (the
 * encoder is there, the directory can be written), and swept of recordings older than
 * RECORDING_RETENTION_DAYS at start and every hour. The calls themselves write the files
 * (src/call/recording.ts); the records name them.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { getFfmpegPath } from '@livekit/av';
import type { Settings } from '../config.js';

type RecordingSettings = Pick<Settings, 'RECORD_CALLS' | 'RECORDINGS_DIR' | 'RECORDING_RETENTION_DAYS'>;

const DAY_MS = 86_400_000;
const SWEEP_EVERY_MS = 3_600_000;
/** Only what a call wrote is ever deleted (src/call/recording.ts names them so). */
const RECORDING_FILE = /^\d{8}T\d{6}Z-[0-9a-f]{8}\.ogg$/;

/** Why calls cannot be recorded as set (one line), or null. */
export function recordingProblem(s: RecordingSettings, env: NodeJS.ProcessEnv = process.env): string | null {
  if (s.RECORD_CALLS !== 'on') return null;
  const given = env.LIVEKIT_FFMPEG_PATH?.trim();
  const ffmpeg = given || getFfmpegPath();
  if (!ffmpeg) {
    return 'RECORD_CALLS=on needs ffmpeg: @livekit/av has no build for this platform; install ffmpeg and set LIVEKIT_FFMPEG_PATH';
  }
  // The encoder LiveKit's recorder will run: there, runnable, and with Opus in it.
  const found = spawnSync(ffmpeg, ['-hide_banner', '-encoders'], { encoding: 'utf8', timeout: 10_000 });
  const where = given ? `LIVEKIT_FFMPEG_PATH ${ffmpeg}` : `the ffmpeg of @livekit/av (${ffmpeg})`;
  if (found.error || found.status !== 0) {
    return `RECORD_CALLS=on needs ffmpeg: ${where} does not run (${(found.error as NodeJS.ErrnoException | undefined)?.code ?? `exit ${found.status}`})`;
  }
  if (!/\blibopus\b/.test(found.stdout)) return `RECORD_CALLS=on needs ffmpeg with Opus: ${where} has no libopus encoder`;
  const dir = resolve(s.RECORDINGS_DIR);
  try {
    mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) return `RECORDINGS_DIR ${dir} is a file, not a folder`;
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return `RECORDINGS_DIR ${dir} is a file, not a folder`;
    return `RECORDINGS_DIR ${dir} cannot be written: ${code ?? (err as Error).message}`;
  }
  return null;
}

/** Deletes the recordings in `dir` last written more than `days` ago; how many it deleted. */
export function sweepRecordings(dir: string, days: number, now = Date.now()): number {
  if (days <= 0) return 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0; // nothing recorded yet
  }
  let deleted = 0;
  for (const name of names) {
    if (!RECORDING_FILE.test(name)) continue;
    const path = join(dir, name);
    try {
      if (now - statSync(path).mtimeMs <= days * DAY_MS) continue;
      rmSync(path);
      deleted++;
    } catch {
      /* gone meanwhile, or not ours to delete */
    }
  }
  return deleted;
}

/** Sweeps now and every hour (the timer never keeps the process alive); returns the stop. */
export function keepRecordings(s: RecordingSettings, say: (line: string) => void): () => void {
  const dir = resolve(s.RECORDINGS_DIR);
  const sweep = () => {
    const n = sweepRecordings(dir, s.RECORDING_RETENTION_DAYS);
    const days = s.RECORDING_RETENTION_DAYS;
    if (n) say(`recordings: deleted ${n} older than ${days} day${days === 1 ? '' : 's'} (by when each was last written) from ${dir}`);
  };
  sweep();
  const timer = setInterval(sweep, SWEEP_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
