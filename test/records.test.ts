/**
 * Durable call records: every event of a real call (real orchestrator, scripted LLM server) written and
 * read back, on a real SQLite file and a real PostgreSQL; migrations; `npm run calls`; the inspector's
 * past calls; and a worker-like process SIGKILLed mid-call.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, rmdirSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInspectorServer } from '../src/inspector/server.js';
import type { CallEvent } from '../src/call/events.js';
import { digestOf } from '../src/call/digest.js';
import { inspectorRecords, openStore } from '../src/records/index.js';
import { PostgresStore } from '../src/records/postgres.js';
import { attachRecorder } from '../src/records/recorder.js';
import { SqliteStore } from '../src/records/sqlite.js';
import { MIGRATIONS } from '../src/records/migrations.js';
import type { CallStore } from '../src/records/types.js';
import type { Call } from '../src/call/call.js';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import { callTools, say, startCall, startServer } from './support/harness.js';
import { runCallsCli } from './support/calls-cli.js';
import { PG_SKIP_REASON, TEST_DATABASE_URL, dropSchema, uniqueSchema } from './support/pg.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
/** Every migration, in order (numbers may leave gaps: each is applied once, in the list's order). */
const VERSIONS = MIGRATIONS.map((m) => m.version);

let tmp: string;
let server: ScriptedServer;
const schema = uniqueSchema('records_test');

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-records-'));
  server = await startServer();
});

afterAll(async () => {
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
  await dropSchema(schema).catch(() => undefined);
});

const transfer = (to: string, reason: string) => callTools({ name: `pass_control_to_${to}`, arguments: { reason } });

/**
 * A call with three transfers, a refused one, caller info and end_call, recorded into `store`.
 * Returns the call's own event list (what the store must hold).
 */
async function recordedCall(store: CallStore) {
  const call = await startCall(server, { caller: { phoneNumber: '+15550100123' } });
  const recorder = attachRecorder(call, store, { worker: 'records-test' });
  await say(call, 'Hi, my name is Maya');
  await say(call, transfer('billing', 'charged twice on my card'));
  await say(call, transfer('triage', 'caller has another question'));
  await say(call, transfer('support', 'router keeps dropping'));
  expect(call.requestTransfer('sales', 'supervisor wants sales', 'supervisor')).toMatchObject({ accepted: false });
  await say(call, callTools({ name: 'end_call', arguments: { reason: 'caller is done' } }));
  const end = await call.finished;
  await recorder.done;
  expect(recorder.failures).toBe(0);
  return { call, events: call.events.slice(), end };
}

/** What every store must give back for that call. */
async function expectReadBack(store: CallStore, callId: string, events: CallEvent[]) {
  const rec = await store.getCall(callId);
  expect(rec).not.toBeNull();
  // Every event, in order, as it was emitted.
  expect(rec!.events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  expect(rec!.events.map((e) => e.event)).toEqual(JSON.parse(JSON.stringify(events)));
  expect(rec!.events.map((e) => e.type)).toEqual(events.map((e) => e.type));
  expect(rec!.events.map((e) => e.at)).toEqual(events.map((e) => e.at));

  const row = rec!.call;
  const started = events.find((e) => e.type === 'started')!;
  const end = events.at(-1) as CallEvent & { type: 'end' };
  expect(end.type).toBe('end');
  expect(row).toMatchObject({
    id: callId,
    worker: 'records-test',
    pid: process.pid,
    status: 'ended',
    outcome: 'caller is done',
    state: 'ended',
    department: 'support',
    handoffCount: 3,
    maxHandoffs: 6,
    humanAvailable: false,
    startedAt: started.at,
    endedAt: end.at,
    caller: { phoneNumber: '+15550100123', name: 'Maya' },
  });

  // The route with reasons and timings, the refusal, the transcript and the outcome.
  const d = digestOf(callId, rec!.events.map((e) => e.event));
  expect(d.route.map((l) => [l.state, l.via?.from, l.via?.reason])).toEqual([
    ['triage', undefined, undefined],
    ['billing', 'triage', 'charged twice on my card'],
    ['triage', 'billing', 'caller has another question'],
    ['support', 'triage', 'router keeps dropping'],
  ]);
  for (const leg of d.route.slice(1)) {
    expect(leg.via!.latencyMs).toBeGreaterThanOrEqual(0);
    expect(leg.via!.source).toBe('agent');
  }
  for (const [i, leg] of d.route.entries()) {
    expect(leg.leftAt).not.toBeNull();
    expect(leg.leftAt!).toBeGreaterThanOrEqual(leg.enteredAt);
    if (i > 0) expect(leg.enteredAt).toBe(d.route[i - 1]!.leftAt);
  }
  expect(d.route.at(-1)!.leftAt).toBe(end.at);
  expect(d.refusals).toEqual([
    expect.objectContaining({ from: 'support', to: 'sales', source: 'supervisor', reason: expect.stringContaining('support cannot transfer') }),
  ]);
  const transcript = events.filter((e) => e.type === 'user' || e.type === 'agent');
  expect(d.transcript.map((t) => t.text)).toEqual(transcript.map((e) => (e as { text: string }).text));
  expect(d.transcript.map((t) => t.who)).toEqual(transcript.map((e) => (e.type === 'user' ? 'caller' : (e as { agent: string }).agent)));
  expect(d.transcript[1]).toMatchObject({ who: 'caller', text: 'Hi, my name is Maya' });
  expect(d).toMatchObject({ ended: true, endReason: 'caller is done', state: 'ended', department: 'support', handoffCount: 3 });
  expect(d.caller).toEqual({ phoneNumber: '+15550100123', name: 'Maya' });
  return rec!;
}

/** A second call under an id the store already holds: not recorded, and the first record stays whole. */
async function expectDuplicateRefused(store: CallStore) {
  const { call: first } = await recordedCall(store);
  const before = await store.getCall(first.callId);
  const again = await startCall(server, { callId: first.callId, caller: { name: 'Someone Else' } });
  const problems: string[] = [];
  const recorder = attachRecorder(again, store, { worker: 'records-test', onError: (m) => problems.push(m) });
  await say(again, 'I was charged twice on my card');
  expect(again.machineState).toBe('billing'); // the call itself goes on
  await again.close('caller is done');
  await recorder.done;
  expect(await store.getCall(first.callId)).toEqual(before);
  expect(problems).toEqual([expect.stringMatching(/this call is not recorded: a call with id test-call-\d+ is already recorded/)]);
  expect(again.events.filter((e) => e.type === 'error')).toEqual([
    expect.objectContaining({ message: expect.stringMatching(/call ids must be unique/) }),
  ]);
  expect(recorder.written).toBe(0);
}

describe('SQLite records (a real file)', () => {
  it('a call id already recorded: the new call goes on unrecorded, the first record stays whole', async () => {
    const store = new SqliteStore(join(tmp, 'dup.sqlite'));
    try {
      await expectDuplicateRefused(store);
    } finally {
      await store.close();
    }
  });

  it('writes every event of a call with transfers and reads it back: route, reasons, timings, caller, transcript, outcome', async () => {
    const file = join(tmp, 'nested', 'dir', 'calls.sqlite');
    const store = new SqliteStore(file); // the parent directories are created
    try {
      const { call, events } = await recordedCall(store);
      expect(events.filter((e) => e.type === 'handoff')).toHaveLength(3);
      expect(events.filter((e) => e.type === 'rejected')).toHaveLength(1);
      await expectReadBack(store, call.callId, events);
      expect((await store.listCalls(10)).map((r) => r.id)).toEqual([call.callId]);
      // Nothing was enqueued: no webhooks asked for.
      expect(await store.webhooks()).toEqual([]);
    } finally {
      await store.close();
    }
    // Another process-like open of the same file reads the same.
    const again = new SqliteStore(file);
    try {
      expect((await again.listCalls(10))[0]).toMatchObject({ status: 'ended', handoffCount: 3 });
    } finally {
      await again.close();
    }
  });

  it('migrations are numbered, applied once, and opening again (twice) changes nothing', async () => {
    const file = join(tmp, 'migrate.sqlite');
    const a = new SqliteStore(file);
    const { call } = await recordedCall(a);
    expect(await a.migrations()).toEqual(VERSIONS);
    await a.close();
    for (let i = 0; i < 2; i++) {
      const b = new SqliteStore(file);
      expect(await b.migrations()).toEqual(VERSIONS);
      expect((await b.getCall(call.callId))!.events.length).toBeGreaterThan(10);
      await b.close();
    }
  });

  it('a lock left behind by a killed process is cleared; a live lock is waited for, not broken', async () => {
    const file = join(tmp, 'stale.sqlite');
    const store = new SqliteStore(file);
    await store.close();
    // What a SIGKILL inside a transaction leaves: the VFS's lock directory.
    mkdirSync(`${file}.lock`);
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${file}.lock`, old, old);
    const reopened = new SqliteStore(file, { busyTimeoutMs: 2000 });
    expect(await reopened.listCalls(1)).toEqual([]);
    expect(existsSync(`${file}.lock`)).toBe(false);
    await reopened.close();
    // A fresh lock (another process mid-write) is not broken: the open waits, then says what is wrong.
    mkdirSync(`${file}.lock`);
    expect(() => new SqliteStore(file, { busyTimeoutMs: 200, staleLockMs: 60_000 })).toThrow(/locked by another process/);
    rmdirSync(`${file}.lock`);
  });

  it('a write failure is reported on the call once and the call goes on', async () => {
    const file = join(tmp, 'failing.sqlite');
    const real = new SqliteStore(file);
    let failing = true;
    const flaky: CallStore = Object.assign(Object.create(real) as CallStore, {
      record: (w: Parameters<CallStore['record']>[0]) => (failing ? Promise.reject(new Error('disk full')) : real.record(w)),
    });
    const call = await startCall(server);
    const problems: string[] = [];
    const recorder = attachRecorder(call, flaky, { worker: 'records-test', onError: (m) => problems.push(m) });
    await say(call, 'Hi, my name is Maya');
    await say(call, transfer('billing', 'charged twice'));
    expect(call.machineState).toBe('billing');
    const errors = call.events.filter((e) => e.type === 'error');
    expect(errors).toHaveLength(1);
    expect((errors[0] as { message: string }).message).toMatch(/call records: could not write .*disk full/);
    expect(problems.length).toBeGreaterThan(1); // every failure to onError, one on the call
    // The store recovers: later events are written again.
    failing = false;
    await say(call, 'thanks');
    await call.close('done');
    await recorder.done;
    const rec = await real.getCall(call.callId);
    expect(rec?.events.at(-1)?.type).toBe('end');
    await real.close();
  });
});

describe.skipIf(!TEST_DATABASE_URL)(`PostgreSQL records${PG_SKIP_REASON ? ` (skipped: ${PG_SKIP_REASON})` : ''}`, () => {
  it('writes every event of a call with transfers and reads it back', async () => {
    const store = await PostgresStore.open(TEST_DATABASE_URL!, { schema });
    try {
      expect(store.location).not.toContain(':switchboard@'); // no password in messages
      const { call, events } = await recordedCall(store);
      await expectReadBack(store, call.callId, events);
      expect((await store.listCalls(5)).map((r) => r.id)).toContain(call.callId);
    } finally {
      await store.close();
    }
  });

  it('a call id already recorded: the new call goes on unrecorded, the first record stays whole', async () => {
    const store = await PostgresStore.open(TEST_DATABASE_URL!, { schema });
    try {
      await expectDuplicateRefused(store);
    } finally {
      await store.close();
    }
  });

  it('migrations are applied once; opening twice (and concurrently) is idempotent', async () => {
    const opened = await Promise.all([1, 2, 3].map(() => PostgresStore.open(TEST_DATABASE_URL!, { schema })));
    for (const s of opened) expect(await s.migrations()).toEqual(VERSIONS);
    await Promise.all(opened.map((s) => s.close()));
    const again = await PostgresStore.open(TEST_DATABASE_URL!, { schema });
    expect(await again.migrations()).toEqual(VERSIONS);
    await again.close();
  });

  it('openStore picks PostgreSQL when DATABASE_URL is set', async () => {
    const opened = await openStore({ CALLS_DB: 'off', DATABASE_URL: TEST_DATABASE_URL }, { postgres: { schema } });
    expect(opened!.store.kind).toBe('postgres');
    await opened!.store.close();
  });
});

// ---- npm run calls ---------------------------------------------------------------------------------

const runCli = (args: string[], env: Record<string, string>) => runCallsCli(tmp, args, env);

describe('npm run calls', () => {
  let file: string;
  let callId: string;
  let events: CallEvent[];

  beforeAll(async () => {
    file = join(tmp, 'cli.sqlite');
    const store = new SqliteStore(file);
    ({ call: { callId }, events } = await recordedCall(store));
    await store.close();
  });

  it('lists recent calls: id, started, duration, caller, final department, handoffs, response time, outcome', async () => {
    const r = await runCli([], { CALLS_DB: file });
    expect(r.code, r.stderr).toBe(0);
    const [header, line] = r.stdout.trim().split('\n');
    expect(header).toMatch(/^CALL\s+STARTED\s+DURATION\s+CALLER\s+DEPARTMENT\s+HANDOFFS\s+RESPONSE p50\/p95\s+OUTCOME$/);
    expect(line).toContain(callId);
    // A text call: no response time (its turns' model time is in the footer: test/turn-latency.test.ts).
    expect(line).toMatch(/Maya \+15550100123\s+support\s+3\s+—\s+caller is done$/);
    expect(line).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d+\.\ds/);
  });

  it('shows one call: route with reasons and handoff latency, refusals, caller, transcript, outcome', async () => {
    const r = await runCli([callId], { CALLS_DB: file });
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).toContain(`Call ${callId} — ended: caller is done`);
    expect(out).toMatch(/\n\s+phoneNumber\s+\+15550100123\n/);
    expect(out).toMatch(/\n\s+name\s+Maya\n/);
    expect(out).toMatch(/\+\d+\.\ds\s+billing\s+\S+\s+← transferred from triage by agent: charged twice on my card \(handoff \d+ ms\)/);
    expect(out).toMatch(/support\s+\S+\s+← transferred from triage by agent: router keeps dropping/);
    expect(out).toMatch(/Refused transfers\n\s+\+\d+\.\ds\s+support → sales \(supervisor\): support cannot transfer/);
    expect(out).toMatch(/caller │ Hi, my name is Maya/);
    expect(out).toMatch(/Outcome: caller is done — ended in support after 3 transfer\(s\)/);
  });

  it('--json for the list and for one call; --limit', async () => {
    const list = await runCli(['--json', '--limit', '1'], { CALLS_DB: file });
    expect(list.code, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout) as Record<string, unknown>[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: callId, status: 'ended', department: 'support', handoffCount: 3, outcome: 'caller is done' });
    expect(rows[0]!.durationMs).toBeGreaterThan(0);

    const one = await runCli([callId, '--json'], { CALLS_DB: file });
    expect(one.code, one.stderr).toBe(0);
    const j = JSON.parse(one.stdout);
    expect(j.events).toHaveLength(events.length);
    expect(j.route.map((l: { state: string }) => l.state)).toEqual(['triage', 'billing', 'triage', 'support']);
    expect(j.summary).toMatchObject({ status: 'ended', outcome: 'caller is done', handoffCount: 3, counts: { refusals: 1, errors: 0 } });
    expect(j.refusals).toHaveLength(1);
  });

  it('says when older calls exist than --limit shows; an interrupted call\'s header says so once', async () => {
    // Calls written through the recorder by a stand-in that only emits events (no model needed).
    const many = join(tmp, 'many.sqlite');
    const store = new SqliteStore(many);
    const fakeCall = (id: string, at: number, end: boolean) => {
      const call = Object.assign(new EventEmitter(), { callId: id, events: [] as CallEvent[], reportError: () => undefined });
      const recorder = attachRecorder(call as unknown as Call, store, { worker: 'records-test' });
      call.emit('event', { type: 'started', callId: id, state: 'triage', caller: {}, maxHandoffs: 6, humanAvailable: false, at });
      if (end) call.emit('event', { type: 'end', state: 'ended', handoffCount: 0, reason: 'caller is done', at: at + 1000 });
      return recorder;
    };
    const t0 = Date.now() - 60_000;
    for (let i = 0; i < 3; i++) await fakeCall(`list-${i}`, t0 + i * 1000, true).flush();
    const dead = fakeCall('dead-call', t0 + 5000, false);
    await dead.flush();
    dead.detach();
    await store.close();
    const swept = await openStore({ CALLS_DB: many }, { isAlive: () => false });
    expect(swept!.interrupted).toEqual(['dead-call']);
    await swept!.store.close();

    const cut = await runCli(['--limit', '2'], { CALLS_DB: many });
    expect(cut.code, cut.stderr).toBe(0);
    expect(cut.stdout.trim().split('\n').filter((l) => /^(list|dead)-/.test(l))).toHaveLength(2);
    expect(cut.stdout).toMatch(/The 2 most recent calls; older ones are recorded too \(npm run calls -- --limit 10 shows more; npm run calls -- --before \S+ --limit 2 the next 2\)/);
    const all = await runCli(['--limit', '4'], { CALLS_DB: many });
    expect(all.stdout.trim().split('\n').filter((l) => /^(list|dead)-/.test(l))).toHaveLength(4);
    expect(all.stdout).not.toMatch(/most recent calls/);

    const one = await runCli(['dead-call'], { CALLS_DB: many });
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toContain('Call dead-call — interrupted (its process stopped before the call ended)');
    expect(one.stdout).not.toContain('interrupted: interrupted');
  });

  it('a missing database, records off, or an unknown call: a clear message', async () => {
    const missing = await runCli([], { CALLS_DB: join(tmp, 'nope', 'calls.sqlite') });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no call records yet: .*nope\/calls\.sqlite does not exist/);
    expect(existsSync(join(tmp, 'nope'))).toBe(false); // reading never creates it
    const off = await runCli([], { CALLS_DB: 'off' });
    expect(off.code).toBe(1);
    expect(off.stderr).toMatch(/call records are off/);
    const unknown = await runCli(['no-such-call'], { CALLS_DB: file });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no call no-such-call in /);
  });
});

// ---- the inspector's past calls --------------------------------------------------------------------

describe('inspector: past calls', () => {
  it('GET /api/records and /api/records/:id return stored calls as CallViews (same auth as the rest)', async () => {
    const store = new SqliteStore(join(tmp, 'inspector.sqlite'));
    const { call } = await recordedCall(store);
    const inspector = await startInspectorServer({ token: 'sekret', records: inspectorRecords(store) });
    const base = `http://127.0.0.1:${inspector.port}`;
    const auth = { authorization: 'Bearer sekret' };
    try {
      expect((await fetch(`${base}/api/records`)).status).toBe(401);
      const list = await (await fetch(`${base}/api/records?limit=5`, { headers: auth })).json();
      expect(list).toEqual([expect.objectContaining({ callId: call.callId, live: false, state: 'ended', handoffCount: 3, endReason: 'caller is done' })]);
      const res = await fetch(`${base}/api/records/${encodeURIComponent(call.callId)}`, { headers: auth });
      expect(res.status).toBe(200);
      const view = await res.json();
      expect(view.timeline.map((t: { state: string }) => t.state)).toEqual(['triage', 'billing', 'triage', 'support']);
      expect(view.timeline[1]).toMatchObject({ reason: 'charged twice on my card', source: 'agent', escalated: false });
      expect(view.timeline[1].latencyMs).toBeGreaterThanOrEqual(0);
      expect(view.timeline.every((t: { leftAt?: number }) => typeof t.leftAt === 'number')).toBe(true);
      expect(view.refusals).toHaveLength(1);
      expect(view.transcript.some((t: { text: string }) => t.text === 'Hi, my name is Maya')).toBe(true);
      expect(view.caller).toEqual({ phoneNumber: '+15550100123', name: 'Maya' });
      expect((await fetch(`${base}/api/records/nope`, { headers: auth })).status).toBe(404);
    } finally {
      await inspector.close();
      await store.close();
    }
    // Without records the endpoints say so.
    const bare = await startInspectorServer();
    try {
      expect((await fetch(`http://127.0.0.1:${bare.port}/api/records`)).status).toBe(404);
    } finally {
      await bare.close();
    }
  });
});

// ---- SIGKILL mid-call -----------------------------------------------------------------------------

describe('a worker-like process killed mid-call', () => {
  it('loses nothing it had written; the next open marks the call interrupted', async () => {
    const file = join(tmp, 'kill.sqlite');
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'test/support/record-child.ts', file], {
      cwd: ROOT,
      env: { ...process.env, TEST_LOG_LEVEL: 'fatal' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const markers: { seq: number; type: string }[] = [];
    let callId = '';
    let childPid = 0;
    let stderr = '';
    let buf = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => res(signal)));
    const closed = new Promise<void>((res) => child.on('close', () => res()));
    const killAfterHandoffs = 4;
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`the child never got far enough\n${stderr}`)), 30_000);
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const ready = /^READY (\S+) (\d+)$/.exec(line);
          if (ready) {
            callId = ready[1]!;
            childPid = Number(ready[2]);
          }
          const m = /^WROTE (\d+) (\w+)$/.exec(line);
          if (!m) continue;
          markers.push({ seq: Number(m[1]), type: m[2]! });
          // Kill it in the middle of talking: right after a transfer was written, more is on its way.
          if (markers.filter((x) => x.type === 'handoff').length === killAfterHandoffs && child.exitCode === null) {
            child.kill('SIGKILL');
            clearTimeout(t);
            res();
          }
        }
      });
      child.on('exit', () => {
        clearTimeout(t);
        res();
      });
    });
    expect(await exited).toBe('SIGKILL');
    await closed; // every marker it printed has been read
    expect(childPid).toBe(child.pid);

    // Read back without the interrupted sweep first: exactly what was written.
    const raw = new SqliteStore(file);
    const before = await raw.getCall(callId);
    await raw.close();
    expect(before).not.toBeNull();
    const stored = before!.events;
    // Every event it reported written is there, in order, with the same seq and type.
    for (const m of markers) expect(stored[m.seq - 1], `seq ${m.seq}`).toMatchObject({ seq: m.seq, type: m.type });
    expect(stored.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));
    // At most the one write in flight at the kill may have committed without its marker.
    expect(stored.length - markers.length).toBeGreaterThanOrEqual(0);
    expect(stored.length - markers.length).toBeLessThanOrEqual(1);
    expect(stored.filter((e) => e.type === 'handoff').length).toBeGreaterThanOrEqual(killAfterHandoffs);
    expect(before!.call.status).toBe('live');
    console.info(`kill test: ${markers.length} events reported written before SIGKILL, ${stored.length} read back`);

    // A new open (any process on this host) sees the dead pid and marks the call interrupted.
    const opened = await openStore({ CALLS_DB: file });
    try {
      expect(opened!.interrupted).toEqual([callId]);
      const after = await opened!.store.getCall(callId);
      expect(after!.call).toMatchObject({ status: 'interrupted', outcome: 'interrupted', endedAt: stored.at(-1)!.at });
      expect(after!.events).toHaveLength(stored.length);
    } finally {
      await opened!.store.close();
    }
    // Idempotent: the next open finds nothing more to do.
    const again = await openStore({ CALLS_DB: file });
    expect(again!.interrupted).toEqual([]);
    await again!.store.close();
  }, 60_000);

  it('live calls of running processes are never marked interrupted', async () => {
    const file = join(tmp, 'alive.sqlite');
    const store = new SqliteStore(file);
    const call = await startCall(server);
    const recorder = attachRecorder(call, store, { worker: 'alive' });
    await say(call, 'hello');
    await recorder.flush();
    // Another open while this process (its pid) still runs the call.
    const other = await openStore({ CALLS_DB: file });
    expect(other!.interrupted).toEqual([]);
    expect((await other!.store.getCall(call.callId))!.call.status).toBe('live');
    // …unless its process is gone (simulated).
    const gone = await openStore({ CALLS_DB: file }, { isAlive: () => false });
    expect(gone!.interrupted).toEqual([call.callId]);
    await Promise.all([other!.store.close(), gone!.store.close()]);
    await call.close('done');
    await recorder.done;
    await store.close();
  });
});
