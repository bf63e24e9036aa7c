/**
 * The recordings directory as the worker keeps it (src/records/recordings.ts) and the recording's own
 * helpers (src/call/recording.ts): retention deletes only old recordings, a directory that cannot be
 * written is named before any call, the notice speaks the greeting's language, and a file's length is
 * read from the file itself.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFfmpegPath } from '@livekit/av';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RECORDING_NOTICES, oggOpusDurationMs, recordingFileName, recordingNotice } from '../src/call/recording.js';
import { recordingProblem, sweepRecordings } from '../src/records/recordings.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'switchboard-recs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const DAY = 86_400_000;
const now = Date.parse('2026-12-08T12:00:00Z');

/** A file last written `daysAgo` days before `now`. */
function file(name: string, daysAgo: number): void {
  writeFileSync(join(dir, name), 'x');
  const t = (now - daysAgo * DAY) / 1000;
  utimesSync(join(dir, name), t, t);
}

describe('retention (RECORDING_RETENTION_DAYS)', () => {
  it('deletes the recordings older than the days, and only recordings', () => {
    const old = recordingFileName(new Date(now - 40 * DAY));
    const recent = recordingFileName(new Date(now - 2 * DAY));
    file(old, 40);
    file(recent, 2);
    file('notes.txt', 40); // not a recording: never touched
    file('20261001T000000Z-deadbeef.ogg.part', 40);
    expect(sweepRecordings(dir, 30, now)).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(['20261001T000000Z-deadbeef.ogg.part', 'notes.txt', recent].sort());
  });

  it('keeps everything with 0, and a directory not made yet is nothing to sweep', () => {
    file(recordingFileName(new Date(now - 400 * DAY)), 400);
    expect(sweepRecordings(dir, 0, now)).toBe(0);
    expect(readdirSync(dir)).toHaveLength(1);
    expect(sweepRecordings(join(dir, 'none'), 30, now)).toBe(0);
  });
});

describe('before the first call (the worker and npm run voice)', () => {
  const settings = (over: object) => ({ RECORD_CALLS: 'on' as const, RECORDINGS_DIR: join(dir, 'recs'), RECORDING_RETENTION_DAYS: 30, ...over });

  it('makes RECORDINGS_DIR, or names it when it cannot be written', () => {
    expect(recordingProblem(settings({}))).toBeNull();
    expect(readdirSync(dir)).toEqual(['recs']);
    writeFileSync(join(dir, 'a-file'), '');
    expect(recordingProblem(settings({ RECORDINGS_DIR: join(dir, 'a-file', 'recs') }))).toMatch(/^RECORDINGS_DIR .*a-file\/recs cannot be written: ENOTDIR$/);
  });

  it('names an encoder that is not there, does not run, or has no Opus; and a RECORDINGS_DIR that is a file', () => {
    expect(recordingProblem(settings({}), { LIVEKIT_FFMPEG_PATH: join(dir, 'no-ffmpeg') })).toMatch(
      /^RECORD_CALLS=on needs ffmpeg: LIVEKIT_FFMPEG_PATH .*no-ffmpeg does not run \(ENOENT\)$/,
    );
    expect(recordingProblem(settings({}), { LIVEKIT_FFMPEG_PATH: '/bin/false' })).toBe('RECORD_CALLS=on needs ffmpeg: LIVEKIT_FFMPEG_PATH /bin/false does not run (exit 1)');
    expect(recordingProblem(settings({}), { LIVEKIT_FFMPEG_PATH: '/bin/true' })).toBe('RECORD_CALLS=on needs ffmpeg with Opus: LIVEKIT_FFMPEG_PATH /bin/true has no libopus encoder');
    writeFileSync(join(dir, 'a-file'), '');
    expect(recordingProblem(settings({ RECORDINGS_DIR: join(dir, 'a-file') }))).toMatch(/^RECORDINGS_DIR .*a-file is a file, not a folder$/);
  });

  it('has nothing to check when calls are not recorded', () => {
    writeFileSync(join(dir, 'a-file'), '');
    expect(recordingProblem(settings({ RECORD_CALLS: 'off', RECORDINGS_DIR: join(dir, 'a-file', 'x') }))).toBeNull();
  });
});

describe('the notice (RECORDING_NOTICE)', () => {
  it('on: in the greeting language (English when it has none of its own); off or empty: none; else as written', () => {
    expect(recordingNotice('on', 'hi')).toBe(RECORDING_NOTICES.hi);
    expect(recordingNotice('ON', 'hinglish')).toBe(RECORDING_NOTICES.hinglish);
    expect(recordingNotice('on', 'ta')).toBe(RECORDING_NOTICES.en);
    expect(recordingNotice('on', undefined)).toBe(RECORDING_NOTICES.en);
    expect(recordingNotice('off', 'en')).toBeNull();
    expect(recordingNotice('', 'en')).toBeNull();
    expect(recordingNotice(' Calls are recorded. ', 'hi')).toBe('Calls are recorded.');
    // A switch's words are never read to the caller.
    expect(recordingNotice('true', 'hi')).toBe(RECORDING_NOTICES.hi);
    expect(recordingNotice('Yes', 'en')).toBe(RECORDING_NOTICES.en);
    expect(recordingNotice('false', 'en')).toBeNull();
    expect(recordingNotice('0', 'en')).toBeNull();
  });
});

describe('the file', () => {
  it('is named by its start and a random part, never by the call', () => {
    const a = recordingFileName(new Date('2026-12-08T02:00:53.123Z'));
    expect(a).toMatch(/^20261208T020053Z-[0-9a-f]{8}\.ogg$/);
    expect(recordingFileName(new Date('2026-12-08T02:00:53.123Z'))).not.toBe(a);
  });

  it('has its length read from its last Ogg page (less the Opus pre-skip); a file of no audio has none', async () => {
    const ogg = join(dir, 'tone.ogg');
    const tone = new Int16Array(48_000 * 2.5 * 2).map((_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * Math.floor(i / 2)) / 48_000)));
    const pcm = Buffer.from(tone.buffer);
    execFileSync(getFfmpegPath()!, ['-v', 'error', '-f', 's16le', '-ar', '48000', '-ac', '2', '-i', '-', '-c:a', 'libopus', ogg], { input: pcm });
    expect(Math.abs((await oggOpusDurationMs(ogg))! - 2500)).toBeLessThanOrEqual(25);
    writeFileSync(join(dir, 'x.ogg'), 'not ogg at all');
    expect(await oggOpusDurationMs(join(dir, 'x.ogg'))).toBeNull();
  });
});
