/**
 * Figure 2 — dead air at a transfer, at two provider speeds, in a room-less voice pipeline: the real
 * OpenAI plugin's LLM and TTS against the scripted server (fixed LLM time to first token and TTS time
 * to first byte, audio as long as the text at a speaking rate, in a child process), and an in-process
 * sink that plays each segment out in real time.
 *
 * - A transfer with a spoken line ("Let me transfer you…"): the old agent's last sample → the new
 *   agent's first sample.
 * - A transfer with no line (the old agent calls the tool without a word): the caller's line committed
 *   (end of the caller's turn) → the new agent's first sample.
 *
 * Three arms: ours (replies prepared while the old line plays: the default), ours with
 * `prepareReplies: false`, and LiveKit's native `llm.handoff`. Every round runs one call of each arm at
 * each speed side by side (mostly idle: they wait on real-time audio), their starts staggered and
 * rotated every round, so machine noise falls on all arms alike.
 * Each call: greeting, then three caller lines giving five transfers — triage → billing with no
 * line, and two chains (billing → triage → sales; sales → triage with no line → support): the middle
 * desk's first reply routes onward at once.
 */
import { ALL_BRIDGE_LINES } from '../src/departments.js';
import { TTS_PADDING } from '../dev/scripted-audio.js';
import type { PreparedStats } from '../src/call/prepared-reply.js';
import {
  type ChildServer,
  PacedSink,
  type Segment,
  type SessionTimeline,
  createBenchCall,
  sleep,
  startChildServer,
  startNativeCall,
  watchSession,
} from './common.js';
import type { CallRequests } from './scripted-child.js';
import { type Summary, summarize } from './stats.js';

export interface Turn {
  line: string;
  /** The desk answering this line transfers without a word. */
  silent?: boolean;
}

export const TURNS: Turn[] = [
  { line: 'I was charged twice on my card', silent: true }, // triage → billing, no line
  { line: 'I also want to upgrade my plan' }, // billing → triage → sales (a chain)
  { line: 'my internet is not working', silent: true }, // sales → triage (no line) → support (a chain)
];

export type Arm = 'ours' | 'oursUnprepared' | 'native';
export const ARMS: Arm[] = ['ours', 'oursUnprepared', 'native'];

export type Stage =
  | 'sinkReport'
  | 'swap'
  | 'userToHandoff'
  | 'toBridge'
  | 'onEnter'
  | 'llm'
  | 'toTts'
  | 'tts'
  | 'sayToFrame'
  | 'prepTtsLead';

export interface TransferSample {
  /** The old agent said a line before its transfer tool call. */
  spoken: boolean;
  /** The new agent's first reply routed onward at once (the middle of a chain). */
  chain: boolean;
  /** The new agent first said its bridging line (cached audio: the old one said nothing). */
  bridged: boolean;
  /** The new agent's reply came with no LLM request after it took the line (a prepared reply played). */
  preparedUsed: boolean;
  /** Spoken: old line's last sample → new agent's first sample. No line: caller's line committed → new agent's first sample. */
  gap: number;
  /** The same, to the first sample of the new agent's reply (after its bridging line, if any). */
  replyGap: number;
  /** Bridged: the bridging line's last sample → the reply's first sample. */
  afterBridge?: number;
  /** `gap` and `replyGap` as heard: from the old line's last sound (not sample) to the new agent's first sound. */
  heardGap: number;
  heardReplyGap: number;
  stages: Partial<Record<Stage, number>>;
}

interface Probes {
  llm: { requestAt: number; firstChunkAt?: number; text?: string }[];
  tts: { at: number; text: string }[];
}

function probes(): { p: Probes; llmProbe: Parameters<typeof createBenchCall>[0]['llmProbe']; ttsProbe: (at: number, text: string) => void } {
  const p: Probes = { llm: [], tts: [] };
  const byRequest = (requestAt: number) => p.llm.find((x) => x.requestAt === requestAt);
  return {
    p,
    llmProbe: {
      onRequest: (at) => p.llm.push({ requestAt: at }),
      onFirstChunk: (at, requestAt) => void (byRequest(requestAt) && (byRequest(requestAt)!.firstChunkAt = at)),
      onDone: (_at, requestAt, text) => void (byRequest(requestAt) && (byRequest(requestAt)!.text = text.trim())),
    },
    ttsProbe: (at, text) => p.tts.push({ at, text: text.trim() }),
  };
}

/**
 * Where the new agent's reply audio came from: its own LLM request after it took the line (stages
 * from `start`: the swap, or the end of its bridging line), or a prepared reply (no request).
 */
function replyStages(p: Probes, item: number, start: number, reply: Segment, prepRequestAt: number | undefined) {
  const req = p.llm.find((r) => r.requestAt >= item && r.requestAt < reply.firstFrameAt);
  if (req) {
    const chunk = req.firstChunkAt ?? Number.NaN;
    const tts = p.tts.find((t) => t.at >= chunk)?.at ?? Number.NaN;
    const stages = { onEnter: req.requestAt - start, llm: chunk - req.requestAt, toTts: tts - chunk, tts: reply.firstFrameAt - tts };
    return { used: false, stages, prepTtsAt: undefined };
  }
  // Prepared: its LLM request was made when the machine accepted the transfer; its speech was
  // synthesized meanwhile (the TTS request carrying the prepared text).
  const prep = prepRequestAt === undefined ? undefined : p.llm.filter((r) => r.requestAt <= prepRequestAt).at(-1);
  const ttsAt = prep?.text ? p.tts.find((t) => t.at >= prep.requestAt && t.text === prep.text)?.at : undefined;
  return { used: true, stages: { sayToFrame: reply.firstFrameAt - start }, prepTtsAt: ttsAt ?? Number.NaN };
}

interface TurnData {
  /** This turn's audio segments, and the lines committed (same order: one line per segment). */
  segs: Segment[];
  said: string[];
  /** agent_handoff item times of this turn's transfers. */
  items: number[];
  userAt: number;
  /** The new agents' first LLM requests (ours: `call.handoffs`; the preparation's when prepared). */
  firstLlm: (number | undefined)[];
  /** Ours: whether each transfer's prepared reply played, from its handoff event (what the product says). */
  played?: boolean[];
}

const BRIDGE_LINES = new Set(ALL_BRIDGE_LINES);

/** When a segment's sound starts and stops as the caller hears it (padding left out). */
const soundStart = (s: Segment) => s.playStartAt + (s.sound?.onsetMs ?? 0);
const soundEnd = (s: Segment) => Math.min(s.playEndAt!, s.playStartAt + (s.sound?.offsetMs ?? Infinity));

/**
 * The transfers of one caller turn. A segment belongs to the agent on the line when its first frame
 * came (after agent_handoff item j: transfer j's new agent); the old line of transfer j is the last
 * segment before item j in this turn; a new agent's first segment is its bridging line or its reply.
 */
function transfersOfTurn(t: TurnData, p: Probes, label: string): TransferSample[] {
  const k = t.items.length;
  if (k === 0 || t.said.length !== t.segs.length) throw new Error(`${label}: ${k} transfers, ${t.segs.length} audio segments, ${t.said.length} lines`);
  const owner = (s: Segment) => t.items.filter((at) => at <= s.firstFrameAt).length;
  const segs = t.segs.map((s, i) => ({ s, owner: owner(s), bridge: BRIDGE_LINES.has(t.said[i]!) }));
  return t.items.map((item, j) => {
    const mine = segs.filter((x) => x.owner === j + 1);
    const old = segs.filter((x) => x.owner === j).at(-1)?.s ?? null;
    if (!mine.length || (mine[0]!.bridge && mine.length < 2)) throw new Error(`${label}: transfer ${j + 1} has no reply audio`);
    const bridged = mine[0]!.bridge;
    const first = mine[0]!.s;
    const reply = bridged ? mine[1]!.s : first;
    const from = old ? old.playEndAt! : t.userAt;
    const heardFrom = old ? soundEnd(old) : t.userAt;
    const start = bridged ? first.reportedAt! : item;
    const r = replyStages(p, item, start, reply, t.firstLlm[j]);
    const stages: Partial<Record<Stage, number>> = {
      ...(old ? { sinkReport: old.reportedAt! - old.playEndAt!, swap: item - old.reportedAt! } : { userToHandoff: item - t.userAt }),
      ...(bridged ? { toBridge: first.firstFrameAt - item } : {}),
      ...r.stages,
    };
    // Prepared: how long before it was needed (the old line's end, the bridge's end, or the swap) its speech was requested.
    if (r.prepTtsAt !== undefined) stages.prepTtsLead = (bridged ? first.playEndAt! : old ? old.playEndAt! : item) - r.prepTtsAt;
    return {
      spoken: !!old,
      chain: j < k - 1,
      bridged,
      preparedUsed: t.played?.[j] ?? r.used,
      gap: first.playStartAt - from,
      replyGap: reply.playStartAt - from,
      ...(bridged ? { afterBridge: reply.playStartAt - first.playEndAt! } : {}),
      heardGap: soundStart(first) - heardFrom,
      heardReplyGap: soundStart(reply) - heardFrom,
      stages,
    };
  });
}

export interface CallRun {
  samples: TransferSample[];
  transfers: number;
  server: CallRequests;
  prepared: PreparedStats | null;
  /** TTS requests the call made (the bench's TTS instances), and their characters. */
  tts: { requests: number; chars: number };
}

interface Line {
  callId: string;
  timeline: SessionTimeline;
  run: (line: string) => Promise<void>;
  firstLlmOf: (i: number) => number | undefined;
  prepared: () => PreparedStats | null;
  /** The agents' lines so far, as the call tells them (ours: its events, bridging lines included). */
  said: () => string[];
  /** Ours: whether each transfer so far played its prepared reply, as its handoff event's stages say. */
  preparedPlayed: () => boolean[];
  close: () => Promise<unknown>;
}

async function openLine(arm: Arm, url: string, sink: PacedSink, pr: ReturnType<typeof probes>): Promise<Line> {
  const o = { url, sink, llmProbe: pr.llmProbe, ttsProbe: pr.ttsProbe };
  if (arm === 'native') {
    const c = await startNativeCall(o);
    const timeline = watchSession(c.session);
    return {
      callId: c.callId,
      timeline,
      run: (line) => c.session.run({ userInput: line }).wait().then(() => undefined),
      firstLlmOf: (i) => c.timings.firstLlmAt[i],
      prepared: () => null,
      said: () => timeline.said.map((x) => x.text),
      preparedPlayed: () => [],
      close: c.close,
    };
  }
  const call = createBenchCall({ ...o, prepareReplies: arm === 'ours' });
  const timeline = watchSession(call.session);
  await call.start();
  await call.greeted;
  return {
    callId: call.callId,
    timeline,
    run: (line) => call.session.run({ userInput: line }).wait().then(() => undefined),
    firstLlmOf: (i) => call.handoffs[i]?.firstLlmRequestAt ?? undefined,
    prepared: () => ({ ...call.prepared }),
    // (A bridging line is kept out of the session's history; the call's events tell it.)
    said: () => call.events.flatMap((e) => (e.type === 'agent' && e.text.trim() ? [e.text.trim()] : [])),
    preparedPlayed: () => call.events.flatMap((e) => (e.type === 'handoff' ? [e.stages?.preparedPlayed ?? false] : [])),
    close: () => call.close(),
  };
}

/** One call of one arm through `turns`: every transfer's sample. */
export async function runCall(arm: Arm, server: ChildServer, turns: Turn[]): Promise<CallRun> {
  const sink = new PacedSink();
  const pr = probes();
  const line = await openLine(arm, server.url, sink, pr);
  const tl = line.timeline;
  const samples: TransferSample[] = [];
  for (const [i, turn] of turns.entries()) {
    const from = sink.segments.length;
    const h0 = tl.handoffItems.length;
    const u0 = tl.userCommitted.length;
    const s0 = line.said().length;
    const p0 = line.preparedPlayed().length;
    await line.run(turn.line);
    const items = tl.handoffItems.slice(h0);
    const firstLlm = items.map((_, j) => line.firstLlmOf(h0 + j));
    const said = line.said().slice(s0);
    const played = arm === 'ours' ? line.preparedPlayed().slice(p0) : undefined;
    const data = { segs: sink.segments.slice(from), said, items, userAt: tl.userCommitted[u0] ?? Number.NaN, firstLlm, played };
    samples.push(...transfersOfTurn(data, pr.p, `${arm} turn ${i + 1}`));
  }
  void line.close();
  const tts = { requests: pr.p.tts.length, chars: pr.p.tts.reduce((a, t) => a + t.text.length, 0) };
  return { samples, transfers: tl.handoffItems.length, server: await server.requestsOf(line.callId), prepared: line.prepared(), tts };
}

// ---- the figure -------------------------------------------------------------------------------------

export interface Speed {
  ttftMs: number;
  ttsTtfbMs: number;
}

export interface ArmFigures {
  /** Transfers with a spoken line: old line's last sample → the new agent's first sample. */
  spoken: { all: Summary; direct: Summary; chain: Summary };
  /**
   * Transfers with no line: the caller's line committed → the new agent's first sample (its bridging
   * line, if any), → its reply's first sample (direct transfers, and the middle desk of a chain), and
   * the bridging line's end → the reply.
   */
  silent: { firstAudio: Summary; replyDirect: Summary; replyChain: Summary; afterBridgeDirect: Summary; afterBridgeChain: Summary };
  /**
   * The same seams as the caller hears them, measured in the sound of the played audio (energy ≥ −45 dBFS,
   * the scripted voices padded with silence as real ones are): the old line's last sound (or the caller's
   * line committed) → the new agent's first sound.
   */
  heard: { spoken: { direct: Summary; chain: Summary }; silent: { firstAudio: Summary; replyDirect: Summary; replyChain: Summary } };
  /** Stage medians (ms) by kind of transfer and where the new agent's reply came from. */
  stages: Record<string, Record<string, Summary>>;
  /** Transfers whose new agent played a prepared reply, of all such transfers. */
  preparedPlayed: Record<'spokenDirect' | 'spokenChain' | 'silent', string>;
  serverRequestsPerCall: Summary;
  ttsRequestsPerCall: Summary;
  ttsCharsPerCall: Summary;
}

const KINDS = {
  spokenDirect: (s: TransferSample) => s.spoken && !s.chain,
  spokenChain: (s: TransferSample) => s.spoken && s.chain,
  silent: (s: TransferSample) => !s.spoken,
};

function stageGroups(all: TransferSample[]): Record<string, Record<string, Summary>> {
  const stages: Record<string, Record<string, Summary>> = {};
  for (const spoken of [true, false]) {
    for (const used of [false, true]) {
      const xs = all.filter((s) => s.spoken === spoken && s.preparedUsed === used);
      if (!xs.length) continue;
      const keys = [...new Set(xs.flatMap((s) => Object.keys(s.stages)))] as Stage[];
      stages[`${spoken ? 'spoken' : 'silent'}/${used ? 'prepared' : 'replied'}`] = Object.fromEntries([
        ['gap', summarize(xs.map((s) => s.replyGap))],
        ...keys.map((k) => [k, summarize(xs.map((s) => s.stages[k] ?? Number.NaN))]),
      ]);
    }
  }
  return stages;
}

function armFigures(runs: CallRun[]): ArmFigures {
  const all = runs.flatMap((r) => r.samples);
  const of = (f: (s: TransferSample) => boolean, v: (s: TransferSample) => number | undefined = (s) => s.gap) =>
    summarize(all.filter(f).map((s) => v(s) ?? Number.NaN));
  const played = (f: (s: TransferSample) => boolean) => `${all.filter((s) => f(s) && s.preparedUsed).length}/${all.filter(f).length}`;
  return {
    spoken: { all: of((s) => s.spoken), direct: of(KINDS.spokenDirect), chain: of(KINDS.spokenChain) },
    silent: {
      firstAudio: of(KINDS.silent),
      replyDirect: of((s) => !s.spoken && !s.chain, (s) => s.replyGap),
      replyChain: of((s) => !s.spoken && s.chain, (s) => s.replyGap),
      afterBridgeDirect: of((s) => s.bridged && !s.chain, (s) => s.afterBridge),
      afterBridgeChain: of((s) => s.bridged && s.chain, (s) => s.afterBridge),
    },
    heard: {
      spoken: { direct: of(KINDS.spokenDirect, (s) => s.heardGap), chain: of(KINDS.spokenChain, (s) => s.heardGap) },
      silent: {
        firstAudio: of(KINDS.silent, (s) => s.heardGap),
        replyDirect: of((s) => !s.spoken && !s.chain, (s) => s.heardReplyGap),
        replyChain: of((s) => !s.spoken && s.chain, (s) => s.heardReplyGap),
      },
    },
    stages: stageGroups(all),
    preparedPlayed: { spokenDirect: played(KINDS.spokenDirect), spokenChain: played(KINDS.spokenChain), silent: played(KINDS.silent) },
    serverRequestsPerCall: summarize(runs.map((r) => r.server.requests)),
    ttsRequestsPerCall: summarize(runs.map((r) => r.tts.requests)),
    ttsCharsPerCall: summarize(runs.map((r) => r.tts.chars)),
  };
}

export interface SpeedResult extends Speed {
  /** LLM TTFT + TTS TTFB: a reply that is not prepared cannot start sooner after the swap. */
  floorMs: number;
  calls: number;
  arms: Record<Arm, ArmFigures>;
  /** What preparing replies costs, per transfer (ours vs ours with prepareReplies off, same calls). */
  extra: ExtraCost;
  /** The spoken line's seam, medians: `ratio` over all its transfers, `direct` and `chain` each. */
  target: { text: string; ratio: number; direct: number; chain: number; met: boolean };
  /**
   * A transfer with no line: the first sound's and the reply's ratio to native's as heard (the reply: the
   * worse of direct and chain), judged; `segments`: the same between audio segments.
   */
  silentTarget: { text: string; firstAudio: number; reply: number; segments: { firstAudio: number; reply: number }; met: boolean };
}

export interface ExtraCost {
  transfers: number;
  /** `call.prepared`, summed over ours' calls. */
  prepared: PreparedStats;
  /** From call.prepared: preparation requests, thrown-away ones, and their tokens, per transfer. */
  preparedRequestsPerTransfer: number;
  thrownAwayPerTransfer: number;
  preparedTokensPerTransfer: number;
  /** From the server's log: (ours − ours unprepared) chat requests, usage tokens and prompt characters, per transfer. */
  serverExtraRequestsPerTransfer: number;
  serverExtraUsageTokensPerTransfer: number;
  serverExtraPromptCharsPerTransfer: number;
}

function extraCost(ours: CallRun[], unprepared: CallRun[]): ExtraCost {
  const sum = (rs: CallRun[], f: (r: CallRun) => number) => rs.reduce((a, r) => a + f(r), 0);
  const transfers = sum(ours, (r) => r.transfers);
  const prepared = ours.reduce<PreparedStats>(
    (a, r) => ({
      requests: a.requests + r.prepared!.requests,
      used: a.used + r.prepared!.used,
      thrownAway: a.thrownAway + r.prepared!.thrownAway,
      tokens: a.tokens + r.prepared!.tokens,
    }),
    { requests: 0, used: 0, thrownAway: 0, tokens: 0 },
  );
  const per = (x: number) => Number((x / transfers).toFixed(3));
  // Same script, same transfers: the difference is what preparing cost (unprepared transfers counted alike).
  const scale = transfers / Math.max(1, sum(unprepared, (r) => r.transfers));
  const diff = (f: (r: CallRun) => number) => per(sum(ours, f) - sum(unprepared, f) * scale);
  return {
    transfers,
    prepared,
    preparedRequestsPerTransfer: per(prepared.requests),
    thrownAwayPerTransfer: per(prepared.thrownAway),
    preparedTokensPerTransfer: per(prepared.tokens),
    serverExtraRequestsPerTransfer: diff((r) => r.server.requests),
    serverExtraUsageTokensPerTransfer: diff((r) => r.server.usageTokens),
    serverExtraPromptCharsPerTransfer: diff((r) => r.server.promptChars),
  };
}

/** Every (speed, arm) call of a round side by side, starts staggered, the order rotated every round. */
async function round(servers: ChildServer[], turns: Turn[], r: number, staggerMs: number): Promise<CallRun[][]> {
  const lanes = servers.flatMap((server, si) => ARMS.map((arm, ai) => ({ server, si, ai, arm })));
  const out: CallRun[][] = servers.map(() => []);
  await Promise.all(
    lanes.map(async (lane, k) => {
      await sleep(((k + r) % lanes.length) * staggerMs);
      out[lane.si]![lane.ai] = await runCall(lane.arm, lane.server, turns);
    }),
  );
  return out;
}

function speedResult(speed: Speed, runs: Record<Arm, CallRun[]>): SpeedResult {
  const arms = Object.fromEntries(ARMS.map((a) => [a, armFigures(runs[a])])) as Record<Arm, ArmFigures>;
  const { ours, native } = arms;
  const ratioOf = (a: Summary, b: Summary) => Number(((a.median ?? NaN) / (b.median ?? NaN)).toFixed(3));
  const ratio = ratioOf(ours.spoken.all, native.spoken.all);
  const direct = ratioOf(ours.spoken.direct, native.spoken.direct);
  const chain = ratioOf(ours.spoken.chain, native.spoken.chain);
  // With no line, what the caller waits for is sound: judged as heard (native's clips keep their leading
  // padding, so its segments start before the caller hears anything); the segments' ratios are kept too.
  type Silent = Pick<ArmFigures['silent'], 'firstAudio' | 'replyDirect' | 'replyChain'>;
  const silentRatios = (o: Silent, n: Silent) => ({
    firstAudio: ratioOf(o.firstAudio, n.firstAudio),
    reply: Math.max(ratioOf(o.replyDirect, n.replyDirect), ratioOf(o.replyChain, n.replyChain)),
  });
  const heard = silentRatios(ours.heard.silent, native.heard.silent);
  const segments = silentRatios(ours.silent, native.silent);
  const within50 = (x: Summary) => (x.median ?? Infinity) <= 50;
  return {
    ...speed,
    floorMs: speed.ttftMs + speed.ttsTtfbMs,
    calls: runs.ours.length,
    arms,
    extra: extraCost(runs.ours, runs.oursUnprepared),
    target: {
      text: 'ours (spoken line, direct and middle of a chain) ≤ 50 ms median and ≤ 0.2× native',
      ratio,
      direct,
      chain,
      met: within50(ours.spoken.direct) && within50(ours.spoken.chain) && direct <= 0.2 && chain <= 0.2,
    },
    silentTarget: {
      text: "no line, as heard: ours' first sound ≤ 0.5× native's, its reply (direct and middle of a chain) ≤ 1.0× native's",
      ...heard,
      segments,
      met: heard.firstAudio <= 0.5 && heard.reply <= 1.0,
    },
  };
}

export interface DeadAirOptions {
  speeds: Speed[];
  ttsMsPerChar: number;
  rounds: number;
  staggerMs: number;
  log: (s: string) => void;
}

export interface DeadAirResult {
  speeds: SpeedResult[];
  /** The silence the scripted voices put around each clip (as real ones do): what the heard figures include. */
  padding: { leadMs: number; trailMs: number };
  target: { text: string; met: boolean };
  setup: string;
}

export async function benchDeadAir(o: DeadAirOptions): Promise<DeadAirResult> {
  const silentLines = TURNS.filter((t) => t.silent).map((t) => t.line);
  const servers = await Promise.all(o.speeds.map((sp) => startChildServer({ ...sp, ttsMsPerChar: o.ttsMsPerChar, silentLines })));
  try {
    await round(servers, TURNS.slice(0, 1), 0, o.staggerMs); // warm-up: connections, JIT
    const runs = o.speeds.map((): Record<Arm, CallRun[]> => ({ ours: [], oursUnprepared: [], native: [] }));
    for (let r = 0; r < o.rounds; r++) {
      const got = await round(servers, TURNS, r, o.staggerMs);
      got.forEach((bySpeed, si) => ARMS.forEach((a, ai) => runs[si]![a].push(bySpeed[ai]!)));
      o.log(`  dead air: ${r + 1}/${o.rounds} rounds`);
    }
    const speeds = o.speeds.map((sp, si) => speedResult(sp, runs[si]!));
    return {
      speeds,
      padding: { ...TTS_PADDING },
      target: {
        text:
          'at every speed: a spoken line\'s seam (direct and middle of a chain) ≤ 50 ms median and ≤ 0.2× native; ' +
          'no line, as heard: first sound ≤ 0.5× native, the reply ≤ 1.0× native',
        met: speeds.every((s) => s.target.met && s.silentTarget.met),
      },
      setup:
        `voice: OpenAI LLM + TTS plugins → scripted server (one per speed, in child processes; LLM TTFT / TTS TTFB as given, ` +
        `${o.ttsMsPerChar} ms of audio per character ≈ ${Math.round(1000 / o.ttsMsPerChar)} characters a second), real-time paced ` +
        `in-process sink; per call a greeting and ${TURNS.length} caller lines, 5 transfers: triage → billing with no line; billing → ` +
        `triage → sales (a chain: the middle desk's first reply routes onward); sales → triage with no line → support (a chain); ` +
        `per round one call of each arm at each speed, all ${o.speeds.length * ARMS.length} side by side, starts ${o.staggerMs} ms apart ` +
        `in rotating order; 1 warm-up round (first line only), then ${o.rounds} rounds`,
    };
  } finally {
    await Promise.all(servers.map((sv) => sv.close()));
  }
}
