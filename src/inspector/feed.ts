/**
 * The pages watching (`/feed`): each gets a welcome with every call, then every change. A page that
 * stops reading is cut off once its unsent data passes the limit, so one slow page never holds the
 * server's memory or the other pages back. And the heartbeat that drops sockets (pages and call links)
 * that stopped answering pings (half-open TCP).
 */
import { WebSocket } from 'ws';
import type { FeedMessage } from './protocol.js';

const HEARTBEAT_MS = 30_000;

export class Feed {
  readonly viewers = new Set<WebSocket>();
  /** Pages cut off for not reading. */
  dropped = 0;

  /** `welcome`: what a page is told first. */
  constructor(
    private readonly maxViewerBuffer: number,
    private readonly welcome: () => FeedMessage,
  ) {}

  add(ws: WebSocket): void {
    this.viewers.add(ws);
    ws.on('error', () => undefined);
    ws.on('message', () => undefined); // viewers' own messages are ignored
    ws.on('close', () => this.viewers.delete(ws));
    this.send(ws, JSON.stringify(this.welcome()));
  }

  broadcast(msg: FeedMessage): void {
    if (this.viewers.size === 0) return;
    const data = JSON.stringify(msg);
    for (const ws of [...this.viewers]) this.send(ws, data);
  }

  private send(ws: WebSocket, data: string): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > this.maxViewerBuffer) {
      // It is not reading: cut it off rather than hold its backlog.
      this.viewers.delete(ws);
      this.dropped++;
      ws.terminate();
      return;
    }
    ws.send(data, () => undefined);
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
