/**
 * The scripted server's speech (dev/scripted-audio.ts): its recogniser hears a caller clip only when the
 * clip's audio arrives intact, as a real speech-to-text model would — a cut or overwritten utterance
 * reads back wrong, noise and an agent's voice read back as nothing — and its voices sound like speech,
 * padded with silence as real providers pad every clip, each at a pitch of its own. The last part goes
 * through the real OpenAI plugin over HTTP.
 */
import { initializeLogger } from '@livekit/agents';
import * as openai from '@livekit/agents-plugin-openai';
import { AudioFrame } from '@livekit/rtc-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concatSamples } from '../../src/call/sound.js';
import { ClipRecogniser, TTS_PADDING, estimatePitch, pitchOf, synthSpeech } from '../../dev/scripted-audio.js';
import { type ScriptedServer, type ScriptedServerOptions, startScriptedServer } from '../../dev/scripted-llm.js';
import { resample } from '../../src/voice/wav.js';
import { clip, spokenPart } from './clips.js';

beforeAll(() => initializeLogger({ pretty: false, level: 'fatal' }));

const RATE = 16_000;
const CLIPS = [
  ...['en-charged', 'en-upgrade', 'en-internet', 'en-goodbye', 'en-debit'],
  ...['hi-charged', 'hi-goodbye', 'hinglish-charged', 'hinglish-goodbye'],
].map(clip);
const byId = (id: string) => CLIPS.find((c) => c.id === id)!;
const recogniser = new ClipRecogniser(CLIPS);

const silence = (ms: number, rate = RATE) => new Int16Array(Math.round((ms * rate) / 1000));

const joined = (...parts: Int16Array[]) => concatSamples(parts);

/** An utterance as the VAD hands it to speech-to-text: 0.5 s of pre-roll, the clip, 0.3 s of silence. */
const utterance = (samples: Int16Array, preMs = 500, postMs = 300) => joined(silence(preMs), samples, silence(postMs));

const heard = (samples: Int16Array, rate = RATE) => recogniser.recognise({ sampleRate: rate, channels: 1, samples }).text;

/** Deterministic white noise at about `dbfs` RMS. */
function noise(ms: number, dbfs: number, seed = 7): Int16Array {
  let s = seed;
  const amp = 32768 * 10 ** (dbfs / 20) * Math.sqrt(3); // uniform noise: RMS = amplitude / √3
  return Int16Array.from(silence(ms), () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return Math.round((s / 2 ** 32 - 0.5) * 2 * amp);
  });
}


/**
 * The utterance a bare `inference.VAD` of @livekit/agents 1.9.0 handed over for "Thank you, that is all,
 * goodbye" (measured once): its first sound 423 ms into the buffer, 359 ms of quiet after its last.
 */
const vadUtterance = (samples: Int16Array) => joined(silence(423), spokenPart(samples), silence(359));

/** The VAD bug: before speech-to-text reads the buffer, `resetWriteCursor` copies its last 500 ms over its head. */
function headOverwritten(buffer: Int16Array): Int16Array {
  const out = buffer.slice();
  out.set(buffer.slice(buffer.length - (500 * RATE) / 1000), 0);
  return out;
}

describe('the scripted recogniser hears a caller clip only as it arrives', () => {
  it.each(CLIPS.map((c) => [c.id, c] as const))('%s, intact, reads back word for word', (_, c) => {
    expect(heard(utterance(c.samples))).toBe(c.words);
  });

  it.each(['en-goodbye', 'hi-goodbye'])("%s with the VAD's head overwritten by its tail does not read back its words", (id) => {
    const c = byId(id);
    expect(heard(vadUtterance(c.samples))).toBe(c.words); // the same utterance, read before the VAD reuses its buffer
    expect(heard(headOverwritten(vadUtterance(c.samples)))).not.toBe(c.words);
  });

  it.each(['en-charged', 'hi-charged'])('%s cut in half loses the words of the missing half', (id) => {
    const c = byId(id);
    const half = c.samples.length >> 1;
    // The utterance ends mid-clip: the caller is heard from the start.
    const front = heard(joined(silence(500), c.samples.subarray(0, half)));
    expect(front).not.toBe('');
    expect(front).not.toBe(c.words);
    expect(c.words.startsWith(front)).toBe(true);
    // The clip began before the utterance: only its end is heard.
    const back = heard(joined(c.samples.subarray(half), silence(300)));
    expect(back).not.toBe('');
    expect(back).not.toBe(c.words);
    expect(c.words.endsWith(back)).toBe(true);
  });

  it.each([1.5, 3, 7, 13.25])('a clip shifted %s ms inside the buffer still reads right', (shiftMs) => {
    const c = byId('en-debit');
    expect(heard(utterance(c.samples, 500 + shiftMs, 300 - shiftMs))).toBe(c.words);
  });

  it('reads right through line noise and at 48 kHz', () => {
    const c = byId('hi-charged');
    const u = utterance(c.samples);
    const line = noise((u.length * 1000) / RATE, -60);
    expect(heard(u.map((v, i) => v + line[i]!))).toBe(c.words);
    expect(heard(resample(u, RATE, 48_000), 48_000)).toBe(c.words);
  });

  it("hears nothing in an agent's voice saying the same words, in noise, or in silence", () => {
    for (const c of [byId('en-charged'), byId('hi-goodbye')]) {
      expect(heard(utterance(synthSpeech(c.words, { voice: 'alloy', sampleRate: RATE })))).toBe('');
    }
    expect(heard(noise(3000, -20))).toBe('');
    expect(heard(silence(2000))).toBe('');
  });

  it('two clips in one utterance read back both, in order', () => {
    const [a, b] = [byId('en-upgrade'), byId('hinglish-goodbye')];
    expect(heard(joined(silence(500), a.samples, silence(400), b.samples, silence(300)))).toBe(`${a.words} ${b.words}`);
    expect(heard(joined(silence(500), b.samples, silence(400), a.samples, silence(300)))).toBe(`${b.words} ${a.words}`);
  });
});

/** The leading and trailing silence of a recording (ms), measured by 10 ms windows under −45 dBFS. */
function quietEnds(samples: Int16Array, rate: number): { leadMs: number; trailMs: number } {
  const n = rate / 100;
  const floor = n * (32768 * 10 ** (-45 / 20)) ** 2;
  const loud: number[] = [];
  for (let w = 0; (w + 1) * n <= samples.length; w++) {
    let e = 0;
    for (let i = w * n; i < (w + 1) * n; i++) e += samples[i]! ** 2;
    if (e >= floor) loud.push(w);
  }
  const windows = Math.floor(samples.length / n);
  return { leadMs: (loud[0] ?? windows) * 10, trailMs: (windows - 1 - (loud.at(-1) ?? -1)) * 10 + ((samples.length % n) * 1000) / rate };
}

describe('scripted speech', () => {
  it('is deterministic, at speech level, and as long as the text in code points (Devanagari too)', () => {
    const say = (text: string) => synthSpeech(text, { voice: 'coral', sampleRate: 24_000, msPerChar: 60, leadMs: 0, trailMs: 0 });
    expect(say('Hello, how can I help?')).toEqual(say('Hello, how can I help?'));
    expect(say('Hello, how can I help?')).not.toEqual(say('Hello, how can I help!'));
    const hindi = say('धन्यवाद बस इतना ही'); // 18 code points, 48 bytes of UTF-8
    expect(hindi.length / 24).toBeCloseTo([...'धन्यवाद बस इतना ही'].length * 60, -1);
    const level = 10 * Math.log10(hindi.reduce((e, v) => e + v * v, 0) / hindi.length / 32768 ** 2);
    expect(level).toBeGreaterThan(-22); // pauses included, so a little under the −20 dBFS of the voiced part
    expect(level).toBeLessThan(-18);
  });

  it("tells each voice by its pitch: a recording's pitch is nearest its own voice's", () => {
    const voices = ['alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'onyx', 'nova', 'sage', 'shimmer', 'verse'];
    for (const voice of voices) {
      const f0 = estimatePitch(synthSpeech('Thank you for calling, how can I help you today?', { voice, sampleRate: 24_000 }), 24_000)!;
      const nearest = voices.reduce((best, v) => (Math.abs(pitchOf(v) - f0) < Math.abs(pitchOf(best) - f0) ? v : best));
      expect(nearest, `${voice}: ${f0.toFixed(1)} Hz`).toBe(voice);
    }
    expect(estimatePitch(silence(1000, 24_000), 24_000)).toBeUndefined();
  });
});

describe('through the scripted server and the OpenAI plugin', () => {
  const servers: ScriptedServer[] = [];
  const serve = async (opts: ScriptedServerOptions = {}) => {
    const s = await startScriptedServer({ clips: CLIPS, ttsMsPerChar: 60, ...opts });
    servers.push(s);
    return s;
  };
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('speech-to-text returns an intact utterance as its words, and a damaged one not', async () => {
    const server = await serve();
    const stt = new openai.STT({ model: 'gpt-4o-mini-transcribe', baseURL: server.url, apiKey: 'x', useRealtime: false });
    const recognized = async (samples: Int16Array) =>
      (await stt.recognize(new AudioFrame(samples, RATE, 1, samples.length))).alternatives?.[0]?.text;
    const c = byId('en-goodbye');
    expect(await recognized(utterance(c.samples))).toBe(c.words);
    expect(server.transcriptions.at(-1)).toMatchObject({ model: 'gpt-4o-mini-transcribe', heard: c.words });
    expect(await recognized(headOverwritten(vadUtterance(c.samples)))).not.toBe(c.words);
  });

  /** What the plugin's TTS plays for `text`: its frames, joined. */
  async function spokenBy(server: ScriptedServer, text: string, voice: 'echo' | 'nova' = 'echo'): Promise<Int16Array> {
    const tts = new openai.TTS({ baseURL: server.url, apiKey: 'x', voice });
    const frames: Int16Array[] = [];
    for await (const audio of tts.synthesize(text)) frames.push(audio.frame.data.slice());
    await tts.close();
    return joined(...frames);
  }

  it.each([
    ['the default padding', {}, TTS_PADDING],
    ['a configured padding', { ttsPadding: { leadMs: 320, trailMs: 80 } }, { leadMs: 320, trailMs: 80 }],
    ['no padding', { ttsPadding: { leadMs: 0, trailMs: 0 } }, { leadMs: 0, trailMs: 0 }],
  ] as const)('text-to-speech is audible speech with %s around it', async (_, opts, padding) => {
    const server = await serve(opts);
    const text = 'One moment, I am putting you through to billing now.';
    const audio = await spokenBy(server, text);
    // The plugin hands on whole 100 ms frames only (AudioByteStream.write, never flushed): the last
    // part-frame of every clip is lost, trailing silence first.
    const sent = synthSpeech(text, { voice: 'echo', sampleRate: 24_000, msPerChar: 60, ...padding });
    const lostMs = (sent.length % 2400) / 24;
    const ends = quietEnds(audio, 24_000);
    expect(Math.abs(ends.leadMs - padding.leadMs), `leading silence ${ends.leadMs} ms`).toBeLessThanOrEqual(30);
    expect(Math.abs(ends.trailMs + lostMs - padding.trailMs), `trailing silence ${ends.trailMs} + ${lostMs} ms`).toBeLessThanOrEqual(30);
    expect(audio).toEqual(sent.subarray(0, sent.length - (sent.length % 2400)));
  });

  it("text-to-speech grows with the text and sounds at the voice's pitch", async () => {
    const server = await serve();
    const short = await spokenBy(server, 'One moment.');
    const long = await spokenBy(server, 'One moment, I am putting you through to billing now.');
    const voiced = (a: Int16Array) => a.length / 24 - quietEnds(a, 24_000).leadMs - quietEnds(a, 24_000).trailMs;
    expect(voiced(long)).toBeGreaterThan(3 * voiced(short));
    const echo = estimatePitch(long, 24_000)!;
    expect(Math.abs(echo - pitchOf('echo')) / pitchOf('echo')).toBeLessThan(0.1);
    expect(Math.abs(echo - pitchOf('nova')) / pitchOf('nova')).toBeGreaterThan(0.1);
    const nova = estimatePitch(await spokenBy(server, 'One moment, I am putting you through to billing now.', 'nova'), 24_000)!;
    expect(Math.abs(nova - pitchOf('nova')) / pitchOf('nova')).toBeLessThan(0.1);
  });
});
