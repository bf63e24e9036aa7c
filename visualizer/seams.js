// The silence callers heard at transfers, per desk they were sent to, over the calls on the page (live
// ones and the recently ended ones the server keeps): p50 and p95, with how often a prepared reply played.
// Each handoff event says what the caller heard (`stages.silenceMs`, measured in sound; text calls have none).
import { $, h } from './dom.js';
import { page } from './state.js';
import { shortTitle, title } from './titles.js';

/** The nearest-rank percentile `p` (0–100) of sorted numbers; null when there are none. */
export function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1];
}

/** Per desk a transfer led to: how many transfers were heard, the silence's p50 and p95, prepared replies played. */
export function seamStats(calls) {
  const byDesk = new Map();
  for (const c of calls) {
    for (const t of c.timeline ?? []) {
      const silence = t.stages?.silenceMs;
      if (typeof silence !== 'number') continue;
      if (!byDesk.has(t.state)) byDesk.set(t.state, { silences: [], prepared: 0 });
      const d = byDesk.get(t.state);
      d.silences.push(silence);
      if (t.stages.preparedPlayed) d.prepared++;
    }
  }
  return [...byDesk].map(([desk, d]) => {
    const sorted = d.silences.sort((a, b) => a - b);
    return { desk, transfers: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), prepared: d.prepared };
  });
}

export function renderSeams() {
  const rows = seamStats([...page.calls.values()]);
  $('seams-wrap').hidden = rows.length === 0;
  $('seams').replaceChildren(
    ...rows.map((r) =>
      h(
        'tr',
        { dataset: { desk: r.desk } },
        h('td', {}, h('span', { class: `dept-pill dept-${r.desk}`, title: title(r.desk) }, shortTitle(r.desk))),
        h('td', { class: 'mono', 'data-field': 'transfers' }, String(r.transfers)),
        h('td', { class: 'mono', 'data-field': 'p50' }, `${Math.round(r.p50)} ms`),
        h('td', { class: 'mono', 'data-field': 'p95' }, `${Math.round(r.p95)} ms`),
        h('td', { class: 'mono', 'data-field': 'prepared' }, `${r.prepared}/${r.transfers}`),
      ),
    ),
  );
}
