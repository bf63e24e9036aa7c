/**
 * Personal data masked for `REDACT_PII=on`: phone numbers, card numbers, account and customer ids and
 * email addresses, in English, Hindi (Devanagari, its digits ०-९ too) and Hinglish text. Pure: no
 * settings, no I/O. What the call's consumers use where data leaves the call (the records and webhooks,
 * the inspector, the log); the call itself, and so the agents' own context, never sees it.
 *
 * A masked value becomes `[phone …3210]`, `[card …4242]`, `[account …2345]` or `[email]`: its kind and
 * its last digits, at most 4 and never more than half of them (`ACC-4417` → `[account …17]`). Masking
 * is idempotent: a masked text or caller is left as it is. Amounts (`₹49,999`), dates, times, speeds
 * (`300 Mbps`) and counts are not personal data and stay.
 */
import type { CallerInfo } from '../machines/router.js';
import type { CallEvent, CallView } from './call/events.js';

export type PiiKind = 'phone' | 'card' | 'account' | 'email';

/** Any digit a transcript may carry: ASCII or Devanagari. */
const DIGIT = /[0-9\u0966-\u096F]/g;

/** `[kind …last digits]`: at most the last 4 digits, never more than half of them; `[email]` keeps none. */
export function maskToken(kind: PiiKind, original: string): string {
  if (kind === 'email') return '[email]';
  const digits = original.match(DIGIT) ?? [];
  const keep = Math.min(4, Math.floor(digits.length / 2));
  return keep > 0 ? `[${kind} …${digits.slice(-keep).join('')}]` : `[${kind}]`;
}

/** A value already masked (so masking it again changes nothing). */
export function isMasked(value: string): boolean {
  return /^\[(phone|card|account|email)(?: …[0-9\u0966-\u096F]+)?\]$/.test(value);
}

// ---- finding personal data in text -----------------------------------------------------------------

/** A stretch of text to mask, and what it is. */
interface Span {
  start: number;
  end: number;
  kind: PiiKind;
}

/** Devanagari digits read as ASCII ones, one UTF-16 unit for one: every index stays where it was. */
const asciiDigits = (text: string) => text.replace(/[\u0966-\u096F]/g, (d) => String(d.charCodeAt(0) - 0x966));

const digitCount = (s: string) => s.replace(/\D/g, '').length;

/** The Luhn check every card number passes. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** Not inside a longer number or word (a digit, letter or `+` right before; a digit or letter right after). */
const BEFORE = String.raw`(?<![\p{L}\p{M}\p{N}+])`;
const AFTER = String.raw`(?![\p{L}\p{M}\p{N}])`;
/** An Indian mobile's 10 digits (6-9 first) as people group them: 10, 5-5, 3-3-4, 2-4-4, 4-3-3. */
const MOBILE = String.raw`[6-9](?:\d{9}|\d{4}[\s-]\d{5}|\d{2}[\s-]\d{3}[\s-]\d{4}|\d[\s-]\d{4}[\s-]\d{4}|\d{3}[\s-]\d{3}[\s-]\d{3})`;

/** A pattern and the check its match must pass (the digits it must have, a checksum). */
interface Detector {
  kind: PiiKind;
  re: RegExp;
  accept?: (match: string) => boolean;
  /** The part of the match to mask (default: all of it), e.g. the id after "account number". */
  group?: number;
}

const ACCOUNT_WORDS = [
  'account', 'acct', 'a/c', 'customer', 'client', 'consumer', 'member', 'khata', 'khaata',
  'खाता', 'खाते', 'अकाउंट', 'एकाउंट', 'ग्राहक', 'कस्टमर', 'उपभोक्ता',
];
/** Words between the keyword and the id: "account number is", "खाता संख्या है". */
const ACCOUNT_FILLERS = [
  'number', 'num', 'no\\.?', 'id', 'code', 'is', 'hai', 'ka', 'संख्या', 'नंबर', 'नम्बर', 'क्रमांक', 'आईडी', 'है', 'का',
];
const ACCOUNT_KEYWORD = String.raw`(?<![\p{L}\p{M}])(?:${ACCOUNT_WORDS.join('|')})(?![\p{L}\p{M}])(?:[\s:#.-]+(?:${ACCOUNT_FILLERS.join('|')})(?![\p{L}\p{M}]))*[\s:#.-]*`;
/** An id after the keyword: digits (grouped by 3 or more), perhaps after a short prefix (`ACC-4417`). */
const ACCOUNT_ID = String.raw`((?:[A-Za-z]{1,5}[-/#]?)?\d+(?:[\s-]\d{3,})*)${AFTER}`;
/** Ids that say what they are without a keyword: `ACC-4417`, `CUST 00123`, `CRN4411`. */
const ID_PREFIX = String.raw`(?:ACCT|ACC|CUST|CUS|CID|CRN|CIF)`;

/** The endings a spoken address must have ("… dot com"), so "me at 5 dot something" is not one. */
const SPOKEN_TLDS = 'com|in|org|net|co|io|edu|gov|info|biz|me|us|uk|ai|app|dev';

/** In order: the first detector to claim a stretch of text wins it. */
const DETECTORS: Detector[] = [
  // maya.s@example.co.in, and as speech-to-text writes it: "maya at gmail dot com".
  { kind: 'email', re: /[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+/gu },
  {
    kind: 'email',
    re: new RegExp(
      String.raw`(?<![\p{L}\p{N}])(?:[\p{L}\p{N}_-]+\s+(?:dot|डॉट)\s+)*[\p{L}\p{N}._-]+\s+(?:at|एट)\s+[\p{L}\p{N}-]+` +
        String.raw`(?:\s+(?:dot|डॉट)\s+[\p{L}]{2,})*\s+(?:dot|डॉट)\s+(?:${SPOKEN_TLDS})(?![\p{L}\p{N}])`,
      'giu',
    ),
  },
  // "account number 55012345", "खाता संख्या ५५०१२३४५", "customer id is ACC-4417": the id, at least 4 digits.
  { kind: 'account', re: new RegExp(ACCOUNT_KEYWORD + ACCOUNT_ID, 'giu'), group: 1, accept: (m) => digitCount(m) >= 4 },
  // 13 to 19 digits, grouped or not, not starting with 0: a card when the Luhn check passes, or when it
  // has a card's 16 digits (a card number misheard by speech-to-text is still one).
  {
    kind: 'card',
    re: new RegExp(String.raw`${BEFORE}[1-9](?:[\s-]?\d){12,18}${AFTER}`, 'gu'),
    accept: (m) => {
      const digits = m.replace(/\D/g, '');
      return digits.length === 16 || luhnValid(digits);
    },
  },
  // +91 98765 43210, 0091-98765-43210, 098765 43210, 9876543210, 91 98765 43210.
  { kind: 'phone', re: new RegExp(String.raw`${BEFORE}(?:(?:\+|00)\s?91[\s-]?(?:\(0\)\s?)?|(?:0|91)[\s-]?)?${MOBILE}${AFTER}`, 'gu') },
  // Other countries: + or 00, a country code, then 8 to 15 digits in all (+44 20 7946 0958, +1 (415) 555-0132).
  {
    kind: 'phone',
    re: new RegExp(String.raw`${BEFORE}(?:\+\s?|00)\d{1,3}(?:[\s.-]?\(?\d{1,5}\)?){1,6}${AFTER}`, 'gu'),
    accept: (m) => {
      const n = digitCount(m) - (m.startsWith('00') ? 2 : 0);
      return n >= 8 && n <= 15;
    },
  },
  // Indian landlines: a trunk 0, the area code, the number: 080 2345 6789, (011) 2345-6789.
  { kind: 'phone', re: new RegExp(String.raw`${BEFORE}\(?0\d{2,4}\)?[\s-]?\d{3,4}[\s-]?\d{4}${AFTER}`, 'gu'), accept: (m) => digitCount(m) === 11 },
  // North American numbers written with brackets, hyphens or dots: (415) 555-0132, 415-555-0132.
  { kind: 'phone', re: new RegExp(String.raw`${BEFORE}(?:\(\d{3}\)\s?|\d{3}[.-])\d{3}[.-]\d{4}${AFTER}`, 'gu') },
  { kind: 'account', re: new RegExp(String.raw`${BEFORE}${ID_PREFIX}[-#:/]?\s?\d{3,}(?:[\s-]\d{3,})*${AFTER}`, 'giu') },
];

/** Where each detector finds personal data in `text` (ASCII digits), the earlier detectors first. */
function spansIn(text: string): Span[] {
  const taken: Span[] = [];
  const free = (s: Span) => taken.every((t) => s.end <= t.start || s.start >= t.end);
  for (const d of DETECTORS) {
    for (const m of text.matchAll(d.re)) {
      const part = d.group ? m[d.group] : m[0];
      if (part === undefined || (d.accept && !d.accept(part))) continue;
      // A group is the match's end (the id after its keyword).
      const start = m.index! + m[0].length - part.length;
      const span = { start, end: start + part.length, kind: d.kind };
      if (free(span)) taken.push(span);
    }
  }
  return taken.sort((a, b) => a.start - b.start);
}

/** The text with its phone numbers, card numbers, account ids and email addresses masked. */
export function redactText(text: string): string {
  if (!/[\d\u0966-\u096F@]|\bat\b|एट/i.test(text)) return text;
  const spans = spansIn(asciiDigits(text));
  let out = '';
  let at = 0;
  for (const s of spans) {
    out += text.slice(at, s.start) + maskToken(s.kind, text.slice(s.start, s.end));
    at = s.end;
  }
  return out + text.slice(at);
}

// ---- structured data -------------------------------------------------------------------------------

/** Caller details kept as they are: the name (a supervisor needs it), the language, the company's own number, SIP ids. */
const KEPT_FIELDS = new Set(['name', 'language', 'dialedNumber', 'sipCallId', 'sipCallIdFull']);

/** One named value: a phone number or account id masked whole, a field kept, any other text redacted. */
export function redactField(key: string, value: string): string {
  if (isMasked(value)) return value;
  if (key === 'phoneNumber') return maskToken('phone', value);
  if (key === 'accountId') return maskToken('account', value);
  return KEPT_FIELDS.has(key) ? value : redactText(value);
}

/** The caller's details with the phone number and account id masked (the name stays). */
export function redactCaller<T extends CallerInfo | Record<string, string>>(info: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(info)) out[k] = typeof v === 'string' ? redactField(k, v) : v;
  return out as T;
}

const maybe = (s: string | null | undefined) => (typeof s === 'string' ? redactText(s) : s);

/** A call event as it may leave the call: every text and caller detail in it redacted. */
export function redactEvent(e: CallEvent): CallEvent {
  switch (e.type) {
    case 'started':
    case 'caller':
      return { ...e, caller: redactCaller(e.caller) };
    case 'user':
    case 'agent':
    case 'summary':
      return { ...e, text: redactText(e.text) };
    case 'handoff':
    case 'rejected':
      return { ...e, reason: redactText(e.reason) };
    case 'keypad':
      return e.reason === undefined ? e : { ...e, reason: redactText(e.reason) };
    case 'error':
      return { ...e, message: redactText(e.message) };
    case 'end':
      return { ...e, reason: maybe(e.reason) ?? null };
    case 'person':
    case 'turn':
    case 'recording': // its file name is made without the call id (which may carry a phone number)
      return e;
    default:
      return unknownEvent(e);
  }
}

/** Every event type is decided above: a new one fails to compile here until it is. */
function unknownEvent(e: never): never {
  throw new Error(`redaction: no rule for the call event ${JSON.stringify(e)}`);
}

/** A call's view (the inspector's page) redacted: caller, reasons, transcript, errors, outcome. */
export function redactView<V extends CallView>(v: V): V {
  return {
    ...v,
    caller: redactCaller(v.caller),
    timeline: v.timeline.map((t) => (t.reason === undefined ? t : { ...t, reason: redactText(t.reason) })),
    refusals: v.refusals.map((r) => ({ ...r, reason: redactText(r.reason) })),
    transcript: v.transcript.map((l) => ({ ...l, text: redactText(l.text) })),
    errors: v.errors.map((e) => ({ ...e, message: redactText(e.message) })),
    ...(v.endReason !== undefined ? { endReason: maybe(v.endReason) ?? null } : {}),
  };
}

/**
 * Any JSON-like value (a log entry): every string redacted, caller fields by their name, and a string
 * that holds JSON (the framework logs a tool's arguments as one: `{"accountId":"4411"}`) read as JSON.
 */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactString(value, depth);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = typeof v === 'string' && CALLER_FIELDS.has(k) ? redactField(k, v) : redactDeep(v, depth + 1);
  }
  return out;
}

/** The fields `redactField` knows by name. */
const CALLER_FIELDS = new Set(['phoneNumber', 'accountId', ...KEPT_FIELDS]);

function redactString(s: string, depth: number): string {
  const t = s.trim();
  if ((t.startsWith('{') && t.endsWith('}')) || (t.startsWith('[') && t.endsWith(']'))) {
    try {
      return JSON.stringify(redactDeep(JSON.parse(t), depth + 1));
    } catch {
      // Not JSON after all: text.
    }
  }
  return redactText(s);
}
