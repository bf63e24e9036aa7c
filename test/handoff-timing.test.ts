/**
 * One transfer's timing (`src/call/handoff.ts` `PendingHandoff`) with a controlled clock: it runs from
 * the machine's answer to the new desk's first LLM request (the first one counts), is published only
 * when that request was made, the desk has taken the line and has been heard, is rounded to 0.01 ms, and is unknown
 * (null) for a call that ended before the new desk was heard from. The end-to-end counterpart, through
 * a real call, the records, the CLI and the webhooks, is `handoff-latency.test.ts`.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RouteEntry } from '../machines/router.js';
import type { DepartmentAgent } from '../src/call/agent.js';
import type { CallEvent } from '../src/call/events.js';
import { PendingHandoff as RealPendingHandoff } from '../src/call/handoff.js';

/** The handoff event's own type (event() is typed as any CallEvent). */
class PendingHandoff extends RealPendingHandoff {
  override event(closed?: boolean) {
    return super.event(closed) as CallEvent & { type: 'handoff' };
  }
}

let clock = 0;
afterEach(() => {
  vi.restoreAllMocks();
});
function useClock(start: number) {
  clock = start;
  vi.spyOn(performance, 'now').mockImplementation(() => clock);
}

const entry = (over: Partial<RouteEntry> = {}): RouteEntry =>
  ({ from: 'triage', to: 'billing', reason: 'charged twice', at: 1, source: 'agent', ...over }) as RouteEntry;
const agent = {} as DepartmentAgent;

describe('PendingHandoff', () => {
  it('times from the machine’s answer to the first LLM request, rounded to 0.01 ms', () => {
    useClock(1000);
    const h = new PendingHandoff(entry(), 1, agent);
    expect(h.timing).toMatchObject({ from: 'triage', to: 'billing', requestedAt: 1000, firstLlmRequestAt: null, latencyMs: null });
    clock = 1012.3456;
    h.llmRequested();
    expect(h.timing.firstLlmRequestAt).toBe(1012.3456);
    expect(h.timing.latencyMs).toBeCloseTo(12.3456, 6);
    h.entered = true;
    const e = h.event();
    expect(e).toMatchObject({ type: 'handoff', from: 'triage', to: 'billing', handoffCount: 1, reason: 'charged twice', source: 'agent', escalated: false, latencyMs: 12.35 });
    expect(typeof (e as { at: number }).at).toBe('number');
  });

  it('the first request counts: a later one does not move the timing', () => {
    useClock(0);
    const h = new PendingHandoff(entry(), 2, agent);
    clock = 5;
    h.llmRequested();
    clock = 50;
    h.llmRequested();
    expect(h.timing.latencyMs).toBe(5);
    expect(h.timing.firstLlmRequestAt).toBe(5);
  });

  it('complete only when the desk has taken the line, made its first request AND been heard, in any order', () => {
    useClock(0);
    const a = new PendingHandoff(entry(), 1, agent);
    expect(a.complete).toBe(false);
    a.tookLine();
    expect(a.complete).toBe(false);
    clock = 1;
    a.llmRequested();
    expect(a.complete).toBe(false);
    a.heard = true;
    expect(a.complete).toBe(true);

    const b = new PendingHandoff(entry(), 1, agent);
    clock = 2;
    b.llmRequested();
    b.heard = true;
    expect(b.complete).toBe(false);
    b.tookLine();
    expect(b.complete).toBe(true);
  });

  it('the swap is timed from the machine’s answer to the desk taking the line; the decision is as given', () => {
    useClock(100);
    const h = new PendingHandoff(entry(), 1, agent, 0.0371);
    clock = 142.26;
    h.tookLine();
    clock = 900;
    h.tookLine(); // once
    expect(h.event()).toMatchObject({ stages: { decisionMs: 0.04, swapMs: 42.3, silenceMs: null, preparedPlayed: false, bridged: false } });
  });

  it('a call that ended first: the event says the latency is unknown (null), not 0', () => {
    useClock(0);
    const h = new PendingHandoff(entry({ source: 'keypad', escalated: true, to: 'human' } as Partial<RouteEntry>), 3, agent);
    expect(h.event(false)).toMatchObject({ latencyMs: null, source: 'keypad', escalated: true, to: 'human', handoffCount: 3 });
    clock = 7;
    h.llmRequested();
    expect(h.event(false).latencyMs).toBeNull();
    expect(h.event(true).latencyMs).toBe(7);
    expect(h.event().latencyMs).toBe(7);
  });

  it('rounds to 0.01 ms (a sub-millisecond handoff is not reported as 0)', () => {
    useClock(100);
    const h = new PendingHandoff(entry(), 1, agent);
    clock = 100.014;
    h.llmRequested();
    expect(h.event().latencyMs).toBe(0.01);
    useClock(100);
    const g = new PendingHandoff(entry(), 1, agent);
    clock = 100.256;
    g.llmRequested();
    expect(g.event().latencyMs).toBe(0.26);
  });
});
