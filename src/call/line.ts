/**
 * Who is on the line, and the swap. The call's desks are built here from the department table; a
 * transfer the machine accepted retires the old desk and puts the new one on the session
 * (`updateAgent`), with a bridge line or a prepared reply where they apply. What the caller hears of
 * a transfer is published in hearing order: the handoff (timed) once the new desk was heard from, a
 * refusal after the line that announced it.
 */
import type { llm, voice } from '@livekit/agents';
import type { RouteEntry, Target } from '../../machines/router.js';
import type { Opening } from '../departments.js';
import type { CallData, DepartmentAgent } from './agent.js';
import { bridgeFor } from './bridge.js';
import { type DeskPort, buildDesk, deskInstructions } from './desk.js';
import type { CallEvent } from './events.js';
import { PendingHandoff } from './handoff.js';
import type { CallOptions, HandoffTiming } from './options.js';
import { type PreparedStats, emptyPreparedStats, prepareReply } from './prepared-reply.js';

export interface LineOptions extends Pick<CallOptions, 'ttsFor' | 'deskNames' | 'prepareReplies'> {
  session: voice.AgentSession<CallData>;
  llm: llm.LLM;
  port: DeskPort;
  emit(e: CallEvent): void;
  /** When the last sound on the line, caller's or agents', ended in the caller's ear (epoch ms; now while it goes on). */
  lastSoundAt(): number;
  /** When the agent line just played started to sound (the earpiece's last clip; null: unknown). */
  agentSpokeAt(): number | null;
}

export class Line {
  readonly handoffs: HandoffTiming[] = [];
  /** Replies prepared during transfers: requests made, used, thrown away, tokens. */
  readonly prepared: PreparedStats = emptyPreparedStats();
  private agent: DepartmentAgent | null = null;
  private previous: DepartmentAgent | null = null;
  /** Transfers not yet told, oldest first (a chain's hops), each told once its desk is heard, in order. */
  private pending: PendingHandoff[] = [];
  /** Refusals of a transfer the agent announced aloud: published once that line is committed. */
  private heldRefusals: CallEvent[] = [];

  constructor(private readonly o: LineOptions) {}

  /** The desk on the line (the new one as soon as the machine accepted a transfer). */
  get active(): DepartmentAgent | null {
    return this.agent;
  }

  /** A transfer is under way: the new desk has not been heard from yet. */
  get switching(): boolean {
    return this.pending.some((p) => !p.entered);
  }

  isOnLine(agent: DepartmentAgent): boolean {
    return this.agent === agent && !agent.retired;
  }

  /** Who said a message: the desk whose context it was committed to. */
  speakerOf(itemId: string): Target {
    return [this.agent, this.previous].find((a) => a?.chatCtx.getById(itemId))?.role ?? this.agent?.role ?? 'triage';
  }

  /** The first desk, built before anyone hears of the call. */
  first(how: Opening): DepartmentAgent {
    this.agent = buildDesk('triage', how, this.o.port);
    return this.agent;
  }

  /**
   * The machine accepted a transfer: the old desk is retired and the new one takes the line.
   * @param decisionMs how long the machine took to answer
   */
  transfer(entry: RouteEntry, handoffCount: number, decisionMs: number | null = null): void {
    const old = this.agent;
    if (old) old.retired = true;
    // A reply prepared for the desk the call now leaves (the one on the line) will never play.
    old?.prepared?.discard();
    // The old desk said nothing before the transfer: on a voice call the new one bridges the silence.
    const fromTool = old !== null && (entry.source === 'agent' || entry.source === 'system');
    const oldLine = fromTool ? old.currentReplyText : '';
    const bridged = fromTool && !oldLine.trim() && entry.to !== 'human' && this.o.ttsFor !== undefined;
    const agent = buildDesk(
      entry.to,
      entry.from === 'human' ? { kind: 'returned', reason: entry.reason } : { kind: 'transfer', from: entry.from as Target, reason: entry.reason },
      this.o.port,
    );
    if (bridged) agent.bridge = bridgeFor(agent, this.o.port.context().caller.language);
    this.previous = old;
    this.agent = agent;
    const pending = new PendingHandoff(entry, handoffCount, agent, decisionMs);
    // The desk left, if still untold, is heard only if it has a line left to say (a chain's passing-on line);
    // one leaving without a word, or before it took the line, has nothing more to be heard.
    const left = this.pendingOf(old);
    if (left && (!left.entered || !old?.currentReplyText.trim())) left.left = true;
    this.pending.push(pending);
    this.handoffs.push(pending.timing);
    const { session } = this.o;
    // The new agent's first LLM request is the preparation's, made now.
    // Prepared for the conversation as it stands after the old line (a bridging line is kept out of it).
    if (fromTool && this.o.prepareReplies !== false && prepareReply(agent, oldLine, session.history, this.o.llm, this.prepared)) {
      pending.llmRequested();
    }
    // A tool-initiated transfer happens inside the old agent's turn: its line (if any) finishes, then
    // the swap. Anything else (keypad, supervisor) cuts the current speech short first.
    if (entry.source !== 'agent' && entry.source !== 'system') {
      try {
        session.interrupt({ force: true });
      } catch {
        /* nothing to interrupt */
      }
    }
    session.updateAgent(agent);
    this.publishReady();
  }

  /** The desk on the line has heard the caller: its transfers are no longer part of a chain. */
  callerSpoke(): void {
    if (this.agent) this.agent.heardCaller = true;
  }

  /** Caller details were saved: the desk on the line knows them from its next word. */
  callerUpdated(): void {
    const agent = this.agent;
    // (`updateInstructions` takes effect at once, so a reply about to be asked for hears it too.)
    if (agent && !agent.retired) void agent.updateInstructions(deskInstructions(agent.role, this.o.port)).catch(() => undefined);
  }

  /** A desk took the line (its entry reply is under way). */
  tookLine(agent: DepartmentAgent): void {
    this.pendingOf(agent)?.tookLine();
    this.publishReady();
  }

  /**
   * A desk's clip reached the caller's ear (`at`, its first sound). The new desk's first sound ends the
   * transfer's silence; its reply's sound (after a bridging line, the second clip) completes the handoff.
   */
  agentSounded(agent: DepartmentAgent, at: number): void {
    const pending = this.pendingOf(agent);
    if (!pending || pending.heard) return;
    if (pending.stages.silenceMs === null) {
      pending.stages.silenceMs = Math.max(0, at - this.o.lastSoundAt());
      if (agent.bridged) return;
    }
    pending.heard = true;
    this.publishReady();
  }

  /**
   * A desk's bridging line has played. It is not in the conversation (see `sayBridge`), so it is told here:
   * after its desk's handoff, which is told once its reply is heard (its stages are then whole).
   */
  bridgeSaid(agent: DepartmentAgent, text: string, interrupted: boolean): void {
    const spokeAt = this.o.agentSpokeAt();
    const line: CallEvent = { type: 'agent', agent: agent.role, text, interrupted, ...(spokeAt !== null ? { spokeAt } : {}), at: Date.now() };
    const pending = this.pendingOf(agent);
    if (pending) pending.heldLines.push(line);
    else this.o.emit(line);
  }

  /** A line (caller's or agent's) is about to be told: the handoffs it follows are told first, in hearing order. */
  beforeLine(): void {
    for (const p of this.pending) if (p.entered) p.heard = true;
    this.publishReady();
  }

  /** A desk's first LLM request: closes the handoff timing. */
  firstLlmRequest(agent: DepartmentAgent): void {
    this.pendingOf(agent)?.llmRequested();
    this.publishReady();
  }

  /**
   * The machine refused a transfer. The agent said its line ("let me get you to sales") before calling
   * the tool; the caller hears the refusal after it, so it is published after that line is committed.
   */
  refused(event: CallEvent): void {
    if (event.type === 'rejected' && event.source === 'agent' && this.agent?.currentReplyText.trim()) this.heldRefusals.push(event);
    else this.o.emit(event);
  }

  /** An agent line was committed: refusals held for it follow. */
  agentSpoke(): void {
    const held = this.heldRefusals;
    this.heldRefusals = [];
    for (const e of held) this.o.emit(e);
  }

  /** The call closes: held refusals go out, handoffs still on their way are told (no latency if their desk never took the line). */
  close(): void {
    this.agentSpoke();
    // A reply still being prepared for the desk on the line will never play.
    this.agent?.prepared?.discard();
    for (const p of this.pending.splice(0)) this.publish(p, p.entered);
  }

  private pendingOf(agent: DepartmentAgent | null): PendingHandoff | undefined {
    return this.pending.find((p) => p.agent === agent);
  }

  /** Tells the handoffs that are complete, oldest first, stopping at the first that is not. */
  private publishReady(): void {
    while (this.pending[0]?.complete) {
      const p = this.pending.shift()!;
      this.publish(p, p.entered);
    }
  }

  private publish(pending: PendingHandoff, measured: boolean): void {
    const { agent, stages } = pending;
    const first = agent.firstReply;
    stages.llmTtftMs = first?.llmTtftMs ?? null;
    stages.ttsTtfbMs = first?.ttsTtfbMs ?? null;
    stages.preparedPlayed = first?.prepared ?? false;
    stages.bridged = agent.bridged;
    this.o.emit(pending.event(measured));
    for (const line of pending.heldLines.splice(0)) this.o.emit(line);
  }
}
