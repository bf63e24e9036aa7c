/**
 * One transfer on its way: accepted by the machine, the new agent not yet heard from. Its timing runs
 * from the machine's answer to the new agent's first LLM request; it is published (as a `handoff`
 * event) once that request was made and the agent has taken the line, so events keep hearing order.
 */
import type { RouteEntry } from '../../machines/router.js';
import type { DepartmentAgent } from './agent.js';
import type { CallEvent } from './events.js';
import type { HandoffTiming } from './options.js';

export class PendingHandoff {
  readonly timing: HandoffTiming;
  /** The new agent has taken the line (its entry reply is under way). */
  entered = false;

  constructor(
    readonly entry: RouteEntry,
    readonly handoffCount: number,
    readonly agent: DepartmentAgent,
  ) {
    this.timing = { from: entry.from, to: entry.to, requestedAt: performance.now(), firstLlmRequestAt: null, latencyMs: null };
  }

  /** The new agent's first LLM request (its own, or the one preparing its reply). */
  llmRequested(): void {
    if (this.timing.latencyMs !== null) return;
    this.timing.firstLlmRequestAt = performance.now();
    this.timing.latencyMs = this.timing.firstLlmRequestAt - this.timing.requestedAt;
  }

  /** Both happened: the handoff can be published. */
  get complete(): boolean {
    return this.entered && this.timing.latencyMs !== null;
  }

  /** The `handoff` event; without a latency when the call ended before the new agent was heard from. */
  event(closed = true): CallEvent {
    const latency = closed ? this.timing.latencyMs : null;
    return {
      type: 'handoff',
      from: this.entry.from,
      to: this.entry.to,
      handoffCount: this.handoffCount,
      reason: this.entry.reason,
      source: this.entry.source,
      escalated: this.entry.escalated ?? false,
      ...(this.entry.mode ? { mode: this.entry.mode } : {}),
      latencyMs: latency === null ? null : Math.round(latency * 100) / 100,
      at: Date.now(),
    };
  }
}
