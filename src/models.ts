/** The OpenAI side of a call, built from settings. `OPENAI_BASE_URL` is honoured everywhere. */
import { llm, type voice } from '@livekit/agents';
import * as openai from '@livekit/agents-plugin-openai';
import type { Settings } from './config.js';
import { sttLanguageOf } from './language.js';
import type { Target } from '../machines/router.js';
import type { CallOptions } from './call/options.js';
import { DEPARTMENT_TABLE, type DeskNames, TARGETS, deskNameSetting, voiceSetting } from './departments.js';
import { reportToStately, withStatelyInspector } from './inspector/stately.js';

/** Servers without keys still need a non-empty key for the client; it is never logged. */
const apiKey = (s: Settings) => s.OPENAI_API_KEY ?? 'no-key';

/**
 * The call's LLM: `LLM_MODEL`, or — when `LLM_FALLBACK_MODEL` is set — LiveKit's `FallbackAdapter` over
 * [LLM_MODEL, LLM_FALLBACK_MODEL] on the same server and key. A request the primary fails (HTTP error,
 * timeout, broken stream before any text) is sent to the fallback within the same turn; the primary is
 * then skipped until a background probe finds it working again. Each model gets `LLM_TIMEOUT_MS` and
 * `LLM_MAX_RETRY` retries; the session itself does not retry on top (see `llmConnOptions`).
 */
export function buildLLM(s: Settings): llm.LLM {
  const primary = new openai.LLM({ model: s.LLM_MODEL, apiKey: apiKey(s), baseURL: s.OPENAI_BASE_URL });
  if (!s.LLM_FALLBACK_MODEL) return primary;
  const fallback = new openai.LLM({ model: s.LLM_FALLBACK_MODEL, apiKey: apiKey(s), baseURL: s.OPENAI_BASE_URL });
  return new llm.FallbackAdapter({
    llms: [primary, fallback],
    attemptTimeout: s.LLM_TIMEOUT_MS / 1000,
    maxRetryPerLLM: s.LLM_MAX_RETRY,
    retryInterval: 1,
  });
}

/**
 * HTTP transcription (not the realtime WebSocket) so any OpenAI-compatible server works; the
 * session's VAD cuts the audio into utterances. With the caller's language known (a lookup), or a
 * greeting language other than English configured, it is told that language (Hinglish as Hindi) and
 * reports it back, so the end-of-turn model uses its Hindi thresholds; otherwise it detects the
 * language itself until the call's is known.
 */
export function buildSTT(s: Settings, language?: string): openai.STT {
  const told = language ?? (s.GREETING_LANGUAGE !== 'en' ? s.GREETING_LANGUAGE : undefined);
  const lang = told ? { language: sttLanguageOf(told) } : { detectLanguage: true };
  return new openai.STT({ model: s.STT_MODEL, apiKey: apiKey(s), baseURL: s.OPENAI_BASE_URL, useRealtime: false, ...lang });
}

/** Follows the caller's language on a phone call: the speech-to-text is told it from the next turn. */
export function sttFollower(stt: openai.STT): (language: string) => void {
  return (language) => stt.updateOptions({ language: sttLanguageOf(language) });
}

export function voiceFor(s: Settings, role: Target): string {
  return s[voiceSetting(role)] ?? DEPARTMENT_TABLE[role].voice;
}

/** One TTS per department, each with its own voice, so the caller hears the transfer. */
export function buildTTSFor(s: Settings): (role: Target) => openai.TTS {
  const cache = new Map<Target, openai.TTS>();
  return (role) => {
    let tts = cache.get(role);
    if (!tts) {
      tts = new openai.TTS({
        model: s.TTS_MODEL,
        voice: voiceFor(s, role) as openai.TTSOptions['voice'],
        apiKey: apiKey(s),
        baseURL: s.OPENAI_BASE_URL,
      });
      cache.set(role, tts);
    }
    return tts;
  };
}

/** A voice of its own (not a desk's): the simulated caller's, with its speaking instructions. */
export function buildVoice(s: Settings, voice: string, instructions?: string): openai.TTS {
  return new openai.TTS({ model: s.TTS_MODEL, voice: voice as openai.TTSOptions['voice'], apiKey: apiKey(s), baseURL: s.OPENAI_BASE_URL, instructions });
}

export function llmConnOptions(s: Settings): NonNullable<voice.AgentSessionOptions['connOptions']> {
  // With a fallback model the adapter retries each model itself; a session-level retry would repeat
  // the whole chain.
  const maxRetry = s.LLM_FALLBACK_MODEL ? 0 : s.LLM_MAX_RETRY;
  return { llmConnOptions: { maxRetry, timeoutMs: s.LLM_TIMEOUT_MS, retryIntervalMs: 1000 } };
}

/** What every call takes from settings, whatever runs it (worker, text chat, demo). */
export function callOptionsFrom(
  s: Settings,
): Pick<
  CallOptions,
  | 'llm' | 'company' | 'maxHandoffs' | 'humanAvailable' | 'deskNames' | 'prepareReplies' | 'greetingLanguage' | 'humanTransferMode'
  | 'personTimeoutMs' | 'seamPauseMs' | 'inspect' | 'contextBudgetTokens' | 'recording'
> {
  const deskNames: DeskNames = Object.fromEntries(
    TARGETS.flatMap((t) => (s[deskNameSetting(t)] ? [[t, s[deskNameSetting(t)]]] : [])),
  );
  // XSTATE_INSPECT=ws: the process's calls report to Stately's inspector too (one connection per process,
  // opened by the first call unless the program opened it already, in its own words).
  reportToStately(s);
  return {
    inspect: withStatelyInspector(),
    llm: buildLLM(s),
    company: s.COMPANY_NAME,
    maxHandoffs: s.MAX_HANDOFFS,
    humanAvailable: Boolean(s.HUMAN_TRANSFER_TO),
    deskNames,
    prepareReplies: s.PREPARE_REPLIES,
    seamPauseMs: s.SEAM_PAUSE_MS,
    contextBudgetTokens: s.CONTEXT_BUDGET_TOKENS,
    greetingLanguage: s.GREETING_LANGUAGE,
    humanTransferMode: s.HUMAN_TRANSFER_MODE,
    personTimeoutMs: s.HUMAN_TRANSFER_TIMEOUT_S === undefined ? undefined : s.HUMAN_TRANSFER_TIMEOUT_S * 1000,
    recording: s.RECORD_CALLS === 'on' ? { dir: s.RECORDINGS_DIR, notice: s.RECORDING_NOTICE } : undefined,
  };
}
