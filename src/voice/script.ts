/**
 * A voice call's script: what the caller says, as audio clips with their words.
 *
 *   { "lines": [ { "audio": "clip.wav", "words": "what is said in it", "pauseMs": 800, "bargeIn": true }, … ] }
 *
 * Paths are relative to the script file; clips are mono 16-bit PCM WAV at any sample rate (read at
 * 16 kHz, the line's rate). `pauseMs` is the wait before the line (default: until the agents have
 * answered and finished speaking, then 600 ms); `bargeIn` starts the line while an agent is talking
 * (`pauseMs` after its sound starts, default 400 ms). Everything is checked before any call starts: a
 * problem is a ScriptError naming the file, the line and what is wrong.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { CALLER_RATE } from './caller-audio.js';
import { firstChannel, parseWav, resample } from './wav.js';

export class ScriptError extends Error {}

const LineSchema = z
  .object({
    audio: z.string().min(1),
    words: z.string().trim().min(1),
    pauseMs: z.number().int().min(0).max(60_000).optional(),
    bargeIn: z.boolean().optional(),
  })
  .strict();
const ScriptSchema = z.object({ lines: z.array(LineSchema).min(1) }).passthrough();

export interface ScriptLine {
  /** The clip's path, as resolved. */
  audio: string;
  words: string;
  pauseMs?: number;
  bargeIn?: boolean;
  /** The clip at CALLER_RATE, mono. */
  samples: Int16Array;
}

export interface VoiceScript {
  path: string;
  lines: ScriptLine[];
}

function zodProblem(err: z.ZodError): string {
  const issue = err.issues[0]!;
  const where = issue.path.length ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '') : 'the file';
  return `${where}: ${issue.message}`;
}

/** Reads and checks a script and every clip it names. */
export function loadScript(path: string): VoiceScript {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ScriptError(`cannot read the script ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ScriptError(`the script ${path} is not JSON: ${(err as Error).message}`);
  }
  const parsed = ScriptSchema.safeParse(json);
  if (!parsed.success) throw new ScriptError(`the script ${path} is not a voice script: ${zodProblem(parsed.error)}`);
  const lines = parsed.data.lines.map((line, i) => {
    const audio = resolve(dirname(path), line.audio);
    return { ...line, audio, samples: readClip(audio, `lines[${i}]`) };
  });
  return { path, lines };
}

/** One clip, as the caller's line carries it (16 kHz mono). */
function readClip(path: string, where: string): Int16Array {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw new ScriptError(`${where}: cannot read the clip ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const pcm = parseWav(buf);
    const samples = resample(firstChannel(pcm), pcm.sampleRate, CALLER_RATE);
    if (samples.length < CALLER_RATE / 10) throw new Error('it holds less than 100 ms of audio');
    return samples;
  } catch (err) {
    throw new ScriptError(`${where}: the clip ${path} cannot be played: ${(err as Error).message}`);
  }
}
