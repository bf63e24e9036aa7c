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
}

export class Line {
  readonly handoffs: HandoffTiming[] = [];
  /** Replies prepared during transfers: requests made, used, thrown away, tokens. */
  readonly prepared: PreparedStats = emptyPreparedStats();
  private agent: DepartmentAgent | null = null;
  private previous: DepartmentAgent | null = null;
  private pending: PendingHandoff | null = null;
  /** Refusals of a transfer the agent announced aloud: published once that line is committed. */
  private heldRefusals: CallEvent[] = [];

  constructor(private readonly o: LineOptions) {}

  /** The desk on the line (the new one as soon as the machine accepted a transfer). */
  get active(): DepartmentAgent | null {
    return this.agent;
  }

  /** A transfer is under way: the new desk has not been heard from yet. */
  get switching(): boolean {
    return this.pending !== null;
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

  /** The machine accepted a transfer: the old desk is retired and the new one takes the line. */
  transfer(entry: RouteEntry, handoffCount: number): void {
    const old = this.agent;
    if (old) old.retired = true;
    // A reply prepared for a desk the call now leaves will never play.
    old?.prepared?.discard();
    this.pending?.agent.prepared?.discard();
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
    this.pending = new PendingHandoff(entry, handoffCount, agent);
    this.handoffs.push(this.pending.timing);
    const { session } = this.o;
    // The new agent's first LLM request is the preparation's, made now.
    // Prepared for the conversation as it stands after the old line; a bridging line, if it plays before
    // the reply, is allowed for (it is said only when the reply is not ready yet).
    if (fromTool && this.o.prepareReplies !== false && prepareReply(agent, oldLine, session.history, this.o.llm, this.prepared)) {
      this.pending.llmRequested();
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
    if (this.pending?.agent !== agent) return;
    this.pending.entered = true;
    // A prepared reply's LLM request came first: the handoff is published now, in hearing order.
    this.publishIfComplete();
  }

  /** A desk's first LLM request: closes the handoff timing and publishes the handoff. */
  firstLlmRequest(agent: DepartmentAgent): void {
    if (this.pending?.agent !== agent) return;
    this.pending.llmRequested();
    this.publishIfComplete();
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

  /** The call closes: held refusals go out, a handoff still on its way is published without a latency. */
  close(): void {
    this.agentSpoke();
    if (!this.pending) return;
    this.pending.agent.prepared?.discard();
    this.o.emit(this.pending.event(false));
    this.pending = null;
  }

  private publishIfComplete(): void {
    if (!this.pending?.complete) return;
    const event = this.pending.event();
    this.pending = null;
    this.o.emit(event);
  }
}
