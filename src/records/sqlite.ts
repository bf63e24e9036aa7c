/**
 * The embedded store: one SQLite file (`CALLS_DB`, default `data/calls.sqlite`), zero setup.
 *
 * node-sqlite3-wasm (SQLite compiled to WebAssembly, file-backed through Node's fs) has no shared-memory
 * VFS, so WAL is not available: the file uses SQLite's rollback journal with `synchronous=FULL`, and every
 * event is its own committed transaction, finished (journal deleted, file synced) before `record()`
 * returns. A process killed at any point loses nothing it had recorded; a transaction cut short is rolled
 * back from its journal by the next open.
 *
 * Several processes may share the file (the worker runs each call in its own process). The VFS locks the
 * whole file with a `<file>.lock` directory for the length of one statement or transaction, and it has no
 * sleep, so SQLite's busy_timeout cannot wait: this store retries a locked file itself for up to
 * `busyTimeoutMs`. A lock directory older than `staleLockMs` was left by a killed process (a transaction
 * here lasts milliseconds) and is removed.
 */
import { mkdirSync, rmdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import type { Database as SqliteDatabase, SQLiteValue } from 'node-sqlite3-wasm';
import { HEAD_OF_CALL, MIGRATIONS, listCallsSql, pageOf, upsertCallSql } from './migrations.js';

const UPSERT_CALL = upsertCallSql(() => '?');
const LIST_FIRST = listCallsSql((i) => `?${i}`, false);
const LIST_AFTER = listCallsSql((i) => `?${i}`, true);
import type { CallRecord, CallRow, CallStore, CallsPage, OutboxInsert, OutboxRow, RecordWrite, StoredEvent } from './types.js';
import { DuplicateCallError, NoSuchCallError, outboxFromRow } from './types.js';

const { Database } = createRequire(import.meta.url)('node-sqlite3-wasm') as typeof import('node-sqlite3-wasm');

export interface SqliteStoreOptions {
  /** How long a locked file is retried before the operation fails. Default 5000 ms. */
  busyTimeoutMs?: number;
  /** A lock older than this is taken to be left by a dead process. Default 3000 ms. */
  staleLockMs?: number;
  /** Fail instead of creating the file (the CLI reads; it does not create). */
  mustExist?: boolean;
}

type Row = Record<string, SQLiteValue>;

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const isBusy = (err: unknown) => err instanceof Error && /database is (locked|busy)|SQLITE_BUSY/i.test(err.message);
const num = (v: SQLiteValue | undefined): number | null => (v === null || v === undefined ? null : Number(v));

export function callFromRow(r: Row): CallRow {
  return {
    id: String(r.id),
    worker: r.worker === null ? null : String(r.worker),
    host: r.host === null ? null : String(r.host),
    pid: num(r.pid),
    startedAt: Number(r.started_at),
    endedAt: num(r.ended_at),
    updatedAt: Number(r.updated_at),
    status: String(r.status) as CallRow['status'],
    outcome: r.outcome === null ? null : String(r.outcome),
    state: String(r.state),
    department: String(r.department),
    handoffCount: Number(r.handoff_count),
    maxHandoffs: num(r.max_handoffs),
    humanAvailable: Boolean(Number(r.human_available)),
    caller: JSON.parse(String(r.caller ?? '{}')),
    turns: JSON.parse(String(r.turns ?? '[]')),
    recording: r.recording === null || r.recording === undefined ? null : JSON.parse(String(r.recording)),
  };
}

export class SqliteStore implements CallStore {
  readonly kind = 'sqlite' as const;
  readonly location: string;
  private readonly db: SqliteDatabase;
  private readonly busyTimeoutMs: number;
  private readonly staleLockMs: number;
  private closed = false;

  constructor(file: string, opts: SqliteStoreOptions = {}) {
    this.location = resolve(file);
    this.busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
    this.staleLockMs = opts.staleLockMs ?? 3000;
    if (!opts.mustExist) mkdirSync(dirname(this.location), { recursive: true });
    this.db = new Database(this.location, { fileMustExist: opts.mustExist ?? false });
    try {
      this.locked(() => {
        this.db.exec('PRAGMA synchronous = FULL');
        this.db.exec('PRAGMA journal_mode = DELETE');
      });
      this.migrate();
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  /** Runs `fn`, retrying while another process holds the file's lock. */
  private locked<T>(fn: () => T): T {
    const deadline = Date.now() + this.busyTimeoutMs;
    let wait = 2;
    for (;;) {
      try {
        return fn();
      } catch (err) {
        if (!isBusy(err)) throw err;
        if (this.removeStaleLock()) continue;
        if (Date.now() >= deadline) throw new Error(`${this.location} is locked by another process (waited ${this.busyTimeoutMs} ms)`);
        sleepSync(wait + Math.random() * wait);
        wait = Math.min(wait * 2, 50);
      }
    }
  }

  private removeStaleLock(): boolean {
    const lock = `${this.location}.lock`;
    try {
      if (Date.now() - statSync(lock).mtimeMs < this.staleLockMs) return false;
      rmdirSync(lock);
      return true;
    } catch {
      return false;
    }
  }

  /** One IMMEDIATE transaction (the write lock up front), committed before returning. */
  private tx<T>(fn: () => T): T {
    return this.locked(() => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const out = fn();
        this.db.exec('COMMIT');
        return out;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  private migrate(): void {
    this.tx(() => {
      this.db.exec(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
      );
      const done = new Set(this.db.all('SELECT version FROM schema_migrations').map((r) => Number(r.version)));
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        this.db.exec(m.sqlite);
        this.db.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, Date.now()]);
      }
    });
  }

  async migrations(): Promise<number[]> {
    return this.locked(() => this.db.all('SELECT version FROM schema_migrations ORDER BY version').map((r) => Number(r.version)));
  }

  private insertWebhooks(callId: string, hooks: OutboxInsert[] | undefined, now: number): void {
    for (const h of hooks ?? []) {
      this.db.run(
        'INSERT INTO webhook_outbox (id, call_id, type, body, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)',
        [h.id, callId, h.type, h.body, now, now],
      );
    }
  }

  async record(w: RecordWrite): Promise<number> {
    const now = Date.now();
    return this.tx(() => {
      const seq = Number(
        this.db.get('SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM events WHERE call_id = ?', [w.callId])!.seq,
      );
      if (w.first && seq !== 1) throw new DuplicateCallError(w.callId);
      this.db.run('INSERT INTO events (call_id, seq, at, type, data) VALUES (?, ?, ?, ?, ?)', [
        w.callId,
        seq,
        w.event.at,
        w.event.type,
        JSON.stringify(w.event),
      ]);
      if (w.call) {
        const r = w.call;
        this.db.run(UPSERT_CALL, [
          w.callId, r.worker, r.host, r.pid, r.startedAt, r.endedAt, now, r.status, r.outcome, r.state, r.department,
          r.handoffCount, r.maxHandoffs, r.humanAvailable ? 1 : 0, JSON.stringify(r.caller), JSON.stringify(r.turns ?? []),
          r.recording ? JSON.stringify(r.recording) : null,
        ]);
      }
      this.insertWebhooks(w.callId, w.webhooks, now);
      return seq;
    });
  }

  async liveCalls(host: string): Promise<CallRow[]> {
    return this.locked(() => this.db.all("SELECT * FROM calls WHERE status = 'live' AND host = ?", [host]).map((r) => callFromRow(r as Row)));
  }

  async markInterrupted(callId: string, at: number, webhooks: OutboxInsert[]): Promise<boolean> {
    const now = Date.now();
    return this.tx(() => {
      const { changes } = this.db.run(
        "UPDATE calls SET status = 'interrupted', outcome = 'interrupted', ended_at = ?, updated_at = ? WHERE id = ? AND status = 'live'",
        [at, now, callId],
      );
      if (changes === 0) return false;
      this.insertWebhooks(callId, webhooks, now);
      return true;
    });
  }

  async listCalls(query: number | CallsPage): Promise<CallRow[]> {
    const { limit, before } = pageOf(query);
    return this.locked(() => {
      if (!before) return this.db.all(LIST_FIRST, [limit]).map((r) => callFromRow(r as Row));
      const startedAt = before.startedAt ?? num(this.db.get('SELECT started_at FROM calls WHERE id = ?', [before.id])?.started_at as SQLiteValue | undefined);
      if (startedAt === null) throw new NoSuchCallError(before.id);
      return this.db.all(LIST_AFTER, [startedAt, before.id, limit]).map((r) => callFromRow(r as Row));
    });
  }

  async getCall(callId: string): Promise<CallRecord | null> {
    return this.locked(() => {
      const row = this.db.get('SELECT * FROM calls WHERE id = ?', [callId]);
      if (!row) return null;
      const events: StoredEvent[] = this.db
        .all('SELECT call_id, seq, at, type, data FROM events WHERE call_id = ? ORDER BY seq', [callId])
        .map((r) => ({
          callId: String(r.call_id),
          seq: Number(r.seq),
          at: Number(r.at),
          type: String(r.type) as StoredEvent['type'],
          event: JSON.parse(String(r.data)),
        }));
      return { call: callFromRow(row as Row), events };
    });
  }

  async claimWebhooks(now: number, limit: number, leaseMs: number): Promise<OutboxRow[]> {
    return this.tx(() => {
      const rows = this.db
        .all(
          `SELECT * FROM webhook_outbox o WHERE o.delivered_at IS NULL AND o.next_attempt_at <= ? AND ${HEAD_OF_CALL}
           ORDER BY o.n LIMIT ?`,
          [now, limit],
        )
        .map((r) => outboxFromRow(r as Record<string, unknown>));
      for (const r of rows) this.db.run('UPDATE webhook_outbox SET next_attempt_at = ? WHERE id = ?', [now + leaseMs, r.id]);
      return rows;
    });
  }

  async nextWebhookDue(): Promise<number | null> {
    return this.locked(() => {
      const r = this.db.get(`SELECT MIN(o.next_attempt_at) AS due FROM webhook_outbox o WHERE o.delivered_at IS NULL AND ${HEAD_OF_CALL}`);
      return num(r?.due as SQLiteValue | undefined);
    });
  }

  async webhookDelivered(id: string, at: number, status: number): Promise<void> {
    this.tx(() =>
      this.db.run('UPDATE webhook_outbox SET delivered_at = ?, attempts = attempts + 1, last_status = ?, last_error = NULL WHERE id = ?', [at, status, id]),
    );
  }

  async webhookFailed(id: string, nextAttemptAt: number, status: number | null, error: string): Promise<void> {
    this.tx(() =>
      this.db.run(
        'UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_status = ?, last_error = ? WHERE id = ? AND delivered_at IS NULL',
        [nextAttemptAt, status, error.slice(0, 500), id],
      ),
    );
  }

  async releaseWebhooks(ids: string[], now: number): Promise<void> {
    if (ids.length === 0) return;
    this.tx(() => {
      for (const id of ids) this.db.run('UPDATE webhook_outbox SET next_attempt_at = ? WHERE id = ? AND delivered_at IS NULL', [now, id]);
    });
  }

  async webhooks(): Promise<OutboxRow[]> {
    return this.locked(() => this.db.all('SELECT * FROM webhook_outbox ORDER BY n').map((r) => outboxFromRow(r as Record<string, unknown>)));
  }

  async pendingWebhooks(): Promise<number> {
    return this.locked(() => Number(this.db.get('SELECT COUNT(*) AS n FROM webhook_outbox WHERE delivered_at IS NULL')!.n));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
