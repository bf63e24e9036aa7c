// Switchboard inspector page: the routing statechart (laid out by ELK), live calls, and one call's route,
// refusals and transcript, fed by the server's `/feed` WebSocket (see src/inspector/protocol.ts).
// Plain ES module, no build step; everything is same-origin (the page runs under `default-src 'self'`).

const TOKEN = new URLSearchParams(location.search).get('token') ?? '';

/** Titles as in src/departments.ts (DEPARTMENT_TABLE); unknown states are shown by id. */
const TITLES = {
  triage: 'Triage',
  billing: 'Billing',
  sales: 'Sales',
  support: 'Support',
  human: 'Human hand-off',
  ended: 'Ended',
};
const SHORT_TITLES = { ...TITLES, human: 'Person' };
const title = (s) => TITLES[s] ?? (s ? s.charAt(0).toUpperCase() + s.slice(1) : '?');
const shortTitle = (s) => SHORT_TITLES[s] ?? title(s);
const TAKEN_MS = 4000;
const ENDED_KEEP = 20;

// ───────────────────────────── state ─────────────────────────────

/** @type {Map<string, any>} callId → CallView */
const calls = new Map();
let selectedId = null;
let hidePhoneNumbers = false;
let graph = null;
let diagramReady = false;
/** callId → number of timeline entries already seen (to spot a handoff just taken). */
const seenTransitions = new Map();
/** The transition to highlight: { callId, from, to, until }. */
let taken = null;
let takenTimer = null;
let pendingCommand = false;
/** Which list the calls card shows: 'live' (the feed) or 'past' (the call records). */
let tab = 'live';
/** Past calls from GET /api/records (summaries), and the one opened (a full CallView from the records). */
let pastList = [];
let pastView = null;
let pastLoading = 0;
/** A replay of the shown call's route: { step } (index into the steps), or null. */
let replay = null;
let replayTimer = null;
const REPLAY_STEP_MS = 1100;

// ───────────────────────────── helpers ─────────────────────────────

function withToken(path) {
  if (!TOKEN) return path;
  return path + (path.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(TOKEN);
}

function authHeaders(extra = {}) {
  return TOKEN ? { ...extra, Authorization: `Bearer ${TOKEN}` } : extra;
}

async function api(path, init = {}) {
  const res = await fetch(withToken(path), { ...init, headers: authHeaders(init.headers ?? {}) });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  return { status: res.status, ok: res.ok, body };
}

/** Tiny DOM builder: h('div', {class: 'x', dataset: {...}}, child, 'text', ...). Text is never parsed as HTML. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  appendAll(el, children);
  return el;
}
function appendAll(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fmtDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hh = Math.floor(total / 3600);
  const mm = Math.floor((total % 3600) / 60);
  const ss = total % 60;
  const pad = (n) => String(n).padStart(2, '0');
  return hh ? `${hh}:${pad(mm)}:${pad(ss)}` : `${mm}:${pad(ss)}`;
}
function fmtSpent(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return fmtDuration(ms);
}
function fmtClock(at) {
  return new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}
/** A past call's start: the time today, else the date and time. */
function fmtWhen(at) {
  const d = new Date(at);
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toDateString() === new Date().toDateString() ? time : `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}
function callerLabel(c) {
  return c.caller?.name || c.caller?.phoneNumber || 'unknown caller';
}
function callEnd(c) {
  return c.live ? Date.now() : (c.endedAt ?? c.timeline?.at(-1)?.leftAt ?? Date.now());
}

const $ = (id) => document.getElementById(id);

/** The call shown in the details and the diagram: a past call opened from the records, or a live/recent one. */
function selectedView() {
  return pastView ?? (selectedId ? (calls.get(selectedId) ?? null) : null);
}

// ───────────────────────────── connection status ─────────────────────────────

function setConn(status, text) {
  const el = $('conn');
  el.dataset.status = status;
  el.querySelector('.conn-text').textContent = text;
}

// ───────────────────────────── statechart ─────────────────────────────

let measureCtx = null;
function textWidth(text, font) {
  measureCtx ??= document.createElement('canvas').getContext('2d');
  measureCtx.font = font;
  return measureCtx.measureText(text).width;
}

const FONT_FAMILY = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
const NODE_FONT = `600 15px ${FONT_FAMILY}`;
const LABEL_FONT = `11px ${FONT_FAMILY}`;
const LABEL_FONT_EVENT = `600 11px ${FONT_FAMILY}`;
const LABEL_LINE = 13;

/**
 * Edge labels, compacted into lines: one line per event, then its guards (one per line), and the
 * guard-less events of the edge together ("END_CALL / HANGUP").
 */
function edgeLabelLines(labels) {
  const byEvent = new Map();
  for (const l of labels) {
    const m = /^(\S+)(?:\s+\[(.*)\])?$/.exec(l);
    const ev = m ? m[1] : l;
    const list = byEvent.get(ev) ?? [];
    if (m?.[2]) list.push(m[2]);
    byEvent.set(ev, list);
  }
  const lines = [];
  const bare = [];
  for (const [ev, guards] of byEvent) {
    if (!guards.length) bare.push(ev);
    else lines.push({ text: ev, kind: 'event' }, ...guards.map((g) => ({ text: `[${g}]`, kind: 'guard' })));
  }
  if (bare.length) lines.push({ text: bare.join(' / '), kind: 'event' });
  return lines;
}

async function loadMachine() {
  const res = await api('/api/machine');
  if (!res.ok || !res.body) throw new Error(`GET /api/machine answered ${res.status}`);
  return res.body;
}

async function loadElk() {
  if (globalThis.ELK) return globalThis.ELK;
  await new Promise((resolve, reject) => {
    const el = document.createElement('script');
    el.src = withToken('/vendor/elk.bundled.js');
    el.onload = resolve;
    el.onerror = () => reject(new Error('could not load /vendor/elk.bundled.js'));
    document.head.append(el);
  });
  return globalThis.ELK;
}

async function drawDiagram() {
  const box = $('diagram');
  try {
    const [machine, ELK] = await Promise.all([loadMachine(), loadElk()]);
    graph = machine;
    const elk = new ELK();
    const nodeH = 48;
    const elkGraph = {
      id: 'root',
      layoutOptions: {
        'elk.algorithm': 'layered',
        'elk.direction': 'RIGHT',
        'elk.edgeRouting': 'POLYLINE',
        // The machine's own order (triage, departments, human, ended) decides which edges point back.
        'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
        'elk.layered.cycleBreaking.strategy': 'MODEL_ORDER',
        'elk.layered.nodePlacement.strategy': 'LINEAR_SEGMENTS',
        'elk.layered.edgeLabels.centerLabelPlacementStrategy': 'MEDIAN_LAYER',
        'elk.layered.spacing.nodeNodeBetweenLayers': '40',
        'elk.layered.spacing.edgeNodeBetweenLayers': '10',
        'elk.layered.spacing.edgeEdgeBetweenLayers': '6',
        'elk.spacing.nodeNode': '16',
        'elk.spacing.edgeNode': '10',
        'elk.spacing.edgeEdge': '6',
        'elk.spacing.edgeLabel': '2',
        'elk.padding': '[top=8,left=8,bottom=8,right=8]',
      },
      children: [
        { id: '__initial', width: 16, height: 16 },
        ...machine.states.map((st) => ({
          id: st.id,
          width: Math.max(112, Math.ceil(textWidth(title(st.id), NODE_FONT)) + 40),
          height: nodeH,
        })),
      ],
      edges: [
        { id: '__initial_edge', sources: ['__initial'], targets: [machine.initial] },
        ...machine.edges.map((e, i) => {
          const lines = edgeLabelLines(e.labels);
          return {
            id: `e${i}`,
            sources: [e.source],
            targets: [e.target],
            labels: [
              {
                id: `e${i}_label`,
                text: lines.map((l) => l.text).join('\n'),
                width: Math.ceil(Math.max(...lines.map((l) => textWidth(l.text, l.kind === 'event' ? LABEL_FONT_EVENT : LABEL_FONT)))) + 6,
                height: lines.length * LABEL_LINE + 2,
                layoutOptions: { 'elk.edgeLabels.placement': 'CENTER' },
              },
            ],
          };
        }),
      ],
    };
    const laid = await elk.layout(elkGraph);
    renderSvg(laid, machine);
    diagramReady = true;
    updateDiagram();
  } catch (err) {
    box.replaceChildren(h('p', { class: 'placeholder error-text' }, `Could not draw the statechart: ${err.message}`));
  }
}

function renderSvg(laid, machine) {
  const W = Math.ceil(laid.width);
  const H = Math.ceil(laid.height);
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: 'chart',
    role: 'img',
    'aria-label': `Statechart of the ${machine.id} machine`,
    preserveAspectRatio: 'xMidYMid meet',
  });
  const marker = (id, cls) =>
    s(
      'marker',
      { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse', class: cls },
      s('path', { d: 'M0,0 L10,5 L0,10 z' }),
    );
  svg.append(s('defs', {}, marker('arrow', 'arrowhead'), marker('arrow-taken', 'arrowhead taken'), marker('arrow-init', 'arrowhead init')));

  const edgesLayer = s('g', { class: 'edges' });
  const labelsLayer = s('g', { class: 'edge-labels' });
  for (const e of laid.edges) {
    const isInit = e.id === '__initial_edge';
    const src = e.sources[0];
    const dst = e.targets[0];
    const g = s('g', {
      class: isInit ? 'edge initial-edge' : 'edge',
      'data-edge': isInit ? undefined : `${src}->${dst}`,
      'data-source': isInit ? undefined : src,
      'data-target': isInit ? undefined : dst,
    });
    for (const sec of e.sections ?? []) {
      const pts = [sec.startPoint, ...(sec.bendPoints ?? []), sec.endPoint].map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
      g.append(s('polyline', { points: pts, 'marker-end': isInit ? 'url(#arrow-init)' : 'url(#arrow)' }));
    }
    edgesLayer.append(g);
    for (const l of e.labels ?? []) {
      const lines = l.text.split('\n');
      const lg = s('g', { class: 'edge-label', 'data-edge': `${src}->${dst}` });
      lg.append(s('title', {}, `${title(src)} → ${title(dst)}: ${lines.join(', ')}`));
      lg.append(s('rect', { x: l.x, y: l.y, width: l.width, height: l.height, rx: 3 }));
      const t = s('text', { x: l.x + l.width / 2, y: l.y + 2 });
      lines.forEach((line, i) =>
        t.append(s('tspan', { x: l.x + l.width / 2, dy: i === 0 ? 10.5 : LABEL_LINE, class: line.startsWith('[') ? 'guard' : 'event' }, line)),
      );
      lg.append(t);
      labelsLayer.append(lg);
    }
  }

  const nodesLayer = s('g', { class: 'states' });
  const byId = new Map(machine.states.map((st) => [st.id, st]));
  for (const n of laid.children) {
    if (n.id === '__initial') {
      nodesLayer.append(s('circle', { class: 'initial', cx: n.x + n.width / 2, cy: n.y + n.height / 2, r: n.width / 2 - 1 }));
      continue;
    }
    const st = byId.get(n.id);
    const g = s('g', {
      class: `state state-${n.id}${st?.final ? ' final' : ''}${n.id === machine.initial ? ' initial-state' : ''}`,
      'data-state': n.id,
      transform: `translate(${n.x},${n.y})`,
    });
    g.append(s('title', {}, `${title(n.id)}${st?.description ? ` — ${st.description}` : ''}`));
    g.append(s('rect', { class: 'state-box', width: n.width, height: n.height, rx: 12 }));
    if (st?.final) g.append(s('rect', { class: 'state-inner', x: 4, y: 4, width: n.width - 8, height: n.height - 8, rx: 9 }));
    g.append(s('rect', { class: 'state-accent', x: 0, y: 0, width: 6, height: n.height, rx: 3 }));
    g.append(s('text', { class: 'state-name', x: n.width / 2 + 2, y: n.height / 2 + 5 }, title(n.id)));
    const badge = s('g', { class: 'state-count', transform: `translate(${n.width - 4},${4})` });
    badge.append(s('circle', { r: 10, cx: 0, cy: 0 }), s('text', { x: 0, y: 4 }, ''));
    g.append(badge);
    nodesLayer.append(g);
  }
  svg.append(edgesLayer, nodesLayer, labelsLayer);
  $('diagram').replaceChildren(svg);
}

function updateDiagram() {
  if (!diagramReady) return;
  const view = selectedView();
  const steps = view ? replaySteps(view) : [];
  const upTo = replay && view ? Math.min(replay.step, steps.length - 1) : null;
  // During a replay the diagram shows the call as it was at that step.
  const sel = view && upTo !== null ? { ...view, state: steps[upTo].state, timeline: steps.slice(0, upTo + 1) } : view;
  const visited = new Set(sel ? sel.timeline.map((t) => t.state) : []);
  const liveCounts = new Map();
  for (const c of calls.values()) if (c.live) liveCounts.set(c.state, (liveCounts.get(c.state) ?? 0) + 1);
  for (const g of document.querySelectorAll('#diagram [data-state]')) {
    const id = g.getAttribute('data-state');
    if (sel && sel.state === id) g.setAttribute('data-active', 'true');
    else g.removeAttribute('data-active');
    g.classList.toggle('visited', visited.has(id) && sel?.state !== id);
    const n = liveCounts.get(id) ?? 0;
    const badge = g.querySelector('.state-count');
    badge.classList.toggle('show', n > 0);
    badge.querySelector('text').textContent = n ? String(n) : '';
    badge.querySelector('title')?.remove();
    if (n) badge.prepend(s('title', {}, `${n} live call${n === 1 ? '' : 's'} here`));
  }
  // Transitions the selected call has taken (route), and the one just taken.
  const route = new Set();
  if (sel) for (let i = 1; i < sel.timeline.length; i++) route.add(`${sel.timeline[i - 1].state}->${sel.timeline[i].state}`);
  const now = Date.now();
  const hot =
    upTo !== null
      ? upTo > 0
        ? `${steps[upTo - 1].state}->${steps[upTo].state}`
        : null
      : taken && !pastView && taken.callId === selectedId && taken.until > now
        ? `${taken.from}->${taken.to}`
        : null;
  for (const g of document.querySelectorAll('#diagram .edge[data-edge], #diagram .edge-label[data-edge]')) {
    const key = g.getAttribute('data-edge');
    g.classList.toggle('travelled', route.has(key) && key !== hot);
    g.classList.toggle('taken', key === hot);
    if (g.classList.contains('edge')) {
      for (const p of g.querySelectorAll('polyline')) p.setAttribute('marker-end', key === hot ? 'url(#arrow-taken)' : 'url(#arrow)');
    }
  }
  // Draw hot edges above the others.
  if (hot) {
    const layer = document.querySelector('#diagram .edges');
    const el = layer?.querySelector(`.edge[data-edge="${CSS.escape(hot)}"]`);
    if (el) layer.append(el);
  }
}

function noteTransitions(call) {
  const seen = seenTransitions.get(call.callId);
  const n = call.timeline.length;
  seenTransitions.set(call.callId, n);
  if (seen === undefined || n <= seen || n < 2) return;
  const from = call.timeline[n - 2].state;
  const to = call.timeline[n - 1].state;
  taken = { callId: call.callId, from, to, until: Date.now() + TAKEN_MS };
  clearTimeout(takenTimer);
  takenTimer = setTimeout(() => {
    taken = null;
    updateDiagram();
  }, TAKEN_MS + 20);
}

// ───────────────────────────── calls list ─────────────────────────────

function sortedCalls() {
  const list = [...calls.values()];
  const live = list.filter((c) => c.live).sort((a, b) => a.startedAt - b.startedAt);
  const ended = list
    .filter((c) => !c.live)
    .sort((a, b) => (b.endedAt ?? b.startedAt) - (a.endedAt ?? a.startedAt))
    .slice(0, ENDED_KEEP);
  return [...live, ...ended];
}

/**
 * One row of a calls list (live or past): status dot, caller and a sub-line, the department pill, then
 * `cells`. Clicking it, or Enter / Space on it, opens the call.
 */
function callRow(c, { selected, className, dataset, open, sub, subTitle }, ...cells) {
  return h(
    'div',
    {
      class: `call-row ${className}${selected ? ' selected' : ''}`,
      role: 'option',
      tabindex: 0,
      'aria-selected': selected ? 'true' : 'false',
      dataset,
      on: {
        click: open,
        keydown: (ev) => {
          if (ev.key === 'Enter' || ev.key === ' ') {
            ev.preventDefault();
            open();
          }
        },
      },
    },
    h(
      'span',
      { class: 'call-caller' },
      h('span', { class: `status-dot ${c.live ? 'on' : 'off'}`, title: c.live ? 'live' : 'ended' }),
      h(
        'span',
        { class: 'call-who' },
        h('span', { class: 'caller-name', 'data-field': 'caller' }, callerLabel(c)),
        h('span', { class: 'call-sub', title: subTitle }, sub),
      ),
    ),
    h('span', {}, h('span', { class: `dept-pill dept-${c.state}`, 'data-field': 'state' }, shortTitle(c.state))),
    ...cells,
  );
}

function renderCalls() {
  const box = $('calls');
  const list = sortedCalls();
  const liveN = list.filter((c) => c.live).length;
  if (tab === 'live') $('calls-count').textContent = `${liveN} live · ${list.length - liveN} ended`;
  renderStats(liveN);
  if (!list.length) {
    box.replaceChildren(h('p', { class: 'placeholder' }, 'No calls yet. Calls appear here as soon as they start.'));
    return;
  }
  const head = h(
    'div',
    { class: 'call-row call-head', 'aria-hidden': 'true' },
    h('span', {}, 'Caller'),
    h('span', {}, 'Department'),
    h('span', { class: 'num' }, 'Handoffs'),
    h('span', { class: 'num' }, 'Time'),
  );
  const rows = list.map((c) => {
    const capHit = c.handoffCount >= c.maxHandoffs;
    return callRow(
      c,
      {
        selected: c.callId === selectedId,
        className: c.live ? 'live' : 'ended',
        dataset: { callId: c.callId },
        open: () => select(c.callId),
        sub: c.caller?.name && c.caller?.phoneNumber ? c.caller.phoneNumber : c.caller?.need || c.callId,
      },
      h('span', { class: `num mono${capHit ? ' warn' : ''}`, 'data-field': 'handoffs' }, `${c.handoffCount}/${c.maxHandoffs}`),
      h('span', { class: 'num mono', 'data-field': 'duration', 'data-duration': c.callId }, fmtDuration(callEnd(c) - c.startedAt)),
    );
  });
  box.replaceChildren(head, ...rows);
}

function renderStats(liveN) {
  const byState = new Map();
  for (const c of calls.values()) if (c.live) byState.set(c.state, (byState.get(c.state) ?? 0) + 1);
  const items = [h('span', { class: 'stat' }, h('strong', {}, String(liveN)), ' live')];
  for (const [st, n] of byState) items.push(h('span', { class: `stat dept-text-${st}` }, h('strong', {}, String(n)), ` ${shortTitle(st).toLowerCase()}`));
  if (hidePhoneNumbers) items.push(h('span', { class: 'stat muted', title: 'The server masks phone numbers' }, 'numbers masked'));
  $('stats').replaceChildren(...items);
}

function select(callId) {
  if (pastView) {
    pastView = null;
    stopReplay();
  }
  if (selectedId !== callId) {
    stopReplay();
    selectedId = callId;
    const res = $('command-result');
    res.hidden = true;
    res.textContent = '';
    delete res.dataset.accepted;
    $('transcript').dataset.stick = 'true';
  }
  renderAll();
}

function ensureSelection() {
  if (pastView) return;
  if (selectedId && calls.has(selectedId)) return;
  const first = sortedCalls()[0];
  selectedId = null;
  if (first) select(first.callId);
}

// ───────────────────────────── details ─────────────────────────────

function renderDetails() {
  const c = selectedView();
  $('details-empty').hidden = !!c;
  $('details-body').hidden = !c;
  $('details-id').textContent = c ? c.callId : '';
  if (!c) return;

  // Caller and status.
  const info = [];
  const add = (label, value) => value && info.push(h('div', { class: 'kv' }, h('span', { class: 'k' }, label), h('span', { class: 'v' }, value)));
  add('Phone', c.caller?.phoneNumber);
  add('Account', c.caller?.accountId);
  add('Need', c.caller?.need);
  add('Dialled', c.caller?.dialedNumber);
  add('SIP call', c.caller?.sipCallIdFull ?? c.caller?.sipCallId);
  add('Worker', c.worker);
  const status = c.live
    ? h('span', { class: 'badge badge-live' }, pastView ? 'live (record)' : 'live')
    : h('span', { class: 'badge badge-ended' }, `ended${c.endReason ? ` · ${c.endReason}` : ''}`);
  $('caller').replaceChildren(
    h(
      'div',
      { class: 'caller-top' },
      h('div', { class: 'caller-title' }, h('span', { class: 'caller-big' }, callerLabel(c)), status),
      h(
        'div',
        { class: 'caller-meta' },
        h('span', { class: `dept-pill big dept-${c.state}` }, title(c.state)),
        h('span', { class: 'muted' }, 'handoffs '),
        h('strong', { class: 'mono' }, `${c.handoffCount}/${c.maxHandoffs}`),
        h('span', { class: 'muted' }, ' · '),
        h('strong', { class: 'mono', 'data-duration': c.callId }, fmtDuration(callEnd(c) - c.startedAt)),
      ),
    ),
    info.length ? h('div', { class: 'kvs' }, info) : null,
  );

  // Supervisor actions: only for a call on the live feed (a past call is a record, not a call to move).
  $('supervisor').hidden = !!pastView;
  for (const b of document.querySelectorAll('#actions button')) {
    const dept = b.dataset.dept;
    b.disabled = !c.live || pendingCommand;
    b.classList.toggle('current', dept === c.state);
    if (dept === 'human') b.title = c.humanAvailable ? 'Transfer to a person' : 'No person is configured on this line (the machine will refuse)';
  }

  // Route timeline (and its replay, for a call that is over).
  renderReplay(c);
  const now = Date.now();
  $('timeline').replaceChildren(
    ...c.timeline.map((t, i) => {
      const until = t.leftAt ?? (c.live ? now : callEnd(c));
      const current = i === c.timeline.length - 1;
      const replaying = replay !== null && replay.step === i;
      return h(
        'li',
        { class: `tl-item dept-border-${t.state}${current ? ' current' : ''}${replaying ? ' replaying' : ''}`, dataset: { state: t.state } },
        h(
          'div',
          { class: 'tl-head' },
          h('span', { class: `dept-pill dept-${t.state}` }, title(t.state)),
          h('span', { class: 'tl-spent mono', 'data-since': current && c.live ? t.enteredAt : undefined }, fmtSpent(until - t.enteredAt)),
          h('span', { class: 'muted small' }, fmtClock(t.enteredAt)),
        ),
        i === 0
          ? h('div', { class: 'tl-reason muted' }, 'call started')
          : h('div', { class: 'tl-reason' }, t.reason ? `“${t.reason}”` : h('span', { class: 'muted' }, 'no reason given')),
        i === 0
          ? null
          : h(
              'div',
              { class: 'tl-tags' },
              t.source ? h('span', { class: `tag tag-${t.source}` }, t.source) : null,
              t.latencyMs !== undefined ? h('span', { class: 'tag tag-latency' }, t.latencyMs === null ? 'latency n/a' : `${Math.round(t.latencyMs)} ms handoff`) : null,
              t.escalated ? h('span', { class: 'tag tag-escalated' }, 'escalated (cap reached)') : null,
            ),
      );
    }),
  );

  // Refusals.
  $('refusals-count').textContent = c.refusals.length ? String(c.refusals.length) : '';
  $('refusals').replaceChildren(
    ...(c.refusals.length
      ? c.refusals.map((r) =>
          h(
            'li',
            { class: 'refusal', dataset: { from: r.from, to: r.to } },
            h(
              'div',
              { class: 'refusal-head' },
              h('span', { class: 'refusal-icon', 'aria-hidden': 'true' }, '⊘'),
              h('strong', {}, `${title(r.from)} → ${title(r.to)}`),
              r.source ? h('span', { class: `tag tag-${r.source}` }, r.source) : null,
              h('span', { class: 'muted small' }, fmtClock(r.at)),
            ),
            h('div', { class: 'refusal-reason' }, r.reason),
          ),
        )
      : [h('li', { class: 'muted small none' }, 'None.')]),
  );

  // Errors.
  $('errors-wrap').hidden = !c.errors.length;
  $('errors').replaceChildren(...c.errors.map((e) => h('li', { class: 'error' }, h('span', { class: 'muted small' }, fmtClock(e.at)), ' ', e.message)));

  // Transcript (keep the reader's scroll position unless they were at the bottom).
  const tr = $('transcript');
  const atBottom = tr.dataset.stick === 'true' || tr.scrollHeight - tr.scrollTop - tr.clientHeight < 40;
  tr.replaceChildren(
    ...(c.transcript.length
      ? c.transcript.map((m) => {
          const caller = m.who === 'user' || m.who === 'caller';
          return h(
            'div',
            { class: `msg ${caller ? 'msg-caller' : `msg-agent dept-border-${m.who}`}${m.interrupted ? ' interrupted' : ''}` },
            h('div', { class: 'msg-who' }, caller ? 'Caller' : title(m.who), h('span', { class: 'muted small' }, fmtClock(m.at)), m.interrupted ? h('span', { class: 'tag' }, 'interrupted') : null),
            h('div', { class: 'msg-text' }, m.text),
          );
        })
      : [h('p', { class: 'placeholder' }, 'Nothing said yet.')]),
  );
  if (atBottom) tr.scrollTop = tr.scrollHeight;
  tr.dataset.stick = 'false';
}

function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll('[data-duration]')) {
    const c = pastView?.callId === el.getAttribute('data-duration') ? pastView : calls.get(el.getAttribute('data-duration'));
    if (c?.live) el.textContent = fmtDuration(now - c.startedAt);
  }
  for (const el of document.querySelectorAll('[data-since]')) {
    el.textContent = fmtSpent(now - Number(el.getAttribute('data-since')));
  }
}

function renderAll() {
  renderCalls();
  renderPast();
  renderDetails();
  updateDiagram();
}

// ───────────────────────────── supervisor commands ─────────────────────────────

function showResult(kind, text) {
  const el = $('command-result');
  el.hidden = false;
  el.dataset.accepted = kind;
  el.textContent = text;
}

async function sendCommand(action) {
  const c = !pastView && selectedId ? calls.get(selectedId) : null;
  if (!c) return;
  const callId = c.callId;
  const what = action.type === 'TRANSFER' ? `transfer to ${title(action.to)}` : 'end the call';
  pendingCommand = true;
  renderDetails();
  showResult('pending', `Asking the machine to ${what}…`);
  try {
    const res = await api(`/api/calls/${encodeURIComponent(callId)}/command`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ action }),
    });
    if (selectedId !== callId) return;
    const b = res.body ?? {};
    if (res.ok && b.accepted) {
      showResult('true', `Accepted: ${what}${b.state ? ` — now in ${title(b.state)}` : ''}.`);
    } else if (res.ok && b.accepted === false) {
      showResult('false', `Refused (${what}): ${b.reason ?? 'no reason given'}`);
    } else {
      showResult('false', `Failed (${what}): ${b.reason ?? b.error ?? `HTTP ${res.status}`}`);
    }
  } catch (err) {
    if (selectedId === callId) showResult('false', `Failed (${what}): ${err.message}`);
  } finally {
    pendingCommand = false;
    renderDetails();
  }
}

function wireActions() {
  for (const b of document.querySelectorAll('#actions .dept-btn')) {
    b.addEventListener('click', () => sendCommand({ type: 'TRANSFER', to: b.dataset.dept }));
  }
  $('end-call').addEventListener('click', () => sendCommand({ type: 'END_CALL' }));
}

// ───────────────────────────── past calls (records) and replay ─────────────────────────────

function outcomeText(c) {
  if (c.live) return 'in progress';
  return c.endReason || 'ended';
}

function renderPast() {
  const box = $('past-calls');
  if (tab !== 'past') return;
  if (pastList === null) return; // an error message is shown
  $('calls-count').textContent = pastLoading && !pastList.length ? '' : `${pastList.length} recorded`;
  if (!pastList.length) {
    box.replaceChildren(h('p', { class: 'placeholder' }, pastLoading ? 'Loading past calls…' : 'No past calls in the records yet.'));
    return;
  }
  const head = h(
    'div',
    { class: 'call-row call-head', 'aria-hidden': 'true' },
    h('span', {}, 'Caller'),
    h('span', {}, 'Ended in'),
    h('span', { class: 'num' }, 'Handoffs'),
    h('span', { class: 'num' }, 'Outcome'),
  );
  const rows = pastList.map((c) => {
    const interrupted = c.endReason === 'interrupted';
    return callRow(
      c,
      {
        selected: pastView?.callId === c.callId,
        className: 'ended',
        dataset: { recordId: c.callId },
        open: () => openPast(c.callId),
        sub: `${fmtWhen(c.startedAt)} · ${fmtDuration(callEnd(c) - c.startedAt)}`,
        subTitle: new Date(c.startedAt).toLocaleString(),
      },
      h('span', { class: 'num mono', 'data-field': 'handoffs' }, `${c.handoffCount}/${c.maxHandoffs}`),
      h('span', { class: `call-outcome${interrupted ? ' interrupted' : ''}`, 'data-field': 'outcome', title: outcomeText(c) }, outcomeText(c)),
    );
  });
  box.replaceChildren(head, ...rows);
}

function pastProblem(text) {
  pastList = null;
  $('calls-count').textContent = '';
  $('past-calls').replaceChildren(h('p', { class: 'placeholder', 'data-testid': 'past-problem' }, text));
}

async function loadPast() {
  pastLoading++;
  if (pastList === null) pastList = [];
  renderPast();
  try {
    const res = await api('/api/records?limit=100');
    if (res.status === 404) return pastProblem('Call records are not available on this server (CALLS_DB=off, or the inspector was started without them).');
    if (!res.ok || !Array.isArray(res.body)) return pastProblem(`Could not read the call records: ${res.body?.error ?? `HTTP ${res.status}`}`);
    pastList = res.body;
  } catch (err) {
    return pastProblem(`Could not read the call records: ${err.message}`);
  } finally {
    pastLoading--;
  }
  renderPast();
}

async function openPast(callId) {
  let res;
  try {
    res = await api(`/api/records/${encodeURIComponent(callId)}`);
  } catch (err) {
    return pastProblem(`Could not open call ${callId}: ${err.message}`);
  }
  if (!res.ok || !res.body) return pastProblem(`Could not open call ${callId}: ${res.body?.error ?? `HTTP ${res.status}`}`);
  stopReplay();
  pastView = res.body;
  $('transcript').dataset.stick = 'true';
  const result = $('command-result');
  result.hidden = true;
  result.textContent = '';
  renderAll();
}

function showTab(which) {
  tab = which;
  for (const b of document.querySelectorAll('.tabs .tab')) b.setAttribute('aria-selected', b.dataset.tab === which ? 'true' : 'false');
  $('calls').hidden = which !== 'live';
  $('past-calls').hidden = which !== 'past';
  if (which === 'past') void loadPast();
  else if (pastView) {
    // Back to the live feed: show a live call again, not the record.
    pastView = null;
    stopReplay();
    ensureSelection();
    renderAll();
  }
}

/** The states a replay walks through: each department of the route, then `ended` for a finished call. */
function replaySteps(c) {
  const steps = c.timeline.map((t) => ({ state: t.state, reason: t.reason, escalated: t.escalated, source: t.source }));
  if (!c.live && c.state !== steps.at(-1)?.state) steps.push({ state: c.state, reason: c.endReason ?? undefined, end: true });
  return steps;
}

function renderReplay(c) {
  const canReplay = !c.live && c.timeline.length > 0;
  $('replay').hidden = !canReplay;
  const btn = $('replay-btn');
  btn.textContent = !replay ? '▶ Replay route' : replay.done ? '↺ Replay again' : '■ Stop replay';
  const status = $('replay-status');
  if (!replay || !canReplay) {
    status.hidden = true;
    status.textContent = '';
    return;
  }
  const steps = replaySteps(c);
  const i = Math.min(replay.step, steps.length - 1);
  const st = steps[i];
  status.hidden = false;
  status.dataset.step = String(i + 1);
  status.dataset.state = st.state;
  const why = i === 0 ? 'call started' : st.end ? `call ended${st.reason ? `: ${st.reason}` : ''}` : st.reason ? `“${st.reason}”` : 'no reason given';
  status.textContent = `Replay ${i + 1}/${steps.length}: ${title(st.state)} — ${why}${replay.done ? ' (done)' : ''}`;
}

function stopReplay() {
  clearTimeout(replayTimer);
  replayTimer = null;
  replay = null;
}

function toggleReplay() {
  const c = selectedView();
  if (!c) return;
  if (replay && !replay.done) {
    stopReplay();
    renderDetails();
    updateDiagram();
    return;
  }
  stopReplay();
  const steps = replaySteps(c);
  replay = { step: 0, done: false, callId: c.callId };
  const advance = () => {
    const v = selectedView();
    if (!replay || !v || v.callId !== replay.callId) return stopReplay();
    if (replay.step < steps.length - 1) {
      replay.step++;
      replayTimer = setTimeout(advance, REPLAY_STEP_MS);
    } else {
      replay.done = true;
      replayTimer = null;
    }
    renderDetails();
    updateDiagram();
  };
  replayTimer = setTimeout(advance, REPLAY_STEP_MS);
  renderDetails();
  updateDiagram();
}

function wirePast() {
  for (const b of document.querySelectorAll('.tabs .tab')) b.addEventListener('click', () => showTab(b.dataset.tab));
  $('replay-btn').addEventListener('click', toggleReplay);
}

// ───────────────────────────── feed ─────────────────────────────

function upsert(call) {
  noteTransitions(call);
  calls.set(call.callId, call);
}

function onFeed(msg) {
  if (msg.kind === 'welcome') {
    calls.clear();
    hidePhoneNumbers = !!msg.hidePhoneNumbers;
    for (const c of msg.calls) {
      seenTransitions.set(c.callId, c.timeline.length);
      calls.set(c.callId, c);
    }
    ensureSelection();
    renderAll();
  } else if (msg.kind === 'call') {
    const was = calls.get(msg.call.callId);
    upsert(msg.call);
    if (tab === 'past' && was?.live && !msg.call.live) void loadPast();
    ensureSelection();
    renderAll();
  } else if (msg.kind === 'command-result') {
    // Another viewer's command on the call shown here (ours is answered by the POST itself).
    if (msg.callId === selectedId && !pendingCommand) {
      showResult(
        msg.accepted ? 'true' : 'false',
        msg.accepted ? 'A supervisor command was accepted.' : `A supervisor command was refused: ${msg.reason ?? 'no reason given'}`,
      );
    }
  }
}

let backoff = 500;
function connect() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}${withToken('/feed')}`);
  let opened = false;
  ws.addEventListener('open', () => {
    opened = true;
    backoff = 500;
    setConn('open', 'live');
  });
  ws.addEventListener('message', (ev) => {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    onFeed(msg);
  });
  ws.addEventListener('close', () => {
    const wait = backoff;
    backoff = Math.min(backoff * 2, 10_000);
    setConn('closed', opened ? `reconnecting in ${Math.round(wait / 1000) || 1}s…` : `offline, retrying in ${Math.round(wait / 1000) || 1}s…`);
    setTimeout(connect, wait);
  });
}

// ───────────────────────────── start ─────────────────────────────

function start() {
  wireActions();
  wirePast();
  drawDiagram();
  connect();
  setInterval(tick, 1000);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
