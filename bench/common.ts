/**
 * Shared plumbing for the benchmarks: the scripted server in a child process (with its per-call
 * request log), calls through the real orchestrator (ours) and a minimal native `llm.handoff` pair
 * (LiveKit's way) on the same harness, an in-process audio sink that plays out in real time, and light
 * instrumentation. The bench only reads public data: the call's `handoffs`, `events` and `prepared`,
 * the session's events (`watchSession`), and wrappers of the LLM and TTS instances the bench itself
 * creates (`probeLLM`, `probeTTS`: timestamps, nothing changed in their behaviour). Nothing in the
 * product is patched.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { initializeLogger, llm, voice } from '@livekit/agents';
import * as openai from '@livekit/agents-plugin-openai';
import type { AudioFrame } from '@livekit/rtc-node';
import { z } from 'zod';
import { ROUTES, type Target } from '../machines/router.js';
import { DEPARTMENT_TABLE, instructionsFor, openingFor } from '../src/departments.js';
import { Call } from '../src/call/call.js';
import type { CallOptions } from '../src/call/options.js';
import { type CallData } from '../src/call/agent.js';
import { callerInfoParam, toolName } from '../src/call/tools.js';
import { carriedHistory } from '../src/call/context.js';
import { concatSamples, soundBounds } from '../src/call/sound.js';
import type { CallRequests, ChildServerOptions } from './scripted-child.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = () => performance.now();

/** LiveKit's logger at 'fatal' (BENCH_LOG_LEVEL overrides): the bench prints only its own progress. */
export function initBenchLogging(): void {
  initializeLogger({ pretty: false, level: process.env.BENCH_LOG_LEVEL ?? 'fatal' });
}

const gcFn = (globalThis as { gc?: () => void }).gc;
export const hasGc = typeof gcFn === 'function';
/** A full GC (twice, for finalizers) when the process runs with --expose-gc. */
export async function fullGc(): Promise<void> {
  if (!gcFn) return;
  gcFn();
  await sleep(20);
  gcFn();
}

// ---- the scripted server in its own process -------------------------------------------------------

export interface ChildServer {
  url: string;
  pid: number;
  /** The server's log of one call's chat requests (by the call's API key), then forgotten there. */
  requestsOf(callId: string): Promise<CallRequests>;
  close(): Promise<void>;
}

export async function startChildServer(opts: ChildServerOptions): Promise<ChildServer> {
  const { info, ask, close } = await spawnBenchChild('./scripted-child.ts', opts);
  return {
    url: info.url as string,
    pid: info.pid as number,
    requestsOf: async (callId) => (await ask(`requests ${callId}`)) as unknown as CallRequests,
    close,
  };
}

/**
 * Runs another bench script in its own process (same node and tsx loader flags, minus --expose-gc):
 * options as one JSON argument, one JSON line back on stdout; it exits when its stdin closes.
 */
export async function spawnBenchChild(
  relPath: string,
  opts: unknown,
): Promise<{ info: Record<string, unknown>; ask: (line: string) => Promise<Record<string, unknown>>; close: () => Promise<void> }> {
  const script = fileURLToPath(new URL(relPath, import.meta.url));
  const execArgv = process.execArgv.filter((a) => a !== '--expose-gc');
  const child: ChildProcess = spawn(process.execPath, [...execArgv, script, JSON.stringify(opts)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env },
  });
  const rl = createInterface({ input: child.stdout! });
  const waiting: ((l: string) => void)[] = [];
  rl.on('line', (l) => waiting.shift()?.(l));
  const nextLine = () => new Promise<string>((resolve) => waiting.push(resolve));
  const line = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${relPath} did not start in 20 s`)), 20_000);
    void nextLine().then((l) => {
      clearTimeout(t);
      resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`${relPath} exited (${code})`)));
  });
  return {
    info: JSON.parse(line) as Record<string, unknown>,
    /** One line to the child, its one-line JSON answer back. */
    ask: async (q: string) => {
      const answer = nextLine();
      child.stdin!.write(`${q}\n`);
      return JSON.parse(await answer) as Record<string, unknown>;
    },
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.stdin!.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

// ---- instrumentation -----------------------------------------------------------------------------

export interface LlmProbe {
  /** performance.now() of each chat request (stream created), with what was asked. */
  onRequest?: (at: number, opts: Parameters<llm.LLM['chat']>[0]) => void;
  /** ...of its first chunk. */
  onFirstChunk?: (at: number, requestAt: number) => void;
  /** ...of the chunk that carries its tool calls (the plugin emits them once the model has finished them). */
  onToolCalls?: (at: number, requestAt: number, names: string[]) => void;
  /** ...of its end, with the reply's text. */
  onDone?: (at: number, requestAt: number, text: string) => void;
}

/** Wraps `chat()` of this one LLM instance (one the bench created) to timestamp requests and chunks. */
export function probeLLM(inst: llm.LLM, probe: LlmProbe): void {
  const orig = inst.chat.bind(inst);
  inst.chat = ((opts: Parameters<llm.LLM['chat']>[0]) => {
    const stream = orig(opts);
    const requestAt = now();
    probe.onRequest?.(requestAt, opts);
    const next = stream.next.bind(stream);
    let first = true;
    let text = '';
    let ended = false;
    stream.next = async () => {
      const r = await next();
      const at = now();
      if (r.done) {
        if (!ended) probe.onDone?.(at, requestAt, text);
        ended = true;
        return r;
      }
      if (first) {
        first = false;
        probe.onFirstChunk?.(at, requestAt);
      }
      text += r.value.delta?.content ?? '';
      const calls = r.value.delta?.toolCalls;
      if (calls?.length) probe.onToolCalls?.(at, requestAt, calls.map((c) => c.name));
      return r;
    };
    return stream;
  }) as llm.LLM['chat'];
}

/** Wraps `synthesize()` of this one TTS instance (one the bench created) to timestamp each request. */
export function probeTTS(inst: openai.TTS, onRequest: (at: number, text: string) => void): void {
  const orig = inst.synthesize.bind(inst);
  inst.synthesize = ((...args: Parameters<openai.TTS['synthesize']>) => {
    onRequest(now(), args[0]);
    return orig(...args);
  }) as openai.TTS['synthesize'];
}

/** What a session tells anyone listening, timestamped (performance.now()): its public events only. */
export interface SessionTimeline {
  /** The caller's lines committed to the history (end of the caller's turn). */
  userCommitted: number[];
  /** function_tools_executed: a turn's tools ran and their outputs were collected. */
  toolsExecuted: number[];
  /** agent_handoff items after the first agent (the new agent is the session's agent). */
  handoffItems: number[];
  /** agent_state_changed → 'speaking' (the agent's audio or text started). */
  speaking: number[];
  /** The agents' lines committed to the history (after they played), with their text. */
  said: { at: number; text: string }[];
}

export function watchSession(session: voice.AgentSession<any>): SessionTimeline { // eslint-disable-line @typescript-eslint/no-explicit-any
  const t: SessionTimeline = { userCommitted: [], toolsExecuted: [], handoffItems: [], speaking: [], said: [] };
  const S = voice.AgentSessionEventTypes;
  session.on(S.FunctionToolsExecuted, () => t.toolsExecuted.push(now()));
  session.on(S.ConversationItemAdded, ({ item }) => {
    if (item.type === 'agent_handoff' && item.oldAgentId) t.handoffItems.push(now());
    if (item.type === 'message' && item.role === 'user') t.userCommitted.push(now());
    if (item.type === 'message' && item.role === 'assistant' && item.textContent?.trim()) t.said.push({ at: now(), text: item.textContent.trim() });
  });
  session.on(S.AgentStateChanged, ({ newState }) => {
    if (newState === 'speaking') t.speaking.push(now());
  });
  return t;
}

// ---- an audio sink that plays out in real time ----------------------------------------------------

export interface Segment {
  /** performance.now() when the first frame of the segment was captured. */
  firstFrameAt: number;
  /** When it starts playing: the first frame, or the end of the segment before it if still playing. */
  playStartAt: number;
  /** When the last sample has played (start + duration), set at flush. */
  playEndAt?: number;
  /** When onPlaybackFinished was reported (the timer firing). */
  reportedAt?: number;
  samples: number;
  sampleRate: number;
  interrupted?: boolean;
  /**
   * Where its sound starts and stops (energy ≥ −45 dBFS), ms from its play start: what the caller hears
   * of it, the speech engine's padding left out. Null when it carried no sound.
   */
  sound?: { onsetMs: number; offsetMs: number } | null;
}

/**
 * `voice.AudioOutput` that keeps the frames' timing as a phone line would: a segment starts playing at
 * its first frame (or when the previous segment ends) and finishes after its audio duration. Frames
 * themselves are dropped. (notes §7: captureFrame → super, then onPlaybackStarted on a segment's first
 * frame; flush → super.flush, then onPlaybackFinished; clearBuffer → finished, interrupted.)
 */
export class PacedSink extends voice.AudioOutput {
  readonly segments: Segment[] = [];
  private current: Segment | null = null;
  /** The current segment's samples, kept until its flush measures where its sound is. */
  private frames: Int16Array[] = [];
  private playing: { seg: Segment; timer: NodeJS.Timeout }[] = [];
  private lastEnd = 0;

  constructor() {
    super(24_000);
  }

  override async captureFrame(frame: AudioFrame): Promise<void> {
    const before = this.capturedPlayoutSegments;
    await super.captureFrame(frame);
    if (this.capturedPlayoutSegments > before || !this.current) {
      const at = now();
      this.current = { firstFrameAt: at, playStartAt: Math.max(at, this.lastEnd), samples: 0, sampleRate: frame.sampleRate };
      this.segments.push(this.current);
      this.frames = [];
      this.onPlaybackStarted(Date.now());
    }
    this.current.samples += frame.samplesPerChannel;
    this.frames.push(frame.data.slice(0, frame.samplesPerChannel));
  }

  /** Where the segment's sound is, from its samples (then let go). */
  private measure(seg: Segment): void {
    seg.sound = soundBounds(concatSamples(this.frames), seg.sampleRate);
    this.frames = [];
  }

  override flush(): void {
    super.flush();
    const seg = this.current;
    this.current = null;
    if (!seg) return;
    this.measure(seg);
    const durMs = (seg.samples / seg.sampleRate) * 1000;
    seg.playEndAt = seg.playStartAt + durMs;
    this.lastEnd = seg.playEndAt;
    const entry = {
      seg,
      timer: setTimeout(() => {
        this.playing = this.playing.filter((p) => p !== entry);
        seg.reportedAt = now();
        this.onPlaybackFinished({ playbackPosition: durMs / 1000, interrupted: false });
      }, Math.max(0, seg.playEndAt - now())),
    };
    this.playing.push(entry);
  }

  override clearBuffer(): void {
    const at = now();
    for (const p of this.playing) {
      clearTimeout(p.timer);
      p.seg.interrupted = true;
      p.seg.reportedAt = at;
      const played = Math.max(0, Math.min(at, p.seg.playEndAt!) - p.seg.playStartAt);
      p.seg.playEndAt = Math.min(at, p.seg.playEndAt!);
      this.onPlaybackFinished({ playbackPosition: played / 1000, interrupted: true });
    }
    this.playing = [];
    if (this.current) {
      const seg = this.current;
      this.current = null;
      super.flush();
      this.measure(seg);
      seg.interrupted = true;
      seg.playEndAt = seg.reportedAt = at;
      this.onPlaybackFinished({ playbackPosition: Math.max(0, at - seg.playStartAt) / 1000, interrupted: true });
    }
    this.lastEnd = at;
  }
}

/** One TTS per department (each its own voice), created on first use, as `src/models.ts` does. */
function ttsPerDepartment(o: BenchCallOptions, callId: string): (role: Target) => openai.TTS {
  const cache = new Map<Target, openai.TTS>();
  return (role) => {
    let t = cache.get(role);
    if (!t) {
      t = new openai.TTS({ model: 'scripted-tts', voice: DEPARTMENT_TABLE[role].voice as openai.TTSOptions['voice'], apiKey: callId, baseURL: o.url });
      if (o.ttsProbe) probeTTS(t, o.ttsProbe);
      cache.set(role, t);
    }
    return t;
  };
}

// ---- our calls --------------------------------------------------------------------------------------

let seq = 0;

export interface BenchCallOptions {
  url: string;
  maxHandoffs?: number;
  /** Voice: a TTS per department against the scripted server, and this audio sink. */
  sink?: PacedSink;
  llmProbe?: LlmProbe;
  ttsProbe?: (at: number, text: string) => void;
  inspect?: CallOptions['inspect'];
  /** `CallOptions.prepareReplies` (the product's default: on). */
  prepareReplies?: boolean;
}

const connOptions = {
  llmConnOptions: { maxRetry: 0, timeoutMs: 15_000, retryIntervalMs: 50 },
  ttsConnOptions: { maxRetry: 0, timeoutMs: 15_000, retryIntervalMs: 50 },
};

/** A room-less call through the real orchestrator and the real OpenAI plugin (as the tests' harness). */
export function createBenchCall(o: BenchCallOptions): Call {
  const callId = `bench-call-${++seq}`;
  const model = new openai.LLM({ model: 'scripted', apiKey: callId, baseURL: o.url });
  if (o.llmProbe) probeLLM(model, o.llmProbe);
  const ttsFor = o.sink ? ttsPerDepartment(o, callId) : undefined;
  const call = new Call({
    callId,
    llm: model,
    company: 'Acme',
    maxHandoffs: o.maxHandoffs ?? 6,
    humanAvailable: false,
    ttsFor,
    inspect: o.inspect,
    ...(o.prepareReplies === undefined ? {} : { prepareReplies: o.prepareReplies }),
    sessionOptions: { vad: null, turnHandling: { turnDetection: 'manual' }, userAwayTimeout: null, connOptions },
  });
  if (o.sink) call.session.output.audio = o.sink;
  return call;
}

export async function startBenchCall(o: BenchCallOptions): Promise<Call> {
  const call = createBenchCall(o);
  await call.start();
  await call.greeted;
  return call;
}

// ---- LiveKit's native handoff, on the same harness ------------------------------------------------

export interface NativeTimings {
  /** performance.now() when a transfer tool's execute was entered. */
  toolEnteredAt: number[];
  /** ...and when it returned the handoff. */
  toolReturnedAt: number[];
  /** performance.now() of each agent's first llmNode call after entering by a handoff. */
  firstLlmAt: number[];
  /** When each handed-off agent's onEnter ran. */
  enteredAt: number[];
}

const reasonParam = z.object({ reason: z.string().describe('Why the caller needs this transfer, in a short sentence.') });
// As src/call/tools.ts offers them, so the requests are the same size.
const endParam = z.object({ reason: z.string().nullish().describe('Why the call ends, or null') });

type NativeTool = llm.FunctionTool<any, CallData, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * A department agent the LiveKit way: the transfer tool returns `llm.handoff({ agent })`; the new agent's
 * onEnter copies the history (same `carriedHistory`) and replies once — free to call a transfer tool at
 * once (a chain), like ours. Same routes (`ROUTES`), tool names (`toolName`), instructions and openings
 * as our agents, so requests and replies are identical.
 */
export class NativeDept extends voice.Agent<CallData> {
  private seenLlm = false;
  greeting?: voice.SpeechHandle;

  constructor(
    readonly role: Target,
    private readonly opening: string,
    private readonly timings: NativeTimings,
    private readonly handedOff: boolean,
    ttsFor?: (role: Target) => openai.TTS,
  ) {
    const routes = role === 'human' ? [] : ROUTES[role];
    const tools: NativeTool[] = routes.map((target) => NativeDept.transferTool(role, target, timings, ttsFor));
    tools.push(llm.tool({
      name: 'update_caller_info',
      description: 'Save what the caller told you about themselves. Pass null for what you did not learn.',
      parameters: callerInfoParam,
      execute: async (info, { ctx }) => {
        ctx.userData.caller = { ...ctx.userData.caller, ...info } as CallData['caller'];
        return { saved: true, caller: ctx.userData.caller };
      },
    }));
    tools.push(llm.tool({
      name: 'end_call',
      description: 'End the call when the caller is done. Do not say goodbye before calling it; you will be asked to.',
      parameters: endParam,
      execute: async () => 'The call is ending. Say a short, warm goodbye and nothing else.',
    }));
    super({ id: role, instructions: instructionsFor(role, { company: 'Acme', caller: {} }), tools, tts: ttsFor?.(role) });
  }

  private static transferTool(role: Target, target: Target, timings: NativeTimings, ttsFor?: (role: Target) => openai.TTS): NativeTool {
    return llm.tool({
      name: toolName(target),
      description: `Transfer the caller to ${DEPARTMENT_TABLE[target].title}. ${DEPARTMENT_TABLE[target].role.split('.')[0]}.`,
      parameters: reasonParam,
      execute: async ({ reason }, { ctx }) => {
        timings.toolEnteredAt.push(now());
        try {
          ctx.disallowInterruptions();
        } catch {
          /* already interrupted */
        }
        const next = new NativeDept(target, openingFor(target, { kind: 'transfer', from: role, reason }), timings, true, ttsFor);
        const handoff = llm.handoff({ agent: next });
        timings.toolReturnedAt.push(now());
        return handoff;
      },
    });
  }

  override async onEnter(): Promise<void> {
    if (this.handedOff) {
      this.timings.enteredAt.push(now());
      await this.updateChatCtx(carriedHistory(this.session.history));
    }
    this.greeting = this.session.generateReply({ instructions: this.opening, toolChoice: this.handedOff ? 'auto' : 'none' });
  }

  override async llmNode(...args: Parameters<voice.Agent['llmNode']>): ReturnType<voice.Agent['llmNode']> {
    if (this.handedOff && !this.seenLlm) {
      this.seenLlm = true;
      this.timings.firstLlmAt.push(now());
    }
    return voice.Agent.default.llmNode(this, ...args) as ReturnType<voice.Agent['llmNode']>;
  }
}

export interface NativeCall {
  callId: string;
  session: voice.AgentSession<CallData>;
  timings: NativeTimings;
  close(): Promise<void>;
}

export async function startNativeCall(o: Omit<BenchCallOptions, 'maxHandoffs' | 'inspect' | 'prepareReplies'>): Promise<NativeCall> {
  const callId = `bench-native-${++seq}`;
  const model = new openai.LLM({ model: 'scripted', apiKey: callId, baseURL: o.url });
  if (o.llmProbe) probeLLM(model, o.llmProbe);
  const timings: NativeTimings = { toolEnteredAt: [], toolReturnedAt: [], firstLlmAt: [], enteredAt: [] };
  // Voice: one TTS per department, exactly as ours, so only the swap mechanism differs.
  const ttsFor = o.sink ? ttsPerDepartment(o, callId) : undefined;
  const session = new voice.AgentSession<CallData>({
    llm: model,
    vad: null,
    turnHandling: { turnDetection: 'manual' },
    userAwayTimeout: null,
    userData: { callId, caller: {}, handoffCount: 0 },
    connOptions: { ...connOptions, maxUnrecoverableErrors: Number.MAX_SAFE_INTEGER },
  });
  if (o.sink) session.output.audio = o.sink;
  const triage = new NativeDept('triage', openingFor('triage', { kind: 'start' }), timings, false, ttsFor);
  await session.start({ agent: triage });
  await triage.greeting!.waitForPlayout();
  return {
    callId,
    session,
    timings,
    close: async () => {
      try {
        await session.close();
      } catch {
        /* closing */
      }
    },
  };
}

// ---- process measurements ---------------------------------------------------------------------------

export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export interface Mem {
  rssMB: number;
  heapUsedMB: number;
  /** Memory of ArrayBuffers and other V8-external allocations (audio buffers live here). */
  externalMB: number;
  /** heapUsed + external: the memory JavaScript holds (after a GC: live data). */
  jsMB: number;
}

export function mem(): Mem {
  const m = process.memoryUsage();
  const mb = (b: number) => Number((b / 1048576).toFixed(2));
  return { rssMB: mb(m.rss), heapUsedMB: mb(m.heapUsed), externalMB: mb(m.external), jsMB: mb(m.heapUsed + m.external) };
}
