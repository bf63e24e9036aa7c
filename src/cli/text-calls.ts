/**
 * What the two text-call commands (`npm run chat`, `npm run demo`) share: how a call with no phone line
 * answers the machine's hand-off to a person, and how a failed LLM turn is put into words.
 */
import type { Settings } from '../config.js';

/** Why the hand-off to a person fails in a text call (said as the call's `error`, then the caller returns). */
export const NO_PERSON_IN_TEXT = 'a text call cannot reach a person';

/**
 * `CallOptions.connectHuman` of a text call. The machine may hand the caller to a person
 * (HUMAN_TRANSFER_TO set, or the transfer cap reached); a text call has no line to pass on, so the
 * hand-off fails and the machine returns the caller to the department they came from, which tells
 * them so — as on the phone when the person cannot be reached.
 */
export async function connectHumanInText(): Promise<void> {
  throw new Error(NO_PERSON_IN_TEXT);
}

/** Where the LLM requests go, as a person would look for it. */
export function modelServer(s: Pick<Settings, 'OPENAI_BASE_URL'>): string {
  return s.OPENAI_BASE_URL ?? 'https://api.openai.com/v1 (OpenAI)';
}

const UNREACHABLE = /connection error|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|fetch failed|socket hang up/i;

/**
 * A failed LLM turn in words that say where the model is: `llm_error: Connection error.` becomes
 * "could not reach the model server at http://…/v1 (Connection error.)". Other messages are kept.
 */
export function describeError(message: string, server: string): string {
  const m = /^llm_error: (.*)$/s.exec(message);
  if (!m) return message;
  const why = m[1]!.trim();
  return UNREACHABLE.test(why) ? `could not reach the model server at ${server} (${why})` : `the model at ${server} failed this turn: ${why}`;
}
