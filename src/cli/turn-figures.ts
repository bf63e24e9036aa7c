/**
 * Turn latency as `npm run calls` shows it: per call the response time's p50/p95 (the list's column), over
 * the listed calls (the list's footer), and one call's turns with every figure (see `TurnFigures`).
 * Percentiles are nearest-rank (as the inspector's): p95 of fewer than 20 turns is the slowest one.
 */
import type { TurnRecord } from '../call/digest.js';
import type { TurnFigures } from '../call/events.js';

type Figure = keyof TurnFigures;

/** The nearest-rank percentile `p` (0–100) of ascending numbers; null when there are none. */
export function percentile(sorted: ArrayLike<number>, p: number): number | null {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

export interface FigureStats {
  /** Turns that have the figure. */
  turns: number;
  p50: number | null;
  p95: number | null;
}

export function statsOf(turns: readonly TurnRecord[], figure: Figure): FigureStats {
  // One pass and a typed array's numeric sort: a list of 10,000 calls figures over 100,000+ turns.
  const values: number[] = [];
  for (const t of turns) {
    const v = t[figure];
    if (typeof v === 'number') values.push(v);
  }
  const sorted = Float64Array.from(values).sort();
  return { turns: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95) };
}

const has = (turns: readonly TurnRecord[], figure: Figure) => turns.some((t) => typeof t[figure] === 'number');

export const msText = (v: number | null) => (v === null ? '—' : `${Math.round(v)} ms`);

/** The list's column: the call's response time, `p50/p95 ms` (— for a call with none: a text call). */
export function responseColumn(turns: readonly TurnRecord[]): string {
  const s = statsOf(turns, 'responseMs');
  return s.p50 === null ? '—' : `${Math.round(s.p50)}/${Math.round(s.p95!)} ms`;
}

/** What a figure is, as the list's footer and a call's turns name it. */
const FIGURE_NAMES: Record<Figure, string> = {
  responseMs: "response time (the end of the caller's speech → the agents' first sound)",
  eouMs: 'end of turn',
  sttMs: 'speech-to-text',
  llmTtftMs: 'LLM time to first token',
  ttsTtfbMs: 'voice first byte',
};

/** One line per figure the turns have: `<name>: p50 N ms, p95 N ms over T turns of C calls`. */
function statsLine(turnsByCall: readonly (readonly TurnRecord[])[], figure: Figure): string | null {
  const all = turnsByCall.flat();
  const s = statsOf(all, figure);
  if (!s.turns) return null;
  const calls = turnsByCall.filter((t) => has(t, figure)).length;
  const over = `${s.turns} turn${s.turns === 1 ? '' : 's'}${turnsByCall.length > 1 ? ` of ${calls} call${calls === 1 ? '' : 's'}` : ''}`;
  return `${FIGURE_NAMES[figure]}: p50 ${msText(s.p50)}, p95 ${msText(s.p95)} over ${over}`;
}

/** The list's footer: the response time, and the model's time (all a text call has), over every turn of the listed calls. */
export function listFooter(turnsByCall: readonly (readonly TurnRecord[])[]): string[] {
  const lines = (['responseMs', 'llmTtftMs'] as const).map((f) => statsLine(turnsByCall, f)).filter((l): l is string => l !== null);
  return lines.length ? ['', 'Over the calls listed (each turn counted once):', ...lines.map((l) => `  ${l}`)] : [];
}

/** Rows of text as columns (the last one not padded). */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

const right = (rows: string[][], from: number) => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i >= from ? c.padStart(widths[i]!) : c)));
};

/** One call's turns: each caller line answered, by whom, and where the time went (ms). */
export function turnsSection(turns: readonly TurnRecord[]): string[] {
  const out = ['', "Turns (ms; response: the end of the caller's speech → the agents' first sound)"];
  if (!turns.length) return [...out, '  (none measured)'];
  const num = (v: number | null) => (v === null ? '—' : String(Math.round(v)));
  const rows = [
    ['LINE', 'ANSWERED BY', 'RESPONSE', 'END OF TURN', 'SPEECH-TO-TEXT', 'LLM FIRST TOKEN', 'VOICE FIRST BYTE'],
    ...turns.map((t) => [String(t.line), t.agent, num(t.responseMs), num(t.eouMs), num(t.sttMs), num(t.llmTtftMs), num(t.ttsTtfbMs)]),
  ];
  const body = table(right(rows, 2)).split('\n');
  const stats = (['responseMs', 'llmTtftMs'] as const).map((f) => statsLine([turns], f)).filter((l): l is string => l !== null);
  return [...out, ...body.map((l) => `  ${l}`), ...stats.map((l) => `  ${l}`)];
}
