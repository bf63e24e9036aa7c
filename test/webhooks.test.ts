/**
 * Call webhooks against a real HTTP receiver on 127.0.0.1, fed by real calls (real orchestrator, scripted
 * LLM server) recorded on a real SQLite file (and PostgreSQL when available): Standard Webhooks
 * signatures (checked by the `standardwebhooks` library, as any receiver would), payloads, a receiver
 * that is down or slow, a restart with rows pending, stable delivery ids.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadSettings } from '../src/config.js';
import { type RecordSettings, type Records, openRecords, openStore } from '../src/records/index.js';
import { attachRecorder } from '../src/records/recorder.js';
import { SqliteStore } from '../src/records/sqlite.js';
import { backoffMs, seededRandom, signWebhook, verifyWebhook } from '../src/records/webhooks.js';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import { callTools, say, sayAndCall, sleep, startCall, startServer } from './support/harness.js';
import { PG_SKIP_REASON, TEST_DATABASE_URL, dropSchema, uniqueSchema } from './support/pg.js';

/** A Standard Webhooks secret, as docs/records-and-webhooks.md says to make one. */
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
let tmp: string;
let llm: ScriptedServer;
const schema = uniqueSchema('webhooks_test');

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-webhooks-'));
  llm = await startServer();
});
afterAll(async () => {
  await llm?.close();
  rmSync(tmp, { recursive: true, force: true });
  await dropSchema(schema).catch(() => undefined);
});

// ---- a real receiver -----------------------------------------------------------------------------

type Mode = 'ok' | 'fail' | 'hang' | 'slow-first' | 'client-error';
interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  status: number | null;
}

async function startReceiver(port = 0) {
  const received: Received[] = [];
  const seen = new Set<string>();
  let mode: Mode = 'ok';
  let slowMs = 0;
  /** What a receiver that refuses says (a route not deployed yet, a key being rotated, too many requests). */
  const clientErrors = [400, 401, 403, 404, 409, 410, 422, 429];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      const r: Received = { headers: req.headers, body, status: null };
      received.push(r);
      const id = String(req.headers['webhook-id']);
      const answer = (status: number) => {
        r.status = status;
        if (!res.destroyed) res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'nope');
      };
      if (mode === 'ok') answer(200);
      else if (mode === 'fail') answer(500);
      else if (mode === 'client-error') answer(clientErrors[received.length % clientErrors.length]!);
      else if (mode === 'slow-first' && !seen.has(id)) {
        // Takes it, but answers after the sender gave up: the sender retries, the receiver sees it twice.
        seen.add(id);
        setTimeout(() => answer(200), slowMs);
      } else if (mode === 'slow-first') answer(200);
      // 'hang': never answers
    });
  });
  await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}/hooks`,
    port: actual,
    received,
    setMode(m: Mode, ms = 0) {
      mode = m;
      slowMs = ms;
    },
    /** Requests answered 2xx, by delivery id. */
    delivered: () => new Set(received.filter((r) => r.status === 200).map((r) => String(r.headers['webhook-id']))),
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

async function until(pred: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const fastRetries = { pollMs: 50, baseDelayMs: 50, maxDelayMs: 300, timeoutMs: 1000, random: seededRandom(42) };

function settings(file: string, url: string, extra: Partial<RecordSettings> = {}): RecordSettings {
  return { CALLS_DB: file, CALL_WEBHOOK_URL: url, CALL_WEBHOOK_SECRET: SECRET, ...extra };
}

const transferCall = (to: string, reason: string) => ({ name: `pass_control_to_${to}`, arguments: { reason } });
const transfer = (to: string, reason: string) => callTools(transferCall(to, reason));

/** A call with two transfers and end_call, Maya going on in Hinglish: 4 webhooks (started, transferred ×2, ended). */
async function callWithTransfers(records: Records) {
  const call = await startCall(llm, { caller: { phoneNumber: '+15550100999' } });
  const recorder = records.attach(call, 'webhooks-test');
  const started = Date.now();
  await say(call, 'Hi, my name is Maya');
  await sayAndCall(call, 'mere card se do baar paise kat gaye hain', transferCall('billing', 'charged twice on my card'));
  await sayAndCall(call, 'ek aur sawaal hai, front desk se baat karni hai', transferCall('triage', 'caller has another question'));
  await sayAndCall(call, 'bas itna hi, shukriya', { name: 'end_call', arguments: { reason: 'caller is done' } });
  const end = await call.finished;
  await recorder.done;
  return { call, end, ms: Date.now() - started };
}

function parse(r: Received) {
  return JSON.parse(r.body) as { id: string; type: string; createdAt: number; callId: string; data: Record<string, any> };
}

// ---- tests -----------------------------------------------------------------------------------------

describe('webhooks any receiver can verify (Standard Webhooks)', () => {
  it('a receiver using the standardwebhooks library verifies every delivery over HTTP, and refuses forgeries', async () => {
    const receiver = new Webhook(SECRET);
    const verified: { type: string; callId: string }[] = [];
    const refusals: string[] = [];
    const rx = await startReceiver();
    const records = (await openRecords(settings(join(tmp, 'standard.sqlite'), rx.url), { deliverer: fastRetries }))!;
    try {
      const { call } = await callWithTransfers(records);
      await until(() => rx.delivered().size === 4, 15_000, '4 webhooks');
      // The receiver's side, exactly as its README says: verify(raw body, headers) → the payload, or a throw.
      for (const r of rx.received) {
        try {
          verified.push(receiver.verify(r.body, r.headers as Record<string, string>) as { type: string; callId: string });
        } catch (err) {
          refusals.push((err as Error).message);
        }
      }
      expect(refusals).toEqual([]);
      expect(verified.filter((v) => v.callId === call.callId).map((v) => v.type)).toEqual([
        'call.started',
        'call.transferred',
        'call.transferred',
        'call.ended',
      ]);
      const r = rx.received[0]!;
      const headers = r.headers as Record<string, string>;
      expect(Object.keys(headers)).toEqual(expect.arrayContaining(['webhook-id', 'webhook-timestamp', 'webhook-signature']));
      // Forgeries: another secret, a changed body, another id, an old timestamp.
      const other = new Webhook(`whsec_${randomBytes(32).toString('base64')}`);
      expect(() => other.verify(r.body, headers)).toThrow(WebhookVerificationError);
      expect(() => receiver.verify(r.body.replace('call.', 'call!'), headers)).toThrow(WebhookVerificationError);
      expect(() => receiver.verify(r.body, { ...headers, 'webhook-id': 'another-id' })).toThrow(WebhookVerificationError);
      const old = String(Number(headers['webhook-timestamp']) - 600);
      const replayed = { ...headers, 'webhook-timestamp': old, 'webhook-signature': signWebhook(SECRET, headers['webhook-id']!, old, r.body) };
      expect(() => receiver.verify(r.body, replayed)).toThrow(/too old/);
      // The library's own signature is ours, byte for byte.
      const ts = new Date(Number(headers['webhook-timestamp']) * 1000);
      expect(receiver.sign(headers['webhook-id']!, ts, r.body)).toBe(headers['webhook-signature']);
    } finally {
      await records.close();
      await rx.close();
    }
  });

  it('CALL_WEBHOOK_SECRET must be a whsec_ secret: a plain one is refused, naming the setting and the form', () => {
    const problem = (secret: string) => {
      try {
        loadSettings({ OPENAI_API_KEY: 'k', CALL_WEBHOOK_SECRET: secret });
      } catch (err) {
        if (err instanceof ConfigError) return err.problems.join('\n');
        throw err;
      }
      return null;
    };
    expect(problem(SECRET)).toBeNull();
    expect(loadSettings({ OPENAI_API_KEY: 'k', CALL_WEBHOOK_SECRET: SECRET }).CALL_WEBHOOK_SECRET).toBe(SECRET);
    for (const bad of ['my-old-plain-secret', 'whsec_not base64!', `whsec_${randomBytes(8).toString('base64')}`]) {
      const p = problem(bad);
      expect(p, bad).toMatch(/^CALL_WEBHOOK_SECRET must be/);
      expect(p, bad).toMatch(/whsec_/);
      expect(p, bad).toMatch(/randomBytes\(32\)/); // how to make one
      expect(p, bad).not.toContain(bad); // the secret itself is never printed
    }
  });
});

describe('webhooks: delivered, signed, with the route and the summary', () => {
  it('call.started, call.transferred (each transfer) and call.ended arrive in order with valid signatures', async () => {
    const rx = await startReceiver();
    const records = (await openRecords(settings(join(tmp, 'ok.sqlite'), rx.url), { deliverer: fastRetries }))!;
    try {
      const { call } = await callWithTransfers(records);
      await until(() => rx.delivered().size === 4, 15_000, '4 webhooks');
      expect(await records.deliverer!.drain(5000)).toBe(true);
      const mine = rx.received.filter((r) => parse(r).callId === call.callId);
      expect(mine.map((r) => parse(r).type)).toEqual(['call.started', 'call.transferred', 'call.transferred', 'call.ended']);
      for (const r of mine) {
        expect(r.headers['content-type']).toBe('application/json');
        expect(verifyWebhook(SECRET, r.headers, r.body)).toBe(true);
        const ts = String(r.headers['webhook-timestamp']);
        expect(r.headers['webhook-signature']).toBe(signWebhook(SECRET, String(r.headers['webhook-id']), ts, r.body));
        expect(r.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+={0,2}$/);
        expect(verifyWebhook(`whsec_${randomBytes(32).toString('base64')}`, r.headers, r.body)).toBe(false);
        expect(verifyWebhook(SECRET, r.headers, `${r.body} `)).toBe(false); // a tampered body
        const b = parse(r);
        expect(r.headers['webhook-id']).toBe(b.id);
      }
      const [started, t1, t2, ended] = mine.map(parse);
      expect(started!.data).toMatchObject({ callId: call.callId, worker: 'webhooks-test', state: 'triage', caller: { phoneNumber: '+15550100999' } });
      expect(t1!.data).toMatchObject({ from: 'triage', to: 'billing', reason: 'charged twice on my card', handoffCount: 1 });
      expect(t2!.data).toMatchObject({ from: 'billing', to: 'triage', reason: 'caller has another question', handoffCount: 2 });
      for (const t of [t1!, t2!]) expect(t.data.latencyMs).toBeGreaterThanOrEqual(0);
      expect(ended!.data).toMatchObject({
        callId: call.callId,
        status: 'ended',
        outcome: 'caller is done',
        finalState: 'ended',
        department: 'triage',
        handoffCount: 2,
        caller: { phoneNumber: '+15550100999', name: 'Maya', language: 'hinglish' },
        counts: { refusals: 0, errors: 0, transfers: 2 },
      });
      expect(ended!.data.counts.turns).toBeGreaterThanOrEqual(6);
      expect(ended!.data.durationMs).toBeGreaterThan(0);
      expect(ended!.data.route.map((l: { state: string }) => l.state)).toEqual(['triage', 'billing', 'triage']);
      expect(ended!.data.route[1]).toMatchObject({ from: 'triage', reason: 'charged twice on my card', source: 'agent' });
      // The outbox says delivered, once each.
      const rows = await records.store.webhooks();
      expect(rows.every((w) => w.deliveredAt !== null && w.attempts === 1 && w.lastStatus === 200)).toBe(true);
    } finally {
      await records.close();
      await rx.close();
    }
  });
});

describe('webhooks: a receiver that is down or slow', () => {
  it('never slows the call; once the receiver is back every webhook is delivered', async () => {
    const rx = await startReceiver();
    rx.setMode('fail');
    const records = (await openRecords(settings(join(tmp, 'down.sqlite'), rx.url), { deliverer: fastRetries }))!;
    try {
      // Failing (500) for the first call, not answering at all for the second.
      const a = await callWithTransfers(records);
      await until(() => rx.received.length >= 3, 10_000, 'retries against the failing receiver');
      rx.setMode('hang');
      const b = await callWithTransfers(records);
      expect(a.end.state).toBe('ended');
      expect(b.end.state).toBe('ended');
      expect(rx.delivered().size).toBe(0);
      expect(await records.store.pendingWebhooks()).toBe(8);
      const failed = (await records.store.webhooks()).filter((w) => w.attempts > 0);
      expect(failed.length).toBeGreaterThan(0);
      expect(failed.every((w) => w.lastError !== null)).toBe(true);

      rx.setMode('ok');
      await until(async () => (await records.store.pendingWebhooks()) === 0, 20_000, 'the outbox to empty');
      const delivered = rx.delivered();
      console.info(`webhooks: ${delivered.size} delivered after the receiver came back (${rx.received.length} requests in all)`);
      expect(delivered.size).toBe(8);
      const types = [...delivered].map((id) => parse(rx.received.find((r) => r.headers['webhook-id'] === id)!).type);
      expect(types.filter((t) => t === 'call.started')).toHaveLength(2);
      expect(types.filter((t) => t === 'call.transferred')).toHaveLength(4);
      expect(types.filter((t) => t === 'call.ended')).toHaveLength(2);
      // Retries of one webhook carry the same delivery id and the same body.
      const byId = new Map<string, Set<string>>();
      for (const r of rx.received) {
        const id = String(r.headers['webhook-id']);
        byId.set(id, (byId.get(id) ?? new Set()).add(r.body));
      }
      expect([...byId.values()].every((bodies) => bodies.size === 1)).toBe(true);
      expect(rx.received.length).toBeGreaterThan(8);
      // Per call, in order: started, transferred, transferred, ended.
      for (const callId of [a.call.callId, b.call.callId]) {
        const order = [...delivered].map((id) => parse(rx.received.find((r) => r.headers['webhook-id'] === id)!)).filter((x) => x.callId === callId);
        expect(order.map((x) => x.type)).toEqual(['call.started', 'call.transferred', 'call.transferred', 'call.ended']);
      }
    } finally {
      await records.close();
      await rx.close();
    }
  }, 60_000);

  it('a receiver answering 4xx (404, 401, 429, …) has not taken the webhook: it stays in the outbox and is retried until a 2xx', async () => {
    const rx = await startReceiver();
    rx.setMode('client-error');
    const records = (await openRecords(settings(join(tmp, 'client-error.sqlite'), rx.url), { deliverer: fastRetries }))!;
    try {
      await callWithTransfers(records);
      await until(() => rx.received.length >= 8, 10_000, 'retries against the refusing receiver');
      expect(rx.received.every((r) => r.status !== null && r.status >= 400 && r.status < 500)).toBe(true);
      expect(await records.store.pendingWebhooks()).toBe(4);
      const rows = await records.store.webhooks();
      expect(rows.every((w) => w.deliveredAt === null)).toBe(true);
      const tried = rows.filter((w) => w.attempts > 0);
      expect(tried.length).toBeGreaterThan(0);
      for (const w of tried) expect(w.lastError).toMatch(/HTTP 4\d\d/);
      rx.setMode('ok');
      await until(async () => (await records.store.pendingWebhooks()) === 0, 20_000, 'the outbox to empty');
      expect(rx.delivered().size).toBe(4);
    } finally {
      await records.close();
      await rx.close();
    }
  }, 60_000);

  it('a restart: rows left pending (connection refused) are delivered by the next store and deliverer on the same file', async () => {
    const file = join(tmp, 'restart.sqlite');
    const probe = await startReceiver();
    const port = probe.port;
    await probe.close(); // nobody listens there now: connection refused
    const first = (await openRecords(settings(file, `http://127.0.0.1:${port}/hooks`), { deliverer: fastRetries }))!;
    const { call } = await callWithTransfers(first);
    await until(async () => (await first.store.webhooks()).some((w) => w.attempts > 0), 10_000, 'a failed attempt');
    expect(await first.deliverer!.drain(200)).toBe(false);
    await first.close(); // the process goes away with its webhooks undelivered
    const check = new SqliteStore(file);
    const pending = (await check.webhooks()).filter((w) => w.deliveredAt === null);
    await check.close();
    expect(pending.map((w) => w.type)).toEqual(['call.started', 'call.transferred', 'call.transferred', 'call.ended']);
    expect(pending.some((w) => /ECONNREFUSED|fetch failed/.test(w.lastError ?? ''))).toBe(true);

    const rx = await startReceiver(port);
    const second = (await openRecords(settings(file, rx.url), { deliverer: { ...fastRetries, maxDelayMs: 200 } }))!;
    try {
      await until(async () => (await second.store.pendingWebhooks()) === 0, 15_000, 'the next process to deliver');
      const delivered = rx.delivered();
      console.info(`webhooks after a restart: ${delivered.size} delivered by the new deliverer`);
      expect(delivered.size).toBe(4);
      expect(new Set(pending.map((w) => w.id))).toEqual(delivered); // the same delivery ids as written
      expect(rx.received.every((r) => parse(r).callId === call.callId && verifyWebhook(SECRET, r.headers, r.body))).toBe(true);
    } finally {
      await second.close();
      await rx.close();
    }
  }, 60_000);

  it('a receiver too slow to answer gets the webhook again under the same delivery id (dedupe on it)', async () => {
    const rx = await startReceiver();
    rx.setMode('slow-first', 700);
    const records = (await openRecords(settings(join(tmp, 'dupes.sqlite'), rx.url), {
      deliverer: { ...fastRetries, timeoutMs: 300 },
    }))!;
    try {
      await callWithTransfers(records);
      await until(async () => (await records.store.pendingWebhooks()) === 0, 20_000, 'delivery');
      const ids = rx.received.map((r) => String(r.headers['webhook-id']));
      const unique = new Set(ids);
      expect(unique.size).toBe(4);
      expect(ids.length).toBeGreaterThanOrEqual(8); // each one at least twice
      for (const id of unique) {
        const copies = rx.received.filter((r) => r.headers['webhook-id'] === id);
        expect(new Set(copies.map((c) => c.body)).size).toBe(1);
        expect(parse(copies[0]!).id).toBe(id);
      }
    } finally {
      await records.close();
      await rx.close();
    }
  }, 60_000);
});

describe('webhooks: details', () => {
  it('backoff doubles from the base to the cap, with jitter in [½, 1] of the step', () => {
    const r = seededRandom(7);
    const steps = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => backoffMs(n, 500, 60_000, r));
    const caps = [500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000];
    steps.forEach((s, i) => {
      expect(s).toBeGreaterThanOrEqual(caps[i]! / 2);
      expect(s).toBeLessThanOrEqual(caps[i]!);
    });
    expect([1, 2, 3].map((n) => backoffMs(n, 500, 60_000, seededRandom(7)))).toEqual([1, 2, 3].map((n) => backoffMs(n, 500, 60_000, seededRandom(7))));
  });

  it('a call found interrupted gets its call.ended (status interrupted) from the next open', async () => {
    const file = join(tmp, 'interrupted.sqlite');
    const store = new SqliteStore(file);
    const call = await startCall(llm);
    const recorder = attachRecorder(call, store, { worker: 'w', webhooks: true });
    await say(call, transfer('support', 'router is broken'));
    await recorder.flush();
    recorder.detach(); // as if the process died here
    await store.close();
    const opened = await openStore({ CALLS_DB: file }, { webhooks: true, isAlive: () => false });
    try {
      expect(opened!.interrupted).toEqual([call.callId]);
      const hooks = await opened!.store.webhooks();
      expect(hooks.map((h) => h.type)).toEqual(['call.started', 'call.transferred', 'call.ended']);
      const ended = JSON.parse(hooks[2]!.body);
      expect(ended.data).toMatchObject({ status: 'interrupted', outcome: 'interrupted', department: 'support', handoffCount: 1 });
    } finally {
      await opened!.store.close();
      await call.close('done');
    }
  });

  it('webhooks need the records store: CALLS_DB=off with a webhook URL says so', async () => {
    const problems: string[] = [];
    const r = await openRecords({ CALLS_DB: 'off', CALL_WEBHOOK_URL: 'http://127.0.0.1:9/x' }, { onError: (m) => problems.push(m) });
    expect(r).toBeNull();
    expect(problems[0]).toMatch(/CALL_WEBHOOK_URL is set but call records are off/);
  });
});

describe.skipIf(!TEST_DATABASE_URL)(`webhooks from a PostgreSQL outbox${PG_SKIP_REASON ? ` (skipped: ${PG_SKIP_REASON})` : ''}`, () => {
  it('delivers every webhook of a call, after the receiver was down', async () => {
    const rx = await startReceiver();
    rx.setMode('fail');
    const records = (await openRecords(
      settings('off', rx.url, { DATABASE_URL: TEST_DATABASE_URL }),
      { deliverer: fastRetries, postgres: { schema } },
    ))!;
    try {
      expect(records.store.kind).toBe('postgres');
      const { call } = await callWithTransfers(records);
      await until(() => rx.received.length >= 2, 10_000, 'attempts');
      rx.setMode('ok');
      await until(async () => (await records.store.pendingWebhooks()) === 0, 20_000, 'delivery');
      const delivered = [...rx.delivered()].map((id) => parse(rx.received.find((r) => r.headers['webhook-id'] === id)!));
      expect(delivered.filter((d) => d.callId === call.callId).map((d) => d.type)).toEqual([
        'call.started',
        'call.transferred',
        'call.transferred',
        'call.ended',
      ]);
    } finally {
      await records.close();
      await rx.close();
    }
  }, 60_000);
});
