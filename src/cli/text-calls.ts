/**
 * What the text-call commands (`npm run chat`, `npm run demo`, `npm run eval`) share around their calls
 * (the calls themselves: ../text-calls.ts): how a failed LLM turn is put into words, where the log and
 * the call records go, and what Ctrl-C does.
 */
import type { Settings } from '../config.js';
import { harmlessInTextCalls, initLogging } from '../logging.js';
import { type Records, openRecords } from '../records/index.js';

/**
 * stdout carries what the command shows; the framework's log goes to stderr, without the lines a text
 * call always causes or reports itself (see harmlessInTextCalls).
 */
export function logToStderr(settings: Settings): void {
  initLogging({ level: settings.LOG_LEVEL ?? 'warn', toStderr: true, drop: harmlessInTextCalls, redact: settings.REDACT_PII === 'on' });
}

/**
 * The call records (CALLS_DB / DATABASE_URL) and webhooks: silent on stdout, problems on stderr as
 * `<program>: …`. Records that cannot be opened are said once (`<program>: <notRecorded>: why`) and
 * the calls go on unrecorded (null).
 */
export async function openRecordsOrSay(settings: Settings, program: string, notRecorded: string): Promise<Records | null> {
  try {
    return await openRecords(settings, { onError: (m) => process.stderr.write(`${program}: ${m}\n`) });
  } catch (err) {
    process.stderr.write(`${program}: ${notRecorded}: ${(err as Error).message}\n`);
    return null;
  }
}

/**
 * A SIGINT handler: the first Ctrl-C runs `first` (which ends the calls the way a hang-up does); the
 * same Ctrl-C relayed by npm / tsx is ignored; a second Ctrl-C more than a second later quits at once (130).
 */
export function onCtrlC(first: () => void): () => void {
  let at = 0;
  return () => {
    // A second Ctrl-C quits at once. Copies relayed by npm / tsx can arrive well after the first on a
    // busy machine, so only a press 3 s later counts as a second one.
    if (at && Date.now() - at > 3000) process.exit(130);
    if (at) return; // the same Ctrl-C, relayed by npm / tsx
    at = Date.now();
    first();
  };
}

/** Where the LLM requests go, as a person would look for it. */
export function modelServer(s: Pick<Settings, 'OPENAI_BASE_URL'>): string {
  return s.OPENAI_BASE_URL ?? 'https://api.openai.com/v1 (OpenAI)';
}

/**
 * One look at the model server before a run that would otherwise find out call by call: null when it
 * answers (any HTTP answer but a refused key: a server without `/models` still serves chat), or the
 * problem in one line naming the server and the setting to check.
 */
export async function modelServerProblem(
  s: Pick<Settings, 'OPENAI_BASE_URL' | 'OPENAI_API_KEY'>,
  timeoutMs = 10_000,
  names = { url: 'OPENAI_BASE_URL', key: 'OPENAI_API_KEY' },
): Promise<string | null> {
  const base = (s.OPENAI_BASE_URL ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
  try {
    const res = await fetch(`${base}/models`, {
      headers: s.OPENAI_API_KEY ? { authorization: `Bearer ${s.OPENAI_API_KEY}` } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel();
    if (res.status === 401 || res.status === 403) {
      return `the model server at ${modelServer(s)} refused the key (HTTP ${res.status}): check ${names.key}`;
    }
    return null;
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    return `could not reach the model server at ${modelServer(s)} (${why}): check ${names.url}`;
  }
}

/** What a run measured, as the model server tells it (`GET /models`). */
export interface ReportedModel {
  /** The model's name as the server reports it. */
  model: string;
  /** Said plainly wherever the model is named: what the figures are worth. */
  note?: string;
}

/** Our own scripted server announces itself in `/models` (see dev/scripted-llm.ts). */
export const SCRIPTED_NOTE = 'scripted keyword model — proves the harness, not a model';

/**
 * The model a run talks to, as the server reports it: the configured one when the server lists it; the
 * scripted server's own when it is ours (it answers every model name); otherwise the configured name,
 * marked as not listed.
 */
export async function reportedModel(s: Pick<Settings, 'OPENAI_BASE_URL' | 'OPENAI_API_KEY' | 'LLM_MODEL'>, timeoutMs = 10_000): Promise<ReportedModel> {
  const base = (s.OPENAI_BASE_URL ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
  try {
    const res = await fetch(`${base}/models`, {
      headers: s.OPENAI_API_KEY ? { authorization: `Bearer ${s.OPENAI_API_KEY}` } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json()) as { data?: { id?: unknown; owned_by?: unknown }[] };
    const listed = Array.isArray(body.data) ? body.data : [];
    if (listed.some((m) => m.id === s.LLM_MODEL)) return { model: s.LLM_MODEL };
    const scripted = listed.find((m) => m.owned_by === 'switchboard');
    if (scripted && typeof scripted.id === 'string') return { model: scripted.id, note: SCRIPTED_NOTE };
    return listed.length ? { model: s.LLM_MODEL, note: 'not listed by the server\'s /models' } : { model: s.LLM_MODEL };
  } catch {
    return { model: s.LLM_MODEL };
  }
}

/** How OpenAI and compatible servers answer a wrong or missing key. */
const KEY_REFUSED = /^(401|403)\b|incorrect api key|invalid api key|invalid_api_key/i;
const UNREACHABLE = /connection error|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|fetch failed|socket hang up/i;

/**
 * A failed LLM turn in words that say where the model is: `llm_error: Connection error.` becomes
 * "could not reach the model server at http://…/v1 (Connection error.)"; a 401 says the key was
 * refused. Other messages are kept.
 */
export function describeError(message: string, server: string): string {
  const m = /^llm_error: (.*)$/s.exec(message);
  if (!m) return message;
  const why = m[1]!.trim();
  if (KEY_REFUSED.test(why)) return `the model server at ${server} refused the key (${why})`;
  return UNREACHABLE.test(why) ? `could not reach the model server at ${server} (${why})` : `the model at ${server} failed this turn: ${why}`;
}
