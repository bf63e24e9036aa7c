/**
 * Zero-gap handoff: the new agent's first reply, prepared while the old agent's transfer line plays.
 *
 * At the moment the machine accepts a transfer, the conversation as it will stand once the old line
 * has played is known (the history, plus the line the old agent is saying). One LLM request is made
 * for the new agent on that conversation and, on a voice call, its speech is synthesized. When the new
 * agent takes the line it plays the prepared reply at once — if nothing changed meanwhile. Otherwise
 * the prepared reply is thrown away and the agent replies as it would have without one:
 *
 * - the caller spoke (a user message the preparation did not see), or the old line committed differs;
 * - the agent's instructions changed (caller details or the caller's language saved meanwhile);
 * - the call moved on (keypad, supervisor, another transfer) or ended: the call aborts it.
 *
 * This is judged when the reply would start playing (once it is ready), against the conversation and
 * the agent's instructions as they are then — not as they were when the agent began to wait for it.
 *
 * A reply that routes onward (a chained hop) is not thrown away: it is served to the agent's own turn in
 * place of that turn's first LLM request, so its transfer tool runs there as usual, and its line's
 * speech, made during the preparation, is served to that turn's speech (see `DepartmentAgent.ttsNode`).
 *
 * It is taken once (`take`), so it can never play twice. At most one extra LLM request per transfer.
 */
import { ReadableStream } from 'node:stream/web';
import type { AudioFrame } from '@livekit/rtc-node';
import { llm, type tts as ttsNs } from '@livekit/agents';
import { SpeechBuffer } from './speech-buffer.js';
import type { DepartmentAgent } from './agent.js';
import { boundedForModel, carriedHistory } from './context.js';
import { otherToolsRunning } from './session.js';

export interface PreparedStats {
  /** LLM requests made to prepare replies. */
  requests: number;
  /** Prepared replies that played. */
  used: number;
  /** Prepared replies thrown away (their requests were extra). */
  thrownAway: number;
  /** Tokens of all preparation requests (prompt + completion). */
  tokens: number;
}

export const emptyPreparedStats = (): PreparedStats => ({ requests: 0, used: 0, thrownAway: 0, tokens: 0 });

/**
 * How long prepared replies have taken to be ready (speech included), per model server and model: a
 * running average (ms), what a silent transfer's bridging line is decided on (see `expectedWithin`).
 */
const readyTimes = new Map<string, number>();

/** One attempt, bounded: a preparation that is late is worth nothing. */
const PREPARE_CONN = { maxRetry: 0, retryIntervalMs: 0, timeoutMs: 10_000 };

export interface Ready {
  text: string;
  /** Its speech, playable from its first frame on (null on a text call). */
  speech: SpeechBuffer | null;
  /** The reply routes onward (a chained hop): served to the agent's own turn (see `DepartmentAgent.llmNode`). */
  toolCalls: llm.FunctionCall[];
  /** Its request → first token (ms). */
  ttftMs: number | null;
}

/** When an async iterator's first item arrives (performance.now()), noted on the iterator as it is read. */
function timeFirst(stream: AsyncIterator<unknown>, at: (t: number) => void): void {
  const next = stream.next.bind(stream);
  let seen = false;
  stream.next = async (...args: []) => {
    const r = await next(...args);
    if (!seen && !r.done) at(performance.now());
    seen = true;
    return r;
  };
}

/** The user and assistant lines of a context, in order: what a preparation is valid for. */
function linesOf(ctx: llm.ChatContext): string[] {
  const lines: string[] = [];
  for (const item of ctx.items) {
    if (item.type === 'message' && (item.role === 'user' || item.role === 'assistant')) {
      lines.push(`${item.role}:${(item.textContent ?? '').trim()}`);
    }
  }
  return lines;
}

export class PreparedReply {
  private readonly abort = new AbortController();
  private readonly expectedLines: string[];
  private readonly ready: Promise<Ready | null>;
  private readonly startedAt = performance.now();
  /** Whose preparations this one is timed with (see `readyTimes`). */
  private readonly kind: string;
  private taken = false;
  /** Played or thrown away, and counted as such. */
  private answered = false;

  /**
   * @param history the session history now (the old agent's line not yet in it)
   * @param oldLine what the old agent is saying before the transfer ('' when it says nothing)
   * @param instructions the new agent's system prompt and its entry instructions, joined
   */
  constructor(
    private readonly opts: {
      history: llm.ChatContext;
      oldLine: string;
      instructions: string;
      model: llm.LLM;
      toolCtx: llm.ToolContext;
      /** The entry reply's tool choice: a desk that may route onward gets 'auto'. */
      toolChoice: llm.ToolChoice;
      tts?: ttsNs.TTS;
      stats: PreparedStats;
      /** What the new desk's requests carry of the call (a long call summarised: ./memory.ts). */
      forModel?: (ctx: llm.ChatContext) => llm.ChatContext;
    },
  ) {
    const ctx = carriedHistory(opts.history);
    if (opts.oldLine.trim()) ctx.addMessage({ role: 'assistant', content: opts.oldLine });
    this.expectedLines = linesOf(ctx);
    ctx.items.unshift(llm.ChatMessage.create({ role: 'system', content: opts.instructions }));
    this.kind = `${opts.model.provider}/${opts.model.model}/${opts.tts ? 'voice' : 'text'}`;
    this.ready = this.prepare(boundedForModel(opts.forModel ? opts.forModel(ctx) : ctx)).catch(() => null);
    void this.ready.then((r) => {
      if (!r) return;
      const ms = performance.now() - this.startedAt;
      const before = readyTimes.get(this.kind);
      readyTimes.set(this.kind, before === undefined ? ms : 0.7 * before + 0.3 * ms);
    });
  }

  private async prepare(ctx: llm.ChatContext): Promise<Ready | null> {
    const { model, toolCtx, toolChoice, stats } = this.opts;
    stats.requests++;
    const askedAt = performance.now();
    const stream = model.chat({ chatCtx: ctx, toolCtx, toolChoice, connOptions: PREPARE_CONN });
    let ttftMs: number | null = null;
    timeFirst(stream, (t) => (ttftMs = t - askedAt));
    // A failed preparation is not a failed turn: the desk then replies live (and a failure there is
    // reported and apologised for as usual). The stream would otherwise report it on the model's
    // `error` event, which the session turns into an llm_error of the call.
    // A stream cut midway ends without throwing; its error is the only sign, and a cut reply is no reply.
    let failed = false;
    quiet(stream, () => (failed = true));
    const reply = await stream.collect();
    if (failed) return null;
    stats.tokens += (reply.usage?.promptTokens ?? 0) + (reply.usage?.completionTokens ?? 0);
    if (this.abort.signal.aborted) return null;
    const toolCalls = reply.toolCalls;
    if (!toolCalls.length && !reply.text.trim()) return null;
    // Its speech is made now too — a reply that routes onward (a chained hop) as well: its one line then
    // plays the moment the desk takes the line, not a speech engine's first byte later. It is ready at its
    // first frame; the rest follows as it plays.
    const speech = this.opts.tts && reply.text.trim() ? this.synthesize(reply.text) : null;
    if (speech && !(await speech.started)) return null;
    return { text: reply.text, speech, toolCalls, ttftMs };
  }

  private synthesize(text: string): SpeechBuffer {
    return new SpeechBuffer(this.opts.tts!, text);
  }

  /** Is it made (speech included) within `ms`? (False at once when already taken or failed.) */
  async readyWithin(ms: number): Promise<boolean> {
    if (this.taken) return false;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
    const made = await Promise.race([this.ready.then((r) => r !== null), late]);
    clearTimeout(timer);
    return made;
  }

  /**
   * Will it be ready within `ms` from now, as this model's preparations have been so far? When that is
   * expected, it is waited for (`ms` at most); when it is expected later, false at once; when there is
   * nothing to go by yet, it is waited for `unknownWaitMs` at most.
   */
  async expectedWithin(ms: number, unknownWaitMs: number): Promise<boolean> {
    const typical = readyTimes.get(this.kind);
    if (typical === undefined) return this.readyWithin(unknownWaitMs);
    const left = typical - (performance.now() - this.startedAt);
    return left <= ms && this.readyWithin(ms);
  }

  /** The instructions it was prepared with. */
  get instructions(): string {
    return this.opts.instructions;
  }

  /** A reply taken to be served later (a chained hop) turned out stale before it was used: thrown away after all. */
  withdraw(): void {
    this.opts.stats.used--;
    this.opts.stats.thrownAway++;
  }

  /** The call moved on or ended: the reply will never play (a `take` awaiting it gets nothing). */
  discard(): void {
    if (this.answered) return;
    this.abort.abort();
    // A take under way answers null, and counts it.
    if (this.taken) return;
    this.taken = this.answered = true;
    this.opts.stats.thrownAway++;
  }

  /**
   * The prepared reply, once, if it is still right; otherwise null (and it is thrown away). Whether it
   * is right is decided when it would start playing — once it is ready, not when the agent began to
   * wait for it — against the conversation (`history`, the session's live history) and the agent's
   * instructions (`currentInstructions`, read then) as they stand at that moment: caller details or a
   * language saved, or a caller line heard, while it was still being made, throw it away. Nothing may
   * be awaited between this answer and the reply starting to play (see `DepartmentAgent.onEnter`).
   */
  async take(history: llm.ChatContext, currentInstructions: () => string): Promise<Ready | null> {
    if (this.taken) return null;
    this.taken = true;
    const right = () => this.stillRight(history) && currentInstructions() === this.opts.instructions;
    // Not worth waiting for when already stale; otherwise judged again once it is ready — and not at all
    // when the call left this desk meanwhile (discarded while it was awaited).
    const ready = right() ? await this.ready : null;
    this.answered = true;
    if (ready && right() && !this.abort.signal.aborted) {
      this.opts.stats.used++;
      return ready;
    }
    this.abort.abort();
    this.opts.stats.thrownAway++;
    return null;
  }

  /** The conversation is the one it was prepared on. (A bridging line is not in it: see `DepartmentAgent.sayBridge`.) */
  private stillRight(history: llm.ChatContext): boolean {
    const now = linesOf(carriedHistory(history));
    return now.length === this.expectedLines.length && now.every((l, i) => l === this.expectedLines[i]);
  }
}

/**
 * Keeps a framework stream's failure to itself: LiveKit's LLM and TTS streams report errors on their
 * model's `error` event, which the session turns into an error of the call. Work done ahead of time
 * (a prepared reply, a bridging line) fails quietly instead; the live path then does it for real.
 */
export function quiet(stream: object, onError: () => void): void {
  (stream as { emitError: () => void }).emitError = onError;
}

/** Frames as the stream `session.say(text, { audio })` plays. */
export function audioStream(frames: AudioFrame[]): ReadableStream<AudioFrame> {
  return new ReadableStream({
    start(controller) {
      for (const f of frames) controller.enqueue(f);
      controller.close();
    },
  });
}

/**
 * Starts preparing `agent`'s first reply on the conversation as it will stand once `oldLine` has been
 * said. Not when another tool of the same turn is still running (its result, and so the conversation
 * the agent will see, is not known yet: no request is wasted). True when a request was made.
 */
export function prepareReply(
  agent: DepartmentAgent,
  oldLine: string,
  history: llm.ChatContext,
  model: llm.LLM | unknown,
  stats: PreparedStats,
): boolean {
  if (!(model instanceof llm.LLM) || otherToolsRunning(history)) return false;
  agent.prepared = new PreparedReply({
    history,
    oldLine,
    instructions: agent.entryInstructions,
    model,
    toolCtx: agent.toolCtx as unknown as llm.ToolContext,
    toolChoice: agent.entryToolChoice,
    tts: agent.tts,
    stats,
    forModel: (ctx) => agent.forModel(ctx),
  });
  return true;
}

/** A prepared response as the stream an LLM node returns: its text, then its tool calls. */
export function responseStream(ready: Ready): ReadableStream<llm.ChatChunk> {
  return new ReadableStream({
    start(controller) {
      const id = `prepared-${Date.now()}`;
      if (ready.text) controller.enqueue({ id, delta: { role: 'assistant', content: ready.text } });
      if (ready.toolCalls.length) controller.enqueue({ id, delta: { role: 'assistant', toolCalls: ready.toolCalls } });
      controller.close();
    },
  });
}
