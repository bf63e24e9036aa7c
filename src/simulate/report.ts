/**
 * The self-contained HTML report of a simulation run: pass rates per judge, per scenario and per
 * language, flakiness, and every failed call turn by turn with each judge's reason.
 */
import { languageName } from '../language.js';
import type { Entry } from './play.js';
import type { CallResult, SimSummary } from './rates.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

export interface SimRun {
  models: { desks: string; caller: string; judge: string | null; note?: string };
  server: string;
  at: string;
  summary: SimSummary;
  results: CallResult[];
}

function entry(e: Entry): string {
  const t = `<span class="t">${(e.at / 1000).toFixed(1)} s</span>`;
  if (e.kind === 'caller') {
    const heard = e.heard === undefined || e.heard === e.text ? '' : ` <i>(heard: ${e.heard ? esc(e.heard) : 'nothing'})</i>`;
    return `<li class="caller">${t}<b>Caller</b> ${esc(e.text)}${heard}</li>`;
  }
  if (e.kind === 'agent') return `<li class="agent">${t}<b>${esc(e.desk)}</b> ${esc(e.text)}</li>`;
  if (e.kind === 'silence') return `<li class="caller">${t}<b>Caller</b> <i>(says nothing)</i></li>`;
  if (e.kind === 'transfer') return `<li class="event">${t}→ transferred ${esc(e.from)} → ${esc(e.to)}</li>`;
  if (e.kind === 'refused') return `<li class="event">${t}✕ transfer ${esc(e.from)} → ${esc(e.to)} refused: ${esc(e.reason)}</li>`;
  return `<li class="err">${t}error: ${esc(e.text)}</li>`;
}

function failedCall(r: CallResult): string {
  const failed = Object.entries(r.verdicts).filter(([, v]) => v.pass === false);
  return `<details><summary><code>${esc(r.scenario)}</code> run ${r.run} — ${esc(r.title)}: failed ${failed.map(([j]) => esc(j)).join(', ')}</summary>` +
    `<ul class="why">${failed.map(([j, v]) => `<li><b>${esc(j)}</b>: ${esc(v.reason)}</li>`).join('')}</ul>` +
    `<ol class="turns">${r.call.entries.map(entry).join('')}</ol>` +
    `<p class="meta">Ended: ${esc(r.call.end.by)}${r.call.end.reason ? ` (${esc(r.call.end.reason)})` : ''} · ${r.call.tokens.desks} desk tokens, ` +
    `${r.call.tokens.caller} caller tokens${r.judgeTokens ? `, ${r.judgeTokens} judge tokens` : ''} · ${(r.call.ms / 1000).toFixed(1)} s</p></details>`;
}

export function htmlReport(run: SimRun): string {
  const s = run.summary;
  const judges = s.byJudge
    .map((j) => `<tr><th>${esc(j.id)}</th><td class="l">${esc(j.title)}</td><td>${j.calls ? pct(j.passRate) : '—'}</td><td>${j.passed}/${j.calls}</td><td>${j.flakyOn.length ? esc(j.flakyOn.join(', ')) : ''}</td></tr>`)
    .join('');
  const scenarios = s.byScenario
    .map((c) => `<tr class="${c.passRate < 1 ? 'bad' : ''}"><th>${esc(c.id)}</th><td class="l">${esc(c.title)}</td><td>${esc(languageName(c.language))}</td><td>${pct(c.passRate)}</td><td>${c.passed}/${c.calls}</td><td>${c.flaky ? 'flaky' : ''}</td><td class="l">${esc(Object.entries(c.failedJudges).map(([j, n]) => `${j} ×${n}`).join(', '))}</td></tr>`)
    .join('');
  const languages = Object.entries(s.byLanguage).map(([l, r]) => `${esc(languageName(l))} ${pct(r.passRate)} (${r.passed}/${r.calls})`).join(' · ');
  const failed = run.results.filter((r) => !r.pass);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Switchboard simulated calls</title><style>
body{font:14px/1.45 system-ui,"Noto Sans Devanagari",sans-serif;margin:24px;color:#111;max-width:1100px}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}th{background:#f6f6f6}
td.l{text-align:left}tr.bad td,tr.bad th{background:#fef2f2}details{margin:6px 0;padding:6px;border:1px solid #eee;border-radius:6px}
.turns{list-style:none;padding-left:0}.turns li{margin:2px 0}.t{display:inline-block;width:56px;color:#666;font-variant-numeric:tabular-nums}
.caller b{color:#1d4ed8}.agent b{color:#047857}.event{color:#6b21a8}.err{color:#b91c1c}.why{color:#b91c1c}.meta{color:#555}
code{background:#f3f3f3;padding:0 4px}.note{color:#b45309}</style></head><body>
<h1>Simulated calls</h1>
<p>Desks: <code>${esc(run.models.desks)}</code>${run.models.note ? ` (<strong class="note">${esc(run.models.note)}</strong>)` : ''} at <code>${esc(run.server)}</code>;
caller: <code>${esc(run.models.caller)}</code>; LLM judge: ${run.models.judge ? `<code>${esc(run.models.judge)}</code>` : 'not run (JUDGE_MODEL not set)'}. ${esc(run.at)}.</p>
<p><strong>${pct(s.passRate)}</strong> of ${s.calls} calls passed every judge (${s.scenarios} scenarios × ${s.repeats});
flaky scenarios: ${pct(s.flakiness)}${s.repeats < 2 ? ' (one run each: use --repeat to measure flakiness)' : ''}. ${languages}.<br>
Tokens: ${s.tokens.desks} desks, ${s.tokens.caller} caller, ${s.tokens.judge} judge · ${(s.meanMs / 1000).toFixed(1)} s per call.</p>
<h2>Judges</h2><table><tr><th>judge</th><th>checks</th><th>pass rate</th><th>passed</th><th>flaky on</th></tr>${judges}</table>
<h2>Scenarios</h2><table><tr><th>scenario</th><th>title</th><th>language</th><th>pass rate</th><th>passed</th><th></th><th>failed judges</th></tr>${scenarios}</table>
<h2>Failed calls (${failed.length})</h2>${failed.map(failedCall).join('') || '<p>None.</p>'}
</body></html>`;
}
