/**
 * `npm run calls`: past calls from the records store (the same settings as the worker and the chat).
 *
 *   npm run calls                       recent calls, newest first, with their response times (p50/p95)
 *   npm run calls -- <callId>           one call: route, refusals, caller, transcript, turns, outcome, errors
 *   npm run calls -- --json [...]       the same as JSON
 *   npm run calls -- --limit 50         how many recent calls (default 20)
 *   npm run calls -- --before <callId>  the page after that call (the last one listed): older calls
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { readWholeNumber, requireSettings, settingsOrExit, url } from '../config.js';
import { type CallDigest, digestOf, summaryOf } from '../call/digest.js';
import { openStore } from '../records/index.js';
import { type CallRecord, type CallRow, type CallStore, NoSuchCallError } from '../records/types.js';
import { DEFAULT_LIMIT, durationOf, formatDuration, formatTime, listCallsOutput, outcomeOf } from './calls-list.js';
import { turnsSection } from './turn-figures.js';

const USAGE = `usage: npm run calls [-- <callId>] [--json] [--limit N] [--before <callId>]

Lists recent calls (newest first) with their response times, or shows one call: its route with reasons
and timings, refused transfers, caller info, transcript, each turn's latency, outcome and errors.

  <callId>    show this call
  --json      JSON instead of text
  --limit N   how many recent calls to list (default 20)
  --before <callId>
              the next page: the calls listed after this one (older), --limit of them; the list
              says which call to give for the page after it
  --help      this text

Records are read from CALLS_DB (SQLite file, default data/calls.sqlite) or DATABASE_URL (PostgreSQL).`;

const schema = z.object({
  CALLS_DB: z.string().trim().default('data/calls.sqlite'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  CALL_WEBHOOK_URL: url(['http:', 'https:']).optional(),
});

function parseArgs(argv: string[]) {
  const o = { json: false, limit: DEFAULT_LIMIT, callId: undefined as string | undefined, before: undefined as string | undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') o.json = true;
    else if (a === '--limit' || a.startsWith('--limit=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      const n = readWholeNumber(v);
      if (n === null || n < 1) badValue(`--limit needs a whole number ≥ 1 (got ${v ?? 'nothing'})`);
      o.limit = n;
    } else if (a === '--before' || a.startsWith('--before=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!v?.trim() || v.startsWith('-')) badValue(`--before needs a call id: the last call of the page before (got ${v || 'nothing'})`);
      o.before = v.trim();
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a.startsWith('-')) usageError(`unknown option ${a}`);
    else if (o.callId === undefined) o.callId = a;
    else usageError(`one call id at a time (got ${o.callId} and ${a})`);
  }
  if (o.before !== undefined && o.callId !== undefined) usageError(`--before pages the list; it does not go with a call to show (${o.callId})`);
  return o;
}

function usageError(msg: string): never {
  process.stderr.write(`calls: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

/** A bad value: one line, exit 2 (the usage is a --help away). */
function badValue(msg: string): never {
  process.stderr.write(`calls: ${msg}; see npm run calls -- --help\n`);
  process.exit(2);
}

function fail(msg: string): never {
  process.stderr.write(`calls: ${msg}\n`);
  process.exit(1);
}

// ---- one call ----------------------------------------------------------------------------------

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
  const file = d.recording;
  if (file) {
    out.push(`Recording: ${file.file} in RECORDINGS_DIR (Ogg/Opus, caller left, agents right, ${formatDuration(file.durationMs)}, ${Math.round(file.bytes / 1024)} KiB)`);
  }
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
      try {
        out(await listCallsOutput(store, args));
      } catch (err) {
        if (!(err instanceof NoSuchCallError)) throw err;
        // A value that names nothing: one line, as a bad option's.
        process.stderr.write(`calls: --before ${args.before}: no such call in ${store.location}; give the id of a listed call\n`);
        process.exitCode = 2;
      }
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

// Exit once stdout has taken everything: into a pipe (`| less`, `| grep`) a long list goes out in chunks,
// and exiting at once cut it after the first 64 KB.
main().then(
  () => process.stdout.write('', () => process.exit(process.exitCode ?? 0)),
  (err) => fail((err as Error).message),
);
