/**
 * The SQLite store keeps what it said it recorded (`src/records/sqlite.ts`):
 * - the settings the file is opened with, read back from the open database: the rollback journal
 *   (`journal_mode=delete`: node-sqlite3-wasm has no shared memory, so no WAL) and `synchronous=FULL`;
 *   and what FULL means on disk: a recorded event has been fsynced before `record()` returns;
 * - one write is one transaction: an event, its calls row and its webhooks all land, or none does.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/call/events.js';
import { SqliteStore } from '../src/records/sqlite.js';
import { DuplicateCallError } from '../src/records/types.js';
import type { CallRowData, OutboxInsert } from '../src/records/types.js';

/** The fs module node-sqlite3-wasm writes through (its VFS calls fs.fsyncSync). */
const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-durability-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
const file = () => join(tmp, `store-${++n}.sqlite`);

/** The open database behind the store (the store keeps it private). */
const dbOf = (s: SqliteStore) => (s as unknown as { db: { get(sql: string): Record<string, unknown> | undefined; all(sql: string, args?: unknown[]): Record<string, unknown>[] } }).db;
const pragma = (s: SqliteStore, name: string) => Object.values(dbOf(s).get(`PRAGMA ${name}`)!)[0];

const T0 = 1_700_000_000_000;
const started = (callId: string): CallEvent => ({
  type: 'started',
  callId,
  state: 'triage',
  caller: { name: 'Maya' },
  maxHandoffs: 6,
  humanAvailable: false,
  at: T0,
});
const row = (over: Partial<CallRowData> = {}): CallRowData => ({
  worker: 'durability-test',
  host: hostname(),
  pid: process.pid,
  startedAt: T0,
  endedAt: null,
  status: 'live',
  outcome: null,
  state: 'triage',
  department: 'triage',
  handoffCount: 0,
  maxHandoffs: 6,
  humanAvailable: false,
  caller: { name: 'Maya' },
  ...over,
});
const hook = (id: string, type = 'call.started'): OutboxInsert => ({ id, type, body: JSON.stringify({ id, type }) });

/** Counts fsyncs made while `fn` runs. */
async function fsyncsDuring(fn: () => Promise<unknown>): Promise<number> {
  const original = fs.fsyncSync;
  let count = 0;
  fs.fsyncSync = ((fd: number) => {
    count++;
    return original(fd);
  }) as typeof fs.fsyncSync;
  try {
    await fn();
  } finally {
    fs.fsyncSync = original;
  }
  return count;
}

describe('SQLite durability settings', () => {
  it('the open database runs synchronous=FULL with the rollback journal, on a new file and on reopening it', async () => {
    const f = file();
    for (let i = 0; i < 2; i++) {
      const store = new SqliteStore(f);
      try {
        expect(Number(pragma(store, 'synchronous')), 'synchronous (2 = FULL)').toBe(2);
        expect(String(pragma(store, 'journal_mode')).toLowerCase()).toBe('delete');
      } finally {
        await store.close();
      }
    }
  });

  it('a recorded event is on disk (fsynced) before record() returns; so is every later one', async () => {
    const store = new SqliteStore(file());
    try {
      const first = await fsyncsDuring(() => store.record({ callId: 'c1', event: started('c1'), call: row(), webhooks: [hook('h1')], first: true }));
      expect(first, 'fsyncs while recording the first event').toBeGreaterThan(0);
      const next = await fsyncsDuring(() => store.record({ callId: 'c1', event: { type: 'user', text: 'hello', at: T0 + 1 } }));
      expect(next, 'fsyncs while recording a later event').toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });
});

describe('SQLite atomicity: one write, one transaction', () => {
  it('a first write whose webhook insert fails leaves nothing: no event, no calls row, no webhook', async () => {
    const store = new SqliteStore(file());
    try {
      await expect(
        store.record({ callId: 'half', event: started('half'), call: row(), webhooks: [hook('dup'), hook('dup')], first: true }),
      ).rejects.toThrow(/UNIQUE|constraint/i);
      expect(await store.getCall('half')).toBeNull();
      expect(dbOf(store).all("SELECT * FROM events WHERE call_id = 'half'")).toEqual([]);
      expect(await store.webhooks()).toEqual([]);
      expect(await store.listCalls(10)).toEqual([]);
      // The store is not left inside a transaction: the same call records cleanly afterwards, from seq 1.
      expect(await store.record({ callId: 'half', event: started('half'), call: row(), webhooks: [hook('ok')], first: true })).toBe(1);
      const rec = (await store.getCall('half'))!;
      expect(rec.events.map((e) => e.seq)).toEqual([1]);
      expect((await store.webhooks()).map((w) => w.id)).toEqual(['ok']);
    } finally {
      await store.close();
    }
  });

  it('a later write that half-fails (its webhook clashes) changes neither the events, the calls row nor the outbox', async () => {
    const store = new SqliteStore(file());
    try {
      await store.record({ callId: 'c', event: started('c'), call: row(), webhooks: [hook('w-start')], first: true });
      await store.record({ callId: 'c', event: { type: 'user', text: 'hi', at: T0 + 1 } });
      const before = await store.getCall('c');
      const outboxBefore = await store.webhooks();
      const end: CallEvent = { type: 'end', state: 'ended', handoffCount: 0, reason: 'done', at: T0 + 5 };
      await expect(
        store.record({
          callId: 'c',
          event: end,
          call: row({ status: 'ended', outcome: 'done', endedAt: T0 + 5, state: 'ended' }),
          webhooks: [hook('w-end', 'call.ended'), hook('w-start')],
        }),
      ).rejects.toThrow(/UNIQUE|constraint/i);
      const after = (await store.getCall('c'))!;
      expect(after.events).toEqual(before!.events);
      expect(after.call).toEqual(before!.call);
      expect(after.call.status).toBe('live');
      expect(await store.webhooks()).toEqual(outboxBefore);
      // The retry (what the recorder does with the next event) lands whole, with the next seq.
      expect(await store.record({ callId: 'c', event: end, call: row({ status: 'ended', outcome: 'done', endedAt: T0 + 5, state: 'ended' }), webhooks: [hook('w-end', 'call.ended')] })).toBe(3);
      expect((await store.getCall('c'))!.call).toMatchObject({ status: 'ended', outcome: 'done', endedAt: T0 + 5 });
    } finally {
      await store.close();
    }
  });

  it('what one store committed, another store on the same file reads at once (nothing held back in memory)', async () => {
    const f = file();
    const writer = new SqliteStore(f);
    const reader = new SqliteStore(f);
    try {
      await writer.record({ callId: 'x', event: started('x'), call: row(), webhooks: [hook('x1')], first: true });
      expect((await reader.getCall('x'))!.events).toHaveLength(1);
      expect(await reader.pendingWebhooks()).toBe(1);
      // A failed write by the writer shows nothing to the reader either.
      await expect(writer.record({ callId: 'x', event: { type: 'user', text: 'a', at: T0 + 2 }, webhooks: [hook('x1')] })).rejects.toThrow();
      expect((await reader.getCall('x'))!.events).toHaveLength(1);
    } finally {
      await writer.close();
      await reader.close();
    }
  });
});

describe('SQLite: opening, and a call id recorded twice', () => {
  it('a reader (mustExist) never creates the file or its folder; a writer creates both', async () => {
    const dir = join(tmp, 'nested', 'deeper');
    const f = join(dir, 'calls.sqlite');
    expect(() => new SqliteStore(f, { mustExist: true })).toThrow();
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(f)).toBe(false);
    // The folder exists, the file does not: still not created.
    mkdirSync(dir, { recursive: true });
    expect(() => new SqliteStore(f, { mustExist: true })).toThrow();
    expect(existsSync(f)).toBe(false);
    const writer = new SqliteStore(f);
    await writer.record({ callId: 'w', event: started('w'), call: row(), first: true });
    await writer.close();
    expect(existsSync(f)).toBe(true);
    // A writer on a path whose folders do not exist yet creates them.
    const fresh = join(tmp, 'fresh', 'deeper', 'calls.sqlite');
    const created = new SqliteStore(fresh);
    await created.close();
    expect(existsSync(fresh)).toBe(true);
    const reader = new SqliteStore(f, { mustExist: true });
    try {
      expect((await reader.getCall('w'))!.events).toHaveLength(1);
    } finally {
      await reader.close();
    }
  });

  it('a first write for a call id that already has events is refused whole (DuplicateCallError): the record stays as it was', async () => {
    const store = new SqliteStore(file());
    try {
      await store.record({ callId: 'dup', event: started('dup'), call: row(), webhooks: [hook('d1')], first: true });
      const before = await store.getCall('dup');
      const err = await store
        .record({ callId: 'dup', event: started('dup'), call: row({ worker: 'another' }), webhooks: [hook('d2')], first: true })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DuplicateCallError);
      expect(await store.getCall('dup')).toEqual(before);
      expect((await store.webhooks()).map((w) => w.id)).toEqual(['d1']);
      // A later (not first) write of the same call goes on as usual.
      expect(await store.record({ callId: 'dup', event: { type: 'user', text: 'x', at: T0 + 3 } })).toBe(2);
    } finally {
      await store.close();
    }
  });
});
