/** Renders bench results as Markdown (the console output and the README section), and explains misses. */
import type { Results } from './run.js';
import type { Summary } from './stats.js';

const ms = (s: Summary | null | undefined, d = 2) => (s && s.n ? `${s.median.toFixed(d)} / ${s.p95.toFixed(d)} ms (n=${s.n})` : 'n/a');
const yes = (b: boolean) => (b ? 'met' : '**missed**');
const pct = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)} %`;

/** For each missed target: where the time goes, in a sentence or two (also stored in results.json). */
export function explainMisses(r: Results): Record<string, string> {
  const out: Record<string, string> = {};
  const h = r.handoff;
  if (h && !h.target.met) {
    const o = h.breakdown.ours;
    const n = h.breakdown.native;
    const d = (a: Summary, b: Summary) => `${(a.median - b.median >= 0 ? '+' : '')}${(a.median - b.median).toFixed(2)} ms`;
    out.handoff =
      `ours ${h.ours.median.toFixed(2)} ms vs native ${h.native.median.toFixed(2)} ms (median; ${h.ratioOfMedians}×; p95 ratio ${h.ratioOfP95}×). ` +
      `Stage medians, ours vs native: tool body ${o.toolBody.median.toFixed(2)} vs ${n.toolBody.median.toFixed(2)} ms (${d(o.toolBody, n.toolBody)}: ` +
      `the routing machine's send, the subscriber and building the next agent, ending in updateAgent at ${o.updateAgentAt.median.toFixed(2)} ms; ` +
      `native only builds its agent); tool returned → function_tools_executed ${o.toToolsExecuted.median.toFixed(2)} vs ${n.toToolsExecuted.median.toFixed(2)} ms ` +
      `(${d(o.toToolsExecuted, n.toToolsExecuted)}: updateAgent called inside the tool starts the framework's transition task, which interleaves with the ` +
      `end of the tool turn); function_tools_executed → agent_handoff ${o.toHandoffItem.median.toFixed(2)} vs ${n.toHandoffItem.median.toFixed(2)} ms ` +
      `(${d(o.toHandoffItem, n.toHandoffItem)}: that part of the drain is already done); agent_handoff → onEnter ${o.toOnEnter.median.toFixed(2)} vs ` +
      `${n.toOnEnter.median.toFixed(2)} ms; onEnter → first LLM request ${o.toLlm.median.toFixed(2)} vs ${n.toLlm.median.toFixed(2)} ms. ` +
      `The absolute gap is ${(h.ours.median - h.native.median).toFixed(2)} ms per transfer, far below the LLM's time to first token.`;
  }
  const da = r.deadAir;
  if (da && !da.target.met) {
    const b = da.breakdown.ours;
    out.deadAir =
      `dead air ${da.ours.median.toFixed(1)} ms vs floor ${da.floorMs} ms: swap ${b.swap.median.toFixed(1)} ms, onEnter ${b.onEnter.median.toFixed(1)} ms, ` +
      `LLM request→first chunk ${b.llm.median.toFixed(1)} ms, first chunk→TTS request ${b.toTts.median.toFixed(1)} ms, TTS request→first frame ${b.tts.median.toFixed(1)} ms.`;
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
  const i = r.inspector;
  if (i && !i.target.met) {
    const ip = i.inProcess;
    const sp = i.separateProcess;
    const sd = (x: number, d = 2) => `${x >= 0 ? '+' : ''}${x.toFixed(d)}`;
    out.inspector =
      `with the inspector server in this process (as specified), paired per round: handoff ${pct(ip.pairedHandoffOverheadPct)}, CPU per call ` +
      `${pct(ip.pairedCpuOverheadPct)} (off ${i.off.cpuPerCall.median.toFixed(1)} ms median). Handoff medians off → on: ` +
      `${i.off.handoff.median.toFixed(2)} → ${ip.handoff.median.toFixed(2)} ms (${sd(ip.handoff.median - i.off.handoff.median)} ms); inside the transfer tool ` +
      `(the machine's send notifies the link, which only queues a snapshot; encoding and sending wait for a later turn of the event loop): ` +
      `${i.off.toolBody.median.toFixed(3)} → ${ip.toolBody.median.toFixed(3)} ms (${sd(ip.toolBody.median - i.off.toolBody.median, 3)} ms); any rest is ` +
      `inspector work landing in the handoff window (messages reaching the server, validated, applied to the call's view, broadcast to the page). ` +
      `CPU in this process includes the server's own work. That work, measured in its own ` +
      `process, is ${i.perCall.serverCpuMs.median.toFixed(1)} ms per call (median; ${i.perCall.messages} messages and one WebSocket per call — opening ` +
      `and closing one costs ${i.perCall.wsOpenCloseCpuMs.median.toFixed(2)} ms CPU, both ends); with the server in another process (production: ` +
      `the worker's inspector) the call's own overhead is handoff ${pct(sp.pairedHandoffOverheadPct)}, CPU ${pct(sp.pairedCpuOverheadPct)}. ` +
      `These calls are CPU-bound (TTFT 0) and short; the per-call figures are noisy on this shared 2-core machine (several %).`;
  }
  return out;
}

export function renderReport(r: Results): string {
  const m = r.machine;
  const lines: string[] = [];
  lines.push(
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGB} GB RAM, Node ${m.node}, ${m.platform}; ${m.date}; ` +
      `load average at start ${m.loadAverageAtStart.join(' / ')}${m.loadAverageAtEnd ? `, at end ${m.loadAverageAtEnd.join(' / ')}` : ''}; ` +
      `total ${r.totalRuntimeS ?? '?'} s.`,
  );
  lines.push('');
  lines.push('| # | figure | result: median / p95 (n) | compared with | target | |');
  lines.push('|---|---|---|---|---|---|');
  const h = r.handoff;
  if (h) {
    lines.push(
      `| 1 | handoff overhead: transfer tool entered → new agent's first LLM request (text mode) | ours ${ms(h.ours)} | ` +
        `native \`llm.handoff\` ${ms(h.native)}; ratio ${h.ratioOfMedians}× (p95 ${h.ratioOfP95}×) | ≤ 1.05× native and < 10 ms | ` +
        `1.05×: ${yes(h.target.withinRatio)}; < 10 ms: ${yes(h.target.under10ms)} |`,
    );
  }
  const da = r.deadAir;
  if (da) {
    lines.push(
      `| 2 | dead air at a transfer: old agent's last audio ends → new agent's first audio frame | ours ${ms(da.ours, 1)}; over the floor ${ms(da.oursOverFloor, 1)} | ` +
        `floor ${da.floorMs} ms (LLM TTFT + TTS TTFB); native ${ms(da.native, 1)} | ≤ floor + 50 ms | ${yes(da.target.met)} |`,
    );
  }
  const hi = r.history;
  if (hi) {
    const big = hi.rows.find((x) => x.items === 10_000);
    lines.push(
      `| 3 | history copy: \`carriedHistory\` + the agent's tool filter, 10 000 items | ${ms(big?.both, 3)} | ` +
        hi.rows.filter((x) => x.items !== 10_000).map((x) => `${x.items} items ${x.both.median.toFixed(3)} ms`).join(', ') +
        ` | < 5 ms | ${yes(hi.target.met)} |`,
    );
  }
  const c = r.capacity;
  if (c) {
    const at = c.levels.filter((l) => l.mode === 'voice' && l.calls === c.voice.maxCallsWithin20pct).at(-1);
    lines.push(
      `| 4 | voice calls per worker process (VAD on live audio + LLM turns with transfers, TTFT ${c.ttftMs} ms) | ` +
        `${c.voice.maxCallsWithin20pct} concurrent calls within +20 % turn latency${c.voice.firstDegradedLevel ? ` (degraded at ${c.voice.firstDegradedLevel})` : ' (no degradation up to the cap)'}, ` +
        `using ${at ? (at.cpuCores * 100).toFixed(0) : '?'} % of a core (${c.voice.callsPerCoreAtMax} calls per busy core); ${(c.voice.cpuCoresPerCall * 100).toFixed(2)} % of a core and ${c.voice.jsMBPerCall} MB (heap + external) per voice call ⇒ ` +
        `${c.voice.callsPerCoreByCpu} calls per core by CPU | 1 call: turn latency ${c.voice.baselineLatencyMedianMs.toFixed(1)} ms median; text calls: ` +
        `${(c.text.cpuCoresPerCall * 100).toFixed(2)} % of a core, ${c.text.jsMBPerCall} MB per call | ≥ 25 voice calls per core | ${yes(c.target.met)} |`,
    );
  }
  const i = r.inspector;
  if (i) {
    lines.push(
      `| 5 | inspector cost (server in-process + link, one page watching) | handoff ${ms(i.inProcess.handoff)}, CPU per call ${ms(i.inProcess.cpuPerCall, 1)}; ` +
        `overhead (paired per round): handoff ${pct(i.inProcess.pairedHandoffOverheadPct)}, CPU ${pct(i.inProcess.pairedCpuOverheadPct)} | off: handoff ${ms(i.off.handoff)}, CPU ${ms(i.off.cpuPerCall, 1)}; ` +
        `server in another process: handoff ${pct(i.separateProcess.pairedHandoffOverheadPct)}, CPU ${pct(i.separateProcess.pairedCpuOverheadPct)} ` +
        `(+ ${i.perCall.serverCpuMs.median.toFixed(1)} ms CPU per call in the server's process) | < 5 % | ${yes(i.target.met)} |`,
    );
  }
  const p = r.paths;
  if (p) {
    const pick = (kind: string, cap: number, human: boolean) => p.rows.find((x) => x.kind === kind && x.cap === cap && x.human === human);
    const s6 = pick('shortest', 6, true);
    const simple = p.rows.filter((x) => x.kind === 'simple' && x.human && x.time).at(-1);
    lines.push(
      `| 6 | model-based path generation (human available) | shortest, cap 6: ${s6?.paths} paths in ${ms(s6?.time)}; ` +
        `simple, cap ${simple?.cap}: ${simple?.paths} paths in ${ms(simple?.time)} | the suite uses simple paths for caps 1–2 and shortest for cap 6 | — | |`,
    );
  }

  const misses = explainMisses(r);
  if (Object.keys(misses).length) {
    lines.push('', '**Where the time goes (missed targets)**', '');
    for (const [k, v] of Object.entries(misses)) lines.push(`- ${k}: ${v}`);
  }

  if (h) {
    lines.push('', `**1. Handoff stages** (medians, ms; ${h.setup})`, '');
    lines.push('| stage | ours | native |', '|---|---|---|');
    const rows: [string, keyof typeof h.breakdown.ours][] = [
      ['tool entered → tool returned', 'toolBody'],
      ['tool returned → function_tools_executed', 'toToolsExecuted'],
      ['function_tools_executed → agent_handoff item', 'toHandoffItem'],
      ['agent_handoff item → new agent onEnter', 'toOnEnter'],
      ['onEnter → first LLM request', 'toLlm'],
      ['(tool entered → session.updateAgent called)', 'updateAgentAt'],
    ];
    for (const [label, key] of rows) {
      lines.push(`| ${label} | ${h.breakdown.ours[key].median.toFixed(3)} | ${h.breakdown.native[key].median.toFixed(3)} |`);
    }
    lines.push(`| **total** (p95) | **${h.ours.median.toFixed(3)}** (${h.ours.p95.toFixed(2)}) | **${h.native.median.toFixed(3)}** (${h.native.p95.toFixed(2)}) |`);
  }
  if (da) {
    lines.push('', `**2. Dead air stages** (medians, ms; ${da.setup})`, '');
    lines.push('| stage | ours | native |', '|---|---|---|');
    const rows: [string, keyof typeof da.breakdown.ours][] = [
      ["old line's last sample → sink reports playback finished", 'sinkReport'],
      ['playback finished → agent_handoff (speech done, swap)', 'swap'],
      ['agent_handoff → first LLM request (onEnter)', 'onEnter'],
      ['LLM request → first chunk (server TTFT + HTTP)', 'llm'],
      ['first chunk → first TTS request (sentence tokenizer)', 'toTts'],
      ['TTS request → first frame (server TTFB + HTTP + decoding)', 'tts'],
    ];
    for (const [label, key] of rows) {
      lines.push(`| ${label} | ${da.breakdown.ours[key].median.toFixed(1)} | ${da.breakdown.native[key].median.toFixed(1)} |`);
    }
    lines.push(`| **dead air** (p95) | **${da.ours.median.toFixed(1)}** (${da.ours.p95.toFixed(1)}) | **${da.native.median.toFixed(1)}** (${da.native.p95.toFixed(1)}) |`);
  }
  if (hi) {
    lines.push('', `**3. History copy** (ms, median / p95; ${hi.setup})`, '');
    lines.push('| items | carriedHistory | tool filter (`copy({ toolCtx })`) | both |', '|---|---|---|---|');
    for (const row of hi.rows) {
      const f = (s: Summary) => `${s.median.toFixed(4)} / ${s.p95.toFixed(4)}`;
      lines.push(`| ${row.items} | ${f(row.carriedHistory)} | ${f(row.toolFilter)} | ${f(row.both)} (n=${row.both.n}) |`);
    }
  }
  if (c) {
    lines.push('', `**4. Calls per process** (${c.setup})`, '');
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
  }
  if (i) {
    lines.push('', `**5. Inspector** (${i.setup})`, '');
    lines.push(
      '| arm | handoff median / p95 (n) | of which the transfer tool (median) | CPU per call median / p95 (n) | overhead: medians | overhead: paired per round |',
      '|---|---|---|---|---|---|',
    );
    lines.push(`| off | ${ms(i.off.handoff)} | ${i.off.toolBody.median.toFixed(3)} ms | ${ms(i.off.cpuPerCall, 1)} | | |`);
    for (const [label, a] of [['on, server in this process', i.inProcess], ['on, server in another process', i.separateProcess]] as const) {
      lines.push(
        `| ${label} | ${ms(a.handoff)} | ${a.toolBody.median.toFixed(3)} ms | ${ms(a.cpuPerCall, 1)} | handoff ${pct(a.handoffOverheadPct)}, CPU ${pct(a.cpuOverheadPct)} | ` +
          `handoff ${pct(a.pairedHandoffOverheadPct)}, CPU ${pct(a.pairedCpuOverheadPct)} |`,
      );
    }
  }
  if (p) {
    lines.push('', `**6. Path generation** (${p.setup})`, '');
    lines.push('| kind | cap | human | paths | longest (steps) | time median / p95 ms (n) |', '|---|---|---|---|---|---|');
    for (const row of p.rows) {
      lines.push(
        `| ${row.kind} | ${row.cap} | ${row.human ? 'yes' : 'no'} | ${row.paths ?? '—'} | ${row.maxSteps ?? '—'} | ` +
          `${row.time ? `${row.time.median.toFixed(1)} / ${row.time.p95.toFixed(1)} (${row.time.n})` : '—'}${row.note ? ` — ${row.note}` : ''} |`,
      );
    }
  }
  return lines.join('\n');
}
