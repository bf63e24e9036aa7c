/**
 * The report of the transfer figures (1: handoff overhead, 2: dead air, no-line transfers and what
 * preparing replies costs): table rows, detail sections, and where the time goes when a target is missed.
 */
import type { Arm, DeadAirResult, SpeedResult } from './dead-air.js';
import type { HandoffResult, Milestones } from './handoff.js';
import type { Summary } from './stats.js';

export const ms = (s: Summary | null | undefined, d = 2) => (s && s.n ? `${s.median.toFixed(d)} / ${s.p95.toFixed(d)} ms (n=${s.n})` : 'n/a');
export const yes = (b: boolean) => (b ? 'met' : '**missed**');
const med = (s: Summary | undefined, d = 1) => (s && s.n ? s.median.toFixed(d) : '—');
const ARM_LABEL: Record<Arm, string> = { ours: 'ours', oursUnprepared: 'ours, `prepareReplies: false`', native: 'native `llm.handoff`' };
const speedLabel = (s: SpeedResult) => `LLM TTFT ${s.ttftMs} ms / TTS TTFB ${s.ttsTtfbMs} ms`;

// ---- table rows ---------------------------------------------------------------------------------------

export function handoffRow(h: HandoffResult): string {
  return (
    `| 1 | handoff overhead: transfer tool call received → new agent's first LLM request (text mode) | ours ${ms(h.arms.ours.total)}; ` +
    `ours, replies not prepared ${ms(h.arms.oursUnprepared.total)} | native \`llm.handoff\` ${ms(h.arms.native.total)}; ratio ${h.ratioOfMedians}× ` +
    `(p95 ${h.ratioOfP95}×; not prepared ${h.unpreparedRatioOfMedians}×) | ≤ 1.10× native and < 10 ms | ` +
    `1.10×: ${yes(h.target.withinRatio)}; < 10 ms: ${yes(h.target.under10ms)} |`
  );
}

export function deadAirRows(da: DeadAirResult): string[] {
  const rows: string[] = [];
  for (const s of da.speeds) {
    const a = s.arms;
    rows.push(
      `| 2 | dead air at a transfer with a spoken line (${speedLabel(s)}): old agent's last audio → new agent's first audio | ` +
        `ours ${ms(a.ours.spoken.all, 1)} — direct ${ms(a.ours.spoken.direct, 1)}, middle of a chain ${ms(a.ours.spoken.chain, 1)} | ` +
        `ours, replies not prepared ${ms(a.oursUnprepared.spoken.all, 1)}; native ${ms(a.native.spoken.all, 1)}; ratio ${s.target.ratio}× ` +
        `(direct ${s.target.direct}×, chain ${s.target.chain}×) | direct and chain each ≤ 50 ms and ≤ 0.2× native | ${yes(s.target.met)} |`,
    );
    rows.push(
      `| 2b | transfer with no line (${speedLabel(s)}): caller's end of turn → new agent's first audio | ours ${ms(a.ours.silent.firstAudio, 1)} ` +
        `(its bridging line); → its reply: direct ${ms(a.ours.silent.replyDirect, 1)}, middle of a chain ${ms(a.ours.silent.replyChain, 1)} | ` +
        `ours, not prepared: first audio ${ms(a.oursUnprepared.silent.firstAudio, 1)}; native: ${ms(a.native.silent.firstAudio, 1)} ` +
        `(direct ${med(a.native.silent.replyDirect)}, chain ${med(a.native.silent.replyChain)} ms); ratios between segments: first audio ` +
        `${s.silentTarget.segments.firstAudio}×, reply ${s.silentTarget.segments.reply}× | — | |`,
    );
    const h = (arm: typeof a.ours) =>
      `spoken line: direct ${med(arm.heard.spoken.direct)}, chain ${med(arm.heard.spoken.chain)} ms; no line: first sound ${med(arm.heard.silent.firstAudio)}, ` +
      `reply direct ${med(arm.heard.silent.replyDirect)}, chain ${med(arm.heard.silent.replyChain)} ms`;
    rows.push(
      `| 2d | the same seams **as heard** (${speedLabel(s)}): last sound → first sound, energy ≥ −45 dBFS, voices padded ` +
        `${da.padding.leadMs} ms before / ${da.padding.trailMs} ms after | ours ${h(a.ours)} | native ${h(a.native)}; no line, ours/native: first sound ` +
        `${s.silentTarget.firstAudio}×, reply ${s.silentTarget.reply}× | no line: first sound ≤ 0.5×, reply ≤ 1.0× native | ${yes(s.silentTarget.met)} |`,
    );
  }
  const x = totalExtra(da);
  rows.push(
    `| 2c | cost of preparing replies, per transfer (both speeds, ${x.transfers} transfers) | \`call.prepared\`: ${x.requests} preparation requests ` +
      `(${x.used} used, ${x.thrownAway} thrown away), ${x.tokens} tokens | scripted server's log, ours − ours not prepared: ` +
      `${signed(x.serverRequests)} requests, ${signed(x.serverTokens)} usage tokens, ${signed(x.serverPromptChars, 0)} prompt characters | — | |`,
  );
  return rows;
}

const signed = (x: number, d = 2) => `${x >= 0 ? '+' : ''}${x.toFixed(d)}`;

function totalExtra(da: DeadAirResult) {
  const sum = (f: (s: SpeedResult) => number) => da.speeds.reduce((a, s) => a + f(s), 0);
  const transfers = sum((s) => s.extra.transfers);
  const per = (x: number) => (x / transfers).toFixed(2);
  // The server's figures are per transfer at each speed: weight them by transfers.
  const wavg = (f: (s: SpeedResult) => number) => sum((s) => f(s) * s.extra.transfers) / transfers;
  return {
    transfers,
    requests: per(sum((s) => s.extra.prepared.requests)),
    used: per(sum((s) => s.extra.prepared.used)),
    thrownAway: per(sum((s) => s.extra.prepared.thrownAway)),
    tokens: per(sum((s) => s.extra.prepared.tokens)),
    serverRequests: wavg((s) => s.extra.serverExtraRequestsPerTransfer),
    serverTokens: wavg((s) => s.extra.serverExtraUsageTokensPerTransfer),
    serverPromptChars: wavg((s) => s.extra.serverExtraPromptCharsPerTransfer),
  };
}

// ---- detail sections ----------------------------------------------------------------------------------

const MILESTONES: [string, keyof Milestones][] = [
  ['machine accepted (ours) / tool entered (native)', 'accepted'],
  ['tool returned `llm.handoff` (native)', 'toolReturned'],
  ['function_tools_executed', 'toolsExecuted'],
  ['agent_handoff item (the new agent is on the line)', 'handoffItem'],
  ['new agent onEnter (native)', 'onEnter'],
  ['**new agent\'s first LLM request**', 'firstLlm'],
];

export function handoffSection(h: HandoffResult): string[] {
  const lines = ['', `**1. Handoff milestones** (medians, ms after the tool call was received; ${h.setup})`, ''];
  lines.push('| milestone | ours | ours, not prepared | native |', '|---|---|---|---|');
  for (const [label, k] of MILESTONES) {
    const cell = (a: keyof HandoffResult['arms']) => med(h.arms[a].milestones[k], 3);
    lines.push(`| ${label} | ${cell('ours')} | ${cell('oursUnprepared')} | ${cell('native')} |`);
  }
  const p = h.oursPrepared;
  lines.push(
    '',
    `Ours: \`call.handoffs[].latencyMs\` (machine accepted → first LLM request) ${ms(h.oursRecordedLatencyMs, 3)}; \`call.prepared\` over ` +
      `${h.arms.ours.total.n} calls: ${p.requests} requests, ${p.used} used, ${p.thrownAway} thrown away, ${p.tokens} tokens. Chat requests per call ` +
      `(server log): ours ${med(h.arms.ours.serverRequestsPerCall)}, not prepared ${med(h.arms.oursUnprepared.serverRequestsPerCall)}, native ` +
      `${med(h.arms.native.serverRequestsPerCall)}.`,
  );
  return lines;
}

const SPOKEN_STAGES: [string, string][] = [
  ["old line's last sample → the sink reports playback finished", 'sinkReport'],
  ['playback finished → agent_handoff item (old turn ends, swap)', 'swap'],
  ['→ first LLM request (onEnter; after the bridging line, if any)', 'onEnter'],
  ['LLM request → first chunk (server TTFT + HTTP)', 'llm'],
  ['first chunk → first TTS request (sentence tokenizer)', 'toTts'],
  ['TTS request → first frame (server TTFB + HTTP + decoding)', 'tts'],
  ['prepared: agent_handoff (or bridge end) → first frame (`session.say` with the frames)', 'sayToFrame'],
  ["prepared: its TTS request was made this long before it was needed", 'prepTtsLead'],
];
const SILENT_STAGES: [string, string][] = [
  ["caller's line committed → agent_handoff item (old desk's LLM turn, tool, swap)", 'userToHandoff'],
  ['agent_handoff → bridging line audio (cached frames)', 'toBridge'],
  ...SPOKEN_STAGES.slice(2),
];

function stageTable(s: SpeedResult, spoken: boolean): string[] {
  const kind = spoken ? 'spoken' : 'silent';
  const cols: [string, Arm, string][] = [
    ['ours, prepared reply played', 'ours', `${kind}/prepared`],
    ['ours, replied itself', 'ours', `${kind}/replied`],
    ['ours, not prepared', 'oursUnprepared', `${kind}/replied`],
    ['native', 'native', `${kind}/replied`],
  ];
  const present = cols.filter(([, a, g]) => s.arms[a].stages[g]);
  const lines = [`| stage | ${present.map(([l]) => l).join(' | ')} |`, `|---|${present.map(() => '---|').join('')}`];
  for (const [label, key] of spoken ? SPOKEN_STAGES : SILENT_STAGES) {
    const cells = present.map(([, a, g]) => med(s.arms[a].stages[g]![key]));
    if (cells.every((c) => c === '—')) continue;
    lines.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  const gap = present.map(([, a, g]) => {
    const x = s.arms[a].stages[g]!.gap!;
    return `**${med(x)}** (p95 ${x.p95.toFixed(1)}, n=${x.n})`;
  });
  lines.push(`| **${spoken ? 'dead air' : "caller's end of turn → the reply's first audio"}** | ${gap.join(' | ')} |`);
  return lines;
}

export function deadAirSection(da: DeadAirResult): string[] {
  const lines = ['', `**2. Dead air** (${da.setup})`];
  for (const s of da.speeds) {
    lines.push('', `*${speedLabel(s)}* (floor for a reply made after the swap: ${s.floorMs} ms)`, '');
    lines.push(
      '| arm | spoken line: all | direct | middle of a chain | no line: first audio | → reply, direct | → reply, chain | bridge end → reply (direct / chain) | prepared reply played (spoken direct / chain / no line) | per call: LLM requests, TTS requests (characters) |',
      '|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const a of ['ours', 'oursUnprepared', 'native'] as Arm[]) {
      const f = s.arms[a];
      const pp = f.preparedPlayed;
      lines.push(
        `| ${ARM_LABEL[a]} | ${ms(f.spoken.all, 1)} | ${ms(f.spoken.direct, 1)} | ${ms(f.spoken.chain, 1)} | ${ms(f.silent.firstAudio, 1)} | ` +
          `${ms(f.silent.replyDirect, 1)} | ${ms(f.silent.replyChain, 1)} | ${med(f.silent.afterBridgeDirect)} / ${med(f.silent.afterBridgeChain)} ms | ` +
          `${a === 'ours' ? `${pp.spokenDirect} / ${pp.spokenChain} / ${pp.silent}` : '—'} | ${med(f.serverRequestsPerCall, 0)}, ` +
          `${med(f.ttsRequestsPerCall, 0)} (${med(f.ttsCharsPerCall, 0)}) |`,
      );
    }
    lines.push('', 'Spoken line, stage medians (ms):', '', ...stageTable(s, true));
    lines.push('', 'No line, stage medians (ms):', '', ...stageTable(s, false));
    const x = s.extra;
    lines.push(
      '',
      `Preparing replies: \`call.prepared\` over ${s.calls} calls (${x.transfers} transfers): ${x.prepared.requests} requests, ${x.prepared.used} used, ` +
        `${x.prepared.thrownAway} thrown away, ${x.prepared.tokens} tokens — per transfer ${x.preparedRequestsPerTransfer} requests, ` +
        `${x.thrownAwayPerTransfer} thrown away, ${x.preparedTokensPerTransfer} tokens. Server log, ours − not prepared, per transfer: ` +
        `${signed(x.serverExtraRequestsPerTransfer)} requests, ${signed(x.serverExtraUsageTokensPerTransfer)} usage tokens, ` +
        `${signed(x.serverExtraPromptCharsPerTransfer, 0)} prompt characters.`,
    );
  }
  return lines;
}

// ---- where the time goes ----------------------------------------------------------------------------

export function explainHandoff(h: HandoffResult): string {
  const m = (a: keyof HandoffResult['arms'], k: keyof Milestones) => med(h.arms[a].milestones[k], 2);
  return (
    `ours ${h.arms.ours.total.median.toFixed(2)} ms vs native ${h.arms.native.total.median.toFixed(2)} ms (median; ${h.ratioOfMedians}×; p95 ` +
    `${h.ratioOfP95}×), not prepared ${h.arms.oursUnprepared.total.median.toFixed(2)} ms (${h.unpreparedRatioOfMedians}×). Milestones after the ` +
    `tool call arrived (ours / not prepared / native): machine accepted or tool entered ${m('ours', 'accepted')} / ${m('oursUnprepared', 'accepted')} / ` +
    `${m('native', 'accepted')} ms; function_tools_executed ${m('ours', 'toolsExecuted')} / ${m('oursUnprepared', 'toolsExecuted')} / ` +
    `${m('native', 'toolsExecuted')} ms; agent_handoff ${m('ours', 'handoffItem')} / ${m('oursUnprepared', 'handoffItem')} / ${m('native', 'handoffItem')} ms; ` +
    `first LLM request ${m('ours', 'firstLlm')} / ${m('oursUnprepared', 'firstLlm')} / ${m('native', 'firstLlm')} ms. With replies prepared the ` +
    `request is made when the machine accepts, before the old turn has even ended; without, it waits for the swap like native's.`
  );
}

export function explainDeadAir(s: SpeedResult): string {
  const o = s.arms.ours;
  const used = o.stages['spoken/prepared'];
  const replied = o.stages['spoken/replied'];
  const part = (g: Record<string, Summary> | undefined, k: string) => med(g?.[k]);
  return (
    `${speedLabel(s)}: ours ${o.spoken.all.median.toFixed(1)} ms (p95 ${o.spoken.all.p95.toFixed(1)}) vs native ` +
    `${s.arms.native.spoken.all.median.toFixed(1)} ms (${s.target.ratio}×). Prepared replies played at ${o.preparedPlayed.spokenDirect} direct ` +
    `transfers (dead air ${med(o.spoken.direct)} ms: sink report ${part(used, 'sinkReport')}, swap ${part(used, 'swap')}, say → first frame ` +
    `${part(used, 'sayToFrame')} ms) and ${o.preparedPlayed.spokenChain} chain hops (${med(o.spoken.chain)} ms): a reply that routes onward is ` +
    `thrown away and made again after the swap — onEnter ${part(replied, 'onEnter')}, LLM ${part(replied, 'llm')}, to TTS ` +
    `${part(replied, 'toTts')}, TTS ${part(replied, 'tts')} ms: at least the floor of ${s.floorMs} ms.`
  );
}

/** A transfer with no line that missed its target: its bridging line and its reply, against native's. */
export function explainSilent(s: SpeedResult): string {
  const o = s.arms.ours.silent;
  const n = s.arms.native.silent;
  return (
    `${speedLabel(s)}, no line, as heard: first sound ${med(s.arms.ours.heard.silent.firstAudio)} ms vs native ${med(s.arms.native.heard.silent.firstAudio)} ` +
    `(${s.silentTarget.firstAudio}×); the reply ${s.silentTarget.reply}× (between segments: direct ${med(o.replyDirect)} vs ${med(n.replyDirect)}, ` +
    `chain ${med(o.replyChain)} vs ${med(n.replyChain)} ms, ${s.silentTarget.segments.reply}×); ` +
    `after the bridging line: direct ${med(o.afterBridgeDirect)}, chain ${med(o.afterBridgeChain)} ms (near 0: the reply was ready and waited for the line to end).`
  );
}

/** When no prepared reply played at all: what the bench can see of why (the product does not say). */
export function preparedDiagnosis(h: HandoffResult | undefined, da: DeadAirResult | undefined): string | undefined {
  const usedHandoff = h ? h.oursPrepared.used : 0;
  const usedDeadAir = da ? da.speeds.reduce((a, s) => a + s.extra.prepared.used, 0) : 0;
  const requests = (h?.oursPrepared.requests ?? 0) + (da ? da.speeds.reduce((a, s) => a + s.extra.prepared.requests, 0) : 0);
  if ((!h && !da) || usedHandoff + usedDeadAir > 0) return undefined;
  return (
    `no prepared reply played (${requests} preparation requests made, 0 used): every new agent made its own LLM request after the swap. ` +
    `See the stage tables: the new agent's first audio follows an LLM request made after agent_handoff.`
  );
}

/** Ours without prepared replies, when its handoff is over 1.10× native (the target is judged on the default). */
function explainUnprepared(h: HandoffResult): string | undefined {
  if (h.unpreparedRatioOfMedians <= 1.1) return undefined;
  const m = (a: keyof HandoffResult['arms'], k: keyof Milestones) => h.arms[a].milestones[k].median;
  const d = (k: keyof Milestones) => signed(m('oursUnprepared', k) - m('native', k));
  return (
    `with \`prepareReplies: false\` ours is ${h.arms.oursUnprepared.total.median.toFixed(2)} ms vs native ${h.arms.native.total.median.toFixed(2)} ms ` +
    `(${h.unpreparedRatioOfMedians}×; the default, replies prepared, is ${h.ratioOfMedians}×). Milestone differences, ours not prepared − native: ` +
    `machine accepted vs tool entered ${d('accepted')} ms (the tool sends the machine its event; the machine decides, its announcement builds ` +
    `the next agent and calls updateAgent), function_tools_executed ${d('toolsExecuted')} ms, agent_handoff ${d('handoffItem')} ms, first LLM ` +
    `request ${d('firstLlm')} ms: the gap is made inside the tool and carried to the end, a fraction of a millisecond against an LLM's time to first token.`
  );
}

/** Where the time goes beyond the targets: chain hops, transfers with no line, and the handoff without prepared replies. */
export function transferNotes(h: HandoffResult | undefined, da: DeadAirResult | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const unprepared = h && explainUnprepared(h);
  if (unprepared) out['handoff, replies not prepared'] = unprepared;
  for (const s of da?.speeds ?? []) {
    const o = s.arms.ours;
    const off = s.arms.oursUnprepared;
    const nat = s.arms.native;
    const prep = o.stages['silent/prepared'];
    const part = (g: Record<string, Summary> | undefined, k: string) => med(g?.[k]);
    out[`chain hops ${s.ttftMs}/${s.ttsTtfbMs}`] =
      `${speedLabel(s)}: the middle desk of a chain (its first reply routes onward) — dead air ${med(o.spoken.chain)} ms between segments ` +
      `(native ${med(nat.spoken.chain)} ms), ${med(o.heard.spoken.chain)} ms heard (native ${med(nat.heard.spoken.chain)} ms). Its prepared reply ` +
      `(${o.preparedPlayed.spokenChain} played, as the handoff events' stages say) is served to the desk's own turn, its line's speech made ` +
      `during the preparation, and the next desk's reply is prepared while that line plays: no request is made twice.`;
    out[`no line ${s.ttftMs}/${s.ttsTtfbMs}`] =
      `${speedLabel(s)}: a transfer with no line — the caller hears the new desk's bridging line ${med(o.silent.firstAudio)} ms after their turn ` +
      `ended (the old desk's LLM turn: ${part(prep, 'userToHandoff')} ms; native's first audio is its reply, ${med(nat.silent.firstAudio)} ms): ` +
      `the reply is not expected within 250 ms of the swap, so the line is said at once. The reply follows: ${med(o.silent.replyDirect)} ms after ` +
      `the caller's turn (native ${med(nat.silent.replyDirect)} ms), ${med(o.silent.afterBridgeDirect)} ms after the line ends — as soon as its ` +
      `first audio is ready (first sentence voiced alone), which one LLM TTFT and one TTS TTFB after the swap cannot beat; heard, ` +
      `${med(o.heard.silent.replyDirect)} ms against native's ${med(nat.heard.silent.replyDirect)} ms. Without prepared replies the reply's request ` +
      `waits for the line to end (${med(off.silent.afterBridgeDirect)} ms after it, ${med(off.silent.replyDirect)} ms after the turn).`;
  }
  return out;
}
