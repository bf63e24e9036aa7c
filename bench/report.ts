/** Renders bench results as Markdown (the console output and the tables of docs/bench.md), and explains misses. */
import {
  deadAirRows,
  deadAirSection,
  explainDeadAir,
  explainSilent,
  explainHandoff,
  handoffRow,
  handoffSection,
  ms,
  preparedDiagnosis,
  transferNotes,
  yes,
} from './report-calls.js';
import type { Results } from './run.js';
import type { Summary } from './stats.js';
import type { FleetLevel, FleetResult } from './fleet.js';
import type { RecordsResult } from './records.js';

const pct = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)} %`;

/** For each missed target: where the time goes, in a sentence or two (also stored in results.json). */
export function explainMisses(r: Results): Record<string, string> {
  const out: Record<string, string> = {};
  const h = r.handoff;
  if (h && !h.target.met) out.handoff = explainHandoff(h);
  for (const sp of r.deadAir?.speeds ?? []) {
    if (!sp.target.met) out[`deadAir ${sp.ttftMs}/${sp.ttsTtfbMs}`] = explainDeadAir(sp);
    if (!sp.silentTarget.met) out[`deadAir no line ${sp.ttftMs}/${sp.ttsTtfbMs}`] = explainSilent(sp);
  }
  const never = preparedDiagnosis(h, r.deadAir);
  if (never) out.preparedReplies = never;
  const lc = r.longCall;
  if (lc && !lc.target.met) {
    out.longCall =
      `turn 80 carried ${lc.target.ratioAt80}× the whole history's tokens: every request carries the instructions and tool schemas whole ` +
      `(turn 10's request, before any summary, is the floor), and the recent turns verbatim up to the budget (see the budgets side by side)`;
  }
  const hi = r.history;
  if (hi && !hi.target.met) {
    const row = hi.rows.find((x) => x.items === 10_000);
    if (row) {
      out.history =
        `10 000 items: carriedHistory ${row.carriedHistory.median.toFixed(2)} ms, tool filter ${row.toolFilter.median.toFixed(2)} ms (medians); ` +
        `p95 ${row.both.p95.toFixed(2)} ms includes GC pauses of the copies.`;
    }
  }
  const c = r.capacity;
  if (c && !c.target.met) {
    const last = c.levels.filter((l) => l.mode === 'voice').at(-1)!;
    out.capacity =
      `max ${c.voice.maxCallsWithin20pct} voice calls within +20 % turn latency (first degraded level: ${c.voice.firstDegradedLevel ?? 'none'}); ` +
      `CPU ${(c.voice.cpuCoresPerCall * 100).toFixed(2)} % of a core per voice call → ${c.voice.callsPerCoreByCpu} per core; at ${last.calls} calls the ` +
      `event loop was busy ${(last.eventLoopUtilization * 100).toFixed(0)} % of the time (p99 loop delay ${last.eventLoopDelayP99Ms} ms).`;
  }
  const v = r.voiceCapacity;
  if (v && !v.target.met) {
    const over = v.levels.find((l) => (l.ratio ?? 1) > 1.2 || l.misheard > 0);
    const at = v.levels.find((l) => l.calls === v.withinBudget)!;
    out.voiceCapacity =
      `${v.withinBudget} whole voice calls used ${(at.cpuCores * 100).toFixed(0)} % of a core (${((at.cpuCores / at.calls) * 100).toFixed(1)} % per call, ` +
      `against 1.15 % for figure 4's call with one VAD and text turns): each call runs two Silero VAD streams on its live 16 kHz audio (the ` +
      `session's, and the one LiveKit's stream adapter gives HTTP speech-to-text), the end-of-turn model in this process (in the worker it runs in ` +
      `the shared inference process: the same CPU, another process), and decodes its voices' audio (the OpenAI plugin's AudioByteStream copies ` +
      `its buffer on every write).` +
      (over ? ` At ${over.calls} calls the process was saturated (${(over.cpuCores * 100).toFixed(0)} % of a core): turn → reply ×${over.ratio}, ` +
        `end-of-turn inference ${over.eotInferenceMs.median.toFixed(0)} ms, ${over.misheard} caller lines misheard.` : '');
  }
  const i = r.inspector;
  if (i && !i.target.met) {
    const ip = i.inProcess;
    const sp = i.separateProcess;
    const sd = (x: number, d = 2) => `${x >= 0 ? '+' : ''}${x.toFixed(d)}`;
    out.inspector =
      `with the inspector server in this process (as specified), paired per round: handoff ${pct(ip.pairedHandoffOverheadPct)}, CPU per call ` +
      `${pct(ip.pairedCpuOverheadPct)} (off ${i.off.cpuPerCall.median.toFixed(1)} ms median). Handoff medians off → on: ` +
      `${i.off.handoff.median.toFixed(2)} → ${ip.handoff.median.toFixed(2)} ms (${sd(ip.handoff.median - i.off.handoff.median)} ms); tool call received → tools executed ` +
      `(the machine's send notifies the link, which only queues a snapshot; encoding and sending wait for a later turn of the event loop): ` +
      `${i.off.toolBody.median.toFixed(3)} → ${ip.toolBody.median.toFixed(3)} ms (${sd(ip.toolBody.median - i.off.toolBody.median, 3)} ms); any rest is ` +
      `inspector work landing in the handoff window (messages reaching the server, validated, applied to the call's view, broadcast to the page). ` +
      `CPU in this process includes the server's own work. That work, measured in its own ` +
      `process, is ${i.perCall.serverCpuMs.median.toFixed(1)} ms per call (median; ${i.perCall.messages} messages and one WebSocket per call — opening ` +
      `and closing one costs ${i.perCall.wsOpenCloseCpuMs.median.toFixed(2)} ms CPU, both ends); with the server in another process (production: ` +
      `the worker's inspector) the call's own overhead is handoff ${pct(sp.pairedHandoffOverheadPct)}, CPU ${pct(sp.pairedCpuOverheadPct)}. ` +
      `These calls are CPU-bound (TTFT 0) and short; the per-call figures are noisy on this shared 2-core machine (several %).`;
  }
  const f = r.fleet;
  if (f && !f.target.met) out.fleet = fleetLimit(f);
  const rec = r.records;
  if (rec && !rec.target.met) out.records = recordsMiss(rec);
  return out;
}

/** median / p95 of a latency summary, or `none` when nothing was measured. */
const mp = (x: Summary | undefined) => (x?.n ? `${x.median} / ${x.p95}` : 'none');

/** A level's p95 page update, or that the p95 was a line no page had seen. */
const p95Of = (l: FleetLevel) => (l.p95WithMissingMs === null ? 'not seen' : `${l.p95WithMissingMs}`);

/** Figure 8: what the first level past the limit looked like, and where the time went. */
function fleetLimit(f: FleetResult): string {
  const over = f.levels.find((l) => !l.withinSecond);
  const best = f.best ? `${f.best.calls} live calls from ${f.best.processes} processes within a second` : 'no level within a second';
  if (!over) return `${best}; the steps stopped: ${f.stopped}.`;
  const pct = (x: number | null) => (x === null ? 'n/a' : `${x} %`);
  const saturated = (over.machineBusyPct ?? 0) >= 90;
  return (
    `${best}; stopped ${f.stopped}. There transcript lines took ${over.lineLatency.median} ms (p50) / ${p95Of(over)} ms (p95; ${over.missing} of ` +
    `${over.expected} lines not on a page within ${over.windowS} s + grace), transfers ${mp(over.transferLatency)} ms, ` +
    `new calls ${mp(over.startLatency)} ms; the inspector used ${pct(over.inspector.cpuPct)} of a core ` +
    `(${over.inspector.rssMB} MB), the worker processes ${pct(over.workersCpuPct)}, the pages ${pct(over.pagesCpuPct)}, other processes ` +
    `${pct(over.othersCpuPct)}; the machine was ${pct(over.machineBusyPct)} busy (load ${over.loadAverage[0]})` +
    (saturated
      ? ': saturated — the inspector shares these 2 cores with the simulated workers and pages and whatever else runs, so updates waited for a core. '
      : '. ') +
    `Each change of a call is sent to every page as the call's whole view (${((over.feedPerPage.MBPerS * 1024) / Math.max(1, over.feedPerPage.messagesPerS)).toFixed(1)} KB ` +
    `a message, ${over.feedPerPage.MBPerS} MB/s per page); a page that cannot read that fast falls behind and gets the latest view of each call once it has caught up.`
  );
}

export function renderReport(r: Results): string {
  const m = r.machine;
  const lines: string[] = [
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGB} GB RAM, Node ${m.node}, ${m.platform}; ${m.date}; ` +
      `load average at start ${m.loadAverageAtStart.join(' / ')}${m.loadAverageAtEnd ? `, at end ${m.loadAverageAtEnd.join(' / ')}` : ''}; ` +
      `total ${r.totalRuntimeS ?? '?'} s.`,
    '',
    '| # | figure | result: median / p95 (n) | compared with | target | |',
    '|---|---|---|---|---|---|',
    ...tableRows(r),
  ];
  const misses = explainMisses(r);
  if (Object.keys(misses).length) {
    lines.push('', '**Where the time goes (missed targets)**', '');
    for (const [k, v] of Object.entries(misses)) lines.push(`- ${k}: ${v}`);
  }
  const notes = transferNotes(r.handoff, r.deadAir);
  if (Object.keys(notes).length) {
    lines.push('', '**Where the time goes beyond the targets** (chain hops, transfers with no line, replies not prepared)', '');
    for (const [k, v] of Object.entries(notes)) lines.push(`- ${k}: ${v}`);
  }
  if (r.handoff) lines.push(...handoffSection(r.handoff));
  if (r.deadAir) lines.push(...deadAirSection(r.deadAir));
  lines.push(
    ...historySection(r),
    ...longCallSection(r),
    ...capacitySection(r),
    ...inspectorSection(r),
    ...fleetSection(r),
    ...recordsSection(r),
    ...pathsSection(r),
  );
  return lines.join('\n');
}

function tableRows(r: Results): string[] {
  const rows: string[] = [];
  if (r.handoff) rows.push(handoffRow(r.handoff));
  if (r.deadAir) rows.push(...deadAirRows(r.deadAir));
  const hi = r.history;
  if (hi) {
    const big = hi.rows.find((x) => x.items === 10_000);
    rows.push(
      `| 3 | history copy: \`carriedHistory\` + the agent's tool filter, 10 000 items | ${ms(big?.both, 3)} | ` +
        hi.rows.filter((x) => x.items !== 10_000).map((x) => `${x.items} items ${x.both.median.toFixed(3)} ms`).join(', ') +
        ` | < 5 ms | ${yes(hi.target.met)} |`,
    );
  }
  const c = r.capacity;
  if (c) {
    const at = c.levels.filter((l) => l.mode === 'voice' && l.calls === c.voice.maxCallsWithin20pct).at(-1);
    rows.push(
      `| 4 | voice calls per worker process (VAD on live audio + LLM turns with transfers, TTFT ${c.ttftMs} ms) | ` +
        `${c.voice.maxCallsWithin20pct} concurrent calls within +20 % turn latency${c.voice.firstDegradedLevel ? ` (degraded at ${c.voice.firstDegradedLevel})` : ' (no degradation up to the cap)'}, ` +
        `using ${at ? (at.cpuCores * 100).toFixed(0) : '?'} % of a core (${c.voice.callsPerCoreAtMax} calls per busy core); ${(c.voice.cpuCoresPerCall * 100).toFixed(2)} % of a core and ${c.voice.jsMBPerCall} MB (heap + external) per voice call ⇒ ` +
        `${c.voice.callsPerCoreByCpu} calls per core by CPU | 1 call: turn latency ${c.voice.baselineLatencyMedianMs.toFixed(1)} ms median; text calls: ` +
        `${(c.text.cpuCoresPerCall * 100).toFixed(2)} % of a core, ${c.text.jsMBPerCall} MB per call | ≥ 25 voice calls per core | ${yes(c.target.met)} |`,
    );
  }
  const v = r.voiceCapacity;
  if (v) {
    const at = v.levels.find((l) => l.calls === v.withinBudget)!;
    rows.push(
      `| 4b | whole voice calls per worker process (the voice loop: VAD, local end-of-turn model, STT, LLM, TTS per call; judged: turn committed → agents' next sound, per caller line) | ` +
        `${v.withinBudget} concurrent calls within +20 % of one call's, using ${(at.cpuCores * 100).toFixed(0)} % of a core ⇒ ${v.perCore} calls per busy core | ` +
        v.levels
          .map(
            (l) =>
              `${l.calls} call${l.calls === 1 ? '' : 's'}: ${l.afterTurnByLine.map((x) => x.median.toFixed(0)).join(' / ')} ms (×${l.ratio}), ` +
              `caller-perceived ${l.response.median.toFixed(0)} ms, end-of-turn inference ${l.eotInferenceMs.median.toFixed(0)} ms`,
          )
          .join('; ') +
        ` | ≥ 50 per core | ${yes(v.target.met)} |`,
    );
  }
  const i = r.inspector;
  if (i) {
    rows.push(
      `| 5 | inspector cost (server in-process + link, one page watching; handoff = tool call received → agent_handoff) | handoff ${ms(i.inProcess.handoff)}, CPU per call ${ms(i.inProcess.cpuPerCall, 1)}; ` +
        `overhead (paired per round): handoff ${pct(i.inProcess.pairedHandoffOverheadPct)}, CPU ${pct(i.inProcess.pairedCpuOverheadPct)} | off: handoff ${ms(i.off.handoff)}, CPU ${ms(i.off.cpuPerCall, 1)}; ` +
        `server in another process: handoff ${pct(i.separateProcess.pairedHandoffOverheadPct)}, CPU ${pct(i.separateProcess.pairedCpuOverheadPct)} ` +
        `(+ ${i.perCall.serverCpuMs.median.toFixed(1)} ms CPU per call in the server's process) | < 5 % | ${yes(i.target.met)} |`,
    );
  }
  const f = r.fleet;
  if (f) rows.push(fleetRow(f));
  if (r.records) rows.push(recordsRow(r.records));
  const p = r.paths;
  if (p) {
    const pick = (kind: string, cap: number, human: boolean) => p.rows.find((x) => x.kind === kind && x.cap === cap && x.human === human);
    const s6 = pick('shortest', 6, true);
    const simple = p.rows.filter((x) => x.kind === 'simple' && x.human && x.time).at(-1);
    rows.push(
      `| 6 | model-based path generation (human available) | shortest, cap 6: ${s6?.paths} paths in ${ms(s6?.time)}; ` +
        `simple, cap ${simple?.cap}: ${simple?.paths} paths in ${ms(simple?.time)} | the suite uses simple paths for caps 1–2 and shortest for cap 6 | — | |`,
    );
  }
  return rows;
}

function historySection(r: Results): string[] {
  const hi = r.history;
  if (!hi) return [];
  const lines = ['', `**3. History copy** (ms, median / p95; ${hi.setup})`, ''];
  lines.push('| items | carriedHistory | tool filter (`copy({ toolCtx })`) | both |', '|---|---|---|---|');
  for (const row of hi.rows) {
    const f = (s: Summary) => `${s.median.toFixed(4)} / ${s.p95.toFixed(4)}`;
    lines.push(`| ${row.items} | ${f(row.carriedHistory)} | ${f(row.toolFilter)} | ${f(row.both)} (n=${row.both.n}) |`);
  }
  return lines;
}

/** Figure 7: an 80-turn call's requests under each history policy and budget, side by side. */
export function longCallSection(r: Results): string[] {
  const lc = r.longCall;
  if (!lc) return [];
  const lines = [
    '',
    `**7. Long calls** (${lc.turns} caller turns, four transfers; the scripted server's time to first token grows ${lc.promptMsPer1kTokens} ms per 1,000 prompt tokens). ` +
      `Target: at turn 80 the summarised requests carry ≤ ${lc.target.max}× the tokens of the whole history — ${lc.target.ratioAt80}× (${lc.target.met ? 'met' : 'missed'}).`,
    '',
    '| history | budget | prompt tokens at turn 10 / 40 / 80 | time to first token (ms) at 10 / 40 / 80 | summaries (requests, tokens) | all requests\' prompt tokens + summaries | early facts known at the end | replies that waited for a summary |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const a of lc.arms) {
    const at = (k: 'promptTokens' | 'ttftMs') => ['10', '40', '80'].map((t) => Math.round(a.at[t]![k])).join(' / ');
    lines.push(
      `| ${a.policy} | ${a.budgetTokens || '—'} | ${at('promptTokens')} | ${at('ttftMs')} | ${a.summaries.requests}, ${a.summaries.tokens} | ` +
        `${a.deskPromptTokens + a.summaries.tokens} | ${a.factsKept.right} of ${a.factsKept.of} | ${a.repliesThatWaited} |`,
    );
  }
  return lines;
}

function capacitySection(r: Results): string[] {
  const c = r.capacity;
  if (!c) return [];
  const lines = ['', `**4. Calls per process** (${c.setup})`, ''];
  lines.push(
    '| mode | calls | turn latency median / p95 ms (n) | whole turn median ms | CPU (% of a core) | event loop busy | loop delay p99 ms | heap+external per call MB | errors |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const l of c.levels) {
    lines.push(
      `| ${l.mode} | ${l.calls}${l.repeat ? ' (again)' : ''} | ${l.turnLatency.median.toFixed(1)} / ${l.turnLatency.p95.toFixed(1)} (${l.turnLatency.n}) | ${l.turnWall.median.toFixed(0)} | ` +
        `${(l.cpuCores * 100).toFixed(1)} | ${(l.eventLoopUtilization * 100).toFixed(0)} % | ${l.eventLoopDelayP99Ms} | ${l.jsPerCallMB} | ${l.errors} |`,
    );
  }
  lines.push(
    '',
    `Slopes: voice ${(c.voice.cpuCoresPerCall * 100).toFixed(2)} % of a core, ${c.voice.jsMBPerCall} MB heap+external, ~${c.voice.rssMBPerCall} MB RSS per call; ` +
      `text ${(c.text.cpuCoresPerCall * 100).toFixed(2)} % of a core, ${c.text.jsMBPerCall} MB heap+external, ~${c.text.rssMBPerCall} MB RSS per call. ` +
      `Voice − text: ${((c.voice.cpuCoresPerCall - c.text.cpuCoresPerCall) * 100).toFixed(2)} % of a core and ${(c.voice.jsMBPerCall - c.text.jsMBPerCall).toFixed(2)} MB per call — ` +
      `the VAD: one Silero inference per 32 ms window, and each stream's preallocated speech buffer (${c.vadSpeechBufferMB} MB: 60.5 s at 16 kHz, 16-bit). ` +
      `This process with one call: ${c.processRssWithOneCallMB} MB RSS (LiveKit's worker runs each job in its own process, so in production each call also carries a process).`,
  );
  return lines;
}

function inspectorSection(r: Results): string[] {
  const i = r.inspector;
  if (!i) return [];
  const lines = ['', `**5. Inspector** (${i.setup})`, ''];
  lines.push(
    '| arm | handoff (tool call received → agent_handoff) median / p95 (n) | transfer tool call received → tools executed (median) | CPU per call median / p95 (n) | overhead: medians | overhead: paired per round |',
    '|---|---|---|---|---|---|',
  );
  lines.push(`| off | ${ms(i.off.handoff)} | ${i.off.toolBody.median.toFixed(3)} ms | ${ms(i.off.cpuPerCall, 1)} | | |`);
  for (const [label, a] of [['on, server in this process', i.inProcess], ['on, server in another process', i.separateProcess]] as const) {
    lines.push(
      `| ${label} | ${ms(a.handoff)} | ${a.toolBody.median.toFixed(3)} ms | ${ms(a.cpuPerCall, 1)} | handoff ${pct(a.handoffOverheadPct)}, CPU ${pct(a.cpuOverheadPct)} | ` +
        `handoff ${pct(a.pairedHandoffOverheadPct)}, CPU ${pct(a.pairedCpuOverheadPct)} |`,
    );
  }
  return lines;
}

function fleetRow(f: FleetResult): string {
  const at = f.levels.find((l) => l.calls === f.best?.calls);
  const updates = (l: FleetLevel) =>
    `lines ${l.lineLatency.median} / ${p95Of(l)} ms, transfers ${mp(l.transferLatency)} ms, new calls ${mp(l.startLatency)} ms`;
  const result = at
    ? `${at.calls} live calls from ${at.processes} worker processes: ${at.messagesPerS} messages/s ingested; on the pages ${updates(at)}; ` +
      `inspector ${at.inspector.cpuPct ?? 'n/a'} % of a core, ${at.inspector.rssMB ?? 'n/a'} MB RSS`
    : 'no level within a second';
  return (
    `| 8 | one inspector for a fleet (live calls from many worker processes → updates on the pages, event made → on the page, p50 / p95) | ${result} | ` +
    `stopped ${f.stopped} | ≥ 1,000 calls from ≥ 10 processes within 1 s at p95 | ${yes(f.target.met)} |`
  );
}

/** Figure 8: each level of the fleet, as measured. */
function fleetSection(r: Results): string[] {
  const f = r.fleet;
  if (!f) return [];
  const n = (x: number | null, unit = '') => (x === null || Number.isNaN(x) ? 'n/a' : `${x}${unit}`);
  const lines = ['', `**8. One inspector for a fleet** (${f.setup}).`, ''];
  lines.push(
    '| live calls | processes | calls added, all linked in | messages/s ingested | page update p50 / p95 ms (lines; missing) | transfers; new calls p50 / p95 ms | inspector CPU (% of a core) | inspector RSS MB | workers / pages / other processes CPU (% of a core) | machine busy, load | per page | a page opened now | within 1 s |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  const disturbed = new Set(f.disturbed ?? []);
  for (const l of [...(f.disturbed ?? []), ...f.levels].sort((a, b) => a.calls - b.calls || Number(disturbed.has(b)) - Number(disturbed.has(a)))) {
    lines.push(
      `| ${l.calls}${disturbed.has(l) ? ' (disturbed: measured again)' : ''} | ${l.processes} | ${l.joinS === null ? 'not all' : `${l.joinS} s`} | ${l.messagesPerS} | ${l.lineLatency.median} / ${p95Of(l)} (n=${l.lineLatency.n}; ${l.missing} missing) | ` +
        `${mp(l.transferLatency)} (n=${l.transferLatency.n}); ${mp(l.startLatency)} (n=${l.startLatency?.n ?? 0}) | ${n(l.inspector.cpuPct)} | ${n(l.inspector.rssMB)} | ` +
        `${n(l.workersCpuPct)} / ${n(l.pagesCpuPct)} / ${n(l.othersCpuPct)} | ${n(l.machineBusyPct, ' %')}, ${l.loadAverage[0]} | ${l.feedPerPage.messagesPerS} msg/s, ${l.feedPerPage.MBPerS} MB/s | ` +
        `${l.pageOpen.welcomeMB === null ? 'no welcome' : `welcome ${l.pageOpen.welcomeMB} MB`} in ${l.pageOpen.welcomeMs} ms${l.pageOpen.stayed ? '' : ', not opened'} | ${l.withinSecond ? 'yes' : '**no**'} |`,
    );
  }
  lines.push('', `Past the limit: ${fleetLimit(f)}`);
  return lines;
}

function pathsSection(r: Results): string[] {
  const p = r.paths;
  if (!p) return [];
  const lines = ['', `**6. Path generation** (${p.setup})`, ''];
  lines.push('| kind | cap | human | paths | longest (steps) | time median / p95 ms (n) |', '|---|---|---|---|---|---|');
  for (const row of p.rows) {
    lines.push(
      `| ${row.kind} | ${row.cap} | ${row.human ? 'yes' : 'no'} | ${row.paths ?? '—'} | ${row.maxSteps ?? '—'} | ` +
        `${row.time ? `${row.time.median.toFixed(1)} / ${row.time.p95.toFixed(1)} (${row.time.n})` : '—'}${row.note ? ` — ${row.note}` : ''} |`,
    );
  }
  return lines;
}

const storeName = (k: 'sqlite' | 'postgres') => (k === 'sqlite' ? 'SQLite' : 'PostgreSQL');
const secs = (x: Summary) => `${(x.median / 1000).toFixed(1)} s`;

/** Figure 9: what was over a second, per store. */
function recordsMiss(rec: RecordsResult): string {
  const over: string[] = [];
  for (const s of rec.stores) {
    const parts: [string, Summary][] = [[`the list of ${s.calls} with figures`, s.list10k], ['the first page', s.firstPage], ['the deepest page', s.deepPage], ["one call's detail", s.detail]];
    if (s.builtProcess) parts.push(["the production build's npm run calls", s.builtProcess]);
    for (const [what, x] of parts) if (x.p95 >= rec.target.ms) over.push(`${storeName(s.kind)}: ${what} ${x.p95} ms at p95`);
    if (s.list10k.p95 >= rec.target.ms) over.push(`(of which the store's query ${s.list10kQuery.median} ms)`);
    if (!s.walk.everyCallOnce) over.push(`${storeName(s.kind)}: the pages did not hold every call once, in order`);
  }
  return `${over.join('; ') || 'no store was measured'}.`;
}

/** Figure 9: the row of the summary table. */
function recordsRow(rec: RecordsResult): string {
  const s0 = rec.stores[0];
  const per = (s: RecordsResult['stores'][number]) =>
    `${storeName(s.kind)}: list ${ms(s.list10k, 0)}, first page ${ms(s.firstPage, 1)}, deepest page ${ms(s.deepPage, 1)}, one call ${ms(s.detail, 1)}`;
  const also = rec.stores
    .map((s) => `${storeName(s.kind)}: the whole command ${secs(s.cliProcess)} under tsx, ${s.builtProcess ? secs(s.builtProcess) : '—'} built (${secs(s.cliProcessOneCall)} / ${s.builtProcessOneCall ? secs(s.builtProcessOneCall) : '—'} for one call), every page in turn ${(s.walk.ms / 1000).toFixed(1)} s (${s.walk.pages} pages), ${Math.round(s.bytesPerCall / 1000)} KB a call`)
    .join('; ');
  return (
    `| 9 | call records at scale: ${rec.calls.toLocaleString('en-US')} ended calls${s0 ? ` (${Math.round(s0.events / s0.calls)} events, ${Math.round(s0.turns / s0.calls)} turns each)` : ''} listed with their figures ` +
    `(\`npm run calls -- --limit ${rec.calls}\`'s code), a page of ${rec.pageSize} and one call through the inspector's API | ${rec.stores.map(per).join('; ')}` +
    `${rec.postgresSkipped ? ` (PostgreSQL not measured: ${rec.postgresSkipped})` : ''} | ${also} | < 1 s each (p95) | ${yes(rec.target.met)} |`
  );
}

/** Figure 9: each store's figures. */
function recordsSection(r: Results): string[] {
  const rec = r.records;
  if (!rec) return [];
  const lines = ['', `**9. Call records at scale** (${rec.setup}; ms, median / p95 (n)).`, ''];
  lines.push(
    `| store | size | list ${rec.calls.toLocaleString('en-US')} with figures (the store's query) | \`npm run calls -- --limit ${rec.calls}\` as a process (\`--limit 1\`) | the production build's \`node dist/src/cli/calls.js\` (\`--limit 1\`) | first page | deepest page | every page in turn | one call (events) |`,
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const s of rec.stores) {
    lines.push(
      `| ${storeName(s.kind)} | ${s.MB} MB, ${Math.round(s.bytesPerCall / 1000)} KB a call | ${ms(s.list10k, 0)} (${ms(s.list10kQuery, 0)}) | ${ms(s.cliProcess, 0)} (${ms(s.cliProcessOneCall, 0)}) | ` +
        `${s.builtProcess ? `${ms(s.builtProcess, 0)} (${ms(s.builtProcessOneCall, 0)})` : '—'} | ` +
        `${ms(s.firstPage, 1)} | ${ms(s.deepPage, 1)} | ${s.walk.pages} pages, ${s.walk.calls} calls in ${s.walk.ms.toFixed(0)} ms${s.walk.everyCallOnce ? '' : ' — **not every call once**'} | ${ms(s.detail, 1)} (${s.detailEvents}) |`,
    );
  }
  if (rec.postgresSkipped) lines.push('', `PostgreSQL not measured: ${rec.postgresSkipped}.`);
  return lines;
}
