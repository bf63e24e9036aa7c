/**
 * Opening call records from settings, the interrupted-call rule, and what the entry points (chat, worker,
 * demo) and the inspector use.
 *
 * Interrupted calls: a call whose process died (SIGKILL, a crash, a power cut) stays `live` in the store.
 * Every store open looks at the live calls recorded on THIS host and marks `interrupted` (outcome
 * `interrupted`, ended at its last recorded event) those whose process (the pid recorded with the call) no
 * longer exists. Calls of other hosts are left to their own host's next open; calls of running processes
 * (several worker jobs share one SQLite file or one database) are never touched.
 */
import { hostname } from 'node:os';
import type { Call } from '../call/call.js';
import { type CallHead, digestOf, viewOf } from '../call/digest.js';
import type { CallView } from '../call/events.js';
import type { Settings } from '../config.js';
import { PostgresStore, type PostgresStoreOptions } from './postgres.js';
import { type Recorder, attachRecorder } from './recorder.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
import { type CallRow, type CallStore, NoSuchCallError } from './types.js';
import { type Deliverer, type DelivererOptions, endedWebhook, startDeliverer } from './webhooks.js';

export type { CallStore } from './types.js';
export { attachRecorder } from './recorder.js';

export type RecordSettings = Pick<Settings, 'CALLS_DB' | 'DATABASE_URL' | 'CALL_WEBHOOK_URL' | 'CALL_WEBHOOK_SECRET'> &
  Partial<Pick<Settings, 'REDACT_PII'>>;

export interface OpenStoreOptions {
  /** Enqueue `call.ended` for calls found interrupted (when webhooks are configured). */
  webhooks?: boolean;
  sqlite?: SqliteStoreOptions;
  postgres?: PostgresStoreOptions;
  /** For tests: whether a process id is alive. */
  isAlive?: (pid: number) => boolean;
}

export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it is someone else's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Marks this host's live calls whose process is gone as interrupted. Returns their ids. */
export async function interruptAbandonedCalls(
  store: CallStore,
  { webhooks = false, isAlive = pidAlive, host = hostname() }: { webhooks?: boolean; isAlive?: (pid: number) => boolean; host?: string } = {},
): Promise<string[]> {
  const out: string[] = [];
  for (const row of await store.liveCalls(host)) {
    if (row.pid !== null && isAlive(row.pid)) continue;
    const rec = await store.getCall(row.id);
    const events = rec?.events ?? [];
    const at = events.at(-1)?.at ?? row.updatedAt;
    const d = digestOf(row.id, events.map((e) => e.event));
    d.endedAt = at;
    const hooks = webhooks ? [endedWebhook(d, 'interrupted', 'interrupted', at)] : [];
    if (await store.markInterrupted(row.id, at, hooks)) out.push(row.id);
  }
  return out;
}

export interface OpenedStore {
  store: CallStore;
  /** Calls found interrupted by this open. */
  interrupted: string[];
}

/** `DATABASE_URL` → PostgreSQL; else `CALLS_DB` (a file) → SQLite; `CALLS_DB=off` → null. */
export async function openStore(
  s: Pick<Settings, 'CALLS_DB' | 'DATABASE_URL'>,
  opts: OpenStoreOptions = {},
): Promise<OpenedStore | null> {
  let store: CallStore;
  if (s.DATABASE_URL) store = await PostgresStore.open(s.DATABASE_URL, opts.postgres);
  else if (!s.CALLS_DB || s.CALLS_DB === 'off') return null;
  else {
    try {
      store = new SqliteStore(s.CALLS_DB, opts.sqlite);
    } catch (err) {
      throw new Error(`cannot open call records at ${s.CALLS_DB}: ${(err as Error).message}`);
    }
  }
  try {
    const interrupted = await interruptAbandonedCalls(store, { webhooks: opts.webhooks, isAlive: opts.isAlive });
    return { store, interrupted };
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
}

/** A past call as the inspector's list has it: the view's head, and its response time when it was measured. */
export type PastCallView = CallView & { response?: { p50: number; p95: number; turns: number } };

/** What the inspector server's `records` option expects. */
export interface InspectorRecords {
  /** The newest `limit` calls, or (`before`: a call id) those listed after that call; null: no such call. */
  list(limit: number, before?: string): Promise<PastCallView[] | null>;
  get(callId: string): Promise<CallView | null>;
}

/**
 * A call's response time over its turns, p50 / p95 nearest-rank (as `npm run calls` and the page figure it;
 * src/cli/turn-figures.ts, which records may not import); undefined when none was measured (a text call).
 */
function responseOf(turns: CallRow['turns']): PastCallView['response'] {
  const sorted = turns.flatMap((t) => (t.responseMs === null ? [] : [t.responseMs])).sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
  return sorted.length ? { p50: at(50), p95: at(95), turns: sorted.length } : undefined;
}

/** A calls row as the view's head: its outcome is the view's end reason. */
export function headOf(row: CallRow): CallHead {
  return {
    callId: row.id,
    worker: row.worker,
    live: row.status === 'live',
    startedAt: row.startedAt,
    endedAt: row.endedAt,
    state: row.state,
    handoffCount: row.handoffCount,
    maxHandoffs: row.maxHandoffs,
    humanAvailable: row.humanAvailable,
    caller: row.caller,
    endReason: row.outcome,
    recording: row.recording,
  };
}

export function inspectorRecords(store: CallStore): InspectorRecords {
  return {
    async list(limit, before) {
      let rows: CallRow[];
      try {
        rows = await store.listCalls({ limit, ...(before !== undefined ? { before: { id: before } } : {}) });
      } catch (err) {
        if (err instanceof NoSuchCallError) return null;
        throw err;
      }
      return rows.map((row) => {
        const response = responseOf(row.turns);
        return { ...viewOf(headOf(row), null), ...(response ? { response } : {}) };
      });
    },
    async get(callId) {
      const rec = await store.getCall(callId);
      return rec ? viewOf(headOf(rec.call), rec.events.map((e) => e.event)) : null;
    },
  };
}

export interface Records {
  store: CallStore;
  deliverer: Deliverer | null;
  interrupted: string[];
  inspector: InspectorRecords;
  /** Records a call (and enqueues its webhooks when CALL_WEBHOOK_URL is set), masked when REDACT_PII=on. */
  attach(call: Call, worker: string): Recorder;
  /** Gives the deliverer up to `drainMs` to empty the outbox, then stops it and closes the store. */
  close(opts?: { drainMs?: number }): Promise<void>;
}

/**
 * The entry points' one call: opens the store from settings (null when records are off), starts the
 * webhook deliverer when CALL_WEBHOOK_URL is set. Problems go to `onError` (stderr, the worker's log).
 */
export async function openRecords(
  s: RecordSettings,
  {
    onError = () => undefined,
    deliver = true,
    deliverer: delivererOptions,
    ...storeOptions
  }: OpenStoreOptions & { onError?: (message: string) => void; deliver?: boolean; deliverer?: Partial<DelivererOptions> } = {},
): Promise<Records | null> {
  const webhooks = Boolean(s.CALL_WEBHOOK_URL);
  const opened = await openStore(s, { webhooks, ...storeOptions });
  if (!opened) {
    if (webhooks) onError('CALL_WEBHOOK_URL is set but call records are off (CALLS_DB=off): webhooks need the records store; none will be sent');
    return null;
  }
  const { store, interrupted } = opened;
  const deliverer =
    webhooks && deliver
      ? startDeliverer(store, { url: s.CALL_WEBHOOK_URL!, secret: s.CALL_WEBHOOK_SECRET, onError, ...delivererOptions })
      : null;
  let closed = false;
  return {
    store,
    deliverer,
    interrupted,
    inspector: inspectorRecords(store),
    attach(call, worker) {
      return attachRecorder(call, store, {
        worker,
        webhooks,
        redact: s.REDACT_PII === 'on',
        onError,
        onWritten: (_seq, e) => {
          if (e.type === 'started' || e.type === 'handoff' || e.type === 'end') deliverer?.wake();
        },
      });
    },
    async close({ drainMs = 0 } = {}) {
      if (closed) return;
      closed = true;
      if (deliverer) {
        if (drainMs > 0) await deliverer.drain(drainMs);
        await deliverer.stop();
      }
      await store.close();
    },
  };
}
