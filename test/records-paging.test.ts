/**
 * Past calls a page at a time (keyset pagination, newest first: started_at DESC, id DESC): every call
 * exactly once across the pages, in order, on a real SQLite file and a real PostgreSQL; the index that
 * serves the order (migration 5); `npm run calls -- --before`; the inspector's `GET /api/records?before=`
 * and the page's "Older calls". How fast it is belongs to the bench (figure 9), not here.
 */
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../src/call/call.js';
import type { CallEvent } from '../src/call/events.js';
import { startInspectorServer } from '../src/inspector/server.js';
import { inspectorRecords } from '../src/records/index.js';
import { MIGRATIONS } from '../src/records/migrations.js';
import { PostgresStore } from '../src/records/postgres.js';
import { attachRecorder } from '../src/records/recorder.js';
import { SqliteStore } from '../src/records/sqlite.js';
import { type CallRow, type CallStore, NoSuchCallError } from '../src/records/types.js';
import { runCallsCli } from './support/calls-cli.js';
import { CHROMIUM, launchChromium, newPage } from './support/chromium.js';
import { PG_SKIP_REASON, TEST_DATABASE_URL, dropSchema, uniqueSchema } from './support/pg.js';

let tmp: string;
const schema = uniqueSchema('records_paging');

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-paging-'));
});
afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
  await dropSchema(schema).catch(() => undefined);
});

interface Spec {
  id: string;
  at: number;
  /** Each answered turn's response time (none: a text call, no figures). */
  response?: number[];
  /** What the caller needs, as the agent noted it. */
  need?: string;
}

/** Ended calls written as the recorder writes them (a stand-in call that only emits events). */
async function seed(store: CallStore, specs: Spec[]): Promise<void> {
  for (const s of specs) {
    const call = Object.assign(new EventEmitter(), { callId: s.id, events: [] as CallEvent[], reportError: () => undefined });
    const recorder = attachRecorder(call as unknown as Call, store, { worker: 'paging-test' });
    const emit = (e: CallEvent) => call.emit('event', e);
    emit({ type: 'started', callId: s.id, state: 'triage', caller: {}, maxHandoffs: 6, humanAvailable: false, at: s.at });
    emit({ type: 'caller', caller: { name: `Caller ${s.id}`, ...(s.need ? { need: s.need } : {}) }, at: s.at + 100 });
    (s.response ?? []).forEach((responseMs, i) =>
      emit({ type: 'turn', line: i + 1, agent: 'triage', eouMs: 300, sttMs: 200, llmTtftMs: 250, ttsTtfbMs: 150, responseMs, at: s.at + 1000 * (i + 1) }),
    );
    emit({ type: 'end', state: 'ended', handoffCount: 0, reason: 'caller is done', at: s.at + 60_000 });
    await recorder.done;
  }
}

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

/**
 * 23 calls, written out of order, five of them starting at the same millisecond (the id orders those) and
 * two more at another: the pages' boundaries fall on ties too.
 */
function specs(): Spec[] {
  const out: Spec[] = [];
  for (let i = 0; i < 23; i++) {
    const at = i >= 8 && i < 13 ? T0 + 8 * 60_000 : i === 17 || i === 18 ? T0 + 17 * 60_000 : T0 + i * 60_000;
    out.push({ id: `call-${String(i).padStart(2, '0')}`, at, response: i % 3 === 0 ? [] : [700 + i, 900 + i, 1200 + i] });
  }
  // Recorded in a shuffled order: the list's order is the calls', not the order they were written in.
  return out.map((s, i) => ({ s, k: (i * 7) % out.length })).sort((a, b) => a.k - b.k).map((x) => x.s);
}

/** The list's order: newer first, and at the same start the greater id first. */
const byListOrder = (a: { id: string; at: number }, b: { id: string; at: number }) => b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/** Every page in turn, each after the last call of the one before (by id alone, or with its start). */
async function walk(store: CallStore, size: number, withStart: boolean): Promise<CallRow[][]> {
  const pages: CallRow[][] = [];
  let before: CallRow | undefined;
  for (;;) {
    const page = await store.listCalls({
      limit: size,
      ...(before ? { before: withStart ? { id: before.id, startedAt: before.startedAt } : { id: before.id } } : {}),
    });
    if (page.length === 0) break;
    pages.push(page);
    before = page.at(-1);
    if (pages.length > 100) throw new Error('the pages never end');
  }
  return pages;
}

async function expectPaging(store: CallStore) {
  const all = specs();
  await seed(store, all);
  const expected = [...all].sort(byListOrder).map((s) => s.id);
  const whole = await store.listCalls(100);
  expect(whole.map((r) => r.id)).toEqual(expected);
  // The old call sites: a number is the first page's length.
  expect((await store.listCalls(4)).map((r) => r.id)).toEqual(expected.slice(0, 4));
  expect(await store.listCalls({ limit: 0 })).toEqual([]);

  for (const size of [1, 2, 5, 7, 23, 50]) {
    for (const withStart of [false, true]) {
      const pages = await walk(store, size, withStart);
      const ids = pages.flat().map((r) => r.id);
      // Every call exactly once, in the list's order, each page full but the last.
      expect(ids, `pages of ${size}${withStart ? ' (cursor with its start)' : ''}`).toEqual(expected);
      expect(new Set(ids).size).toBe(expected.length);
      expect(pages.slice(0, -1).every((p) => p.length === size)).toBe(true);
      expect(pages.at(-1)!.length).toBe(expected.length - size * (pages.length - 1));
    }
  }
  // A page from a call in the middle of a tie: the rest of the tie (smaller ids), then older calls.
  const tie = await store.listCalls({ limit: 4, before: { id: 'call-10' } });
  expect(tie.map((r) => r.id)).toEqual(['call-09', 'call-08', 'call-07', 'call-06']);
  // After the oldest call: nothing.
  expect(await store.listCalls({ limit: 5, before: { id: expected.at(-1)! } })).toEqual([]);
  // A call the store does not hold: said, not an empty page.
  await expect(store.listCalls({ limit: 5, before: { id: 'no-such-call' } })).rejects.toBeInstanceOf(NoSuchCallError);
  // Rows read back whole on a page, as on the first.
  const [row] = await store.listCalls({ limit: 1, before: { id: 'call-02' } });
  expect(row).toMatchObject({ id: 'call-01', status: 'ended', outcome: 'caller is done', caller: { name: 'Caller call-01' } });
  expect(row!.turns.map((t) => t.responseMs)).toEqual([701, 901, 1201]);
}

describe('keyset pages of the calls list', () => {
  it('SQLite: every call exactly once across the pages, in order, whatever the page size; ties ordered by id', async () => {
    const store = new SqliteStore(join(tmp, 'pages.sqlite'));
    try {
      await expectPaging(store);
      expect(await store.migrations()).toEqual(MIGRATIONS.map((m) => m.version));
    } finally {
      await store.close();
    }
  });

  it('SQLite: the list is read through migration 5\'s index, in its order (no sort), first page and later ones', async () => {
    const file = join(tmp, 'plan.sqlite');
    await new SqliteStore(file).close();
    const { Database } = createRequire(import.meta.url)('node-sqlite3-wasm') as typeof import('node-sqlite3-wasm');
    const db = new Database(file);
    try {
      const plan = (sql: string) => db.all(`EXPLAIN QUERY PLAN ${sql}`).map((r) => String(r.detail)).join('; ');
      expect(plan('SELECT * FROM calls ORDER BY started_at DESC, id DESC LIMIT 5')).toMatch(/USING INDEX calls_list/);
      const later = plan("SELECT * FROM calls WHERE started_at <= 5 AND (started_at < 5 OR id < 'x') ORDER BY started_at DESC, id DESC LIMIT 5");
      expect(later).toMatch(/SEARCH calls USING INDEX calls_list \(started_at<\?\)/);
      expect(later).not.toMatch(/TEMP B-TREE/);
      const indexes = db.all("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'calls'").map((r) => r.name);
      expect(indexes).toContain('calls_list');
      expect(indexes).not.toContain('calls_started_at'); // replaced: the new one serves what it did
    } finally {
      db.close();
    }
  });
});

describe.skipIf(!TEST_DATABASE_URL)(`keyset pages on PostgreSQL${PG_SKIP_REASON ? ` (skipped: ${PG_SKIP_REASON})` : ''}`, () => {
  it('every call exactly once across the pages, in order, whatever the page size; ties ordered by id', async () => {
    const store = await PostgresStore.open(TEST_DATABASE_URL!, { schema });
    try {
      await expectPaging(store);
      expect(await store.migrations()).toEqual(MIGRATIONS.map((m) => m.version));
    } finally {
      await store.close();
    }
  });

  it("the list's index (migration 5) is there, in the list's order", async () => {
    const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await c.connect();
    try {
      const { rows } = await c.query('SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2', [schema, 'calls']);
      const defs = Object.fromEntries(rows.map((r) => [r.indexname, r.indexdef]));
      expect(defs.calls_list).toMatch(/\(started_at DESC, id DESC\)/);
      expect(defs.calls_started_at).toBeUndefined();
    } finally {
      await c.end();
    }
  });
});

// ---- npm run calls -- --before ----------------------------------------------------------------------

describe('npm run calls: pages', () => {
  let file: string;
  let expected: string[];
  const runCli = (args: string[]) => runCallsCli(tmp, args, { CALLS_DB: file });
  const listed = (stdout: string) => stdout.split('\n').filter((l) => /^call-\d\d /.test(l)).map((l) => l.split(' ')[0]!);

  beforeAll(async () => {
    file = join(tmp, 'cli-pages.sqlite');
    const store = new SqliteStore(file);
    const all = specs().slice(0, 7);
    await seed(store, all);
    await store.close();
    expected = [...all].sort(byListOrder).map((s) => s.id);
  });

  it('--before <the last call listed> lists the next page; the list says how to ask for it; the pages hold every call once', async () => {
    const seen: string[] = [];
    let args = ['--limit', '3'];
    for (let i = 0; i < 3; i++) {
      const r = await runCli(args);
      expect(r.code, r.stderr).toBe(0);
      const ids = listed(r.stdout);
      seen.push(...ids);
      // A page has its figures over the calls it lists (the last one holds a text call only: none).
      if (i < 2) expect(r.stdout).toMatch(/response time .*: p50 \d+ ms, p95 \d+ ms over \d+ turns of 3 calls/);
      const next = /npm run calls -- --before (\S+) --limit 3/.exec(r.stdout);
      if (i < 2) {
        expect(next?.[1]).toBe(ids.at(-1));
        args = ['--before', next![1]!, '--limit', '3'];
      } else {
        expect(next).toBeNull();
        expect(r.stdout).toContain(`The oldest calls recorded (before ${args[1]}).`);
      }
    }
    expect(seen).toEqual(expected);
    // Every call listed: no hint.
    const first = await runCli(['--limit', '20']);
    expect(first.stdout).not.toMatch(/--before/);
    const two = await runCli(['--limit', '2']);
    expect(two.stdout).toMatch(new RegExp(`The 2 most recent calls; older ones are recorded too \\(npm run calls -- --limit 10 shows more; npm run calls -- --before ${expected[1]} --limit 2 the next 2\\)\\.`));
  });

  it('--before with --json, and --before=<id>', async () => {
    const r = await runCli(['--json', `--before=${expected[1]}`, '--limit', '2']);
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as { id: string; latency: { responseMs: { p50: number | null } } }[];
    expect(rows.map((x) => x.id)).toEqual(expected.slice(2, 4));
    const last = await runCli(['--before', expected.at(-1)!]);
    expect(last.code, last.stderr).toBe(0);
    expect(last.stdout.trim()).toBe(`No calls recorded before ${expected.at(-1)} in ${file}.`);
  });

  it('a long list through a pipe arrives whole (it was cut after the first 64 KB)', async () => {
    const big = join(tmp, 'cli-big.sqlite');
    const store = new SqliteStore(big);
    const need = 'The caller was charged twice for the same order and wants the second charge refunded. '.repeat(300);
    await seed(store, Array.from({ length: 40 }, (_, i) => ({ id: `big-${String(i).padStart(2, '0')}`, at: T0 + i * 60_000, need })));
    await store.close();
    const r = await runCallsCli(tmp, ['--json', '--limit', '100'], { CALLS_DB: big });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(1_000_000);
    const rows = JSON.parse(r.stdout) as { id: string; caller: { need: string } }[];
    expect(rows.map((x) => x.id)).toEqual(Array.from({ length: 40 }, (_, i) => `big-${String(39 - i).padStart(2, '0')}`));
    expect(rows.every((x) => x.caller.need === need)).toBe(true);
  });

  it('a bad value: one line, exit 2', async () => {
    const oneLine = (r: { code: number | null; stdout: string; stderr: string }, pattern: RegExp) => {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    };
    oneLine(await runCli(['--before']), /^calls: --before needs a call id: the last call of the page before \(got nothing\)/);
    oneLine(await runCli(['--before', '--json']), /^calls: --before needs a call id.*\(got --json\)/);
    oneLine(await runCli(['--before=']), /^calls: --before needs a call id/);
    oneLine(await runCli(['--before', 'no-such-call']), /^calls: --before no-such-call: no such call in .*cli-pages\.sqlite/);
    oneLine(await runCli(['--limit', '0']), /^calls: --limit needs a whole number ≥ 1 \(got 0\)/);
    // Not a value but a misuse: the first line says what, the usage follows.
    const both = await runCli(['--before', expected[0]!, expected[1]!]);
    expect(both.code).toBe(2);
    expect(both.stderr.split('\n')[0]).toBe(`calls: --before pages the list; it does not go with a call to show (${expected[1]})`);
    expect(both.stderr).toMatch(/usage: npm run calls .*--before <callId>/);
  });
});

// ---- the inspector ---------------------------------------------------------------------------------

describe('inspector: past calls a page at a time', () => {
  let store: SqliteStore;
  let expected: string[];

  beforeAll(async () => {
    store = new SqliteStore(join(tmp, 'api-pages.sqlite'));
    const all = specs();
    await seed(store, all);
    expected = [...all].sort(byListOrder).map((s) => s.id);
  });
  afterAll(async () => {
    await store?.close();
  });

  it('GET /api/records?limit=&before= walks every call once, in order; the list has each call\'s response time', async () => {
    const inspector = await startInspectorServer({ token: 'sekret', records: inspectorRecords(store) });
    const base = `http://127.0.0.1:${inspector.port}`;
    const get = (q: string) => fetch(`${base}/api/records${q}`, { headers: { authorization: 'Bearer sekret' } });
    try {
      expect((await fetch(`${base}/api/records?limit=3&before=call-05`)).status).toBe(401); // same auth as the rest
      const seen: string[] = [];
      let before: string | undefined;
      for (let pages = 0; pages < 20; pages++) {
        const res = await get(`?limit=4${before ? `&before=${encodeURIComponent(before)}` : ''}`);
        expect(res.status).toBe(200);
        const page = (await res.json()) as { callId: string; response?: { p50: number; p95: number; turns: number }; transcript: unknown[] }[];
        if (page.length === 0) break;
        expect(page.length).toBeLessThanOrEqual(4);
        seen.push(...page.map((c) => c.callId));
        before = page.at(-1)!.callId;
        for (const c of page) {
          const i = Number(c.callId.slice(5));
          // Summaries (no transcript), with the response time when it was measured.
          expect(c.transcript).toEqual([]);
          if (i % 3 === 0) expect(c.response).toBeUndefined();
          else expect(c.response).toEqual({ p50: 900 + i, p95: 1200 + i, turns: 3 });
        }
      }
      expect(seen).toEqual(expected);

      const missing = await get('?limit=4&before=no-such-call');
      expect(missing.status).toBe(404);
      expect(await missing.json()).toEqual({ error: 'no call no-such-call in the records to list before' });
      expect((await get('?limit=4&before=')).status).toBe(400);
      expect((await get(`?limit=0&before=${expected[0]}`)).status).toBe(400);
    } finally {
      await inspector.close();
    }
  });
});

// ---- the page's "Older calls" ----------------------------------------------------------------------

describe.skipIf(!existsSync(CHROMIUM))(`the inspector page: older past calls${existsSync(CHROMIUM) ? '' : ` (skipped: ${CHROMIUM} not found)`}`, () => {
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
  });

  it('lists a page of past calls, then the next one when asked; each with its response time', async () => {
    const store = new SqliteStore(join(tmp, 'page-older.sqlite'));
    const all: Spec[] = Array.from({ length: 130 }, (_, i) => ({ id: `older-${String(i).padStart(3, '0')}`, at: T0 + i * 60_000, response: [800, 1000] }));
    await seed(store, all);
    const server = await startInspectorServer({ host: '127.0.0.1', port: 0, records: inspectorRecords(store) });
    try {
      const { page, errors } = await newPage(browser, contexts);
      await page.goto(server.url);
      await page.click('[data-testid="tab-past"]');
      const rows = page.locator('#past-calls [data-record-id]');
      await expect.poll(() => rows.count()).toBe(100);
      expect(await page.locator('#calls-count').innerText()).toBe('100+ recorded');
      expect(await rows.first().getAttribute('data-record-id')).toBe('older-129');
      expect(await rows.first().locator('.call-sub').innerText()).toMatch(/ · 800\/1000 ms$/);
      const older = page.locator('[data-testid="past-older"]');
      await older.focus();
      await page.keyboard.press('Enter');
      await expect.poll(() => rows.count()).toBe(130);
      expect(await rows.nth(100).getAttribute('data-record-id')).toBe('older-029');
      expect(await rows.last().getAttribute('data-record-id')).toBe('older-000');
      // The first call the page added has the focus; nothing older: no button.
      expect(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.recordId)).toBe('older-029');
      expect(await older.count()).toBe(0);
      expect(await page.locator('#calls-count').innerText()).toBe('130 recorded');
      // An older call opens as the first page's do.
      await rows.nth(120).click();
      await expect.poll(() => page.locator('#details-id').innerText()).toBe('older-009');
      expect(errors).toEqual([]);
    } finally {
      await server.close();
      await store.close();
    }
  });
});
