/**
 * Callers who speak Hindi or Hinglish: the call's language is detected from what they say, kept in
 * the caller's details, and named in every desk's instructions — above all the first reply of a desk
 * that takes the line after a transfer. The scripted model answers in the language its instructions
 * name, and in English when they name none, as a real model told to "continue" in English often does.
 */
import { voice } from '@livekit/agents';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../src/call/call.js';
import { type ScriptedServer, deskOf, systemText } from '../dev/scripted-llm.js';
import { detectLanguage, languageSwitch, parseLanguage, sttLanguageSwitch } from '../src/language.js';
import { toE164 } from '../src/telephony/numbers.js';
import { loadSettings as load } from '../src/config.js';
import { callTools, requestsOf, say, startCall, startServer } from './support/harness.js';

let server: ScriptedServer;
const calls: Call[] = [];
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await Promise.all(calls.splice(0).map((c) => c.close('test over')));
});

async function call(o: Parameters<typeof startCall>[1] = {}): Promise<Call> {
  const c = await startCall(server, o);
  calls.push(c);
  return c;
}

const DEVANAGARI = /[\u0900-\u097F]/;
const agentLines = (c: Call, agent: string) =>
  c.events.flatMap((e) => (e.type === 'agent' && e.agent === agent ? [e.text] : []));
const transfers = (c: Call) => c.events.flatMap((e) => (e.type === 'handoff' ? [`${e.from}→${e.to}`] : []));
/** The system prompts of the requests one desk made. */
const promptsOf = (c: Call, desk: string) =>
  requestsOf(server, c).filter((r) => deskOf(r.body) === desk).map((r) => systemText(r.body));

describe('detecting the caller language', () => {
  it.each([
    ['मेरा बिल दो बार कट गया है', 'hi'],
    ['mera bill do baar kat gaya hai', 'hinglish'],
    ['internet kaam nahi kar raha', 'hinglish'],
    ['I was charged twice this month', 'en'],
    ['My invoice shows a late fee but I paid before the due date', 'en'],
    ['How much does the 300 Mbps fibre plan cost, and is the router free?', 'en'],
    ['Is the Ho Chi Minh office, the one on the main road, still the one that does repairs?', null], // one stray word: the call keeps its language
    ['mujhe naya plan chahiye, what are the options?', 'hinglish'],
    ['thanks, that is all, shukriya', null],
    ['ok', null],
    ['haan', null],
    ['haan ji', 'hinglish'],
    ['yes please', null],
    // The Hinglish boundary, pinned: two romanised Hindi words are Hinglish when they are a sixth or
    // more of the line (2 of 13 words), not below it (2 of 14); one counts only in a line of three words or fewer.
    ['please check why the internet bill went up much this month bhai yaar', 'hinglish'],
    ['please check why the internet bill went up so much this month bhai yaar', null],
    ['accha, thank you', 'hinglish'],
    ['accha, thanks a lot', null],
  ])('%s → %s', (line, lang) => {
    expect(detectLanguage(line)).toBe(lang);
  });

  it('a call follows a line that tells another language, and only such a line', () => {
    expect(languageSwitch('I was charged twice this month', undefined)).toBeNull(); // English until told otherwise
    expect(languageSwitch('mera bill do baar kat gaya hai', undefined)).toBe('hinglish');
    expect(languageSwitch('mera bill do baar kat gaya hai', 'hinglish')).toBeNull();
    expect(languageSwitch('I was charged twice this month', 'hi')).toBe('en');
    expect(languageSwitch('ok', 'hi')).toBeNull();
    expect(languageSwitch('I was charged twice this month', 'hinglish')).toBe('en');
    // Greeted in Hindi (GREETING_LANGUAGE=hi): a Hindi caller's first line makes the call Hindi (its desks
    // are told to answer in Hindi), an English one makes it English; greeted in English, English changes nothing.
    expect(languageSwitch('मेरा बिल दो बार कट गया है', undefined, 'hi')).toBe('hi');
    expect(languageSwitch('I was charged twice this month', undefined, 'hi')).toBe('en');
    expect(languageSwitch('I was charged twice this month', undefined, 'en')).toBeNull();
    expect(languageSwitch('ok', undefined, 'hi')).toBeNull();
    expect(sttLanguageSwitch('hi', undefined, 'hi')).toBe('hi');
    expect(sttLanguageSwitch('en', undefined, 'en')).toBeNull();
  });

  it('reads the names agents and settings give a language', () => {
    expect(parseLanguage('Hindi')).toBe('hi');
    expect(parseLanguage('hi-IN')).toBe('hi');
    expect(parseLanguage('Hinglish')).toBe('hinglish');
    expect(parseLanguage('English')).toBe('en');
    expect(parseLanguage('Tamil')).toBe('ta');
    expect(parseLanguage('Klingonese')).toBeNull();
  });
});

describe('a Hindi or Hinglish call, routed like its English twin', () => {
  it.each([
    ['Hindi', 'मेरा बिल दो बार कट गया है', 'hi', DEVANAGARI],
    ['Hinglish', 'mera bill do baar kat gaya hai', 'hinglish', /\b(main|aap\w*|hoon|hai)\b/i],
  ])('%s: reaches Billing, and Billing answers in the caller language', async (name, line, code, script) => {
    const english = await call();
    await say(english, 'I was charged twice on my bill');
    const c = await call();
    await say(c, line);
    expect(transfers(c)).toEqual(transfers(english));
    expect(transfers(c)).toEqual(['triage→billing']);
    expect(c.actor.getSnapshot().context.caller.language).toBe(code);
    // Every prompt of the desk that took the line names the language, its first reply's included.
    const prompts = promptsOf(c, 'Billing');
    expect(prompts.length).toBeGreaterThan(0);
    for (const p of prompts) expect(p).toContain(`The caller speaks ${name}`);
    const [first] = agentLines(c, 'billing');
    expect(first).toMatch(script);
    // Triage's own transfer line already followed the caller's line.
    expect(agentLines(c, 'triage').at(-1)).toMatch(script);
    // The English twin is answered in English.
    expect(agentLines(english, 'billing')[0]).not.toMatch(DEVANAGARI);
  });

  it('a Hinglish caller with two needs is chained on, and every desk on the way answers in Hinglish', async () => {
    const c = await call();
    await say(c, 'mera bill do baar kat gaya hai');
    await say(c, 'aur mujhe naya plan bhi chahiye');
    expect(transfers(c)).toEqual(['triage→billing', 'billing→triage', 'triage→sales']);
    for (const desk of ['Billing', 'Triage', 'Sales']) {
      for (const p of promptsOf(c, desk).slice(desk === 'Triage' ? 1 : 0)) expect(p).toContain('The caller speaks Hinglish');
    }
    for (const line of [...agentLines(c, 'billing'), ...agentLines(c, 'sales')]) expect(line).toMatch(/\b(main|aap\w*|hoon)\b/i);
    // Nobody asked the caller to say it again: each need was said once.
    expect(c.events.filter((e) => e.type === 'user')).toHaveLength(2);
  });

  it('follows a caller who switches language mid-call', async () => {
    const c = await call();
    await say(c, 'I was charged twice on my bill');
    // English is what a call is taken to be in until a line says otherwise.
    expect(c.actor.getSnapshot().context.caller.language).toBeUndefined();
    await say(c, 'मुझे यह समझ नहीं आया, कृपया हिंदी में बताइए');
    expect(c.actor.getSnapshot().context.caller.language).toBe('hi');
    expect(agentLines(c, 'billing').at(-1)).toMatch(DEVANAGARI);
    await say(c, 'Sorry, can we go back to English please?');
    expect(c.actor.getSnapshot().context.caller.language).toBe('en');
    expect(agentLines(c, 'billing').at(-1)).not.toMatch(DEVANAGARI);
    await say(c, 'मुझे यह समझ नहीं आया, कृपया हिंदी में बताइए');
    expect(c.actor.getSnapshot().context.caller.language).toBe('hi');
    expect(agentLines(c, 'billing').at(-1)).toMatch(DEVANAGARI);
  });

  it('keeps the language an agent saves with update_caller_info ("Hindi" → hi)', async () => {
    const c = await call();
    await say(c, callTools({ name: 'update_caller_info', arguments: { language: 'Hindi' } }));
    expect(c.actor.getSnapshot().context.caller.language).toBe('hi');
    expect(c.events.some((e) => e.type === 'caller' && e.caller.language === 'hi')).toBe(true);
  });

  it("takes the language the speech-to-text reports until the call's is known; after that the STT is told it", async () => {
    const told: string[] = [];
    const c = await call({ languageChanged: (l) => told.push(l) });
    // What a phone call's STT reports with a final transcript (interim reports say nothing).
    const reported = (language: string, isFinal = true) =>
      c.session.emit(
        voice.AgentSessionEventTypes.UserInputTranscribed,
        voice.createUserInputTranscribedEvent({ transcript: '…', isFinal, language: language as never }),
      );
    reported('ta', false);
    reported('en'); // the greeting's language: nothing changes
    expect(c.actor.getSnapshot().context.caller.language).toBeUndefined();
    reported('ta');
    expect(c.actor.getSnapshot().context.caller.language).toBe('ta');
    expect(told).toEqual(['ta']);
    // A Tamil line the in-process detector cannot tell: the call stays Tamil, and the desk is told so.
    await say(c, 'எனக்கு என் பில் பற்றி ஒரு கேள்வி இருக்கிறது');
    expect(promptsOf(c, 'Triage').at(-1)).toContain('The caller speaks Tamil; reply in Tamil');
    // Once the language is known the STT is told it and only echoes it (Hinglish is told as `hi`):
    // its reports change nothing.
    reported('hi');
    expect(c.actor.getSnapshot().context.caller.language).toBe('ta');
    // The caller's own line still leads.
    await say(c, 'Sorry, can we continue in English please?');
    expect(c.actor.getSnapshot().context.caller.language).toBe('en');
    expect(told).toEqual(['ta', 'en']);
  });

  it('greets in GREETING_LANGUAGE while the caller language is unknown', async () => {
    const c = await call({ greetingLanguage: 'hi' });
    expect(agentLines(c, 'triage')[0]).toMatch(DEVANAGARI);
    const d = await call({ greetingLanguage: 'hi', caller: { language: 'en' } });
    expect(agentLines(d, 'triage')[0]).not.toMatch(DEVANAGARI);
  });
});

describe('numbers as people write them', () => {
  it.each([
    ['+91 98765 43210', '+919876543210'],
    ['098765-43210', '+919876543210'],
    ['98765 43210', '+919876543210'],
    ['0091 98765 43210', '+919876543210'],
    // The international 00 prefix, as callers abroad and Indian forms write it (not a national trunk 0).
    ['0044 20 7946 0958', '+442079460958'],
    ['001 415 555 0100', '+14155550100'],
    ['tel:+91-98765-43210', '+919876543210'],
    ['+1 (415) 555-0100', '+14155550100'],
    ['12345', null],
    ['call me maybe', null],
  ])('%s → %s', (raw, e164) => {
    expect(toE164(raw)).toBe(e164);
  });

  it('HUMAN_TRANSFER_TO and GREETING_LANGUAGE accept what people write, and name what they refuse', () => {
    const loadSettings = (env: Record<string, string>) => load({ OPENAI_API_KEY: 'sk-test', ...env });
    expect(loadSettings({ HUMAN_TRANSFER_TO: '+91 98765 43210' }).HUMAN_TRANSFER_TO).toBe('tel:+919876543210');
    expect(loadSettings({ HUMAN_TRANSFER_TO: '098765-43210' }).HUMAN_TRANSFER_TO).toBe('tel:+919876543210');
    expect(loadSettings({ GREETING_LANGUAGE: 'Hindi' }).GREETING_LANGUAGE).toBe('hi');
    expect(() => loadSettings({ GREETING_LANGUAGE: 'Klingonese' })).toThrow(/GREETING_LANGUAGE/);
  });

  it('a caller number saved by an agent is kept in E.164', async () => {
    const c = await call();
    await say(c, callTools({ name: 'update_caller_info', arguments: { phoneNumber: '098765 43210' } }));
    expect(c.actor.getSnapshot().context.caller.phoneNumber).toBe('+919876543210');
  });
});
