/**
 * The Past tab's dashboard (`GET /api/figures?limit=`): over the most recent calls in the records, the
 * response time's p50 / p95 per desk and per kind of transfer.
 *
 * - Per desk: each caller turn the desk answered (`turn` figures on its line): `response` is what the
 *   caller waited (the end of their speech → the desk's first sound), `model` the language model's time
 *   to its first token (all a text call has: no sound).
 * - Per transfer kind: each transfer into a desk (`timeline` stages): `response` is the silence the caller
 *   heard (the last sound on the line → the new desk's first sound), `model` the new desk's first reply's
 *   time to first token. The kinds, from where the call was and where it went: `specialist` (the front
 *   desk sends the caller on to billing, sales or support), `triage` (back to the front desk), `person` (to
 *   a person, cold or warm), `back` (from a person who could not be reached back to a desk), `desk` (one
 *   specialist desk to another, should the machine ever allow it).
 *
 * Percentiles are nearest-rank, as `npm run calls` figures them (src/cli/turn-figures.ts, which the
 * inspector may not import: test/inspector-recording.test.ts checks the two agree).
 */
import type { CallView } from '../call/events.js';
import type { PastCalls } from './http.js';

export interface Stat {
  /** How many values (turns or transfers that have the figure). */
  n: number;
  p50: number | null;
  p95: number | null;
}

export type TransferKind = 'specialist' | 'triage' | 'person' | 'back' | 'desk';
export const TRANSFER_KINDS: TransferKind[] = ['specialist', 'triage', 'person', 'back', 'desk'];

export interface Figures {
  /** How many calls the figures are over (the most recent ones), and their starts. */
  calls: number;
  from: number | null;
  to: number | null;
  desks: { desk: string; turns: number; response: Stat; model: Stat }[];
  transfers: { kind: TransferKind; transfers: number; response: Stat; model: Stat }[];
}

export const DEFAULT_FIGURES_CALLS = 50;
export const MAX_FIGURES_CALLS = 200;

/** The nearest-rank percentile `p` (0–100) of ascending numbers; null when there are none. */
export function nearestRank(sorted: readonly number[], p: number): number | null {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

function statOf(values: (number | null | undefined)[]): Stat {
  const sorted = values.filter((v): v is number => typeof v === 'number').sort((a, b) => a - b);
  return { n: sorted.length, p50: nearestRank(sorted, 50), p95: nearestRank(sorted, 95) };
}

/** What kind of transfer took the call from `from` to `to` (the machine's states). */
export function transferKind(from: string, to: string): TransferKind {
  if (to === 'human') return 'person';
  if (from === 'human') return 'back';
  if (to === 'triage') return 'triage';
  if (from === 'triage') return 'specialist';
  return 'desk';
}

/** The figures over calls already read whole (their transcript and timeline). */
export function figuresOf(views: readonly CallView[]): Figures {
  const desks = new Map<string, { turns: number; response: number[]; model: number[] }>();
  const kinds = new Map<TransferKind, { transfers: number; response: (number | null | undefined)[]; model: (number | null | undefined)[] }>();
  for (const v of views) {
    for (const line of v.transcript) {
      if (!line.turn) continue;
      const d = desks.get(line.who) ?? { turns: 0, response: [], model: [] };
      desks.set(line.who, d);
      d.turns++;
      if (typeof line.turn.responseMs === 'number') d.response.push(line.turn.responseMs);
      if (typeof line.turn.llmTtftMs === 'number') d.model.push(line.turn.llmTtftMs);
    }
    v.timeline.forEach((leg, i) => {
      if (i === 0) return;
      const kind = transferKind(v.timeline[i - 1]!.state, leg.state);
      const k = kinds.get(kind) ?? { transfers: 0, response: [], model: [] };
      kinds.set(kind, k);
      k.transfers++;
      k.response.push(leg.stages?.silenceMs);
      k.model.push(leg.stages?.llmTtftMs);
    });
  }
  const starts = views.map((v) => v.startedAt);
  return {
    calls: views.length,
    from: starts.length ? Math.min(...starts) : null,
    to: starts.length ? Math.max(...starts) : null,
    desks: [...desks].sort(([a], [b]) => a.localeCompare(b)).map(([desk, d]) => ({ desk, turns: d.turns, response: statOf(d.response), model: statOf(d.model) })),
    transfers: TRANSFER_KINDS.filter((k) => kinds.has(k)).map((kind) => {
      const k = kinds.get(kind)!;
      return { kind, transfers: k.transfers, response: statOf(k.response), model: statOf(k.model) };
    }),
  };
}

/** The figures over the `limit` most recent calls of the records (each read whole, four at a time). */
export async function recentFigures(records: PastCalls, limit: number): Promise<Figures> {
  const listed = (await records.list(limit)) ?? [];
  const views: CallView[] = [];
  for (let i = 0; i < listed.length; i += 4) {
    const batch = await Promise.all(listed.slice(i, i + 4).map((c) => records.get(c.callId)));
    for (const v of batch) if (v) views.push(v);
  }
  return figuresOf(views);
}
