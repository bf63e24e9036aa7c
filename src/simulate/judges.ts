/**
 * The deterministic judges of a simulated call: each reads the call's timeline and the scenario and
 * says pass or fail with its reason, or that it does not apply (no transfer to judge).
 */
import { detectLanguage, languageName } from '../language.js';
import { factKind, factsAskedIn, givesFact, greetsAsNewCall, withoutQuotes } from './phrases.js';
import type { Entry, SimCall } from './play.js';
import type { Scenario } from './scenario.js';

export interface Verdict {
  /** null: the judge does not apply to this call. */
  pass: boolean | null;
  reason: string;
}

export interface Judge {
  id: string;
  /** What it checks, in a user's words. */
  title: string;
  judge: (call: SimCall, s: Scenario) => Verdict;
}

type Transfer = Extract<Entry, { kind: 'transfer' }>;
type AgentLine = Extract<Entry, { kind: 'agent' }>;

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const quote = (t: string) => `"${t.length > 90 ? `${t.slice(0, 87)}…` : t}"`;
const pass = (reason: string): Verdict => ({ pass: true, reason });
const fail = (reason: string): Verdict => ({ pass: false, reason });
const notApplicable = (reason: string): Verdict => ({ pass: null, reason });

/** Transfers to a desk (not to a person): a new agent takes the line and must continue the call. */
const deskTransfers = (call: SimCall): { t: Transfer; i: number }[] =>
  call.entries.flatMap((t, i) => (t.kind === 'transfer' && t.to !== 'human' ? [{ t, i }] : []));

/** The receiving desk's lines after the transfer at `i`, until the caller speaks again or the call moves on. */
function linesAfter(call: SimCall, i: number, desk: string): AgentLine[] {
  const lines: AgentLine[] = [];
  for (const e of call.entries.slice(i + 1)) {
    if (e.kind === 'caller' || e.kind === 'transfer') break;
    if (e.kind === 'agent' && e.desk === desk) lines.push(e);
  }
  return lines;
}

/** The departments reached, in order: the front desk and returns from a person left out. */
export const routeOf = (call: SimCall): string[] =>
  call.entries.flatMap((e) => (e.kind === 'transfer' && e.to !== 'triage' && e.from !== 'human' ? [e.to] : []));

const noRegreet: Judge = {
  id: 'no-regreet',
  title: 'After a transfer the new desk continues; it does not greet the caller as a new call',
  judge(call) {
    const transfers = deskTransfers(call);
    if (!transfers.length) return notApplicable('no transfer');
    for (const { t, i } of transfers) {
      const greeting = linesAfter(call, i, t.to).find((l) => greetsAsNewCall(l.text));
      if (greeting) return fail(`${t.to} greeted the caller as a new call after the transfer at ${secs(t.at)}: ${quote(greeting.text)}`);
    }
    return pass(`${transfers.length} transfer${transfers.length === 1 ? '' : 's'}, each continued`);
  },
};

const noReask: Judge = {
  id: 'no-reask',
  title: 'No agent asks for something the caller already gave',
  judge(call, s) {
    const given = new Map<string, number>(); // fact kind → when the caller gave it
    let asked = 0;
    for (const e of call.entries) {
      if (e.kind === 'caller') {
        for (const [key, value] of Object.entries(s.caller.facts)) {
          const kind = factKind(key);
          if (kind && !given.has(kind) && givesFact(e.text, value)) given.set(kind, e.at);
        }
      } else if (e.kind === 'agent') {
        for (const kind of factsAskedIn(withoutQuotes(e.text))) {
          asked++;
          const when = given.get(kind);
          if (when !== undefined) return fail(`${e.desk} asked for the ${kind} at ${secs(e.at)}, which the caller gave at ${secs(when)}: ${quote(e.text)}`);
        }
      }
    }
    if (!given.size) return notApplicable('the caller gave no fact');
    return pass(`${[...given.keys()].join(', ')} given; ${asked ? `${asked} question${asked === 1 ? '' : 's'} for facts, none already given` : 'never asked again'}`);
  },
};

const repliesOnce: Judge = {
  id: 'replies-once',
  title: 'After each transfer the new desk replies exactly once (no dead air, no double answer)',
  judge(call) {
    const transfers = deskTransfers(call);
    if (!transfers.length) return notApplicable('no transfer');
    for (const { t, i } of transfers) {
      const lines = linesAfter(call, i, t.to);
      // The call ended right after it (a goodbye): nothing was owed.
      const callEnded = !call.entries.slice(i + 1).some((e) => e.kind === 'caller' || e.kind === 'transfer') && call.end.by === 'agent';
      if (lines.length === 0 && !callEnded) return fail(`${t.to} said nothing after the transfer at ${secs(t.at)}`);
      if (lines.length > 1) return fail(`${t.to} replied ${lines.length} times after the transfer at ${secs(t.at)}: ${lines.map((l) => quote(l.text)).join(' then ')}`);
    }
    return pass(`${transfers.length} transfer${transfers.length === 1 ? '' : 's'}, one reply each`);
  },
};

const callersLanguage: Judge = {
  id: 'language',
  title: "Every agent line is in the caller's language",
  judge(call, s) {
    let language: string | null = null;
    let checked = 0;
    // The caller's own facts (a Hindi name in an English line) say nothing about the line's language.
    const facts = Object.values(s.caller.facts).filter((v) => v.length > 1);
    const withoutFacts = (text: string) => facts.reduce((t, v) => t.split(v).join(' '), text);
    for (const e of call.entries) {
      if (e.kind === 'caller') language = e.language;
      if (e.kind !== 'agent' || language === null) continue;
      const said = detectLanguage(withoutFacts(e.text));
      if (said === null) continue; // too short to tell ("Okay.")
      checked++;
      if (said !== language) return fail(`${e.desk} answered in ${languageName(said)} at ${secs(e.at)} to a caller speaking ${languageName(language)}: ${quote(e.text)}`);
    }
    return checked ? pass(`${checked} agent line${checked === 1 ? '' : 's'} in the caller's language`) : notApplicable('no agent line after the caller spoke');
  },
};

const replyBudget: Judge = {
  id: 'reply-budget',
  title: "The new desk's reply after each transfer comes within the scenario's budget",
  judge(call, s) {
    const transfers = deskTransfers(call);
    if (!transfers.length) return notApplicable('no transfer');
    const budget = s.expect.reply_after_transfer_ms;
    let worst = 0;
    for (const { t, i } of transfers) {
      const first = linesAfter(call, i, t.to)[0];
      if (!first) continue; // replies-once says so
      const ms = first.at - t.at;
      worst = Math.max(worst, ms);
      if (ms > budget) return fail(`${t.to} replied ${ms} ms after the transfer at ${secs(t.at)} (budget ${budget} ms)`);
    }
    return pass(`slowest reply after a transfer ${worst} ms (budget ${budget} ms)`);
  },
};

const noPingPong: Judge = {
  id: 'no-ping-pong',
  title: 'The caller is not sent back to a desk they just left (A → front desk → A)',
  judge(call) {
    const to = call.entries.flatMap((e) => (e.kind === 'transfer' ? [e.to] : []));
    const at = to.findIndex((d, i) => i >= 2 && d !== 'triage' && d !== 'human' && to[i - 1] === 'triage' && to[i - 2] === d);
    if (at >= 0) return fail(`sent back to ${to[at]}: ${to.slice(0, at + 1).join(' → ')}`);
    return to.length ? pass(to.join(' → ')) : notApplicable('no transfer');
  },
};

const route: Judge = {
  id: 'route',
  title: 'The call reaches the departments the scenario expects, in order',
  judge(call, s) {
    const got = routeOf(call);
    const want = s.expect.route;
    const words = (r: string[]) => r.join(' → ') || 'no transfer';
    return got.join(',') === want.join(',') ? pass(words(got)) : fail(`expected ${words(want)}, got ${words(got)}`);
  },
};

const outcome: Judge = {
  id: 'outcome',
  title: 'The call ends as the scenario expects (needs met, a person, or not met)',
  judge(call, s) {
    const person = call.entries.some((e) => e.kind === 'transfer' && e.to === 'human');
    const got = person ? 'person' : call.end.by === 'caller' && call.end.needsMet ? 'resolved' : 'unresolved';
    const how = `${call.end.by === 'caller' ? `the caller hung up (${call.end.needsMet ? 'needs met' : 'needs not met'}` : `${call.end.reason} (`}${call.end.by === 'caller' && call.end.reason ? `: ${call.end.reason}` : ''})`;
    return got === s.expect.outcome ? pass(`${got}: ${how}`) : fail(`expected ${s.expect.outcome}, got ${got}: ${how}`);
  },
};

const neverSay: Judge = {
  id: 'never-say',
  title: 'No agent says what it must never say (its instructions, the words the scenario forbids)',
  judge(call, s) {
    const forbidden = [...s.expect.never_say, 'You are the front desk', 'Transfer refused:', '(For you, not to be read out'];
    for (const e of call.entries) {
      if (e.kind !== 'agent') continue;
      const word = forbidden.find((w) => e.text.toLowerCase().includes(w.toLowerCase()));
      if (word) return fail(`${e.desk} said "${word}" at ${secs(e.at)}: ${quote(e.text)}`);
    }
    return pass(`none of ${forbidden.length} forbidden phrases said`);
  },
};

const answered: Judge = {
  id: 'answered',
  title: 'Every caller line is answered before the caller speaks again (no dead air)',
  judge(call) {
    const lines = call.entries.flatMap((e, i) => (e.kind === 'caller' ? [i] : []));
    if (!lines.length) return notApplicable('the caller said nothing');
    for (const [n, i] of lines.entries()) {
      const until = lines[n + 1] ?? call.entries.length;
      if (call.entries.slice(i + 1, until).some((e) => e.kind === 'agent')) continue;
      // The caller's goodbye as they hang up is owed nothing.
      if (n === lines.length - 1 && call.end.by === 'caller') continue;
      const e = call.entries[i] as Extract<Entry, { kind: 'caller' }>;
      const heard = e.heard === undefined ? '' : ` (the speech-to-text heard ${e.heard ? `"${e.heard}"` : 'nothing'})`;
      return fail(`no agent answered the caller's line at ${secs(e.at)}: ${quote(e.text)}${heard}`);
    }
    return pass(`${lines.length} caller line${lines.length === 1 ? '' : 's'}, each answered`);
  },
};

const noErrors: Judge = {
  id: 'no-errors',
  title: 'No turn of the call failed',
  judge(call) {
    const error = call.entries.find((e): e is Extract<Entry, { kind: 'error' }> => e.kind === 'error' && !/cannot reach a person/.test(e.text));
    return error ? fail(`at ${secs(error.at)}: ${error.text}`) : pass('no failed turn');
  },
};

export const JUDGES: readonly Judge[] = [route, outcome, answered, noRegreet, noReask, repliesOnce, callersLanguage, replyBudget, noPingPong, neverSay, noErrors];

/** Every deterministic judge's verdict on a call, by judge id. */
export function judgeCall(call: SimCall, s: Scenario): Record<string, Verdict> {
  return Object.fromEntries(JUDGES.map((j) => [j.id, j.judge(call, s)]));
}
