/**
 * Figure 4b — voice calls per worker process, each call whole and real: N concurrent calls of the voice
 * loop (`npm run voice`), each with the worker's own VAD, the local end-of-turn model and the OpenAI
 * plugin's speech-to-text, LLM and voices, the caller's clips sent in real time. The scripted server
 * (clip-matching speech-to-text, LLM TTFT as given, synthetic voices) runs in a child process, so its
 * work is not counted. Per level: the caller-perceived response time (each caller line's last sound →
 * the agents' next sound, measured in the call's audio), the part of it after the end-of-turn decision,
 * the end-of-turn model's inference time, and this process's CPU. The sweep stops when the median of
 * the part after the decision, for any caller line, is more than 20 % above one call's, or at the last level.
 */
import { fileURLToPath } from 'node:url';
import { loadSettings } from '../src/config.js';
import { type VoiceCallResult, runVoiceCall } from '../src/voice/loop.js';
import { type VoiceScript, loadScript } from '../src/voice/script.js';
import { type ChildServer, cpuMs, now, sleep, startChildServer } from './common.js';
import { type Summary, summarize } from './stats.js';

/** One caller line to Billing (a transfer), then goodbye. */
const SCRIPT = fileURLToPath(new URL('../test/voice/calls/capacity.json', import.meta.url));

export interface VoiceLevel {
  calls: number;
  /** Caller's last sound → agents' next sound, every line of every call at this level. */
  response: Summary;
  /**
   * The caller's turn committed (the end-of-turn decision made) → the agents' next sound, per caller line:
   * what the +20 % budget judges. The end-of-turn model's own wait is left out of it: on the same clip it
   * answers 0.2–0.8 from run to run (a different 1.2 s window each time), so the wait it decides is bimodal
   * (minimum delay or maximum) whatever the load; its inference time is reported instead.
   */
  afterTurnByLine: Summary[];
  /** The end-of-turn model's inference time (in this process), every prediction at this level. */
  eotInferenceMs: Summary;
  /** The worst line's median against one call's: what the +20 % budget judges. */
  ratio?: number;
  /** This process's CPU over the level, as a share of one core. */
  cpuCores: number;
  /** Lines not answered at all (no agent sound after them). */
  unanswered: number;
  /** Caller lines the speech-to-text did not hear word for word. */
  misheard: number;
}

export interface VoiceCapacityResult {
  levels: VoiceLevel[];
  /** Largest level within +20 % of one call's median response time. */
  withinBudget: number;
  /** That level's calls per busy core (calls ÷ CPU share of a core). */
  perCore: number;
  target: { text: string; met: boolean };
  setup: string;
}

/** `n` calls at once (`repeats` times over, one after another), and what their callers heard. */
async function level(server: ChildServer, script: VoiceScript, n: number, staggerMs: number, repeats = 1): Promise<VoiceLevel> {
  const cpu0 = cpuMs();
  const t0 = now();
  const runs = [];
  for (let r = 0; r < repeats; r++) {
    runs.push(
      ...(await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          await sleep((i * staggerMs) / Math.max(1, n));
          const id = `voice-cap-${n}-${r}-${i}`;
          const settings = loadSettings({ OPENAI_BASE_URL: server.url, OPENAI_API_KEY: id, LLM_MODEL: 'scripted', CALLS_DB: 'off' });
          return runVoiceCall({ settings, script, callId: id, quietEndMs: 1000 });
        }),
      )),
    );
  }
  const cpuCores = (cpuMs() - cpu0) / (now() - t0);
  const responses = runs.map((r) => r.timeline.responses.map((x) => x.ms));
  const afterTurn = runs.map((r) => afterTurnOf(r));
  const heard = runs.flatMap((r) => r.timeline.utterances.filter((u) => u.speaker === 'caller'));
  const answered = (xs: (number | null)[]) => xs.filter((x): x is number => x !== null);
  return {
    calls: n,
    response: summarize(answered(responses.flat())),
    afterTurnByLine: script.lines.map((_, k) => summarize(answered(afterTurn.map((r) => r[k] ?? null)))),
    eotInferenceMs: summarize(runs.flatMap((r) => r.eot.map((e) => e.inferenceMs))),
    cpuCores: Number(cpuCores.toFixed(3)),
    unanswered: responses.flat().filter((x) => x === null).length,
    misheard: heard.filter((u) => u.heard !== u.text).length,
  };
}

/** Each caller turn committed (its `user` event) → the agents' next sound, in the call's audio. */
function afterTurnOf(r: VoiceCallResult): (number | null)[] {
  const agents = r.timeline.utterances.filter((u) => u.speaker !== 'caller');
  return r.events
    .filter((e) => e.event.type === 'user')
    .map((e) => {
      const next = agents.find((u) => u.startMs >= e.atMs);
      return next ? next.startMs - e.atMs : null;
    });
}

/** The worst line's median (turn committed → agents' sound) against the baseline's same line. */
const ratioTo = (base: VoiceLevel, l: VoiceLevel) =>
  Number(Math.max(...l.afterTurnByLine.map((s, k) => s.median / base.afterTurnByLine[k]!.median)).toFixed(3));

export async function benchVoiceCapacity(o: { ttftMs: number; levels: number[]; staggerMs: number; log: (s: string) => void }): Promise<VoiceCapacityResult> {
  const server = await startChildServer({ ttftMs: o.ttftMs, ttsTtfbMs: 150, ttsMsPerChar: 25, voiceScript: SCRIPT });
  const levels: VoiceLevel[] = [];
  const script = loadScript(SCRIPT);
  try {
    for (const n of o.levels) {
      // One call alone, three times over: the baseline each line's response is judged against.
      const l = await level(server, script, n, o.staggerMs, n === 1 ? 3 : 1);
      l.ratio = levels.length ? ratioTo(levels[0]!, l) : 1;
      levels.push(l);
      const lines = l.afterTurnByLine.map((x) => x.median.toFixed(0)).join(' / ');
      o.log(
        `  voice calls: ${n} at once: turn → reply by line ${lines} ms (×${l.ratio}); caller-perceived ${l.response.median.toFixed(0)} ms; ` +
          `end-of-turn inference ${l.eotInferenceMs.median.toFixed(0)} ms; ${(l.cpuCores * 100).toFixed(0)} % of a core; ${l.misheard} misheard`,
      );
      if (l.ratio > 1.2 || l.unanswered > 0) break;
    }
  } finally {
    await server.close();
  }
  const ok = levels.filter((l) => (l.ratio ?? 1) <= 1.2 && l.unanswered === 0 && l.misheard === 0);
  const best = ok.at(-1) ?? levels[0]!;
  const perCore = Number((best.calls / Math.max(best.cpuCores, 1e-6)).toFixed(1));
  return {
    levels,
    withinBudget: best.calls,
    perCore,
    target: { text: '≥ 50 voice calls per core within +20 % of one call\'s response time', met: perCore >= 50 && ok.length > 0 },
    setup:
      `N concurrent voice-loop calls in this process (copying Silero VAD, local end-of-turn model in process, OpenAI STT/LLM/TTS plugins), ` +
      `one caller line to Billing then goodbye, clips in real time; scripted server in a child process (LLM TTFT ${o.ttftMs} ms, TTS TTFB 150 ms, ` +
      `25 ms of speech per character, padded); starts spread over ${o.staggerMs} ms; levels ${o.levels.join(', ')}`,
  };
}
