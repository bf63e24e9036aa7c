// Switchboard inspector page: the routing statechart (laid out by ELK), live and past calls, and one
// call's route, refusals and transcript, fed by the server's `/feed` WebSocket (see
// src/inspector/protocol.ts). Plain ES modules, no build step; everything is same-origin (the page runs
// under `default-src 'self'`). This module wires them together:
//   api.js         fetch with the token, GET /api/machine, the /feed socket
//   titles.js      department titles (from GET /api/machine's `departments`)
//   state.js       the page's shared state and redraw hooks
//   statechart.js  ELK layout, SVG drawing, active state and transfer just taken
//   calls.js       the live and past call lists, the tabs, which call is shown
//   details.js     caller, route timeline, refusals, errors, transcript
//   timeline.js    a past call on one timeline: waveform (waveform.js), lines, transfers, waits, player
//   figures.js     the Past tab's dashboard: response time p50/p95 per desk and per transfer kind
//   supervisor.js  the supervisor's buttons and commands
//   replay.js      the route replay of a finished call
//   words.js       edge labels and chips in an operator's words (the machine's names on hover)
//   dom.js         DOM builders and formatting
import { connect, loadMachine } from './api.js';
import { ensureSelection, loadPast, renderCalls, renderPast, wireTabs } from './calls.js';
import { renderDetails } from './details.js';
import { fmtDuration, fmtSpent } from './dom.js';
import { wireFigures } from './figures.js';
import { wireReplay } from './replay.js';
import { renderSeams } from './seams.js';
import { page, setPainters } from './state.js';
import { drawDiagram, noteSeen, noteTransitions, updateDiagram } from './statechart.js';
import { showResult, wireActions } from './supervisor.js';
import { wireTimeline } from './timeline.js';
import { setDepartments } from './titles.js';

function renderAll() {
  renderCalls();
  renderSeams();
  renderPast();
  renderDetails();
  updateDiagram();
}

let renderQueued = false;
/** The shown call's details need drawing again (it changed, or another call is shown). */
let detailsStale = false;
let detailsShownFor = null;
/** When the calls list was last drawn (it is drawn whole: a thousand rows and their layout). */
let listDrawnAt = 0;
let listTimer = null;

/**
 * The feed's changes are drawn once per frame, not once per message; the shown call's details only when
 * that call changed; and the calls list at most once every 1 ms per call (a second with a thousand calls).
 * With a thousand live calls several hundred views arrive a second, and drawing everything for each one
 * (the whole list, the transcript measuring its scroll: a layout of the whole page) left the page minutes
 * behind. `changedId`: the call that changed (undefined: everything did; null: nothing new, the list is due).
 */
function renderSoon(changedId) {
  if (changedId === undefined || (changedId !== null && changedId === page.selectedId)) detailsStale = true;
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    const wait = listDrawnAt + Math.min(1000, page.calls.size) - performance.now();
    if (wait <= 0) {
      listDrawnAt = performance.now();
      renderCalls();
      renderSeams();
      renderPast();
    } else if (!listTimer) {
      listTimer = setTimeout(() => {
        listTimer = null;
        renderSoon(null);
      }, wait);
    }
    if (detailsStale || detailsShownFor !== page.selectedId) {
      detailsStale = false;
      detailsShownFor = page.selectedId;
      renderDetails();
    }
    updateDiagram();
  });
}

function onFeed(msg) {
  if (msg.kind === 'welcome') {
    page.calls.clear();
    page.hidePhoneNumbers = !!msg.hidePhoneNumbers;
    for (const c of msg.calls) {
      noteSeen(c);
      page.calls.set(c.callId, c);
    }
    ensureSelection();
    renderSoon();
  } else if (msg.kind === 'call') {
    const was = page.calls.get(msg.call.callId);
    noteTransitions(msg.call);
    page.calls.set(msg.call.callId, msg.call);
    if (page.tab === 'past' && was?.live && !msg.call.live) void loadPast();
    ensureSelection();
    renderSoon(msg.call.callId);
  } else if (msg.kind === 'command-result') {
    // Another viewer's command on the call shown here (ours is answered by the POST itself).
    if (msg.callId === page.selectedId && !page.pendingCommand) {
      showResult(
        msg.accepted ? 'true' : 'false',
        msg.accepted ? 'A supervisor command was accepted.' : `A supervisor command was refused: ${msg.reason ?? 'no reason given'}`,
      );
    }
  }
}

/** Once a second: the running durations of live calls, and the time spent in their current department. */
function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll('[data-duration]')) {
    const id = el.getAttribute('data-duration');
    const c = page.pastView?.callId === id ? page.pastView : page.calls.get(id);
    if (c?.live) el.textContent = fmtDuration(now - c.startedAt);
  }
  for (const el of document.querySelectorAll('[data-since]')) {
    el.textContent = fmtSpent(now - Number(el.getAttribute('data-since')));
  }
}

function start() {
  setPainters({ all: renderAll, details: renderDetails, diagram: updateDiagram });
  wireActions();
  wireTabs();
  wireReplay();
  wireTimeline();
  wireFigures();
  // The machine brings the department titles: set them (and redraw what is already shown) before the
  // statechart is laid out, since its boxes are sized to the titles.
  const machine = loadMachine().then((m) => {
    setDepartments(m.departments);
    renderAll();
    return m;
  });
  void drawDiagram(machine);
  connect(onFeed);
  setInterval(tick, 1000);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
