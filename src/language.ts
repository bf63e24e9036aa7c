/**
 * The caller's language: English, Hindi (Devanagari) or Hinglish (romanised Hindi mixed with English),
 * detected in-process from what the caller says, and put into words for the agents' instructions.
 * Any other language an agent or the speech-to-text names is kept as its ISO 639-1 code.
 */

export type Language = 'en' | 'hi' | 'hinglish' | (string & {});

const NAMES: Record<string, string> = { en: 'English', hi: 'Hindi', hinglish: 'Hinglish' };

/** The language's name for people and prompts: "Hindi"; another code by `Intl.DisplayNames`. */
export function languageName(lang: Language): string {
  if (NAMES[lang]) return NAMES[lang]!;
  try {
    return new Intl.DisplayNames(['en'], { type: 'language' }).of(lang) ?? lang;
  } catch {
    return lang;
  }
}

const ALIASES: Record<string, Language> = {
  english: 'en', en: 'en', 'en-in': 'en', 'en-us': 'en', 'en-gb': 'en',
  hindi: 'hi', hi: 'hi', 'hi-in': 'hi', 'हिंदी': 'hi', 'हिन्दी': 'hi',
  hinglish: 'hinglish', 'hi-latn': 'hinglish', 'romanised hindi': 'hinglish', 'romanized hindi': 'hinglish',
};

/** What an agent or a setting calls a language ("Hindi", "hi-IN", "Hinglish") as a `Language`, or null. */
export function parseLanguage(input: string | null | undefined): Language | null {
  const key = (input ?? '').trim().toLowerCase();
  if (!key) return null;
  if (ALIASES[key]) return ALIASES[key]!;
  if (/^[a-z]{2}(-[a-z]{2,4})?$/.test(key)) return key.slice(0, 2);
  const byName = ['en', 'hi', 'bn', 'ta', 'te', 'mr', 'gu', 'kn', 'ml', 'pa', 'ur'].find((c) => languageName(c).toLowerCase() === key);
  return byName ?? null;
}

/** Romanised Hindi function words and verbs that English does not use (no "do", "to", "me", "main", "the", "band"). */
const HINDI_WORDS = new Set(
  ('hai hain mera meri mere mujhe muje humko hamara hamari aap aapka aapki apna apni kya kyun kyon kaise kab kahan ' +
    'nahi nahin nhi karna karo karke kar raha rahi rahe gaya gayi gaye ho hoga hogi chahiye chahte chahti ' +
    'bhi aur se ko ka ki ke liye tha thi kuch koi abhi jaldi wala wali baat batao bataiye bataye dijiye ' +
    'chal chala chalega kaam paise baar kat kata theek thik accha acha haan ji bhai yaar samajh ' +
    'naya nayi purana lena dena milega kitna kitne kitni sakta sakti sakte hua hui dobara phir lekin magar ' +
    'kripya shukriya dhanyavaad dhanyawad namaste aapko hamko hoon hun pe woh wo yeh ye isko isme usko uske ' +
    'baad wapas bhej jod denge dete karte karwana dikh madad chaliye samjha gayab aaj kal mein kaisa kaisi kaun ek sunao suno bolo bas itna').split(/\s+/),
);

const DEVANAGARI = /[\u0900-\u097F]/g;
const LATIN_WORD = /[a-z]+(?:'[a-z]+)?/gi;

/**
 * The language of one caller line, or null when the line is too short to tell ("ok", "haan", "yes
 * please"): a line with Devanagari is Hindi; Latin words with at least two romanised Hindi words,
 * a sixth or more of the line (one in a line of two or three words), are Hinglish; three or more
 * Latin words with none are English; anything between says nothing (the call keeps its language).
 */
export function detectLanguage(text: string): Language | null {
  const devanagari = text.match(DEVANAGARI)?.length ?? 0;
  const words = (text.match(LATIN_WORD) ?? []).map((w) => w.toLowerCase());
  if (devanagari > 0 && devanagari >= words.join('').length / 2) return 'hi';
  const hindi = words.filter((w) => HINDI_WORDS.has(w)).length;
  if (devanagari === 0 && words.length < 2) return null;
  // An English sentence can hold a stray "ho" or "ki" (names, "K.I."): Hinglish needs them to be a part of it.
  if ((hindi >= 2 && hindi / words.length >= 0.15) || (hindi === 1 && words.length <= 3)) return 'hinglish';
  if (devanagari > 0) return 'hi';
  // A Hindi word or two in a long line could be either ("bas itna hi, shukriya" / a name): undecided.
  return words.length >= 3 && hindi === 0 ? 'en' : null;
}

/**
 * The language a call follows after the caller's line, when it changes: the line's, if it tells one
 * and it differs from the caller's (`known`). While the caller's is not known, every language but
 * English is taken — a Hindi caller greeted in Hindi (GREETING_LANGUAGE=hi) is a Hindi caller, whose
 * desks must be told so — and English once the greeting was in another language. Null when nothing
 * changes: an English caller on an English line, an "ok".
 */
export function languageSwitch(text: string, known: string | undefined, greeting?: string): Language | null {
  return changedFrom(detectLanguage(text), known, greeting);
}

/** `language` when it is one and differs from the caller's (`known`; while unknown, from English unless the greeting was not). */
function changedFrom(language: Language | null, known: string | undefined, greeting: string | undefined): Language | null {
  if (!language) return null;
  if (known) return language !== known ? language : null;
  return language !== 'en' || (greeting ?? 'en') !== 'en' ? language : null;
}

/**
 * The language a speech-to-text reported for a caller turn (where its plugin reports one: OpenAI's
 * `gpt-transcribe` models when detecting, most other STT plugins), as a switch: taken only while the
 * call's language is not yet known (`known`), for once it is the STT is told that language and only
 * echoes it. A line's own language (`languageSwitch`) comes after it and wins where it tells one.
 */
export function sttLanguageSwitch(reported: string, known: string | undefined, greeting: string | undefined): Language | null {
  return known ? null : changedFrom(parseLanguage(reported), undefined, greeting);
}

/** The instruction that makes every desk answer in the caller's language. */
export function languageInstruction(lang: Language): string {
  if (lang === 'hinglish') {
    return (
      'The caller speaks Hinglish (Hindi and English mixed, in Latin script); reply in Hinglish the same ' +
      'way, in Latin script, even right after a transfer.'
    );
  }
  if (lang === 'hi') return 'The caller speaks Hindi; reply in Hindi (Devanagari script), even right after a transfer.';
  const name = languageName(lang);
  return `The caller speaks ${name}; reply in ${name}, even right after a transfer.`;
}

/**
 * The language code to tell a speech-to-text model: Hinglish is transcribed as Hindi (whose
 * end-of-turn thresholds also fit its sentence shape), and the turn detector reads that code back.
 */
export function sttLanguageOf(lang: Language): string {
  return lang === 'hinglish' ? 'hi' : lang;
}
