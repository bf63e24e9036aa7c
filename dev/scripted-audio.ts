/**
 * Scripted audio for the scripted server: speech it synthesises for `/audio/speech`, and a recogniser
 * for `/audio/transcriptions` that hears a voice-call script's caller clips only when their audio
 * arrives intact — so a cut, shifted-over or corrupted utterance reads back wrong, as it would from a
 * real speech-to-text model.
 */
import { type Pcm, firstChannel, resample } from '../src/voice/wav.js';

// ---- speech (TTS) ---------------------------------------------------------------------------------

/**
 * The silence real providers put around every clip. Measured and reported figures vary widely: a
 * natural end leaves 0.12–0.18 s of quiet (XTTS, tenstorrent/tt-metal#54408); Kokoro pads ~300 ms at
 * both ends (gptme/gptme#420); OpenAI's tts-1 adds trailing silence (FolhaSP/mosaico#94, not measured
 * there); Neuphonic starts every utterance with silence (aplisay/llm-agent#360); Azure leaves
 * 650–800 ms at the end (MicrosoftDocs/azure-docs#47344). 150 ms before and 200 ms after sits within
 * that range, and a seam between two clips then has ~350 ms of silence, as measured here with
 * espeak's padding (245–356 ms).
 */
export const TTS_PADDING = { leadMs: 150, trailMs: 200 } as const;

/** A conversational TTS voice speaks ~14 characters a second. */
const DEFAULT_MS_PER_CHAR = 70;
/** Speech level while voiced: −20 dBFS RMS (relative to a full-scale 16-bit sample). */
const SPEECH_RMS = 32768 * 10 ** (-20 / 20);
const SYLLABLE_MS = 200; // a syllable envelope of ~5 Hz
const HARMONICS = 8;
/** Pauses: a space counts as one character of silence, punctuation as three. */
const PAUSE_UNITS = { space: 1, punct: 3 } as const;
const PUNCT = /[,.?!।;:…]/u;

/**
 * The fundamental of each OpenAI voice: distinct, each ≥ 15 % from its neighbours (80 Hz × 1.15ⁿ,
 * rounded), low voices to high, so a recording tells which desk's voice is sounding.
 */
const VOICE_F0: Record<string, number> = {
  onyx: 80, ash: 92, echo: 106, fable: 122, verse: 141, ballad: 163,
  alloy: 188, sage: 217, coral: 250, nova: 288, shimmer: 332,
};

/** FNV-1a of a string: a stable seed. */
function hashOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** A small deterministic PRNG (mulberry32) giving numbers in [-1, 1). */
function noiseFrom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  };
}

/** The fundamental frequency (Hz) synthSpeech uses for a voice; unknown names hash into 90–260 Hz. */
export function pitchOf(voice: string): number {
  const known = VOICE_F0[voice.toLowerCase()];
  if (known !== undefined) return known;
  return Math.round(90 * (260 / 90) ** ((hashOf(voice) % 10_000) / 9_999));
}

interface Segment {
  voiced: boolean;
  units: number;
  /** The code points spoken in a voiced segment (they colour its syllables). */
  codes: number[];
}

/** The text as runs of voice and pauses, without pauses at either end (the padding is the silence there). */
function segmentsOf(text: string): Segment[] {
  const segs: Segment[] = [];
  for (const ch of text) {
    const kind = /\s/u.test(ch) ? 'space' : PUNCT.test(ch) ? 'punct' : 'voice';
    const voiced = kind === 'voice';
    const units = voiced ? 1 : PAUSE_UNITS[kind];
    const last = segs.at(-1);
    if (last && last.voiced === voiced) last.units += units;
    else segs.push({ voiced, units, codes: [] });
    if (voiced) segs.at(-1)!.codes.push(ch.codePointAt(0)!);
  }
  while (segs[0] && !segs[0].voiced) segs.shift();
  while (segs.at(-1) && !segs.at(-1)!.voiced) segs.pop();
  return segs.length ? segs : [{ voiced: true, units: 1, codes: [0x61] }];
}

/** Harmonic amplitudes of a syllable: a falling spectrum with one formant-like bump set by its letter. */
function timbreOf(code: number, f0: number): Float64Array {
  const formant = 350 + ((code * 37) % 2000);
  const amps = new Float64Array(HARMONICS + 1);
  for (let h = 1; h <= HARMONICS; h++) amps[h] = h ** -0.7 * (1 + 1.5 * Math.exp(-(((h * f0 - formant) / 300) ** 2)));
  return amps;
}

/** The voice as it goes through a clip: its pitch, the phase it has reached, its breath noise. */
interface Voicing {
  f0: number;
  phase: number;
  rate: number;
  noise: () => number;
  /** The clip's spoken length in samples (the pitch declines over it). */
  total: number;
}

/** Renders one voiced run into `out` from `start`: syllables of harmonics under a rise-and-fall envelope. */
function renderRun(out: Float64Array, start: number, length: number, codes: number[], ctx: Voicing): void {
  const f0 = ctx.f0;
  const syllables = Math.max(1, Math.round(((length / ctx.rate) * 1000) / SYLLABLE_MS));
  const sylLen = length / syllables;
  for (let s = 0; s < syllables; s++) {
    const amps = timbreOf(codes[Math.floor((s * codes.length) / syllables)]!, f0);
    const from = Math.round(s * sylLen);
    const to = Math.round((s + 1) * sylLen);
    for (let i = from; i < to; i++) {
      const t = start + i;
      // Declination (+4 % to −4 % over the clip) and a slight 5 Hz wobble: a voice, not a tone.
      const f = f0 * (1 + 0.04 * Math.cos((Math.PI * t) / ctx.total) + 0.01 * Math.sin((2 * Math.PI * 5.3 * t) / ctx.rate));
      ctx.phase += f / ctx.rate;
      const env = Math.sin((Math.PI * (i - from)) / (to - from)) ** 0.6;
      let v = 0;
      for (let h = 1; h <= HARMONICS; h++) v += amps[h]! * Math.sin(2 * Math.PI * h * ctx.phase);
      out[t] = env * (v + 0.15 * ctx.noise());
    }
  }
}

/**
 * Speech-like audio for `text`, deterministic: a voiced signal at the voice's pitch, syllables at
 * ~5 Hz, short pauses at spaces and longer ones at punctuation, −20 dBFS RMS while voiced. The spoken
 * part lasts `msPerChar` per code point (min 150 ms), with exact-zero padding of `leadMs` / `trailMs`.
 */
export function synthSpeech(
  text: string,
  opts: { voice?: string; sampleRate?: number; msPerChar?: number; leadMs?: number; trailMs?: number } = {},
): Int16Array {
  const rate = opts.sampleRate ?? 24_000;
  const f0 = pitchOf(opts.voice ?? 'alloy');
  const segs = segmentsOf(text);
  const spokenMs = Math.max(150, [...text].length * (opts.msPerChar ?? DEFAULT_MS_PER_CHAR));
  const spoken = Math.round((spokenMs * rate) / 1000);
  const lead = Math.round(((opts.leadMs ?? TTS_PADDING.leadMs) * rate) / 1000);
  const trail = Math.round(((opts.trailMs ?? TTS_PADDING.trailMs) * rate) / 1000);
  const wave = new Float64Array(spoken);
  const ctx: Voicing = { f0, phase: 0, rate, noise: noiseFrom(hashOf(`${opts.voice}|${text}`)), total: spoken };
  const totalUnits = segs.reduce((n, s) => n + s.units, 0);
  let units = 0;
  let voicedEnergy = 0;
  let voicedCount = 0;
  for (const seg of segs) {
    const from = Math.round((units / totalUnits) * spoken);
    units += seg.units;
    const to = Math.round((units / totalUnits) * spoken);
    if (!seg.voiced || to <= from) continue;
    renderRun(wave, from, to - from, seg.codes, ctx);
    for (let i = from; i < to; i++) voicedEnergy += wave[i]! ** 2;
    voicedCount += to - from;
  }
  const gain = SPEECH_RMS / Math.sqrt(voicedEnergy / Math.max(1, voicedCount) || 1);
  const out = new Int16Array(lead + spoken + trail);
  for (let i = 0; i < spoken; i++) out[lead + i] = Math.max(-32768, Math.min(32767, Math.round(wave[i]! * gain)));
  return out;
}

/** The normalised autocorrelation's pitch of one frame (Hz), or undefined when it is not voiced. */
function framePitch(x: Int16Array, start: number, n: number, rate: number): number | undefined {
  const minLag = Math.floor(rate / 400);
  const maxLag = Math.ceil(rate / 70);
  if (start + n + maxLag > x.length) return undefined;
  const r = new Float64Array(maxLag + 2);
  let e0 = 0;
  for (let i = 0; i < n; i++) e0 += x[start + i]! ** 2;
  if (e0 / n < (32768 * 10 ** (-45 / 20)) ** 2) return undefined;
  let best = 0;
  for (let lag = minLag; lag <= maxLag + 1; lag++) {
    let num = 0;
    let e1 = 0;
    for (let i = 0; i < n; i++) {
      const b = x[start + i + lag]!;
      num += x[start + i]! * b;
      e1 += b * b;
    }
    r[lag] = e1 > 0 ? num / Math.sqrt(e0 * e1) : 0;
    if (lag <= maxLag) best = Math.max(best, r[lag]!);
  }
  if (best < 0.6) return undefined;
  // The shortest period that is nearly as good as the best: no sub-octave errors.
  for (let lag = minLag + 1; lag <= maxLag; lag++) {
    if (r[lag]! >= 0.9 * best && r[lag]! >= r[lag - 1]! && r[lag]! >= r[lag + 1]!) {
      const a = r[lag - 1]!;
      const c = r[lag + 1]!;
      const shift = (a - c) / (2 * (a - 2 * r[lag]! + c) || 1);
      return rate / (lag + shift);
    }
  }
  return undefined;
}

/** The median fundamental (Hz, 70–400) over the voiced frames of a recording; undefined for silence. */
export function estimatePitch(samples: Int16Array, sampleRate: number): number | undefined {
  const n = Math.round(sampleRate * 0.04);
  const hop = Math.max(Math.round(sampleRate * 0.02), Math.floor(samples.length / 120));
  const found: number[] = [];
  for (let at = 0; at + n < samples.length; at += hop) {
    const f = framePitch(samples, at, n, sampleRate);
    if (f !== undefined) found.push(f);
  }
  if (!found.length) return undefined;
  found.sort((a, b) => a - b);
  return found[Math.floor(found.length / 2)];
}

// ---- recognition (STT) ----------------------------------------------------------------------------

/** A caller clip of a voice-call script: its audio (mono) and the words spoken in it. */
export interface Clip {
  words: string;
  samples: Int16Array;
  sampleRate: number;
}

/** One clip found in an utterance: the words heard of it, where it starts, and how much of it arrived. */
export interface HeardClip {
  words: string;
  /** Where the clip's first sample sits in the received audio (negative: it began before the utterance). */
  offsetMs: number;
  /** The fraction of the clip's voiced windows that arrived as spoken. */
  intact: number;
}

const FRAME_MS = 10; // energy envelope frames, for the coarse alignment
const WINDOW_MS = 40; // the windows a clip is heard by
const VOICED_DBFS = -45;
const MATCH = 0.9; // normalised correlation for a window to count as heard
const WHOLE = 0.97; // this much heard: the clip's words exactly
const PARTIAL = 0.3; // this much heard: the words whose windows arrived; below, nothing
const WORD_HEARD = 1; // a word is heard only when every window of it arrived
const SEARCH_MS = 20; // refinement around the coarse alignment
const CANDIDATES = 4; // coarse alignments tried per clip, at most
const COARSE_MIN = 0.3; // envelope match below which an alignment is not tried
const GATE = 0.4; // correlation at the pyramid's coarsest level below which it is not refined
const DECIMATE = 4; // each level of the alignment pyramid has a quarter of the samples of the one below
const LEVELS = 3; // full rate, ÷4, ÷16 (1 kHz for 16 kHz audio)
const GATE_ANCHORS = 32; // windows the quick look at the coarsest level compares
const ANCHORS = 4; // windows the refinement aligns on

/** Samples and the running sum of their squares (energy[i] = Σ x[0..i)²). */
interface Level {
  x: Float64Array;
  energy: Float64Array;
}

function levelOf(x: Float64Array): Level {
  const energy = new Float64Array(x.length + 1);
  for (let i = 0; i < x.length; i++) energy[i + 1] = energy[i]! + x[i]! * x[i]!;
  return { x, energy };
}

/**
 * The next level down the pyramid: every DECIMATE-th sample of a running sum over 2·DECIMATE samples
 * centred on it (a box filter whose first null is the new rate's Nyquist frequency: little aliasing).
 */
function decimated({ x }: Level): Level {
  const out = new Float64Array(Math.floor(x.length / DECIMATE));
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    for (let k = i * DECIMATE - DECIMATE / 2; k < i * DECIMATE + (3 * DECIMATE) / 2; k++) s += x[k] ?? 0;
    out[i] = s;
  }
  return levelOf(out);
}

/**
 * The audio in the forms the search needs: the pyramid (levels[0] at full rate), an energy envelope of
 * `frame`-sample frames (level above −60 dBFS, 0 to 1), and the envelope's running sum of squares.
 */
interface Signal {
  levels: Level[];
  env: Float64Array;
  envEnergy: Float64Array;
  frame: number;
}

function signalOf(samples: Int16Array, rate: number): Signal {
  const levels = [levelOf(Float64Array.from(samples))];
  while (levels.length < LEVELS) levels.push(decimated(levels.at(-1)!));
  const { energy } = levels[0]!;
  const frame = Math.max(1, Math.round((rate * FRAME_MS) / 1000));
  const env = new Float64Array(Math.floor(samples.length / frame));
  const envEnergy = new Float64Array(env.length + 1);
  for (let f = 0; f < env.length; f++) {
    const db = 10 * Math.log10((energy[(f + 1) * frame]! - energy[f * frame]!) / frame / 32768 ** 2 + 1e-12);
    env[f] = Math.max(0, db + 60) / 60;
    envEnergy[f + 1] = envEnergy[f]! + env[f]! * env[f]!;
  }
  return { levels, env, envEnergy, frame };
}

const windowEnergy = (s: Signal, from: number, n: number) => s.levels[0]!.energy[from + n]! - s.levels[0]!.energy[from]!;

interface Prepared {
  clip: Clip;
  sig: Signal;
  win: number;
  /** Start sample of each voiced window, in time order. */
  windows: number[];
  /** Each word and the range of voiced windows it is spoken in. */
  spans: { word: string; from: number; to: number }[];
}

/** Spreads the words over the voiced windows in proportion to their character counts. */
function wordSpans(words: string, count: number): Prepared['spans'] {
  const tokens = words.split(/\s+/u).filter(Boolean);
  const lengths = tokens.map((t) => [...t].length);
  const total = lengths.reduce((a, b) => a + b, 0) || 1;
  let before = 0;
  return tokens.map((word, i) => {
    const from = Math.min(count - 1, Math.floor((before / total) * count));
    before += lengths[i]!;
    return { word, from: Math.max(0, from), to: Math.max(from + 1, Math.round((before / total) * count)) };
  });
}

function prepare(clip: Clip): Prepared {
  const mono = clip.samples;
  const sig = signalOf(mono, clip.sampleRate);
  const win = Math.round((clip.sampleRate * WINDOW_MS) / 1000);
  const floor = win * (32768 * 10 ** (VOICED_DBFS / 20)) ** 2;
  const windows: number[] = [];
  for (let at = 0; at + win <= mono.length; at += win) if (windowEnergy(sig, at, win) >= floor) windows.push(at);
  return { clip, sig, win, windows, spans: wordSpans(clip.words, windows.length) };
}

const MIN_OVERLAP_FRAMES = 8;
const PEAK_SPACING_FRAMES = 10;

/**
 * How well the clip's envelope matches the received one at each lag (the received frame the clip
 * starts at, from `first`): their cosine over the overlap, scaled by the whole clip's envelope, so a
 * clip only partly inside the utterance scores less.
 */
function envelopeScores(p: Prepared, recv: Signal): { first: number; scores: Float64Array } {
  const c = p.sig.env;
  const r = recv.env;
  const rr = recv.envEnergy;
  const clipEnergy = p.sig.envEnergy[c.length]!;
  const first = -(c.length - MIN_OVERLAP_FRAMES);
  const scores = new Float64Array(Math.max(0, r.length - MIN_OVERLAP_FRAMES - first + 1));
  for (let k = 0; k < scores.length; k++) {
    const lag = first + k;
    const j0 = Math.max(0, -lag);
    const j1 = Math.min(c.length, r.length - lag);
    let dot = 0;
    for (let j = j0; j < j1; j++) dot += c[j]! * r[lag + j]!;
    const den = Math.sqrt(clipEnergy * (rr[lag + j1]! - rr[lag + j0]!));
    scores[k] = den > 0 ? dot / den : 0;
  }
  return { first, scores };
}

/** The clip's best few alignments (in envelope frames): peaks of the envelope match, well apart. */
function coarseLags(p: Prepared, recv: Signal): number[] {
  const { first, scores } = envelopeScores(p, recv);
  const peaks: number[] = [];
  for (let k = 0; k < scores.length; k++) {
    const s = scores[k]!;
    if (s >= COARSE_MIN && s >= (scores[k - 1] ?? 0) && s >= (scores[k + 1] ?? 0)) peaks.push(k);
  }
  peaks.sort((a, b) => scores[b]! - scores[a]!);
  const chosen: number[] = [];
  for (const k of peaks) {
    if (chosen.length >= CANDIDATES) break;
    if (chosen.every((q) => Math.abs(q - k) >= PEAK_SPACING_FRAMES)) chosen.push(k);
  }
  return chosen.map((k) => first + k);
}

/** Normalised correlation of the clip's anchor windows (`n` samples from each start) with `b` at one offset. */
function anchorScore(a: Level, starts: number[], n: number, b: Level, offset: number): number {
  let num = 0;
  let ea = 0;
  let eb = 0;
  for (let j = 0; j < starts.length; j++) {
    const w = starts[j]!;
    const at = w + offset;
    if (at < 0 || at + n > b.x.length) return -1;
    let dot = 0;
    for (let i = 0; i < n; i++) dot += a.x[w + i]! * b.x[at + i]!;
    num += dot;
    ea += a.energy[w + n]! - a.energy[w]!;
    eb += b.energy[at + n]! - b.energy[at]!;
  }
  return ea > 0 && eb > 0 ? num / Math.sqrt(ea * eb) : -1;
}

/** Scores of the offsets `from`..`to` (in the level's samples) of the anchors at one pyramid level. */
function scoresAt(p: Prepared, recv: Signal, anchors: number[], level: number, from: number, to: number): Float64Array {
  const scale = DECIMATE ** level;
  const starts = anchors.map((w) => Math.floor(w / scale));
  const out = new Float64Array(to - from + 1);
  for (let off = from; off <= to; off++) {
    out[off - from] = anchorScore(p.sig.levels[level]!, starts, Math.floor(p.win / scale), recv.levels[level]!, off);
  }
  return out;
}

/** The best of the offsets `from`..`to` (in full-rate samples) at one pyramid level. */
function bestAt(p: Prepared, recv: Signal, anchors: number[], level: number, from: number, to: number) {
  const scale = DECIMATE ** level;
  const lo = Math.floor(from / scale);
  const scores = scoresAt(p, recv, anchors, level, lo, Math.ceil(to / scale));
  const k = scores.indexOf(Math.max(...scores));
  return { score: scores[k]!, offset: (lo + k) * scale };
}

/**
 * The exact sample offset of the clip near a coarse one, aligned on a handful of its voiced windows.
 * A quick look at the pyramid's coarsest level drops an alignment with nothing like the clip there;
 * otherwise the best match over ±20 ms at a quarter of the rate, then within a few samples at full rate.
 */
function refine(p: Prepared, recv: Signal, coarse: number): number | undefined {
  const search = Math.round((p.clip.sampleRate * SEARCH_MS) / 1000);
  const length = recv.levels[0]!.x.length;
  const inside = p.windows.filter((w) => coarse + w - search >= 0 && coarse + w + p.win + search <= length);
  if (!inside.length) return undefined;
  const spread = (most: number) => {
    const count = Math.min(most, inside.length);
    return Array.from({ length: count }, (_, k) => inside[Math.floor(((k + 0.5) * inside.length) / count)]!);
  };
  if (bestAt(p, recv, spread(GATE_ANCHORS), LEVELS - 1, coarse - search, coarse + search).score < GATE) return undefined;
  const anchors = spread(ANCHORS);
  const rough = bestAt(p, recv, anchors, 1, coarse - search, coarse + search); // ±1 sample there is ±4 here
  const exact = bestAt(p, recv, anchors, 0, rough.offset - 6, rough.offset + 6);
  return exact.score > 0 ? exact.offset : undefined;
}

/** Which of the clip's voiced windows arrived, sample for sample, with the clip at `offset`. */
function heardWindows(p: Prepared, recv: Signal, offset: number): boolean[] {
  return p.windows.map((w) => {
    const at = w + offset;
    if (at < 0 || at + p.win > recv.levels[0]!.x.length) return false;
    const [a, b] = [p.sig.levels[0]!.x, recv.levels[0]!.x];
    let num = 0;
    for (let i = 0; i < p.win; i++) num += a[w + i]! * b[at + i]!;
    const den = Math.sqrt(windowEnergy(p.sig, w, p.win) * windowEnergy(recv, at, p.win));
    return den > 0 && num / den >= MATCH;
  });
}

/** The words a real recogniser would make of what arrived: all, those whose windows arrived, or none. */
function wordsHeard(p: Prepared, heard: boolean[], intact: number): string {
  if (intact >= WHOLE) return p.clip.words;
  if (intact < PARTIAL) return '';
  return p.spans
    .filter(({ from, to }) => heard.slice(from, to).filter(Boolean).length >= WORD_HEARD * (to - from))
    .map((s) => s.word)
    .join(' ');
}

/**
 * A recogniser that knows a script's caller clips and hears one only as far as its audio arrives
 * intact: found by envelope cross-correlation, aligned to the sample, then checked window by window.
 * A whole clip reads back as its words, a partly heard one as the words that arrived, anything else
 * (noise, an agent's voice, a clip too damaged) as nothing.
 */
export class ClipRecogniser {
  readonly #clips: Prepared[];

  constructor(clips: Clip[]) {
    this.#clips = clips.map(prepare).filter((p) => p.windows.length > 0);
  }

  recognise(audio: Pcm): { text: string; heard: HeardClip[] } {
    const mono = firstChannel(audio);
    const atRate = new Map<number, Signal>(); // the received audio at each clip rate
    const heard: HeardClip[] = [];
    for (const p of this.#clips) {
      const rate = p.clip.sampleRate;
      if (!atRate.has(rate)) atRate.set(rate, signalOf(resample(mono, audio.sampleRate, rate), rate));
      heard.push(...this.#occurrences(p, atRate.get(rate)!));
    }
    heard.sort((a, b) => a.offsetMs - b.offsetMs);
    return { text: heard.map((h) => h.words).filter(Boolean).join(' '), heard };
  }

  /** Every place the clip was heard in the received audio (at least PARTIAL of it). */
  #occurrences(p: Prepared, recv: Signal): HeardClip[] {
    const found: HeardClip[] = [];
    const offsets: number[] = [];
    for (const lag of coarseLags(p, recv)) {
      const offset = refine(p, recv, lag * recv.frame);
      if (offset === undefined || offsets.some((o) => Math.abs(o - offset) < p.win)) continue;
      offsets.push(offset);
      const windows = heardWindows(p, recv, offset);
      const intact = windows.filter(Boolean).length / windows.length;
      if (intact < PARTIAL) continue;
      found.push({ words: wordsHeard(p, windows, intact), offsetMs: (offset * 1000) / p.clip.sampleRate, intact });
    }
    return found;
  }
}
