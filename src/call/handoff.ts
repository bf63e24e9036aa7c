/**
 * One transfer on its way: accepted by the machine, the new desk not yet heard. Its timing runs from the
 * machine's answer to the new desk's first LLM request; its stages say where the time the caller waited
 * went (see `HandoffStages`). It is published (as a `handoff` event) once that request was made, the desk
 * has taken the line and it has been heard — its first sound on a voice call, its first line on a text
 * call — so events keep hearing order and the stages are whole.
 */
import type { RouteEntry } from '../../machines/router.js';
import type { DepartmentAgent } from './agent.js';
import type { CallEvent, HandoffStages } from './events.js';
import type { HandoffTiming } from './options.js';

const round = (ms: number | null, places = 1) => (ms === null ? null : Math.round(ms * 10 ** places) / 10 ** places);

export class PendingHandoff {
  readonly timing: HandoffTiming;
  /** The new agent has taken the line (its bridging line or entry reply is under way). */
  entered = false;
  /** The new desk has been heard: its first sound played, or (no sound measured) its first line committed. */
  heard = false;
  /** The call has moved on from its desk, which has nothing more to be heard: it is told as it stands. */
  left = false;
  /** Its desk's lines heard before it could be told (a bridging line): told right after it. */
  readonly heldLines: CallEvent[] = [];
  /** Where the time went; filled in as the transfer goes (see `Line`). */
  readonly stages: HandoffStages = {
    decisionMs: null,
    swapMs: null,
    llmTtftMs: null,
    ttsTtfbMs: null,
    silenceMs: null,
    preparedPlayed: false,
    bridged: false,
  };

  constructor(
    readonly entry: RouteEntry,
    readonly handoffCount: number,
    readonly agent: DepartmentAgent,
    decisionMs: number | null = null,
  ) {
    this.timing = { from: entry.from, to: entry.to, requestedAt: performance.now(), firstLlmRequestAt: null, latencyMs: null };
    this.stages.decisionMs = decisionMs;
  }

  /** The new agent's first LLM request (its own, or the one preparing its reply). */
  llmRequested(): void {
    if (this.timing.latencyMs !== null) return;
    this.timing.firstLlmRequestAt = performance.now();
    this.timing.latencyMs = this.timing.firstLlmRequestAt - this.timing.requestedAt;
  }

  /** The new desk took the line. */
  tookLine(): void {
    this.entered = true;
    this.stages.swapMs ??= performance.now() - this.timing.requestedAt;
  }

  /** All three happened (or the call left its desk): the handoff can be published. */
  get complete(): boolean {
    return this.left || (this.entered && this.heard && this.timing.latencyMs !== null);
  }

  /**
   * The `handoff` event; without a latency (`measured` false) when the call ended or moved on before the
   * new desk took the line.
   */
  event(measured = true): CallEvent {
    const latency = measured ? this.timing.latencyMs : null;
    const s = this.stages;
    return {
      type: 'handoff',
      from: this.entry.from,
      to: this.entry.to,
      handoffCount: this.handoffCount,
      reason: this.entry.reason,
      source: this.entry.source,
      escalated: this.entry.escalated ?? false,
      ...(this.entry.mode ? { mode: this.entry.mode } : {}),
      latencyMs: round(latency, 2),
      stages: {
        ...s,
        decisionMs: round(s.decisionMs, 2),
        swapMs: round(s.swapMs),
        llmTtftMs: round(s.llmTtftMs),
        ttsTtfbMs: round(s.ttsTtfbMs),
        silenceMs: round(s.silenceMs),
      },
      at: Date.now(),
    };
  }
}
