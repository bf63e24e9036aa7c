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
import { openTransfers } from '../../machines/derive.js';
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
import type { CallData, DepartmentAgent } from './agent.js';
import { prewarmBridges } from './bridge.js';
import { MAX_REASON_CHARS, bounded, cleanCallerInfo } from './context.js';
import type { DeskPort } from './desk.js';
import type { CallEvent } from './events.js';
import { Line } from './line.js';
import { trimForPause } from './trim.js';
import { type CallOptions, DEFAULT_APOLOGY, DEFAULT_GREETING_APOLOGY, DEFAULT_SEAM_PAUSE_MS, type HandoffTiming, type TransferAnswer } from './options.js';
import { JOINED_TO_PERSON, connectPerson } from './person.js';
import type { PreparedStats } from './prepared-reply.js';
import { Earpiece } from './earpiece.js';
import { CallerVoice, followSession } from './session-events.js';
import { errorText, newSession, waitForQuiet } from './session.js';
import { pressKey } from './keypad.js';
import { languageSwitch, sttLanguageSwitch } from '../language.js';
import { DEFAULT_CONTEXT_BUDGET_TOKENS, DEPARTMENT_TABLE, type HistoryPolicy, TARGETS } from '../departments.js';
import { CallMemory } from './memory.js';
import { TurnLatency } from './turn-latency.js';
import { CallRecording, recordingNotice } from './recording.js';

type EndEvent = CallEvent & { type: 'end' };


export class Call extends EventEmitter<{ event: [CallEvent] }> {
  readonly callId: string;
  readonly actor: Actor<typeof routerMachine>;
  readonly session: voice.AgentSession<CallData>;
  readonly events: CallEvent[] = [];
  /** Resolves once the first agent's greeting has played (or failed). */
  readonly greeted: Promise<void>;
  /** Resolves when the call is over and the session closed. */
  readonly finished: Promise<EndEvent>;

  /** The desk on the line, and the swap. */
  private readonly line: Line;
  /** The machine's answer to the request being sent (set by its announcements, inside `send`). */
  private decision: TransferAnswer | null = null;
  private resolveGreeted!: () => void;
  private resolveFinished!: (e: EndEvent) => void;
  private ending = false;
  /** The last apology said after a failed LLM turn. */
  private apology: voice.SpeechHandle | null = null;
  private readonly deskPort: DeskPort;
  private readonly callerVoice: CallerVoice;
  /** A long call's older turns, summarised in the background (./memory.ts). */
  readonly memory: CallMemory;
  /** What the caller hears of the agents: when each desk's sound starts and ends (voice calls). */
  private readonly earpiece = new Earpiece<DepartmentAgent>((agent, at) => {
    this.line.agentSounded(agent, at);
    this.turns.sounded(agent.role, at);
  });
  /** Each caller turn's latency, told as `turn` events (./turn-latency.ts). */
  private readonly turns: TurnLatency;
  /** When the transfer request being sent reached the machine (its decision is timed from here). */
  private askedAt: number | null = null;
  /** The call's audio, recorded in process (RECORD_CALLS=on; ./recording.ts). */
  private readonly recording: CallRecording | null;

  constructor(private readonly opts: CallOptions) {
    super();
    const { callId, maxHandoffs, humanAvailable, humanTransferMode, caller } = opts;
    this.callId = callId;
    this.deskPort = this.deskPortOf(opts);
    this.finished = new Promise((r) => (this.resolveFinished = r));
    this.greeted = new Promise((r) => (this.resolveGreeted = r));
    this.actor = createActor(routerMachine, {
      id: callId,
      input: { callId, maxHandoffs, humanAvailable, humanTransferMode, caller },
      // An inspector of the routing actor (Stately's, XSTATE_INSPECT=ws: see src/models.ts).
      inspect: opts.inspect,
    });
    this.listenToMachine();
    this.session = newSession(opts);
    // Before anything sets the session's audio (the room, the voice loop): the recording taps it there.
    this.recording = opts.recording ? new CallRecording(this.session, opts.recording.dir, (m) => this.reportError(`recording: ${m}`)) : null;
    this.turns = new TurnLatency(this.session, (e) => this.emitEvent(e));
    this.callerVoice = new CallerVoice(this.session);
    this.memory = new CallMemory({
      llm: opts.llm,
      budgetTokens: opts.contextBudgetTokens ?? DEFAULT_CONTEXT_BUDGET_TOKENS,
      summarises: TARGETS.some((t) => this.historyPolicy(t) === 'summary'),
      language: () => this.actor.getSnapshot().context.caller.language,
      emit: (e) => this.emitEvent(e),
    });
    this.memory.follow(this.session);
    const { llm, ttsFor, deskNames, prepareReplies } = opts;
    this.line = new Line({
      session: this.session, llm, ttsFor, deskNames, prepareReplies, port: this.deskPort,
      emit: (e) => this.emitEvent(e),
      lastSoundAt: () => Math.max(this.earpiece.lastSoundEndAt, this.callerVoice.lastSoundAt()),
      agentSpokeAt: () => this.earpiece.takeFinishedClipSound(),
    });
    followSession(this.session, {
      emit: (e) => this.emitEvent(e),
      beforeLine: () => this.line.beforeLine(),
      speakerOf: (id) => this.line.speakerOf(id),
      callerSpoke: () => this.line.callerSpoke(),
      heardLanguage: (code) => {
        const language = sttLanguageSwitch(code, this.actor.getSnapshot().context.caller.language, this.opts.greetingLanguage);
        if (language) this.updateCaller({ language });
      },
      agentSpoke: () => this.line.agentSpoke(),
      callerSpokeAt: () => this.callerVoice.takeLineStart(),
      agentSpokeAt: () => this.earpiece.takeFinishedClipSound(),
      llmFailed: () => this.apologize(),
      closed: (reason) => {
        // The room or the caller went away without the machine hearing of it: it hears now.
        if (this.ending || this.actor.getSnapshot().status !== 'active') return;
        if (reason === 'participant_disconnected') this.hangup();
        else this.endCall(reason);
      },
    });
  }

  /** What a desk's requests carry of a long call: the call's choice, else the department table's. */
  private historyPolicy(role: Target): HistoryPolicy {
    return this.opts.history?.[role] ?? DEPARTMENT_TABLE[role].history;
  }

  private readonly closing = new AbortController();
  /** Aborted once the call starts closing (hung up, ended, or closed by its owner). */
  get closingSignal(): AbortSignal {
    return this.closing.signal;
  }

  /** The agent on the line, and the machine's state. They agree between transfers. */
  get activeRole(): Target | null {
    return this.line.active?.role ?? null;
  }
  get machineState(): CallState {
    return callStateOf(this.actor.getSnapshot().value);
  }

  /** Each transfer's timing, from the machine's answer to the new desk's first LLM request. */
  get handoffs(): HandoffTiming[] {
    return this.line.handoffs;
  }
  /** Replies prepared during transfers: requests made, used, thrown away, tokens. */
  get prepared(): PreparedStats {
    return this.line.prepared;
  }

  private emitEvent(e: CallEvent): void {
    this.events.push(e);
    this.emit('event', e);
    this.turns.heard(e);
  }

  async start(startOptions: Omit<Parameters<voice.AgentSession<CallData>['start']>[0], 'agent'> = {}): Promise<void> {
    this.actor.start();
    const snap = this.actor.getSnapshot();
    // The agent exists before anyone hears of the call: machine and agent agree from the first event.
    const language = snap.context.caller.language ?? this.opts.greetingLanguage;
    const agent = this.line.first({ kind: 'start', language });
    agent.notice = this.recording ? recordingNotice(this.opts.recording?.notice, language) : null;
    this.emitEvent({
      type: 'started',
      callId: this.callId,
      state: callStateOf(snap.value),
      caller: snap.context.caller,
      maxHandoffs: snap.context.maxHandoffs,
      humanAvailable: snap.context.humanAvailable,
      at: Date.now(),
    });
    if (this.opts.ttsFor) prewarmBridges(this.opts.ttsFor);
    await this.session.start({ ...startOptions, agent });
    if (this.session.output.audio) this.earpiece.follow(this.session.output.audio);
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
    this.askedAt = performance.now();
    this.actor.send({ type: 'TRANSFER', to, reason: why, source, ...(chained ? { chained } : {}) });
    this.askedAt = null;
    return this.decision ?? { accepted: false, from, reason: 'The transfer was not accepted.' };
  }

  /** A keypad digit from the phone (see ./keypad.ts): null when it means nothing here. */
  pressKey(digit: string): TransferAnswer | null {
    return pressKey(digit, this.opts.dtmfMap, (to, why) => this.requestTransfer(to, why, 'keypad'), (e) => this.emitEvent(e));
  }

  updateCaller(info: Partial<CallerInfo>): CallerInfo {
    this.actor.send({ type: 'CALLER_INFO', info: cleanCallerInfo(info) });
    return this.actor.getSnapshot().context.caller;
  }

  /** The language of the caller's latest line, when it tells another one, becomes the call's. */
  private followLanguage(text: string): void {
    const language = languageSwitch(text, this.actor.getSnapshot().context.caller.language, this.opts.greetingLanguage);
    if (language) this.updateCaller({ language });
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
      this.line.callerUpdated();
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
    this.line.refused({ type: 'rejected', from: r.from, to: r.to, reason: r.reason, source: r.source, at: r.at });
  }

  private onTransferred(entry: RouteEntry, handoffCount: number): void {
    this.decision = { accepted: true, from: entry.from, to: entry.to };
    this.session.userData.handoffCount = handoffCount;
    this.line.transfer(entry, handoffCount, this.askedAt === null ? null : performance.now() - this.askedAt);
  }

  // ---- hooks of the agents -----------------------------------------------------------------------

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
    this.line.close();
    try {
      await this.session.close();
    } catch {
      /* already closing */
    }
    await this.hangUpIfAgentEnded();
    // The file is finished before the end is told: the records and call.ended name a whole recording.
    const recording = await this.recording?.close();
    if (recording) this.emitEvent({ type: 'recording', ...recording, at: Date.now() });
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

  /** What a desk needs of the call: the machine's answers and the call's hooks. */
  private deskPortOf(opts: CallOptions): DeskPort {
    return {
    company: opts.company, deskNames: opts.deskNames, ttsFor: opts.ttsFor,
    trim: opts.seamPauseMs === null ? null : trimForPause(opts.seamPauseMs ?? DEFAULT_SEAM_PAUSE_MS),
    context: () => this.actor.getSnapshot().context, openTransfers: () => openTransfers(this.actor.getSnapshot()),
    isOnLine: (agent) => this.line.isOnLine(agent),
    requestTransfer: (to, reason, chained) => this.requestTransfer(to, reason, 'agent', chained),
    updateCaller: (info) => this.updateCaller(info),
    endCall: (reason) => this.endCall(reason),
    hooks: (agent) => ({
      onTakeLine: () => this.line.tookLine(agent),
      onEntryReply: (speech) => this.onEntryReply(agent, speech),
      onFirstLlmRequest: () => this.line.firstLlmRequest(agent),
      beforeReplyTo: (line) => this.followLanguage(line),
      callerMayBeSpeaking: () => this.callerVoice.mayBeSpeaking(),
      meter: () => this.earpiece.meter(agent),
      bridgeSaid: (text, interrupted) => this.line.bridgeSaid(agent, text, interrupted),
      forModel: (ctx) => this.memory.forModel(ctx, this.historyPolicy(agent.role)),
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
    if (this.ending || this.line.switching) return;
    // Before the caller has said anything, "I didn't catch that" would be untrue: the greeting failed.
    const callerSpoke = this.session.history.items.some((i) => i.type === 'message' && i.role === 'user');
    const words = callerSpoke ? (this.opts.apologyOnLlmError ?? DEFAULT_APOLOGY) : (this.opts.apologyOnGreetingError ?? DEFAULT_GREETING_APOLOGY);
    try {
      this.apology = this.session.say(words);
    } catch (err) {
      this.reportError(`apology not said: ${errorText(err)}`);
    }
  }
}
