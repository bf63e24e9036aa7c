// What the page says in an operator's words: the statechart's edge labels and the chips under a transfer,
// each with its hover text. The developer's names (the machine's events and guards) stay on hover.
// No DOM here. test/inspector-fit.test.ts checks every edge of the machine is drawn in words.

/**
 * Each transition of the routing machine (`EVENT [guard]`, as GET /api/machine labels its edges) in
 * words, and what admits it. Listed in the order an edge's alternatives are shown (the ordinary one
 * first). A transition missing here is drawn with its developer form, so a new guard shows up (and the
 * browser test that every edge is in words fails) until it is given words.
 */
export const EDGE_WORDS = {
  'TRANSFER [canTransferTo]': {
    words: 'transfer',
    means:
      'the desk sends the caller on: the call is under its transfer limit, is not sent straight back, and does not spend its last transfer on the front desk (which could then send the caller to no department)',
  },
  'TRANSFER [canReachHuman]': {
    words: 'person asked for',
    means: 'a transfer to a person was asked for, and a human number is configured',
  },
  'TRANSFER [mustEscalate]': {
    words: 'cap reached → person',
    means: 'a transfer asked for after the call reached its transfer limit goes to a person instead',
  },
  'HUMAN_TRANSFER_FAILED [cameFrom]': {
    words: 'person unreachable → back',
    means: 'the person could not be reached (busy, no answer, declined, voicemail, timeout): back to the desk the caller came from',
  },
  END_CALL: { words: 'ended', means: 'the desk or a supervisor ended the call' },
  HANGUP: { words: 'hung up', means: 'the caller hung up' },
};

const ORDER = Object.keys(EDGE_WORDS);
const rank = (label) => (ORDER.includes(label) ? ORDER.indexOf(label) : ORDER.length);

/** Alternatives this short together are said on one line ("ended or hung up"). */
const ONE_LINE = 20;

/**
 * An edge's label lines: one per alternative in words, the second and later led by "or" (any one of
 * them takes the edge), short ones on one line. `labels`: the machine's `EVENT [guard]` strings.
 */
export function edgeWords(labels) {
  const phrases = [];
  for (const l of [...labels].sort((a, b) => rank(a) - rank(b))) {
    const words = EDGE_WORDS[l]?.words ?? l;
    if (!phrases.includes(words)) phrases.push(words);
  }
  if (phrases.join(' or ').length <= ONE_LINE) return [phrases.join(' or ')];
  return phrases.map((p, i) => (i ? `or ${p}` : p));
}

/**
 * An edge's hover text: where it goes, each alternative in words with what admits it, then the machine's
 * own names ("In the machine: TRANSFER [mustEscalate] or TRANSFER [canReachHuman]").
 */
export function edgeHover(from, to, labels) {
  const lines = [`${from} → ${to}`];
  for (const l of [...labels].sort((a, b) => rank(a) - rank(b))) {
    const w = EDGE_WORDS[l];
    lines.push(w ? `• ${w.words}: ${w.means}` : `• ${l}`);
  }
  lines.push(`In the machine: ${labels.join(' or ')}`);
  return lines.join('\n');
}

// ───────────────────────────── chips on a transfer ─────────────────────────────

/** Who asked for a transfer (its `source`), for the chip and its hover text. */
export const SOURCE_WORDS = {
  agent: { words: 'asked by the desk', means: "The desk's AI agent asked for this transfer (a tool call)." },
  keypad: { words: 'caller pressed a key', means: 'The caller pressed a key on the phone keypad that asks for this desk.' },
  supervisor: { words: 'moved by a supervisor', means: 'A supervisor moved the call (this page or the API).' },
  system: { words: 'by the system', means: 'The call moved by itself (a person could not be reached, or the transfer limit was reached).' },
};

export const sourceWords = (source) => SOURCE_WORDS[source] ?? { words: source, means: `Asked for by: ${source}.` };

/** The refusal list's source chip: who asked for the transfer the machine refused. */
export const REFUSED_SOURCE_WORDS = {
  agent: 'asked by the desk',
  keypad: 'caller pressed a key',
  supervisor: 'asked by a supervisor',
  system: 'asked by the system',
};

export const CHIP = {
  switched: {
    text: (ms) => `desk switched in ${ms} ms`,
    title:
      "Time from the machine's decision to the new desk starting work (its first request to the language model, to prepare its reply).",
  },
  notMeasured: {
    text: 'switch time not measured',
    title: 'The call ended or moved on before the new desk took the line, so the switch was not timed.',
  },
  silence: {
    text: (ms) => `${ms} ms silence heard`,
    title: "The silence the caller heard at this transfer: from the last sound on the line to the new desk's first sound.",
  },
  prepared: {
    text: 'prepared reply played',
    title: "The new desk's reply was prepared during the transfer and played, so the caller did not wait for it to be written.",
  },
  bridged: {
    text: 'bridging line',
    title: 'The new desk said a short bridging line first: the old desk said nothing and the reply was not ready yet.',
  },
  escalated: {
    text: 'cap reached → person',
    title: 'The call had used all its transfers, so the transfer asked for went to a person instead.',
  },
  warm: {
    text: 'warm transfer',
    title: 'Warm: the person was dialled and briefed while the caller waited on hold, then joined to the caller.',
  },
  cold: {
    text: 'cold transfer',
    title: "Cold: the call was handed straight to the person's number (SIP REFER), without a briefing.",
  },
  steps: {
    title: "The warm transfer's steps: when the person was dialled, then seconds until the briefing and until they were joined.",
  },
  interrupted: {
    text: 'interrupted',
    title: 'The caller spoke over this line, so it was cut short.',
  },
  response: {
    text: (ms) => `answered in ${ms} ms`,
    title: "The time the caller waited for this answer: from the end of their speech to this desk's first sound.",
  },
  model: {
    text: (ms) => `model ${ms} ms`,
    title: "The language model's time to its first token for this answer (a text call has no sound, so no response time).",
  },
};

const ms = (v) => (typeof v === 'number' ? `${Math.round(v)} ms` : '–');

/** Where a transfer's time went (its `stages`), for the silence chip's hover text, one stage a line. */
export function stagesTitle(s) {
  return [
    CHIP.silence.title,
    'Where the time went:',
    `• the machine's decision: ${ms(s.decisionMs)}`,
    `• until the new desk was on the line: ${ms(s.swapMs)}`,
    `• its reply's first word from the language model: ${ms(s.llmTtftMs)}`,
    `• its speech's first audio: ${ms(s.ttsTtfbMs)}`,
    s.bridged ? '• a short bridging line was said first' : null,
  ]
    .filter(Boolean)
    .join('\n');
}

/**
 * The chip on an agent line that answered a caller line (its `turn` figures): the response time the caller
 * waited on a voice call, the model's time to first token on a text call; null when neither was measured.
 */
export function turnChip(t) {
  if (typeof t?.responseMs === 'number') {
    const lines = [
      CHIP.response.title,
      'Where the time went:',
      `• their turn judged over: ${ms(t.eouMs)} after they stopped`,
      `• their words transcribed: ${ms(t.sttMs)} after they stopped`,
      `• the language model's first token: ${ms(t.llmTtftMs)} after it was asked`,
      `• the voice's first audio: ${ms(t.ttsTtfbMs)} after it was asked`,
    ];
    return { text: CHIP.response.text(Math.round(t.responseMs)), title: lines.join('\n') };
  }
  if (typeof t?.llmTtftMs === 'number') return { text: CHIP.model.text(Math.round(t.llmTtftMs)), title: CHIP.model.title };
  return null;
}
