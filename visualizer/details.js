// One call in detail: the caller and status, the supervisor's buttons, the route timeline (and its
// replay), the refused transfers, errors, and the transcript.
import { $, callEnd, callerLabel, fmtClock, fmtDuration, fmtSpent, h } from './dom.js';
import { currentReplay, renderReplay } from './replay.js';
import { page, selectedView } from './state.js';
import { renderSupervisor } from './supervisor.js';
import { title } from './titles.js';

export function renderDetails() {
  const c = selectedView();
  $('details-empty').hidden = !!c;
  $('details-body').hidden = !c;
  $('details-id').textContent = c ? c.callId : '';
  if (!c) return;
  renderCaller(c);
  renderSupervisor(c);
  renderReplay(c);
  renderTimeline(c);
  renderRefusals(c);
  renderErrors(c);
  renderTranscript(c);
}

/** The caller's language in words (the call keeps a code: en, hi, hinglish, or another ISO 639-1 code). */
const LANGUAGE_NAMES = { en: 'English', hi: 'Hindi', hinglish: 'Hinglish' };
function languageLabel(code) {
  if (!code) return undefined;
  if (LANGUAGE_NAMES[code]) return LANGUAGE_NAMES[code];
  try {
    return new Intl.DisplayNames(['en'], { type: 'language' }).of(code) ?? code;
  } catch {
    return code;
  }
}

function renderCaller(c) {
  const info = [];
  const add = (label, value) => value && info.push(h('div', { class: 'kv' }, h('span', { class: 'k' }, label), h('span', { class: 'v' }, value)));
  add('Phone', c.caller?.phoneNumber);
  add('Account', c.caller?.accountId);
  add('Need', c.caller?.need);
  add('Language', languageLabel(c.caller?.language));
  add('Dialled', c.caller?.dialedNumber);
  add('SIP call', c.caller?.sipCallIdFull ?? c.caller?.sipCallId);
  add('Worker', c.worker);
  const status = c.live
    ? h('span', { class: 'badge badge-live' }, page.pastView ? 'live (record)' : 'live')
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
}

/** The route: each department the call visited, how long it stayed, and the transfer that brought it there. */
function renderTimeline(c) {
  const now = Date.now();
  const replay = currentReplay();
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
        i === 0 ? null : transferTags(t),
      );
    }),
  );
}

function transferTags(t) {
  return h(
    'div',
    { class: 'tl-tags' },
    t.source ? h('span', { class: `tag tag-${t.source}` }, t.source) : null,
    t.latencyMs !== undefined ? h('span', { class: 'tag tag-latency' }, t.latencyMs === null ? 'latency n/a' : `${Math.round(t.latencyMs)} ms handoff`) : null,
    typeof t.stages?.silenceMs === 'number'
      ? h('span', { class: 'tag tag-silence', 'data-testid': 'silence', title: stagesTitle(t.stages) }, `${Math.round(t.stages.silenceMs)} ms silence heard`)
      : null,
    t.stages?.preparedPlayed ? h('span', { class: 'tag tag-prepared', title: 'The reply prepared during the transfer played' }, 'prepared reply') : null,
    t.escalated ? h('span', { class: 'tag tag-escalated' }, 'escalated (cap reached)') : null,
    t.mode ? h('span', { class: `tag tag-${t.mode}` }, `${t.mode} transfer`) : null,
    t.steps?.length ? h('span', { class: 'tag tag-steps', 'data-testid': 'person-steps' }, personSteps(t)) : null,
  );
}

const ms = (v) => (typeof v === 'number' ? `${Math.round(v)} ms` : '–');

/** Where a transfer's time went, for the silence chip's tooltip. */
function stagesTitle(s) {
  return [
    `machine's decision ${ms(s.decisionMs)}`,
    `to the new desk on the line ${ms(s.swapMs)}`,
    `LLM first token ${ms(s.llmTtftMs)}`,
    `speech first audio ${ms(s.ttsTtfbMs)}`,
    s.bridged ? 'a short bridging line first' : null,
  ]
    .filter(Boolean)
    .join(' · ');
}

const STEP_NAMES = { dialling: 'on hold · dialling', briefing: 'briefing', connected: 'connected' };

/** Warm steps with their times: "on hold · dialling 12:01:03 → briefing +8 s → connected +12 s". */
function personSteps(t) {
  return t.steps
    .map((s, i) => `${STEP_NAMES[s.step] ?? s.step} ${i === 0 ? fmtClock(s.at) : `+${Math.round((s.at - t.steps[i - 1].at) / 1000)} s`}`)
    .join(' → ');
}

function renderRefusals(c) {
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
}

function renderErrors(c) {
  $('errors-wrap').hidden = !c.errors.length;
  $('errors').replaceChildren(...c.errors.map((e) => h('li', { class: 'error' }, h('span', { class: 'muted small' }, fmtClock(e.at)), ' ', e.message)));
}

/** The transcript (keeping the reader's scroll position unless they were at the bottom). */
function renderTranscript(c) {
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
