/** The committed caller clips of the voice tests (`test/voice/clips/`, rendered by dev/render-clips.ts). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstChannel, parseWav } from '../../src/voice/wav.js';

export const CLIPS_DIR = fileURLToPath(new URL('./clips/', import.meta.url));

export interface ClipFile {
  id: string;
  words: string;
  samples: Int16Array;
  sampleRate: number;
}

const lines = JSON.parse(readFileSync(join(CLIPS_DIR, 'lines.json'), 'utf8')) as { lines: { id: string; words: string }[] };

/** One committed clip by id ("en-goodbye"): its samples (16 kHz mono) and its words. */
export function clip(id: string): ClipFile {
  const line = lines.lines.find((l) => l.id === id);
  if (!line) throw new Error(`no clip ${id} in lines.json`);
  const pcm = parseWav(readFileSync(join(CLIPS_DIR, `${id}.wav`)));
  return { id, words: line.words, samples: firstChannel(pcm), sampleRate: pcm.sampleRate };
}

/** A clip's samples between its first and last sound (espeak leaves a little silence at both ends). */
export function spokenPart(samples: Int16Array): Int16Array {
  let a = 0;
  let b = samples.length;
  while (a < b && Math.abs(samples[a]!) < 300) a++;
  while (b > a && Math.abs(samples[b - 1]!) < 300) b--;
  return samples.subarray(a, b);
}
