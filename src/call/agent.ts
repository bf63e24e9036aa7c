/**
 * The agent of one department on the line. It inherits the conversation when it takes the line, gives
 * one entry reply (a prepared one when the call has it), and leaves for good when the machine moves
 * the call on. It reports back to the call only through the hooks it is given.
 */
import { ReadableStream, TransformStream } from 'node:stream/web';
import { llm, voice } from '@livekit/agents';
import type { CallerInfo, Target } from '../../machines/router.js';
import { boundedForModel, carriedHistory } from './context.js';
import type { AudioFrame } from '@livekit/rtc-node';
import { type PreparedReply, type Ready, audioStream, responseStream } from './prepared-reply.js';
import type { SpeechBuffer } from './speech-buffer.js';
import { type TrimOptions, trimPadding } from './trim.js';

/**
 * After a silent transfer, the silence a caller may hear before the new desk's reply with no bridging
 * line: a reply expected within it (as this model's replies have been ready so far) is waited for; one
 * expected later gets the line at once, so the line never holds back a reply that was about to play.
 */
const BRIDGE_IF_SILENCE_OVER_MS = 250;
/** With nothing to go by yet (the model's first preparation): how long the reply is waited for. */
const BRIDGE_AFTER_MS = 100;
/**
 * The bridging line's own padding: the reply that follows is the same speaker going on ("Sure. This is the
 * billing team…"), so a reply ready by then takes over at the end of the line's sound, after a short breath.
 */
const BRIDGE_TRIM = { leadMs: 20, trailMs: 30 };
/** How long a caller speaking over the seam may talk before the desk takes the line anyway. */
const CALLER_TURN_MAX_MS = 30_000;
/** How long a new desk's VAD may take to find a caller who was speaking through the swap. */
const VAD_REDETECT_MS = 700;
/** After they stop: the longest the session's end-of-turn detection takes to commit their turn. */
const TURN_GRACE_MS = 3_500;

/** Reads a stream to its end, keeping nothing. */
async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  try {
    for await (const _ of stream) void _;
  } catch {
    /* the turn was cut short */
  }
}

async function until(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** Per-call data in the session's `userData`: what every department sees. */
export interface CallData {
  callId: string;
  caller: CallerInfo;
  handoffCount: number;
}

export interface AgentHooks {
  /** The agent has taken the line and is about to be heard (a bridging line or its entry reply). */
  onTakeLine(): void;
  /**
   * The entry reply the agent gives when it takes the line (its greeting, or its first words after a
   * transfer). A promise returned is awaited by `onEnter` (a warm transfer to a person runs there).
   */
  onEntryReply(speech: voice.SpeechHandle): Promise<void> | undefined;
  /** The agent's first LLM request (the end of a handoff's timing). */
  onFirstLlmRequest(): void;
  /** A reply to this caller line is about to be asked for (the call follows the caller's language). */
  beforeReplyTo(callerLine: string): void;
  /** The caller is speaking, or was a moment ago (see CallerVoice). */
  callerMayBeSpeaking(): boolean;
  /** The agent's bridging line has played (it is kept out of the conversation: the call tells it). */
  bridgeSaid(text: string, interrupted: boolean): void;
  /** What each clip this agent plays passes through on its way to the line (the call's earpiece). */
  meter(): TransformStream<AudioFrame, AudioFrame>;
  /** The context a request of this agent carries of the call (a long call's older turns summarised: ./memory.ts). */
  forModel(ctx: llm.ChatContext): llm.ChatContext;
}

/** The agent's first reply on the line: where its time went (see `HandoffStages`). */
export interface FirstReply {
  llmTtftMs: number | null;
  ttsTtfbMs: number | null;
  /** It was the reply prepared during the transfer. */
  prepared: boolean;
}

export interface EntryOptions {
  /** The one-off instructions of the entry reply. */
  opening: string;
  /** Whether the entry reply may call tools (route onward at once: a chained transfer). */
  toolChoice: llm.ToolChoice;
}

type LlmNode = voice.Agent['llmNode'];
type LlmOutput = Awaited<ReturnType<LlmNode>>;

export class DepartmentAgent extends voice.Agent<CallData> {
  /** Set once the machine has moved the call away from this agent: it says nothing more. */
  retired = false;
  /** The caller has spoken since this agent took the line (the call sets it). */
  heardCaller = false;
  /** The reply prepared for this agent while the previous one's line played (zero-gap handoff). */
  prepared: PreparedReply | null = null;
  /** Said first, from cached audio, when the previous desk said nothing before the transfer. */
  bridge: { text: string; audio: Promise<AudioFrame[] | null> } | null = null;
  /** The text of the reply being generated now (what it says before a tool call, if any). */
  private replyText = '';
  private firstLlmRequestSeen = false;
  /** A prepared response to serve in place of the next LLM request. */
  private served: Ready | null = null;
  /** The speech of the response being served (made during its preparation), for this turn's ttsNode. */
  private servedAudio: SpeechBuffer | null = null;
  /** How this agent's clips are trimmed of the speech engine's padding (see ./trim.ts); null: as made. */
  trim: TrimOptions | null = null;
  /** Instructions this agent had before the latest `updateInstructions` (newest last). */
  private formerInstructions: string[] = [];
  /** Its first reply, timed (null until it was asked for). */
  firstReply: FirstReply | null = null;
  /** It said its bridging line. */
  bridged = false;
  /** Said before its entry reply, uninterruptible and kept out of the conversation (the recording notice). */
  notice: string | null = null;

  constructor(
    readonly role: Target,
    private readonly entry: EntryOptions,
    private readonly hooks: AgentHooks,
    options: Omit<voice.AgentOptions<CallData>, 'instructions'> & { instructions: string },
  ) {
    super({ id: role, ...options });
  }

  /** What this agent's current reply has said so far (the transfer line, when a transfer tool runs). */
  get currentReplyText(): string {
    return this.replyText;
  }

  get entryToolChoice(): llm.ToolChoice {
    return this.entry.toolChoice;
  }

  /** The entry reply's instructions, whole: the system prompt and the one-off opening. */
  get entryInstructions(): string {
    return `${this.instructions}\n${this.entry.opening}`;
  }

  override async onEnter(): Promise<void> {
    // Queued first, so the entry reply is asked for while it plays (no silence after it).
    if (this.notice) this.sayNotice(this.notice);
    // Copy the history now, not when the transfer was requested: the previous agent's last line is
    // committed only after its transfer tool has run.
    await this.updateChatCtx(carriedHistory(this.session.history));
    // After a silent transfer, the bridging line fills the silence only when the reply is not expected
    // within a moment of the swap — and then at once, so it has played before the reply is ready.
    if (this.bridge && !(await this.prepared?.expectedWithin(BRIDGE_IF_SILENCE_OVER_MS, BRIDGE_AFTER_MS))) await this.sayBridge(this.bridge);
    else this.hooks.onTakeLine();
    if (this.retired) return;
    if (await this.talkedOver()) {
      // The caller spoke over the seam and their turn is answered by this desk's next reply: a reply
      // prepared before they spoke (or an opening) would answer the wrong thing, or answer twice.
      this.prepared?.discard();
      return;
    }
    // Judged once it is ready, against the history and this desk's instructions as they are then
    // (caller details saved while it was being made change them). Nothing is awaited from there to `say`.
    const ready = await this.prepared?.take(this.session.history, () => this.entryInstructions);
    if (this.retired) return;
    // The caller spoke while the reply was being prepared, and this desk already answered that turn:
    // an entry reply now would be a second answer to one line.
    if (this.heardCaller && this.firstLlmRequestSeen && this.role !== 'human') return;
    if (ready && !ready.toolCalls.length) {
      this.firstReply ??= { llmTtftMs: ready.ttftMs, ttsTtfbMs: ready.speech?.ttfbMs ?? null, prepared: true };
      const audio = ready.speech ? this.played(ready.speech.stream()) : undefined;
      await this.hooks.onEntryReply(this.session.say(ready.text, { audio }));
      return;
    }
    // A prepared reply that routes onward answers this turn's LLM request (no second request).
    this.served = ready ?? null;
    const { opening, toolChoice } = this.entry;
    await this.hooks.onEntryReply(this.session.generateReply({ instructions: opening, toolChoice }));
  }

  /**
   * The caller is speaking as this desk takes the line (over the old desk's transfer line, or its
   * bridge): nothing is played over them. The desk waits until they stop, then for their turn to be
   * committed (at most `TURN_GRACE_MS`); true when it was, and the desk answers it as any turn. A
   * sound that never becomes a turn (a cough) leaves the entry reply to play as usual.
   */
  private async talkedOver(): Promise<boolean> {
    if (!this.hooks.callerMayBeSpeaking()) return false;
    // This desk's activity has just started: its VAD finds a caller who is still speaking within ~150 ms.
    await until(() => this.retired || this.session.userState === 'speaking', VAD_REDETECT_MS);
    if (this.session.userState !== 'speaking') return false;
    const heardBefore = this.heardCaller;
    await until(() => this.retired || this.session.userState !== 'speaking', CALLER_TURN_MAX_MS);
    await until(() => this.retired || this.heardCaller !== heardBefore, TURN_GRACE_MS);
    return this.heardCaller !== heardBefore;
  }

  /** The bridging line, played out before the reply follows (the reply was prepared meanwhile). */
  private async sayBridge(bridge: { text: string; audio: Promise<AudioFrame[] | null> }): Promise<void> {
    const frames = await bridge.audio;
    // The call may have moved on while the line's audio was still being made: a desk left says nothing.
    if (this.retired) return;
    this.hooks.onTakeLine();
    this.bridged = true;
    // One speaker going on: the pause after it is a short one between two of their sentences.
    const audio = frames ? this.played(audioStream(frames), BRIDGE_TRIM) : undefined;
    // Kept out of the conversation the desk's reply was prepared on (a filler answers nothing); the call
    // tells it in the transcript once it has played.
    const speech = this.session.say(bridge.text, { audio, addToChatCtx: false });
    await speech.waitForPlayout().catch(() => undefined);
    this.hooks.bridgeSaid(bridge.text, speech.interrupted);
  }

  /** A line the caller must hear whole (the recording notice); told in the transcript once it has played. */
  private sayNotice(text: string): void {
    const speech = this.session.say(text, { addToChatCtx: false, allowInterruptions: false });
    void speech
      .waitForPlayout()
      .catch(() => undefined)
      .then(() => this.hooks.bridgeSaid(text, speech.interrupted));
  }

  /** Audio this agent plays: its padding trimmed to the seam's pause, its sound measured as it goes to the line. */
  private played(audio: ReadableStream<AudioFrame>, trim = this.trim): ReadableStream<AudioFrame> {
    return (trim ? audio.pipeThrough(trimPadding(trim)) : audio).pipeThrough(this.hooks.meter());
  }

  override async ttsNode(...args: Parameters<voice.Agent['ttsNode']>): ReturnType<voice.Agent['ttsNode']> {
    const served = this.servedAudio;
    this.servedAudio = null;
    type Out = NonNullable<Awaited<ReturnType<voice.Agent['ttsNode']>>>;
    if (served) {
      // The served reply's text still flows in; its speech is already made.
      void drain(args[0]);
      return this.played(served.stream()) as unknown as Out;
    }
    const askedAt = performance.now();
    const out = await voice.Agent.default.ttsNode(this, ...args);
    if (!out) return out;
    const timed = (out as unknown as ReadableStream<AudioFrame>).pipeThrough(
      firstItem(() => {
        if (this.firstReply && this.firstReply.ttsTtfbMs === null && !this.firstReply.prepared) {
          this.firstReply.ttsTtfbMs = performance.now() - askedAt;
        }
      }),
    );
    return this.played(timed) as unknown as Out;
  }

  override async updateInstructions(instructions: string): Promise<void> {
    const now = String(this.instructions);
    if (instructions === now) return;
    this.formerInstructions.push(now);
    await super.updateInstructions(instructions);
  }

  /**
   * The request's system message with this agent's current instructions: a reply built before caller
   * details were saved (the reply to update_caller_info itself) still knows them.
   */
  private withCurrentInstructions(ctx: llm.ChatContext): llm.ChatContext {
    const sys = ctx.items.findIndex((i) => i.type === 'message' && (i.role === 'system' || i.role === 'developer'));
    const item = ctx.items[sys];
    if (!item || item.type !== 'message' || !this.formerInstructions.length) return ctx;
    const text = item.textContent ?? '';
    const former = [...this.formerInstructions].reverse().find((f) => text.startsWith(f));
    if (former === undefined) return ctx;
    const copy = ctx.copy();
    copy.items[sys] = llm.ChatMessage.create({
      id: item.id,
      role: item.role,
      content: String(this.instructions) + text.slice(former.length),
      createdAt: item.createdAt,
    });
    return copy;
  }

  override async llmNode(...[chatCtx, ...rest]: Parameters<LlmNode>): ReturnType<LlmNode> {
    // A retired agent may still be asked for a reply to a tool that ran in the same batch as its
    // transfer; the caller must not hear it after the transfer.
    // (An empty stream, not `null`: with `null` the framework never closes the turn's tool channel
    // and the turn hangs.)
    if (this.retired) return new ReadableStream({ start: (c) => c.close() }) as unknown as LlmOutput;
    if (!this.firstLlmRequestSeen) {
      this.firstLlmRequestSeen = true;
      this.hooks.onFirstLlmRequest();
    }
    const last = chatCtx.items.at(-1);
    // The instructions name the language of the line being answered (updated synchronously).
    if (last?.type === 'message' && last.role === 'user') this.hooks.beforeReplyTo(last.textContent ?? '');
    let served = this.served;
    this.served = null;
    // A prepared hop is served when its turn runs, a moment after it was taken: caller details or a
    // language saved in between make it stale, and this request is made live instead.
    if (served && this.prepared && this.entryInstructions !== this.prepared.instructions) {
      this.prepared.withdraw();
      served = null;
    }
    if (served) {
      this.firstReply ??= { llmTtftMs: served.ttftMs, ttsTtfbMs: served.speech?.ttfbMs ?? null, prepared: true };
      // Its line's speech, made with it, is what this turn's speech plays (see ttsNode).
      this.servedAudio = served.speech;
      return this.noteText(responseStream(served) as unknown as ReadableStream<llm.ChatChunk | string>);
    }
    const first: FirstReply | null = this.firstReply ? null : (this.firstReply = { llmTtftMs: null, ttsTtfbMs: null, prepared: false });
    const askedAt = performance.now();
    const ctx = boundedForModel(this.forModel(this.withCurrentInstructions(chatCtx)));
    const out = await voice.Agent.default.llmNode(this, ctx, ...rest);
    if (!out) return out;
    return this.noteText(out.pipeThrough(firstItem(() => first && (first.llmTtftMs = performance.now() - askedAt))));
  }

  /** What a request of this agent carries of the call: see AgentHooks.forModel. */
  forModel(ctx: llm.ChatContext): llm.ChatContext {
    return this.hooks.forModel(ctx);
  }

  /** Passes the reply through, noting its text as it streams. */
  private noteText(stream: ReadableStream<llm.ChatChunk | string>): LlmOutput {
    this.replyText = '';
    return stream.pipeThrough(
      new TransformStream<llm.ChatChunk | string, llm.ChatChunk | string>({
        transform: (chunk, controller) => {
          this.replyText += typeof chunk === 'string' ? chunk : (chunk.delta?.content ?? '');
          controller.enqueue(chunk);
        },
      }),
    ) as unknown as LlmOutput;
  }
}

/** Passes a stream through, telling `seen` when its first item passes. */
function firstItem<T>(seen: () => void): TransformStream<T, T> {
  let told = false;
  return new TransformStream<T, T>({
    transform(chunk, controller) {
      if (!told) seen();
      told = true;
      controller.enqueue(chunk);
    },
  });
}
