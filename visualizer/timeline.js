// A past call on one timeline (the Past tab's call view): the recording's waveform, the caller on one lane
// and the desks on the other; each transcript line placed where it was said; the route with each transfer
// and refusal; each answered turn's wait as a bar split by stage; a playhead and a player. Clicking a line
// (here or in the transcript) plays the recording from it: `(spokeAt ?? at) - recording.startedAt` ms in.
// Without a recording the same is drawn on the call's clock, and says so. The waveform: waveform.js.
import { withToken } from './api.js';
import { $, callEnd, fmtClock, fmtDuration, h } from './dom.js';
import { shortTitle, title } from './titles.js';
import { turnChip } from './words.js';
import { MAX_DRAWN_BYTES, drawWave, loadWaveform } from './waveform.js';

/** The call shown: its view, axis (epoch ms), recording key, and its decoded recording once loaded. */
let shown = null;

const recordingPath = (c) => `/api/records/${encodeURIComponent(c.callId)}/recording`;
const isCaller = (line) => line.who === 'caller' || line.who === 'user';

/** Where a line plays from in the call's recording (ms), null when the call has none. */
export function lineOffsetMs(c, line) {
  return c?.recording ? Math.max(0, (line.spokeAt ?? line.at) - c.recording.startedAt) : null;
}

/** Plays the shown call's recording from `line`; false when there is nothing to play. */
export function playLine(line) {
  const offset = lineOffsetMs(shown?.view, line);
  if (offset === null) return false;
  playFrom(offset);
  return true;
}

function playFrom(offsetMs) {
  const audio = $('call-tl-audio');
  audio.currentTime = offsetMs / 1000;
  void audio.play().catch(() => undefined);
  movePlayhead();
}

/** The call's clock: from its start (or its recording's, if earlier) to its end, its recording's or its last line. */
function axisOf(c) {
  const rec = c.recording;
  const t0 = Math.min(c.startedAt, rec?.startedAt ?? Infinity);
  const t1 = Math.max(callEnd(c), rec ? rec.startedAt + rec.durationMs : 0, ...c.transcript.map((l) => l.at), t0 + 1000);
  return { t0, t1 };
}

const pct = (t) => `${(((t - shown.t0) / (shown.t1 - shown.t0)) * 100).toFixed(3)}%`;

/** Places `el` on the axis from `from` to `to` (epoch ms), through the CSSOM (the page's CSP forbids style attributes). */
function place(el, from, to = from) {
  el.style.left = pct(from);
  if (to > from) el.style.width = `calc(${pct(to)} - ${pct(from)})`;
  return el;
}

/** Draws a past call's timeline (null: none shown); a new view of the same call keeps its waveform and player. */
export function renderCallTimeline(c) {
  const box = $('call-tl');
  if (!c) {
    if (shown) hideTimeline();
    return;
  }
  // The same record again (the page redraws the details whenever the feed changes): nothing to draw.
  if (shown?.view === c) return;
  box.hidden = false;
  const key = `${c.callId}\n${c.recording?.file ?? ''}`;
  if (shown?.key !== key) startCall(c, key);
  Object.assign(shown, { view: c }, axisOf(c));
  $('call-tl-body').replaceChildren(
    h(
      'div',
      { class: 'ctl-grid', on: { click: seekAtClick } },
      row('Route', 'ctl-route', routeItems(c)),
      row('Caller', 'ctl-lane ctl-caller', [h('canvas', { class: 'ctl-wave', 'data-channel': 'caller', 'aria-hidden': 'true' }), ...lineItems(c, true)]),
      row('Desks', 'ctl-lane ctl-agents', [h('canvas', { class: 'ctl-wave', 'data-channel': 'agents', 'aria-hidden': 'true' }), ...lineItems(c, false)]),
      row('Waited', 'ctl-waits', turnItems(c)),
      row('', 'ctl-axis', tickItems()),
      h('div', { class: 'ctl-overlay', 'aria-hidden': 'true' }, ...transferLines(c), h('div', { class: 'ctl-playhead', 'data-testid': 'timeline-playhead', hidden: !c.recording })),
    ),
  );
  drawWaves();
  movePlayhead();
}

function row(label, cls, items) {
  return h('div', { class: `ctl-row ${cls}` }, h('span', { class: 'ctl-label muted small' }, label), h('div', { class: 'ctl-track' }, items));
}

/** A new call shown: its player pointed at its recording, its recording fetched and decoded for the waveform. */
function startCall(c, key) {
  const audio = $('call-tl-audio');
  audio.pause();
  shown = { key, view: c, wave: null, t0: 0, t1: 1 };
  const rec = c.recording;
  audio.hidden = !rec;
  if (!rec) {
    audio.removeAttribute('src');
    setStatus("No recording of this call (RECORD_CALLS was off, or its recording failed): its lines and waits are drawn on the call's clock.", 'none');
    return;
  }
  audio.src = withToken(recordingPath(c));
  if (rec.bytes > MAX_DRAWN_BYTES) {
    setStatus(`Recording ${fmtDuration(rec.durationMs)}: too long to draw its waveform here (${Math.round(rec.bytes / 1048576)} MB); it plays. Click a line to play from it.`, 'undrawn');
    return;
  }
  setStatus('Loading the recording…', 'loading');
  const mine = shown;
  loadWaveform(recordingPath(c)).then(
    (wave) => {
      if (shown !== mine) return;
      mine.wave = wave;
      setStatus(`Recording ${fmtDuration(rec.durationMs)} · the caller above, the desks below · click a line to play from it`, 'ready');
      drawWaves();
    },
    (err) => {
      if (shown !== mine) return;
      audio.hidden = true;
      setStatus(`The recording cannot be played: ${err.message}`, 'error');
    },
  );
}

function hideTimeline() {
  const audio = $('call-tl-audio');
  audio.pause();
  audio.removeAttribute('src');
  audio.load();
  shown = null;
  $('call-tl').hidden = true;
  $('call-tl-body').replaceChildren();
}

function setStatus(text, state) {
  const el = $('call-tl-status');
  el.textContent = text;
  el.dataset.state = state;
}

function drawWaves() {
  if (!shown?.wave) return;
  const rec = shown.view.recording;
  for (const canvas of document.querySelectorAll('#call-tl .ctl-wave')) {
    drawWave(canvas, shown.wave, canvas.dataset.channel === 'caller' ? 0 : 1, { startedAt: rec.startedAt, t0: shown.t0, t1: shown.t1 });
  }
}

/** Each desk the call was in as a band, each transfer into it and each refused transfer as a marker. */
function routeItems(c) {
  const legs = c.timeline.map((leg) =>
    place(h('div', { class: `ctl-leg dept-${leg.state}`, title: `${title(leg.state)} from ${fmtClock(leg.enteredAt)}` }, shortTitle(leg.state)), leg.enteredAt, leg.leftAt ?? shown.t1),
  );
  const transfers = c.timeline.slice(1).map((leg, i) =>
    place(
      h(
        'div',
        { class: 'ctl-mark ctl-transfer', 'data-testid': 'timeline-transfer', dataset: { to: leg.state }, title: transferTitle(c.timeline[i], leg) },
        '→',
      ),
      leg.enteredAt,
    ),
  );
  const refusals = c.refusals.map((r) =>
    place(
      h(
        'div',
        { class: 'ctl-mark ctl-refusal', 'data-testid': 'timeline-refusal', title: `${fmtClock(r.at)} refused: ${title(r.from)} → ${title(r.to)}\n${r.reason}` },
        '⊘',
      ),
      r.at,
    ),
  );
  return [...legs, ...transfers, ...refusals];
}

function transferTitle(from, leg) {
  const silence = typeof leg.stages?.silenceMs === 'number' ? `\n${Math.round(leg.stages.silenceMs)} ms of silence heard` : '';
  return `${fmtClock(leg.enteredAt)} transfer: ${title(from.state)} → ${title(leg.state)}${leg.reason ? `\n“${leg.reason}”` : ''}${silence}`;
}

/** The dashed line of each transfer, across every lane. */
function transferLines(c) {
  return c.timeline.slice(1).map((leg) => place(h('div', { class: 'ctl-vline' }), leg.enteredAt));
}

/** The caller's lines (or the desks'), each from its first sound to when it was committed; a click plays it. */
function lineItems(c, caller) {
  const playable = !!c.recording;
  return c.transcript.flatMap((line, index) => {
    if (line.who === 'summary' || isCaller(line) !== caller) return [];
    const from = line.spokeAt ?? line.at;
    const offset = lineOffsetMs(c, line);
    const el = h(
      'button',
      {
        type: 'button',
        class: `ctl-line${caller ? '' : ` dept-${line.who}`}${line.spokeAt === undefined ? ' point' : ''}`,
        'data-testid': 'timeline-line',
        dataset: { index: String(index), ...(offset !== null ? { offsetMs: String(Math.round(offset)) } : {}) },
        title: `${caller ? 'Caller' : title(line.who)} · ${fmtClock(from)}\n${line.text}${playable ? '\n(click to play from here)' : ''}`,
        on: {
          click: (ev) => {
            ev.stopPropagation();
            playLine(line);
          },
        },
      },
      line.text,
    );
    return [place(el, from, line.spokeAt !== undefined ? line.at : from)];
  });
}

const STAGES = [
  ['eou', 'eouMs', 'end of turn'],
  ['llm', 'llmTtftMs', "the model's first token"],
  ['tts', 'ttsTtfbMs', "the voice's first audio"],
];

/**
 * Each answered turn's wait, ending where the answer was first heard: a bar as long (on the call's clock)
 * as the response time the caller waited, split by stage (end of turn, the model's first token, the voice's
 * first audio, the rest: the audio on its way), the transcript's time as a stripe under it (it runs beside
 * the end of turn). A text call's turn: the model's time only.
 */
function turnItems(c) {
  return c.transcript.flatMap((line) => {
    const t = line.turn;
    const chip = turnChip(t);
    if (!chip) return [];
    const voice = typeof t.responseMs === 'number';
    const total = voice ? t.responseMs : t.llmTtftMs;
    const end = line.spokeAt ?? line.at;
    const parts = voice ? STAGES.filter(([, k]) => typeof t[k] === 'number').map(([cls, k, name]) => [cls, t[k], name]) : [['llm', t.llmTtftMs, "the model's first token"]];
    const rest = total - parts.reduce((sum, [, ms]) => sum + ms, 0);
    if (rest > 0) parts.push(['rest', rest, 'the rest: the audio on its way']);
    const segs = parts.map(([cls, ms, name]) => {
      const seg = h('span', { class: `ctl-seg ctl-seg-${cls}`, title: `${name}: ${Math.round(ms)} ms` });
      seg.style.flexGrow = String(ms);
      return seg;
    });
    const stt = voice && typeof t.sttMs === 'number' ? h('span', { class: 'ctl-stt', title: `transcribed: ${Math.round(t.sttMs)} ms` }) : null;
    if (stt) stt.style.width = `${Math.min(100, (t.sttMs / total) * 100).toFixed(2)}%`;
    const bar = h(
      'div',
      { class: `ctl-turn${voice ? '' : ' text'}`, 'data-testid': 'timeline-turn', dataset: { ms: String(Math.round(total)) }, title: chip.title },
      h('span', { class: 'ctl-segs' }, segs),
      stt,
    );
    const label = h('span', { class: 'ctl-turn-ms mono', title: chip.title }, chip.text.replace(/^answered in /, ''));
    return [place(bar, end - total, end), place(label, end)];
  });
}

/** Ticks every 1, 2, 5, 10, 15, 30 s… from the start of the axis: at most ten, and one per 60 px. */
function tickItems() {
  const span = shown.t1 - shown.t0;
  const most = Math.max(2, Math.min(10, Math.floor($('call-tl-body').clientWidth / 60)));
  const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600].find((s) => span / (s * 1000) <= most) ?? 7200;
  const ticks = [];
  for (let t = 0; t <= span; t += step * 1000) ticks.push(place(h('span', { class: 'ctl-tick' }, fmtDuration(t)), shown.t0 + t));
  return ticks;
}

/** A click on a lane (not on a line) plays from that moment. */
function seekAtClick(ev) {
  const rec = shown?.view.recording;
  const track = ev.target.closest?.('.ctl-track');
  if (!rec || !track) return;
  const box = track.getBoundingClientRect();
  const at = shown.t0 + ((ev.clientX - box.left) / box.width) * (shown.t1 - shown.t0);
  playFrom(Math.min(rec.durationMs, Math.max(0, at - rec.startedAt)));
}

/** The playhead where the player is, and the line it is in marked. */
function movePlayhead() {
  const head = document.querySelector('#call-tl .ctl-playhead');
  const rec = shown?.view.recording;
  if (!head || !rec) return;
  const at = rec.startedAt + $('call-tl-audio').currentTime * 1000;
  place(head, Math.min(shown.t1, at));
  for (const el of document.querySelectorAll('#call-tl .ctl-line')) {
    const line = shown.view.transcript[Number(el.dataset.index)];
    el.classList.toggle('playing', !!line && (line.spokeAt ?? line.at) <= at && at <= line.at);
  }
}

/** The player moves the playhead (every frame while it plays); a resize draws the waveform again. */
export function wireTimeline() {
  const audio = $('call-tl-audio');
  let frame = 0;
  const follow = () => {
    movePlayhead();
    frame = audio.paused ? 0 : requestAnimationFrame(follow);
  };
  audio.addEventListener('play', () => {
    if (!frame) frame = requestAnimationFrame(follow);
  });
  for (const ev of ['seeked', 'timeupdate', 'pause']) audio.addEventListener(ev, movePlayhead);
  audio.addEventListener('error', () => {
    // The waveform's fetch says why in the server's words when it can; this is for a recording not drawn.
    if (shown?.view.recording && $('call-tl-status').dataset.state !== 'error') setStatus('The recording cannot be played here.', 'error');
  });
  new ResizeObserver(() => drawWaves()).observe($('call-tl-body'));
}
