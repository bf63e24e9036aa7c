/**
 * Call webhooks: `call.started`, `call.transferred` (each accepted transfer) and `call.ended`, POSTed as
 * JSON to `CALL_WEBHOOK_URL`.
 *
 * - Durable: a webhook is a row of the store's outbox, written in the same transaction as the call event
 *   that caused it. The deliverer sends what the outbox holds; rows survive restarts and are sent by the
 *   next process that opens the store with a deliverer.
 * - At least once: a row is marked delivered only on a 2xx answer. Anything else (an error status, a
 *   refused connection, no answer within `timeoutMs`) is retried with exponential backoff and jitter
 *   (0.5 s doubling to 60 s by default). The delivery id (`webhook-id`, and `id` in the body) is fixed
 *   when the row is written, so retries and duplicates carry the same id: receivers dedupe on it.
 * - In order per call: only the oldest undelivered webhook of a call is sent, so `call.started` arrives
 *   before that call's transfers and `call.ended`.
 * - Never in the call's way: the recorder only inserts rows; requests run in the background.
 * - Signed the Standard Webhooks way (https://www.standardwebhooks.com), so any receiver's Standard
 *   Webhooks library verifies it as it is: headers `webhook-id`, `webhook-timestamp` (unix seconds) and
 *   `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed with the secret
 *   `whsec_<base64>` decoded from base64 — see `signWebhook` and `verifyWebhook`.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { type CallDigest, summaryOf } from '../call/digest.js';
import type { CallEvent } from '../call/events.js';
import type { CallStore, OutboxInsert, OutboxRow } from './types.js';

export type WebhookType = 'call.started' | 'call.transferred' | 'call.ended';

export interface WebhookEnvelope<T = Record<string, unknown>> {
  /** The delivery id: the same on every retry. */
  id: string;
  type: WebhookType;
  /** When the webhook was created (epoch ms). */
  createdAt: number;
  callId: string;
  data: T;
}

function envelope(type: WebhookType, callId: string, data: Record<string, unknown>, at: number): OutboxInsert {
  const id = randomUUID();
  const body: WebhookEnvelope = { id, type, createdAt: at, callId, data };
  return { id, type, body: JSON.stringify(body) };
}

/**
 * The webhook an event causes (if any), given the call's digest AFTER the event was applied.
 * `worker` names the process running the call.
 */
export function webhookFor(e: CallEvent, d: CallDigest, worker: string | null): OutboxInsert | null {
  switch (e.type) {
    case 'started':
      return envelope(
        'call.started',
        d.callId,
        {
          callId: d.callId,
          worker,
          startedAt: e.at,
          state: e.state,
          caller: e.caller,
          maxHandoffs: e.maxHandoffs,
          humanAvailable: e.humanAvailable,
        },
        e.at,
      );
    case 'handoff':
      return envelope(
        'call.transferred',
        d.callId,
        {
          callId: d.callId,
          at: e.at,
          from: e.from,
          to: e.to,
          reason: e.reason,
          source: e.source,
          escalated: e.escalated,
          ...(e.mode ? { mode: e.mode } : {}),
          handoffCount: e.handoffCount,
          latencyMs: e.latencyMs,
          ...(e.stages ? { stages: e.stages } : {}),
          caller: d.caller,
        },
        e.at,
      );
    case 'end':
      return endedWebhook(d, 'ended', e.reason ?? 'completed', e.at);
    default:
      return null;
  }
}

/** `call.ended`: the route and the summary (also sent, with status `interrupted`, for interrupted calls). */
export function endedWebhook(d: CallDigest, status: 'ended' | 'interrupted', outcome: string, at: number): OutboxInsert {
  return envelope('call.ended', d.callId, summaryOf(d, status, outcome), at);
}

// ---- signatures (Standard Webhooks) -----------------------------------------------------------

/** The HMAC key of a `whsec_<base64>` secret (the prefix is optional, as in the Standard Webhooks libraries). */
export function webhookKey(secret: string): Buffer {
  const body = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  const key = Buffer.from(body, 'base64');
  if (key.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) {
    throw new Error('CALL_WEBHOOK_SECRET must be whsec_ followed by base64 (a Standard Webhooks secret)');
  }
  return key;
}

/** `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`: the `webhook-signature` header's value. */
export function signWebhook(secret: string, id: string, timestamp: string, body: string): string {
  return `v1,${createHmac('sha256', webhookKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/**
 * What a receiver does (any Standard Webhooks library does the same): recompute the signature over the
 * raw body, compare it in constant time with each `v1,` signature of the header, and refuse timestamps
 * more than `toleranceSec` away from now (replays).
 */
export function verifyWebhook(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  rawBody: string,
  { toleranceSec = 300, now = Date.now() }: { toleranceSec?: number; now?: number } = {},
): boolean {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sig = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof ts !== 'string' || typeof sig !== 'string' || !/^\d+$/.test(ts)) return false;
  if (Math.abs(now / 1000 - Number(ts)) > toleranceSec) return false;
  const expected = Buffer.from(signWebhook(secret, id, ts, rawBody));
  return sig.split(' ').some((given) => {
    const g = Buffer.from(given);
    return g.length === expected.length && timingSafeEqual(g, expected);
  });
}

// ---- the deliverer ---------------------------------------------------------------------------------

export interface DelivererOptions {
  url: string;
  /** `whsec_<base64>` (Standard Webhooks); without it, deliveries are not signed. */
  secret?: string;
  /** Per request. Default 5000 ms. */
  timeoutMs?: number;
  /** First retry delay; doubles per attempt up to `maxDelayMs`. Defaults 500 ms and 60 s. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** How often the outbox is looked at for rows written by other processes. Default 1000 ms. */
  pollMs?: number;
  /** Rows taken per pass. Default 20. */
  batch?: number;
  /** A source of randomness in [0, 1) for the jitter (seed it in tests). Default Math.random. */
  random?: () => number;
  /** A delivery problem (logged by the caller; rate-limited here to one every 30 s). */
  onError?: (message: string) => void;
}

export interface Deliverer {
  /** Look at the outbox now (the recorder calls this after enqueuing). */
  wake(): void;
  /** Waits until the outbox has nothing undelivered, or `timeoutMs`; true when empty. */
  drain(timeoutMs: number): Promise<boolean>;
  /** Stops: in-flight requests are abandoned and their rows given back (no attempt counted). */
  stop(): Promise<void>;
  stats(): { delivered: number; failedAttempts: number; inFlight: number };
}

/** Delay before retry number `attempt` (1 = first retry): base·2^(attempt-1), capped, with jitter in [½, 1]. */
export function backoffMs(attempt: number, base: number, max: number, random: () => number): number {
  const d = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(d / 2 + (random() * d) / 2);
}

/** A deterministic [0, 1) source for tests (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function startDeliverer(store: CallStore, opts: DelivererOptions): Deliverer {
  // A secret that cannot sign is said at once, not on every delivery attempt.
  if (opts.secret) webhookKey(opts.secret);
  const d = new OutboxDeliverer(store, opts);
  d.wake();
  return { wake: () => d.wake(), drain: (ms) => d.drain(ms), stop: () => d.stop(), stats: () => d.stats() };
}

/** The outcome of one POST: `ok` once the receiver answered 2xx and the row is marked delivered. */
interface Attempt {
  ok: boolean;
  status: number | null;
  error: string;
}

/** The Standard Webhooks headers of one attempt (a fresh timestamp each time; the id stays). */
function webhookHeaders(row: OutboxRow, secret: string | undefined): Record<string, string> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'switchboard-webhooks/2',
    'webhook-id': row.id,
    'webhook-timestamp': timestamp,
  };
  if (secret) headers['webhook-signature'] = signWebhook(secret, row.id, timestamp, row.body);
  return headers;
}

/** Sends one row; on a 2xx answer marks it delivered. Never throws: a failure is the Attempt's `error`. */
async function postWebhook(store: CallStore, opts: DelivererOptions, row: OutboxRow, signal: AbortSignal): Promise<Attempt> {
  let status: number | null = null;
  try {
    const res = await fetch(opts.url, { method: 'POST', headers: webhookHeaders(row, opts.secret), body: row.body, signal, redirect: 'manual' });
    status = res.status;
    await res.arrayBuffer().catch(() => undefined);
    if (status >= 200 && status < 300) {
      await store.webhookDelivered(row.id, Date.now(), status);
      return { ok: true, status, error: '' };
    }
    return { ok: false, status, error: `HTTP ${status}` };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const error = signal.aborted ? String((signal.reason as Error)?.message ?? 'aborted') : (cause?.code ?? cause?.message ?? (err as Error).message);
    return { ok: false, status, error };
  }
}

/**
 * The deliverer's loop: claim the due rows (leased, so no other deliverer sends them meanwhile), send
 * them, settle each (delivered, or failed with the next attempt's time), then sleep until the next row
 * is due or someone wakes it.
 */
class OutboxDeliverer {
  private readonly timeoutMs: number;
  private readonly base: number;
  private readonly maxDelay: number;
  private readonly pollMs: number;
  private readonly batch: number;
  private readonly random: () => number;
  /** A row is leased for longer than a request can take, so no other deliverer sends it meanwhile. */
  private readonly leaseMs: number;
  private stopped = false;
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private delivered = 0;
  private failedAttempts = 0;
  private lastErrorLog = 0;
  private readonly inFlight = new Map<string, AbortController>();

  constructor(
    private readonly store: CallStore,
    private readonly opts: DelivererOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.base = opts.baseDelayMs ?? 500;
    this.maxDelay = opts.maxDelayMs ?? 60_000;
    this.pollMs = opts.pollMs ?? 1000;
    this.batch = opts.batch ?? 20;
    this.random = opts.random ?? Math.random;
    this.leaseMs = this.timeoutMs * 2 + 5000;
  }

  stats() {
    return { delivered: this.delivered, failedAttempts: this.failedAttempts, inFlight: this.inFlight.size };
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.running = this.pass()
      .catch((err: unknown) => this.report(`webhook outbox: ${(err as Error).message}`))
      .finally(() => {
        this.running = null;
        // Woken while finishing: go again at once; otherwise sleep until the next row is due.
        if (this.again && !this.stopped) this.wake();
        else void this.schedule();
      });
  }

  async drain(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      try {
        if ((await this.store.pendingWebhooks()) === 0) return true;
      } catch {
        return false;
      }
      if (this.stopped || Date.now() >= deadline) return false;
      this.wake();
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const ids = [...this.inFlight.keys()];
    for (const ac of this.inFlight.values()) ac.abort(new Error('deliverer stopped'));
    await this.running?.catch(() => undefined);
    await this.store.releaseWebhooks(ids, Date.now()).catch(() => undefined);
  }

  /** A delivery problem, reported at most once every 30 s. */
  private report(message: string): void {
    const now = Date.now();
    if (!this.opts.onError || now - this.lastErrorLog < 30_000) return;
    this.lastErrorLog = now;
    this.opts.onError(message);
  }

  /** Claims and sends batches until nothing more is due. */
  private async pass(): Promise<void> {
    do {
      this.again = false;
      if (this.stopped) return;
      const rows = await this.store.claimWebhooks(Date.now(), this.batch, this.leaseMs);
      const results = await Promise.all(rows.map((row) => this.send(row)));
      // A delivered row may have let the next webhook of its call become the head: look again.
      if (results.some(Boolean) || rows.length === this.batch) this.again = true;
    } while (this.again && !this.stopped);
  }

  /** Sends one claimed row within `timeoutMs` and settles it; true when delivered. */
  private async send(row: OutboxRow): Promise<boolean> {
    const ac = new AbortController();
    this.inFlight.set(row.id, ac);
    const t = setTimeout(() => ac.abort(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    let attempt: Attempt;
    try {
      attempt = await postWebhook(this.store, this.opts, row, ac.signal);
    } finally {
      clearTimeout(t);
      this.inFlight.delete(row.id);
    }
    if (attempt.ok) {
      this.delivered++;
      return true;
    }
    if (this.stopped) return false; // given back by stop()
    await this.settleFailure(row, attempt);
    return false;
  }

  /** A failed attempt: counted, reported, and the row scheduled for its next try with backoff. */
  private async settleFailure(row: OutboxRow, { status, error }: Attempt): Promise<void> {
    this.failedAttempts++;
    const next = Date.now() + backoffMs(row.attempts + 1, this.base, this.maxDelay, this.random);
    this.report(`webhook ${row.type} ${row.id} to ${this.opts.url} failed (${error}); retrying with backoff`);
    await this.store.webhookFailed(row.id, next, status, error).catch(() => undefined);
  }

  /** Sleeps until the next row is due (at most `pollMs`: other processes write rows too). */
  private async schedule(): Promise<void> {
    if (this.stopped) return;
    let delay = this.pollMs;
    try {
      const due = await this.store.nextWebhookDue();
      if (due !== null) delay = Math.max(10, Math.min(this.pollMs, due - Date.now()));
    } catch {
      /* the next pass reports it */
    }
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), delay);
    this.timer.unref();
  }
}
