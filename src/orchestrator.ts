/**
 * Binds one routing actor to one LiveKit `AgentSession`: the call.
 *
 * - Tools only send events to the actor and report its answer (accepted, or refused with a reason).
 * - One actor subscriber turns every state change into `session.updateAgent(...)` with a new agent
 *   built from the department table; the agent copies the session history (without instructions, with
 *   no tool call lacking its result) when it takes the line, and speaks exactly once.
 * - Every step is published as a `CallEvent` (transcript, handoffs with timings, refusals, errors, end).
 */
import { EventEmitter } from 'node:events';
import { llm, voice } from '@livekit/agents';
import { type Actor, type InspectionEvent, createActor } from 'xstate';
import { z } from 'zod';
import { transferTargets } from '../machines/derive.js';
import {
  type CallState,
  type CallerInfo,
  type RouteEntry,
  type RouterEvent,
  type Target,
  type TransferSource,
  routerMachine,
} from '../machines/router.js';
import { type AgentRole, DEPARTMENT_TABLE, instructionsFor, openingFor } from './departments.js';

export type CallEvent =
  | {
      type: 'started';
      callId: string;
      state: CallState;
      caller: CallerInfo;
      maxHandoffs: number;
      humanAvailable: boolean;
      at: number;
    }
  | { type: 'user'; text: string; at: number }
  | { type: 'agent'; agent: AgentRole; text: string; interrupted: boolean; at: number }
  | {
      type: 'handoff';
      from: CallState;
      to: Target;
      handoffCount: number;
      reason: string;
      source: TransferSource;
      escalated: boolean;
      /** Transfer requested (tool call arrived) → the new agent's first LLM request, in ms. */
      latencyMs: number | null;
      at: number;
    }
  | { type: 'rejected'; from: CallState; to: string; reason: string; source: TransferSource; at: number }
  | { type: 'caller'; caller: CallerInfo; at: number }
  /** A keypad digit: the transfer it asked for (or none: the digit means nothing here) and the answer. */
  | { type: 'keypad'; digit: string; target: Target | null; accepted: boolean; reason?: string; at: number }
  | { type: 'error'; message: string; at: number }
  | { type: 'end'; state: CallState; handoffCount: number; reason: string | null; at: number };

/** Per-call data in the session's `userData`: what every department sees. */
export interface CallData {
  callId: string;
  caller: CallerInfo;
  handoffCount: number;
}

export interface HandoffTiming {
  from: CallState;
  to: Target;
  /** When the request reached the machine (the tool call arriving, a key press, a supervisor). */
  requestedAt: number;
  /** When the new agent made its first LLM request. */
  firstLlmRequestAt: number | null;
  latencyMs: number | null;
}

export type TransferAnswer =
  | { accepted: true; from: CallState; to: CallState }
  | { accepted: false; from: CallState; reason: string };

export interface CallOptions {
  callId: string;
  llm: llm.LLM;
  company: string;
  maxHandoffs: number;
  humanAvailable: boolean;
  caller?: CallerInfo;
  /** A TTS per department (a distinct voice each), or undefined for a text call. */
  ttsFor?: (role: AgentRole) => voice.AgentOptions<CallData>['tts'];
  /** Extra AgentSession options (STT, VAD, turn handling); the call sets llm, userData and error policy. */
  sessionOptions?: Partial<voice.AgentSessionOptions<CallData>>;
  /** Passed to the routing actor (e.g. an inspector). */
  inspect?: (event: InspectionEvent) => void;
  /**
   * Connects the caller to a person once the hand-off line has played (the worker: SIP REFER to
   * HUMAN_TRANSFER_TO). A rejection sends HUMAN_TRANSFER_FAILED: the caller returns where they came from.
   */
  connectHuman?: (call: Call) => Promise<void>;
  /**
   * Said when an LLM turn fails for good (after the `error` event), so the caller never sits in dead
   * air and knows to repeat themselves. One line per failed turn, spoken by the agent on the line and
   * kept in the history. Default: `DEFAULT_APOLOGY`.
   */
  apologyOnLlmError?: string;
  /** Keypad digits → transfer targets (DTMF_MAP). */
  dtmfMap?: Readonly<Record<string, Target>>;
  /** Hangs up the line once the agent ended the call and its goodbye played (the worker deletes the room). */
  hangUp?: () => Promise<void>;
  /** How long the goodbye may take before the session is closed anyway (ms). */
  goodbyeTimeoutMs?: number;
}

/** What the agent says when its LLM turn failed for good. */
export const DEFAULT_APOLOGY = "I'm sorry, I didn't catch that. Could you say it again?";

/**
 * Bounds on what the model (or any other source) may put into the call's context. A transfer reason
 * goes into the route, the events and the next department's instructions; caller details go into every
 * department's instructions. Longer values are cut (on a character boundary) and marked with "…".
 */
export const MAX_REASON_CHARS = 500;
export const MAX_CALLER_FIELD_CHARS = 200;

/** A tool call's arguments, or a tool's output, longer than this is cut before it goes to the model again. */
export const MAX_TOOL_ARGS_CHARS = 2000;

/** `text` trimmed and cut to at most `max` characters (code points, so no emoji is split in half). */
export function bounded(text: string, max: number): string {
  const t = text.trim();
  if (t.length <= max) return t;
  const chars = Array.from(t);
  return chars.length <= max ? t : `${chars.slice(0, max - 1).join('').trimEnd()}…`;
}

/** The arguments of `update_caller_info`: only the fields the caller stated. */
export const callerInfoParam = z.object({
  name: z.string().optional().describe("The caller's name"),
  phoneNumber: z.string().optional().describe('A phone number to reach them'),
  accountId: z.string().optional().describe('Their account or customer id'),
  need: z.string().optional().describe('What they want, in one sentence'),
});

const reasonParam = z.object({
  reason: z.string().describe('Why the caller needs this transfer, in a short sentence.'),
});

/** An agent of one department. It leaves the line for good when the machine moves on. */
export class DepartmentAgent extends voice.Agent<CallData> {
  /** Set once the machine has moved the call away from this agent: it says nothing more. */
  retired = false;
  private firstLlmRequestSeen = false;

  constructor(
    readonly role: AgentRole,
    private readonly call: Call,
    private readonly opening: string,
    options: Omit<voice.AgentOptions<CallData>, 'instructions'> & { instructions: string },
  ) {
    super({ id: role, ...options });
  }

  override async onEnter(): Promise<void> {
    // Copy the history now, not when the transfer was requested: the previous agent's last line is
    // committed only after its transfer tool has run.
    await this.updateChatCtx(carriedHistory(this.session.history));
    // toolChoice 'none': the entry reply always speaks and never chains another transfer by itself.
    const speech = this.session.generateReply({ instructions: this.opening, toolChoice: 'none' });
    this.call._entrySpeech(this, speech);
  }

  override async llmNode(...[chatCtx, ...rest]: Parameters<voice.Agent['llmNode']>): ReturnType<voice.Agent['llmNode']> {
    // A retired agent may still be asked for a reply to a tool that ran in the same batch as its
    // transfer; the caller must not hear it after the transfer.
    // (An empty stream, not `null`: with `null` the framework never closes the turn's tool channel
    // and the turn hangs.)
    if (this.retired) return new ReadableStream({ start: (c) => c.close() }) as Awaited<ReturnType<voice.Agent['llmNode']>>;
    if (!this.firstLlmRequestSeen) {
      this.firstLlmRequestSeen = true;
      this.call._firstLlmRequest(this);
    }
    return voice.Agent.default.llmNode(this, boundedForModel(chatCtx), ...rest) as ReturnType<voice.Agent['llmNode']>;
  }
}

/** Oversized JSON arguments: each string value cut to `MAX_REASON_CHARS`; anything else unusable → `{}`. */
function boundedArgs(args: string): string {
  try {
    const v: unknown = JSON.parse(args);
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const cut = Object.fromEntries(
        Object.entries(v).map(([k, x]) => [k, typeof x === 'string' ? bounded(x, MAX_REASON_CHARS) : x]),
      );
      const json = JSON.stringify(cut);
      if (json.length <= MAX_TOOL_ARGS_CHARS) return json;
    }
  } catch {
    /* not JSON: nothing worth keeping */
  }
  return '{}';
}

/**
 * The context as it is sent to the model: tool calls with oversized arguments (a model gone wrong, a
 * 200 KB "reason") and oversized tool outputs are cut, so one bad call does not weigh on every later
 * request of the call. The context itself (the history) is left as it was.
 */
export function boundedForModel(ctx: llm.ChatContext): llm.ChatContext {
  const tooBig = (item: llm.ChatItem) =>
    (item.type === 'function_call' && item.args.length > MAX_TOOL_ARGS_CHARS) ||
    (item.type === 'function_call_output' && item.output.length > MAX_TOOL_ARGS_CHARS);
  if (!ctx.items.some(tooBig)) return ctx;
  const copy = ctx.copy();
  copy.items = copy.items.map((item) => {
    if (!tooBig(item)) return item;
    if (item.type === 'function_call') {
      return llm.FunctionCall.create({
        id: item.id,
        callId: item.callId,
        name: item.name,
        args: boundedArgs(item.args),
        createdAt: item.createdAt,
        extra: item.extra,
        groupId: item.groupId,
        thoughtSignature: item.thoughtSignature,
      });
    }
    if (item.type === 'function_call_output') {
      return llm.FunctionCallOutput.create({
        id: item.id,
        callId: item.callId,
        name: item.name,
        output: bounded(item.output, MAX_TOOL_ARGS_CHARS),
        isError: item.isError,
        createdAt: item.createdAt,
      });
    }
    return item;
  });
  return copy;
}

/**
 * The session history as the next agent should see it: no system/developer instructions, and no
 * function call without its output (or output without its call) — OpenAI rejects such a history.
 */
export function carriedHistory(history: llm.ChatContext): llm.ChatContext {
  const ctx = history.copy({ excludeInstructions: true });
  const calls = new Set<string>();
  const outputs = new Set<string>();
  for (const item of ctx.items) {
    if (item.type === 'function_call') calls.add(item.callId);
    if (item.type === 'function_call_output') outputs.add(item.callId);
  }
  ctx.items = ctx.items.filter(
    (item) =>
      (item.type !== 'function_call' || outputs.has(item.callId)) &&
      (item.type !== 'function_call_output' || calls.has(item.callId)),
  );
  return ctx;
}

interface PendingHandoff {
  entry: RouteEntry;
  handoffCount: number;
  requestedAt: number;
  agent: DepartmentAgent;
}

export class Call extends EventEmitter<{ event: [CallEvent] }> {
  readonly callId: string;
  readonly actor: Actor<typeof routerMachine>;
  readonly session: voice.AgentSession<CallData>;
  readonly handoffs: HandoffTiming[] = [];
  readonly events: CallEvent[] = [];
  /** Resolves once the first agent's greeting has played (or failed). */
  readonly greeted: Promise<void>;
  /** Resolves when the call is over and the session closed. */
  readonly finished: Promise<CallEvent & { type: 'end' }>;

  private agent: DepartmentAgent | null = null;
  private previousAgent: DepartmentAgent | null = null;
  private state: CallState = 'triage';
  private seenRefusals = 0;
  private callerJson = '{}';
  private pending: PendingHandoff | null = null;
  private requestStartedAt: number | null = null;
  private resolveGreeted!: () => void;
  private resolveFinished!: (e: CallEvent & { type: 'end' }) => void;
  private ending = false;
  /** The last apology said after a failed LLM turn. */
  private apology: voice.SpeechHandle | null = null;

  constructor(private readonly opts: CallOptions) {
    super();
    this.callId = opts.callId;
    this.finished = new Promise((r) => (this.resolveFinished = r));
    this.greeted = new Promise((r) => (this.resolveGreeted = r));
    this.actor = createActor(routerMachine, {
      id: opts.callId,
      input: {
        callId: opts.callId,
        maxHandoffs: opts.maxHandoffs,
        humanAvailable: opts.humanAvailable,
        caller: opts.caller,
      },
      inspect: opts.inspect,
    });
    const caller = { ...(opts.caller ?? {}) };
    this.session = new voice.AgentSession<CallData>({
      ...opts.sessionOptions,
      llm: opts.llm,
      userData: { callId: opts.callId, caller, handoffCount: 0 },
      connOptions: {
        ...opts.sessionOptions?.connOptions,
        // A failed LLM turn is reported and the call goes on; the caller (or the agent) ends it.
        maxUnrecoverableErrors: Number.MAX_SAFE_INTEGER,
      },
    });
    this.wireSession();
  }

  /** The agent on the line, and the machine's state. They agree between transfers. */
  get activeRole(): AgentRole | null {
    return this.agent?.role ?? null;
  }
  get machineState(): CallState {
    return this.actor.getSnapshot().value as CallState;
  }

  private emitEvent(e: CallEvent): void {
    this.events.push(e);
    this.emit('event', e);
  }

  async start(startOptions: Omit<Parameters<voice.AgentSession<CallData>['start']>[0], 'agent'> = {}): Promise<void> {
    this.actor.subscribe({
      next: (snap) => this.onSnapshot(snap),
      error: (err) => {
        // A throwing guard or action stops the actor; the caller must not be left with nobody.
        this.emitEvent({ type: 'error', message: `routing failed: ${String(err)}`, at: Date.now() });
        void this.finish('routing-error');
      },
    });
    this.actor.start();
    const snap = this.actor.getSnapshot();
    // The agent exists before anyone hears of the call: machine and agent agree from the first event.
    this.agent = this.buildAgent('triage', openingFor('triage', { kind: 'start' }));
    this.emitEvent({
      type: 'started',
      callId: this.callId,
      state: snap.value as CallState,
      caller: snap.context.caller,
      maxHandoffs: snap.context.maxHandoffs,
      humanAvailable: snap.context.humanAvailable,
      at: Date.now(),
    });
    await this.session.start({ ...startOptions, agent: this.agent });
  }

  // ---- events into the machine -------------------------------------------------------------------

  /** Any source's transfer request: the machine decides. */
  requestTransfer(to: string, reason: string, source: TransferSource): TransferAnswer {
    const before = this.actor.getSnapshot();
    const from = before.value as CallState;
    if (before.status !== 'active') return { accepted: false, from, reason: 'The call has already ended.' };
    this.requestStartedAt = performance.now();
    // An oversized reason (a model gone wrong) is cut, not refused: the caller still gets where they asked.
    const why = bounded(typeof reason === 'string' ? reason : '', MAX_REASON_CHARS) || '(no reason given)';
    this.actor.send({ type: 'TRANSFER', to, reason: why, source });
    this.requestStartedAt = null;
    const after = this.actor.getSnapshot();
    if (after.value !== from) return { accepted: true, from, to: after.value as CallState };
    const refusal = after.context.refusals.length > before.context.refusals.length ? after.context.refusals.at(-1) : undefined;
    return { accepted: false, from, reason: refusal?.reason ?? 'The transfer was not accepted.' };
  }

  /**
   * A keypad digit from the phone: a transfer request under the same guards as the LLM's. A digit
   * with no meaning is ignored (and reported as a `keypad` event with no target).
   */
  pressKey(digit: string): TransferAnswer | null {
    const target = this.opts.dtmfMap?.[digit] ?? null;
    if (!target) {
      this.emitEvent({ type: 'keypad', digit, target: null, accepted: false, reason: 'no meaning here', at: Date.now() });
      return null;
    }
    const answer = this.requestTransfer(target, `caller pressed ${digit}`, 'keypad');
    this.emitEvent({
      type: 'keypad',
      digit,
      target,
      accepted: answer.accepted,
      reason: answer.accepted ? undefined : answer.reason,
      at: Date.now(),
    });
    return answer;
  }

  updateCaller(info: Partial<CallerInfo>): CallerInfo {
    const clean = Object.fromEntries(
      Object.entries(info).map(([k, v]) => [k, typeof v === 'string' ? bounded(v, MAX_CALLER_FIELD_CHARS) : v]),
    ) as Partial<CallerInfo>;
    this.actor.send({ type: 'CALLER_INFO', info: clean });
    return this.actor.getSnapshot().context.caller;
  }

  /** The caller hung up (or the room went away). */
  hangup(): void {
    this.actor.send({ type: 'HANGUP' });
  }

  /** Ends the call (the agent's end_call, a supervisor, a completed transfer to a person). */
  endCall(reason: string): void {
    this.actor.send({ type: 'END_CALL', reason });
  }

  send(event: RouterEvent): void {
    this.actor.send(event);
  }

  // ---- the subscriber: machine → session ---------------------------------------------------------

  private onSnapshot(snap: ReturnType<typeof this.actor.getSnapshot>): void {
    const ctx = snap.context;
    for (; this.seenRefusals < ctx.refusals.length; this.seenRefusals++) {
      const r = ctx.refusals[this.seenRefusals]!;
      this.emitEvent({ type: 'rejected', from: r.from, to: r.to, reason: r.reason, source: r.source, at: r.at });
    }
    const callerJson = JSON.stringify(ctx.caller);
    if (callerJson !== this.callerJson) {
      this.callerJson = callerJson;
      this.session.userData.caller = { ...ctx.caller };
      this.emitEvent({ type: 'caller', caller: { ...ctx.caller }, at: Date.now() });
    }
    this.session.userData.handoffCount = ctx.handoffCount;

    const value = snap.value as CallState;
    if (value === this.state) return;
    const from = this.state;
    this.state = value;
    if (value === 'ended') {
      void this.onEnded(ctx.endReason);
      return;
    }
    const entry = ctx.route.at(-1)!;
    const requestedAt = this.requestStartedAt ?? performance.now();
    this.swapAgent(from, value, entry, ctx.handoffCount, requestedAt);
  }

  private swapAgent(from: CallState, to: AgentRole, entry: RouteEntry, handoffCount: number, requestedAt: number) {
    const old = this.agent;
    if (old) old.retired = true;
    const opening =
      entry.from === 'human' ? openingFor(to, { kind: 'returned', reason: entry.reason })
      : openingFor(to, { kind: 'transfer', from: entry.from as AgentRole, reason: entry.reason });
    const agent = this.buildAgent(to, opening);
    this.previousAgent = old;
    this.agent = agent;
    this.pending = { entry, handoffCount, requestedAt, agent };
    this.handoffs.push({ from, to, requestedAt, firstLlmRequestAt: null, latencyMs: null });
    // A tool-initiated transfer happens inside the old agent's turn: its line (if any) finishes, then
    // the swap. Anything else (keypad, supervisor) cuts the current speech short first.
    if (entry.source !== 'agent' && entry.source !== 'system') {
      try {
        this.session.interrupt({ force: true });
      } catch {
        /* nothing to interrupt */
      }
    }
    this.session.updateAgent(agent);
  }

  /** Called by each agent's onEnter with its one entry reply. */
  _entrySpeech(agent: DepartmentAgent, speech: voice.SpeechHandle): void {
    if (agent.role === 'triage' && this.handoffs.length === 0) {
      // Greeted once the greeting played — or, if its LLM request failed, the apology said instead.
      void speech
        .waitForPlayout()
        .catch(() => undefined)
        .then(() => this.apology?.waitForPlayout())
        .catch(() => undefined)
        .then(this.resolveGreeted);
    }
    const connect = this.opts.connectHuman;
    if (agent.role === 'human' && connect) {
      void speech
        .waitForPlayout()
        .catch(() => undefined)
        .then(() => connect(this))
        .then(() => {
          // The provider took the caller: this call's part is over.
          if (this.machineState === 'human') this.endCall('transferred to a person');
        })
        .catch((err: unknown) => {
          const reason = err instanceof Error ? err.message : String(err);
          this.reportError(`transfer to a person failed: ${reason}`);
          if (this.machineState === 'human') this.send({ type: 'HUMAN_TRANSFER_FAILED', reason });
        });
    }
  }

  /** Called by an agent's first LLM request: closes the handoff timing and publishes the handoff. */
  _firstLlmRequest(agent: DepartmentAgent): void {
    const p = this.pending;
    if (!p || p.agent !== agent) return;
    this.pending = null;
    const now = performance.now();
    const timing = this.handoffs.at(-1)!;
    timing.firstLlmRequestAt = now;
    timing.latencyMs = now - p.requestedAt;
    this.emitHandoff(p, timing.latencyMs);
  }

  private emitHandoff(p: PendingHandoff, latencyMs: number | null) {
    this.emitEvent({
      type: 'handoff',
      from: p.entry.from,
      to: p.entry.to,
      handoffCount: p.handoffCount,
      reason: p.entry.reason,
      source: p.entry.source,
      escalated: p.entry.escalated ?? false,
      latencyMs: latencyMs === null ? null : Math.round(latencyMs * 100) / 100,
      at: Date.now(),
    });
  }

  private async onEnded(reason: string | null): Promise<void> {
    // end_call: the agent's goodbye (its reply to the tool) plays before the session closes.
    if (reason !== 'hangup') await this.waitForQuiet(this.opts.goodbyeTimeoutMs ?? 5000);
    await this.finish(reason);
  }

  private async waitForQuiet(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // The goodbye is scheduled right after the end_call tool returns; give it a moment to appear.
    await new Promise((r) => setTimeout(r, 50));
    while (Date.now() < deadline && ['thinking', 'speaking'].includes(this.session.agentState)) {
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  private async finish(reason: string | null): Promise<void> {
    if (this.ending) return;
    this.ending = true;
    if (this.pending) {
      this.emitHandoff(this.pending, null);
      this.pending = null;
    }
    try {
      await this.session.close();
    } catch {
      /* already closing */
    }
    const snap = this.actor.getSnapshot();
    // The agent ended the call: hang up the line (a caller who hung up needs nothing more).
    if (snap.value === 'ended' && snap.context.endReason !== 'hangup' && this.opts.hangUp) {
      try {
        await this.opts.hangUp();
      } catch (err) {
        this.reportError(`could not hang up: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const end = {
      type: 'end' as const,
      state: snap.value as CallState,
      handoffCount: snap.context.handoffCount,
      reason: snap.context.endReason ?? reason,
      at: Date.now(),
    };
    this.actor.stop();
    this.emitEvent(end);
    this.resolveFinished(end);
  }

  /**
   * Closes the session and waits for the end event. The machine is left where it is: a text call
   * whose input ran out reports the department that held the call (use `endCall` or `hangup` to
   * move the machine to `ended` first).
   */
  async close(reason = 'completed'): Promise<CallEvent & { type: 'end' }> {
    void this.finish(reason);
    return this.finished;
  }

  /** A failure the call survived, reported on the call's event stream. */
  reportError(message: string): void {
    this.emitEvent({ type: 'error', message, at: Date.now() });
  }

  // ---- agents and their tools --------------------------------------------------------------------

  private buildAgent(role: AgentRole, opening: string): DepartmentAgent {
    const snap = this.actor.getSnapshot();
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const tools: llm.FunctionTool<any, CallData, any>[] = [];
    const state: CallState = role;
    let agent: DepartmentAgent;
    for (const target of transferTargets(state)) {
      if (target === 'human' && !snap.context.humanAvailable) continue;
      const name = target === 'human' ? 'transfer_to_human' : `pass_control_to_${target}`;
      tools.push(llm.tool({
        name,
        description:
          target === 'human'
            ? 'Transfer the caller to a person on our team, when they ask for a human or you cannot help.'
            : `Transfer the caller to ${DEPARTMENT_TABLE[target].title}. ${DEPARTMENT_TABLE[target].role.split('.')[0]}.`,
        parameters: reasonParam,
        execute: async ({ reason }, { ctx }) => this.runTransferTool(agent, target, reason, ctx),
      }));
    }
    if (role !== 'human') {
      tools.push(llm.tool({
        name: 'update_caller_info',
        description: 'Save what the caller told you about themselves. Pass only the fields you learned.',
        parameters: callerInfoParam,
        execute: async (info) => {
          const caller = this.updateCaller(info);
          return { saved: true, caller };
        },
      }));
    }
    tools.push(llm.tool({
      name: 'end_call',
      description: 'End the call when the caller is done. Do not say goodbye before calling it; you will be asked to.',
      parameters: z.object({ reason: z.string().optional().describe('Why the call ends') }),
      execute: async ({ reason }, { ctx }) => {
        if (agent.retired) throw new llm.ToolError('This call has been transferred; say nothing more.');
        try {
          ctx.disallowInterruptions();
        } catch {
          /* already interrupted */
        }
        this.endCall(reason?.trim() || 'completed');
        return 'The call is ending. Say a short, warm goodbye and nothing else.';
      },
    }));
    agent = new DepartmentAgent(role, this, opening, {
      instructions: instructionsFor(role, { company: this.opts.company, caller: snap.context.caller }),
      tools,
      tts: this.opts.ttsFor?.(role),
    });
    return agent;
  }

  private async runTransferTool(
    agent: DepartmentAgent,
    target: Target,
    reason: string,
    ctx: voice.RunContext<CallData>,
  ): Promise<undefined> {
    if (agent.retired || this.agent !== agent) {
      // At most one transfer per turn: the first one won, this agent is no longer on the line.
      throw new llm.ToolError('A transfer is already under way; say nothing more.');
    }
    try {
      // Once the machine accepts, the caller talking over the line must not undo the transfer.
      ctx.disallowInterruptions();
    } catch {
      /* already interrupted: the machine still decides */
    }
    const answer = this.requestTransfer(target, reason, 'agent');
    if (!answer.accepted) throw new llm.ToolError(`Transfer refused: ${answer.reason}`);
    // No output: the old agent does not reply; the new agent speaks first.
    return undefined;
  }

  private wireSession(): void {
    const S = voice.AgentSessionEventTypes;
    this.session.on(S.ConversationItemAdded, ({ item }) => {
      if (item.type !== 'message') return;
      const text = item.textContent ?? '';
      if (item.role === 'user') this.emitEvent({ type: 'user', text, at: Date.now() });
      else if (item.role === 'assistant' && text.trim()) {
        const role = this.speakerOf(item.id) ?? this.agent?.role ?? 'triage';
        this.emitEvent({ type: 'agent', agent: role, text, interrupted: item.interrupted, at: Date.now() });
      }
    });
    this.session.on(S.Error, ({ error }) => {
      if ((error as { recoverable?: boolean }).recoverable) return;
      const inner = (error as { error?: unknown }).error;
      const message = inner instanceof Error ? inner.message : String(inner ?? error.type);
      this.emitEvent({ type: 'error', message: `${error.type}: ${message}`, at: Date.now() });
      if (error.type === 'llm_error') this.apologize();
    });
    this.session.on(S.Close, ({ reason }) => {
      // The room or the caller went away without the machine hearing of it: it hears now.
      if (!this.ending && this.actor.getSnapshot().status === 'active') {
        if (reason === 'participant_disconnected') this.hangup();
        else this.endCall(String(reason));
      }
    });
  }

  /**
   * One line after a failed LLM turn, so the caller is not left in dead air and knows to say it again.
   * `say` needs no LLM; with no audio output (a text call) it still commits the line to the history
   * and the transcript. Not when the turn that failed had already handed the call on (the stream broke
   * after its transfer tool call arrived): the old agent is draining and cannot speak, and the new
   * department's entry reply is the caller's next line.
   */
  private apologize(): void {
    if (this.ending || this.pending) return;
    try {
      this.apology = this.session.say(this.opts.apologyOnLlmError ?? DEFAULT_APOLOGY);
    } catch (err) {
      this.reportError(`apology not said: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /**
   * Who said a message: the agent whose context it was committed to. The old agent's last line is
   * committed during the swap, when `this.agent` already names the new one.
   */
  private speakerOf(itemId: string): AgentRole | undefined {
    for (const a of [this.agent, this.previousAgent]) if (a?.chatCtx.getById(itemId)) return a.role;
    return undefined;
  }
}
