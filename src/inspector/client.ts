/**
 * Feeds one call to an inspector server (`/ingest`) and carries out a supervisor's commands.
 *
 * It must never slow down or fail the call: every send is fire-and-forget and done on a later turn of
 * the event loop, nothing is awaited on the call's path, every error is swallowed, and while the server
 * is away messages wait in a bounded queue (oldest dropped) that is flushed, after a fresh `hello`, when
 * the link comes back.
 */
import { hostname } from 'node:os';
import { WebSocket } from 'ws';
import type { Call, CallEvent } from '../orchestrator.js';
import { type CommandMessage, type IngestMessage, MAX_MESSAGE_BYTES } from './protocol.js';

export interface AttachInspectorOptions {
  /** The inspector server, e.g. ws://127.0.0.1:7300 or http://127.0.0.1:7300 (`/ingest` is added). */
  url: string;
  token?: string;
  /** Which worker process runs the call (default host:pid). */
  worker?: string;
  /** Messages kept while disconnected (oldest dropped beyond it). Default 1000. */
  maxQueue?: number;
}

export interface InspectorLink {
  close(): void;
  connected(): boolean;
}

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;
/** Past this much unsent data on an open link, messages queue (bounded) instead of piling up in ws. */
const MAX_LINK_BUFFER = 1024 * 1024;
const FINAL_FLUSH_MS = 1000;

/** `http(s)://host[:port][/path]` or `ws(s)://…` → `ws(s)://…/ingest?token=…`. */
export function ingestUrl(base: string, token?: string): string {
  const u = new URL(base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (!u.pathname.endsWith('/ingest')) u.pathname = `${u.pathname.replace(/\/+$/, '')}/ingest`;
  u.search = '';
  u.hash = '';
  if (token) u.searchParams.set('token', token);
  return u.toString();
}

/** Serializes a message, truncating its long strings until it fits MAX_MESSAGE_BYTES (or null). */
export function encode(msg: IngestMessage): string | null {
  let data = JSON.stringify(msg);
  // Headroom for the JSON escaping of multi-byte characters is included in the byte count itself.
  for (let limit = 8000; Buffer.byteLength(data) > MAX_MESSAGE_BYTES; limit = Math.floor(limit / 4)) {
    if (limit < 16) return null;
    data = JSON.stringify(truncateStrings(msg, limit));
  }
  return data;
}

function truncateStrings(value: unknown, limit: number, depth = 0): unknown {
  if (typeof value === 'string') return value.length > limit ? `${value.slice(0, limit)}…` : value;
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.slice(0, 200).map((v) => truncateStrings(v, limit, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    // Identifiers stay whole: the server needs them to place the message.
    out[k] = k === 'callId' || k === 'kind' || k === 'type' || k === 'commandId' ? v : truncateStrings(v, limit, depth + 1);
  }
  return out;
}

export function attachInspector(call: Call, opts: AttachInspectorOptions): InspectorLink {
  const maxQueue = Math.max(1, opts.maxQueue ?? 1000);
  const worker = opts.worker ?? `${hostname()}:${process.pid}`;
  let target: string;
  try {
    target = ingestUrl(opts.url, opts.token);
  } catch {
    // A bad URL must not fail the call: this link simply does nothing.
    return { close: () => undefined, connected: () => false };
  }

  const queue: string[] = [];
  let ws: WebSocket | null = null;
  let open = false;
  let stopped = false;
  let backoff = BACKOFF_MIN_MS;
  let reconnectTimer: NodeJS.Timeout | null = null;
  let drainTimer: NodeJS.Timeout | null = null;
  const startedEvent = call.events.find((e) => e.type === 'started');
  const startedAt = startedEvent?.at ?? Date.now();

  const enqueue = (data: string) => {
    queue.push(data);
    if (queue.length > maxQueue) queue.splice(0, queue.length - maxQueue);
  };

  /**
   * Takes a message for the inspector. Nothing is encoded or written here: that happens in `flushPosted`
   * on a later turn of the event loop, so the call's own work (a transfer, a tool's answer) never waits
   * on the inspector, not even for a JSON.stringify. Never throws.
   */
  const posted: IngestMessage[] = [];
  let flushScheduled = false;
  function post(msg: IngestMessage): void {
    if (stopped) return;
    posted.push(msg);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushPosted);
    }
  }

  /** Sends what was posted, in order, when the link is open and keeping up; else queues it. */
  function flushPosted(): void {
    flushScheduled = false;
    const batch = posted.splice(0);
    if (stopped) return;
    for (const msg of batch) {
      try {
        const data = encode(msg);
        if (data === null) continue;
        if (open && ws && queue.length === 0 && ws.bufferedAmount <= MAX_LINK_BUFFER) {
          ws.send(data, () => undefined);
        } else {
          enqueue(data);
          if (open) scheduleDrain();
        }
      } catch {
        /* never the call's problem */
      }
    }
  }

  function flushQueue(): void {
    while (open && ws && queue.length > 0 && ws.bufferedAmount <= MAX_LINK_BUFFER) {
      ws.send(queue.shift()!, () => undefined);
    }
    if (queue.length > 0 && open) scheduleDrain();
  }

  function scheduleDrain(): void {
    if (drainTimer) return;
    drainTimer = setTimeout(() => {
      drainTimer = null;
      try {
        flushQueue();
      } catch {
        /* ignore */
      }
    }, 50);
    drainTimer.unref();
  }

  function hello(): IngestMessage {
    const snap = call.actor.getSnapshot();
    const c = snap.context;
    return {
      kind: 'hello',
      callId: call.callId,
      worker,
      startedAt,
      state: String(snap.value),
      handoffCount: c.handoffCount,
      maxHandoffs: c.maxHandoffs,
      humanAvailable: c.humanAvailable,
      caller: { ...c.caller },
    };
  }

  function connect(): void {
    if (stopped) return;
    let sock: WebSocket;
    try {
      sock = new WebSocket(target, { handshakeTimeout: 5000, maxPayload: MAX_MESSAGE_BYTES });
    } catch {
      scheduleReconnect();
      return;
    }
    ws = sock;
    sock.on('error', () => undefined);
    sock.on('open', () => {
      if (stopped || ws !== sock) return;
      open = true;
      backoff = BACKOFF_MIN_MS;
      try {
        const h = encode(hello());
        if (h) sock.send(h, () => undefined);
        flushQueue();
      } catch {
        /* ignore */
      }
    });
    sock.on('message', (data) => {
      try {
        onCommand(JSON.parse(data.toString()) as CommandMessage);
      } catch {
        /* not ours to answer */
      }
    });
    sock.on('close', () => {
      if (ws === sock) {
        ws = null;
        open = false;
      }
      scheduleReconnect();
    });
  }

  function scheduleReconnect(): void {
    if (stopped || reconnectTimer) return;
    const delay = backoff;
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      connect();
    }, delay);
    reconnectTimer.unref();
  }

  function onCommand(msg: CommandMessage): void {
    if (!msg || msg.kind !== 'command' || typeof msg.commandId !== 'string' || !msg.action) return;
    const reply = (accepted: boolean, reason?: string) =>
      post({
        kind: 'command-result',
        commandId: msg.commandId,
        accepted,
        ...(reason !== undefined ? { reason } : {}),
        state: String(call.machineState),
      });
    if (msg.callId !== call.callId) return reply(false, 'This link does not carry that call.');
    const action = msg.action;
    try {
      if (action.type === 'TRANSFER' && typeof action.to === 'string') {
        const answer = call.requestTransfer(action.to, 'moved by a supervisor', 'supervisor');
        return answer.accepted ? reply(true) : reply(false, answer.reason);
      }
      if (action.type === 'END_CALL') {
        if (call.actor.getSnapshot().status !== 'active') return reply(false, 'The call has already ended.');
        call.endCall('ended by a supervisor');
        return reply(true);
      }
      return reply(false, 'Unknown command.');
    } catch (err) {
      return reply(false, err instanceof Error ? err.message : String(err));
    }
  }

  // ---- the call's stream ----------------------------------------------------------------------------

  const onEvent = (event: CallEvent) => post({ kind: 'event', callId: call.callId, event });
  // What happened before the link was attached (the start, the greeting) comes first.
  for (const event of call.events) onEvent(event);
  call.on('event', onEvent);
  // The routing actor's own inspection stream (XState v5's `inspect`): one snapshot per macrostep.
  const subscription = call.actor.system.inspect((ev) => {
    if (ev.type !== '@xstate.snapshot' || ev.actorRef !== call.actor) return;
    const snap = call.actor.getSnapshot();
    post({
      kind: 'snapshot',
      callId: call.callId,
      state: String(snap.value),
      handoffCount: snap.context.handoffCount,
      status: snap.status,
      at: Date.now(),
    });
  });

  function stop(): void {
    if (stopped) return;
    stopped = true;
    call.off('event', onEvent);
    try {
      subscription.unsubscribe();
    } catch {
      /* ignore */
    }
    if (reconnectTimer) clearTimeout(reconnectTimer);
    if (drainTimer) clearTimeout(drainTimer);
    reconnectTimer = drainTimer = null;
    const sock = ws;
    ws = null;
    open = false;
    queue.length = 0;
    posted.length = 0;
    if (sock) {
      try {
        if (sock.readyState === WebSocket.OPEN) sock.close(1000, 'call finished');
        else sock.terminate();
      } catch {
        /* ignore */
      }
    }
  }

  // Once the call is over and its `end` went out (or a second passed), the link closes for good.
  void call.finished.then(
    async () => {
      const deadline = Date.now() + FINAL_FLUSH_MS;
      while (!stopped && Date.now() < deadline) {
        if (open && ws && posted.length === 0 && queue.length === 0 && ws.bufferedAmount === 0) break;
        await new Promise((r) => setTimeout(r, 20).unref());
      }
      stop();
    },
    () => stop(),
  );

  connect();

  return {
    close: stop,
    connected: () => open && !!ws && ws.readyState === WebSocket.OPEN,
  };
}
