/**
 * Figure 2 — dead air at a transfer: the end of the old agent's last audio ("Let me transfer you…")
 * → the first audio frame of the new agent, in a room-less voice pipeline: the real OpenAI plugin's LLM
 * and TTS against the scripted server (fixed LLM TTFT and TTS TTFB, in a child process), and an
 * in-process sink that plays each segment out in real time. The floor is LLM TTFT + TTS TTFB.
 * Ours vs LiveKit's native `llm.handoff`, calls alternating.
 */
import { voice } from '@livekit/agents';
import {
  type ChildServer,
  PacedSink,
  type Segment,
  createBenchCall,
  now,
  startChildServer,
  startNativeCall,
} from './common.js';
import { type Summary, summarize } from './stats.js';

/** Each line makes the department on the line say one sentence and transfer (keyword script). */
export const TRANSFER_TURNS = [
  'I was charged twice on my card', // triage → billing
  'I also want to upgrade my plan', // billing → triage
  'yes, upgrade my plan please', // triage → sales
  'my internet is not working', // sales → triage
  'my internet is not working, please fix it', // triage → support
];

interface Stamp {
  deadAir: number;
  /** Scheduled end of the old line → the sink reporting playback finished (timer). */
  sinkReport: number;
  /** Playback finished reported → agent_handoff item (speech done, tool outputs committed, old activity drained, new started). */
  swap: number;
  /** agent_handoff → new agent's first LLM request (onEnter: history copy, generateReply scheduling). */
  onEnter: number;
  /** LLM request → first chunk received (HTTP + the server's TTFT). */
  llm: number;
  /** First LLM chunk → first TTS request (sentence tokenizer, TTS stream set-up). */
  toTts: number;
  /** TTS request → first frame in the sink (HTTP + the server's TTFB + decoding). */
  tts: number;
}

interface Probes {
  llm: { requestAt: number; firstChunkAt?: number }[];
  tts: number[];
  handoffItems: number[];
}

function newProbes(): Probes {
  return { llm: [], tts: [], handoffItems: [] };
}

function llmProbe(p: Probes) {
  return {
    onRequest: (at: number) => p.llm.push({ requestAt: at }),
    onFirstChunk: (at: number, requestAt: number) => {
      const r = p.llm.find((x) => x.requestAt === requestAt);
      if (r) r.firstChunkAt = at;
    },
  };
}

function watchHandoffs(session: voice.AgentSession<any>, p: Probes) { // eslint-disable-line @typescript-eslint/no-explicit-any
  session.on(voice.AgentSessionEventTypes.ConversationItemAdded, ({ item }) => {
    if (item.type === 'agent_handoff' && item.oldAgentId) p.handoffItems.push(now());
  });
}

function stamp(old: Segment, next: Segment, firstLlm: number, p: Probes, handoffIndex: number): Stamp {
  const end = old.playEndAt!;
  const req = p.llm.find((r) => r.requestAt >= firstLlm);
  const firstChunk = req?.firstChunkAt ?? Number.NaN;
  const ttsReq = p.tts.find((t) => t >= firstChunk) ?? Number.NaN;
  const item = p.handoffItems[handoffIndex] ?? Number.NaN;
  return {
    deadAir: next.playStartAt - end,
    sinkReport: (old.reportedAt ?? Number.NaN) - end,
    swap: item - (old.reportedAt ?? Number.NaN),
    onEnter: firstLlm - item,
    llm: firstChunk - (req?.requestAt ?? Number.NaN),
    toTts: ttsReq - firstChunk,
    tts: next.firstFrameAt - ttsReq,
  };
}

function newSegments(sink: PacedSink, from: number, label: string): [Segment, Segment] {
  const segs = sink.segments.slice(from);
  if (segs.length !== 2 || segs[0]!.playEndAt === undefined) {
    throw new Error(`${label}: expected the old line and the new agent's reply (2 segments), got ${segs.length}`);
  }
  return [segs[0]!, segs[1]!];
}

async function oursCall(url: string): Promise<Stamp[]> {
  const sink = new PacedSink();
  const p = newProbes();
  const call = createBenchCall({ url, sink, llmProbe: llmProbe(p), ttsProbe: (at) => p.tts.push(at) });
  watchHandoffs(call.session, p);
  await call.start();
  await call.greeted;
  const out: Stamp[] = [];
  for (const [i, line] of TRANSFER_TURNS.entries()) {
    const from = sink.segments.length;
    await call.session.run({ userInput: line }).wait();
    const [old, next] = newSegments(sink, from, `ours turn ${i + 1}`);
    const h = call.handoffs[i];
    if (!h?.firstLlmRequestAt) throw new Error(`ours turn ${i + 1}: no handoff`);
    out.push(stamp(old, next, h.firstLlmRequestAt, p, i));
  }
  void call.close();
  return out;
}

async function nativeCall(url: string): Promise<Stamp[]> {
  const sink = new PacedSink();
  const p = newProbes();
  const c = await startNativeCall({ url, sink, llmProbe: llmProbe(p), ttsProbe: (at) => p.tts.push(at) });
  watchHandoffs(c.session, p);
  const out: Stamp[] = [];
  for (const [i, line] of TRANSFER_TURNS.entries()) {
    const from = sink.segments.length;
    await c.session.run({ userInput: line }).wait();
    const [old, next] = newSegments(sink, from, `native turn ${i + 1}`);
    const firstLlm = c.timings.firstLlmAt[i];
    if (firstLlm === undefined) throw new Error(`native turn ${i + 1}: no handoff`);
    out.push(stamp(old, next, firstLlm, p, i));
  }
  void c.close();
  return out;
}

export interface DeadAirResult {
  floorMs: number;
  ours: Summary;
  native: Summary;
  oursOverFloor: Summary;
  nativeOverFloor: Summary;
  breakdown: { ours: Record<keyof Omit<Stamp, 'deadAir'>, Summary>; native: Record<keyof Omit<Stamp, 'deadAir'>, Summary> };
  target: { text: string; met: boolean };
  setup: string;
}

export async function benchDeadAir(opts: {
  callsPerArm: number;
  ttftMs: number;
  ttsTtfbMs: number;
  ttsMsPerChar: number;
  log: (s: string) => void;
}): Promise<DeadAirResult> {
  const server: ChildServer = await startChildServer({ ttftMs: opts.ttftMs, ttsTtfbMs: opts.ttsTtfbMs, ttsMsPerChar: opts.ttsMsPerChar });
  try {
    // Warm-up: one call each.
    await oursCall(server.url);
    await nativeCall(server.url);
    const ours: Stamp[] = [];
    const native: Stamp[] = [];
    for (let i = 0; i < opts.callsPerArm; i++) {
      if (i % 2 === 0) {
        ours.push(...(await oursCall(server.url)));
        native.push(...(await nativeCall(server.url)));
      } else {
        native.push(...(await nativeCall(server.url)));
        ours.push(...(await oursCall(server.url)));
      }
      opts.log(`  dead air: ${i + 1}/${opts.callsPerArm} call pairs`);
    }
    const floor = opts.ttftMs + opts.ttsTtfbMs;
    const parts = (xs: Stamp[]) => ({
      sinkReport: summarize(xs.map((s) => s.sinkReport)),
      swap: summarize(xs.map((s) => s.swap)),
      onEnter: summarize(xs.map((s) => s.onEnter)),
      llm: summarize(xs.map((s) => s.llm)),
      toTts: summarize(xs.map((s) => s.toTts)),
      tts: summarize(xs.map((s) => s.tts)),
    });
    const o = summarize(ours.map((s) => s.deadAir));
    return {
      floorMs: floor,
      ours: o,
      native: summarize(native.map((s) => s.deadAir)),
      oursOverFloor: summarize(ours.map((s) => s.deadAir - floor)),
      nativeOverFloor: summarize(native.map((s) => s.deadAir - floor)),
      breakdown: { ours: parts(ours), native: parts(native) },
      target: { text: `ours within 50 ms of the floor (median dead air − ${floor} ms ≤ 50 ms)`, met: o.median - floor <= 50 },
      setup:
        `voice: OpenAI LLM + TTS plugins → scripted server (TTFT ${opts.ttftMs} ms, TTS TTFB ${opts.ttsTtfbMs} ms, ` +
        `${opts.ttsMsPerChar} ms of audio per character), real-time paced in-process sink; ${TRANSFER_TURNS.length} transfers per call ` +
        `(triage→billing→triage→sales→triage→support), 1 warm-up call per arm, then ${opts.callsPerArm} calls per arm alternating`,
    };
  } finally {
    await server.close();
  }
}
