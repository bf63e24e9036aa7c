/**
 * The pages watching (`/feed`): each gets a welcome with every call, then every change. A page whose
 * unsent data passes the limit is behind: once it has caught up it is sent only the latest view of each
 * call changed meanwhile, and a page behind for 10 s (not reading) is cut off — so one slow page never
 * holds more than a view per call of the server's memory, nor holds the other pages back. And the
 * heartbeat that drops sockets (pages and call links) that stopped answering pings (half-open TCP).
 */
import { WebSocket } from 'ws';
import type { FeedMessage } from './protocol.js';

const HEARTBEAT_MS = 30_000;

/** A page behind for this long (its unsent data over the limit all the while) is cut off. */
const STALL_MS = 10_000;
/** How often the pages behind are looked at (caught up: what was held goes out). */
const CATCH_UP_MS = 100;

/**
 * A page that is behind: since when, and what it has not been sent yet — the latest message of each call
 * (a newer view replaces an older one: each is the call's whole view), in the order they changed.
 */
interface Behind {
  since: number;
  held: Map<string, string>;
}

export class Feed {
  readonly viewers = new Set<WebSocket>();
  /** Pages cut off for not reading. */
  dropped = 0;
  private readonly behind = new Map<WebSocket, Behind>();
  private timer: NodeJS.Timeout | null = null;

  /** `welcome`: what a page is told first. */
  constructor(
    private readonly maxViewerBuffer: number,
    private readonly welcome: () => FeedMessage,
  ) {}

  add(ws: WebSocket): void {
    this.viewers.add(ws);
    ws.on('error', () => undefined);
    ws.on('message', () => undefined); // viewers' own messages are ignored
    ws.on('close', () => {
      this.viewers.delete(ws);
      this.behind.delete(ws);
    });
    // The welcome goes whatever its size (every call: megabytes with a thousand calls); what changes
    // while the page takes it in is held for it, as for any page behind.
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(this.welcome()), () => undefined);
  }

  broadcast(msg: FeedMessage): void {
    if (this.viewers.size === 0) return;
    const data = JSON.stringify(msg);
    const key = msg.kind === 'call' ? `call ${msg.call.callId}` : msg.kind === 'command-result' ? `command ${msg.commandId}` : msg.kind;
    for (const ws of [...this.viewers]) this.send(ws, data, key);
  }

  /**
   * Sends to a page that keeps up. A page whose unsent data is over the limit is behind: it gets only the
   * latest of each call once it has caught up, and is cut off if it has not within `STALL_MS` (it is not
   * reading). So what a page is owed stays bounded by the calls, however fast they change.
   */
  private send(ws: WebSocket, data: string, key: string): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    const behind = this.behind.get(ws);
    if (!behind && ws.bufferedAmount <= this.maxViewerBuffer) {
      ws.send(data, () => undefined);
      return;
    }
    const b = behind ?? { since: Date.now(), held: new Map<string, string>() };
    if (!behind) this.behind.set(ws, b);
    b.held.delete(key);
    b.held.set(key, data);
    this.arm();
  }

  private arm(): void {
    if (this.timer || this.behind.size === 0) return;
    this.timer = setTimeout(() => this.catchUp(), CATCH_UP_MS);
    this.timer.unref();
  }

  /** Pages caught up get what was held for them; pages behind for too long are cut off. */
  private catchUp(): void {
    this.timer = null;
    for (const [ws, b] of [...this.behind]) {
      if (ws.readyState !== WebSocket.OPEN) this.behind.delete(ws);
      else if (ws.bufferedAmount <= this.maxViewerBuffer) {
        this.behind.delete(ws);
        for (const data of b.held.values()) ws.send(data, () => undefined);
      } else if (Date.now() - b.since > STALL_MS) {
        // It is not reading: cut it off rather than hold its backlog.
        this.behind.delete(ws);
        this.viewers.delete(ws);
        this.dropped++;
        ws.terminate();
      }
    }
    this.arm();
  }
}

/** Pings every socket it is given each 30 s; one that did not answer the last ping is terminated. */
export class Heartbeat {
  private readonly alive = new WeakMap<WebSocket, boolean>();
  private readonly timer: NodeJS.Timeout;

  constructor(sockets: () => Iterable<WebSocket>) {
    this.timer = setInterval(() => this.beat(sockets()), HEARTBEAT_MS);
    this.timer.unref();
  }

  watch(ws: WebSocket): void {
    this.alive.set(ws, true);
    ws.on('pong', () => this.alive.set(ws, true));
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private beat(sockets: Iterable<WebSocket>): void {
    for (const ws of [...sockets]) {
      if (this.alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      this.alive.set(ws, false);
      try {
        ws.ping();
      } catch {
        /* closing */
      }
    }
  }
}
