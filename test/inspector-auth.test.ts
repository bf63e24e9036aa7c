/**
 * The inspector's token, endpoint by endpoint: every HTTP endpoint, both WebSockets and the page, each
 * without a token, with a wrong one and with the valid one (query, Bearer header, or the page's session
 * cookie). Without a valid token: 401, no data in the answer, and for the supervisor's command the call
 * does not move (its machine state, its handoffs and its events stay as they were).
 *
 * Real inspector server on 127.0.0.1, a real call (scripted LLM server) linked to it, real past calls
 * from a SQLite records store.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { Call } from '../src/call/call.js';
import { attachInspector } from '../src/inspector/client.js';
import { Auth, SESSION_COOKIE, isLoopbackHost } from '../src/inspector/auth.js';
import { type InspectorServer, startInspectorServer } from '../src/inspector/server.js';
import { attachRecorder, inspectorRecords } from '../src/records/index.js';
import { SqliteStore } from '../src/records/sqlite.js';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import { sleep, startCall, startServer } from './support/harness.js';

const TOKEN = 'inspector-Token_0123456789';
const PAST = 'past-call-for-auth';

let tmp: string;
let llm: ScriptedServer;
let store: SqliteStore;
let s: InspectorServer;
let base: string;
let live: Call;

async function waitUntil(pred: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * The server, a past call and a live call, set up by the first test that needs them (not in a
 * `beforeAll`: a failure here then fails that test, where a mutation-testing run sees it).
 */
let ready: Promise<void> | null = null;
const env = () => (ready ??= (async () => {
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-inspector-auth-'));
  llm = await startServer();
  store = new SqliteStore(join(tmp, 'calls.sqlite'));
  // A past call in the records.
  const past = await startCall(llm, { callId: PAST, caller: { name: 'Past Caller' } });
  const rec = attachRecorder(past, store, { worker: 'auth-test' });
  await past.close('done');
  await rec.done;
  s = await startInspectorServer({ token: TOKEN, records: inspectorRecords(store) });
  base = new URL(s.url).origin;
  // A live call linked to the inspector (with the token, as the worker links it).
  live = await startCall(llm, { caller: { name: 'Live Caller' } });
  attachInspector(live, { url: base, token: TOKEN });
  await waitUntil(async () => {
    const r = await fetch(`${base}/api/calls`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return ((await r.json()) as { callId: string }[]).some((c) => c.callId === live.callId);
  }, 5000, 'the live call on the inspector');
})());

afterAll(async () => {
  await ready?.catch(() => undefined);
  await live?.close('test over');
  await s?.close();
  await store?.close();
  await llm?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

type Creds = { name: string; query?: string; headers?: Record<string, string> };
const NONE: Creds[] = [{ name: 'no token' }];
const WRONG: Creds[] = [
  { name: 'wrong ?token=', query: 'token=wrong-token' },
  { name: 'wrong Bearer', headers: { authorization: 'Bearer wrong-token' } },
  { name: 'token as a Basic header', headers: { authorization: `Basic ${TOKEN}` } },
  { name: 'wrong session cookie', headers: { cookie: 'inspector_session=forged' } },
  { name: 'the token itself as the cookie', headers: { cookie: `inspector_session=${TOKEN}` } },
  { name: 'a prefix of the token', query: `token=${TOKEN.slice(0, -1)}` },
  { name: 'empty ?token=', query: 'token=' },
];
const VALID: Creds[] = [
  { name: 'valid ?token=', query: `token=${encodeURIComponent(TOKEN)}` },
  { name: 'valid Bearer', headers: { authorization: `Bearer ${TOKEN}` } },
];

const withQuery = (path: string, q?: string) => (q ? `${path}${path.includes('?') ? '&' : '?'}${q}` : path);

async function request(method: string, path: string, c: Creds, body?: unknown) {
  const res = await fetch(`${base}${withQuery(path, c.query)}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...c.headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

const GETS = ['/', '/app.js', '/api/calls', '/api/machine', '/api/records', `/api/records/${PAST}`, '/api/records?limit=5'];

describe('inspector auth: every endpoint, three ways', () => {
  it('GET endpoints and the page: 401 without a token or with a wrong one, with nothing of the calls in the answer', async () => {
    await env();
    for (const path of GETS) {
      for (const c of [...NONE, ...WRONG]) {
        const r = await request('GET', path, c);
        expect(r.status, `${path} with ${c.name}`).toBe(401);
        expect(r.headers.get('www-authenticate')).toBe('Bearer');
        expect(r.headers.get('set-cookie'), `${path} with ${c.name} sets no session`).toBeNull();
        for (const secret of [live.callId, PAST, 'Live Caller', 'Past Caller', 'triage', TOKEN]) {
          expect(r.text, `${path} with ${c.name} leaks ${secret}`).not.toContain(secret);
        }
      }
    }
  });

  it('GET endpoints and the page: 200 with the valid token, by query and by Bearer header', async () => {
    await env();
    for (const path of GETS) {
      for (const c of VALID) {
        const r = await request('GET', path, c);
        expect(r.status, `${path} with ${c.name}`).toBe(200);
        expect(r.text).not.toContain(TOKEN);
      }
    }
    const calls = JSON.parse((await request('GET', '/api/calls', VALID[1]!)).text) as { callId: string }[];
    expect(calls.map((c) => c.callId)).toContain(live.callId);
    const past = JSON.parse((await request('GET', `/api/records/${PAST}`, VALID[1]!)).text) as { callId: string };
    expect(past.callId).toBe(PAST);
    const list = JSON.parse((await request('GET', '/api/records', VALID[0]!)).text) as { callId: string }[];
    expect(list.map((c) => c.callId)).toContain(PAST);
    const machine = JSON.parse((await request('GET', '/api/machine', VALID[0]!)).text) as Record<string, unknown>;
    expect(Object.keys(machine).length).toBeGreaterThan(0);
  });

  it('the page opened with the token gives a session cookie that works like the token (and is not the token)', async () => {
    await env();
    const page = await request('GET', '/', VALID[0]!);
    expect(page.status).toBe(200);
    const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
    expect(cookie).toMatch(/^inspector_session=/);
    expect(cookie).not.toContain(TOKEN);
    expect(page.headers.get('set-cookie')).toMatch(/HttpOnly/);
    for (const path of GETS) expect((await request('GET', path, { name: 'cookie', headers: { cookie } })).status, path).toBe(200);
    // A cookie opens the page itself without handing out another one.
    expect((await request('GET', '/', { name: 'cookie', headers: { cookie } })).headers.get('set-cookie')).toBeNull();
  });

  it('POST /api/calls/:id/command: without a valid token 401 and the call does not move; with it, the call moves', async () => {
    await env();
    const before = { state: live.machineState, role: live.activeRole, events: live.events.length, handoffs: live.handoffs.length };
    expect(before.state).toBe('triage');
    const path = `/api/calls/${encodeURIComponent(live.callId)}/command`;
    for (const c of [...NONE, ...WRONG]) {
      for (const action of [{ type: 'TRANSFER', to: 'billing' }, { type: 'END_CALL' }]) {
        const r = await request('POST', path, c, { action });
        expect(r.status, `${action.type} with ${c.name}`).toBe(401);
        expect(r.text).not.toContain('accepted');
      }
    }
    // Give a command that got through time to show.
    await sleep(300);
    expect(live.machineState).toBe(before.state);
    expect(live.activeRole).toBe(before.role);
    expect(live.handoffs).toHaveLength(before.handoffs);
    expect(live.actor.getSnapshot().status).toBe('active');
    expect(live.events.slice(before.events).filter((e) => e.type === 'handoff' || e.type === 'end' || e.type === 'rejected')).toEqual([]);

    const moved = await request('POST', path, VALID[1]!, { action: { type: 'TRANSFER', to: 'billing' } });
    expect(moved.status).toBe(200);
    expect(JSON.parse(moved.text)).toMatchObject({ accepted: true, state: 'billing' });
    expect(live.machineState).toBe('billing');
    const back = await request('POST', path, VALID[0]!, { action: { type: 'TRANSFER', to: 'triage' } });
    expect(JSON.parse(back.text)).toMatchObject({ accepted: true, state: 'triage' });
  });

  it('the /feed and /ingest WebSockets: refused (401) without a token or with a wrong one, opened with the valid one', async () => {
    await env();
    const upgrade = (path: string, c: Creds) =>
      new Promise<{ status: number; first?: string }>((resolve) => {
        const ws = new WebSocket(`${base.replace(/^http/, 'ws')}${withQuery(path, c.query)}`, { headers: c.headers });
        ws.on('unexpected-response', (_req, res) => {
          resolve({ status: res.statusCode ?? 0 });
          ws.terminate();
        });
        ws.on('open', () => {
          if (path === '/ingest') {
            resolve({ status: 101 });
            ws.close();
          }
        });
        ws.on('message', (d) => {
          resolve({ status: 101, first: d.toString() });
          ws.close();
        });
        ws.on('error', () => undefined);
      });
    for (const path of ['/feed', '/ingest']) {
      for (const c of [...NONE, ...WRONG]) expect((await upgrade(path, c)).status, `${path} with ${c.name}`).toBe(401);
      for (const c of VALID) expect((await upgrade(path, c)).status, `${path} with ${c.name}`).toBe(101);
    }
    // The feed with the token starts with the calls; the page's cookie opens it too.
    const feed = await upgrade('/feed', VALID[0]!);
    expect(feed.first).toContain(live.callId);
    const cookie = (await request('GET', '/', VALID[0]!)).headers.get('set-cookie')!.split(';')[0]!;
    expect((await upgrade('/feed', { name: 'cookie', headers: { cookie } })).status).toBe(101);
  });

  it('a call process without the token cannot inject a call', async () => {
    await env();
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ingest?token=nope`);
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => {
        ws.send(JSON.stringify({ kind: 'hello', callId: 'intruder', startedAt: Date.now(), state: 'triage', handoffCount: 0, maxHandoffs: 6, humanAvailable: false, caller: {} }));
        resolve(101);
      });
      ws.on('error', () => undefined);
    });
    ws.terminate();
    expect(status).toBe(401);
    await sleep(200);
    const calls = JSON.parse((await request('GET', '/api/calls', VALID[1]!)).text) as { callId: string }[];
    expect(calls.map((c) => c.callId)).not.toContain('intruder');
  });
});

/** A raw GET with the Host and Origin headers a browser (or an attacker's page) would send. */
function rawGet(port: number, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', headers, setHost: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('inspector auth: a foreign page or a rebound name is kept away, token or not', () => {
  it('a tokenless (loopback) server answers only to loopback names and its own address', async () => {
    await env();
    const open = await startInspectorServer({});
    try {
      const p = open.port;
      for (const host of [`127.0.0.1:${p}`, `localhost:${p}`, `LOCALHOST:${p}`, `127.0.0.2:${p}`, `[::1]:${p}`]) {
        expect(await rawGet(p, '/api/machine', { host }), host).toBe(200);
      }
      // DNS rebinding: a foreign name resolving to 127.0.0.1.
      for (const host of [`evil.example:${p}`, `127.0.0.1.evil.example:${p}`, `localhost.evil.example:${p}`, `10.0.0.1:${p}`, `128.0.0.1:${p}`, `[::2]:${p}`]) {
        expect(await rawGet(p, '/api/machine', { host }), host).toBe(403);
      }
      expect([400, 403], 'no Host header').toContain(await rawGet(p, '/api/machine', {}));
      // A foreign page's request (its Origin) is refused; the page's own origin is fine.
      expect(await rawGet(p, '/api/calls', { host: `127.0.0.1:${p}`, origin: 'http://evil.example' })).toBe(403);
      expect(await rawGet(p, '/api/calls', { host: `127.0.0.1:${p}`, origin: 'null' })).toBe(403);
      expect(await rawGet(p, '/api/calls', { host: `127.0.0.1:${p}`, origin: `http://127.0.0.1:${p + 1}` })).toBe(403);
      expect(await rawGet(p, '/api/calls', { host: `127.0.0.1:${p}`, origin: `http://127.0.0.1:${p}` })).toBe(200);
    } finally {
      await open.close();
    }
  });

  it('with a token, any Host is fine (a real hostname behind a proxy), a foreign Origin still is not', async () => {
    await env();
    const p = s.port;
    expect(await rawGet(p, '/api/machine', { host: `inspector.example.com:${p}`, authorization: `Bearer ${TOKEN}` })).toBe(200);
    expect(await rawGet(p, '/api/machine', { host: `inspector.example.com:${p}` })).toBe(401);
    expect(
      await rawGet(p, '/api/machine', { host: `inspector.example.com:${p}`, origin: 'http://evil.example', authorization: `Bearer ${TOKEN}` }),
    ).toBe(403);
    expect(
      await rawGet(p, '/api/machine', { host: `inspector.example.com:${p}`, origin: `http://inspector.example.com:${p}`, authorization: `Bearer ${TOKEN}` }),
    ).toBe(200);
  });

  it('a tokenless server refuses to listen off loopback; its own non-loopback address would need a token', async () => {
    await env();
    await expect(startInspectorServer({ host: '0.0.0.0' })).rejects.toThrow(/INSPECTOR_TOKEN is required/);
    await expect(startInspectorServer({ host: '0.0.0.0', token: '' })).rejects.toThrow(/INSPECTOR_TOKEN is required/);
  });
});

describe('inspector auth: the rules behind the endpoints, request by request', () => {
  const req = (headers: Record<string, string>) => ({ headers }) as never;
  const url = (q = '') => new URL(`http://inspector.invalid/api/calls${q}`);

  it('the token is accepted from ?token=, a Bearer header (spaces trimmed) or the session cookie among others', () => {
    const auth = new Auth(TOKEN, '127.0.0.1');
    const cookie = auth.sessionCookie()!.split(';')[0]!;
    const value = cookie.slice(`${SESSION_COOKIE}=`.length);
    expect(auth.check(req({}), url(`?token=${encodeURIComponent(TOKEN)}`))).toBe('token');
    expect(auth.check(req({ authorization: `Bearer ${TOKEN}` }), url())).toBe('token');
    expect(auth.check(req({ authorization: `Bearer   ${TOKEN}  ` }), url())).toBe('token');
    expect(auth.check(req({ cookie: `theme=dark; other=x=y; ${SESSION_COOKIE}=${value}; z=1` }), url())).toBe('cookie');
    expect(auth.check(req({ cookie: `${SESSION_COOKIE}=${value}` }), url())).toBe('cookie');
    // Wrong: another scheme, the token in the cookie, a cookie of another name holding the session value.
    const wrong: Record<string, string>[] = [
      { authorization: TOKEN },
      { authorization: `bearer ${TOKEN}` },
      { authorization: `Token ${TOKEN}` },
      { authorization: `xBearer ${TOKEN}` },
      { cookie: `${SESSION_COOKIE}=${TOKEN}` },
      { cookie: `other=${value}` },
      { cookie: `other=${value}; ${SESSION_COOKIE}=nope` },
      { cookie: `x${SESSION_COOKIE}=${value}` },
      // The value split by an "=" is not the value.
      { cookie: `${SESSION_COOKIE}=${value.slice(0, 10)}=${value.slice(10)}` },
    ];
    for (const h of wrong) {
      expect(auth.check(req(h), url()), JSON.stringify(h)).toBeNull();
    }
    expect(auth.check(req({}), url('?token='))).toBeNull();
    expect(auth.check(req({}), url(`?token=${TOKEN}x`))).toBeNull();
    expect(auth.check(req({}), url(`?tok=${TOKEN}`))).toBeNull();
  });

  it('the session cookie is derived from the token (HMAC), differs per token, and is HttpOnly, SameSite=Strict', () => {
    const a = new Auth(TOKEN, '127.0.0.1').sessionCookie()!;
    const b = new Auth(`${TOKEN}2`, '127.0.0.1').sessionCookie()!;
    expect(a).toMatch(new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=/$`));
    expect(a).not.toBe(b);
    expect(a).not.toContain(TOKEN);
    // HMAC-SHA256(token, "switchboard-inspector-session"), base64url: the same value every start (pages stay signed in).
    const expected = createHmac('sha256', TOKEN).update('switchboard-inspector-session').digest('base64url');
    expect(a.split(';')[0]).toBe(`${SESSION_COOKIE}=${expected}`);
    expect(new Auth(undefined, '127.0.0.1').sessionCookie()).toBeNull();
    expect(new Auth(undefined, '127.0.0.1').check(req({}), url())).toBe('open');
  });

  it('loopback names', () => {
    for (const h of ['localhost', ' LocalHost ', '::1', '[::1]', '0:0:0:0:0:0:0:1', '[0:0:0:0:0:0:0:1]', '127.0.0.1', '127.255.255.254', '::ffff:127.0.0.1', '[::ffff:127.0.0.9]']) {
      expect(isLoopbackHost(h), h).toBe(true);
    }
    for (const h of ['', '[local]host', 'local[host]', '[127.0.0.1]x', 'localhost.evil', 'evil.localhost', '128.0.0.1', '10.0.0.1', '0.0.0.0', '::2', '[::1', '::1]', 'x[::1]', '::ffff:10.0.0.1', '127.0.0', '1127.0.0.1', 'ffff:127.0.0.1']) {
      expect(isLoopbackHost(h), h).toBe(false);
    }
  });

  it('same origin: Host required; a foreign Origin refused; a tokenless server only answers to loopback names or its own address', () => {
    const open = new Auth(undefined, '192.168.50.7');
    expect(open.sameOrigin(req({}))).toBe(false);
    expect(open.sameOrigin(req({ host: '127.0.0.1:8080' }))).toBe(true);
    expect(open.sameOrigin(req({ host: '192.168.50.7:8080' }))).toBe(true);
    expect(open.sameOrigin(req({ host: '192.168.50.8:8080' }))).toBe(false);
    expect(open.sameOrigin(req({ host: 'bad host' }))).toBe(false);
    expect(new Auth(undefined, 'Inspector.Local').sameOrigin(req({ host: 'INSPECTOR.local:1' }))).toBe(true);
    expect(new Auth(undefined, 'inspector.local').sameOrigin(req({ host: 'Inspector.LOCAL' }))).toBe(true);
    expect(open.sameOrigin(req({ host: '127.0.0.1:8080', origin: 'http://127.0.0.1:8080' }))).toBe(true);
    expect(open.sameOrigin(req({ host: '127.0.0.1:8080', origin: 'http://127.0.0.1:8081' }))).toBe(false);
    expect(open.sameOrigin(req({ host: '127.0.0.1:8080', origin: 'not a url' }))).toBe(false);
    const tokened = new Auth(TOKEN, '0.0.0.0');
    expect(tokened.sameOrigin(req({ host: 'inspector.example.com' }))).toBe(true);
    expect(tokened.sameOrigin(req({}))).toBe(false);
    expect(tokened.sameOrigin(req({ host: 'inspector.example.com', origin: 'https://evil.example' }))).toBe(false);
  });
});
