// The Past tab's dashboard: over the most recent calls in the records (GET /api/figures), the response time's
// p50 and p95 per desk (each turn it answered) and per kind of transfer (the silence the caller heard). A
// table whose calls have no sound (text calls) shows the model's time to its first token instead, and says so.
import { api } from './api.js';
import { $, h } from './dom.js';
import { shortTitle, title } from './titles.js';

/** How many of the most recent calls the figures are over. */
const CALLS = 50;

const KINDS = {
  specialist: { words: 'into a specialist desk', means: 'The front desk sent the caller on to billing, sales or support.' },
  triage: { words: 'back to the front desk', means: 'A specialist desk sent the caller back to the front desk.' },
  person: { words: 'to a person', means: 'The caller was put through to a person (cold or warm).' },
  back: { words: 'back from a person', means: 'A person could not be reached: the caller went back to a desk.' },
  desk: { words: 'desk to desk', means: 'One specialist desk sent the caller straight to another.' },
};

const FIGURE = {
  desks: {
    response: { head: 'Response time by desk', means: "What the caller waited for each answer: the end of their speech → the desk's first sound." },
    model: { head: "Model's first token by desk", means: "These calls have no sound (text calls): the language model's time to its first token for each answer." },
  },
  transfers: {
    response: { head: 'Silence at a transfer, by kind', means: "What the caller heard at each transfer: the last sound on the line → the new desk's first sound." },
    model: { head: "New desk's first token, by kind", means: "These calls have no sound (text calls): the new desk's first reply, the language model's time to its first token." },
  },
};

const ms = (v) => (v === null ? '—' : `${Math.round(v)} ms`);

/** One section: its heading row, then a row per desk or kind with how many, p50 and p95 of the figure it has. */
function section(which, rows, name) {
  if (!rows.length) return [];
  const figure = rows.some((r) => r.response.n > 0) ? 'response' : 'model';
  const words = FIGURE[which][figure];
  return [
    h(
      'tr',
      { class: 'figs-section', dataset: { section: which, figure } },
      h('th', { scope: 'col', title: words.means }, words.head),
      h('th', { scope: 'col', class: 'num', title: which === 'desks' ? 'Turns measured' : 'Transfers measured' }, which === 'desks' ? 'Turns' : 'Transfers'),
      h('th', { scope: 'col', class: 'num', title: 'Half were faster than this' }, 'p50'),
      h('th', { scope: 'col', class: 'num', title: '19 in 20 were faster than this' }, 'p95'),
    ),
    ...rows.map((r) => {
      const s = r[figure];
      const { label, hover } = name(r);
      return h(
        'tr',
        { dataset: which === 'desks' ? { desk: r.desk } : { kind: r.kind } },
        h('td', { title: hover }, label),
        h('td', { class: 'num mono', 'data-field': 'n' }, String(s.n)),
        h('td', { class: 'num mono', 'data-field': 'p50' }, ms(s.p50)),
        h('td', { class: 'num mono', 'data-field': 'p95' }, ms(s.p95)),
      );
    }),
  ];
}

function render(f) {
  const desks = section('desks', f.desks, (r) => ({ label: h('span', { class: `dept-pill dept-${r.desk}` }, shortTitle(r.desk)), hover: title(r.desk) }));
  const kinds = section('transfers', f.transfers, (r) => ({ label: KINDS[r.kind]?.words ?? r.kind, hover: KINDS[r.kind]?.means ?? r.kind }));
  $('past-figures-over').textContent = f.calls ? `over the last ${f.calls} call${f.calls === 1 ? '' : 's'}` : '';
  $('past-figures-body').replaceChildren(
    ...(desks.length || kinds.length ? [...desks, ...kinds] : [h('tr', {}, h('td', { class: 'muted', colspan: 4 }, 'No turns or transfers measured yet.'))]),
  );
}

async function load() {
  const box = $('past-figures');
  let res;
  try {
    res = await api(`/api/figures?limit=${CALLS}`);
  } catch {
    res = { ok: false };
  }
  // No records here (the list says so), or they cannot be read: no dashboard.
  box.hidden = !res.ok || !res.body || !document.querySelector('[data-tab="past"][aria-selected="true"]');
  if (!box.hidden) render(res.body);
}

/** The dashboard is read each time the Past tab is opened, and hidden on the Live one. */
export function wireFigures() {
  for (const b of document.querySelectorAll('.tabs .tab')) {
    b.addEventListener('click', () => {
      if (b.dataset.tab === 'past') void load();
      else $('past-figures').hidden = true;
    });
  }
}
