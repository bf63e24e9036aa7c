/**
 * Interrupted-call marking (`src/records/index.ts` `interruptAbandonedCalls`, the stores'
 * `markInterrupted`): when records are opened, this host's live calls whose process is gone are marked
 * `interrupted`, each with exactly one `call.ended` webhook. Calls that already ended (or were already
 * marked), calls of running processes and calls of other hosts are left exactly as they were — also when
 * a call ends between the open's look at the live calls and its update (another process finishing it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/call/events.js';
import { interruptAbandonedCalls, openRecords, openStore } from '../src/records/index.js';
import { SqliteStore } from '../src/records/sqlite.js';
import type { CallRow, CallRowData, CallStore } from '../src/records/types.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-interrupted-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const HOST = hostname();
const DEAD = 999_001;
const ALIVE = 999_002;
const isAlive = (pid: number) => pid === ALIVE;
const T0 = 1_700_000_000_000;

const started = (callId: string, at: number): CallEvent => ({
  type: 'started',
  callId,
  state: 'triage',
  caller: {},
  maxHandoffs: 6,
  humanAvailable: false,
  at,
});

function row(over: Partial<CallRowData>): CallRowData {
  return {
    worker: 'w',
    host: HOST,
    pid: DEAD,
    startedAt: T0,
    endedAt: null,
    status: 'live',
    outcome: null,
    state: 'triage',
    department: 'triage',
    handoffCount: 0,
    maxHandoffs: 6,
    humanAvailable: false,
    caller: {},
    ...over,
  };
}

/** One call as a recorder would leave it: started, a line, and (for `ended`) its end. */
async function seed(store: CallStore, callId: string, over: Partial<CallRowData>, ended = false) {
  const t = T0 + Math.floor(Math.random() * 1000);
  const live = row({ ...over, startedAt: t, status: 'live', outcome: null, endedAt: null });
  await store.record({ callId, event: started(callId, t), call: live, first: true });
  await store.record({ callId, event: { type: 'user', text: 'hello', at: t + 10 } });
  if (ended) {
    await store.record({
      callId,
      event: { type: 'end', state: 'ended', handoffCount: 0, reason: 'caller is done', at: t + 20 },
      call: row({ ...over, startedAt: t, status: 'ended', outcome: 'caller is done', endedAt: t + 20, state: 'ended' }),
      webhooks: [{ id: `ended-${callId}`, type: 'call.ended', body: JSON.stringify({ id: `ended-${callId}`, type: 'call.ended', callId }) }],
    });
  }
}

const endedHooks = async (store: CallStore) =>
  (await store.webhooks()).filter((w) => w.type === 'call.ended').map((w) => ({ callId: w.callId, ...JSON.parse(w.body).data }));

/** Everything about a call that marking must leave alone, minus nothing. */
const snapshot = async (store: CallStore, id: string) => JSON.stringify(await store.getCall(id));

describe('interrupted calls, when records are opened', () => {
  it('marks only the dead process’s live calls; ended, already-interrupted, running and foreign calls stay as they were', async () => {
    const file = join(tmp, 'mixed.sqlite');
    const store = new SqliteStore(file);
    await seed(store, 'dead-live', {});
    await seed(store, 'dead-ended', {}, true);
    await seed(store, 'alive-live', { pid: ALIVE });
    await seed(store, 'foreign-live', { host: 'another-host' });
    await seed(store, 'no-pid-live', { pid: null });
    await seed(store, 'already', {});
    expect(await store.markInterrupted('already', T0 + 1, [])).toBe(true);
    const untouched = ['dead-ended', 'alive-live', 'foreign-live', 'already'];
    const before = Object.fromEntries(await Promise.all(untouched.map(async (id) => [id, await snapshot(store, id)])));
    // What an open looks at: this host's calls still live — never an ended or already-marked one.
    expect((await store.liveCalls(HOST)).map((r) => r.id).sort()).toEqual(['alive-live', 'dead-live', 'no-pid-live']);
    expect((await store.liveCalls('another-host')).map((r) => r.id)).toEqual(['foreign-live']);
    await store.close();

    const opened = (await openStore({ CALLS_DB: file }, { webhooks: true, isAlive }))!;
    try {
      expect(opened.interrupted.sort()).toEqual(['dead-live', 'no-pid-live']);
      for (const id of untouched) expect(await snapshot(opened.store, id), id).toBe(before[id]);
      const ended = (await opened.store.getCall('dead-ended'))!.call;
      expect(ended).toMatchObject({ status: 'ended', outcome: 'caller is done' });

      for (const id of ['dead-live', 'no-pid-live']) {
        const rec = (await opened.store.getCall(id))!;
        // Ended at its last recorded event.
        expect(rec.call).toMatchObject({ status: 'interrupted', outcome: 'interrupted', endedAt: rec.events.at(-1)!.at });
        expect(rec.events.map((e) => e.type)).toEqual(['started', 'user']);
      }
      // One call.ended per interrupted call, and none for any other (the ended call keeps its own one).
      const hooks = await endedHooks(opened.store);
      expect(hooks.map((h) => h.callId).sort()).toEqual(['dead-ended', 'dead-live', 'no-pid-live']);
      for (const id of ['dead-live', 'no-pid-live']) {
        expect(hooks.filter((h) => h.callId === id)).toEqual([expect.objectContaining({ status: 'interrupted', outcome: 'interrupted' })]);
      }
    } finally {
      await opened.store.close();
    }

    // Opening again (another process, a restart) finds nothing more to do and sends nothing more.
    const again = (await openStore({ CALLS_DB: file }, { webhooks: true, isAlive }))!;
    try {
      expect(again.interrupted).toEqual([]);
      expect((await endedHooks(again.store)).map((h) => h.callId).sort()).toEqual(['dead-ended', 'dead-live', 'no-pid-live']);
    } finally {
      await again.store.close();
    }
  });

  it('a call that ends between the look at live calls and the marking is left ended, with no second call.ended', async () => {
    const store = new SqliteStore(join(tmp, 'race.sqlite'));
    try {
      await seed(store, 'racer', {});
      await seed(store, 'stays-dead', {});
      // The listing is taken first; then the call's own process records its end (it was alive after all).
      const listed = await store.liveCalls(HOST);
      await store.record({
        callId: 'racer',
        event: { type: 'end', state: 'ended', handoffCount: 0, reason: 'caller is done', at: T0 + 5000 },
        call: row({ status: 'ended', outcome: 'caller is done', endedAt: T0 + 5000, state: 'ended', startedAt: listed.find((r) => r.id === 'racer')!.startedAt }),
        webhooks: [{ id: 'racer-ended', type: 'call.ended', body: '{}' }],
      });
      const before = await snapshot(store, 'racer');
      const stale: CallStore = Object.create(store, { liveCalls: { value: async (): Promise<CallRow[]> => listed } });
      const marked = await interruptAbandonedCalls(stale, { webhooks: true, isAlive: () => false, host: HOST });
      expect(marked).toEqual(['stays-dead']);
      expect(await snapshot(store, 'racer')).toBe(before);
      expect((await store.webhooks()).filter((w) => w.callId === 'racer').map((w) => w.id)).toEqual(['racer-ended']);
      // And the store itself refuses to mark an ended call.
      expect(await store.markInterrupted('racer', T0 + 9, [{ id: 'x', type: 'call.ended', body: '{}' }])).toBe(false);
      expect(await snapshot(store, 'racer')).toBe(before);
      expect((await store.webhooks()).some((w) => w.id === 'x')).toBe(false);
    } finally {
      await store.close();
    }
  });

  it('without webhooks configured: calls are marked, no webhook is written', async () => {
    const file = join(tmp, 'nohooks.sqlite');
    const store = new SqliteStore(file);
    await seed(store, 'quiet', {});
    await store.close();
    const records = (await openRecords({ CALLS_DB: file }, { isAlive }))!;
    try {
      expect(records.interrupted).toEqual(['quiet']);
      expect(await records.store.webhooks()).toEqual([]);
    } finally {
      await records.close();
    }
  });
});
