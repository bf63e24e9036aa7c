/**
 * What `npm run eval` measures, per language and overall: accuracy of the first transfer, a
 * confusion matrix (expected × actual first department), wrong-transfer and ping-pong rates, turns
 * until the right department, whether the agents kept the caller's language after transfers, and
 * tokens and time per call.
 */
import { detectLanguage } from '../language.js';
import type { EvalCase } from './cases.js';
import type { Played } from './play.js';

export const OUTCOMES = ['billing', 'sales', 'support', 'human', 'none'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface CaseResult {
  id: string;
  language: string;
  kind: EvalCase['kind'];
  turns: string[];
  expectedRoute: string[];
  /** The departments reached, in order (the front desk left out). */
  route: string[];
  expectedFirst: Outcome;
  first: Outcome;
  firstCorrect: boolean;
  /** Whole route as expected (in order, nothing else). */
  routeCorrect: boolean;
  /** A department reached that the call did not need. */
  wrongTransfer: boolean;
  /** The caller sent back to a department it had just left (A → triage → A). */
  pingPong: boolean;
  /** Caller turns until the first expected department was reached (null: never). */
  turnsToRight: number | null;
  /** Agent lines after the first transfer in the expected language, of those whose language shows. */
  languageKept: { kept: number; of: number };
  /** The call's caller details ended in the language the caller ends in (`expect.language`). */
  languageHeard: boolean;
  lines: Played['lines'];
  tokens: number;
  ms: number;
  errors: string[];
}

const departmentsOf = (transfers: string[]) => transfers.filter((t) => t !== 'triage');

export function scoreCase(c: EvalCase, p: Played): CaseResult {
  const route = departmentsOf(p.transfers);
  const expectedFirst = (c.expect.route[0] ?? 'none') as Outcome;
  const first = (route[0] ?? 'none') as Outcome;
  const landings = p.transfers.map((to, i) => ({ to, turn: p.transferTurns[i]! })).filter((t) => t.to !== 'triage');
  const right = landings.find((t) => t.to === c.expect.route[0]);
  const pingPong = p.transfers.some((to, i) => i >= 2 && to !== 'triage' && p.transfers[i - 1] === 'triage' && p.transfers[i - 2] === to);
  // A line too short to tell ("Okay.") counts neither way.
  const after = p.lines.filter((l) => l.afterTransfer && detectLanguage(l.text) !== null);
  return {
    id: c.id,
    language: c.language,
    kind: c.kind,
    turns: c.turns,
    expectedRoute: c.expect.route,
    route,
    expectedFirst,
    first,
    firstCorrect: first === expectedFirst,
    routeCorrect: route.join(',') === c.expect.route.join(','),
    wrongTransfer: route.some((d) => !c.expect.route.includes(d as EvalCase['expect']['route'][number])),
    pingPong,
    turnsToRight: right ? right.turn : null,
    languageKept: { kept: after.filter((l) => detectLanguage(l.text) === l.callerSpeaks).length, of: after.length },
    languageHeard: (p.heardLanguage ?? 'en') === c.expect.language,
    lines: p.lines,
    tokens: p.tokens,
    ms: p.ms,
    errors: p.errors,
  };
}

export interface Summary {
  calls: number;
  firstAccuracy: number;
  routeAccuracy: number;
  wrongTransferRate: number;
  pingPongRate: number;
  /** Mean caller turns until the right department, over calls that reached it. */
  meanTurnsToRight: number | null;
  /** Share of after-transfer agent lines in the caller's language (null: none showed a language). */
  languageKept: number | null;
  /** Share of calls whose caller details ended in the caller's language. */
  languageHeard: number;
  meanTokens: number;
  meanMs: number;
  /** confusion[expected][actual] = calls. */
  confusion: Record<Outcome, Record<Outcome, number>>;
}

const share = (n: number, of: number) => (of ? n / of : 0);
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

export function summarize(results: CaseResult[]): Summary {
  const confusion = Object.fromEntries(OUTCOMES.map((e) => [e, Object.fromEntries(OUTCOMES.map((a) => [a, 0]))])) as Summary['confusion'];
  for (const r of results) confusion[r.expectedFirst][r.first]++;
  const reached = results.flatMap((r) => (r.turnsToRight === null ? [] : [r.turnsToRight]));
  const kept = results.reduce((a, r) => a + r.languageKept.kept, 0);
  const of = results.reduce((a, r) => a + r.languageKept.of, 0);
  return {
    calls: results.length,
    firstAccuracy: share(results.filter((r) => r.firstCorrect).length, results.length),
    routeAccuracy: share(results.filter((r) => r.routeCorrect).length, results.length),
    wrongTransferRate: share(results.filter((r) => r.wrongTransfer).length, results.length),
    pingPongRate: share(results.filter((r) => r.pingPong).length, results.length),
    meanTurnsToRight: mean(reached),
    languageKept: of ? kept / of : null,
    languageHeard: share(results.filter((r) => r.languageHeard).length, results.length),
    meanTokens: mean(results.map((r) => r.tokens)) ?? 0,
    meanMs: mean(results.map((r) => r.ms)) ?? 0,
    confusion,
  };
}

/** The summary overall and per language of the calls. */
export function summarizeByLanguage(results: CaseResult[]): { all: Summary; byLanguage: Record<string, Summary> } {
  const languages = [...new Set(results.map((r) => r.language))];
  return {
    all: summarize(results),
    byLanguage: Object.fromEntries(languages.map((l) => [l, summarize(results.filter((r) => r.language === l))])),
  };
}
