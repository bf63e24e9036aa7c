/**
 * `npm run calls`: past calls from the records store (the same settings as the worker and the chat).
 *
 *   npm run calls                       recent calls, newest first, with their response times (p50/p95)
 *   npm run calls -- <callId>           one call: route, refusals, caller, transcript, turns, outcome, errors
 *   npm run calls -- --json [...]       the same as JSON
 *   npm run calls -- --limit 50         how many recent calls (default 20)
 */
import { languageName } from '../language.js';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { readWholeNumber, requireSettings, settingsOrExit, url } from '../config.js';
import { type CallDigest, digestOf, summaryOf } from '../call/digest.js';
import { openStore } from '../records/index.js';
import type { CallRecord, CallRow, CallStore } from '../records/types.js';
import { listFooter, responseColumn, statsOf, table, turnsSection } from './turn-figures.js';

const USAGE = `usage: npm run calls [-- <callId>] [--json] [--limit N]

Lists recent calls (newest first) with their response times, or shows one call: its route with reasons
and timings, refused transfers, caller info, transcript, each turn's latency, outcome and errors.

  <callId>    show this call
  --json      JSON instead of text
  --limit N   how many recent calls to list (default 20)
  --help      this text

Records are read from CALLS_DB (SQLite file, default data/calls.sqlite) or DATABASE_URL (PostgreSQL).`;

const schema = z.object({
  CALLS_DB: z.string().trim().default('data/calls.sqlite'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  CALL_WEBHOOK_URL: url(['http:', 'https:']).optional(),
});

function parseArgs(argv: string[]) {
  const o = { json: false, limit: 20, callId: undefined as string | undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') o.json = true;
    else if (a === '--limit' || a.startsWith('--limit=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      const n = readWholeNumber(v);
      if (n === null || n < 1) usageError(`--limit needs a whole number ≥ 1 (got ${v ?? 'nothing'})`);
      o.limit = n;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a.startsWith('-')) usageError(`unknown option ${a}`);
    else if (o.callId === undefined) o.callId = a;
    else usageError(`one call id at a time (got ${o.callId} and ${a})`);
  }
  return o;
}

function usageError(msg: string): never {
  process.stderr.write(`calls: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function fail(msg: string): never {
  process.stderr.write(`calls: ${msg}\n`);
  process.exit(1);
}

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
const durationOf = (r: CallRow, now = Date.now()) => (r.endedAt ?? (r.status === 'live' ? now : null)) === null ? null : (r.endedAt ?? now) - r.startedAt;
const outcomeOf = (r: CallRow) => (r.status === 'live' ? 'live' : (r.outcome ?? r.status));

/** `more`: the store holds older calls than these (the list is cut at `--limit`). */
function listText(rows: CallRow[], location: string, limit: number, more: boolean): string {
  if (rows.length === 0) return `No calls recorded yet in ${location}.`;
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
  return more
    ? `${list}\n\n${limit === 1 ? 'The most recent call' : `The ${limit} most recent calls`}; older ones are recorded too (npm run calls -- --limit ${limit * 5} shows more).`
    : list;
}

/** The detail header's status: `live`, `ended: <outcome>`, or `interrupted` (its process died; nothing more to say). */
function statusText(r: CallRow): string {
  if (r.status === 'live') return 'live';
  if (r.status === 'interrupted') return 'interrupted (its process stopped before the call ended)';
  return `${r.status}: ${outcomeOf(r)}`;
}

function showText(rec: CallRecord, d: CallDigest): string {
  const r = rec.call;
  const t0 = r.startedAt;
  const rel = (at: number) => `+${((at - t0) / 1000).toFixed(1)}s`.padStart(8);
  const out: string[] = [];
  out.push(`Call ${r.id} — ${statusText(r)}`);
  if (r.worker) out.push(`  worker     ${r.worker}`);
  out.push(`  started    ${formatTime(r.startedAt, true)}`);
  if (r.endedAt !== null) out.push(`  ended      ${formatTime(r.endedAt, true)} (${formatDuration(r.endedAt - r.startedAt)})`);
  out.push(`  department ${r.department} (machine state: ${r.state})`);
  out.push(`  transfers  ${r.handoffCount}${r.maxHandoffs ? ` of ${r.maxHandoffs}` : ''}`);

  out.push('', 'Caller');
  const entries = Object.entries(r.caller).filter(([, v]) => v);
  if (entries.length === 0) out.push('  (nothing known)');
  const w = Math.max(0, ...entries.map(([k]) => k.length));
  for (const [k, v] of entries) out.push(`  ${k.padEnd(w)}  ${String(v)}`);

  out.push('', 'Route');
  if (d.route.length === 0) out.push('  (no route recorded)');
  for (const leg of d.route) {
    const left = leg.leftAt ?? r.endedAt ?? (r.status === 'live' ? Date.now() : null);
    const dur = left === null ? '—' : formatDuration(left - leg.enteredAt);
    let line = `  ${rel(leg.enteredAt)}  ${leg.state.padEnd(8)} ${dur.padStart(6)}`;
    if (leg.via) {
      const v = leg.via;
      line += `  ← ${v.escalated ? 'escalated' : 'transferred'} from ${v.from} by ${v.source}: ${v.reason}`;
      line += v.latencyMs === null ? ' (handoff latency unknown)' : ` (handoff ${Math.round(v.latencyMs)} ms)`;
    }
    out.push(line);
  }

  out.push('', 'Refused transfers');
  if (d.refusals.length === 0) out.push('  (none)');
  for (const x of d.refusals) out.push(`  ${rel(x.at)}  ${x.from} → ${x.to} (${x.source}): ${x.reason}`);

  if (d.keypad.length) {
    out.push('', 'Keypad');
    for (const k of d.keypad) out.push(`  ${rel(k.at)}  ${k.digit} → ${k.target ?? '(no meaning)'}${k.accepted ? '' : ` refused${k.reason ? `: ${k.reason}` : ''}`}`);
  }

  out.push('', 'Transcript');
  if (d.transcript.length === 0) out.push('  (empty)');
  for (const l of d.transcript) out.push(`  ${rel(l.at)}  ${l.who.padStart(7)} │ ${l.text}${l.interrupted ? ' …(interrupted)' : ''}`);
  out.push(...turnsSection(d.turns));

  out.push('', 'Errors');
  if (d.errors.length === 0) out.push('  (none)');
  for (const e of d.errors) out.push(`  ${rel(e.at)}  ${e.message}`);

  out.push(
    '',
    `Outcome: ${outcomeOf(r)} — ${r.status === 'live' ? 'in' : 'ended in'} ${r.department} after ${r.handoffCount} transfer(s), ` +
      `${d.counts.callerTurns} caller and ${d.counts.agentTurns} agent turn(s), ${d.counts.refusals} refusal(s), ${d.counts.errors} error(s)`,
  );
  return out.join('\n');
}

// ---- main ------------------------------------------------------------------------------------------

async function open(): Promise<CallStore> {
  const s = settingsOrExit('calls', () => requireSettings(schema));
  if (!s.DATABASE_URL) {
    if (s.CALLS_DB === 'off') fail('call records are off (CALLS_DB=off). Set CALLS_DB to a file, or DATABASE_URL to a PostgreSQL database.');
    if (!existsSync(s.CALLS_DB)) {
      fail(
        `no call records yet: ${resolve(s.CALLS_DB)} does not exist.\n` +
          'Calls are recorded there by `npm run chat`, `npm run demo` and the worker (CALLS_DB; DATABASE_URL for PostgreSQL).',
      );
    }
  }
  try {
    const opened = await openStore(s, { webhooks: Boolean(s.CALL_WEBHOOK_URL), sqlite: { mustExist: true } });
    return opened!.store;
  } catch (err) {
    fail((err as Error).message);
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const store = await open();
  const out = (s: string) => process.stdout.write(`${s}\n`);
  try {
    if (args.callId === undefined) {
      // One more than asked for says whether older calls exist.
      const found = await store.listCalls(args.limit + 1);
      const rows = found.slice(0, args.limit);
      const latency = (r: CallRow) => ({ responseMs: statsOf(r.turns, 'responseMs'), llmTtftMs: statsOf(r.turns, 'llmTtftMs') });
      if (args.json) out(JSON.stringify(rows.map((r) => ({ ...r, durationMs: durationOf(r), latency: latency(r) })), null, 2));
      else out(listText(rows, store.location, args.limit, found.length > args.limit));
      return;
    }
    const rec = await store.getCall(args.callId);
    if (!rec) {
      process.exitCode = 1;
      process.stderr.write(`calls: no call ${args.callId} in ${store.location}\n`);
      return;
    }
    const d = digestOf(rec.call.id, rec.events.map((e) => e.event));
    if (args.json) {
      out(
        JSON.stringify(
          {
            call: { ...rec.call, durationMs: durationOf(rec.call) },
            summary: rec.call.status === 'live' ? null : summaryOf(d, rec.call.status, rec.call.outcome),
            route: d.route,
            refusals: d.refusals,
            keypad: d.keypad,
            transcript: d.transcript,
            turns: d.turns,
            errors: d.errors,
            events: rec.events.map((e) => ({ seq: e.seq, ...e.event })),
          },
          null,
          2,
        ),
      );
    } else out(showText(rec, d));
  } finally {
    await store.close();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => fail((err as Error).message),
);
