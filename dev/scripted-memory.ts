/**
 * The scripted server's part in long calls (src/call/memory.ts):
 *
 * - a summariser: it answers the summary prompt ("# Summarise this call") with notes that keep the earlier
 *   notes and every caller line that carries a fact (a number, a name, a need), quoted — as a careful model
 *   would keep them; nothing else;
 * - recall: a desk asked "what was my order number?" answers from what its request carries of the call
 *   (the conversation and the notes — not its instructions, where the caller's saved details are), or says
 *   it does not have it. So a fact lost from a request shows as a wrong answer.
 */
import { type ChatMessageIn, type ChatRequest, type ScriptedReply, replyLanguageOf, textOf, topicsIn } from './scripted-llm.js';

export const isSummaryPrompt = (req: ChatRequest) => textOf(req.messages[0]).startsWith('# Summarise this call');

/** A caller line worth keeping in notes: it names a number, a name or a need. */
const carriesFact = (line: string) => /\d|\b(?:my name|mera naam)\b|मेरा नाम|[०-९]/i.test(line) || topicsIn(line).length > 0;

export function scriptedSummary(req: ChatRequest): ScriptedReply {
  const input = textOf(req.messages.find((m) => m.role === 'user'));
  const earlier = /^Earlier notes:\n([\s\S]*?)\n\nConversation to add:/.exec(input)?.[1]?.trim();
  const added = input.split('Conversation to add:\n')[1] ?? '';
  const kept = added
    .split('\n')
    .filter((l) => l.startsWith('Caller: '))
    .map((l) => l.slice('Caller: '.length).trim())
    .filter(carriesFact)
    .map((l) => `Caller said: "${l.slice(0, 160)}".`);
  const notes = [...(earlier ? [earlier] : []), ...kept];
  return { text: notes.length ? notes.join(' ') : 'Caller made small talk; no facts given.' };
}

type Recalled = 'order' | 'amount' | 'account' | 'first need';

/**
 * What the caller asks to be reminded of, if anything: only a question asking to repeat what they said ("…again?",
 * "did I tell you…", "फिर से", "bataya tha") — "what is the charge?" is a question for the desk, not recall.
 */
function asked(line: string): Recalled | null {
  if (!line.includes('?')) return null; // "…overcharged me again, account ACC-3030!" asks nothing
  if (/\bwhat did i first call about\b|\bsabse pehle\b|सबसे पहले/i.test(line)) return 'first need';
  if (!/\b(again|did i (?:tell|say|give|mention)|remind me|i told you|bataya tha|phir se)\b|बताया था|फिर से|दोबारा/i.test(line)) return null;
  if (/\border\b|ऑर्डर/i.test(line)) return 'order';
  if (/\b(charged|charge|amount|how much|kitne|kitna)\b|कितन|रकम|चार्ज/i.test(line)) return 'amount';
  if (/\baccount\b|अकाउंट|खाता/i.test(line)) return 'account';
  return null;
}

const PATTERNS: Record<Exclude<Recalled, 'first need'>, RegExp> = {
  order: /(?:order|ऑर्डर)\s*(?:number|no\.?|id|नंबर)?\s*(?:is|hai|है)?\s*#?\s*([A-Z]{2,4}-?\d{3,})/i,
  amount: /((?:₹|rs\.?)\s?[\d,]+|[\d,]{3,}\s?(?:rupees|रुपये|rupaye))/i,
  account: /(?:account|अकाउंट|खाता)\s*(?:number|no\.?|id|नंबर|संख्या)?\s*(?:is|hai|है)?\s*[:#]?\s*([A-Z]{2,4}-?\d{3,})/i,
};

const ANSWERS = {
  en: { told: (what: string, v: string) => `You told me your ${what} is ${v}.`, first: (v: string) => `You first called about this: "${v}".`, none: "I'm sorry, I don't have that in front of me." },
  hi: { told: (what: string, v: string) => `आपने बताया था कि आपका ${what} ${v} है।`, first: (v: string) => `आपने सबसे पहले इस बारे में कॉल किया था: "${v}"।`, none: 'माफ़ कीजिए, वह जानकारी मेरे सामने नहीं है।' },
  hinglish: { told: (what: string, v: string) => `Aapne bataya tha ki aapka ${what} ${v} hai.`, first: (v: string) => `Aapne sabse pehle is baare mein call kiya tha: "${v}".`, none: 'Sorry, woh jaankari mere saamne nahi hai.' },
};
const WHAT = { en: { order: 'order number', amount: 'charge', account: 'account number' }, hi: { order: 'ऑर्डर नंबर', amount: 'चार्ज', account: 'अकाउंट नंबर' }, hinglish: { order: 'order number', amount: 'charge', account: 'account number' } };

/** What the request carries of the call: every message but the desk's instructions (the first system message). */
const carried = (req: ChatRequest): ChatMessageIn[] => {
  const first = req.messages.findIndex((m) => m.role === 'system' || m.role === 'developer');
  return req.messages.filter((m, i) => i !== first && m.role !== 'tool' && m.role !== 'assistant');
};

/** The desk's answer to a caller asking to be reminded of a fact, or undefined when the line asks nothing of the kind. */
export function recall(req: ChatRequest, line: string): ScriptedReply | undefined {
  const what = asked(line);
  if (!what) return undefined;
  const lang = replyLanguageOf(req);
  const texts = carried(req).map(textOf).filter((t) => t !== line);
  if (what === 'first need') {
    const first = texts.flatMap((t) => (t.startsWith('Notes on the call so far') ? [...t.matchAll(/Caller said: "([^"]+)"/g)].map((m) => m[1]!) : [t])).find((t) => topicsIn(t).length > 0);
    return { text: first ? ANSWERS[lang].first(first) : ANSWERS[lang].none };
  }
  const found = texts.map((t) => PATTERNS[what].exec(t)?.[1]).filter(Boolean).at(-1);
  return { text: found ? ANSWERS[lang].told(WHAT[lang][what], found) : ANSWERS[lang].none };
}
