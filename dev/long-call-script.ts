/**
 * A long call's caller, in English and Hindi (the long-call tests and `npm run bench`): two lines of facts
 * (name and account; an order number and an amount charged twice), talk that asks for nothing, a need
 * for Support, more talk, a need for Sales, more talk, and at the end three questions about what the
 * caller said at the start — each with the answer a desk that still knows it gives.
 */
export interface LongCallScript {
  facts: string[];
  filler: string[];
  transfers: string[];
  questions: { line: string; answer: RegExp }[];
}

export const LONG_CALL: Record<'en' | 'hi', LongCallScript> = {
  en: {
    facts: ['My name is Maya and my account number is ACC-5521.', 'My order number is ORD-88412 and I was charged 1,499 rupees twice on my bill.'],
    filler: ['Hmm, let me think about it for a moment.', 'Right, and what happens after that?', 'Could you repeat the last part?', 'Okay, I am noting all of this.', 'I see, go on please.'],
    transfers: ['Also my internet is not working since yesterday.', 'I want to upgrade my plan to a faster one.'],
    questions: [
      { line: 'What was my order number again?', answer: /ORD-88412/ },
      { line: 'How much was I charged again?', answer: /1,499 rupees/ },
      { line: 'What did I first call about?', answer: /charged 1,499 rupees twice/ },
    ],
  },
  hi: {
    facts: ['मेरा नाम माया है और मेरा अकाउंट नंबर ACC-5521 है।', 'मेरा ऑर्डर नंबर ORD-88412 है और मेरे बिल पर 1,499 रुपये दो बार कट गए।'],
    filler: ['अच्छा, एक मिनट सोचने दीजिए।', 'ठीक है, उसके बाद क्या होगा?', 'आख़िरी बात एक बार और कहिए।', 'ठीक है, मैं यह सब लिख रहा हूँ।', 'समझ गया, आगे बताइए।'],
    transfers: ['मेरा इंटरनेट कल से काम नहीं कर रहा है।', 'मुझे नया प्लान चाहिए, अपग्रेड करना है।'],
    questions: [
      { line: 'क्या आप मेरा ऑर्डर नंबर फिर से बता सकते हैं?', answer: /ORD-88412/ },
      { line: 'मेरा चार्ज कितना था, फिर से बताइए?', answer: /1,499 रुपये/ },
      { line: 'मैंने सबसे पहले किस बारे में कॉल किया था?', answer: /1,499 रुपये दो बार/ },
    ],
  },
};

/**
 * The caller's lines, `turns` in all: the facts, talk, the Support need a third of the way in, the Sales
 * need two thirds in, talk, the questions last.
 */
export function longCallLines(s: LongCallScript, turns = 63): string[] {
  const talkTurns = turns - s.facts.length - s.transfers.length - s.questions.length;
  const talk = (n: number, from: number) => Array.from({ length: n }, (_, i) => s.filler[(from + i) % s.filler.length]!);
  const a = Math.round(talkTurns / 3);
  const b = Math.round(talkTurns / 3);
  return [...s.facts, ...talk(a, 0), s.transfers[0]!, ...talk(b, a), s.transfers[1]!, ...talk(talkTurns - a - b, a + b), ...s.questions.map((q) => q.line)];
}
