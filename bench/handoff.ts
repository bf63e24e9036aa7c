/**
 * Figure 1 — handoff overhead: the transfer tool call received from the model → the new agent's first
 * LLM request. Three arms on the same harness (room-less session, text mode, real OpenAI plugin, the
 * scripted server in another process with TTFT 0), rotating ABC / BCA / CAB:
 *
 * - ours (`Call`, replies prepared: the default): tool → machine → the new agent's reply requested at
 *   once, while the old turn ends (`PreparedReply`);
 * - ours with `prepareReplies: false`: tool → machine → `session.updateAgent`, the new agent asks on entry;
 * - LiveKit's native `return llm.handoff({ agent })`.
 *
 * Only public data: the LLM instance's stream (the bench's own wrapper: when the tool call arrived and
 * when each request was made), `call.handoffs` (machine accepted, first LLM request), the session's
 * events (`function_tools_executed`, the `agent_handoff` item), and the native agents' own timestamps.
 */
import type { Call } from '../src/call/call.js';
import type { PreparedStats } from '../src/call/prepared-reply.js';
import { type ChildServer, type NativeCall, type SessionTimeline, startBenchCall, startChildServer, startNativeCall, watchSession } from './common.js';
import type { CallRequests } from './scripted-child.js';
import { type Summary, summarize } from './stats.js';

export const USER_LINE = 'I was charged twice on my card';

export type HandoffArm = 'ours' | 'oursUnprepared' | 'native';
const ARMS: HandoffArm[] = ['ours', 'oursUnprepared', 'native'];

/** Milestones of one transfer, in ms after the tool call was received from the model (NaN: not in this arm). */
export interface Milestones {
  /** Ours: the machine accepted the transfer (`HandoffTiming.requestedAt`). Native: the tool's execute entered. */
  accepted: number;
  /** Native: the tool returned `llm.handoff(...)`. */
  toolReturned: number;
  /** function_tools_executed: the turn's tool outputs collected. */
  toolsExecuted: number;
  /** The agent_handoff item: the new agent is the session's agent. */
  handoffItem: number;
  /** Native: the new agent's onEnter. */
  onEnter: number;
  /** The new agent's first LLM request (ours: the preparation's when a reply is prepared). */
  firstLlm: number;
}

interface Sample extends Milestones {
  /** Ours: `HandoffTiming.latencyMs`, what the call publishes (machine accepted → first LLM request). */
  recorded: number;
  server: CallRequests;
  prepared?: PreparedStats;
}

/** Times when the probe saw the first transfer tool call arrive, and each LLM request. */
function llmTimes() {
  const t = { toolCallAt: Number.NaN, requests: [] as number[] };
  const probe = {
    onRequest: (at: number) => t.requests.push(at),
    onToolCalls: (at: number, _req: number, names: string[]) => {
      if (Number.isNaN(t.toolCallAt) && names.some((n) => n.startsWith('pass_control_to_'))) t.toolCallAt = at;
    },
  };
  return { t, probe };
}

const rel = (x: number | null | undefined, t0: number) => (x === null || x === undefined ? Number.NaN : x - t0);

type Run = { sample: Sample; closed: Promise<unknown> };

async function oursOnce(server: ChildServer, prepareReplies: boolean): Promise<Run> {
  const { t, probe } = llmTimes();
  const call: Call = await startBenchCall({ url: server.url, llmProbe: probe, prepareReplies });
  const s: SessionTimeline = watchSession(call.session);
  await call.session.run({ userInput: USER_LINE }).wait();
  const h = call.handoffs[0];
  if (!h || h.firstLlmRequestAt === null || h.to !== 'billing' || call.handoffs.length !== 1) {
    throw new Error(`ours: expected one handoff to billing (${JSON.stringify(call.handoffs)})`);
  }
  const t0 = t.toolCallAt;
  return {
    sample: {
      accepted: rel(h.requestedAt, t0),
      toolReturned: Number.NaN,
      toolsExecuted: rel(s.toolsExecuted[0], t0),
      handoffItem: rel(s.handoffItems[0], t0),
      onEnter: Number.NaN,
      firstLlm: rel(h.firstLlmRequestAt, t0),
      recorded: h.latencyMs!,
      server: await server.requestsOf(call.callId),
      prepared: { ...call.prepared },
    },
    // Closing a session takes ~0.5 s of idle waiting inside the framework: not awaited per sample.
    closed: call.close(),
  };
}

async function nativeOnce(server: ChildServer): Promise<Run> {
  const { t, probe } = llmTimes();
  const c: NativeCall = await startNativeCall({ url: server.url, llmProbe: probe });
  const s = watchSession(c.session);
  await c.session.run({ userInput: USER_LINE }).wait();
  const n = c.timings;
  if (n.toolEnteredAt.length !== 1 || n.firstLlmAt.length !== 1) throw new Error(`native: expected one handoff, got ${JSON.stringify(n)}`);
  const t0 = t.toolCallAt;
  return {
    sample: {
      accepted: rel(n.toolEnteredAt[0], t0),
      toolReturned: rel(n.toolReturnedAt[0], t0),
      toolsExecuted: rel(s.toolsExecuted[0], t0),
      handoffItem: rel(s.handoffItems[0], t0),
      onEnter: rel(n.enteredAt[0], t0),
      firstLlm: rel(n.firstLlmAt[0], t0),
      recorded: Number.NaN,
      server: await server.requestsOf(c.callId),
    },
    closed: c.close(),
  };
}

export interface HandoffArmResult {
  /** Tool call received → the new agent's first LLM request. */
  total: Summary;
  /** Medians of each milestone after the tool call was received. */
  milestones: Record<keyof Milestones, Summary>;
  /** Chat requests per call as the server logged them (greeting, the transfer turn, the new agent's reply). */
  serverRequestsPerCall: Summary;
}

export interface HandoffResult {
  arms: Record<HandoffArm, HandoffArmResult>;
  /** Ours: `call.handoffs[].latencyMs` (machine accepted → first LLM request). */
  oursRecordedLatencyMs: Summary;
  /** Sum over the ours arm's calls of `call.prepared`. */
  oursPrepared: PreparedStats;
  ratioOfMedians: number;
  ratioOfP95: number;
  /** The same with replies not prepared. */
  unpreparedRatioOfMedians: number;
  target: { text: string; withinRatio: boolean; under10ms: boolean; met: boolean };
  setup: string;
}

function summarizeArm(xs: Sample[]): HandoffArmResult {
  const keys: (keyof Milestones)[] = ['accepted', 'toolReturned', 'toolsExecuted', 'handoffItem', 'onEnter', 'firstLlm'];
  return {
    total: summarize(xs.map((s) => s.firstLlm)),
    milestones: Object.fromEntries(keys.map((k) => [k, summarize(xs.map((s) => s[k]))])) as Record<keyof Milestones, Summary>,
    serverRequestsPerCall: summarize(xs.map((s) => s.server.requests)),
  };
}

async function collect(server: ChildServer, opts: { warmup: number; n: number; log: (s: string) => void }): Promise<Record<HandoffArm, Sample[]>> {
  const once = (arm: HandoffArm) => (arm === 'native' ? nativeOnce(server) : oursOnce(server, arm === 'ours'));
  let closing: Promise<unknown>[] = [];
  const settle = async () => {
    await Promise.allSettled(closing);
    closing = [];
  };
  for (let i = 0; i < opts.warmup; i++) for (const arm of ARMS) closing.push((await once(arm)).closed);
  await settle();
  const samples: Record<HandoffArm, Sample[]> = { ours: [], oursUnprepared: [], native: [] };
  for (let i = 0; i < opts.n; i++) {
    // Rotate which arm goes first: ABC, BCA, CAB.
    for (let k = 0; k < ARMS.length; k++) {
      const arm = ARMS[(i + k) % ARMS.length]!;
      const r = await once(arm);
      samples[arm].push(r.sample);
      closing.push(r.closed);
    }
    // Let the closing sessions finish between blocks (outside any measured interval).
    if ((i + 1) % 10 === 0) await settle();
    if ((i + 1) % 50 === 0) opts.log(`  handoff: ${i + 1}/${opts.n} rounds`);
  }
  await settle();
  return samples;
}

export async function benchHandoff(opts: { warmup: number; n: number; log: (s: string) => void }): Promise<HandoffResult> {
  const server: ChildServer = await startChildServer({ ttftMs: 0 });
  try {
    const samples = await collect(server, opts);
    const arms = Object.fromEntries(ARMS.map((a) => [a, summarizeArm(samples[a])])) as Record<HandoffArm, HandoffArmResult>;
    const o = arms.ours.total;
    const nat = arms.native.total;
    const ratio = o.median / nat.median;
    const withinRatio = ratio <= 1.1;
    const under10ms = o.median < 10;
    const prepared = samples.ours.reduce<PreparedStats>(
      (acc, s) => ({
        requests: acc.requests + s.prepared!.requests,
        used: acc.used + s.prepared!.used,
        thrownAway: acc.thrownAway + s.prepared!.thrownAway,
        tokens: acc.tokens + s.prepared!.tokens,
      }),
      { requests: 0, used: 0, thrownAway: 0, tokens: 0 },
    );
    return {
      arms,
      oursRecordedLatencyMs: summarize(samples.ours.map((s) => s.recorded)),
      oursPrepared: prepared,
      ratioOfMedians: Number(ratio.toFixed(3)),
      ratioOfP95: Number((o.p95 / nat.p95).toFixed(3)),
      unpreparedRatioOfMedians: Number((arms.oursUnprepared.total.median / nat.median).toFixed(3)),
      target: { text: 'ours within 1.10× of native (medians) and under 10 ms (median)', withinRatio, under10ms, met: withinRatio && under10ms },
      setup:
        `text mode, TTFT 0 ms, caller line "${USER_LINE}" → Triage says one line + calls pass_control_to_billing; ` +
        `${opts.warmup} warm-up rounds, then ${opts.n} rounds of the 3 arms in rotating order; scripted server in a child process; ` +
        `t = 0 when the plugin's stream delivered the tool call (the bench's wrapper of its own LLM instance)`,
    };
  } finally {
    await server.close();
  }
}
