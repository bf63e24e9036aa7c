/**
 * `npm run eval`: routing accuracy against any OpenAI-compatible model. Plays every labelled
 * conversation of `eval/cases.json` through the real orchestrator (text calls) against the configured
 * model, and writes `results.json` and a self-contained `report.html`.
 *
 *   npm run eval -- [--cases FILE] [--out DIR] [--max-calls N] [--concurrency N]
 *                   [--language en|hi|hinglish] [--min-accuracy 0.8]
 *
 * `--max-calls N` plays N cases spread over every language and kind. Exit 0; 1 when the first-transfer
 * accuracy is under --min-accuracy (or every call's model turns failed); 2 for bad options or settings,
 * an `--out` that cannot be written, or a model server that cannot be reached or refuses the key.
 */
import { writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadSettings, readShare, readWholeNumber, settingsOrExit } from '../config.js';
import { languageName } from '../language.js';
import { type EvalCase, readCases, spread } from '../eval/cases.js';
import { playCase } from '../eval/play.js';
import { htmlReport } from '../eval/report.js';
import { type CaseResult, type Summary, scoreCase, summarizeByLanguage } from '../eval/score.js';
import { exitsFor, inPool, reportsFolder } from './batch.js';
import { logToStderr, modelServer, modelServerProblem, reportedModel } from './text-calls.js';

const USAGE = `usage: npm run eval -- [--cases eval/cases.json] [--out reports/eval] [--max-calls N] [--concurrency 4]
                       [--language en|hi|hinglish] [--min-accuracy 0.8]`;

const exits = exitsFor('eval', USAGE);
// Typed here: TypeScript narrows after a call only through a name declared with its type.
const fail: (message: string) => never = exits.fail;
const stop: (message: string) => never = exits.stop;

function options() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        cases: { type: 'string', default: 'eval/cases.json' },
        out: { type: 'string', default: 'reports/eval' },
        'max-calls': { type: 'string' },
        concurrency: { type: 'string', default: '4' },
        language: { type: 'string' },
        'min-accuracy': { type: 'string' },
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
  const whole = (name: string, v: string | undefined, min: number) => {
    if (v === undefined) return undefined;
    const n = readWholeNumber(v);
    if (n === null || n < min) fail(`--${name} must be a whole number of at least ${min} (got "${v}")`);
    return n;
  };
  const min = parsed['min-accuracy'] === undefined ? undefined : readShare(parsed['min-accuracy']);
  if (min === null) fail('--min-accuracy must be a share from 0 to 1 (0.8 for 80 %)');
  return {
    cases: parsed.cases!,
    out: parsed.out!,
    maxCalls: whole('max-calls', parsed['max-calls'], 1),
    concurrency: whole('concurrency', parsed.concurrency, 1)!,
    language: parsed.language,
    minAccuracy: min,
  };
}

const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(1)} %`);
const line = (name: string, s: Summary) =>
  `${name.padEnd(9)} ${String(s.calls).padStart(4)} calls  first transfer ${pct(s.firstAccuracy).padStart(7)}  route ${pct(s.routeAccuracy).padStart(7)}  ` +
  `wrong ${pct(s.wrongTransferRate).padStart(7)}  ping-pong ${pct(s.pingPongRate).padStart(6)}  language heard ${pct(s.languageHeard).padStart(7)}  kept ${pct(s.languageKept).padStart(7)}  ` +
  `${Math.round(s.meanTokens)} tokens, ${Math.round(s.meanMs)} ms per call`;

async function main(): Promise<void> {
  const o = options();
  let cases: EvalCase[];
  try {
    cases = readCases(resolve(o.cases));
  } catch (err) {
    fail((err as Error).message);
  }
  const languages = [...new Set(cases.map((c) => c.language))];
  if (o.language && !languages.includes(o.language)) fail(`--language ${o.language}: the cases are in ${languages.join(', ')}`);
  if (o.language) cases = cases.filter((c) => c.language === o.language);
  if (o.maxCalls !== undefined) cases = spread(cases, o.maxCalls);
  if (!cases.length) fail(`no cases to play in ${o.cases}`);
  const settings = settingsOrExit('eval', () => loadSettings());
  logToStderr(settings);
  reportsFolder(o.out, stop);
  const problem = await modelServerProblem(settings);
  if (problem) stop(problem);
  const n = cases.length;
  const { model, note } = await reportedModel(settings);
  const named = `${model}${note ? ` (${note})` : ''}`;
  process.stderr.write(`Playing ${n} conversation${n === 1 ? '' : 's'} against ${named} at ${modelServer(settings)}, ${o.concurrency} at a time.\n`);
  const runId = randomUUID().slice(0, 8);
  const results = await inPool(cases, o.concurrency, async (c) => scoreCase(c, await playCase(settings, c, runId)));
  const { all, byLanguage } = summarizeByLanguage(results);
  const run = { model, ...(note ? { modelNote: note } : {}), server: modelServer(settings), at: new Date().toISOString(), all, byLanguage, results };
  writeFileSync(join(o.out, 'results.json'), `${JSON.stringify(run, null, 2)}\n`);
  writeFileSync(join(o.out, 'report.html'), htmlReport(run));
  for (const [l, s] of Object.entries(byLanguage)) process.stdout.write(`${line(languageName(l), s)}\n`);
  process.stdout.write(`${line('all', all)}\n`);
  process.stdout.write(`Model: ${named}.\n`);
  process.stdout.write(`Wrote ${join(o.out, 'results.json')} and ${join(o.out, 'report.html')}.\n`);
  const unreachable = results.filter((r) => r.errors.some((e) => /llm_error/.test(e))).length;
  if (unreachable === results.length) {
    process.stderr.write(`eval: every call's model turns failed (is ${modelServer(settings)} reachable?)\n`);
    process.exit(1);
  }
  if (o.minAccuracy !== undefined && all.firstAccuracy < o.minAccuracy) {
    process.stderr.write(`eval: first-transfer accuracy ${pct(all.firstAccuracy)} is under --min-accuracy ${pct(o.minAccuracy)}\n`);
    process.exit(1);
  }
  process.exit(0);
}

await main();
