/**
 * The shared store: PostgreSQL (`DATABASE_URL=postgres://…`), for several workers on several machines.
 * Same tables and migrations as SQLite; every event is one committed transaction (event, calls row,
 * webhooks). Migrations take a transaction-scoped advisory lock, so workers starting together apply each
 * migration once.
 */
import pg from 'pg';
import { HEAD_OF_CALL, MIGRATIONS, listCallsSql, pageOf, upsertCallSql } from './migrations.js';

const UPSERT_CALL = upsertCallSql((i) => `$${i}`);
const LIST_FIRST = listCallsSql((i) => `$${i}`, false);
const LIST_AFTER = listCallsSql((i) => `$${i}`, true);
import type { CallRecord, CallRow, CallStore, CallsPage, OutboxInsert, OutboxRow, RecordWrite } from './types.js';
import { DuplicateCallError, NoSuchCallError, outboxFromRow } from './types.js';

export interface PostgresStoreOptions {
  /** Keep the tables in this schema (created if missing); default: the connection's search_path. */
  schema?: string;
  /** Pool size. Default 4. */
  max?: number;
  connectionTimeoutMs?: number;
}

/** A lock id for migrations: any constant, the same in every process. */
const MIGRATION_LOCK = 7_300_417;

const n = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function callFromRow(r: Record<string, unknown>): CallRow {
  return {
    id: String(r.id),
    worker: (r.worker as string | null) ?? null,
    host: (r.host as string | null) ?? null,
    pid: n(r.pid),
    startedAt: Number(r.started_at),
    endedAt: n(r.ended_at),
    updatedAt: Number(r.updated_at),
    status: r.status as CallRow['status'],
    outcome: (r.outcome as string | null) ?? null,
    state: String(r.state),
    department: String(r.department),
    handoffCount: Number(r.handoff_count),
    maxHandoffs: n(r.max_handoffs),
    humanAvailable: Boolean(r.human_available),
    caller: (r.caller ?? {}) as CallRow['caller'],
    turns: (r.turns ?? []) as CallRow['turns'],
    recording: (r.recording ?? null) as CallRow['recording'],
  };
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

export class PostgresStore implements CallStore {
  readonly kind = 'postgres' as const;
  readonly location: string;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    url: string,
  ) {
    this.location = redactUrl(url);
  }

  static async open(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.max ?? 4,
      connectionTimeoutMillis: opts.connectionTimeoutMs ?? 5000,
      ...(opts.schema ? { options: `-c search_path=${ident(opts.schema)}` } : {}),
    });
    // An idle client losing its connection must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    const store = new PostgresStore(pool, url);
    try {
      if (opts.schema) await pool.query(`CREATE SCHEMA IF NOT EXISTS ${ident(opts.schema)}`);
      await store.migrate();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new Error(`cannot open call records at ${store.location}: ${(err as Error).message}`);
    }
    return store;
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  private async migrate(): Promise<void> {
    await this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await c.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
      );
      const { rows } = await c.query<{ version: number }>('SELECT version FROM schema_migrations');
      const done = new Set(rows.map((r) => Number(r.version)));
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        await c.query(m.postgres);
        await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
      }
    });
  }

  async migrations(): Promise<number[]> {
    const { rows } = await this.pool.query('SELECT version FROM schema_migrations ORDER BY version');
    return rows.map((r) => Number(r.version));
  }

  private async insertWebhooks(c: pg.PoolClient, callId: string, hooks: OutboxInsert[] | undefined, now: number) {
    for (const h of hooks ?? []) {
      await c.query(
        'INSERT INTO webhook_outbox (id, call_id, type, body, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $5)',
        [h.id, callId, h.type, h.body, now],
      );
    }
  }

  async record(w: RecordWrite): Promise<number> {
    const now = Date.now();
    return this.tx(async (c) => {
      if (w.first) {
        const existing = await c.query('SELECT 1 FROM events WHERE call_id = $1 LIMIT 1', [w.callId]);
        if (existing.rowCount) throw new DuplicateCallError(w.callId);
      }
      const { rows } = await c.query<{ seq: number }>(
        `INSERT INTO events (call_id, seq, at, type, data)
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4 FROM events WHERE call_id = $1
         RETURNING seq`,
        [w.callId, w.event.at, w.event.type, JSON.stringify(w.event)],
      );
      if (w.call) {
        const r = w.call;
        await c.query(UPSERT_CALL, [
          w.callId, r.worker, r.host, r.pid, r.startedAt, r.endedAt, now, r.status, r.outcome, r.state, r.department,
          r.handoffCount, r.maxHandoffs, r.humanAvailable, JSON.stringify(r.caller), JSON.stringify(r.turns ?? []),
          r.recording ? JSON.stringify(r.recording) : null,
        ]);
      }
      await this.insertWebhooks(c, w.callId, w.webhooks, now);
      return Number(rows[0]!.seq);
    });
  }

  async liveCalls(host: string): Promise<CallRow[]> {
    const { rows } = await this.pool.query("SELECT * FROM calls WHERE status = 'live' AND host = $1", [host]);
    return rows.map(callFromRow);
  }

  async markInterrupted(callId: string, at: number, webhooks: OutboxInsert[]): Promise<boolean> {
    const now = Date.now();
    return this.tx(async (c) => {
      const { rowCount } = await c.query(
        "UPDATE calls SET status = 'interrupted', outcome = 'interrupted', ended_at = $1, updated_at = $2 WHERE id = $3 AND status = 'live'",
        [at, now, callId],
      );
      if (!rowCount) return false;
      await this.insertWebhooks(c, callId, webhooks, now);
      return true;
    });
  }

  async listCalls(query: number | CallsPage): Promise<CallRow[]> {
    const { limit, before } = pageOf(query);
    if (!before) return (await this.pool.query(LIST_FIRST, [limit])).rows.map(callFromRow);
    let startedAt = before.startedAt;
    if (startedAt === undefined) {
      const { rows } = await this.pool.query('SELECT started_at FROM calls WHERE id = $1', [before.id]);
      if (!rows[0]) throw new NoSuchCallError(before.id);
      startedAt = Number(rows[0].started_at);
    }
    return (await this.pool.query(LIST_AFTER, [startedAt, before.id, limit])).rows.map(callFromRow);
  }

  async getCall(callId: string): Promise<CallRecord | null> {
    const { rows } = await this.pool.query('SELECT * FROM calls WHERE id = $1', [callId]);
    if (!rows[0]) return null;
    const ev = await this.pool.query('SELECT call_id, seq, at, type, data FROM events WHERE call_id = $1 ORDER BY seq', [callId]);
    return {
      call: callFromRow(rows[0]),
      events: ev.rows.map((r) => ({ callId: r.call_id, seq: Number(r.seq), at: Number(r.at), type: r.type, event: r.data })),
    };
  }

  async claimWebhooks(now: number, limit: number, leaseMs: number): Promise<OutboxRow[]> {
    // SKIP LOCKED: deliverers in other processes take other rows instead of waiting for these.
    const { rows } = await this.pool.query(
      `UPDATE webhook_outbox SET next_attempt_at = $2
       WHERE id IN (
         SELECT o.id FROM webhook_outbox o
         WHERE o.delivered_at IS NULL AND o.next_attempt_at <= $1 AND ${HEAD_OF_CALL}
         ORDER BY o.n LIMIT $3 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [now, now + leaseMs, limit],
    );
    return rows.map(outboxFromRow).sort((a, b) => a.createdAt - b.createdAt);
  }

  async nextWebhookDue(): Promise<number | null> {
    const { rows } = await this.pool.query(
      `SELECT MIN(o.next_attempt_at) AS due FROM webhook_outbox o WHERE o.delivered_at IS NULL AND ${HEAD_OF_CALL}`,
    );
    return n(rows[0]?.due);
  }

  async webhookDelivered(id: string, at: number, status: number): Promise<void> {
    await this.pool.query(
      'UPDATE webhook_outbox SET delivered_at = $1, attempts = attempts + 1, last_status = $2, last_error = NULL WHERE id = $3',
      [at, status, id],
    );
  }

  async webhookFailed(id: string, nextAttemptAt: number, status: number | null, error: string): Promise<void> {
    await this.pool.query(
      'UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = $1, last_status = $2, last_error = $3 WHERE id = $4 AND delivered_at IS NULL',
      [nextAttemptAt, status, error.slice(0, 500), id],
    );
  }

  async releaseWebhooks(ids: string[], now: number): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query('UPDATE webhook_outbox SET next_attempt_at = $1 WHERE id = ANY($2) AND delivered_at IS NULL', [now, ids]);
  }

  async webhooks(): Promise<OutboxRow[]> {
    const { rows } = await this.pool.query('SELECT * FROM webhook_outbox ORDER BY n');
    return rows.map(outboxFromRow);
  }

  async pendingWebhooks(): Promise<number> {
    const { rows } = await this.pool.query('SELECT COUNT(*) AS n FROM webhook_outbox WHERE delivered_at IS NULL');
    return Number(rows[0].n);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
