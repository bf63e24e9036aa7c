/**
 * Figure 4b — voice calls per worker process, each call whole and real: N concurrent calls of the voice
 * loop (`npm run voice`), each with the worker's own VAD, the local end-of-turn model and the OpenAI
 * plugin's speech-to-text, LLM and voices, the caller's clips sent in real time. The scripted server
 * (clip-matching speech-to-text, LLM TTFT as given, synthetic voices) runs in a child process, so its
 * work is not counted. Per level: the caller-perceived response time (each caller line's last sound →
 * the agents' next sound, measured in the call's audio) and this process's CPU. The sweep stops when the
 * median response time is more than 20 % above one call's, or at the last level.
 */
import { fileURLToPath } from 'node:url';
import { loadSettings } from '../src/config.js';
import { runVoiceCall } from '../src/voice/loop.js';
import { loadScript } from '../src/voice/script.js';
import { type ChildServer, cpuMs, now, sleep, startChildServer } from './common.js';
import { type Summary, summarize } from './stats.js';

/** One caller line to Billing (a transfer), then goodbye. */
const SCRIPT = fileURLToPath(new URL('../test/voice/calls/capacity.json', import.meta.url));

export interface VoiceLevel {
  calls: number;
  /** Caller's last sound → agents' next sound, every line of every call at this level. */
  response: Summary;
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

async function level(server: ChildServer, n: number, staggerMs: number): Promise<VoiceLevel> {
  const script = loadScript(SCRIPT);
  const cpu0 = cpuMs();
  const t0 = now();
  const runs = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      await sleep((i * staggerMs) / Math.max(1, n));
      const settings = loadSettings({ OPENAI_BASE_URL: server.url, OPENAI_API_KEY: `voice-cap-${n}-${i}`, LLM_MODEL: 'scripted', CALLS_DB: 'off' });
      return runVoiceCall({ settings, script, callId: `voice-cap-${n}-${i}`, quietEndMs: 1000 });
    }),
  );
  const cpuCores = (cpuMs() - cpu0) / (now() - t0);
  const responses = runs.flatMap((r) => r.timeline.responses.map((x) => x.ms));
  const heard = runs.flatMap((r) => r.timeline.utterances.filter((u) => u.speaker === 'caller'));
  return {
    calls: n,
    response: summarize(responses.filter((x): x is number => x !== null)),
    cpuCores: Number(cpuCores.toFixed(3)),
    unanswered: responses.filter((x) => x === null).length,
    misheard: heard.filter((u) => u.heard !== u.text).length,
  };
}

export async function benchVoiceCapacity(o: { ttftMs: number; levels: number[]; staggerMs: number; log: (s: string) => void }): Promise<VoiceCapacityResult> {
  const server = await startChildServer({ ttftMs: o.ttftMs, ttsTtfbMs: 150, ttsMsPerChar: 25, voiceScript: SCRIPT });
  const levels: VoiceLevel[] = [];
  try {
    for (const n of o.levels) {
      const l = await level(server, n, o.staggerMs);
      levels.push(l);
      o.log(`  voice calls: ${n} at once: response ${l.response.median.toFixed(0)} ms median, ${(l.cpuCores * 100).toFixed(0)} % of a core, ${l.misheard} misheard`);
      if (l.response.median > levels[0]!.response.median * 1.2 || l.unanswered > 0) break;
    }
  } finally {
    await server.close();
  }
  const base = levels[0]!.response.median;
  const ok = levels.filter((l) => l.response.median <= base * 1.2 && l.unanswered === 0 && l.misheard === 0);
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
