/**
 * The speech-to-text of a phone call is told the caller's language (issue 11): what the worker builds
 * (`buildSTT`, `sttFollower`) sends `language` with each transcription request once the language is
 * known or configured, Hinglish as `hi`, and nothing (the model detects) before that. Real OpenAI plugin,
 * real HTTP requests, against the scripted server's transcription endpoint.
 */
import { AudioFrame } from '@livekit/rtc-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ScriptedServer, startScriptedServer } from '../dev/scripted-llm.js';
import { loadSettings } from '../src/config.js';
import { buildSTT, sttFollower } from '../src/models.js';

let server: ScriptedServer;
beforeAll(async () => {
  server = await startScriptedServer({ transcript: 'mera bill do baar kat gaya' });
});
afterAll(async () => {
  await server.close();
});

const settings = (env: Record<string, string> = {}) => loadSettings({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: server.url, ...env });
/** A tenth of a second of silence, as the session's VAD would hand over an utterance. */
const utterance = () => new AudioFrame(new Int16Array(1600), 16000, 1, 1600);

/** The `language` form field the next transcription request carries (undefined: the model detects). */
async function languageSent(stt: ReturnType<typeof buildSTT>): Promise<string | undefined> {
  const before = server.transcriptions.length;
  const event = await stt.recognize([utterance()]);
  expect(event.alternatives?.[0]?.text).toBe('mera bill do baar kat gaya');
  expect(server.transcriptions).toHaveLength(before + 1);
  return server.transcriptions.at(-1)!.language;
}

describe("the phone call's speech-to-text and the caller's language", () => {
  it('detects until the language is known, then is told it from the next turn (Hinglish as hi)', async () => {
    const stt = buildSTT(settings());
    expect(await languageSent(stt)).toBeUndefined();
    const follow = sttFollower(stt);
    follow('hinglish');
    expect(await languageSent(stt)).toBe('hi');
    follow('en');
    expect(await languageSent(stt)).toBe('en');
    expect(server.transcriptions.at(-1)!.model).toBe('gpt-4o-mini-transcribe');
  });

  it('is told a configured greeting language from the first turn, and a language a lookup returned before it', async () => {
    expect(await languageSent(buildSTT(settings({ GREETING_LANGUAGE: 'Hindi' })))).toBe('hi');
    expect(await languageSent(buildSTT(settings({ GREETING_LANGUAGE: 'Hinglish' })))).toBe('hi');
    expect(await languageSent(buildSTT(settings({ GREETING_LANGUAGE: 'Hindi' }), 'ta'))).toBe('ta');
    expect(await languageSent(buildSTT(settings({ GREETING_LANGUAGE: 'English' })))).toBeUndefined();
  });
});
