/**
 * For the fleet benchmark (figure 8), in its own process (as a browser would be): pages watching the
 * inspector's `/feed`, opened as the page opens it (`?token=`, its own Origin), reading every message
 * (`JSON.parse`, as the page does) and reconnecting as the page does when cut off (500 ms, doubling).
 *
 * When a page learns of a call, a transcript line or a transfer it had not seen (a `call` message, or a
 * welcome after a reconnect), that update's latency is the time now minus the call's start or the event's
 * `at`: the call stamped it with `Date.now()` when it made it, on this same machine.
 *
 * Options as one JSON argument (`{ feed, origin, pages }`); `{ pid }` back once every page is open. Lines on
 * stdin, each answered with one JSON line:
 *   `window T0 T1`   updates for events with `at` in [T0, T1] seen so far, per page: their latencies (ms) → `{ pages: [...] }`
 *   `counters`       per page: messages and bytes received, reconnects, so far → `{ pages: [...] }`
 *   `open`           a page opened now: its welcome's time and size (null: none within 10 s), and whether it
 *                    got it and stayed connected for 3 s after
 * Exits when stdin closes.
 */
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import type { CallView } from '../src/call/events.js';
import type { FeedMessage } from '../src/inspector/protocol.js';

interface PageOptions {
  /** ws://host:port/feed?token=… */
  feed: string;
  /** The page's origin (http://host:port), sent as a browser sends it. */
  origin: string;
  pages: number;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as PageOptions;

interface Update {
  at: number;
  latencyMs: number;
  kind: 'start' | 'line' | 'transfer';
}

class Page {
  updates: Update[] = [];
  messages = 0;
  bytes = 0;
  reconnects = 0;
  /** Per call: the `at` of the last transcript line and transfer seen. */
  private readonly seen = new Map<string, { line: number; transfer: number }>();
  private backoff = 500;

  open(): Promise<void> {
    const ws = new WebSocket(opts.feed, { origin: opts.origin });
    ws.on('message', (data: Buffer) => this.onMessage(data));
    ws.on('error', () => undefined);
    ws.on('close', () => {
      this.reconnects++;
      const wait = this.backoff;
      this.backoff = Math.min(this.backoff * 2, 10_000);
      setTimeout(() => void this.open(), wait);
    });
    return new Promise((resolve) => ws.once('open', () => resolve()));
  }

  private onMessage(data: Buffer): void {
    const now = Date.now();
    this.messages++;
    this.bytes += data.length;
    const msg = JSON.parse(data.toString()) as FeedMessage;
    if (msg.kind === 'welcome') {
      this.backoff = 500;
      for (const call of msg.calls) this.note(call, now);
    } else if (msg.kind === 'call') this.note(msg.call, now);
  }

  /** Records what of the call is new to this page. */
  private note(call: CallView, now: number): void {
    if (!this.seen.has(call.callId)) this.updates.push({ at: call.startedAt, latencyMs: now - call.startedAt, kind: 'start' });
    const seen = this.seen.get(call.callId) ?? { line: -Infinity, transfer: -Infinity };
    for (const l of call.transcript) {
      if (l.at <= seen.line) continue;
      seen.line = l.at;
      this.updates.push({ at: l.at, latencyMs: now - l.at, kind: 'line' });
    }
    for (const leg of call.timeline.slice(1)) {
      if (leg.enteredAt <= seen.transfer) continue;
      seen.transfer = leg.enteredAt;
      this.updates.push({ at: leg.enteredAt, latencyMs: now - leg.enteredAt, kind: 'transfer' });
    }
    this.seen.set(call.callId, seen);
  }
}

/** A page opened now: time to its welcome, the welcome's size, and whether it is still connected 3 s later. */
async function openOnce(): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const ws = new WebSocket(opts.feed, { origin: opts.origin });
  let closed = false;
  ws.on('close', () => (closed = true));
  ws.on('error', () => undefined);
  const welcome = await new Promise<Buffer | null>((resolve) => {
    ws.once('message', (data: Buffer) => resolve(data));
    ws.once('close', () => resolve(null));
    setTimeout(() => resolve(null), 10_000);
  });
  const welcomeMs = performance.now() - t0;
  const calls = welcome ? (JSON.parse(welcome.toString()) as { calls: unknown[] }).calls.length : 0;
  await new Promise((r) => setTimeout(r, 3000));
  // A page that never got its welcome did not open, whatever its socket says.
  const stayed = welcome !== null && !closed;
  ws.terminate();
  return { welcomeMs: Number(welcomeMs.toFixed(1)), welcomeMB: welcome ? Number((welcome.length / 1048576).toFixed(2)) : null, calls, stayed };
}

const pages = Array.from({ length: opts.pages }, () => new Page());
await Promise.all(pages.map((p) => p.open()));
process.stdout.write(`${JSON.stringify({ pid: process.pid })}\n`);

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, a, b] = line.trim().split(/\s+/);
  if (cmd === 'window') {
    const t0 = Number(a);
    const t1 = Number(b);
    const answer = pages.map((p) => {
      const inWindow = p.updates.filter((u) => u.at >= t0 && u.at <= t1);
      // What was counted is let go: the next window starts later.
      p.updates = p.updates.filter((u) => u.at > t1);
      return {
        lines: inWindow.filter((u) => u.kind === 'line').map((u) => u.latencyMs),
        transfers: inWindow.filter((u) => u.kind === 'transfer').map((u) => u.latencyMs),
        starts: inWindow.filter((u) => u.kind === 'start').map((u) => u.latencyMs),
      };
    });
    process.stdout.write(`${JSON.stringify({ pages: answer })}\n`);
  } else if (cmd === 'counters') {
    const answer = pages.map((p) => ({ messages: p.messages, bytes: p.bytes, reconnects: p.reconnects }));
    process.stdout.write(`${JSON.stringify({ pages: answer })}\n`);
  } else if (cmd === 'open') {
    void openOnce().then((r) => process.stdout.write(`${JSON.stringify(r)}\n`));
  } else process.stdout.write('{}\n');
});
rl.on('close', () => process.exit(0));
