/**
 * Stately's inspector (`@statelyai/inspect`, XState v5's successor to `@xstate/inspect`): with
 * XSTATE_INSPECT=ws every call's routing actor also reports over a WebSocket to XSTATE_INSPECT_URL
 * (ws://127.0.0.1:8080 by default, where Stately's relay listens; it shows the actors in Stately's
 * inspector in a browser). What goes there: the machine's definition, every event the actor receives
 * and every snapshot — caller details, transfer reasons and the route included.
 *
 * - One connection per process, shared by its calls (`reportToStately` starts it; each call's actor
 *   reports through `withStatelyInspector`, next to any inspector of its own).
 * - A call never waits for it and never fails by it: what cannot be sent yet is kept (the last
 *   MAX_QUEUED messages) and sent once the socket is up; an inspector nobody answers at is said once,
 *   naming its URL, and tried again every RETRY_MS; the socket never keeps a process alive.
 *
 * The events are put into Stately's own protocol (`@xstate.actor`, `@xstate.event`, `@xstate.snapshot`)
 * by `@statelyai/inspect`'s `createInspector`; the socket is ours (its `createWebSocketInspector` retries
 * with a timer that keeps a process alive and cannot be stopped, and says nothing when it cannot connect).
 */
import { type NetConnectOpts, type Socket, isIP, connect as netConnect } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { type StatelyInspectionEvent, createInspector } from '@statelyai/inspect';
import { log } from '@livekit/agents';
import WebSocket from 'ws';
import type { InspectionEvent } from 'xstate';
import type { Settings } from '../config.js';

export type StatelySettings = Pick<Settings, 'XSTATE_INSPECT' | 'XSTATE_INSPECT_URL'>;

/** How a program says what this link has to say (its own prefix, its log). */
export interface StatelySay {
  /** Once, when the link starts: where the calls' data goes. */
  notice(line: string): void;
  /** The inspector cannot be reached (once), or the connection was lost. */
  warn(line: string): void;
}

export interface StatelyLink {
  readonly url: string;
  /** An observer for a routing actor (`createActor(..., { inspect })`); it never throws. */
  inspect(event: InspectionEvent): void;
  /** Sends what is waiting (for at most `waitMs`), then closes the socket for good. */
  close(waitMs?: number): Promise<void>;
}

/** Messages kept while the socket is not up (the oldest are dropped first). */
export const MAX_QUEUED = 1000;
/** Between two attempts to reach the inspector. */
export const RETRY_MS = 5000;

/** Where the data of every call goes, as said when the link starts. */
export function statelyNotice(url: string): string {
  return `XSTATE_INSPECT=ws: every call's routing actor (its events and state, caller details included) is sent to Stately's inspector at ${url}`;
}

/** The framework's log when it is up (every program starts it before its calls), else stderr. */
const defaultSay: StatelySay = {
  notice: (line) => sayVia('warn', line),
  warn: (line) => sayVia('warn', line),
};
function sayVia(level: 'info' | 'warn', line: string): void {
  try {
    log()[level](line);
  } catch {
    process.stderr.write(`switchboard: ${line}\n`);
  }
}

/** A command's way: `<program>: <line>` on stderr (its stdout carries the call). */
export function sayOnStderr(program: string): StatelySay {
  const say = (line: string) => process.stderr.write(`${program}: ${line}\n`);
  return { notice: say, warn: say };
}

let shared: StatelyLink | null = null;

/**
 * The process's link to Stately's inspector when XSTATE_INSPECT=ws (null when off). The first caller
 * starts it and says where the data goes; later callers get the same link.
 */
export function reportToStately(settings: StatelySettings, say: StatelySay = defaultSay): StatelyLink | null {
  if (settings.XSTATE_INSPECT !== 'ws') return null;
  if (shared) return shared;
  say.notice(statelyNotice(settings.XSTATE_INSPECT_URL));
  shared = openLink(settings.XSTATE_INSPECT_URL, say);
  return shared;
}

/** Closes the process's link (the end of a program, a test); a later `reportToStately` opens a new one. */
export async function closeStatelyLink(waitMs?: number): Promise<void> {
  const link = shared;
  shared = null;
  await link?.close(waitMs);
}

/**
 * A routing actor's `inspect` option: `own` (the call's, if any) and, when the process reports to
 * Stately's inspector, that too. Both see every event.
 */
export function withStatelyInspector(own?: (event: InspectionEvent) => void): ((event: InspectionEvent) => void) | undefined {
  const link = shared;
  if (!link) return own;
  return (event) => {
    link.inspect(event);
    own?.(event);
  };
}

function openLink(url: string, say: StatelySay): StatelyLink {
  const socket = new StatelySocket(url, say);
  const inspector = createInspector(socket, { autoStart: false });
  inspector.start();
  return {
    url,
    inspect: (event) => {
      try {
        inspector.inspect.next?.(event);
      } catch {
        // Never the call's problem.
      }
    },
    close: (waitMs) => socket.close(waitMs),
  };
}

/** Why a connection failed, in a word or two (ECONNREFUSED, "Unexpected server response: 404"). */
function whyOf(err: Error & { code?: string }): string {
  return err.code ?? err.message;
}

/** The WebSocket to the inspector: `@statelyai/inspect`'s adapter interface, kept up in the background. */
class StatelySocket {
  private ws: WebSocket | null = null;
  private open = false;
  private queue: string[] = [];
  private retry: NodeJS.Timeout | null = null;
  private closed = false;
  private warned = false;

  constructor(
    private readonly url: string,
    private readonly say: StatelySay,
  ) {}

  start(): void {
    this.connect();
  }

  stop(): void {
    void this.close(0);
  }

  send(event: StatelyInspectionEvent): void {
    if (this.closed) return;
    let message: string;
    try {
      message = JSON.stringify(event);
    } catch {
      return; // not serialisable: left out
    }
    if (this.open && this.ws) {
      this.ws.send(message, () => undefined);
      return;
    }
    this.queue.push(message);
    if (this.queue.length > MAX_QUEUED) this.queue.shift();
  }

  async close(waitMs = 1000): Promise<void> {
    if (this.closed) return;
    // Inspection events reach `send` a tick after the actor made them (createInspector defers them).
    await new Promise((r) => setTimeout(r, 10));
    const until = Date.now() + waitMs;
    // Still connecting, with messages waiting: they get the time left.
    while (this.ws && !this.open && this.queue.length && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const ws = this.ws;
    if (!ws) return;
    while (this.open && ws.bufferedAmount > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const closed = new Promise<void>((r) => ws.once('close', () => r()));
    ws.close();
    await Promise.race([closed, new Promise((r) => setTimeout(r, Math.max(0, until - Date.now())).unref())]);
    ws.terminate();
  }

  private connect(): void {
    if (this.closed) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url, { createConnection: unrefConnection(this.url.startsWith('wss:')), handshakeTimeout: 10_000 });
    } catch (err) {
      this.unreachable(err as Error);
      this.later();
      return;
    }
    this.ws = ws;
    ws.on('open', () => {
      this.open = true;
      this.warned = false;
      for (const m of this.queue.splice(0)) ws.send(m, () => undefined);
    });
    ws.on('error', (err) => {
      if (!this.open) this.unreachable(err);
    });
    ws.on('close', () => {
      const wasOpen = this.open;
      this.open = false;
      this.ws = null;
      if (this.closed) return;
      if (wasOpen) this.say.warn(`the connection to Stately's inspector at ${this.url} was lost; trying again every ${RETRY_MS / 1000} s, the calls go on`);
      this.later();
    });
  }

  /** Said once (until the inspector has been reached): the calls go on without it. */
  private unreachable(err: Error): void {
    if (this.warned || this.closed) return;
    this.warned = true;
    this.say.warn(`cannot reach Stately's inspector at ${this.url} (${whyOf(err)}): check XSTATE_INSPECT_URL; the calls go on, and reach it once it is up`);
  }

  private later(): void {
    if (this.closed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.connect();
    }, RETRY_MS);
    this.retry.unref();
  }
}

/**
 * ws's own way of connecting (a TCP or TLS socket for the URL's host and port), but the socket does not
 * keep the process alive: the inspector is an onlooker.
 */
function unrefConnection(secure: boolean): (options: object) => Socket {
  return (options) => {
    const o = options as { host?: string; servername?: string; path?: string; socketPath?: string };
    let socket: Socket;
    if (secure) {
      o.path = undefined;
      if (!o.servername && o.servername !== '') o.servername = isIP(o.host ?? '') ? '' : o.host;
      socket = tlsConnect(o as ConnectionOptions);
    } else {
      o.path = o.socketPath;
      socket = netConnect(o as NetConnectOpts);
    }
    socket.unref();
    return socket;
  };
}
