// One call in detail: the caller and status, the supervisor's buttons, the route timeline (and its
// replay), the refused transfers, errors, and the transcript; a past call's timeline (timeline.js) above them.
import { $, callEnd, callerLabel, fmtClock, fmtDuration, fmtSpent, h } from './dom.js';
import { currentReplay, renderReplay } from './replay.js';
import { page, selectedView } from './state.js';
import { renderSupervisor } from './supervisor.js';
import { lineOffsetMs, playLine, renderCallTimeline } from './timeline.js';
import { title } from './titles.js';
import { CHIP, REFUSED_SOURCE_WORDS, sourceWords, stagesTitle, turnChip } from './words.js';

export function renderDetails() {
  const c = selectedView();
  $('details-empty').hidden = !!c;
  $('details-body').hidden = !c;
  $('details-id').textContent = c ? c.callId : '';
  renderCallTimeline(c && c === page.pastView ? c : null);
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

/**
 * The chips under a transfer, each in words with what it measures on hover: who asked for it, how soon
 * the new desk was at work, the silence the caller heard (where the time went, on hover), whether the
 * prepared reply played, a bridging line, the transfer limit, how a person was reached and warm's steps.
 */
function transferTags(t) {
  const chip = (cls, text, hover, extra = {}) => h('span', { class: `tag ${cls}`, title: hover, ...extra }, text);
  const src = t.source ? sourceWords(t.source) : null;
  const s = t.stages;
  return h(
    'div',
    { class: 'tl-tags' },
    src ? chip(`tag-${t.source}`, src.words, src.means, { 'data-testid': 'source' }) : null,
    t.latencyMs === undefined
      ? null
      : t.latencyMs === null
        ? chip('tag-latency', CHIP.notMeasured.text, CHIP.notMeasured.title, { 'data-testid': 'switched' })
        : chip('tag-latency', CHIP.switched.text(Math.round(t.latencyMs)), CHIP.switched.title, { 'data-testid': 'switched' }),
    typeof s?.silenceMs === 'number' ? chip('tag-silence', CHIP.silence.text(Math.round(s.silenceMs)), stagesTitle(s), { 'data-testid': 'silence' }) : null,
    s?.preparedPlayed ? chip('tag-prepared', CHIP.prepared.text, CHIP.prepared.title) : null,
    s?.bridged ? chip('tag-bridged', CHIP.bridged.text, CHIP.bridged.title) : null,
    t.escalated ? chip('tag-escalated', CHIP.escalated.text, CHIP.escalated.title) : null,
    t.mode ? chip(`tag-${t.mode}`, CHIP[t.mode]?.text ?? `${t.mode} transfer`, CHIP[t.mode]?.title ?? `How the person was reached: ${t.mode}.`) : null,
    t.steps?.length ? chip('tag-steps', personSteps(t), CHIP.steps.title, { 'data-testid': 'person-steps' }) : null,
  );
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
              r.source ? h('span', { class: `tag tag-${r.source}`, title: sourceWords(r.source).means }, REFUSED_SOURCE_WORDS[r.source] ?? r.source) : null,
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

/** An answering line's time (see `turnChip`): how long the caller waited, on hover where it went. */
function turnTag(turn) {
  const chip = turnChip(turn);
  return chip ? h('span', { class: 'tag tag-turn', title: chip.title, 'data-testid': 'turn' }, chip.text) : null;
}

/** A past call's line with a recording plays from where it was said, on a click or Enter. */
function playable(c, m) {
  if (c !== page.pastView || lineOffsetMs(c, m) === null) return {};
  const play = () => playLine(m);
  return {
    tabindex: 0,
    role: 'button',
    title: 'Play the recording from this line',
    'data-offset-ms': String(Math.round(lineOffsetMs(c, m))),
    on: { click: play, keydown: (ev) => (ev.key === 'Enter' || ev.key === ' ') && (ev.preventDefault(), play()) },
  };
}

/** The transcript (keeping the reader's scroll position unless they were at the bottom). */
function renderTranscript(c) {
  const tr = $('transcript');
  const atBottom = tr.dataset.stick === 'true' || tr.scrollHeight - tr.scrollTop - tr.clientHeight < 40;
  tr.replaceChildren(
    ...(c.transcript.length
      ? c.transcript.map((m) => {
          const caller = m.who === 'user' || m.who === 'caller';
          if (m.who === 'summary') {
            return h(
              'div',
              { class: 'msg msg-summary', title: 'The older turns, summarised in the background: later requests carry these notes and the recent turns' },
              h('div', { class: 'msg-who' }, 'Notes on the call so far', h('span', { class: 'muted small' }, fmtClock(m.at))),
              h('div', { class: 'msg-text' }, m.text),
            );
          }
          return h(
            'div',
            { class: `msg ${caller ? 'msg-caller' : `msg-agent dept-border-${m.who}`}${m.interrupted ? ' interrupted' : ''}`, ...playable(c, m) },
            h('div', { class: 'msg-who' }, caller ? 'Caller' : title(m.who), h('span', { class: 'muted small' }, fmtClock(m.at)), m.interrupted ? h('span', { class: 'tag', title: CHIP.interrupted.title }, CHIP.interrupted.text) : null, turnTag(m.turn)),
            h('div', { class: 'msg-text' }, m.text),
          );
        })
      : [h('p', { class: 'placeholder' }, 'Nothing said yet.')]),
  );
  if (atBottom) tr.scrollTop = tr.scrollHeight;
  tr.dataset.stick = 'false';
}
