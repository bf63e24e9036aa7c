// The routing statechart: laid out by ELK, drawn as SVG, then marked up for the shown call (its active
// state, the states it visited, the transfers it took and the one just taken) and the live calls per state.
import { withToken } from './api.js';
import { $, h, s } from './dom.js';
import { currentReplay, replaySteps } from './replay.js';
import { page, selectedView } from './state.js';
import { shortTitle, title } from './titles.js';
import { edgeHover, edgeWords } from './words.js';

/** How long a transfer just taken stays highlighted. */
const TAKEN_MS = 4000;
const FONT_FAMILY = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
const NODE_FONT = `600 15px ${FONT_FAMILY}`;
const LABEL_FONT = `600 11px ${FONT_FAMILY}`;
const LABEL_LINE = 13;
const NODE_H = 48;
/** A state box's least width (a longer name widens it); with short names, it keeps the drawing narrow. */
const NODE_MIN_W = 96;

let diagramReady = false;
/** callId → number of timeline entries already seen (to spot a handoff just taken). */
const seenTransitions = new Map();
/** The transition to highlight: { callId, from, to, until }. */
let taken = null;
let takenTimer = null;

let measureCtx = null;
function textWidth(text, font) {
  measureCtx ??= document.createElement('canvas').getContext('2d');
  measureCtx.font = font;
  return measureCtx.measureText(text).width;
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

const LAYOUT_OPTIONS = {
  'elk.algorithm': 'layered',
  'elk.direction': 'RIGHT',
  'elk.edgeRouting': 'POLYLINE',
  // The machine's own order (triage, departments, human, ended) decides which edges point back.
  'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
  'elk.layered.cycleBreaking.strategy': 'MODEL_ORDER',
  'elk.layered.nodePlacement.strategy': 'LINEAR_SEGMENTS',
  'elk.layered.edgeLabels.centerLabelPlacementStrategy': 'MEDIAN_LAYER',
  'elk.layered.spacing.nodeNodeBetweenLayers': '16',
  'elk.layered.spacing.edgeNodeBetweenLayers': '10',
  'elk.layered.spacing.edgeEdgeBetweenLayers': '6',
  'elk.spacing.nodeNode': '16',
  'elk.spacing.edgeNode': '10',
  'elk.spacing.edgeEdge': '6',
  'elk.spacing.edgeLabel': '2',
  'elk.padding': '[top=8,left=8,bottom=8,right=8]',
};

/**
 * The machine as an ELK graph: a node per state (sized to its short title: "Person" for `human`, as in
 * the call lists), an edge per source/target pair with its label in words.
 */
function elkGraph(machine) {
  const children = [
    { id: '__initial', width: 16, height: 16 },
    ...machine.states.map((st) => ({ id: st.id, width: Math.max(NODE_MIN_W, Math.ceil(textWidth(shortTitle(st.id), NODE_FONT)) + 40), height: NODE_H })),
  ];
  const edges = machine.edges.map((e, i) => {
    // In words ("transfer", "cap reached → person"); the machine's event and guard names are on hover.
    const lines = edgeWords(e.labels);
    const label = {
      id: `e${i}_label`,
      text: lines.join('\n'),
      width: Math.ceil(Math.max(...lines.map((l) => textWidth(l, LABEL_FONT)))) + 6,
      height: lines.length * LABEL_LINE + 2,
      layoutOptions: { 'elk.edgeLabels.placement': 'CENTER' },
    };
    return { id: `e${i}`, sources: [e.source], targets: [e.target], labels: [label] };
  });
  return {
    id: 'root',
    layoutOptions: LAYOUT_OPTIONS,
    children,
    edges: [{ id: '__initial_edge', sources: ['__initial'], targets: [machine.initial] }, ...edges],
  };
}

/** Lays out and draws the machine (a promise of GET /api/machine's answer); says so in the card if it cannot. */
export async function drawDiagram(machinePromise) {
  const box = $('diagram');
  try {
    const [machine, ELK] = await Promise.all([machinePromise, loadElk()]);
    const laid = await new ELK().layout(elkGraph(machine));
    renderSvg(laid, machine);
    diagramReady = true;
    updateDiagram();
  } catch (err) {
    box.replaceChildren(h('p', { class: 'placeholder error-text' }, `Could not draw the statechart: ${err.message}`));
  }
}

/**
 * The statechart is scaled to fit its card, but never below this: edge labels (11 px) stay at 8.5 px or
 * more on screen. A card too small for that (a narrow window) scrolls instead of shrinking the text.
 * The drawing is kept compact so that a laptop's card holds it whole, "Ended" included (1280×800: a
 * 874×265 card, a drawing of about 1040×300 at 0.84): short state names ("Person"), labels in words,
 * tight layer spacing. test/inspector-fit.test.ts checks it at 1280×800 and 1440×900.
 */
const MIN_SCALE = 0.78;
let fitObserver = null;

/** Sizes the drawing to its card (see MIN_SCALE), now and whenever the card changes size. */
function fitDiagram(svg, W, H) {
  const box = $('diagram');
  const apply = () => {
    const cw = box.clientWidth;
    const ch = box.clientHeight;
    if (!cw || !ch) return;
    const scale = Math.max(MIN_SCALE, Math.min(cw / W, ch / H));
    svg.style.width = `${Math.floor(W * scale)}px`;
    svg.style.height = `${Math.floor(H * scale)}px`;
    box.dataset.scale = scale.toFixed(3);
  };
  fitObserver?.disconnect();
  fitObserver = new ResizeObserver(apply);
  fitObserver.observe(box);
  apply();
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
  const [edgesLayer, labelsLayer] = drawEdges(laid, machine);
  svg.append(edgesLayer, drawStates(laid, machine), labelsLayer);
  $('diagram').replaceChildren(svg);
  fitDiagram(svg, W, H);
}

/** The edges (polylines) and, in a layer of their own drawn above the states, their labels. */
function drawEdges(laid, machine) {
  const hovers = new Map(machine.edges.map((e, i) => [`e${i}`, edgeHover(title(e.source), title(e.target), e.labels)]));
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
    for (const l of e.labels ?? []) labelsLayer.append(drawLabel(l, src, dst, hovers.get(e.id) ?? l.text));
  }
  return [edgesLayer, labelsLayer];
}

function drawLabel(l, src, dst, hover) {
  const lines = l.text.split('\n');
  const lg = s('g', { class: 'edge-label', 'data-edge': `${src}->${dst}` });
  lg.append(s('title', {}, hover));
  lg.append(s('rect', { x: l.x, y: l.y, width: l.width, height: l.height, rx: 3 }));
  const t = s('text', { x: l.x + l.width / 2, y: l.y + 2 });
  lines.forEach((line, i) =>
    t.append(s('tspan', { x: l.x + l.width / 2, dy: i === 0 ? 10.5 : LABEL_LINE, class: i === 0 ? 'words' : 'words alt' }, line)),
  );
  lg.append(t);
  return lg;
}

function drawStates(laid, machine) {
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
    g.append(s('text', { class: 'state-name', x: n.width / 2 + 2, y: n.height / 2 + 5 }, shortTitle(n.id)));
    const badge = s('g', { class: 'state-count', transform: `translate(${n.width - 4},${4})` });
    badge.append(s('circle', { r: 10, cx: 0, cy: 0 }), s('text', { x: 0, y: 4 }, ''));
    g.append(badge);
    nodesLayer.append(g);
  }
  return nodesLayer;
}

/**
 * What the diagram shows: the shown call (during a replay, that call as it was at the replay's step),
 * and the transition to highlight as just taken ("from->to", or null).
 */
function shownCall() {
  const view = selectedView();
  const replay = currentReplay();
  const steps = view ? replaySteps(view) : [];
  const upTo = replay && view ? Math.min(replay.step, steps.length - 1) : null;
  if (upTo === null) {
    const hot = taken && !page.pastView && taken.callId === page.selectedId && taken.until > Date.now() ? `${taken.from}->${taken.to}` : null;
    return { sel: view, hot };
  }
  const sel = { ...view, state: steps[upTo].state, timeline: steps.slice(0, upTo + 1) };
  return { sel, hot: upTo > 0 ? `${steps[upTo - 1].state}->${steps[upTo].state}` : null };
}

/** Marks the shown call's active and visited states, and counts the live calls in each state. */
function markStates(sel) {
  const visited = new Set(sel ? sel.timeline.map((t) => t.state) : []);
  const liveCounts = new Map();
  for (const c of page.calls.values()) if (c.live) liveCounts.set(c.state, (liveCounts.get(c.state) ?? 0) + 1);
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
}

/** Marks the transitions the shown call has taken (its route), and the one just taken (`hot`). */
function markEdges(sel, hot) {
  const route = new Set();
  if (sel) for (let i = 1; i < sel.timeline.length; i++) route.add(`${sel.timeline[i - 1].state}->${sel.timeline[i].state}`);
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

export function updateDiagram() {
  if (!diagramReady) return;
  const { sel, hot } = shownCall();
  markStates(sel);
  markEdges(sel, hot);
}

/** A call as first seen (from the feed's welcome): its transfers so far are not "just taken". */
export function noteSeen(call) {
  seenTransitions.set(call.callId, call.timeline.length);
}

/** A call update: if it has taken a transfer since last seen, highlight that transition for a while. */
export function noteTransitions(call) {
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
