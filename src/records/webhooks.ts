/**
 * Call webhooks: `call.started`, `call.transferred` (each accepted transfer) and `call.ended`, POSTed as
 * JSON to `CALL_WEBHOOK_URL`.
 *
 * - Durable: a webhook is a row of the store's outbox, written in the same transaction as the call event
 *   that caused it. The deliverer sends what the outbox holds; rows survive restarts and are sent by the
 *   next process that opens the store with a deliverer.
 * - At least once: a row is marked delivered only on a 2xx answer. Anything else (an error status, a
 *   refused connection, no answer within `timeoutMs`) is retried with exponential backoff and jitter
 *   (0.5 s doubling to 60 s by default). The delivery id (`x-switchboard-delivery`, and `id` in the body)
 *   is fixed when the row is written, so retries and duplicates carry the same id: receivers dedupe on it.
 * - In order per call: only the oldest undelivered webhook of a call is sent, so `call.started` arrives
 *   before that call's transfers and `call.ended`.
 * - Never in the call's way: the recorder only inserts rows; requests run in the background.
 * - Signed: `x-switchboard-signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, with
 *   `x-switchboard-timestamp` (unix seconds) — see `verifyWebhook`.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { CallEvent } from '../orchestrator.js';
import { type CallDigest, summaryOf } from './digest.js';
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
          handoffCount: e.handoffCount,
          latencyMs: e.latencyMs,
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

// ---- signatures ------------------------------------------------------------------------------------

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * What a receiver does: recompute the signature over the raw body, compare in constant time, and refuse
 * timestamps more than `toleranceSec` away from now (replays).
 */
export function verifyWebhook(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  rawBody: string,
  { toleranceSec = 300, now = Date.now() }: { toleranceSec?: number; now?: number } = {},
): boolean {
  const ts = headers['x-switchboard-timestamp'];
  const sig = headers['x-switchboard-signature'];
  if (typeof ts !== 'string' || typeof sig !== 'string' || !/^\d+$/.test(ts)) return false;
  if (Math.abs(now / 1000 - Number(ts)) > toleranceSec) return false;
  const expected = Buffer.from(signWebhook(secret, ts, rawBody));
  const given = Buffer.from(sig);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

// ---- the deliverer ---------------------------------------------------------------------------------

export interface DelivererOptions {
  url: string;
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
  const timeoutMs = opts.timeoutMs ?? 5000;
  const base = opts.baseDelayMs ?? 500;
  const maxDelay = opts.maxDelayMs ?? 60_000;
  const pollMs = opts.pollMs ?? 1000;
  const batch = opts.batch ?? 20;
  const random = opts.random ?? Math.random;
  // A row is leased for longer than a request can take, so no other deliverer sends it meanwhile.
  const leaseMs = timeoutMs * 2 + 5000;
  let stopped = false;
  let running: Promise<void> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | null = null;
  let delivered = 0;
  let failedAttempts = 0;
  let lastErrorLog = 0;
  const inFlight = new Map<string, AbortController>();

  const report = (message: string) => {
    const now = Date.now();
    if (!opts.onError || now - lastErrorLog < 30_000) return;
    lastErrorLog = now;
    opts.onError(message);
  };

  async function send(row: OutboxRow): Promise<boolean> {
    const ac = new AbortController();
    inFlight.set(row.id, ac);
    const t = setTimeout(() => ac.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'switchboard-webhooks/1',
      'x-switchboard-event': row.type,
      'x-switchboard-delivery': row.id,
      'x-switchboard-timestamp': timestamp,
    };
    if (opts.secret) headers['x-switchboard-signature'] = signWebhook(opts.secret, timestamp, row.body);
    let status: number | null = null;
    let error = '';
    try {
      const res = await fetch(opts.url, { method: 'POST', headers, body: row.body, signal: ac.signal, redirect: 'manual' });
      status = res.status;
      await res.arrayBuffer().catch(() => undefined);
      if (status >= 200 && status < 300) {
        await store.webhookDelivered(row.id, Date.now(), status);
        delivered++;
        return true;
      }
      error = `HTTP ${status}`;
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      error = ac.signal.aborted ? String((ac.signal.reason as Error)?.message ?? 'aborted') : (cause?.code ?? cause?.message ?? (err as Error).message);
    } finally {
      clearTimeout(t);
      inFlight.delete(row.id);
    }
    if (stopped) return false; // given back by stop()
    failedAttempts++;
    const next = Date.now() + backoffMs(row.attempts + 1, base, maxDelay, random);
    report(`webhook ${row.type} ${row.id} to ${opts.url} failed (${error}); retrying with backoff`);
    await store.webhookFailed(row.id, next, status, error).catch(() => undefined);
    return false;
  }

  async function pass(): Promise<void> {
    do {
      again = false;
      if (stopped) return;
      const rows = await store.claimWebhooks(Date.now(), batch, leaseMs);
      const results = await Promise.all(rows.map(send));
      // A delivered row may have let the next webhook of its call become the head: look again.
      if (results.some(Boolean) || rows.length === batch) again = true;
    } while (again && !stopped);
  }

  async function schedule(): Promise<void> {
    if (stopped) return;
    let delay = pollMs;
    try {
      const due = await store.nextWebhookDue();
      if (due !== null) delay = Math.max(10, Math.min(pollMs, due - Date.now()));
    } catch {
      /* the next pass reports it */
    }
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(wake, delay);
    timer.unref();
  }

  function wake(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    running = pass()
      .catch((err: unknown) => report(`webhook outbox: ${(err as Error).message}`))
      .finally(() => {
        running = null;
        // Woken while finishing: go again at once; otherwise sleep until the next row is due.
        if (again && !stopped) wake();
        else void schedule();
      });
  }

  wake();

  return {
    wake,
    stats: () => ({ delivered, failedAttempts, inFlight: inFlight.size }),
    async drain(ms: number): Promise<boolean> {
      const deadline = Date.now() + ms;
      for (;;) {
        try {
          if ((await store.pendingWebhooks()) === 0) return true;
        } catch {
          return false;
        }
        if (stopped || Date.now() >= deadline) return false;
        wake();
        await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
      }
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      const ids = [...inFlight.keys()];
      for (const ac of inFlight.values()) ac.abort(new Error('deliverer stopped'));
      await running?.catch(() => undefined);
      await store.releaseWebhooks(ids, Date.now()).catch(() => undefined);
    },
  };
}
