/**
 * Numbered schema migrations, one list for both stores. Applied at open, in order, each in a transaction
 * together with its row in `schema_migrations`; an applied migration is never run again, so opening a
 * store any number of times (from any number of processes) is idempotent. Never edit a released
 * migration: add the next number.
 */
import type { CallsPage } from './types.js';

export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'calls and events',
    sqlite: `
      CREATE TABLE calls (
        id TEXT PRIMARY KEY,
        worker TEXT,
        host TEXT,
        pid INTEGER,
        started_at INTEGER NOT NULL,
        ended_at INTEGER,
        updated_at INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('live', 'ended', 'interrupted')),
        outcome TEXT,
        state TEXT NOT NULL,
        department TEXT NOT NULL,
        handoff_count INTEGER NOT NULL DEFAULT 0,
        max_handoffs INTEGER,
        human_available INTEGER NOT NULL DEFAULT 0,
        caller TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX calls_started_at ON calls (started_at DESC);
      CREATE INDEX calls_live ON calls (host) WHERE status = 'live';
      CREATE TABLE events (
        call_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        type TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (call_id, seq)
      );`,
    postgres: `
      CREATE TABLE calls (
        id TEXT PRIMARY KEY,
        worker TEXT,
        host TEXT,
        pid INTEGER,
        started_at BIGINT NOT NULL,
        ended_at BIGINT,
        updated_at BIGINT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('live', 'ended', 'interrupted')),
        outcome TEXT,
        state TEXT NOT NULL,
        department TEXT NOT NULL,
        handoff_count INTEGER NOT NULL DEFAULT 0,
        max_handoffs INTEGER,
        human_available BOOLEAN NOT NULL DEFAULT FALSE,
        caller JSONB NOT NULL DEFAULT '{}'
      );
      CREATE INDEX calls_started_at ON calls (started_at DESC);
      CREATE INDEX calls_live ON calls (host) WHERE status = 'live';
      CREATE TABLE events (
        call_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at BIGINT NOT NULL,
        type TEXT NOT NULL,
        data JSONB NOT NULL,
        PRIMARY KEY (call_id, seq)
      );`,
  },
  {
    version: 2,
    name: 'webhook outbox',
    sqlite: `
      CREATE TABLE webhook_outbox (
        n INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        call_id TEXT NOT NULL,
        type TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        delivered_at INTEGER,
        last_status INTEGER,
        last_error TEXT
      );
      CREATE INDEX webhook_outbox_pending ON webhook_outbox (call_id, n) WHERE delivered_at IS NULL;`,
    postgres: `
      CREATE TABLE webhook_outbox (
        n BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        call_id TEXT NOT NULL,
        type TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        delivered_at BIGINT,
        last_status INTEGER,
        last_error TEXT
      );
      CREATE INDEX webhook_outbox_pending ON webhook_outbox (call_id, n) WHERE delivered_at IS NULL;`,
  },
  {
    version: 3,
    name: 'turn latency on calls',
    // Each answered caller line's figures (its `turn` event), so a list of calls has them without their events.
    sqlite: `ALTER TABLE calls ADD COLUMN turns TEXT NOT NULL DEFAULT '[]';`,
    postgres: `ALTER TABLE calls ADD COLUMN turns JSONB NOT NULL DEFAULT '[]'::jsonb;`,
  },
  {
    version: 4,
    name: 'recording on calls',
    // The call's recording (file, format, start, length, size), so a list names it without the events.
    sqlite: `ALTER TABLE calls ADD COLUMN recording TEXT;`,
    postgres: `ALTER TABLE calls ADD COLUMN recording JSONB;`,
  },
  {
    version: 5,
    name: 'calls list order',
    // The list's order, newest first with the id breaking ties, in one index: a page of the list (keyset,
    // listCallsSql) reads its own rows wherever it is, in order, with no sort. It replaces started_at's.
    sqlite: `
      CREATE INDEX calls_list ON calls (started_at DESC, id DESC);
      DROP INDEX IF EXISTS calls_started_at;`,
    postgres: `
      CREATE INDEX calls_list ON calls (started_at DESC, id DESC);
      DROP INDEX IF EXISTS calls_started_at;`,
  },
];

/** The claim rule shared by both stores: due, undelivered, and the oldest undelivered row of its call. */
export const HEAD_OF_CALL = `NOT EXISTS (
  SELECT 1 FROM webhook_outbox p WHERE p.call_id = o.call_id AND p.delivered_at IS NULL AND p.n < o.n)`;

const CALL_COLUMNS = [
  'worker', 'host', 'pid', 'started_at', 'ended_at', 'updated_at', 'status', 'outcome', 'state', 'department',
  'handoff_count', 'max_handoffs', 'human_available', 'caller', 'turns', 'recording',
];

/** Writes a whole calls row (`?` placeholders for SQLite, `$n` for PostgreSQL): id, then CALL_COLUMNS. */
export function upsertCallSql(placeholder: (i: number) => string): string {
  const cols = ['id', ...CALL_COLUMNS];
  return `INSERT INTO calls (${cols.join(', ')}) VALUES (${cols.map((_, i) => placeholder(i + 1)).join(', ')})
    ON CONFLICT (id) DO UPDATE SET ${CALL_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', ')}`;
}

/**
 * The calls list, newest first (migration 5's index), a page at a time: the first `limit` calls, or those
 * listed after a call (keyset: its start and id, never an OFFSET, so a deep page reads no more rows than
 * the first). `?n` placeholders for SQLite, `$n` for PostgreSQL; the values: limit, or start, id, limit.
 */
export function listCallsSql(placeholder: (i: number) => string, after: boolean): string {
  const p = placeholder;
  return after
    ? `SELECT * FROM calls WHERE started_at <= ${p(1)} AND (started_at < ${p(1)} OR id < ${p(2)})
       ORDER BY started_at DESC, id DESC LIMIT ${p(3)}`
    : `SELECT * FROM calls ORDER BY started_at DESC, id DESC LIMIT ${p(1)}`;
}

/** A `listCalls` argument as a page: a whole number ≥ 0 as its limit. */
export function pageOf(query: number | CallsPage): CallsPage {
  const q = typeof query === 'number' ? { limit: query } : query;
  return { ...q, limit: Math.max(0, Math.floor(q.limit)) };
}
