/**
 * Feeds one call to an inspector server (`/ingest`) and carries out a supervisor's commands.
 *
 * It must never slow down or fail the call: every send is fire-and-forget and done on a later turn of
 * the event loop, nothing is awaited on the call's path, every error is swallowed, and while the server
 * is away messages wait in a bounded queue (oldest dropped) that is flushed, after a fresh `hello`, when
 * the link comes back.
 *
 * With `redact` (REDACT_PII=on) what it sends is masked here, before it leaves the call's process: every
 * event (`redactEvent`, on the later turn with the encoding, never on the call's) and the caller details
 * of each `hello`.
 */
import { hostname } from 'node:os';
import { type RawData, WebSocket } from 'ws';
import type { Call } from '../call/call.js';
import type { CallEvent } from '../call/events.js';
import { callStateOf } from '../../machines/router.js';
import { redactCaller, redactEvent } from '../redact.js';
import { type CommandMessage, type IngestMessage, MAX_MESSAGE_BYTES } from './protocol.js';

export interface AttachInspectorOptions {
  /** The inspector server, e.g. ws://127.0.0.1:7300 or http://127.0.0.1:7300 (`/ingest` is added). */
  url: string;
  token?: string;
  /** Which worker process runs the call (default host:pid). */
  worker?: string;
  /** Messages kept while disconnected (oldest dropped beyond it). Default 1000. */
  maxQueue?: number;
  /** Told once, when the first attempt to reach the inspector fails (the link keeps retrying quietly). */
  onUnreachable?: (why: string) => void;
  /** Mask phone numbers, card and account numbers and email addresses in what is sent (REDACT_PII=on). */
  redact?: boolean;
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

/**
 * The link to the server. `post` takes a message and returns at once: nothing is encoded or written on
 * the caller's turn of the event loop (that happens on a later one), so the call's own work (a
 * transfer, a tool's answer) never waits on the inspector, not even for a JSON.stringify. While the
 * server is away or not keeping up, messages wait in a bounded queue (oldest dropped); on every
 * (re)connect a fresh `hello` goes first, then the queue. Never throws.
 */
class IngestLink {
  private readonly queue: string[] = [];
  private readonly posted: IngestMessage[] = [];
  private flushScheduled = false;
  private ws: WebSocket | null = null;
  private open = false;
  private stopped = false;
  private backoff = BACKOFF_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private drainTimer: NodeJS.Timeout | null = null;
  /** Told of the first failure to reach the server, once (then null). */
  unreachable: ((why: string) => void) | null = null;

  constructor(
    private readonly target: string,
    private readonly maxQueue: number,
    private readonly hello: () => IngestMessage,
    private readonly onMessage: (data: RawData) => void,
    /** What is sent of a posted message (masked with REDACT_PII), made when it is encoded. */
    private readonly prepare: (msg: IngestMessage) => IngestMessage = (msg) => msg,
  ) {}

  post(msg: IngestMessage): void {
    if (this.stopped) return;
    this.posted.push(msg);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushPosted());
    }
  }

  connected(): boolean {
    return this.open && !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Waits (up to `ms`) until everything posted has been handed to an open link. */
  async drained(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.stopped && Date.now() < deadline) {
      const ws = this.ws;
      if (this.open && ws && this.posted.length === 0 && this.queue.length === 0 && ws.bufferedAmount === 0) break;
      await new Promise((r) => setTimeout(r, 20).unref());
    }
  }

  connect(): void {
    if (this.stopped) return;
    let sock: WebSocket;
    try {
      sock = new WebSocket(this.target, { handshakeTimeout: 5000, maxPayload: MAX_MESSAGE_BYTES });
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = sock;
    sock.on('error', (err: Error & { code?: string }) => {
      if (this.open || this.stopped) return;
      const tell = this.unreachable;
      this.unreachable = null;
      tell?.(err.code ?? err.message);
    });
    sock.on('open', () => {
      if (this.stopped || this.ws !== sock) return;
      this.open = true;
      this.unreachable = null;
      this.backoff = BACKOFF_MIN_MS;
      try {
        const h = encode(this.hello());
        if (h) sock.send(h, () => undefined);
        this.flushQueue();
      } catch {
        /* ignore */
      }
    });
    sock.on('message', (data) => this.onMessage(data));
    sock.on('close', () => {
      if (this.ws === sock) {
        this.ws = null;
        this.open = false;
      }
      this.scheduleReconnect();
    });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.reconnectTimer = this.drainTimer = null;
    const sock = this.ws;
    this.ws = null;
    this.open = false;
    this.queue.length = 0;
    this.posted.length = 0;
    if (sock) {
      try {
        if (sock.readyState === WebSocket.OPEN) sock.close(1000, 'call finished');
        else sock.terminate();
      } catch {
        /* ignore */
      }
    }
  }

  /** Sends what was posted, in order, when the link is open and keeping up; else queues it. */
  private flushPosted(): void {
    this.flushScheduled = false;
    const batch = this.posted.splice(0);
    if (this.stopped) return;
    for (const msg of batch) {
      try {
        const data = encode(this.prepare(msg));
        if (data === null) continue;
        const ws = this.ws;
        if (this.open && ws && this.queue.length === 0 && ws.bufferedAmount <= MAX_LINK_BUFFER) {
          ws.send(data, () => undefined);
        } else {
          this.queue.push(data);
          if (this.queue.length > this.maxQueue) this.queue.splice(0, this.queue.length - this.maxQueue);
          if (this.open) this.scheduleDrain();
        }
      } catch {
        /* never the call's problem */
      }
    }
  }

  private flushQueue(): void {
    while (this.open && this.ws && this.queue.length > 0 && this.ws.bufferedAmount <= MAX_LINK_BUFFER) {
      this.ws.send(this.queue.shift()!, () => undefined);
    }
    if (this.queue.length > 0 && this.open) this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (this.drainTimer) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = null;
      try {
        this.flushQueue();
      } catch {
        /* ignore */
      }
    }, 50);
    this.drainTimer.unref();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }
}

/** What the server is told first on every (re)connect: the call as it is now. */
function helloOf(call: Call, worker: string, startedAt: number, redact: boolean): IngestMessage {
  const snap = call.actor.getSnapshot();
  const c = snap.context;
  const caller = { ...c.caller };
  return {
    kind: 'hello',
    callId: call.callId,
    worker,
    startedAt,
    state: callStateOf(snap.value),
    handoffCount: c.handoffCount,
    maxHandoffs: c.maxHandoffs,
    humanAvailable: c.humanAvailable,
    caller: redact ? redactCaller(caller) : caller,
  };
}

/** Carries out a supervisor's command on the call (its machine's guards decide) and posts the answer. */
function answerCommand(call: Call, msg: CommandMessage, post: (m: IngestMessage) => void): void {
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

/**
 * Posts the call's stream: its events (those before the link was attached first: the start, the
 * greeting) and the routing actor's own inspection stream (XState v5's `inspect`: one snapshot per
 * macrostep). Returns the function that stops following.
 */
/** A posted message as REDACT_PII sends it: an event masked (a hello is masked as it is made). */
function redactMessage(msg: IngestMessage): IngestMessage {
  return msg.kind === 'event' ? { ...msg, event: redactEvent(msg.event as unknown as CallEvent) } : msg;
}

function followCall(call: Call, post: (m: IngestMessage) => void): () => void {
  const onEvent = (event: CallEvent) => post({ kind: 'event', callId: call.callId, event });
  for (const event of call.events) onEvent(event);
  call.on('event', onEvent);
  const subscription = call.actor.system.inspect((ev) => {
    if (ev.type !== '@xstate.snapshot' || ev.actorRef !== call.actor) return;
    const snap = call.actor.getSnapshot();
    post({
      kind: 'snapshot',
      callId: call.callId,
      state: callStateOf(snap.value),
      handoffCount: snap.context.handoffCount,
      status: snap.status,
      at: Date.now(),
    });
  });
  return () => {
    call.off('event', onEvent);
    try {
      subscription.unsubscribe();
    } catch {
      /* ignore */
    }
  };
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
  const startedAt = call.events.find((e) => e.type === 'started')?.at ?? Date.now();
  const post = (m: IngestMessage) => link.post(m);
  const redact = opts.redact ?? false;
  const link = new IngestLink(
    target,
    maxQueue,
    () => helloOf(call, worker, startedAt, redact),
    (data) => {
      try {
        answerCommand(call, JSON.parse(data.toString()) as CommandMessage, post);
      } catch {
        /* not ours to answer */
      }
    },
    redact ? redactMessage : undefined,
  );
  link.unreachable = opts.onUnreachable ?? null;
  const unfollow = followCall(call, post);
  const stop = () => {
    if (link.isStopped) return;
    unfollow();
    link.stop();
  };
  // Once the call is over and its `end` went out (or a second passed), the link closes for good.
  void call.finished.then(
    async () => {
      await link.drained(FINAL_FLUSH_MS);
      stop();
    },
    () => stop(),
  );
  link.connect();
  return { close: stop, connected: () => link.connected() };
}
