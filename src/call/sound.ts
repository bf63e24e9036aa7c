/**
 * Sound as the caller hears it: where an utterance's sound starts and stops, by energy. A stretch of
 * 10 ms is sound when its level is at least −45 dBFS (speech engines' padding and a quiet line are
 * below it), so the silence measured at a seam is the silence in the ear, padding included.
 */

export const SOUND_THRESHOLD_DBFS = -45;
const FRAME_MS = 10;

/** The level of each 10 ms of `samples`, in dBFS (−Infinity for digital silence). */
export function levels(samples: Int16Array, sampleRate: number): number[] {
  const n = Math.round((sampleRate * FRAME_MS) / 1000);
  const out: number[] = [];
  for (let at = 0; at < samples.length; at += n) {
    const end = Math.min(samples.length, at + n);
    let sum = 0;
    for (let i = at; i < end; i++) sum += samples[i]! * samples[i]!;
    const rms = Math.sqrt(sum / Math.max(1, end - at));
    out.push(20 * Math.log10(rms / 32768));
  }
  return out;
}

/** Where sound starts and stops in `samples` (ms from their start), or null when there is none. */
export function soundBounds(
  samples: Int16Array,
  sampleRate: number,
  thresholdDb = SOUND_THRESHOLD_DBFS,
): { onsetMs: number; offsetMs: number } | null {
  const lv = levels(samples, sampleRate);
  const first = lv.findIndex((db) => db >= thresholdDb);
  if (first < 0) return null;
  let last = lv.length - 1;
  while (lv[last]! < thresholdDb) last--;
  const endMs = (samples.length / sampleRate) * 1000;
  return { onsetMs: first * FRAME_MS, offsetMs: Math.min(endMs, (last + 1) * FRAME_MS) };
}

/** The stretches of sound in `samples` (ms from their start), pauses shorter than `bridgeMs` bridged. */
export function soundSpans(samples: Int16Array, sampleRate: number, bridgeMs = 0): { startMs: number; endMs: number }[] {
  const lv = levels(samples, sampleRate);
  const spans: { startMs: number; endMs: number }[] = [];
  lv.forEach((db, i) => {
    if (db < SOUND_THRESHOLD_DBFS) return;
    const last = spans.at(-1);
    if (last && i * FRAME_MS - last.endMs <= bridgeMs) last.endMs = (i + 1) * FRAME_MS;
    else spans.push({ startMs: i * FRAME_MS, endMs: (i + 1) * FRAME_MS });
  });
  return spans;
}

/** Samples one after another, as one array. */
export function concatSamples(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
