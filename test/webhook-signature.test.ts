/**
 * Webhook signatures, checked the way a receiver checks them: from the shared secret and the exact bytes
 * received, with an HMAC-SHA256 computed here (not with the code's own `signWebhook`).
 *
 * The scheme is the one `src/records/webhooks.ts` documents, the Standard Webhooks spec
 * (https://www.standardwebhooks.com):
 *   webhook-id:        <delivery id>  (also `id` in the body)
 *   webhook-timestamp: <unix seconds>
 *   webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>  (space-separated list)
 *   key = base64-decoded secret after "whsec_"
 * Everything scheme-specific is in the `Scheme` objects: `SCHEME` names the one in force. The earlier
 * `x-switchboard-*` scheme is kept written out (`X_SWITCHBOARD`) — switching back, or to another
 * scheme, is a matter of writing one such object.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRecords } from '../src/records/index.js';
import * as webhooks from '../src/records/webhooks.js';
import { seededRandom, startDeliverer, verifyWebhook } from '../src/records/webhooks.js';
import { SqliteStore } from '../src/records/sqlite.js';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import { callTools, say, sleep, startCall, startServer } from './support/harness.js';

interface Scheme {
  secret: string;
  /** Another valid secret of the same form (the wrong one). */
  otherSecret: string;
  /** The headers a delivery carries, by role. */
  headers: { id: string; timestamp: string; signature: string };
  /** Whether the delivery id is part of what is signed. */
  signsId: boolean;
  /** The exact bytes that are signed. */
  signedBytes(id: string, timestamp: string, body: Buffer): Buffer;
  /** The HMAC key from the secret. */
  key(secret: string): Buffer;
  /** The signature header's value for a MAC. */
  format(mac: Buffer): string;
  /** Whether a received signature header carries `expected` (a header may list several). */
  carries(header: string, expected: string): boolean;
}

/** Standard Webhooks (the scheme in force). */
const STANDARD_WEBHOOKS: Scheme = {
  secret: `whsec_${Buffer.from('independent-check-key-0123456789').toString('base64')}`,
  otherSecret: `whsec_${Buffer.from('independent-check-key-0123456780').toString('base64')}`,
  headers: { id: 'webhook-id', timestamp: 'webhook-timestamp', signature: 'webhook-signature' },
  signsId: true,
  signedBytes: (id, ts, body) => Buffer.concat([Buffer.from(`${id}.${ts}.`, 'utf8'), body]),
  key: (secret) => Buffer.from(secret.replace(/^whsec_/, ''), 'base64'),
  format: (mac) => `v1,${mac.toString('base64')}`,
  carries: (header, expected) => header.split(' ').includes(expected),
};

/** The earlier scheme: `x-switchboard-signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. */
export const X_SWITCHBOARD: Scheme = {
  secret: 'whsec-independent-check-42',
  otherSecret: 'whsec-independent-check-43',
  headers: { id: 'x-switchboard-delivery', timestamp: 'x-switchboard-timestamp', signature: 'x-switchboard-signature' },
  signsId: false,
  signedBytes: (_id, ts, body) => Buffer.concat([Buffer.from(`${ts}.`, 'utf8'), body]),
  key: (secret) => Buffer.from(secret, 'utf8'),
  format: (mac) => `sha256=${mac.toString('hex')}`,
  carries: (header, expected) => header === expected,
};

const SCHEME: Scheme = STANDARD_WEBHOOKS;

/** The signature a receiver expects, computed from first principles. */
const expectedSignature = (s: Scheme, id: string, ts: string, body: Buffer) =>
  s.format(createHmac('sha256', s.key(s.secret)).update(s.signedBytes(id, ts, body)).digest());

interface Delivery {
  headers: IncomingHttpHeaders;
  raw: Buffer;
}

let tmp: string;
let llm: ScriptedServer;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-signature-'));
  llm = await startServer();
});
afterAll(async () => {
  await llm?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function receiver() {
  const got: Delivery[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, raw: Buffer.concat(chunks) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    got,
    close: () => new Promise<void>((done) => (server.close(() => done()), server.closeAllConnections())),
  };
}

const header = (d: Delivery, name: string) => {
  const v = d.headers[name];
  expect(typeof v, `header ${name}`).toBe('string');
  return v as string;
};

describe('webhook signatures, recomputed by the receiver', () => {
  it('every delivery of a real call carries the HMAC of its timestamp and exact body under the secret', async () => {
    const rx = await receiver();
    const records = (await openRecords(
      { CALLS_DB: join(tmp, 'signed.sqlite'), CALL_WEBHOOK_URL: rx.url, CALL_WEBHOOK_SECRET: SCHEME.secret },
      { deliverer: { pollMs: 50, baseDelayMs: 50, maxDelayMs: 200, timeoutMs: 2000, random: seededRandom(3) } },
    ))!;
    try {
      // Non-ASCII caller details: the signature is over bytes, not over a re-encoded string.
      const call = await startCall(llm, { caller: { name: 'Zoë Ñuñez 😀', phoneNumber: '+15550100777' } });
      const recorder = records.attach(call, 'signature-test');
      await say(call, callTools({ name: 'pass_control_to_billing', arguments: { reason: 'facturé deux fois — €' } }));
      await say(call, callTools({ name: 'end_call', arguments: { reason: 'done' } }));
      await call.finished;
      await recorder.done;
      expect(await records.deliverer!.drain(10_000)).toBe(true);

      const mine = rx.got.filter((d) => JSON.parse(d.raw.toString('utf8')).callId === call.callId);
      expect(mine.map((d) => JSON.parse(d.raw.toString('utf8')).type)).toEqual(['call.started', 'call.transferred', 'call.ended']);
      expect(mine.some((d) => d.raw.toString('utf8').includes('Zoë'))).toBe(true);
      const now = Math.floor(Date.now() / 1000);
      for (const d of mine) {
        const id = header(d, SCHEME.headers.id);
        const ts = header(d, SCHEME.headers.timestamp);
        const sig = header(d, SCHEME.headers.signature);
        expect(d.headers['content-type']).toBe('application/json');
        expect(d.headers['user-agent']).toMatch(/^switchboard-webhooks\/\d+$/);
        expect(ts).toMatch(/^\d+$/);
        expect(Math.abs(now - Number(ts))).toBeLessThanOrEqual(60);
        expect(JSON.parse(d.raw.toString('utf8')).id).toBe(id);
        const expected = expectedSignature(SCHEME, id, ts, d.raw);
        expect(SCHEME.carries(sig, expected), `signature of ${id}`).toBe(true);
        // What the signature must not be: the body alone, another timestamp, another secret.
        expect(SCHEME.carries(sig, SCHEME.format(createHmac('sha256', SCHEME.key(SCHEME.secret)).update(d.raw).digest()))).toBe(false);
        expect(SCHEME.carries(sig, expectedSignature(SCHEME, id, String(Number(ts) + 1), d.raw))).toBe(false);
        const otherKey = Buffer.from(SCHEME.key(SCHEME.secret));
        otherKey[0] ^= 1;
        expect(SCHEME.carries(sig, SCHEME.format(createHmac('sha256', otherKey).update(SCHEME.signedBytes(id, ts, d.raw)).digest()))).toBe(false);
        if (SCHEME.signsId) expect(SCHEME.carries(sig, expectedSignature(SCHEME, `${id}x`, ts, d.raw))).toBe(false);
        // The code's own receiver-side check agrees with ours on the real delivery.
        expect(verifyWebhook(SCHEME.secret, d.headers, d.raw.toString('utf8'))).toBe(true);
      }
    } finally {
      await records.close();
      await rx.close();
    }
  }, 60_000);

  it('no secret: deliveries carry no signature header', async () => {
    const rx = await receiver();
    const records = (await openRecords(
      { CALLS_DB: join(tmp, 'unsigned.sqlite'), CALL_WEBHOOK_URL: rx.url },
      { deliverer: { pollMs: 50, baseDelayMs: 50, maxDelayMs: 200, timeoutMs: 2000, random: seededRandom(4) } },
    ))!;
    try {
      const call = await startCall(llm);
      const recorder = records.attach(call, 'signature-test');
      await sleep(50);
      await call.close('done');
      await recorder.done;
      expect(await records.deliverer!.drain(10_000)).toBe(true);
      expect(rx.got.length).toBeGreaterThan(0);
      for (const d of rx.got) expect(d.headers[SCHEME.headers.signature]).toBeUndefined();
    } finally {
      await records.close();
      await rx.close();
    }
  });
});

describe('verifyWebhook (the receiver helper the docs point to), fed independently signed requests', () => {
  const body = Buffer.from(JSON.stringify({ id: 'd-1', type: 'call.started', callId: 'c', data: { name: 'Zoë' } }), 'utf8');
  const now = 1_700_000_000_000;
  const ts = String(now / 1000);
  const signed = (over: Partial<Record<'ts' | 'sig', string>> = {}) => ({
    [SCHEME.headers.id]: 'd-1',
    [SCHEME.headers.timestamp]: over.ts ?? ts,
    [SCHEME.headers.signature]: over.sig ?? expectedSignature(SCHEME, 'd-1', over.ts ?? ts, body),
  });

  it('accepts a correct signature within the tolerance, either side of now', () => {
    expect(verifyWebhook(SCHEME.secret, signed(), body.toString('utf8'), { now })).toBe(true);
    for (const skew of [-300, 300]) {
      const t = String(now / 1000 + skew);
      expect(verifyWebhook(SCHEME.secret, signed({ ts: t }), body.toString('utf8'), { now }), `skew ${skew}`).toBe(true);
    }
  });

  it('refuses a wrong secret, a changed body, a changed timestamp, a stale or future one, and missing headers', () => {
    const text = body.toString('utf8');
    expect(verifyWebhook(SCHEME.otherSecret, signed(), text, { now })).toBe(false);
    expect(verifyWebhook(SCHEME.secret, signed(), text.replace('Zoë', 'Zoe'), { now })).toBe(false);
    expect(verifyWebhook(SCHEME.secret, { ...signed(), [SCHEME.headers.timestamp]: String(now / 1000 + 1) }, text, { now })).toBe(false);
    for (const skew of [-301, 301, -100_000]) {
      expect(verifyWebhook(SCHEME.secret, signed({ ts: String(now / 1000 + skew) }), text, { now }), `skew ${skew}`).toBe(false);
    }
    const { [SCHEME.headers.signature]: _s, ...noSig } = signed();
    const { [SCHEME.headers.timestamp]: _t, ...noTs } = signed();
    expect(verifyWebhook(SCHEME.secret, noSig, text, { now })).toBe(false);
    expect(verifyWebhook(SCHEME.secret, noTs, text, { now })).toBe(false);
    expect(verifyWebhook(SCHEME.secret, signed({ ts: `${ts}.5` }), text, { now })).toBe(false);
    expect(verifyWebhook(SCHEME.secret, { ...signed(), [SCHEME.headers.signature]: ['a', 'b'] }, text, { now })).toBe(false);
    // A signature of the right length but wrong content, and a truncated one.
    const good = expectedSignature(SCHEME, 'd-1', ts, body);
    expect(verifyWebhook(SCHEME.secret, signed({ sig: `${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}` }), text, { now })).toBe(false);
    expect(verifyWebhook(SCHEME.secret, signed({ sig: good.slice(0, -2) }), text, { now })).toBe(false);
    if (SCHEME.signsId) {
      // The id is signed: the same signature under another delivery id does not verify.
      expect(verifyWebhook(SCHEME.secret, { ...signed(), [SCHEME.headers.id]: 'd-2' }, text, { now })).toBe(false);
    }
  });

  if (SCHEME === STANDARD_WEBHOOKS) {
    it('a signature header listing several signatures verifies when one of them is right (key rotation)', () => {
      const text = body.toString('utf8');
      const good = expectedSignature(SCHEME, 'd-1', ts, body);
      const stale = STANDARD_WEBHOOKS.format(createHmac('sha256', Buffer.from('old-key')).update(SCHEME.signedBytes('d-1', ts, body)).digest());
      expect(verifyWebhook(SCHEME.secret, signed({ sig: `${stale} ${good}` }), text, { now })).toBe(true);
      expect(verifyWebhook(SCHEME.secret, signed({ sig: `${stale} v2,${good.slice(3)}` }), text, { now })).toBe(false);
    });
  }
});

describe.runIf(SCHEME === STANDARD_WEBHOOKS)('the secret (Standard Webhooks: whsec_ and base64)', () => {
  const raw = Buffer.from('independent-check-key-0123456789');
  const body = '{"id":"d-9","type":"call.ended"}';
  const ts = '1700000000';
  const now = 1_700_000_000_000;
  const mac = (key: Buffer) => `v1,${createHmac('sha256', key).update(`d-9.${ts}.${body}`).digest('base64')}`;
  const headers = (sig: string) => ({ 'webhook-id': 'd-9', 'webhook-timestamp': ts, 'webhook-signature': sig });

  it('the key is the base64-decoded part after whsec_; the prefix may be left out; padding is fine', () => {
    const b64 = raw.toString('base64');
    expect(verifyWebhook(`whsec_${b64}`, headers(mac(raw)), body, { now })).toBe(true);
    expect(verifyWebhook(b64, headers(mac(raw)), body, { now })).toBe(true);
    for (const n of [31, 32, 33]) {
      const k = Buffer.alloc(n, 7);
      const enc = k.toString('base64');
      expect(enc.endsWith('=') || n === 33).toBe(true);
      expect(verifyWebhook(`whsec_${enc}`, headers(mac(k)), body, { now }), `${n} bytes`).toBe(true);
    }
    // The key is not the secret's text.
    expect(verifyWebhook(`whsec_${b64}`, headers(mac(Buffer.from(`whsec_${b64}`))), body, { now })).toBe(false);
  });

  it('a secret that is not base64 is refused as such (no signing with a guessed key), also when the deliverer starts', async () => {
    const h = headers(mac(raw));
    for (const bad of ['whsec_', 'whsec_A', 'A', 'whsec_!!!!', 'whsec_abc$', 'whsec_$abc', 'whsec_ab=c', 'whsec_abc===', 'plain secret']) {
      expect(() => verifyWebhook(bad, h, body, { now }), bad).toThrow(/whsec_/);
    }
    if ('webhookKey' in webhooks) expect((webhooks as { webhookKey(s: string): Buffer }).webhookKey(`whsec_${raw.toString('base64')}`)).toEqual(raw);
    const store = new SqliteStore(join(tmp, 'bad-secret.sqlite'));
    try {
      expect(() => startDeliverer(store, { url: 'http://127.0.0.1:9/x', secret: 'not base64!' })).toThrow(/whsec_/);
    } finally {
      await store.close();
    }
  });
});
