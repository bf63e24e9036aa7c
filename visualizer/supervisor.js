// The supervisor's buttons: move the shown live call to a department, or end it, through
// POST /api/calls/:id/command, and say what the machine answered.
import { api } from './api.js';
import { $ } from './dom.js';
import { page, paintDetails } from './state.js';
import { title } from './titles.js';

/** Shows a command's outcome; `kind` is 'pending', 'true' (accepted) or 'false' (refused or failed). */
export function showResult(kind, text) {
  const el = $('command-result');
  el.hidden = false;
  el.dataset.accepted = kind;
  el.textContent = text;
}

export function clearResult() {
  const el = $('command-result');
  el.hidden = true;
  el.textContent = '';
  delete el.dataset.accepted;
}

/**
 * The buttons for the shown call `c`: only for a call on the live feed (a past call is a record, not a
 * call to move). Each move carries the machine's answer to it now (`c.moves`, from the server, which
 * runs it through the machine): a move it would refuse is shown disabled, its reason on hover, and is
 * not sent.
 */
export function renderSupervisor(c) {
  $('supervisor').hidden = !!page.pastView;
  const moves = new Map((c.moves ?? []).map((m) => [m.to, m]));
  for (const b of document.querySelectorAll('#actions button')) {
    const dept = b.dataset.dept;
    const busy = !c.live || page.pendingCommand;
    b.disabled = busy;
    b.classList.toggle('current', dept === c.state);
    if (!dept) continue; // End call: always possible on a live call
    const move = moves.get(dept);
    const refused = Boolean(move && !move.allowed);
    b.setAttribute('aria-disabled', refused || busy ? 'true' : 'false');
    b.classList.toggle('refused', refused);
    if (refused) b.dataset.reason = move.reason ?? '';
    else delete b.dataset.reason;
    b.title = refused
      ? `The machine would refuse: ${move.reason}`
      : move?.escalates
        ? `The transfer limit is reached: the machine sends the caller to a person instead`
        : dept === 'human'
          ? 'Transfer to a person'
          : `Transfer to ${title(dept)}`;
  }
}

async function sendCommand(action) {
  const c = !page.pastView && page.selectedId ? page.calls.get(page.selectedId) : null;
  if (!c) return;
  const callId = c.callId;
  const what = action.type === 'TRANSFER' ? `transfer to ${title(action.to)}` : 'end the call';
  page.pendingCommand = true;
  paintDetails();
  showResult('pending', `Asking the machine to ${what}…`);
  try {
    const res = await api(`/api/calls/${encodeURIComponent(callId)}/command`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ action }),
    });
    if (page.selectedId !== callId) return;
    const b = res.body ?? {};
    if (res.ok && b.accepted) {
      showResult('true', `Accepted: ${what}${b.state ? ` — now in ${title(b.state)}` : ''}.`);
    } else if (res.ok && b.accepted === false) {
      showResult('false', `Refused (${what}): ${b.reason ?? 'no reason given'}`);
    } else {
      showResult('false', `Failed (${what}): ${b.reason ?? b.error ?? `HTTP ${res.status}`}`);
    }
  } catch (err) {
    if (page.selectedId === callId) showResult('false', `Failed (${what}): ${err.message}`);
  } finally {
    page.pendingCommand = false;
    paintDetails();
  }
}

export function wireActions() {
  for (const b of document.querySelectorAll('#actions .dept-btn')) {
    b.addEventListener('click', () => {
      // Refused by the machine as the call stands: say why instead of asking.
      if (b.classList.contains('refused')) return showResult('false', `Refused by the machine, not sent (transfer to ${title(b.dataset.dept)}): ${b.dataset.reason}`);
      void sendCommand({ type: 'TRANSFER', to: b.dataset.dept });
    });
  }
  $('end-call').addEventListener('click', () => sendCommand({ type: 'END_CALL' }));
}
