/**
 * The eval's figures, each from its own count: a call is scored from what it did (its transfers), and the
 * summary's rates each count their own calls. Calls built by hand so each figure differs from the others.
 */
import { describe, expect, it } from 'vitest';
import type { EvalCase } from '../src/eval/cases.js';
import type { Played } from '../src/eval/play.js';
import { scoreCase, summarize } from '../src/eval/score.js';

const wantsBilling: EvalCase = { id: 'c', language: 'en', kind: 'clear', turns: ['I was charged twice', 'thanks'], expect: { route: ['billing'], language: 'en' } };

function played(transfers: string[]): Played {
  return { id: 'c', transfers, transferTurns: transfers.map((_, i) => i + 1), lines: [], heardLanguage: 'en', tokens: 100, ms: 10, errors: [] };
}

describe('eval scores', () => {
  it('ping-pong is a caller sent back to the department it just left (A → triage → A), not any wrong transfer', () => {
    // Billing, back to the front desk, billing again: every department reached was needed, but it bounced.
    const bounced = scoreCase(wantsBilling, played(['billing', 'triage', 'billing']));
    expect(bounced).toMatchObject({ pingPong: true, wrongTransfer: false, firstCorrect: true, routeCorrect: false });
    // Sales, then billing: a department the call did not need, but no bounce.
    const wrong = scoreCase(wantsBilling, played(['sales', 'triage', 'billing']));
    expect(wrong).toMatchObject({ pingPong: false, wrongTransfer: true, firstCorrect: false });
    // Straight there.
    expect(scoreCase(wantsBilling, played(['billing']))).toMatchObject({ pingPong: false, wrongTransfer: false, routeCorrect: true, turnsToRight: 1 });
  });

  it('each rate counts its own calls', () => {
    const results = [
      scoreCase(wantsBilling, played(['billing', 'triage', 'billing'])), // ping-pong
      scoreCase(wantsBilling, played(['sales', 'triage', 'billing'])), // wrong transfer
      scoreCase(wantsBilling, played(['support', 'triage', 'sales'])), // wrong transfer, never right
      scoreCase(wantsBilling, played(['billing'])), // right
    ];
    const s = summarize(results);
    expect(s.calls).toBe(4);
    expect(s.pingPongRate).toBe(0.25);
    expect(s.wrongTransferRate).toBe(0.5);
    expect(s.firstAccuracy).toBe(0.5);
    expect(s.routeAccuracy).toBe(0.25);
    expect(s.meanTurnsToRight).toBeCloseTo(5 / 3); // the three that reached billing: after turns 1, 3 and 1
    expect(s.confusion.billing).toMatchObject({ billing: 2, sales: 1, support: 1 });
  });
});
