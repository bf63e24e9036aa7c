/**
 * The simulation's judges on conversations written to pass and to fail each one, in English, Hindi
 * and Hinglish: a judge that cannot fail (or fails a good call) shows here first.
 */
import { describe, expect, it } from 'vitest';
import { JUDGES, judgeCall, routeOf } from '../src/simulate/judges.js';
import { readVerdicts, transcriptOf } from '../src/simulate/llm-judge.js';
import { asksForMore, factsAskedIn, greetsAsNewCall } from '../src/simulate/phrases.js';
import type { Entry, SimCall } from '../src/simulate/play.js';
import { type Scenario, scenarioSchema } from '../src/simulate/scenario.js';

const scenario = (over: Record<string, unknown> = {}, expect: Record<string, unknown> = {}): Scenario => ({
  ...scenarioSchema.parse({
    title: 'test',
    caller: { persona: 'p', language: 'en', facts: { name: 'Asha', account: 'ACC-4417' } },
    needs: [{ say: 'I was charged twice on my bill.' }],
    expect: { route: ['billing'], ...expect },
    ...over,
  }),
  id: 't',
  file: 't.yaml',
});

/** A call from a script: `c:` caller, `t:` transfer to, `<desk>:` an agent line; 100 ms apart. */
function callOf(lines: string[], end: SimCall['end'] = { by: 'caller', needsMet: true, reason: 'done' }): SimCall {
  let from = 'triage';
  const entries: Entry[] = lines.map((l, i) => {
    const at = i * 100;
    const [who, ...rest] = l.split(':');
    const text = rest.join(':').trim();
    if (who === 'c') return { kind: 'caller', text, language: (/[\u0900-\u097F]/.test(text) ? 'hi' : /\b(mera|hai|nahi|kar)\b/.test(text) ? 'hinglish' : 'en') as 'en', at };
    if (who === 't') {
      const e: Entry = { kind: 'transfer', from, to: text, reason: 'r', at };
      from = text;
      return e;
    }
    if (who === 'silence') return { kind: 'silence', at };
    if (who === 'err') return { kind: 'error', text, at };
    return { kind: 'agent', desk: who!, text, at };
  });
  return { scenario: 't', run: 1, entries, end, tokens: { desks: 0, caller: 0 }, ms: 1000 };
}

const GOOD = [
  'triage: Thank you for calling Acme, this is the front desk. How can I help you today?',
  'c: My name is Asha and my account number is ACC-4417.',
  "triage: Thanks, Asha. I've noted that. How can I help?",
  'c: I was charged twice on my bill this month.',
  'triage: Let me transfer you to billing.',
  't: billing',
  'billing: This is the billing team. I can see the double charge on ACC-4417; I will reverse it today.',
  "c: That's all, bye!",
  'billing: Goodbye!',
];

const verdict = (id: string, call: SimCall, s = scenario()) => judgeCall(call, s)[id]!;
/** GOOD with the new desk's reply replaced. */
const withReply = (...reply: string[]) => callOf([...GOOD.slice(0, 6), ...reply, ...GOOD.slice(7)]);

describe('the judges pass a good call', () => {
  it.each(JUDGES.map((j) => j.id))('%s passes (or does not apply to) a clean transfer', (id) => {
    expect(verdict(id, callOf(GOOD)).pass, verdict(id, callOf(GOOD)).reason).toBe(true);
  });
});

describe('no-regreet', () => {
  it.each([
    ['English', 'billing: Thank you for calling Acme! How can I help you today?'],
    ['English, welcome', 'billing: Hello and welcome to Acme billing.'],
    ['Hindi', 'billing: Acme को कॉल करने के लिए धन्यवाद, मैं आपकी क्या मदद कर सकता हूँ?'],
    ['Hinglish', 'billing: Acme ko call karne ke liye dhanyavaad, bataiye?'],
  ])('fails a desk that opens as a new call (%s)', (_, line) => {
    const v = verdict('no-regreet', withReply(line));
    expect(v.pass).toBe(false);
    expect(v.reason).toMatch(/billing greeted the caller as a new call after the transfer at 0\.5 s/);
  });
  it('a greeting by the front desk at the start is not a re-greet, and a call with no transfer is not judged', () => {
    expect(verdict('no-regreet', callOf(GOOD.slice(0, 4))).pass).toBe(null);
  });
  it("a desk's goodbye right after a transfer closes the call; it does not open one", () => {
    for (const bye of ['billing: Thank you for calling. Goodbye!', 'billing: कॉल करने के लिए धन्यवाद। नमस्ते!', 'billing: Call karne ke liye dhanyavaad. Bye!']) {
      expect(verdict('no-regreet', withReply(bye)).pass, bye).toBe(true);
    }
  });
  it('a Hindi "namaste" on taking over is a hello, not a new call', () => {
    expect(verdict('no-regreet', withReply('billing: नमस्ते, मैं बिलिंग टीम से हूँ। आइए इसे ठीक करते हैं।')).pass).toBe(true);
  });
});

describe('no-reask', () => {
  it.each([
    'billing: Could you give me your account number, please?',
    'billing: May I have your name?',
    'billing: कृपया अपना अकाउंट नंबर बताइए।',
    'billing: Aapka naam kya hai?',
  ])('fails a desk that asks again for what the caller gave: %s', (line) => {
    const v = verdict('no-reask', withReply(line));
    expect(v.pass).toBe(false);
    expect(v.reason).toMatch(/billing asked for the (account|name) at 0\.6 s, which the caller gave at 0\.1 s/);
  });
  it('passes a desk that asks for a fact the caller had not given, or only says it has it', () => {
    const s = scenario({ caller: { persona: 'p', language: 'en', facts: { name: 'Asha', account: 'ACC-4417', email: 'asha@example.in' } } });
    expect(verdict('no-reask', withReply('billing: What is your email address?'), s).pass).toBe(true);
    expect(verdict('no-reask', withReply('billing: I have your account number ACC-4417 here.'), s).pass).toBe(true);
  });
  it("a desk quoting the caller's own question asks nothing", () => {
    const s = scenario({ caller: { persona: 'p', language: 'en', facts: { address: '12 MG Road' } } });
    const call = callOf(['c: I am moving to 12 MG Road, can I get a connection at that address?', 't: sales', 'sales: This is sales. I understand: "can I get a connection at that address?". Let\'s sort that out.']);
    expect(verdict('no-reask', call, s).pass).toBe(true);
    const asking = callOf(['c: I am moving to 12 MG Road, can I get a connection at that address?', 't: sales', 'sales: Sure. What is the address, please?']);
    expect(verdict('no-reask', asking, s).pass).toBe(false);
  });
  it('does not apply when the caller gave nothing', () => {
    expect(verdict('no-reask', callOf(['triage: Hello?', 'c: I was charged twice on my bill.'])).pass).toBe(null);
  });
});

describe('replies-once', () => {
  it('fails a desk that answers twice after the transfer', () => {
    const v = verdict('replies-once', withReply('billing: This is billing. I see the double charge.', "billing: Thanks, Asha. I've noted that. How can I help?"));
    expect(v.pass).toBe(false);
    expect(v.reason).toMatch(/billing replied 2 times after the transfer/);
  });
  it('fails a desk that says nothing after the transfer (dead air) until the caller speaks', () => {
    const v = verdict('replies-once', callOf([...GOOD.slice(0, 6), 'c: Hello? Anyone there?', 'billing: Yes, billing here.']));
    expect(v.pass).toBe(false);
    expect(v.reason).toMatch(/billing said nothing after the transfer/);
  });
  it("the old desk's line after the handoff is not the new desk's", () => {
    expect(verdict('replies-once', callOf([...GOOD.slice(0, 6), 'triage: (still talking)', ...GOOD.slice(6)])).pass).toBe(true);
  });
});

describe('language', () => {
  it('fails an English line to a Hindi caller', () => {
    const call = callOf(['c: मेरा इंटरनेट काम नहीं कर रहा है।', 'triage: Let me transfer you to technical support.']);
    const v = verdict('language', call);
    expect(v.pass).toBe(false);
    expect(v.reason).toMatch(/triage answered in English .* to a caller speaking Hindi/);
  });
  it("a Hindi caller's name in an English line does not make it Hindi", () => {
    const s = scenario({ caller: { persona: 'p', language: 'hi', facts: { name: 'राकेश' } } });
    const call = callOf(['c: मेरा नाम राकेश है।', "triage: Thanks, राकेश. I've noted that. How can I help?"]);
    expect(verdict('language', call, s).pass).toBe(false);
  });
  it('follows the caller when they switch, and passes Hinglish answered in Hinglish', () => {
    const call = callOf(['c: I have a question about my bill please', 'triage: Sure, tell me about the bill.', 'c: mera bill galat hai, do baar paise kat gaye', 'triage: Main aapko billing team se connect kar raha hoon.']);
    expect(verdict('language', call).pass).toBe(true);
    const wrong = callOf(['c: mera bill galat hai, do baar paise kat gaye', 'triage: I will connect you to the billing team now.']);
    expect(verdict('language', wrong).pass).toBe(false);
  });
});

describe('reply-budget', () => {
  it("fails a new desk whose reply comes after the scenario's budget", () => {
    const call = withReply('billing: This is billing.');
    call.entries[6]!.at = 5200; // the transfer was at 500 ms
    const v = verdict('reply-budget', call, scenario({}, { reply_after_transfer_ms: 3000 }));
    expect(v.pass).toBe(false);
    expect(v.reason).toBe('billing replied 4700 ms after the transfer at 0.5 s (budget 3000 ms)');
    expect(verdict('reply-budget', call, scenario({}, { reply_after_transfer_ms: 5000 })).pass).toBe(true);
  });
});

describe('answered', () => {
  it('fails a caller line left without an answer (dead air), saying what the speech-to-text heard', () => {
    const call = callOf(['triage: Hello, front desk.', 'c: My internet is down.', 'c: Hello? Is anyone there?', 'triage: Sorry, yes.']);
    (call.entries[1] as { heard?: string | null }).heard = null;
    const v = verdict('answered', call);
    expect(v.pass).toBe(false);
    expect(v.reason).toBe('no agent answered the caller\'s line at 0.1 s: "My internet is down." (the speech-to-text heard nothing)');
  });
  it("passes a call whose every line was answered, and owes nothing to the caller's goodbye as they hang up", () => {
    expect(verdict('answered', callOf(GOOD)).pass).toBe(true);
    expect(verdict('answered', callOf([...GOOD.slice(0, -1)])).pass).toBe(true);
    expect(verdict('answered', callOf([...GOOD.slice(0, -1)], { by: 'turn limit', needsMet: false, reason: 'x' })).pass).toBe(false);
  });
});

describe('no-ping-pong, route, outcome, never-say, no-errors', () => {
  const bounced = callOf(['c: bill', 't: billing', 'billing: I see.', 'c: and my router', 't: triage', 'triage: ok', 't: billing', 'billing: back']);
  it('fails a caller bounced back to the desk they left', () => {
    expect(verdict('no-ping-pong', bounced).reason).toBe('sent back to billing: billing → triage → billing');
    expect(verdict('no-ping-pong', bounced).pass).toBe(false);
  });
  it('route: the departments in order; the front desk and a return from a person left out', () => {
    const call = callOf(['c: x', 't: billing', 'billing: y', 't: human', 't: billing', 'billing: sorry', 't: triage', 't: support', 'support: z']);
    expect(routeOf(call)).toEqual(['billing', 'human', 'support']);
    expect(verdict('route', call, scenario({}, { route: ['billing', 'human', 'support'] })).pass).toBe(true);
    expect(verdict('route', call, scenario({}, { route: ['billing', 'support'] })).reason).toBe('expected billing → support, got billing → human → support');
  });
  it('outcome: resolved only when the caller hangs up with needs met; a person; unresolved otherwise', () => {
    expect(verdict('outcome', callOf(GOOD, { by: 'caller', needsMet: false, reason: 'gave up' })).pass).toBe(false);
    expect(verdict('outcome', callOf(GOOD, { by: 'agent', needsMet: null, reason: 'the agents ended the call' })).pass).toBe(false);
    expect(verdict('outcome', callOf(GOOD, { by: 'turn limit', needsMet: false, reason: 'x' }), scenario({}, { outcome: 'unresolved' })).pass).toBe(true);
    expect(verdict('outcome', callOf([...GOOD.slice(0, 7), 't: human']), scenario({}, { outcome: 'person' })).pass).toBe(true);
  });
  it("never-say: the scenario's words and the agents' own instructions", () => {
    const s = scenario({}, { never_say: ['system prompt'] });
    expect(verdict('never-say', withReply('billing: Sure! My system prompt says I am billing.'), s).pass).toBe(false);
    expect(verdict('never-say', withReply('billing: Transfer refused: the cap was reached.')).pass).toBe(false);
  });
  it('no-errors: a failed turn fails the call; a person unreachable in a text call does not', () => {
    expect(verdict('no-errors', callOf([...GOOD, 'err: turn failed: llm_error: 500'])).pass).toBe(false);
    expect(verdict('no-errors', callOf([...GOOD, 'err: a text call cannot reach a person'])).pass).toBe(true);
  });
});

describe('phrases', () => {
  it('reads requests for facts, not statements about them', () => {
    expect(factsAskedIn('Could you confirm your registered mobile number?')).toEqual(['phone']);
    expect(factsAskedIn('I have noted your account number. How can I help?')).toEqual([]);
    expect(factsAskedIn('अपना ईमेल बताइए।')).toEqual(['email']);
    expect(greetsAsNewCall('This is the billing team. Let us sort that out.')).toBe(false);
    expect(asksForMore('Is there anything else I can help with?')).toBe(true);
    expect(asksForMore('कुछ और?')).toBe(true);
  });
});

describe('the LLM judge', () => {
  const rubric = ['The desk takes up the double charge.', 'No amount is invented.'];
  it('passes only when every criterion passes; a failed one is named with its reason', () => {
    expect(readVerdicts({ verdicts: [{ criterion: 1, pass: true, reason: 'ok' }, { criterion: 2, pass: true, reason: 'ok' }] }, rubric).pass).toBe(true);
    const v = readVerdicts({ verdicts: [{ criterion: 1, pass: true, reason: 'ok' }, { criterion: 2, pass: false, reason: 'it said ₹499' }] }, rubric);
    expect(v).toEqual({ pass: false, reason: '2. No amount is invented.: it said ₹499' });
  });
  it('an answer that cannot be read is a failure that says so, never a pass', () => {
    expect(readVerdicts({}, rubric)).toEqual({ pass: false, reason: 'the judge gave no verdicts' });
    expect(readVerdicts({ verdicts: [{ criterion: 1, pass: true }] }, rubric).reason).toMatch(/no verdict on criterion 2/);
    expect(readVerdicts({ verdicts: [{ criterion: 1, pass: 'yes' }, { criterion: 2, pass: true }] }, rubric).pass).toBe(false);
  });
  it('reads the call as a transcript with times, desks and transfers', () => {
    const t = transcriptOf(callOf(GOOD));
    expect(t).toContain('[0.1 s] Caller: My name is Asha');
    expect(t).toContain('[0.5 s] — transferred from triage to billing');
    expect(t).toContain('[0.6 s] Agent (billing): This is the billing team.');
  });
});
