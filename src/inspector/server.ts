/**
 * The inspector server: calls report to it over `/ingest`, pages watch over `/feed` and the HTTP API.
 * This file wires the parts together; each part is its own file:
 *
 * - `auth.ts`: loopback only unless a token is set; with a token every endpoint needs it (`?token=`,
 *   `Authorization: Bearer`, or the HttpOnly session cookie the page gets when it is opened with
 *   `?token=`, so its own assets and sockets load without the token in every URL).
 * - `http.ts`: the page, `/api/machine`, `/api/calls`, past calls (their recordings: `recording.ts`; the
 *   dashboard's figures: `figures.ts`), the supervisor's commands.
 * - `ingest.ts` / `feed.ts`: the two WebSockets; `calls.ts`: the live calls; `commands.ts`: commands
 *   in flight.
 * - Nothing a call or a page sends can crash it or grow its memory without bound: every ingest message
 *   is validated and size-capped, transcripts and lists are capped, ended calls are evicted, and a
 *   viewer whose send buffer passes `maxViewerBufferBytes` is held the latest view of each call (one per
 *   call) until it catches up, and cut off if it has not within 10 s.
 */
import { existsSync } from 'node:fs';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import { type AddressInfo, type Socket, isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Settings } from '../config.js';
import { Auth, isLoopbackHost } from './auth.js';
import { CallRegistry } from './calls.js';
import { CommandRelay } from './commands.js';
import { Feed, Heartbeat } from './feed.js';
import { type PastCalls, httpHandler } from './http.js';
import { Ingest } from './ingest.js';
import { MAX_MESSAGE_BYTES } from './protocol.js';

export interface InspectorServerOptions {
  /** Default 127.0.0.1. Anything but a loopback address needs a token. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  token?: string;
  /** Mask phone numbers (all but the last 2 digits) in everything sent to pages. */
  hidePhoneNumbers?: boolean;
  /**
   * REDACT_PII=on: phone numbers, card and account numbers and email addresses are masked in what calls
   * send as it arrives (before it is kept) and in past calls as they are served.
   */
  redact?: boolean;
  /** Default <repo>/visualizer. */
  staticDir?: string;
  /** Ended calls kept for the page (oldest dropped first). Default 50. */
  maxEndedCalls?: number;
  /**
   * A page whose unsent data passes this is behind: it is sent the latest view of each call changed
   * meanwhile once it is back under it, and disconnected if it is not within 10 s. Default 1 MiB.
   */
  maxViewerBufferBytes?: number;
  /**
   * Past calls from the call records store (`src/records`): served at `GET /api/records` (recent calls,
   * `?limit=`, summaries without transcript) and `GET /api/records/:id` (one call, built from its events).
   */
  records?: PastCalls;
  /**
   * RECORDINGS_DIR: past calls' recordings are served from here (`GET /api/records/:id/recording`, the file
   * the call's record names, only inside this directory). Absent: none are served.
   */
  recordingsDir?: string;
}

export interface InspectorServer {
  /** http://host:port/ (with ?token=… when a token is set). */
  url: string;
  port: number;
  close(): Promise<void>;
  stats(): { calls: number; viewers: number; dropped: number; rejectedMessages: number };
}

/**
 * The package's root (the directory holding package.json), where `visualizer/` is: two levels up from
 * `src/inspector/server.ts` under tsx, three from `dist/src/inspector/server.js` after `npm run build`.
 */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}: where is visualizer/?`);
  }
}

export async function startInspectorServer(opts: InspectorServerOptions = {}): Promise<InspectorServer> {
  const host = opts.host ?? '127.0.0.1';
  const token = opts.token && opts.token.length > 0 ? opts.token : undefined;
  if (!isLoopbackHost(host) && !token) {
    throw new Error(`INSPECTOR_TOKEN is required to listen on ${host} (a non-loopback address).`);
  }
  const hidePhoneNumbers = opts.hidePhoneNumbers ?? false;
  const redact = opts.redact ?? false;
  const auth = new Auth(token, host);
  const commands = new CommandRelay();
  const calls: CallRegistry = new CallRegistry({
    maxEnded: Math.max(0, opts.maxEndedCalls ?? 50),
    hidePhoneNumbers,
    redact,
    publish: (call) => feed.broadcast({ kind: 'call', call }),
    onEnded: (callId) => commands.callEnded(callId),
  });
  const feed = new Feed(opts.maxViewerBufferBytes ?? 1024 * 1024, () => ({ kind: 'welcome', calls: calls.views(), hidePhoneNumbers }));
  const ingest = new Ingest(calls, commands, feed);
  const heartbeat = new Heartbeat(() => [...ingest.links, ...feed.viewers]);
  const staticDir = resolve(opts.staticDir ?? join(packageRoot(), 'visualizer'));
  const recordingsDir = opts.recordingsDir ? resolve(opts.recordingsDir) : undefined;
  const http = createServer(httpHandler({ auth, calls, commands, staticDir, records: opts.records, redact, recordingsDir }));
  http.on('clientError', (_err, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });
  let closed = false;
  const sockets = upgrades(http, auth, () => closed, {
    '/ingest': {
      maxPayload: MAX_MESSAGE_BYTES,
      add: (ws) => {
        heartbeat.watch(ws);
        ingest.add(ws);
      },
    },
    '/feed': {
      maxPayload: 4 * 1024,
      add: (ws) => {
        heartbeat.watch(ws);
        feed.add(ws);
      },
    },
  });
  await listen(http, opts.port ?? 0, host);

  const port = (http.address() as AddressInfo).port;
  const urlHost = isIP(host) === 6 ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}/${token ? `?token=${encodeURIComponent(token)}` : ''}`,
    port,
    stats: () => ({ calls: calls.size, viewers: feed.viewers.size, dropped: feed.dropped, rejectedMessages: ingest.rejectedMessages }),
    async close() {
      if (closed) return;
      closed = true;
      heartbeat.stop();
      calls.close();
      commands.close();
      for (const ws of [...ingest.links, ...feed.viewers]) ws.terminate();
      for (const wss of sockets) wss.close();
      await new Promise<void>((done) => {
        http.close(() => done());
        http.closeAllConnections();
      });
    },
  };
}

type Endpoints = Record<string, { maxPayload: number; add: (ws: WebSocket) => void }>;

/**
 * Routes WebSocket upgrades to their endpoint (by path), after the same Origin/Host and token checks as
 * HTTP. Returns the endpoints' servers (to close them).
 */
function upgrades(http: Server, auth: Auth, closed: () => boolean, endpoints: Endpoints): WebSocketServer[] {
  const servers = new Map(
    Object.entries(endpoints).map(([path, e]) => [path, { wss: new WebSocketServer({ noServer: true, maxPayload: e.maxPayload }), add: e.add }]),
  );
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
    if (closed()) return reject('503 Service Unavailable');
    if (!auth.sameOrigin(req)) return reject('403 Forbidden');
    if (!auth.check(req, url)) return reject('401 Unauthorized');
    const endpoint = servers.get(url.pathname);
    if (!endpoint) return reject('404 Not Found');
    endpoint.wss.handleUpgrade(req, socket, head, (ws) => endpoint.add(ws));
  });
  return [...servers.values()].map((s) => s.wss);
}

/** A listen error in words that name the setting to change (INSPECTOR_PORT, INSPECTOR_HOST). */
function listenError(err: NodeJS.ErrnoException, port: number, host: string): Error {
  let message = err.message;
  if (err.code === 'EADDRINUSE') {
    message =
      `port ${port} on ${host} is already in use (another inspector, or \`npm run dev\`, may hold it): ` +
      'set INSPECTOR_PORT to another port, or to 0 for any free one';
  } else if (err.code === 'EACCES') {
    message = `not allowed to listen on port ${port} of ${host}: set INSPECTOR_PORT to a port above 1023`;
  } else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') {
    message = `cannot listen on ${host} (not an address of this machine): check INSPECTOR_HOST`;
  }
  return Object.assign(new Error(message), { code: err.code });
}

async function listen(http: Server, port: number, host: string): Promise<void> {
  await new Promise<void>((ok, reject) => {
    const fail = (err: NodeJS.ErrnoException) => reject(listenError(err, port, host));
    http.once('error', fail);
    http.listen(port, host, () => {
      http.off('error', fail);
      ok();
    });
  });
  http.on('error', () => undefined);
}

/**
 * The server options from the project's settings. `freePort`: the text call and the demo take any free
 * port unless INSPECTOR_PORT is set (a worker's inspector may hold the default one).
 */
export function inspectorOptionsFrom(
  s: Pick<Settings, 'INSPECTOR_HOST' | 'INSPECTOR_PORT' | 'INSPECTOR_TOKEN' | 'INSPECTOR_HIDE_PHONE_NUMBERS' | 'REDACT_PII'> &
    Partial<Pick<Settings, 'RECORDINGS_DIR'>>,
  { freePort = false, env = process.env }: { freePort?: boolean; env?: NodeJS.ProcessEnv } = {},
): { host: string; port: number; token?: string; hidePhoneNumbers: boolean; redact: boolean; recordingsDir?: string } {
  return {
    host: s.INSPECTOR_HOST,
    port: freePort && !env.INSPECTOR_PORT?.trim() ? 0 : s.INSPECTOR_PORT,
    token: s.INSPECTOR_TOKEN,
    hidePhoneNumbers: s.INSPECTOR_HIDE_PHONE_NUMBERS,
    redact: s.REDACT_PII === 'on',
    // Past calls' recordings (relative to where the command runs, as the worker writes them).
    ...(s.RECORDINGS_DIR ? { recordingsDir: resolve(s.RECORDINGS_DIR) } : {}),
  };
}
