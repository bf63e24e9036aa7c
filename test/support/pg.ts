/**
 * The PostgreSQL the records tests use: `TEST_DATABASE_URL` (`.ci/run` starts Debian's PostgreSQL and
 * sets it). In CI a missing URL is a failure, not a skip; locally the PostgreSQL tests skip, saying why.
 * Each test file works in its own schema, dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL?.trim() || undefined;
export const IN_CI = /^(1|true|yes)$/i.test(process.env.CI ?? '');

/** Why the PostgreSQL tests do not run here (null: they run). */
export const PG_SKIP_REASON = TEST_DATABASE_URL
  ? null
  : 'TEST_DATABASE_URL is not set (postgres://user:pass@127.0.0.1:5432/db; .ci/run sets it up)';

// In CI the PostgreSQL tests must run: a missing URL fails every file that needs it, loudly.
if (IN_CI && !TEST_DATABASE_URL) {
  throw new Error(`CI=true but ${PG_SKIP_REASON}: .ci/run installs PostgreSQL and exports TEST_DATABASE_URL`);
}

export function uniqueSchema(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
}

export async function dropSchema(schema: string): Promise<void> {
  if (!TEST_DATABASE_URL) return;
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema.replace(/"/g, '""')}" CASCADE`);
  } finally {
    await c.end();
  }
}
