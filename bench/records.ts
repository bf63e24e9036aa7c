/**
 * Figure 9 — call records at scale: a store filled with 10,000 ended calls, then what reading them costs.
 *
 * The calls are made as the fleet bench makes its calls (bench/fleet-call.ts: the real routing machine, a
 * seeded script of schema-valid events: the caller's details, 4–30 turns each with their latency, a
 * transfer at the second turn and now and then later), spread over 30 days, and recorded by the product's
 * recorder (`attachRecorder`): the events and the calls row it writes are exactly a real call's. Only the
 * last step is a bulk path: what the recorder hands the store is written in a few large transactions
 * (one committed transaction per event, as a call writes them, would take 400,000 of them) — the same
 * columns and encodings as the stores' `record()`.
 *
 * Then, for SQLite (a file) and PostgreSQL (when TEST_DATABASE_URL or DATABASE_URL is set; in a throwaway
 * schema, dropped after): `npm run calls -- --limit 10000`'s list with its figures (the command's own code,
 * src/cli/calls-list.ts, in this process; and the whole command as a process), the inspector's first and
 * deepest page and one call's detail over HTTP (an inspector server in this process with the records, as
 * `npm run inspector` serves them), and every page of the list in turn.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { listCallsOutput } from '../src/cli/calls-list.js';
import type { Call } from '../src/call/call.js';
import type { CallEvent } from '../src/call/events.js';
import { startInspectorServer } from '../src/inspector/server.js';
import { inspectorRecords } from '../src/records/index.js';
import { upsertCallSql } from '../src/records/migrations.js';
import { PostgresStore } from '../src/records/postgres.js';
import { attachRecorder } from '../src/records/recorder.js';
import { SqliteStore } from '../src/records/sqlite.js';
import type { CallRowData, CallStore, RecordWrite } from '../src/records/types.js';
import { FleetCall } from './fleet-call.js';
import { type Summary, rng, summarize } from './stats.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const { Database } = createRequire(import.meta.url)('node-sqlite3-wasm') as typeof import('node-sqlite3-wasm');

/** What the inspector's page asks for: a page of 100 (and one more, to know whether older calls exist). */
export const PAGE = 100;
const DAY = 86_400_000;

export interface RecordsStoreResult {
  kind: 'sqlite' | 'postgres';
  calls: number;
  events: number;
  turns: number;
  /** The store's size on disk (SQLite: the file; PostgreSQL: the calls and events tables with their indexes). */
  MB: number;
  bytesPerCall: number;
  /** Bulk-writing the recorder's writes. */
  fillS: number;
  /** `npm run calls -- --limit 10000`'s list, text with the figures, in this process (the command's code). */
  list10k: Summary;
  /** …of which the store's query (10,001 rows read and decoded). */
  list10kQuery: Summary;
  /** The whole command as a process (Node and tsx starting included), and the same listing one call. */
  cliProcess: Summary;
  cliProcessOneCall: Summary;
  /** The same with the production build (`npm run build`: `node dist/src/cli/calls.js`, no tsx to start). */
  builtProcess: Summary;
  builtProcessOneCall: Summary;
  /** GET /api/records?limit=101 (the page's first page). */
  firstPage: Summary;
  /** GET /api/records?limit=101&before=<the 9,900th call> (the last page). */
  deepPage: Summary;
  /** Every page of the list in turn, as the page's "Older calls" button asks for them. */
  walk: { pages: number; calls: number; ms: number; everyCallOnce: boolean };
  /** GET /api/records/:id of a call with the median number of events. */
  detail: Summary;
  detailEvents: number;
}

export interface RecordsResult {
  setup: string;
  calls: number;
  pageSize: number;
  stores: RecordsStoreResult[];
  /** Why PostgreSQL was not measured (null: it was). */
  postgresSkipped: string | null;
  /** Target: each of the list (10,000 with figures), the first and deep page and one call under 1 s (p95), on every store measured. */
  target: { ms: number; met: boolean };
}

// ---- the calls ------------------------------------------------------------------------------------

interface MadeCall {
  id: string;
  row: CallRowData;
  events: { seq: number; event: CallEvent }[];
}

/** One ended call, played by the fleet bench's call, as the recorder writes it. */
async function makeCall(i: number, random: () => number): Promise<MadeCall> {
  const durationMs = 45_000 + random() * 135_000;
  const ageMs = durationMs + 60_000 + random() * 30 * DAY;
  const id = `call-${Math.floor(random() * 0xffffffff).toString(16).padStart(8, '0')}_AJ_${Math.floor(random() * 36 ** 8).toString(36).padStart(8, '0')}${i}`;
  const call = new FleetCall({ callId: id, random, ageMs, durationMs, turnMs: [6000, 12_000] });
  call.begin();
  // A call's events are stamped with Date.now(): whole milliseconds (the script plans on fractions).
  for (const e of call.events) e.at = Math.round(e.at);
  const writes: RecordWrite[] = [];
  const capture = { location: 'bench', record: async (w: RecordWrite) => writes.push(w) } as unknown as CallStore;
  const recorder = attachRecorder(Object.assign(call, { reportError: () => undefined }) as unknown as Call, capture, {
    worker: `worker-${(i % 8) + 1}:${4100 + (i % 8)}`,
  });
  await recorder.done;
  const row = writes.findLast((w) => w.call)!.call!;
  if (row.status !== 'ended') throw new Error(`bench call ${id} did not end`);
  return { id, row, events: writes.map((w, k) => ({ seq: k + 1, event: w.event })) };
}

/** The calls in batches (made, written, let go: 10,000 calls' events do not sit in memory at once). */
async function fill(n: number, write: (batch: MadeCall[]) => Promise<void>): Promise<{ events: number; turns: number; ms: number }> {
  const random = rng(9_000_009);
  let events = 0;
  let turns = 0;
  let writing = 0;
  for (let i = 0; i < n; ) {
    const batch: MadeCall[] = [];
    for (; i < n && batch.length < 250; i++) batch.push(await makeCall(i, random));
    events += batch.reduce((a, c) => a + c.events.length, 0);
    turns += batch.reduce((a, c) => a + (c.row.turns?.length ?? 0), 0);
    const t = performance.now();
    await write(batch);
    writing += performance.now() - t;
  }
  return { events, turns, ms: writing };
}

/** A calls row's values as the stores' `record()` writes them (upsertCallSql's order). */
function rowValues(c: MadeCall, humanAvailable: number | boolean) {
  const r = c.row;
  return [
    c.id, r.worker, r.host, r.pid, r.startedAt, r.endedAt, r.endedAt ?? r.startedAt, r.status, r.outcome, r.state, r.department,
    r.handoffCount, r.maxHandoffs, humanAvailable, JSON.stringify(r.caller), JSON.stringify(r.turns ?? []),
    r.recording ? JSON.stringify(r.recording) : null,
  ];
}

/** A new SQLite file with `n` calls (the store's own migrations, then the recorder's writes in bulk). */
export async function fillSqlite(file: string, n: number) {
  await new SqliteStore(file).close(); // created and migrated by the store itself
  const db = new Database(file);
  try {
    db.exec('PRAGMA synchronous = OFF');
    const upsert = db.prepare(upsertCallSql(() => '?'));
    const event = db.prepare('INSERT INTO events (call_id, seq, at, type, data) VALUES (?, ?, ?, ?, ?)');
    const out = await fill(n, async (batch) => {
      db.exec('BEGIN');
      for (const c of batch) {
        for (const e of c.events) event.run([c.id, e.seq, e.event.at, e.event.type, JSON.stringify(e.event)]);
        upsert.run(rowValues(c, c.row.humanAvailable ? 1 : 0));
      }
      db.exec('COMMIT');
    });
    upsert.finalize();
    event.finalize();
    return out;
  } finally {
    db.close();
  }
}

/** A throwaway schema with `n` calls (the store's own migrations, then the recorder's writes in bulk). */
export async function fillPostgres(url: string, schema: string, n: number) {
  await (await PostgresStore.open(url, { schema })).close();
  const client = new pg.Client({ connectionString: url, options: `-c search_path="${schema}"` });
  await client.connect();
  const cols = ['id', 'worker', 'host', 'pid', 'started_at', 'ended_at', 'updated_at', 'status', 'outcome', 'state', 'department',
    'handoff_count', 'max_handoffs', 'human_available', 'caller', 'turns', 'recording'];
  try {
    const out = await fill(n, async (batch) => {
      const calls = batch.map((c) => {
        const v = rowValues(c, c.row.humanAvailable);
        return Object.fromEntries(cols.map((k, i) => [k, ['caller', 'turns', 'recording'].includes(k) && v[i] !== null ? JSON.parse(v[i] as string) : v[i]]));
      });
      const events = batch.flatMap((c) => c.events.map((e) => ({ call_id: c.id, seq: e.seq, at: e.event.at, type: e.event.type, data: e.event })));
      await client.query('BEGIN');
      await client.query('INSERT INTO events SELECT * FROM json_populate_recordset(NULL::events, $1::json)', [JSON.stringify(events)]);
      await client.query('INSERT INTO calls SELECT * FROM json_populate_recordset(NULL::calls, $1::json)', [JSON.stringify(calls)]);
      await client.query('COMMIT');
    });
    await client.query('ANALYZE calls; ANALYZE events');
    const { rows } = await client.query(`SELECT pg_total_relation_size('calls') + pg_total_relation_size('events') AS bytes`);
    return { ...out, bytes: Number(rows[0].bytes) };
  } finally {
    await client.end();
  }
}

// ---- timing ---------------------------------------------------------------------------------------

async function timed(n: number, fn: () => Promise<unknown>, warmup = 1): Promise<Summary> {
  for (let i = 0; i < warmup; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return summarize(ms, 1);
}

/**
 * `npm run calls` as a process (tsx, as `npm run calls` starts it), read through a pipe as a terminal's
 * pager would: its wall time, once every one of the `calls` it lists has arrived.
 */
function cliRun(args: string[], env: Record<string, string>, calls: number, built?: string): Promise<number> {
  return new Promise((res, rej) => {
    const t = performance.now();
    const [cmd, script] = built ? [process.execPath, built] : [join(ROOT, 'node_modules', '.bin', 'tsx'), 'src/cli/calls.ts'];
    const child = spawn(cmd, [script, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ENV_FILE: '/dev/null', TZ: 'UTC', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', rej);
    child.on('close', (code) => {
      const ms = performance.now() - t;
      const listed = out.split('\n').filter((l) => l.startsWith('call-')).length;
      if (code !== 0) rej(new Error(`npm run calls exited ${code}: ${err}`));
      else if (listed !== calls) rej(new Error(`npm run calls ${args.join(' ')} printed ${listed} of ${calls} calls`));
      else res(ms);
    });
  });
}

let built: string | null = null;
/**
 * `npm run build`'s output, made once into a temporary directory (its packages found through a link to
 * node_modules): what a deployment runs. Returns the path of its calls.js.
 */
function buildOnce(): string {
  if (built) return built;
  const out = mkdtempSync(join(tmpdir(), 'switchboard-build-'));
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', join(out, 'dist')], { cwd: ROOT });
  symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'));
  process.once('exit', () => rmSync(out, { recursive: true, force: true }));
  built = join(out, 'dist', 'src', 'cli', 'calls.js');
  return built;
}

async function measure(
  kind: RecordsStoreResult['kind'],
  store: CallStore,
  cliEnv: Record<string, string>,
  o: { calls: number; samples: number; log: (s: string) => void },
): Promise<Omit<RecordsStoreResult, 'MB' | 'bytesPerCall' | 'fillS' | 'events' | 'turns'>> {
  const log = (s: string) => o.log(`  ${kind}: ${s}`);
  const fmt = (s: Summary) => `${s.median} / ${s.p95} ms`;

  const text = await listCallsOutput(store, { limit: o.calls });
  const listed = text.split('\n').filter((l) => l.startsWith('call-')).length;
  if (listed !== o.calls || !/response time .*: p50 \d+ ms, p95 \d+ ms over \d+ turns of \d+ calls/.test(text)) {
    throw new Error(`the list showed ${listed} of ${o.calls} calls, or no figures`);
  }
  const list10kQuery = await timed(o.samples, () => store.listCalls(o.calls + 1));
  const list10k = await timed(o.samples, () => listCallsOutput(store, { limit: o.calls }));
  log(`list ${o.calls} with figures ${fmt(list10k)} (the query ${fmt(list10kQuery)})`);
  const cliProcess = await timed(3, () => cliRun(['--limit', String(o.calls)], cliEnv, o.calls), 1);
  const cliProcessOneCall = await timed(3, () => cliRun(['--limit', '1'], cliEnv, 1), 0);
  log(`npm run calls -- --limit ${o.calls} as a process ${fmt(cliProcess)} (--limit 1: ${fmt(cliProcessOneCall)})`);
  const js = buildOnce();
  const builtProcess = await timed(3, () => cliRun(['--limit', String(o.calls)], cliEnv, o.calls, js), 1);
  const builtProcessOneCall = await timed(3, () => cliRun(['--limit', '1'], cliEnv, 1, js), 0);
  log(`the production build's calls.js --limit ${o.calls} ${fmt(builtProcess)} (--limit 1: ${fmt(builtProcessOneCall)})`);

  const inspector = await startInspectorServer({ token: 'bench', records: inspectorRecords(store) });
  const base = `http://127.0.0.1:${inspector.port}`;
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: 'Bearer bench' } });
    if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
    return res.json() as Promise<unknown>;
  };
  try {
    const all = await store.listCalls(o.calls);
    const deepFrom = all[o.calls - PAGE - 1]!.id;
    const firstPage = await timed(o.samples * 5, () => get(`/api/records?limit=${PAGE + 1}`));
    const deepPage = await timed(o.samples * 5, () => get(`/api/records?limit=${PAGE + 1}&before=${encodeURIComponent(deepFrom)}`));
    log(`first page ${fmt(firstPage)}, deepest page ${fmt(deepPage)}`);

    const seen: string[] = [];
    let pages = 0;
    const t = performance.now();
    for (let before: string | undefined; ; ) {
      const page = (await get(`/api/records?limit=${PAGE + 1}${before ? `&before=${encodeURIComponent(before)}` : ''}`)) as { callId: string }[];
      pages++;
      const shown = page.slice(0, PAGE);
      seen.push(...shown.map((c) => c.callId));
      if (page.length <= PAGE) break;
      before = shown.at(-1)!.callId;
    }
    const walkMs = performance.now() - t;
    const everyCallOnce = seen.length === all.length && seen.every((id, i) => id === all[i]!.id);
    log(`every page in turn: ${pages} pages, ${seen.length} calls in ${walkMs.toFixed(0)} ms${everyCallOnce ? '' : ' — NOT every call once, in order'}`);

    // A call with the median number of events.
    const sizes = await Promise.all(all.filter((_, i) => i % 500 === 0).map(async (r) => ({ id: r.id, n: (await store.getCall(r.id))!.events.length })));
    const mid = sizes.sort((a, b) => a.n - b.n)[Math.floor(sizes.length / 2)]!;
    const detail = await timed(o.samples * 5, () => get(`/api/records/${encodeURIComponent(mid.id)}`));
    log(`one call's detail (${mid.n} events) ${fmt(detail)}`);
    return {
      kind,
      calls: all.length,
      list10k,
      list10kQuery,
      cliProcess,
      cliProcessOneCall,
      builtProcess,
      builtProcessOneCall,
      firstPage,
      deepPage,
      walk: { pages, calls: seen.length, ms: Number(walkMs.toFixed(1)), everyCallOnce },
      detail,
      detailEvents: mid.n,
    };
  } finally {
    await inspector.close();
  }
}

export async function benchRecords(o: { calls: number; samples: number; log: (s: string) => void }): Promise<RecordsResult> {
  const stores: RecordsStoreResult[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-records-'));
  try {
    const file = join(dir, 'calls.sqlite');
    const filled = await fillSqlite(file, o.calls);
    const bytes = statSync(file).size;
    o.log(`  sqlite: ${o.calls} calls, ${filled.events} events, ${filled.turns} turns written in ${(filled.ms / 1000).toFixed(1)} s; ${(bytes / 1e6).toFixed(1)} MB`);
    const store = new SqliteStore(file, { mustExist: true });
    try {
      const m = await measure('sqlite', store, { CALLS_DB: file }, o);
      stores.push({ ...m, events: filled.events, turns: filled.turns, MB: Number((bytes / 1e6).toFixed(1)), bytesPerCall: Math.round(bytes / o.calls), fillS: Number((filled.ms / 1000).toFixed(1)) });
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const url = process.env.TEST_DATABASE_URL?.trim() || process.env.DATABASE_URL?.trim();
  let postgresSkipped: string | null = url ? null : 'neither TEST_DATABASE_URL nor DATABASE_URL is set';
  if (url) {
    const schema = `bench_records_${process.pid}`;
    try {
      const filled = await fillPostgres(url, schema, o.calls);
      o.log(`  postgres: ${o.calls} calls, ${filled.events} events written in ${(filled.ms / 1000).toFixed(1)} s; ${(filled.bytes / 1e6).toFixed(1)} MB`);
      const store = await PostgresStore.open(url, { schema });
      try {
        const withSchema = new URL(url);
        withSchema.searchParams.set('options', `-c search_path=${schema}`);
        const m = await measure('postgres', store, { CALLS_DB: 'off', DATABASE_URL: withSchema.toString() }, o);
        stores.push({
          ...m,
          events: filled.events,
          turns: filled.turns,
          MB: Number((filled.bytes / 1e6).toFixed(1)),
          bytesPerCall: Math.round(filled.bytes / o.calls),
          fillS: Number((filled.ms / 1000).toFixed(1)),
        });
      } finally {
        await store.close();
      }
    } catch (err) {
      postgresSkipped = `PostgreSQL at ${new URL(url).host} failed: ${(err as Error).message}`;
      o.log(`  postgres: ${postgresSkipped}`);
    } finally {
      const c = new pg.Client({ connectionString: url });
      await c.connect().then(() => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).catch(() => undefined);
      await c.end().catch(() => undefined);
    }
  }
  const ms = 1000;
  // The command as deployed (the production build) counts: its start and the store's open are part of what a user waits.
  const met =
    stores.length > 0 &&
    stores.every((s) => [s.list10k, s.builtProcess, s.firstPage, s.deepPage, s.detail].every((x) => x.p95 < ms) && s.walk.everyCallOnce);
  return {
    setup:
      `${o.calls} ended calls spread over 30 days (the fleet bench's calls: the real routing machine, 4–30 turns each with their latency, caller details, ` +
      `transfers), recorded by the product's recorder and bulk-written; pages of ${PAGE} (the inspector page's size) over HTTP from an inspector server in this process`,
    calls: o.calls,
    pageSize: PAGE,
    stores,
    postgresSkipped,
    target: { ms, met },
  };
}
