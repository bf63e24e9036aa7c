/**
 * Renders the voice tests' caller lines (`test/voice/clips/lines.json`) to 16 kHz mono 16-bit WAV with
 * espeak-ng and sox, next to the list. Run once after changing the list and commit the WAVs: CI and
 * `npm test` read the committed files and need neither tool.
 *
 *   npx tsx dev/render-clips.ts            renders every line whose WAV is missing
 *   npx tsx dev/render-clips.ts --all      renders them all again
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Line {
  id: string;
  /** An espeak-ng voice: en-us, hi, … */
  voice: string;
  words: string;
}

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'voice', 'clips');
const { lines } = JSON.parse(readFileSync(join(dir, 'lines.json'), 'utf8')) as { lines: Line[] };
const all = process.argv.includes('--all');

for (const tool of ['espeak-ng', 'sox']) {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
  } catch {
    process.stderr.write(`render-clips: ${tool} is not installed (apt-get install espeak-ng sox)\n`);
    process.exit(2);
  }
}

for (const line of lines) {
  const out = join(dir, `${line.id}.wav`);
  if (existsSync(out) && !all) continue;
  const raw = `${out}.espeak.wav`;
  // 185 words a minute keeps the clips short; espeak writes 22.05 kHz, sox makes it 16 kHz mono s16.
  execFileSync('espeak-ng', ['-v', line.voice, '-s', '185', '-w', raw, line.words]);
  execFileSync('sox', [raw, '-r', '16000', '-c', '1', '-b', '16', out]);
  execFileSync('rm', [raw]);
  process.stdout.write(`${line.id}.wav  ${line.words}\n`);
}
