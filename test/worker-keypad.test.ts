/**
 * The worker's keypad wiring, through the worker's own job entry (`src/cli/worker.ts` default export):
 * the settings' `DTMF_MAP` reaches the Call the worker builds, and a digit the room reports moves that
 * call. A stand-in JobContext gives the entry a room (an event emitter: DTMF comes from it), a SIP
 * participant and a job id; the models point at the scripted LLM server; records go to a temp SQLite file.
 *
 * The Call class is the real one, subclassed only to keep a handle on the instance the worker builds.
 * No voice activity detection is loaded (the job's prewarm is not run): the room carries no audio.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParticipantKind, RoomEvent } from '@livekit/rtc-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Call as CallType } from '../src/call/call.js';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import { SqliteStore } from '../src/records/sqlite.js';
import { initTestLogging, sleep, startServer } from './support/harness.js';

const built = vi.hoisted(() => [] as CallType[]);
const builtWith = vi.hoisted(() => [] as ConstructorParameters<typeof CallType>[0][]);
vi.mock('../src/call/call.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/call/call.js')>();
  class RecordedCall extends real.Call {
    constructor(...args: ConstructorParameters<typeof real.Call>) {
      super(...args);
      built.push(this);
      builtWith.push(args[0]);
    }
  }
  return { ...real, Call: RecordedCall };
});

const { default: worker } = await import('../src/cli/worker.js');

let tmp: string;
let llm: ScriptedServer;
const savedEnv = { ...process.env };

beforeAll(async () => {
  initTestLogging();
  llm = await startServer();
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-worker-keypad-'));
  writeFileSync(join(tmp, 'empty.env'), '');
});
afterAll(async () => {
  process.env = savedEnv;
  await llm?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Runs the worker's job entry for one SIP caller in a stand-in room; returns the room, the Call it built, its records file. */
async function workerJob(env: Record<string, string>, inferenceExecutor?: { doInference: (method: string, data: unknown) => Promise<unknown> }) {
  const db = join(tmp, `calls-${built.length}.sqlite`);
  process.env = {
    ...savedEnv,
    ENV_FILE: join(tmp, 'empty.env'),
    LIVEKIT_URL: 'ws://127.0.0.1:9',
    LIVEKIT_API_KEY: 'devkey',
    LIVEKIT_API_SECRET: 'a-secret-of-at-least-32-characters!!',
    OPENAI_BASE_URL: llm.url,
    OPENAI_API_KEY: 'scripted',
    TURN_DETECTION: 'vad',
    CALLS_DB: db,
    INSPECTOR_URL: '',
    ...env,
  };
  delete process.env.INSPECTOR_URL;
  const room = Object.assign(new EventEmitter(), { name: 'keypad-room', isConnected: true, remoteParticipants: new Map() });
  const shutdown: (() => Promise<void>)[] = [];
  const ctx = {
    room,
    job: { id: `job-${built.length + 1}` },
    proc: { userData: { vad: null } },
    inferenceExecutor,
    connect: async () => undefined,
    waitForParticipant: async () => ({ identity: 'sip-caller', kind: ParticipantKind.SIP, attributes: { 'sip.phoneNumber': '+15550104444' } }),
    addShutdownCallback: (f: () => Promise<void>) => shutdown.push(f),
    shutdown: () => undefined,
  };
  const before = built.length;
  // The stand-in room cannot carry audio: the session's start may fail; the call and its wiring are built first.
  const entry = worker.entry(ctx as never).catch(() => undefined);
  const deadline = Date.now() + 10_000;
  while (built.length === before || room.listenerCount(RoomEvent.DtmfReceived) === 0) {
    if (Date.now() > deadline) throw new Error('the worker built no call or wired no keypad');
    await sleep(10);
  }
  const call = built.at(-1)!;
  return {
    options: builtWith.at(-1)!,
    room,
    call,
    db,
    // As LiveKit reports a SIP keypad press: the DTMF event code (0-9, 10 for *, 11 for #) and the digit.
    press: (digit: string) => room.emit(RoomEvent.DtmfReceived, digit === '*' ? 10 : digit === '#' ? 11 : Number(digit), digit),
    async stop() {
      await Promise.race([entry, sleep(3000)]);
      // Let the desks' bridging lines (synthesized on the scripted server at start) finish.
      await sleep(500);
      for (const f of shutdown) await f().catch(() => undefined);
      await call.close('test over').catch(() => undefined);
    },
  };
}

describe('worker: keypad', () => {
  it('a digit of a custom DTMF_MAP moves the call the worker built; digits it does not map are ignored', async () => {
    const job = await workerJob({ DTMF_MAP: '5:sales,7:support' });
    try {
      expect(job.call.callId).toBe('keypad-room_job-1');
      expect(job.call.machineState).toBe('triage');
      // 1 means billing in the default map, nothing in this one.
      job.press('1');
      expect(job.call.machineState).toBe('triage');
      job.press('5');
      expect(job.call.machineState).toBe('sales');
      const keypad = job.call.events.filter((e) => e.type === 'keypad');
      expect(keypad).toEqual([
        expect.objectContaining({ digit: '1', target: null, accepted: false }),
        expect.objectContaining({ digit: '5', target: 'sales', accepted: true }),
      ]);
      expect(job.call.actor.getSnapshot().context.route.at(-1)).toMatchObject({ to: 'sales', source: 'keypad', reason: 'caller pressed 5' });
      // The records the worker writes say the same.
      await sleep(100);
      const store = new SqliteStore(job.db);
      try {
        const rec = (await store.getCall(job.call.callId))!;
        expect(rec.events.filter((e) => e.type === 'keypad').map((e) => e.event)).toEqual(keypad);
      } finally {
        await store.close();
      }
    } finally {
      await job.stop();
    }
  });

  it('the default map applies when DTMF_MAP is not set: 3 is support', async () => {
    const job = await workerJob({});
    try {
      job.press('3');
      expect(job.call.machineState).toBe('support');
    } finally {
      await job.stop();
    }
  });

  it("the call's end-of-turn model (TURN_DETECTION=model) runs through the job's inference executor", async () => {
    // LiveKit's detector with no executor answers 1.0 for every turn and only logs it: the worker must pass the job's.
    const asked: string[] = [];
    const executor = { doInference: async (method: string) => (asked.push(method), { probability: 0.9, inferenceDurationMs: 1 }) };
    const job = await workerJob({ TURN_DETECTION: 'model' }, executor);
    try {
      const detector = job.options.sessionOptions?.turnHandling?.turnDetection as unknown as { model: string; _executor: unknown };
      expect(detector.model).toBe('turn-detector-v1-mini');
      expect(detector._executor).toBe(executor);
    } finally {
      await job.stop();
    }
  });
});
