/**
 * One call: one routing actor and one LiveKit `AgentSession`, the session following the machine.
 *
 * - Tools, the keypad and a supervisor send the actor events; the machine decides and announces what
 *   it decided (`transferred`, `refused`, `callerUpdated`, `ended`, with XState's `emit`).
 * - On `transferred` the old agent is retired and `session.updateAgent(...)` puts the new one on the
 *   line, built from the department table; it inherits the history when it takes the line.
 * - Every step is published as a `CallEvent` (transcript, handoffs with timings, refusals, errors, end).
 */
import { EventEmitter } from 'node:events';
import { voice } from '@livekit/agents';
import { type Actor, createActor } from 'xstate';
import {
  type CallState,
  type CallerInfo,
  type Refusal,
  type RouteEntry,
  type RouterEvent,
  type Target,
  type TransferSource,
  callStateOf,
  routerMachine,
} from '../../machines/router.js';
import type { Opening } from '../departments.js';
import type { CallData, DepartmentAgent } from './agent.js';
import { bridgeFor, prewarmBridges } from './bridge.js';
import { MAX_CALLER_FIELD_CHARS, MAX_REASON_CHARS, bounded } from './context.js';
import { type DeskPort, buildDesk, deskInstructions } from './desk.js';
import type { CallEvent } from './events.js';
import { PendingHandoff } from './handoff.js';
import { type CallOptions, DEFAULT_APOLOGY, type HandoffTiming, type TransferAnswer } from './options.js';
import { JOINED_TO_PERSON, connectPerson } from './person.js';
import { type PreparedStats, emptyPreparedStats, prepareReply } from './prepared-reply.js';
import { followSession } from './session-events.js';
import { errorText, waitForQuiet } from './session.js';
import { detectLanguage, parseLanguage } from '../language.js';
import { toE164 } from '../telephony/numbers.js';

type EndEvent = CallEvent & { type: 'end' };


export class Call extends EventEmitter<{ event: [CallEvent] }> {
  readonly callId: string;
  readonly actor: Actor<typeof routerMachine>;
  readonly session: voice.AgentSession<CallData>;
  readonly handoffs: HandoffTiming[] = [];
  readonly events: CallEvent[] = [];
  /** Replies prepared during transfers: requests made, used, thrown away, tokens. */
  readonly prepared: PreparedStats = emptyPreparedStats();
  /** Resolves once the first agent's greeting has played (or failed). */
  readonly greeted: Promise<void>;
  /** Resolves when the call is over and the session closed. */
  readonly finished: Promise<EndEvent>;

  private agent: DepartmentAgent | null = null;
  private previousAgent: DepartmentAgent | null = null;
  private pending: PendingHandoff | null = null;
  /** The machine's answer to the request being sent (set by its announcements, inside `send`). */
  private decision: TransferAnswer | null = null;
  private resolveGreeted!: () => void;
  private resolveFinished!: (e: EndEvent) => void;
  private ending = false;
  /** The last apology said after a failed LLM turn. */
  private apology: voice.SpeechHandle | null = null;
  /** Refusals of a transfer the agent announced aloud: published once that line is committed (hearing order). */
  private heldRefusals: CallEvent[] = [];
  private readonly deskPort: DeskPort;

  constructor(private readonly opts: CallOptions) {
    super();
    this.callId = opts.callId;
    this.deskPort = this.deskPortOf(opts);
    this.finished = new Promise((r) => (this.resolveFinished = r));
    this.greeted = new Promise((r) => (this.resolveGreeted = r));
    this.actor = createActor(routerMachine, {
      id: opts.callId,
      input: {
        callId: opts.callId,
        maxHandoffs: opts.maxHandoffs,
        humanAvailable: opts.humanAvailable,
        humanTransferMode: opts.humanTransferMode,
        caller: opts.caller,
      },
      inspect: opts.inspect,
    });
    this.listenToMachine();
    this.session = new voice.AgentSession<CallData>({
      ...opts.sessionOptions,
      llm: opts.llm,
      userData: { callId: opts.callId, caller: { ...(opts.caller ?? {}) }, handoffCount: 0 },
      connOptions: {
        ...opts.sessionOptions?.connOptions,
        // A failed LLM turn is reported and the call goes on; the caller (or the agent) ends it.
        maxUnrecoverableErrors: Number.MAX_SAFE_INTEGER,
      },
    });
    followSession(this.session, {
      emit: (e) => this.emitEvent(e),
      speakerOf: (id) => [this.agent, this.previousAgent].find((a) => a?.chatCtx.getById(id))?.role ?? this.agent?.role ?? 'triage',
      callerSpoke: () => {
        // The agent on the line has heard the caller: its transfers are no longer part of a chain.
        if (this.agent) this.agent.heardCaller = true;
      },
      agentSpoke: () => this.releaseHeldRefusals(),
      llmFailed: () => this.apologize(),
      closed: (reason) => {
        // The room or the caller went away without the machine hearing of it: it hears now.
        if (this.ending || this.actor.getSnapshot().status !== 'active') return;
        if (reason === 'participant_disconnected') this.hangup();
        else this.endCall(reason);
      },
    });
  }

  private readonly closing = new AbortController();
  /** Aborted once the call starts closing (hung up, ended, or closed by its owner). */
  get closingSignal(): AbortSignal {
    return this.closing.signal;
  }

  /** The agent on the line, and the machine's state. They agree between transfers. */
  get activeRole(): Target | null {
    return this.agent?.role ?? null;
  }
  get machineState(): CallState {
    return callStateOf(this.actor.getSnapshot().value);
  }

  private emitEvent(e: CallEvent): void {
    this.events.push(e);
    this.emit('event', e);
  }

  async start(startOptions: Omit<Parameters<voice.AgentSession<CallData>['start']>[0], 'agent'> = {}): Promise<void> {
    this.actor.start();
    const snap = this.actor.getSnapshot();
    // The agent exists before anyone hears of the call: machine and agent agree from the first event.
    const language = snap.context.caller.language ?? this.opts.greetingLanguage;
    this.agent = this.buildAgent('triage', { kind: 'start', language });
    this.emitEvent({
      type: 'started',
      callId: this.callId,
      state: callStateOf(snap.value),
      caller: snap.context.caller,
      maxHandoffs: snap.context.maxHandoffs,
      humanAvailable: snap.context.humanAvailable,
      at: Date.now(),
    });
    if (this.opts.ttsFor) prewarmBridges(this.opts.ttsFor, this.opts.deskNames);
    await this.session.start({ ...startOptions, agent: this.agent });
  }

  // ---- events into the machine -------------------------------------------------------------------

  /** Any source's transfer request: the machine decides. */
  requestTransfer(to: string, reason: string, source: TransferSource, chained = false): TransferAnswer {
    const snap = this.actor.getSnapshot();
    const from = callStateOf(snap.value);
    if (snap.status !== 'active') return { accepted: false, from, reason: 'The call has already ended.' };
    // An oversized reason (a model gone wrong) is cut, not refused: the caller still gets where they asked.
    const why = bounded(typeof reason === 'string' ? reason : '', MAX_REASON_CHARS) || '(no reason given)';
    this.decision = null;
    this.actor.send({ type: 'TRANSFER', to, reason: why, source, ...(chained ? { chained } : {}) });
    return this.decision ?? { accepted: false, from, reason: 'The transfer was not accepted.' };
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
    const reason = answer.accepted ? undefined : answer.reason;
    this.emitEvent({ type: 'keypad', digit, target, accepted: answer.accepted, reason, at: Date.now() });
    return answer;
  }

  updateCaller(info: Partial<CallerInfo>): CallerInfo {
    const clean = Object.fromEntries(
      Object.entries(info).map(([k, v]) => [k, typeof v === 'string' ? bounded(v, MAX_CALLER_FIELD_CHARS) : v]),
    ) as Partial<CallerInfo>;
    // A number as the caller said it ("098765 43210") is kept in E.164; a language by its code ("Hindi" → hi).
    if (clean.phoneNumber) clean.phoneNumber = toE164(clean.phoneNumber) ?? clean.phoneNumber;
    if (clean.language !== undefined) clean.language = parseLanguage(clean.language) ?? undefined;
    this.actor.send({ type: 'CALLER_INFO', info: clean });
    return this.actor.getSnapshot().context.caller;
  }

  /**
   * The language of the caller's latest line, when it tells one, becomes the call's (a switch is
   * followed). Until a line says otherwise the call is taken to be in its greeting's language
   * (English by default): an English caller on an English line changes nothing.
   */
  private followLanguage(text: string): void {
    const language = detectLanguage(text);
    const now = this.actor.getSnapshot().context.caller.language ?? this.opts.greetingLanguage ?? 'en';
    if (language && language !== now) this.updateCaller({ language });
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

  // ---- the machine's announcements → the session -------------------------------------------------

  private listenToMachine(): void {
    this.actor.on('transferred', ({ entry, handoffCount }) => this.onTransferred(entry, handoffCount));
    this.actor.on('refused', ({ refusal }) => this.onRefused(refusal));
    this.actor.on('callerUpdated', ({ caller }) => {
      const before = this.session.userData.caller.language;
      this.session.userData.caller = { ...caller };
      if (caller.language && caller.language !== before) this.opts.languageChanged?.(caller.language);
      this.emitEvent({ type: 'caller', caller: { ...caller }, at: Date.now() });
      // The agent on the line knows what was just saved, from its next word.
      // (`updateInstructions` takes effect at once, so a reply about to be asked for hears it too.)
      const agent = this.agent;
      if (agent && !agent.retired) void agent.updateInstructions(deskInstructions(agent.role, this.deskPort)).catch(() => undefined);
    });
    this.actor.on('personStep', ({ step }) => {
      if (step !== 'cold') this.emitEvent({ type: 'person', step, at: Date.now() });
    });
    this.actor.on('ended', ({ reason }) => void this.onEnded(reason));
    this.actor.subscribe({
      error: (err) => {
        // A throwing guard or action stops the actor; the caller must not be left with nobody.
        this.emitEvent({ type: 'error', message: `routing failed: ${String(err)}`, at: Date.now() });
        void this.finish('routing-error');
      },
    });
  }

  private onRefused(r: Refusal): void {
    this.decision = { accepted: false, from: r.from, reason: r.reason, guidance: r.guidance };
    const event: CallEvent = { type: 'rejected', from: r.from, to: r.to, reason: r.reason, source: r.source, at: r.at };
    // The agent said its line ("let me get you to sales") before calling the tool; the caller hears the
    // refusal after it, so it is published after that line is committed.
    if (r.source === 'agent' && this.agent?.currentReplyText.trim()) this.heldRefusals.push(event);
    else this.emitEvent(event);
  }

  private releaseHeldRefusals(): void {
    const held = this.heldRefusals;
    this.heldRefusals = [];
    for (const e of held) this.emitEvent(e);
  }

  private onTransferred(entry: RouteEntry, handoffCount: number): void {
    this.decision = { accepted: true, from: entry.from, to: entry.to };
    this.session.userData.handoffCount = handoffCount;
    const old = this.agent;
    if (old) old.retired = true;
    // A reply prepared for a desk the call now leaves will never play.
    old?.prepared?.discard();
    this.pending?.agent.prepared?.discard();
    // The old desk said nothing before the transfer: on a voice call the new one bridges the silence.
    const fromTool = old !== null && (entry.source === 'agent' || entry.source === 'system');
    const oldLine = fromTool ? old.currentReplyText : '';
    const bridged = fromTool && !oldLine.trim() && entry.to !== 'human' && this.opts.ttsFor !== undefined;
    const agent = this.buildAgent(
      entry.to,
      entry.from === 'human' ? { kind: 'returned', reason: entry.reason }
      : { kind: 'transfer', from: entry.from as Target, reason: entry.reason, bridged },
    );
    if (bridged) agent.bridge = bridgeFor(agent, this.opts.deskNames);
    this.previousAgent = old;
    this.agent = agent;
    this.pending = new PendingHandoff(entry, handoffCount, agent);
    this.handoffs.push(this.pending.timing);
    // The new agent's first LLM request is the preparation's, made now.
    if (fromTool && this.opts.prepareReplies !== false && prepareReply(agent, agent.bridge?.text ?? oldLine, this.session.history, this.opts.llm, this.prepared)) {
      this.pending.llmRequested();
    }
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

  // ---- hooks of the agents -----------------------------------------------------------------------

  private onTakeLine(agent: DepartmentAgent): void {
    if (this.pending?.agent !== agent) return;
    this.pending.entered = true;
    // A prepared reply's LLM request came first: the handoff is published now, in hearing order.
    this.publishHandoffIfComplete();
  }

  private onEntryReply(agent: DepartmentAgent, speech: voice.SpeechHandle): Promise<void> | undefined {
    if (agent.role === 'triage' && this.handoffs.length === 0) {
      // Greeted once the greeting played — or, if its LLM request failed, the apology said instead.
      void speech
        .waitForPlayout()
        .catch(() => undefined)
        .then(() => this.apology?.waitForPlayout())
        .catch(() => undefined)
        .then(this.resolveGreeted);
    }
    if (agent.role !== 'human' || !this.opts.connectHuman) return;
    const connecting = connectPerson(this, speech, this.opts.connectHuman, this.opts.personTimeoutMs);
    // Warm: LiveKit's WarmTransferTask must run inside the agent's onEnter, which waits for it.
    return this.actor.getSnapshot().context.humanTransferMode === 'warm' ? connecting : undefined;
  }

  /** An agent's first LLM request: closes the handoff timing and publishes the handoff. */
  private onFirstLlmRequest(agent: DepartmentAgent): void {
    if (this.pending?.agent !== agent) return;
    this.pending.llmRequested();
    this.publishHandoffIfComplete();
  }

  private publishHandoffIfComplete(): void {
    if (!this.pending?.complete) return;
    const event = this.pending.event();
    this.pending = null;
    this.emitEvent(event);
  }

  // ---- the end -----------------------------------------------------------------------------------

  private async onEnded(reason: string): Promise<void> {
    // end_call: the agent's goodbye (its reply to the tool) plays before the session closes.
    if (reason !== 'hangup') await waitForQuiet(this.session, this.opts.goodbyeTimeoutMs ?? 5000);
    await this.finish(reason);
  }

  private async finish(reason: string | null): Promise<void> {
    if (this.ending) return;
    this.ending = true;
    // What still runs for this call (a warm transfer on hold) stops before the session closes.
    this.closing.abort(new Error('the call is closing'));
    this.releaseHeldRefusals();
    if (this.pending) {
      this.pending.agent.prepared?.discard();
      this.emitEvent(this.pending.event(false));
      this.pending = null;
    }
    try {
      await this.session.close();
    } catch {
      /* already closing */
    }
    await this.hangUpIfAgentEnded();
    const snap = this.actor.getSnapshot();
    const end: EndEvent = {
      type: 'end',
      state: callStateOf(snap.value),
      handoffCount: snap.context.handoffCount,
      reason: snap.context.endReason ?? reason,
      at: Date.now(),
    };
    this.actor.stop();
    this.emitEvent(end);
    this.resolveFinished(end);
  }

  /** The agent ended the call: hang up the line (a caller who hung up needs nothing more). */
  private async hangUpIfAgentEnded(): Promise<void> {
    const snap = this.actor.getSnapshot();
    // Joined to a person (warm): the caller stays in the room with them.
    if (snap.value !== 'ended' || ['hangup', JOINED_TO_PERSON].includes(snap.context.endReason ?? '') || !this.opts.hangUp) return;
    try {
      await this.opts.hangUp();
    } catch (err) {
      this.reportError(`could not hang up: ${errorText(err)}`);
    }
  }

  /**
   * Closes the session and waits for the end event. The machine is left where it is: a text call
   * whose input ran out reports the department that held the call (use `endCall` or `hangup` to
   * move the machine to `ended` first).
   */
  async close(reason = 'completed'): Promise<EndEvent> {
    void this.finish(reason);
    return this.finished;
  }

  /** A failure the call survived, reported on the call's event stream. */
  reportError(message: string): void {
    this.emitEvent({ type: 'error', message, at: Date.now() });
  }

  // ---- agents and their tools --------------------------------------------------------------------

  private buildAgent(role: Target, how: Opening): DepartmentAgent {
    return buildDesk(role, how, this.deskPort);
  }

  /** What a desk needs of the call: the machine's answers and the call's hooks. */
  private deskPortOf(opts: CallOptions): DeskPort {
    return {
    company: opts.company,
    deskNames: opts.deskNames,
    ttsFor: opts.ttsFor,
    context: () => this.actor.getSnapshot().context,
    isOnLine: (agent) => this.agent === agent && !agent.retired,
    requestTransfer: (to, reason, chained) => this.requestTransfer(to, reason, 'agent', chained),
    updateCaller: (info) => this.updateCaller(info),
    endCall: (reason) => this.endCall(reason),
    hooks: (agent) => ({
      onTakeLine: () => this.onTakeLine(agent),
      onEntryReply: (speech) => this.onEntryReply(agent, speech),
      onFirstLlmRequest: () => this.onFirstLlmRequest(agent),
      beforeReplyTo: (line) => this.followLanguage(line),
    }),
    };
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
      this.reportError(`apology not said: ${errorText(err)}`);
    }
  }
}
