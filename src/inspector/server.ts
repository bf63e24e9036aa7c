/**
 * The inspector server: calls report to it over `/ingest`, pages watch over `/feed` and the HTTP API.
 *
 * - Loopback only unless a token is set; with a token every endpoint needs it (`?token=`,
 *   `Authorization: Bearer`, or the HttpOnly session cookie the page gets when it is opened with
 *   `?token=`, so its own assets and sockets load without the token in every URL).
 * - Nothing a call or a page sends can crash it or grow its memory without bound: every ingest message
 *   is validated and size-capped, transcripts and lists are capped, ended calls are evicted, and a
 *   viewer that stops reading is cut off once its send buffer passes `maxViewerBufferBytes`.
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { createRequire } from 'node:module';
import { type AddressInfo, type Socket, isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { z } from 'zod';
import { machineGraph } from '../../machines/derive.js';
import type { Settings } from '../config.js';
import {
  type CallView,
  type CommandMessage,
  type FeedMessage,
  type IngestMessage,
  MAX_MESSAGE_BYTES,
  commandBody,
  ingestMessage,
} from './protocol.js';

export interface InspectorServerOptions {
  /** Default 127.0.0.1. Anything but a loopback address needs a token. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  token?: string;
  /** Mask phone numbers (all but the last 2 digits) in everything sent to pages. */
  hidePhoneNumbers?: boolean;
  /** Default <repo>/visualizer. */
  staticDir?: string;
  /** Ended calls kept for the page (oldest dropped first). Default 50. */
  maxEndedCalls?: number;
  /** A page whose unsent data passes this is disconnected. Default 1 MiB. */
  maxViewerBufferBytes?: number;
  /**
   * Past calls from the call records store (`src/records`): served at `GET /api/records` (recent calls,
   * `?limit=`, summaries without transcript) and `GET /api/records/:id` (one call, built from its events).
   */
  records?: {
    list(limit: number): Promise<CallView[]>;
    get(callId: string): Promise<CallView | null>;
  };
}

export interface InspectorServer {
  /** http://host:port/ (with ?token=… when a token is set). */
  url: string;
  port: number;
  close(): Promise<void>;
  stats(): { calls: number; viewers: number; dropped: number; rejectedMessages: number };
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TRANSCRIPT_CAP = 500;
const ERRORS_CAP = 100;
const REFUSALS_CAP = 200;
const TIMELINE_CAP = 200;
/** Longest text kept per transcript line, reason or error (characters). */
const TEXT_CAP = 4000;
/** A hard ceiling on calls held at once (live ones included), against a runaway ingest. */
const MAX_CALLS = 10_000;
const COALESCE_MS = 50;
const COMMAND_TIMEOUT_MS = 5000;
const MAX_COMMAND_BODY = 4 * 1024;
const HEARTBEAT_MS = 30_000;
const COOKIE = 'inspector_session';

export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** Keeps the last 2 digits: `+15550100010` → `••••••••••10`. */
export function maskNumber(n: string): string {
  if (n.length <= 2) return '•'.repeat(n.length);
  return '•'.repeat(n.length - 2) + n.slice(-2);
}

const cap = (s: string, n = TEXT_CAP) => (s.length > n ? `${s.slice(0, n)}…` : s);

// ---- what the server reads off each event type (the wire schema only checks type and time) --------

const str = z.string();
const eventFields = {
  started: z.object({ caller: z.record(z.unknown()).optional(), state: str.optional() }).passthrough(),
  user: z.object({ text: str }).passthrough(),
  agent: z.object({ agent: str, text: str, interrupted: z.boolean().optional() }).passthrough(),
  handoff: z
    .object({
      from: str,
      to: str,
      handoffCount: z.number().int().nonnegative(),
      reason: str,
      source: str.optional(),
      escalated: z.boolean().optional(),
      latencyMs: z.number().nullable().optional(),
    })
    .passthrough(),
  rejected: z.object({ from: str, to: str, reason: str, source: str.optional() }).passthrough(),
  caller: z.object({ caller: z.record(z.unknown()) }).passthrough(),
  error: z.object({ message: str }).passthrough(),
  end: z
    .object({ state: str, handoffCount: z.number().int().nonnegative().optional(), reason: str.nullable().optional() })
    .passthrough(),
  keypad: z.object({}).passthrough(),
} as const;

/** Caller info as the view keeps it: strings only, each capped. */
function cleanCaller(c: Record<string, unknown>): CallView['caller'] {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(c).slice(0, 30)) if (typeof v === 'string') out[cap(k, 100)] = cap(v, 500);
  return out;
}

interface Entry {
  view: CallView;
  /** The ingest link that last announced this call (commands go there). */
  link: WebSocket | null;
  lastSentAt: number;
  timer: NodeJS.Timeout | null;
}

interface PendingCommand {
  callId: string;
  link: WebSocket;
  timer: NodeJS.Timeout;
  resolve: (r: { accepted: boolean; reason?: string; state?: string } | null) => void;
}

export async function startInspectorServer(opts: InspectorServerOptions = {}): Promise<InspectorServer> {
  const host = opts.host ?? '127.0.0.1';
  const token = opts.token && opts.token.length > 0 ? opts.token : undefined;
  if (!isLoopbackHost(host) && !token) {
    throw new Error(`INSPECTOR_TOKEN is required to listen on ${host} (a non-loopback address).`);
  }
  const staticDir = resolve(opts.staticDir ?? join(REPO_ROOT, 'visualizer'));
  const maxEnded = Math.max(0, opts.maxEndedCalls ?? 50);
  const maxViewerBuffer = opts.maxViewerBufferBytes ?? 1024 * 1024;
  const hidePhoneNumbers = opts.hidePhoneNumbers ?? false;
  const elkPath = createRequire(import.meta.url).resolve('elkjs/lib/elk.bundled.js');

  const tokenDigest = token ? createHash('sha256').update(token).digest() : null;
  /** The cookie value: derived from the token, so the token itself never travels back. */
  const sessionValue = token ? createHmac('sha256', token).update('switchboard-inspector-session').digest('base64url') : null;
  const sessionDigest = sessionValue ? createHash('sha256').update(sessionValue).digest() : null;

  const calls = new Map<string, Entry>();
  const viewers = new Set<WebSocket>();
  const links = new Set<WebSocket>();
  const pending = new Map<string, PendingCommand>();
  let dropped = 0;
  let rejectedMessages = 0;
  let closed = false;

  // ---- auth --------------------------------------------------------------------------------------

  const same = (given: string | undefined, digest: Buffer | null) =>
    !!digest && given !== undefined && timingSafeEqual(createHash('sha256').update(given).digest(), digest);

  function cookieOf(req: IncomingMessage): string | undefined {
    const header = req.headers.cookie;
    if (!header) return undefined;
    for (const part of header.split(';')) {
      const [k, ...v] = part.trim().split('=');
      if (k === COOKIE) return v.join('=');
    }
    return undefined;
  }

  /** How the request proved the token: via the query/header (`token`), the cookie, or not at all. */
  function authOf(req: IncomingMessage, url: URL): 'open' | 'token' | 'cookie' | null {
    if (!token) return 'open';
    if (same(url.searchParams.get('token') ?? undefined, tokenDigest)) return 'token';
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && same(auth.slice(7).trim(), tokenDigest)) return 'token';
    if (same(cookieOf(req), sessionDigest)) return 'cookie';
    return null;
  }

  /**
   * Browser-borne attacks on a loopback server: a foreign page's request carries a foreign Origin
   * (cross-site WebSocket hijacking, form posts), and a DNS-rebound name carries a foreign Host.
   */
  function sameOriginOk(req: IncomingMessage): boolean {
    const hostHeader = req.headers.host;
    if (!hostHeader) return false;
    const origin = req.headers.origin;
    if (origin !== undefined) {
      try {
        if (new URL(origin).host !== hostHeader) return false; // also refuses the opaque origin "null"
      } catch {
        return false;
      }
    }
    if (!token) {
      let hostname: string;
      try {
        hostname = new URL(`http://${hostHeader}`).hostname;
      } catch {
        return false;
      }
      if (!isLoopbackHost(hostname) && hostname.toLowerCase() !== host.toLowerCase()) return false;
    }
    return true;
  }

  // ---- views ---------------------------------------------------------------------------------------

  function forViewers(v: CallView): CallView {
    if (!hidePhoneNumbers) return v;
    const secrets = [v.caller.phoneNumber, v.caller.dialedNumber].filter((s): s is string => typeof s === 'string' && s.length >= 4);
    const scrub = (s: string) => secrets.reduce((acc, n) => acc.split(n).join(maskNumber(n)), s);
    const caller = { ...v.caller };
    if (typeof caller.phoneNumber === 'string') caller.phoneNumber = maskNumber(caller.phoneNumber);
    if (typeof caller.dialedNumber === 'string') caller.dialedNumber = maskNumber(caller.dialedNumber);
    if (secrets.length === 0) return { ...v, caller };
    return {
      ...v,
      caller,
      timeline: v.timeline.map((t) => (t.reason ? { ...t, reason: scrub(t.reason) } : t)),
      refusals: v.refusals.map((r) => ({ ...r, reason: scrub(r.reason) })),
      transcript: v.transcript.map((l) => ({ ...l, text: scrub(l.text) })),
      errors: v.errors.map((e) => ({ ...e, message: scrub(e.message) })),
      endReason: v.endReason ? scrub(v.endReason) : v.endReason,
    };
  }

  const allViews = () =>
    [...calls.values()].map((e) => forViewers(e.view)).sort((a, b) => a.startedAt - b.startedAt);

  function sendToViewer(ws: WebSocket, data: string): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > maxViewerBuffer) {
      // It is not reading: cut it off rather than hold its backlog.
      viewers.delete(ws);
      dropped++;
      ws.terminate();
      return;
    }
    ws.send(data, () => undefined);
  }

  function broadcast(msg: FeedMessage): void {
    if (viewers.size === 0) return;
    const data = JSON.stringify(msg);
    for (const ws of [...viewers]) sendToViewer(ws, data);
  }

  function flush(id: string): void {
    const entry = calls.get(id);
    if (!entry) return;
    entry.timer = null;
    entry.lastSentAt = Date.now();
    broadcast({ kind: 'call', call: forViewers(entry.view) });
  }

  /** After each change: the first goes out at once, then at most one send per call per 50 ms. */
  function changed(entry: Entry): void {
    if (entry.timer || closed) return;
    const since = Date.now() - entry.lastSentAt;
    if (since >= COALESCE_MS) flush(entry.view.callId);
    else {
      const id = entry.view.callId;
      entry.timer = setTimeout(() => flush(id), COALESCE_MS - since);
      entry.timer.unref();
    }
  }

  function evictEnded(): void {
    const ended = [...calls.values()].filter((e) => !e.view.live);
    if (ended.length <= maxEnded) return;
    ended.sort((a, b) => (a.view.endedAt ?? 0) - (b.view.endedAt ?? 0));
    for (const e of ended.slice(0, ended.length - maxEnded)) {
      if (e.timer) clearTimeout(e.timer);
      calls.delete(e.view.callId);
    }
  }

  function markEnded(entry: Entry, at: number, reason: string | null, state?: string): void {
    const v = entry.view;
    v.live = false;
    v.endedAt = at;
    v.endReason = reason;
    if (state) v.state = state;
    const open = v.timeline.at(-1);
    if (open && open.leftAt === undefined) open.leftAt = at;
    for (const [id, p] of pending) {
      if (p.callId === v.callId) {
        pending.delete(id);
        clearTimeout(p.timer);
        p.resolve({ accepted: false, reason: 'The call has ended.' });
      }
    }
  }

  function pushCapped<T>(list: T[], item: T, max: number): void {
    list.push(item);
    if (list.length > max) list.splice(0, list.length - max);
  }

  /** Applies one validated ingest message. Returns false when it was not acceptable. */
  function apply(msg: IngestMessage, link: WebSocket): boolean {
    if (msg.kind === 'command-result') {
      const p = pending.get(msg.commandId);
      if (!p || p.link !== link) return false;
      pending.delete(msg.commandId);
      clearTimeout(p.timer);
      p.resolve({ accepted: msg.accepted, reason: msg.reason && cap(msg.reason), state: msg.state && cap(msg.state, 50) });
      broadcast({
        kind: 'command-result',
        callId: p.callId,
        commandId: msg.commandId,
        accepted: msg.accepted,
        ...(msg.reason ? { reason: cap(msg.reason) } : {}),
      });
      return true;
    }
    if (msg.kind === 'hello') {
      let entry = calls.get(msg.callId);
      if (!entry) {
        if (calls.size >= MAX_CALLS) {
          evictEnded();
          if (calls.size >= MAX_CALLS) return false;
        }
        entry = {
          view: {
            callId: msg.callId,
            live: true,
            startedAt: msg.startedAt,
            state: cap(msg.state, 50),
            handoffCount: msg.handoffCount,
            maxHandoffs: msg.maxHandoffs,
            humanAvailable: msg.humanAvailable,
            caller: {},
            timeline: [{ state: cap(msg.state, 50), enteredAt: msg.startedAt }],
            refusals: [],
            transcript: [],
            errors: [],
          },
          link,
          lastSentAt: 0,
          timer: null,
        };
        calls.set(msg.callId, entry);
      }
      const v = entry.view;
      entry.link = link;
      if (msg.worker !== undefined) v.worker = msg.worker;
      v.live = msg.state !== 'ended';
      if (v.live) {
        delete v.endedAt;
        delete v.endReason;
      } else if (v.endedAt === undefined) v.endedAt = Date.now();
      v.state = cap(msg.state, 50);
      v.handoffCount = msg.handoffCount;
      v.maxHandoffs = msg.maxHandoffs;
      v.humanAvailable = msg.humanAvailable;
      v.caller = cleanCaller(msg.caller);
      changed(entry);
      return true;
    }
    const entry = calls.get(msg.callId);
    // Everything but hello is about a call the server has been told of.
    if (!entry) return false;
    const v = entry.view;
    if (msg.kind === 'snapshot') {
      v.state = cap(msg.state, 50);
      v.handoffCount = msg.handoffCount;
      changed(entry);
      return true;
    }
    // kind === 'event'
    const e = msg.event;
    const schema = eventFields[e.type];
    const parsed = schema.safeParse(e);
    if (!parsed.success) return false;
    const at = e.at;
    switch (e.type) {
      case 'started': {
        const s = parsed.data as z.infer<typeof eventFields.started>;
        if (s.caller) v.caller = cleanCaller(s.caller);
        // The call's first department. A link that connected late (its history queued) said hello
        // with the current state; the replayed start puts the timeline's beginning right.
        if (s.state && v.timeline.length <= 1) {
          v.startedAt = at;
          v.timeline = [{ state: cap(s.state, 50), enteredAt: at }];
        }
        break;
      }
      case 'user': {
        const s = parsed.data as z.infer<typeof eventFields.user>;
        pushCapped(v.transcript, { at, who: 'caller', text: cap(s.text) }, TRANSCRIPT_CAP);
        break;
      }
      case 'agent': {
        const s = parsed.data as z.infer<typeof eventFields.agent>;
        pushCapped(
          v.transcript,
          { at, who: cap(s.agent, 50), text: cap(s.text), ...(s.interrupted ? { interrupted: true } : {}) },
          TRANSCRIPT_CAP,
        );
        break;
      }
      case 'handoff': {
        const s = parsed.data as z.infer<typeof eventFields.handoff>;
        const open = v.timeline.at(-1);
        if (open && open.leftAt === undefined) open.leftAt = at;
        pushCapped(
          v.timeline,
          {
            state: cap(s.to, 50),
            enteredAt: at,
            reason: cap(s.reason),
            ...(s.source !== undefined ? { source: cap(s.source, 50) } : {}),
            latencyMs: s.latencyMs ?? null,
            escalated: s.escalated ?? false,
          },
          TIMELINE_CAP,
        );
        v.handoffCount = s.handoffCount;
        break;
      }
      case 'rejected': {
        const s = parsed.data as z.infer<typeof eventFields.rejected>;
        pushCapped(
          v.refusals,
          { at, from: cap(s.from, 50), to: cap(s.to, 50), reason: cap(s.reason), ...(s.source ? { source: cap(s.source, 50) } : {}) },
          REFUSALS_CAP,
        );
        break;
      }
      case 'caller': {
        const s = parsed.data as z.infer<typeof eventFields.caller>;
        v.caller = cleanCaller(s.caller);
        break;
      }
      case 'error': {
        const s = parsed.data as z.infer<typeof eventFields.error>;
        pushCapped(v.errors, { at, message: cap(s.message) }, ERRORS_CAP);
        break;
      }
      case 'end': {
        const s = parsed.data as z.infer<typeof eventFields.end>;
        if (s.handoffCount !== undefined) v.handoffCount = s.handoffCount;
        markEnded(entry, at, s.reason == null ? null : cap(s.reason), cap(s.state, 50));
        changed(entry);
        evictEnded();
        return true;
      }
      case 'keypad':
        return true; // the transfer it caused (if any) arrives as handoff/rejected
    }
    changed(entry);
    return true;
  }

  // ---- HTTP --------------------------------------------------------------------------------------

  const baseHeaders = {
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
  };

  function csp(req: IncomingMessage): string {
    const h = req.headers.host ?? '';
    const wsSelf = /^[\w.\-:[\]]+$/.test(h) ? ` ws://${h} wss://${h}` : '';
    return [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      `connect-src 'self'${wsSelf}`,
      "img-src 'self' data:",
      "font-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; ');
  }

  function json(res: ServerResponse, status: number, body: unknown): void {
    const data = JSON.stringify(body);
    res.writeHead(status, { ...baseHeaders, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(data) });
    res.end(data);
  }

  const TYPES: Record<string, string> = {
    js: 'text/javascript; charset=utf-8',
    css: 'text/css; charset=utf-8',
    html: 'text/html; charset=utf-8',
    png: 'image/png',
    svg: 'image/svg+xml',
  };

  async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, extraHeaders: Record<string, string> = {}) {
    let body: Buffer;
    try {
      const s = await stat(file);
      if (!s.isFile()) throw new Error('not a file');
      body = await readFile(file);
    } catch {
      return json(res, 404, { error: 'not found' });
    }
    const ext = file.slice(file.lastIndexOf('.') + 1);
    res.writeHead(200, {
      ...baseHeaders,
      ...extraHeaders,
      'content-type': TYPES[ext] ?? 'application/octet-stream',
      'content-length': body.length,
      'content-security-policy': csp(req),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
    return new Promise((done) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let over = false;
      req.on('data', (c: Buffer) => {
        if (over) return;
        size += c.length;
        if (size > limit) {
          over = true;
          chunks.length = 0;
          done(null);
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (!over) done(Buffer.concat(chunks).toString('utf8'));
      });
      req.on('error', () => done(null));
    });
  }

  async function command(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const ct = req.headers['content-type'] ?? '';
    const raw = await readBody(req, MAX_COMMAND_BODY);
    if (raw === null) return json(res, 400, { error: `body too large (max ${MAX_COMMAND_BODY} bytes)` });
    if (!/^application\/json\b/i.test(ct)) return json(res, 400, { error: 'content-type must be application/json' });
    let body: z.infer<typeof commandBody>;
    try {
      const parsed = commandBody.safeParse(JSON.parse(raw));
      if (!parsed.success) return json(res, 400, { error: 'bad command: expected {action: {type: "TRANSFER", to} | {type: "END_CALL"}}' });
      body = parsed.data;
    } catch {
      return json(res, 400, { error: 'body is not JSON' });
    }
    const entry = calls.get(id);
    const link = entry?.link;
    if (!entry || !entry.view.live || !link || link.readyState !== WebSocket.OPEN) {
      return json(res, 404, { error: 'no such live call' });
    }
    const commandId = randomUUID();
    const msg: CommandMessage = { kind: 'command', commandId, callId: id, action: body.action };
    const answer = await new Promise<{ accepted: boolean; reason?: string; state?: string } | null>((resolveAnswer) => {
      const timer = setTimeout(() => {
        pending.delete(commandId);
        resolveAnswer(null);
      }, COMMAND_TIMEOUT_MS);
      timer.unref();
      pending.set(commandId, { callId: id, link, timer, resolve: resolveAnswer });
      link.send(JSON.stringify(msg), (err) => {
        if (err && pending.delete(commandId)) {
          clearTimeout(timer);
          resolveAnswer(null);
        }
      });
    });
    if (!answer) return json(res, 504, { error: 'the call did not answer' });
    return json(res, 200, {
      accepted: answer.accepted,
      ...(answer.reason !== undefined ? { reason: answer.reason } : {}),
      ...(answer.state !== undefined ? { state: answer.state } : {}),
    });
  }

  /** Past calls from the records store, under the same auth and masking as live ones. */
  async function pastCalls(res: ServerResponse, url: URL): Promise<void> {
    const records = opts.records;
    if (!records) return json(res, 404, { error: 'call records are not available here' });
    const rest = url.pathname.slice('/api/records'.length);
    if (rest === '' || rest === '/') {
      const raw = url.searchParams.get('limit');
      const limit = raw === null ? 50 : Number(raw);
      if (!Number.isInteger(limit) || limit < 1) return json(res, 400, { error: 'limit must be a whole number ≥ 1' });
      try {
        return json(res, 200, (await records.list(Math.min(limit, 500))).map(forViewers));
      } catch {
        return json(res, 503, { error: 'call records could not be read' });
      }
    }
    let id: string;
    try {
      id = decodeURIComponent(rest.slice(1));
    } catch {
      return json(res, 404, { error: 'no such call' });
    }
    if (!id || rest.slice(1).includes('/')) return json(res, 404, { error: 'no such call' });
    let view: CallView | null;
    try {
      view = await records.get(id);
    } catch {
      return json(res, 503, { error: 'call records could not be read' });
    }
    return view ? json(res, 200, forViewers(view)) : json(res, 404, { error: 'no such call' });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://inspector.invalid');
    } catch {
      return json(res, 400, { error: 'bad url' });
    }
    if (!sameOriginOk(req)) return json(res, 403, { error: 'forbidden' });
    const auth = authOf(req, url);
    if (!auth) {
      res.writeHead(401, { ...baseHeaders, 'content-type': 'application/json; charset=utf-8', 'www-authenticate': 'Bearer' });
      res.end(JSON.stringify({ error: 'a token is required (?token= or Authorization: Bearer)' }));
      return;
    }
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const m = /^\/api\/calls\/([^/]+)\/command$/.exec(path);
    if (m) {
      if (method !== 'POST') return json(res, 405, { error: 'use POST' });
      let id: string;
      try {
        id = decodeURIComponent(m[1]!);
      } catch {
        return json(res, 404, { error: 'no such live call' });
      }
      return command(req, res, id);
    }
    if (method !== 'GET' && method !== 'HEAD') return json(res, 405, { error: 'method not allowed' });
    if (path === '/api/machine') return json(res, 200, machineGraph());
    if (path === '/api/calls') return json(res, 200, allViews());
    if (path === '/api/records' || path.startsWith('/api/records/')) return pastCalls(res, url);
    if (path === '/') {
      // Opened with ?token=: a session cookie (derived from the token, not the token) lets the page's
      // own assets and sockets through without repeating it.
      const extra: Record<string, string> =
        auth === 'token' && sessionValue
          ? { 'set-cookie': `${COOKIE}=${sessionValue}; HttpOnly; SameSite=Strict; Path=/` }
          : {};
      return sendFile(req, res, join(staticDir, 'index.html'), extra);
    }
    if (path === '/vendor/elk.bundled.js') return sendFile(req, res, elkPath);
    const name = path.slice(1);
    if (/^[\w-][\w.-]*\.(js|css|html|png|svg)$/.test(name) && !name.includes('..')) {
      const file = join(staticDir, name);
      if (dirname(file) === staticDir) return sendFile(req, res, file);
    }
    return json(res, 404, { error: 'not found' });
  }

  const http = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  http.on('clientError', (_err, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });

  // ---- WebSockets -----------------------------------------------------------------------------------

  const ingestWss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  const feedWss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 });
  const alive = new WeakMap<WebSocket, boolean>();

  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => undefined);
    const reject = (status: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      socket.destroy();
    };
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://inspector.invalid');
    } catch {
      return reject('400 Bad Request');
    }
    if (closed) return reject('503 Service Unavailable');
    if (!sameOriginOk(req)) return reject('403 Forbidden');
    if (!authOf(req, url)) return reject('401 Unauthorized');
    if (url.pathname === '/ingest') {
      ingestWss.handleUpgrade(req, socket, head, (ws) => onIngest(ws));
    } else if (url.pathname === '/feed') {
      feedWss.handleUpgrade(req, socket, head, (ws) => onViewer(ws));
    } else reject('404 Not Found');
  });

  function onIngest(ws: WebSocket): void {
    links.add(ws);
    alive.set(ws, true);
    ws.on('pong', () => alive.set(ws, true));
    ws.on('error', (err: Error & { code?: string }) => {
      // Oversized frames (maxPayload) and protocol errors: ws closes the link; count it, never throw.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') rejectedMessages++;
    });
    ws.on('message', (data: RawData) => {
      const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer).byteLength;
      if (size > MAX_MESSAGE_BYTES) {
        rejectedMessages++;
        return;
      }
      let parsed: unknown;
      try {
        const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
        parsed = JSON.parse(text);
      } catch {
        rejectedMessages++;
        return;
      }
      const msg = ingestMessage.safeParse(parsed);
      if (!msg.success) {
        rejectedMessages++;
        return;
      }
      try {
        if (!apply(msg.data, ws)) rejectedMessages++;
      } catch {
        rejectedMessages++;
      }
    });
    ws.on('close', () => {
      links.delete(ws);
      const now = Date.now();
      for (const entry of calls.values()) {
        if (entry.link !== ws) continue;
        entry.link = null;
        if (entry.view.live) {
          markEnded(entry, now, 'inspector link lost');
          changed(entry);
        }
      }
      for (const [id, p] of pending) {
        if (p.link === ws) {
          pending.delete(id);
          clearTimeout(p.timer);
          p.resolve(null);
        }
      }
      evictEnded();
    });
  }

  function onViewer(ws: WebSocket): void {
    viewers.add(ws);
    alive.set(ws, true);
    ws.on('pong', () => alive.set(ws, true));
    ws.on('error', () => undefined);
    ws.on('message', () => undefined); // viewers' own messages are ignored
    ws.on('close', () => viewers.delete(ws));
    sendToViewer(ws, JSON.stringify({ kind: 'welcome', calls: allViews(), hidePhoneNumbers } satisfies FeedMessage));
  }

  /** Drops links and pages that stopped answering pings (half-open TCP). */
  const heartbeat = setInterval(() => {
    for (const ws of [...links, ...viewers]) {
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      try {
        ws.ping();
      } catch {
        /* closing */
      }
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();

  await new Promise<void>((ok, fail) => {
    http.once('error', fail);
    http.listen(opts.port ?? 0, host, () => {
      http.off('error', fail);
      ok();
    });
  });
  http.on('error', () => undefined);

  const port = (http.address() as AddressInfo).port;
  const urlHost = isIP(host) === 6 ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}/${token ? `?token=${encodeURIComponent(token)}` : ''}`;

  return {
    url,
    port,
    stats: () => ({ calls: calls.size, viewers: viewers.size, dropped, rejectedMessages }),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      for (const e of calls.values()) if (e.timer) clearTimeout(e.timer);
      for (const [id, p] of pending) {
        pending.delete(id);
        clearTimeout(p.timer);
        p.resolve(null);
      }
      for (const ws of [...links, ...viewers]) ws.terminate();
      ingestWss.close();
      feedWss.close();
      await new Promise<void>((done) => {
        http.close(() => done());
        http.closeAllConnections();
      });
    },
  };
}

/**
 * The server options from the project's settings. `freePort`: the text call and the demo take any free
 * port unless INSPECTOR_PORT is set (a worker's inspector may hold the default one).
 */
export function inspectorOptionsFrom(
  s: Pick<Settings, 'INSPECTOR_HOST' | 'INSPECTOR_PORT' | 'INSPECTOR_TOKEN' | 'INSPECTOR_HIDE_PHONE_NUMBERS'>,
  { freePort = false, env = process.env }: { freePort?: boolean; env?: NodeJS.ProcessEnv } = {},
): { host: string; port: number; token?: string; hidePhoneNumbers: boolean } {
  return {
    host: s.INSPECTOR_HOST,
    port: freePort && !env.INSPECTOR_PORT?.trim() ? 0 : s.INSPECTOR_PORT,
    token: s.INSPECTOR_TOKEN,
    hidePhoneNumbers: s.INSPECTOR_HIDE_PHONE_NUMBERS,
  };
}
