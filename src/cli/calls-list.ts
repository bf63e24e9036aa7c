/**
 * `npm run calls`' list: a page of past calls, newest first, with each call's response time (p50/p95) and
 * the figures over the calls listed. One query (a page of the store's keyset list: `--limit` calls, after
 * `--before`'s call), one pass over the rows. Its own module so the bench times the very code the command
 * runs (figure 9, bench/records.ts).
 */
import { languageName } from '../language.js';
import type { CallRow, CallStore } from '../records/types.js';
import { listFooter, responseColumn, statsOf, table } from './turn-figures.js';

// ---- formatting ------------------------------------------------------------------------------------

const pad2 = (n: number) => String(n).padStart(2, '0');
export function formatTime(ms: number, withMs = false): string {
  const d = new Date(ms);
  const s = `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  return withMs ? `${s}.${String(d.getMilliseconds()).padStart(3, '0')}` : s;
}

export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${pad2(s % 60)}s`;
  return `${Math.floor(m / 60)}h${pad2(m % 60)}m`;
}

const callerText = (c: CallRow['caller']) =>
  [c.name, c.phoneNumber, c.language ? `(${languageName(c.language)})` : ''].filter(Boolean).join(' ') || '—';
export const durationOf = (r: CallRow, now = Date.now()) =>
  (r.endedAt ?? (r.status === 'live' ? now : null)) === null ? null : (r.endedAt ?? now) - r.startedAt;
export const outcomeOf = (r: CallRow) => (r.status === 'live' ? 'live' : (r.outcome ?? r.status));

/** The list's default length (`--limit`). */
export const DEFAULT_LIMIT = 20;

export interface ListOptions {
  limit: number;
  /** The page after this call (the last one of the page before). */
  before?: string;
  json?: boolean;
}

/** How to ask for the page after `last` (the same `--limit`, said only when it is not the default). */
function nextPage(last: string, limit: number): string {
  return `npm run calls -- --before ${last}${limit === DEFAULT_LIMIT ? '' : ` --limit ${limit}`}`;
}

/** `more`: the store holds older calls than these (the page is cut at `--limit`). */
function listText(rows: CallRow[], location: string, o: ListOptions, more: boolean): string {
  if (rows.length === 0) return o.before ? `No calls recorded before ${o.before} in ${location}.` : `No calls recorded yet in ${location}.`;
  const body = rows.map((r) => [
    r.id,
    formatTime(r.startedAt),
    `${formatDuration(durationOf(r))}${r.status === 'live' ? ' (live)' : ''}`,
    callerText(r.caller),
    r.department,
    String(r.handoffCount),
    responseColumn(r.turns),
    outcomeOf(r),
  ]);
  const head = ['CALL', 'STARTED', 'DURATION', 'CALLER', 'DEPARTMENT', 'HANDOFFS', 'RESPONSE p50/p95', 'OUTCOME'];
  const list = [table([head, ...body]), ...listFooter(rows.map((r) => r.turns))].join('\n');
  const n = o.limit;
  const these = o.before
    ? `${n === 1 ? 'The call' : `The ${n} calls`} recorded before ${o.before}`
    : n === 1
      ? 'The most recent call'
      : `The ${n} most recent calls`;
  if (!more) return o.before ? `${list}\n\nThe oldest calls recorded (before ${o.before}).` : list;
  const last = rows.at(-1)!.id;
  return o.before
    ? `${list}\n\n${these}; older ones too: ${nextPage(last, n)} lists the next ${n === 1 ? 'one' : n}.`
    : `${list}\n\n${these}; older ones are recorded too (npm run calls -- --limit ${n * 5} shows more; ${nextPage(last, n)} the next ${n === 1 ? 'one' : n}).`;
}

/**
 * The list as the command prints it (text, or `--json`). Rejects with NoSuchCallError when `before` names
 * no recorded call.
 */
export async function listCallsOutput(store: CallStore, o: ListOptions): Promise<string> {
  // One more than asked for says whether older calls exist.
  const found = await store.listCalls({ limit: o.limit + 1, ...(o.before !== undefined ? { before: { id: o.before } } : {}) });
  const more = found.length > o.limit;
  const rows = more ? found.slice(0, o.limit) : found;
  if (!o.json) return listText(rows, store.location, o, more);
  const latency = (r: CallRow) => ({ responseMs: statsOf(r.turns, 'responseMs'), llmTtftMs: statsOf(r.turns, 'llmTtftMs') });
  return JSON.stringify(rows.map((r) => ({ ...r, durationMs: durationOf(r), latency: latency(r) })), null, 2);
}
