/**
 * The inspector's HTTP side: the page and its assets (with a strict CSP), the machine
 * (`GET /api/machine`), the live calls (`GET /api/calls`), past calls from the records store
 * (`GET /api/records[/:id]`), a past call's recording (`GET /api/records/:id/recording`, recording.ts), the
 * Past tab's dashboard (`GET /api/figures`, figures.ts) and the supervisor's commands
 * (`POST /api/calls/:id/command`), relayed to the call's process. Every request passes the Origin/Host
 * check and the token first. Vendored files: ELK (`/vendor/elk.bundled.js`) and the Devanagari font
 * (`/vendor/fonts/*.woff2`), from their npm packages.
 */
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { z } from 'zod';
import { machineGraph } from '../../machines/derive.js';
import type { CallView } from '../call/events.js';
import { DEPARTMENT_TABLE } from '../departments.js';
import { redactView } from '../redact.js';
import type { Auth } from './auth.js';
import type { CallRegistry } from './calls.js';
import type { CommandRelay } from './commands.js';
import { DEFAULT_FIGURES_CALLS, MAX_FIGURES_CALLS, recentFigures } from './figures.js';
import { commandBody } from './protocol.js';
import { recordingFile, sendRecording } from './recording.js';

const MAX_COMMAND_BODY = 4 * 1024;

/** Past calls (`src/records`): recent ones (summaries, no transcript) and one call built from its events. */
export interface PastCalls {
  /** The newest `limit`, or (`before`: a call id) those listed after that call, newest first; null: no such call. */
  list(limit: number, before?: string): Promise<CallView[] | null>;
  get(callId: string): Promise<CallView | null>;
}

export interface HttpDeps {
  auth: Auth;
  calls: CallRegistry;
  commands: CommandRelay;
  /** The page's directory (index.html, app.js, …). */
  staticDir: string;
  records?: PastCalls;
  /** REDACT_PII=on: past calls are masked as they are served (those recorded before it was on too). */
  redact?: boolean;
  /** RECORDINGS_DIR: where past calls' recordings are served from (absent: none are). */
  recordingsDir?: string;
}

const baseHeaders = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  html: 'text/html; charset=utf-8',
  png: 'image/png',
  svg: 'image/svg+xml',
  woff2: 'font/woff2',
};

const vendor = createRequire(import.meta.url);
const elkPath = vendor.resolve('elkjs/lib/elk.bundled.js');
/**
 * The page's Devanagari font (style.css's @font-face), from its npm package, served by the inspector
 * itself (no CDN): Hindi names and transcripts render on a machine without a Devanagari font.
 */
const fontDir = dirname(vendor.resolve('@fontsource-variable/noto-sans-devanagari/files/noto-sans-devanagari-devanagari-wght-normal.woff2'));

export function json(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { ...baseHeaders, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

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
    "media-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

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

/** The request body as text, or null when it is over `limit` bytes or the request failed. */
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

/** The machine's graph, and each department's title (from the department table) for the page. */
function machine() {
  return { ...machineGraph(), departments: Object.values(DEPARTMENT_TABLE).map(({ id, title }) => ({ id, title })) };
}

/** POST /api/calls/:id/command: relayed to the live call's process; its machine decides. */
async function command(deps: HttpDeps, req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
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
  const link = deps.calls.liveLink(id);
  if (!link) return json(res, 404, { error: 'no such live call' });
  const answer = await deps.commands.send(link, id, body.action);
  if (!answer) return json(res, 504, { error: 'the call did not answer' });
  return json(res, 200, {
    accepted: answer.accepted,
    ...(answer.reason !== undefined ? { reason: answer.reason } : {}),
    ...(answer.state !== undefined ? { state: answer.state } : {}),
  });
}

/** Past calls from the records store, under the same auth and masking as live ones. */
async function pastCalls(deps: HttpDeps, res: ServerResponse, url: URL): Promise<void> {
  const records = deps.records;
  const forViewers = (v: CallView) => deps.calls.forViewers(deps.redact ? redactView(v) : v);
  if (!records) return json(res, 404, { error: 'call records are not available here' });
  const rest = url.pathname.slice('/api/records'.length);
  if (rest === '' || rest === '/') {
    // A page at a time: ?limit= (at most 500) newest first, ?before=<call id> the calls listed after that one.
    const raw = url.searchParams.get('limit');
    const limit = raw === null ? 50 : Number(raw);
    if (!Number.isInteger(limit) || limit < 1) return json(res, 400, { error: 'limit must be a whole number ≥ 1' });
    const before = url.searchParams.get('before') ?? undefined;
    if (before !== undefined && (before === '' || before.length > 200)) return json(res, 400, { error: 'before must be a call id' });
    let page: CallView[] | null;
    try {
      page = await records.list(Math.min(limit, 500), before);
    } catch {
      return json(res, 503, { error: 'call records could not be read' });
    }
    if (page === null) return json(res, 404, { error: `no call ${before} in the records to list before` });
    return json(res, 200, page.map(forViewers));
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

/** GET /api/records/:id/recording: the call's recording, the file its record names (Range for seeking). */
async function recording(deps: HttpDeps, req: IncomingMessage, res: ServerResponse, rawId: string): Promise<void> {
  if (!deps.records) return json(res, 404, { error: 'call records are not available here' });
  let view: CallView | null;
  try {
    view = await deps.records.get(decodeURIComponent(rawId));
  } catch (err) {
    return err instanceof URIError ? json(res, 404, { error: 'no such call' }) : json(res, 503, { error: 'call records could not be read' });
  }
  if (!view) return json(res, 404, { error: 'no such call' });
  const file = await recordingFile(deps.recordingsDir, view);
  if (!file.ok) return json(res, file.status, { error: file.error });
  sendRecording(req, res, file, baseHeaders);
}

/** GET /api/figures?limit=: response time p50/p95 per desk and per transfer kind over the recent calls. */
async function figures(deps: HttpDeps, res: ServerResponse, url: URL): Promise<void> {
  if (!deps.records) return json(res, 404, { error: 'call records are not available here' });
  const raw = url.searchParams.get('limit');
  const limit = raw === null ? DEFAULT_FIGURES_CALLS : Number(raw);
  if (!Number.isInteger(limit) || limit < 1) return json(res, 400, { error: 'limit must be a whole number ≥ 1' });
  try {
    return json(res, 200, await recentFigures(deps.records, Math.min(limit, MAX_FIGURES_CALLS)));
  } catch {
    return json(res, 503, { error: 'call records could not be read' });
  }
}

async function handle(deps: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://inspector.invalid');
  } catch {
    return json(res, 400, { error: 'bad url' });
  }
  if (!deps.auth.sameOrigin(req)) return json(res, 403, { error: 'forbidden' });
  const auth = deps.auth.check(req, url);
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
    return command(deps, req, res, id);
  }
  if (method !== 'GET' && method !== 'HEAD') return json(res, 405, { error: 'method not allowed' });
  if (path === '/api/machine') return json(res, 200, machine());
  if (path === '/api/calls') return json(res, 200, deps.calls.views());
  const rec = /^\/api\/records\/([^/]+)\/recording$/.exec(path);
  if (rec) return recording(deps, req, res, rec[1]!);
  if (path === '/api/figures') return figures(deps, res, url);
  if (path === '/api/records' || path.startsWith('/api/records/')) return pastCalls(deps, res, url);
  if (path === '/') {
    // Opened with ?token=: a session cookie (derived from the token, not the token) lets the page's
    // own assets and sockets through without repeating it.
    const cookie = auth === 'token' ? deps.auth.sessionCookie() : null;
    return sendFile(req, res, join(deps.staticDir, 'index.html'), cookie ? { 'set-cookie': cookie } : {});
  }
  if (path === '/vendor/elk.bundled.js') return sendFile(req, res, elkPath);
  const font = /^\/vendor\/fonts\/(noto-sans-devanagari-[\w-]+\.woff2)$/.exec(path);
  if (font) return sendFile(req, res, join(fontDir, font[1]!));
  const name = path.slice(1);
  if (/^[\w-][\w.-]*\.(js|css|html|png|svg)$/.test(name) && !name.includes('..')) {
    const file = join(deps.staticDir, name);
    if (dirname(file) === deps.staticDir) return sendFile(req, res, file);
  }
  return json(res, 404, { error: 'not found' });
}

/** The HTTP server's request listener. */
export function httpHandler(deps: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(deps, req, res).catch(() => {
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  };
}
