// The calls card: the live list (calls on the feed, then the recently ended ones), the past list (the
// call records, GET /api/records), the tabs between them, which call is shown, and the top-bar counts.
import { api } from './api.js';
import { $, callEnd, callerLabel, fmtDuration, fmtWhen, h } from './dom.js';
import { stopReplay } from './replay.js';
import { page, paintAll } from './state.js';
import { clearResult } from './supervisor.js';
import { shortTitle } from './titles.js';

/** How many ended calls the live list keeps. */
const ENDED_KEEP = 20;

/** Live calls (oldest first), then the most recently ended ones. */
export function sortedCalls() {
  const list = [...page.calls.values()];
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

function listHead(...titles) {
  return h('div', { class: 'call-row call-head', 'aria-hidden': 'true' }, ...titles);
}

export function renderCalls() {
  const box = $('calls');
  const list = sortedCalls();
  const liveN = list.filter((c) => c.live).length;
  if (page.tab === 'live') $('calls-count').textContent = `${liveN} live · ${list.length - liveN} ended`;
  renderStats(liveN);
  if (!list.length) {
    box.replaceChildren(h('p', { class: 'placeholder' }, 'No calls yet. Calls appear here as soon as they start.'));
    return;
  }
  const head = listHead(h('span', {}, 'Caller'), h('span', {}, 'Department'), h('span', { class: 'num' }, 'Handoffs'), h('span', { class: 'num' }, 'Time'));
  const rows = list.map((c) => {
    const capHit = c.handoffCount >= c.maxHandoffs;
    return callRow(
      c,
      {
        selected: c.callId === page.selectedId,
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

/** The top bar: live calls, and how many are in each department. */
function renderStats(liveN) {
  const byState = new Map();
  for (const c of page.calls.values()) if (c.live) byState.set(c.state, (byState.get(c.state) ?? 0) + 1);
  const items = [h('span', { class: 'stat' }, h('strong', {}, String(liveN)), ' live')];
  for (const [st, n] of byState) items.push(h('span', { class: `stat dept-text-${st}` }, h('strong', {}, String(n)), ` ${shortTitle(st).toLowerCase()}`));
  if (page.hidePhoneNumbers) items.push(h('span', { class: 'stat muted', title: 'The server masks phone numbers' }, 'numbers masked'));
  $('stats').replaceChildren(...items);
}

/** Shows a call from the live list (closing a past call, if one was open). */
function select(callId) {
  if (page.pastView) {
    page.pastView = null;
    stopReplay();
  }
  if (page.selectedId !== callId) {
    stopReplay();
    page.selectedId = callId;
    clearResult();
    $('transcript').dataset.stick = 'true';
  }
  paintAll();
}

/** Keeps a live call shown: the one selected while it is listed, else the first of the list. */
export function ensureSelection() {
  if (page.pastView) return;
  if (page.selectedId && page.calls.has(page.selectedId)) return;
  const first = sortedCalls()[0];
  page.selectedId = null;
  if (first) select(first.callId);
}

// ───────────────────────────── past calls (records) ─────────────────────────────

/** A past call's response time (the end of the caller's speech → the agents' first sound), p50/p95, when it was measured. */
function responseText(c) {
  return c.response ? ` · ${Math.round(c.response.p50)}/${Math.round(c.response.p95)} ms` : '';
}

function outcomeText(c) {
  if (c.live) return 'not yet: the call is live';
  return c.endReason || 'ended';
}

/** While the past list shows a call still in progress, it is read again every few seconds (until none is). */
const PAST_REFRESH_MS = 3000;
let pastTimer = null;

/**
 * The past list is read a page at a time, newest first: the first page, then each older page when asked
 * ("Older calls": the page after the last call listed, GET /api/records?before=). One more than a page is
 * asked for, to know whether older calls exist.
 */
const PAST_PAGE = 100;
/** Older calls are recorded than those listed. */
let pastMore = false;
/** An older page is on its way. */
let olderLoading = false;

function refreshPastWhileLive() {
  clearTimeout(pastTimer);
  pastTimer = null;
  if (page.tab !== 'past' || !page.pastList?.some((c) => c.live)) return;
  pastTimer = setTimeout(() => void loadPast(), PAST_REFRESH_MS);
}

export function renderPast() {
  const box = $('past-calls');
  if (page.tab !== 'past') return;
  const list = page.pastList;
  if (list === null) return; // an error message is shown
  $('calls-count').textContent = page.pastLoading && !list.length ? '' : `${list.length}${pastMore ? '+' : ''} recorded`;
  if (!list.length) {
    box.replaceChildren(h('p', { class: 'placeholder' }, page.pastLoading ? 'Loading past calls…' : 'No past calls in the records yet.'));
    return;
  }
  // A call still in progress is in the records too: it says so (where it is now, "live now"), and the
  // list is read again until it has ended.
  const head = listHead(
    h('span', {}, 'Caller'),
    h('span', { title: 'Where the call ended, or where it is now for a call in progress' }, 'Where'),
    h('span', { class: 'num' }, 'Handoffs'),
    h('span', { class: 'num' }, 'Outcome'),
  );
  const rows = list.map((c) => {
    const interrupted = c.endReason === 'interrupted';
    return callRow(
      c,
      {
        selected: page.pastView?.callId === c.callId,
        className: c.live ? 'live' : 'ended',
        dataset: { recordId: c.callId, live: c.live ? 'true' : 'false' },
        open: () => openPast(c.callId),
        sub: `${fmtWhen(c.startedAt)} · ${c.live ? 'live' : fmtDuration(callEnd(c) - c.startedAt)}${responseText(c)}`,
        subTitle: `${new Date(c.startedAt).toLocaleString()}${c.response ? `\nresponse time p50 / p95 over ${c.response.turns} turn${c.response.turns === 1 ? '' : 's'}` : ''}`,
      },
      h('span', { class: 'num mono', 'data-field': 'handoffs' }, `${c.handoffCount}/${c.maxHandoffs}`),
      h(
        'span',
        { class: `call-outcome${interrupted ? ' interrupted' : ''}${c.live ? ' live' : ''}`, 'data-field': 'outcome', title: outcomeText(c) },
        outcomeText(c),
      ),
    );
  });
  const more = pastMore
    ? h(
        'div',
        { class: 'past-more' },
        h(
          'button',
          {
            type: 'button',
            class: 'btn btn-small',
            'data-testid': 'past-older',
            disabled: olderLoading,
            title: `The next ${PAST_PAGE} calls, older than those listed`,
            on: { click: () => void loadOlder() },
          },
          olderLoading ? 'Loading older calls…' : 'Older calls',
        ),
      )
    : null;
  box.replaceChildren(head, ...rows, ...(more ? [more] : []));
}

function pastProblem(text) {
  page.pastList = null;
  $('calls-count').textContent = '';
  $('past-calls').replaceChildren(h('p', { class: 'placeholder', 'data-testid': 'past-problem' }, text));
}

/** (Re)loads the past list from the records. */
export async function loadPast() {
  page.pastLoading++;
  if (page.pastList === null) page.pastList = [];
  renderPast();
  try {
    const res = await api(`/api/records?limit=${PAST_PAGE + 1}`);
    if (res.status === 404) return pastProblem('Call records are not available on this server (CALLS_DB=off, or the inspector was started without them).');
    if (!res.ok || !Array.isArray(res.body)) return pastProblem(`Could not read the call records: ${res.body?.error ?? `HTTP ${res.status}`}`);
    keepOlderPages(res.body.slice(0, PAST_PAGE), res.body.length > PAST_PAGE);
  } catch (err) {
    return pastProblem(`Could not read the call records: ${err.message}`);
  } finally {
    page.pastLoading--;
  }
  renderPast();
  refreshPastWhileLive();
}

/**
 * The first page read again: older pages already listed stay listed after it (from the call the new first
 * page ends on), so reading it again while a call is in progress does not take them away.
 */
function keepOlderPages(first, more) {
  const old = page.pastList ?? [];
  const last = first.at(-1);
  const at = more && last ? old.findIndex((c) => c.callId === last.callId) : -1;
  if (at < 0) {
    page.pastList = first;
    pastMore = more;
  } else {
    page.pastList = [...first, ...old.slice(at + 1)];
    // pastMore stays: it says whether calls older than the old list's last one exist.
  }
}

/** The next page of the past list: the calls after the last one listed. */
async function loadOlder() {
  const last = page.pastList?.at(-1);
  if (olderLoading || !pastMore || !last) return;
  // Drawn again below (the button too): keyboard users carry on from the first call the page adds.
  const hadFocus = document.activeElement?.dataset?.testid === 'past-older';
  olderLoading = true;
  renderPast();
  let res;
  try {
    res = await api(`/api/records?limit=${PAST_PAGE + 1}&before=${encodeURIComponent(last.callId)}`);
  } catch (err) {
    return pastProblem(`Could not read older call records: ${err.message}`);
  } finally {
    olderLoading = false;
  }
  if (!res.ok || !Array.isArray(res.body)) return pastProblem(`Could not read older call records: ${res.body?.error ?? `HTTP ${res.status}`}`);
  // The list was read again meanwhile and no longer ends on that call: this page does not follow it.
  if (page.pastList?.at(-1)?.callId !== last.callId) return renderPast();
  const listed = new Set(page.pastList.map((c) => c.callId));
  const older = res.body.slice(0, PAST_PAGE).filter((c) => !listed.has(c.callId));
  page.pastList = [...page.pastList, ...older];
  pastMore = res.body.length > PAST_PAGE;
  renderPast();
  if (hadFocus && older[0]) document.querySelector(`#past-calls [data-record-id="${CSS.escape(older[0].callId)}"]`)?.focus();
  refreshPastWhileLive();
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
  page.pastView = res.body;
  $('transcript').dataset.stick = 'true';
  clearResult();
  paintAll();
}

function showTab(which) {
  page.tab = which;
  for (const b of document.querySelectorAll('.tabs .tab')) b.setAttribute('aria-selected', b.dataset.tab === which ? 'true' : 'false');
  $('calls').hidden = which !== 'live';
  $('past-calls').hidden = which !== 'past';
  if (which === 'past') void loadPast();
  else if (page.pastView) {
    // Back to the live feed: show a live call again, not the record.
    page.pastView = null;
    stopReplay();
    ensureSelection();
    paintAll();
  }
}

export function wireTabs() {
  for (const b of document.querySelectorAll('.tabs .tab')) b.addEventListener('click', () => showTab(b.dataset.tab));
}
