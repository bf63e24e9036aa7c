/**
 * What a simulation run measures: each call judged, then pass rates per scenario, per judge and per
 * language, and flakiness — a scenario (or a judge on a scenario) that both passed and failed over
 * its repeats.
 */
import type { Verdict } from './judges.js';
import type { SimCall } from './play.js';
import type { Scenario } from './scenario.js';

export interface CallResult {
  scenario: string;
  title: string;
  language: string;
  run: number;
  /** Every judge's verdict, by judge id (`llm` when the LLM judge ran). */
  verdicts: Record<string, Verdict>;
  /** Every judge that applied passed. */
  pass: boolean;
  call: SimCall;
  /** The LLM judge's tokens (0 when it did not run). */
  judgeTokens: number;
}

export interface Rate {
  /** Calls it applied to, and those that passed. */
  calls: number;
  passed: number;
  passRate: number;
}

export interface ScenarioRate extends Rate {
  id: string;
  title: string;
  language: string;
  /** Passed on some repeats and failed on others. */
  flaky: boolean;
  /** The judges that failed at least once, with how many times. */
  failedJudges: Record<string, number>;
}

export interface JudgeRate extends Rate {
  id: string;
  title: string;
  /** Scenarios on which this judge both passed and failed. */
  flakyOn: string[];
}

export interface SimSummary extends Rate {
  scenarios: number;
  repeats: number;
  /** Share of scenarios that were flaky (0 with one repeat: flakiness needs repeats). */
  flakiness: number;
  byScenario: ScenarioRate[];
  byJudge: JudgeRate[];
  byLanguage: Record<string, Rate>;
  tokens: { desks: number; caller: number; judge: number };
  meanMs: number;
}

export function resultOf(call: SimCall, s: Scenario, verdicts: Record<string, Verdict>, judgeTokens = 0): CallResult {
  return {
    scenario: s.id,
    title: s.title,
    language: s.caller.language,
    run: call.run,
    verdicts,
    pass: Object.values(verdicts).every((v) => v.pass !== false),
    call,
    judgeTokens,
  };
}

const rate = (passed: number, calls: number): Rate => ({ calls, passed, passRate: calls ? passed / calls : 0 });
const passedOf = (rs: CallResult[]) => rs.filter((r) => r.pass).length;

export function summarize(results: CallResult[], judges: readonly { id: string; title: string }[], repeats: number): SimSummary {
  const ids = [...new Set(results.map((r) => r.scenario))];
  const byScenario = ids.map((id): ScenarioRate => {
    const rs = results.filter((r) => r.scenario === id);
    const failedJudges: Record<string, number> = {};
    for (const r of rs) for (const [j, v] of Object.entries(r.verdicts)) if (v.pass === false) failedJudges[j] = (failedJudges[j] ?? 0) + 1;
    const passed = passedOf(rs);
    return { id, title: rs[0]!.title, language: rs[0]!.language, ...rate(passed, rs.length), flaky: passed > 0 && passed < rs.length, failedJudges };
  });
  const byJudge = judges.map((j): JudgeRate => {
    const applied = results.filter((r) => r.verdicts[j.id] && r.verdicts[j.id]!.pass !== null);
    const flakyOn = ids.filter((id) => {
      const seen = new Set(applied.filter((r) => r.scenario === id).map((r) => r.verdicts[j.id]!.pass));
      return seen.size > 1;
    });
    return { id: j.id, title: j.title, ...rate(applied.filter((r) => r.verdicts[j.id]!.pass).length, applied.length), flakyOn };
  });
  const languages = [...new Set(results.map((r) => r.language))];
  const sum = (f: (r: CallResult) => number) => results.reduce((a, r) => a + f(r), 0);
  return {
    ...rate(passedOf(results), results.length),
    scenarios: ids.length,
    repeats,
    flakiness: ids.length ? byScenario.filter((s) => s.flaky).length / ids.length : 0,
    byScenario,
    byJudge,
    byLanguage: Object.fromEntries(languages.map((l) => {
      const rs = results.filter((r) => r.language === l);
      return [l, rate(passedOf(rs), rs.length)];
    })),
    tokens: { desks: sum((r) => r.call.tokens.desks), caller: sum((r) => r.call.tokens.caller), judge: sum((r) => r.judgeTokens) },
    meanMs: results.length ? sum((r) => r.call.ms) / results.length : 0,
  };
}
