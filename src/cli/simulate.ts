/**
 * `npm run simulate`: calls that test themselves. Each scenario of `eval/scenarios/` is played by a
 * simulated caller (CALLER_MODEL; key-free, the scripted server plays it deterministically) against the
 * real orchestrator, N times, concurrently; every call is judged (and by the LLM judge when JUDGE_MODEL
 * is set); pass rates and flakiness per scenario and per judge go to the terminal, `results.json` and a
 * self-contained `report.html`.
 *
 *   npm run simulate -- [--scenarios DIR] [--scenario ID]… [--tag TAG] [--language en|hi|hinglish]
 *                       [--repeat N] [--concurrency N] [--out DIR] [--min-pass-rate 0.9] [--voice]
 *
 * `--voice` plays each call through the voice loop (`npm run voice`'s): the caller's lines are spoken,
 * heard by the speech-to-text, answered in the desks' voices, in real time.
 *
 * Exit 0; 1 when the pass rate is under --min-pass-rate (or every call failed to reach a model); 2 for
 * bad options, a bad scenario file (one line naming the file and the field), bad settings, an `--out`
 * that cannot be written, or a model server that cannot be reached.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Settings, type SimulateSettings, loadSettings, readShare, readWholeNumber, requireSettings, settingsOrExit, simulateSchema } from '../config.js';
import { languageName } from '../language.js';
import type { ModelEndpoint } from '../simulate/chat-model.js';
import { JUDGES, judgeCall } from '../simulate/judges.js';
import { llmJudge } from '../simulate/llm-judge.js';
import { playScenario } from '../simulate/play.js';
import { playScenarioByVoice } from '../simulate/voice-play.js';
import { type CallResult, type SimSummary, resultOf, summarize } from '../simulate/rates.js';
import { htmlReport } from '../simulate/report.js';
import { LANGUAGES, type Scenario, ScenarioError, readScenarios } from '../simulate/scenario.js';
import { exitsFor, inPool, reportsFolder } from './batch.js';
import { SCRIPTED_NOTE, logToStderr, modelServer, modelServerProblem, reportedModel } from './text-calls.js';

const USAGE = `usage: npm run simulate -- [--scenarios eval/scenarios] [--scenario ID]... [--tag TAG] [--language en|hi|hinglish]
                           [--repeat 1] [--concurrency 4] [--out reports/simulate] [--min-pass-rate 0.9] [--voice]`;

const exits = exitsFor('simulate', USAGE);
// Typed here: TypeScript narrows after a call only through a name declared with its type.
const fail: (message: string) => never = exits.fail;
const stop: (message: string) => never = exits.stop;

function options() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        scenarios: { type: 'string', default: 'eval/scenarios' },
        scenario: { type: 'string', multiple: true },
        tag: { type: 'string' },
        language: { type: 'string' },
        repeat: { type: 'string', default: '1' },
        concurrency: { type: 'string', default: '4' },
        out: { type: 'string', default: 'reports/simulate' },
        'min-pass-rate': { type: 'string' },
        voice: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const whole = (name: string, v: string, min: number, max: number) => {
    const n = readWholeNumber(v);
    if (n === null || n < min || n > max) fail(`--${name} must be a whole number from ${min} to ${max} (got "${v}")`);
    return n;
  };
  const min = parsed['min-pass-rate'] === undefined ? undefined : readShare(parsed['min-pass-rate']);
  if (min === null) fail('--min-pass-rate must be a share from 0 to 1 (0.9 or 90%)');
  if (parsed.language !== undefined && !(LANGUAGES as readonly string[]).includes(parsed.language)) fail(`--language must be one of ${LANGUAGES.join(', ')}`);
  return {
    scenarios: parsed.scenarios!,
    only: parsed.scenario ?? [],
    tag: parsed.tag,
    language: parsed.language,
    repeat: whole('repeat', parsed.repeat!, 1, 1000),
    concurrency: whole('concurrency', parsed.concurrency!, 1, 256),
    out: parsed.out!,
    minPassRate: min,
    voice: parsed.voice ?? false,
  };
}

function chosen(o: ReturnType<typeof options>): Scenario[] {
  let scenarios: Scenario[];
  try {
    scenarios = readScenarios(resolve(o.scenarios));
  } catch (err) {
    if (err instanceof ScenarioError) stop(err.message);
    throw err;
  }
  const unknown = o.only.filter((id) => !scenarios.some((s) => s.id === id));
  if (unknown.length) fail(`--scenario ${unknown.join(', ')}: no such scenario in ${o.scenarios}`);
  if (o.only.length) scenarios = scenarios.filter((s) => o.only.includes(s.id));
  if (o.tag) scenarios = scenarios.filter((s) => s.tags.includes(o.tag!));
  if (o.language) scenarios = scenarios.filter((s) => s.caller.language === o.language);
  if (!scenarios.length) fail(`no scenario in ${o.scenarios} matches${o.tag ? ` --tag ${o.tag}` : ''}${o.language ? ` --language ${o.language}` : ''}`);
  return scenarios;
}

/** Where the caller and the judge talk: their own settings, else the desks'. */
function endpoints(s: Settings, sim: SimulateSettings): { caller: ModelEndpoint; judge: ModelEndpoint | null } {
  const base = s.OPENAI_BASE_URL ?? 'https://api.openai.com/v1';
  const caller = { model: sim.CALLER_MODEL ?? s.LLM_MODEL, baseUrl: sim.CALLER_BASE_URL ?? base, apiKey: sim.CALLER_API_KEY ?? s.OPENAI_API_KEY };
  const judge = sim.JUDGE_MODEL ? { model: sim.JUDGE_MODEL, baseUrl: sim.JUDGE_BASE_URL ?? base, apiKey: sim.JUDGE_API_KEY ?? s.OPENAI_API_KEY } : null;
  return { caller, judge };
}

async function reachable(settings: Settings, caller: ModelEndpoint, judge: ModelEndpoint | null): Promise<void> {
  const problem = await modelServerProblem(settings);
  if (problem) stop(problem);
  const desks = (settings.OPENAI_BASE_URL ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
  for (const [who, e] of [['CALLER', caller], ['JUDGE', judge]] as const) {
    if (!e || e.baseUrl.replace(/\/+$/, '') === desks) continue;
    const p = await modelServerProblem({ OPENAI_BASE_URL: e.baseUrl, OPENAI_API_KEY: e.apiKey }, 10_000, { url: `${who}_BASE_URL`, key: `${who}_API_KEY` });
    if (p) stop(p);
  }
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

function print(summary: SimSummary, results: CallResult[]): void {
  const w = (s: string) => process.stdout.write(`${s}\n`);
  w(`${'judge'.padEnd(14)} ${'pass rate'.padStart(9)}  passed   flaky on`);
  for (const j of summary.byJudge) {
    w(`${j.id.padEnd(14)} ${(j.calls ? pct(j.passRate) : '—').padStart(9)}  ${`${j.passed}/${j.calls}`.padEnd(8)} ${j.flakyOn.join(', ')}`);
  }
  w(Object.entries(summary.byLanguage).map(([l, r]) => `${languageName(l)} ${pct(r.passRate)} (${r.passed}/${r.calls})`).join(' · '));
  const flaky = summary.byScenario.filter((s) => s.flaky).map((s) => s.id);
  w(
    `all: ${pct(summary.passRate)} of ${summary.calls} calls passed every judge (${summary.scenarios} scenarios × ${summary.repeats}); ` +
      `flaky scenarios ${pct(summary.flakiness)}${flaky.length ? ` (${flaky.join(', ')})` : ''}; ` +
      `tokens: desks ${summary.tokens.desks}, caller ${summary.tokens.caller}, judge ${summary.tokens.judge}; ${(summary.meanMs / 1000).toFixed(1)} s per call`,
  );
  for (const r of results.filter((r) => !r.pass)) {
    const why = Object.entries(r.verdicts).filter(([, v]) => v.pass === false).map(([j, v]) => `${j}: ${v.reason}`);
    w(`FAILED ${r.scenario} (run ${r.run}): ${why.join(' | ')}`);
  }
}

async function main(): Promise<void> {
  const o = options();
  const scenarios = chosen(o);
  const settings = settingsOrExit('simulate', () => loadSettings());
  const sim = settingsOrExit('simulate', () => requireSettings(simulateSchema));
  logToStderr(settings);
  reportsFolder(o.out, stop);
  const { caller, judge } = endpoints(settings, sim);
  await reachable(settings, caller, judge);
  const { model, note } = await reportedModel(settings);
  // The caller and the judge named as their servers report them (our scripted server says it is one).
  const named = async (e: ModelEndpoint) => {
    const r = await reportedModel({ OPENAI_BASE_URL: e.baseUrl, OPENAI_API_KEY: e.apiKey, LLM_MODEL: e.model });
    return r.note === SCRIPTED_NOTE ? `${r.model} (scripted caller and judge — deterministic, from the scenario file)` : r.model;
  };
  const callerName = await named(caller);
  const judgeName = judge ? await named(judge) : null;
  const runs = scenarios.flatMap((s) => Array.from({ length: o.repeat }, (_, i) => ({ s, run: i + 1 })));
  process.stderr.write(
    `Simulating ${scenarios.length} scenario${scenarios.length === 1 ? '' : 's'} × ${o.repeat} against ${model}${note ? ` (${note})` : ''} at ${modelServer(settings)}; ` +
      `caller ${callerName}${judgeName ? `, LLM judge ${judgeName}` : ''}; ${o.voice ? 'by voice, ' : ''}${o.concurrency} at a time.\n`,
  );
  const runId = randomUUID().slice(0, 8);
  const results = await inPool(runs, o.concurrency, async ({ s, run }) => {
    const call = await (o.voice ? playScenarioByVoice : playScenario)(settings, caller, s, run, runId);
    const verdicts = judgeCall(call, s);
    if (!judge) return resultOf(call, s, verdicts);
    const { verdict, tokens } = await llmJudge(judge, call, s);
    return resultOf(call, s, { ...verdicts, llm: verdict }, tokens);
  });
  const judges = [...JUDGES, ...(judge ? [{ id: 'llm', title: "The LLM judge's rubric for the scenario" }] : [])];
  const summary = summarize(results, judges, o.repeat);
  const run = {
    models: { desks: model, ...(note ? { note } : {}), caller: callerName, judge: judgeName },
    server: modelServer(settings),
    at: new Date().toISOString(),
    summary,
    results,
  };
  writeFileSync(join(o.out, 'results.json'), `${JSON.stringify(run, null, 2)}\n`);
  writeFileSync(join(o.out, 'report.html'), htmlReport(run));
  print(summary, results);
  process.stdout.write(`Desks: ${model}${note ? ` (${note})` : ''}.\nWrote ${join(o.out, 'results.json')} and ${join(o.out, 'report.html')}.\n`);
  if (results.every((r) => r.call.end.by === 'error' || r.call.entries.some((e) => e.kind === 'error' && /llm_error/.test(e.text)))) {
    process.stderr.write(`simulate: every call failed to reach a model (is ${modelServer(settings)} reachable?)\n`);
    process.exit(1);
  }
  if (o.minPassRate !== undefined && summary.passRate < o.minPassRate) {
    process.stderr.write(`simulate: pass rate ${pct(summary.passRate)} is under --min-pass-rate ${pct(o.minPassRate)}\n`);
    process.exit(1);
  }
  process.exit(0);
}

await main();
