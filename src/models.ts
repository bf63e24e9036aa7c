/** The OpenAI side of a call, built from settings. `OPENAI_BASE_URL` is honoured everywhere. */
import type { voice } from '@livekit/agents';
import * as openai from '@livekit/agents-plugin-openai';
import type { Settings } from './config.js';
import { type AgentRole, DEPARTMENT_TABLE } from './departments.js';

/** Servers without keys still need a non-empty key for the client; it is never logged. */
const apiKey = (s: Settings) => s.OPENAI_API_KEY ?? 'no-key';

export function buildLLM(s: Settings): openai.LLM {
  return new openai.LLM({ model: s.LLM_MODEL, apiKey: apiKey(s), baseURL: s.OPENAI_BASE_URL });
}

export function buildSTT(s: Settings): openai.STT {
  // HTTP transcription (not the realtime WebSocket) so any OpenAI-compatible server works; the
  // session's VAD cuts the audio into utterances.
  return new openai.STT({ model: s.STT_MODEL, apiKey: apiKey(s), baseURL: s.OPENAI_BASE_URL, useRealtime: false });
}

export function voiceFor(s: Settings, role: AgentRole): string {
  const key = `TTS_VOICE_${role.toUpperCase()}` as keyof Settings;
  return (s[key] as string | undefined) ?? DEPARTMENT_TABLE[role].voice;
}

/** One TTS per department, each with its own voice, so the caller hears the transfer. */
export function buildTTSFor(s: Settings): (role: AgentRole) => openai.TTS {
  const cache = new Map<AgentRole, openai.TTS>();
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

export function llmConnOptions(s: Settings): NonNullable<voice.AgentSessionOptions['connOptions']> {
  return { llmConnOptions: { maxRetry: s.LLM_MAX_RETRY, timeoutMs: s.LLM_TIMEOUT_MS, retryIntervalMs: 1000 } };
}
