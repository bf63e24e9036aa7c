// The route replay of a call that is over: the diagram and the timeline walk its route one transfer
// at a time, with a status line saying where the replay is and why the call went there.
import { $ } from './dom.js';
import { paintDetails, paintDiagram, selectedView } from './state.js';
import { title } from './titles.js';

const REPLAY_STEP_MS = 1100;

/** The replay under way: { callId, step (index into the steps), done }, or null. */
let replay = null;
let replayTimer = null;

export const currentReplay = () => replay;

/** The states a replay walks through: each department of the route, then `ended` for a finished call. */
export function replaySteps(c) {
  const steps = c.timeline.map((t) => ({ state: t.state, reason: t.reason, escalated: t.escalated, source: t.source }));
  if (!c.live && c.state !== steps.at(-1)?.state) steps.push({ state: c.state, reason: c.endReason ?? undefined, end: true });
  return steps;
}

/** The replay button and status line of the shown call `c`. */
export function renderReplay(c) {
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

export function stopReplay() {
  clearTimeout(replayTimer);
  replayTimer = null;
  replay = null;
}

function repaint() {
  paintDetails();
  paintDiagram();
}

function toggleReplay() {
  const c = selectedView();
  if (!c) return;
  if (replay && !replay.done) {
    stopReplay();
    repaint();
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
    repaint();
  };
  replayTimer = setTimeout(advance, REPLAY_STEP_MS);
  repaint();
}

export function wireReplay() {
  $('replay-btn').addEventListener('click', toggleReplay);
}
