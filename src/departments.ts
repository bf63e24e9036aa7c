/**
 * The department table: who each agent is, how it sounds, and how it opens. Data, not code paths —
 * adding a department means a state in `machines/router.ts` and a row here; tools, diagram and
 * tests follow from those two.
 */
import type { CallerInfo, Target } from '../machines/router.js';
import { languageInstruction, languageName } from './language.js';

/**
 * What a desk's requests carry of a long call (see src/call/memory.ts): `full`, every turn; `summary`, the
 * notes on the older turns (once made) and the recent turns verbatim; `recent`, the recent turns only.
 */
export type HistoryPolicy = 'full' | 'summary' | 'recent';

/** History (≈ tokens) a call reaches before its older turns are summarised (CONTEXT_BUDGET_TOKENS; 0: never). */
export const DEFAULT_CONTEXT_BUDGET_TOKENS = 600;

/** The languages desk names are written in: English, Hindi (Devanagari), Hinglish (Latin script). */
export type DeskLanguage = 'en' | 'hi' | 'hinglish';

export interface DepartmentSpec {
  id: Target;
  /** The desk's name on the inspector page and in the agents' prompts. */
  title: string;
  /**
   * How the desk introduces itself to a caller, in each language the desks answer in (Hinglish in Latin
   * script); any other language takes the English name. `DESK_NAME_<ID>` overrides it in every language.
   */
  callerName: Readonly<Record<DeskLanguage, string>>;
  /** Default OpenAI TTS voice, so a transfer is audible (override with TTS_VOICE_<ID>). */
  voice: string;
  /** What this desk does; the common rules are appended by `instructionsFor`. */
  role: string;
  /** What the desk is for, as the other desks' transfer tool to it describes it. */
  handles: string;
  /** The keypad digit that asks for this desk by default (`DTMF_MAP`). */
  keypad: string;
  /** How much of a long call its requests carry, from the moment it takes the call (see HistoryPolicy). */
  history: HistoryPolicy;
}

export const DEPARTMENT_TABLE: Readonly<Record<Target, DepartmentSpec>> = {
  triage: {
    id: 'triage',
    callerName: { en: 'the front desk', hi: 'फ्रंट डेस्क', hinglish: 'front desk' },
    keypad: '9',
    history: 'summary',
    title: 'Triage',
    voice: 'alloy',
    handles: 'the front desk, for a caller who needs another department or is not sure which one',
    role:
      'You are the front desk. Greet callers, learn who they are (name, account id if they have one) and ' +
      'what they need, then send them to the right specialist: Billing for invoices, charges, refunds and ' +
      'payment methods; Sales for plans, prices, upgrades and new purchases; Support for anything broken ' +
      'or not working. Do not try to solve specialist problems yourself.',
  },
  billing: {
    id: 'billing',
    callerName: { en: 'the billing team', hi: 'बिलिंग टीम', hinglish: 'billing team' },
    keypad: '1',
    history: 'summary',
    title: 'Billing',
    voice: 'sage',
    handles: 'invoices, charges, double charges, refunds, payment methods and due dates',
    role:
      'You are the billing specialist: invoices, charges, double charges, refunds, payment methods and ' +
      'due dates. Be precise about amounts and dates; never invent an amount you were not told.',
  },
  sales: {
    id: 'sales',
    callerName: { en: 'the sales team', hi: 'सेल्स टीम', hinglish: 'sales team' },
    keypad: '2',
    history: 'summary',
    title: 'Sales',
    voice: 'coral',
    handles: 'plans, pricing, upgrades, add-ons and new purchases',
    role:
      'You are the sales specialist: plans, pricing, upgrades, add-ons and new purchases. Recommend what ' +
      'fits what the caller told you; no pressure.',
  },
  support: {
    id: 'support',
    callerName: { en: 'technical support', hi: 'टेक्निकल सपोर्ट', hinglish: 'technical support' },
    keypad: '3',
    history: 'summary',
    title: 'Support',
    voice: 'verse',
    handles: 'outages, errors, devices, accounts that do not work',
    role:
      'You are the technical support specialist: outages, errors, devices, accounts that do not work. ' +
      'Troubleshoot one step at a time and check the result of each step with the caller.',
  },
  human: {
    id: 'human',
    callerName: { en: 'a member of our team', hi: 'हमारी टीम का एक साथी', hinglish: 'hamari team ka ek member' },
    keypad: '0',
    history: 'summary',
    title: 'Human hand-off',
    voice: 'alloy',
    handles: 'a person on our team, when the caller asks for a human or you cannot help',
    role:
      'The caller is being connected to a person on our team. Tell them so in one sentence and ask them to ' +
      'stay on the line. Do not try to solve their problem yourself anymore.',
  },
};

/** Every agent the table describes, in its order: the departments, then the person hand-off. */
export const TARGETS = Object.keys(DEPARTMENT_TABLE) as Target[];

/** The setting that overrides a desk's voice: `TTS_VOICE_BILLING`. */
export type VoiceSetting = `TTS_VOICE_${Uppercase<Target>}`;
export const voiceSetting = (t: Target) => `TTS_VOICE_${t.toUpperCase()}` as VoiceSetting;
export const VOICE_SETTINGS = TARGETS.map(voiceSetting);

/** The setting that renames a desk for callers: `DESK_NAME_BILLING`. */
export type DeskNameSetting = `DESK_NAME_${Uppercase<Target>}`;
export const deskNameSetting = (t: Target) => `DESK_NAME_${t.toUpperCase()}` as DeskNameSetting;
export const DESK_NAME_SETTINGS = TARGETS.map(deskNameSetting);

/** Caller-facing desk names: the table's, with any configured overrides. */
export type DeskNames = Readonly<Partial<Record<Target, string>>>;
/** What a caller speaking `language` hears a desk called: a configured name, else the table's in that language. */
export const callerNameOf = (t: Target, names: DeskNames = {}, language?: string) =>
  names[t] ?? DEPARTMENT_TABLE[t].callerName[(language ?? 'en') as DeskLanguage] ?? DEPARTMENT_TABLE[t].callerName.en;

/** The default keypad map (`DTMF_MAP`), from each desk's digit in keypad order (0 last): `1:billing,…,0:human`. */
const keyOrder = (t: Target) => (DEPARTMENT_TABLE[t].keypad === '0' ? 10 : Number(DEPARTMENT_TABLE[t].keypad));
export const DEFAULT_DTMF_MAP = [...TARGETS]
  .sort((a, b) => keyOrder(a) - keyOrder(b))
  .map((t) => `${DEPARTMENT_TABLE[t].keypad}:${t}`)
  .join(',');

export function describeCaller(caller: CallerInfo): string {
  const known: string[] = [];
  if (caller.name) known.push(`name: ${caller.name}`);
  if (caller.phoneNumber) known.push(`phone number: ${caller.phoneNumber}`);
  if (caller.accountId) known.push(`account id: ${caller.accountId}`);
  if (caller.need) known.push(`what they need: ${caller.need}`);
  return known.length ? known.join('; ') : 'nothing yet';
}

export interface PromptContext {
  company: string;
  caller: CallerInfo;
  names?: DeskNames;
  /** The transfers the desk is offered now (its tools); absent: every route. */
  transfers?: readonly Target[];
}

/**
 * What a desk is told about transfers: how to use its tools, or — when the machine leaves it none to
 * another department — to say so to the caller instead of promising one.
 */
function transferRules(transfers: readonly Target[] | undefined): string {
  const refused = 'If a transfer is refused, tell the caller the reason in one sentence and follow the guidance given with it.';
  if (transfers && !transfers.some((t) => t !== 'human')) {
    const person = transfers.includes('human')
      ? 'If they need another department, offer to connect them to a person on our team (transfer_to_human).'
      : 'If they need another department, tell them plainly that it cannot be reached on this call, and help with what you can.';
    return `${NO_MORE_TRANSFERS} Never promise a transfer. ${person}`;
  }
  return (
    'When the caller needs another department, call the matching transfer tool with a short reason. ' +
    'Say at most one short line before it (for example "Let me get you to the billing team"), never goodbye. ' +
    refused
  );
}

/** The sentence that tells a desk its call can go to no other department. */
export const NO_MORE_TRANSFERS = 'No transfer to another department is possible on this call any more.';

/** The line that names the caller's language, from the moment it is known (empty until then). */
const languageLine = (caller: CallerInfo) => (caller.language ? [languageInstruction(caller.language)] : []);

/** The system prompt of one department's agent. */
export function instructionsFor(role: Target, opts: PromptContext): string {
  const spec = DEPARTMENT_TABLE[role];
  return [
    `You are the ${spec.title} desk at ${opts.company}'s call center, speaking with a caller on the phone. ` +
      `To the caller you are ${callerNameOf(role, opts.names, opts.caller.language)}; never use internal desk names with them.`,
    spec.role,
    'Speak in short, natural sentences: this is a voice call, so no lists, markdown or emoji.',
    'When the caller tells you their name, account id, phone number or what they need, save it with ' +
      'update_caller_info. Never ask again for something already known.',
    ...(role === 'human' ? [] : [transferRules(opts.transfers)]),
    'When the caller is done, say nothing more yourself and call end_call.',
    `What we know about the caller: ${describeCaller(opts.caller)}.`,
    ...languageLine(opts.caller),
  ].join('\n');
}

export type Opening =
  /** `language`: the greeting's language (`GREETING_LANGUAGE`) when the caller's is not known yet. */
  | { kind: 'start'; language?: string }
  | { kind: 'transfer'; from: Target; reason: string }
  | { kind: 'returned'; reason: string };

/** The bridging line in each language the desks answer in (Hinglish in Latin script). */
const BRIDGE_LINES: Record<string, string> = { en: 'Sure.', hi: 'जी, ज़रूर।', hinglish: 'Ji, zaroor.' };

/**
 * What a desk says the moment it takes the line when the desk before it said nothing (a silent
 * transfer) and its reply is not ready yet: one short acknowledgement in the caller's language, from
 * audio synthesized once, so the caller hears someone at once. Short (about a third of a second), so it
 * never holds back a reply that is ready: the reply follows it, and says who is speaking.
 */
export function bridgeLine(language?: string): string {
  return BRIDGE_LINES[language ?? 'en'] ?? BRIDGE_LINES.en!;
}

/** Every bridging line there is (each desk's voice says them all). */
export const ALL_BRIDGE_LINES = Object.values(BRIDGE_LINES);

/** The one-off instructions of the first reply an agent gives when it takes the line. */
export function openingFor(role: Target, how: Opening, names: DeskNames = {}, language?: string): string {
  if (how.kind === 'start') {
    const greet = how.language && how.language !== 'en' ? ` Greet them in ${languageName(how.language)}.` : '';
    return `The call has just connected. Greet the caller, say which company they reached, and ask how you can help.${greet}`;
  }
  if (how.kind === 'returned') {
    return (
      `The transfer to a person did not go through (${how.reason}). Apologise in one sentence, say you are ` +
      'still here, and keep helping. Do not greet the caller again.'
    );
  }
  if (role === 'human') return DEPARTMENT_TABLE.human.role;
  return (
    `You have just taken over this call from ${DEPARTMENT_TABLE[how.from].title}; the reason given was: ` +
    `"${how.reason}". The conversation so far is above. Do not greet the caller as if the call had just ` +
    'started and do not ask for anything already known. ' +
    `In one or two sentences, say you are ${callerNameOf(role, names, language)} and continue with what they need. ` +
    'If that reason is for another ' +
    'department, do not try to help with it yourself: call its transfer tool now, with at most one short ' +
    'line before it, so the caller never has to repeat themselves.'
  );
}
