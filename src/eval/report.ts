/** The self-contained HTML report of an eval run: the figures per language, a confusion-matrix heatmap, the failed conversations. */
import { languageName } from '../language.js';
import { OUTCOMES, type CaseResult, type Summary } from './score.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(1)} %`);

function figures(name: string, s: Summary): string {
  return `<tr><th>${esc(name)}</th><td>${s.calls}</td><td>${pct(s.firstAccuracy)}</td><td>${pct(s.routeAccuracy)}</td>` +
    `<td>${pct(s.wrongTransferRate)}</td><td>${pct(s.pingPongRate)}</td><td>${s.meanTurnsToRight?.toFixed(2) ?? '—'}</td>` +
    `<td>${pct(s.languageHeard)}</td><td>${pct(s.languageKept)}</td><td>${Math.round(s.meanTokens)}</td><td>${Math.round(s.meanMs)} ms</td></tr>`;
}

function heatmap(name: string, s: Summary): string {
  const max = Math.max(1, ...OUTCOMES.flatMap((e) => OUTCOMES.map((a) => s.confusion[e][a])));
  const cell = (e: string, a: string, n: number) => {
    const alpha = n / max;
    const hue = e === a ? '22,163,74' : '220,38,38';
    return `<td style="background:rgba(${hue},${alpha.toFixed(2)})" title="expected ${e}, got ${a}">${n || ''}</td>`;
  };
  const rows = OUTCOMES.map((e) => `<tr><th>${e}</th>${OUTCOMES.map((a) => cell(e, a, s.confusion[e][a])).join('')}</tr>`).join('');
  return `<figure><figcaption>${esc(name)}: expected (rows) × first transfer (columns)</figcaption>` +
    `<table class="heat"><tr><th></th>${OUTCOMES.map((a) => `<th>${a}</th>`).join('')}</tr>${rows}</table></figure>`;
}

function failed(r: CaseResult): string {
  const lines = r.lines.map((l) => `<li><b>${esc(l.agent)}</b>: ${esc(l.text)}</li>`).join('');
  return `<details><summary><code>${esc(r.id)}</code> ${esc(r.kind)} — expected ${esc(r.expectedRoute.join(' → ') || 'no transfer')}, ` +
    `got ${esc(r.route.join(' → ') || 'no transfer')}</summary><p>Caller: ${r.turns.map((t) => `“${esc(t)}”`).join(' · ')}</p>` +
    `<ol>${lines}</ol>${r.errors.length ? `<p class="err">${r.errors.map(esc).join('<br>')}</p>` : ''}</details>`;
}

export function htmlReport(run: { model: string; modelNote?: string; server: string; at: string; all: Summary; byLanguage: Record<string, Summary>; results: CaseResult[] }): string {
  const langs = Object.keys(run.byLanguage);
  const failures = run.results.filter((r) => !r.routeCorrect);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Switchboard routing eval</title><style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#111;max-width:1100px}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}
th{background:#f6f6f6}.heat td{width:56px;text-align:center}figure{display:inline-block;margin:0 24px 16px 0}
figcaption{font-weight:600;margin-bottom:4px}details{margin:6px 0;padding:6px;border:1px solid #eee;border-radius:6px}
.err{color:#b91c1c}code{background:#f3f3f3;padding:0 4px}</style></head><body>
<h1>Routing eval</h1><p>Model <code>${esc(run.model)}</code>${run.modelNote ? ` (<strong class="note">${esc(run.modelNote)}</strong>)` : ''} at <code>${esc(run.server)}</code>, ${esc(run.at)}, ${run.all.calls} conversation${run.all.calls === 1 ? '' : 's'}.</p>
<table><tr><th>language</th><th>calls</th><th>first transfer right</th><th>whole route right</th><th>wrong transfer</th>
<th>ping-pong</th><th>turns to right desk</th><th>language heard</th><th>language kept</th><th>tokens / call</th><th>time / call</th></tr>
${langs.map((l) => figures(languageName(l), run.byLanguage[l]!)).join('')}${figures('all', run.all)}</table>
<h2>Confusion matrices</h2>${heatmap('all', run.all)}${langs.map((l) => heatmap(languageName(l), run.byLanguage[l]!)).join('')}
<h2>Failed conversations (${failures.length})</h2>${failures.map(failed).join('') || '<p>None.</p>'}
</body></html>`;
}
