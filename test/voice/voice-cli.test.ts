/**
 * `npm run voice` as a user runs it: `tsx src/cli/voice.ts` as a process with a clean environment.
 * A bad script, clip or option is one line and exit 2 before any call; with no model configured, a whole
 * call plays against its own scripted server and prints what chat --json prints, then writes call.wav,
 * timeline.json and timeline.svg.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWav } from '../../src/voice/wav.js';
import { CLIPS_DIR } from './clips.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-voice-'));
  writeFileSync(join(tmp, 'empty.env'), '');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function voice(args: string[], timeoutMs = 60_000, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(TSX, ['src/cli/voice.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ENV_FILE: join(tmp, 'empty.env'), CALLS_DB: 'off', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

/** A script file in the temp dir, its clips copied next to it. */
function script(name: string, body: unknown): string {
  const path = join(tmp, name);
  writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body));
  return path;
}

// Each test starts `npm run voice` two or three times; on a loaded 2-core CI machine one start (tsx, LiveKit,
// the local inference runtime) can take over 10 s, so these get 120 s, not the default 30 s.
describe.concurrent('npm run voice: what is wrong is said before any call', { timeout: 120_000 }, () => {
  const oneLine = (r: { code: number | null; stdout: string; stderr: string }, pattern: RegExp) => {
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toMatch(pattern);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  };

  it('an unknown option, or no --script', async () => {
    oneLine(await voice(['--script', 'x.json', '--loud']), /^voice: unknown option --loud$/);
    oneLine(await voice([]), /^voice: --script FILE is required$/);
  });

  it('a script that is not there, not JSON, or not a voice script', async () => {
    oneLine(await voice(['--script', join(tmp, 'none.json')]), /^voice: cannot read the script .*none\.json: ENOENT$/);
    oneLine(await voice(['--script', script('bad.json', '{"lines": [')]), /^voice: the script .*bad\.json is not JSON/);
    oneLine(await voice(['--script', script('words.json', { lines: [{ audio: 'a.wav' }] })]), /^voice: the script .*words\.json is not a voice script: lines\[0\]\.words: Required$/);
  });

  it('RECORD_CALLS=on with a RECORDINGS_DIR that cannot be written is named, before the call', async () => {
    copyFileSync(join(CLIPS_DIR, 'en-goodbye.wav'), join(tmp, 'bye.wav'));
    const path = script('bye-rec.json', { lines: [{ audio: 'bye.wav', words: 'Thank you, that is all, goodbye' }] });
    writeFileSync(join(tmp, 'not-a-dir'), '');
    oneLine(
      await voice(['--script', path], 60_000, { RECORD_CALLS: 'on', RECORDINGS_DIR: join(tmp, 'not-a-dir', 'recs') }),
      /^voice: RECORDINGS_DIR .*not-a-dir\/recs cannot be written: ENOTDIR$/,
    );
  });

  it('a configured model server that is not there is named, before the call', async () => {
    copyFileSync(join(CLIPS_DIR, 'en-goodbye.wav'), join(tmp, 'bye.wav'));
    const path = script('bye.json', { lines: [{ audio: 'bye.wav', words: 'Thank you, that is all, goodbye' }] });
    oneLine(
      await voice(['--script', path], 20_000, { OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' }),
      /^voice: could not reach the model server at http:\/\/127\.0\.0\.1:9\/v1 \(.+\): check OPENAI_BASE_URL$/,
    );
  });

  it('a clip that is missing or not 16-bit PCM WAV names the line and the file', async () => {
    oneLine(
      await voice(['--script', script('missing.json', { lines: [{ audio: 'nowhere.wav', words: 'hello' }] })]),
      /^voice: lines\[0\]: cannot read the clip .*nowhere\.wav: ENOENT$/,
    );
    writeFileSync(join(tmp, 'text.wav'), 'not audio at all');
    oneLine(
      await voice(['--script', script('notwav.json', { lines: [{ audio: 'text.wav', words: 'hello' }] })]),
      /^voice: lines\[0\]: the clip .*text\.wav cannot be played: not a WAV file/,
    );
  });
});

describe('npm run voice: a whole call', () => {
  it('with no model configured: chat --json lines (the caller as heard), then call.wav, timeline.json and timeline.svg', async () => {
    for (const clip of ['hinglish-charged.wav', 'hinglish-goodbye.wav']) copyFileSync(join(CLIPS_DIR, clip), join(tmp, clip));
    const path = script('call.json', {
      lines: [
        { audio: 'hinglish-charged.wav', words: 'mera bill do baar kat gaya hai' },
        { audio: 'hinglish-goodbye.wav', words: 'bas itna hi, shukriya' },
      ],
    });
    const out = join(tmp, 'out');
    const r = await voice(['--script', path, '--out', out, '--json'], 120_000);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; text?: string; to?: string; state?: string });
    expect(lines.filter((l) => l.type === 'user').map((l) => l.text)).toEqual(['mera bill do baar kat gaya hai', 'bas itna hi, shukriya']);
    expect(lines.filter((l) => l.type === 'handoff').map((l) => l.to)).toEqual(['billing']);
    expect(lines.at(-1)).toMatchObject({ type: 'end', state: 'ended' });
    const wav = parseWav(readFileSync(join(out, 'call.wav')));
    expect(wav.channels).toBe(2);
    const timeline = JSON.parse(readFileSync(join(out, 'timeline.json'), 'utf8')) as { durationMs: number; transfers: { to: string; silenceMs: number }[] };
    expect(Math.abs(wav.samples.length / 2 / wav.sampleRate - timeline.durationMs / 1000)).toBeLessThan(0.1);
    expect(timeline.transfers).toEqual([expect.objectContaining({ to: 'billing', silenceMs: expect.any(Number) })]);
    expect(existsSync(join(out, 'timeline.svg'))).toBe(true);
  }, 150_000);
});
