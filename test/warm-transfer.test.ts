/**
 * Warm transfer (HUMAN_TRANSFER_MODE=warm) through the real orchestrator and the real
 * `livekit-server-sdk`, against the local fake of LiveKit's server API. LiveKit's `WarmTransferTask`
 * needs a media server for its consultation room, so it is stood in for (test/support/warm.ts) by the
 * same server API calls it makes; the fallback for a server without MoveParticipant (open-source
 * livekit-server) is ours and runs as it does in production.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../src/call/call.js';
import { briefingFor } from '../src/call/briefing.js';
import { digestOf, summaryOf, viewOfDigest } from '../src/call/digest.js';
import { webhookFor } from '../src/records/webhooks.js';
import type { CallEvent } from '../src/call/events.js';
import type { PersonSteps } from '../src/call/person.js';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import { type Consultation, MoveSupport, PERSON_IDENTITY, type WarmLineOptions, dialTarget, warmTransfer } from '../src/telephony/warm-transfer.js';
import { type FakeLiveKit, sipFailure, startFakeLiveKit } from './support/fake-livekit.js';
import { callTools, say, startCall, startServer, waitForEvent } from './support/harness.js';
import { ScriptedConsultation } from './support/warm.js';

const apiKey = 'APItest';
const apiSecret = 'a-test-secret-that-is-long-enough-0123456789';
let llm: ScriptedServer;
let cloud: FakeLiveKit;
let selfHosted: FakeLiveKit;
const calls: Call[] = [];
const markers = mkdtempSync(join(tmpdir(), 'warm-markers-'));

beforeAll(async () => {
  llm = await startServer();
  cloud = await startFakeLiveKit({ apiKey, apiSecret });
  selfHosted = await startFakeLiveKit({ apiKey, apiSecret, server: 'self-hosted' });
});
afterAll(async () => {
  await llm.close();
  await cloud.close();
  await selfHosted.close();
});
afterEach(async () => {
  await Promise.all(calls.splice(0).map((c) => c.close()));
});

let seq = 0;
const apiOf = (lk: FakeLiveKit) => ({ url: lk.url.replace('http:', 'ws:'), apiKey, apiSecret });

interface Setup {
  server?: FakeLiveKit;
  consultation?: (room: string) => Consultation;
  timeoutMs?: number;
  logs?: string[];
}

/** A call on `room` whose transfers to a person go warm, through `warmTransfer` against the fake. */
async function warmCall(o: Setup = {}) {
  const lk = o.server ?? cloud;
  const room = `warm-${++seq}`;
  const api = apiOf(lk);
  const consultation = o.consultation?.(room) ?? new ScriptedConsultation(api, room);
  const line: WarmLineOptions = {
    api,
    room,
    dial: { trunkId: 'ST_outbound', to: dialTarget('tel:+918012345678'), fromNumber: '+918069000000', headers: { 'X-Switchboard-Call': room }, ringingTimeoutS: 20 },
    consultation,
    moves: new MoveSupport(api, (m) => o.logs?.push(m), join(markers, `${room}.marker`)),
  };
  let hungUp = 0;
  const call = await startCall(llm, {
    humanAvailable: true,
    humanTransferMode: 'warm',
    personTimeoutMs: o.timeoutMs,
    caller: { name: 'Maya', phoneNumber: '+919876543210', accountId: '4411' },
    connectHuman: (c: Call, steps: PersonSteps) =>
      warmTransfer(line, { ...briefingFor(c.actor.getSnapshot().context, 'Acme'), history: c.session.history }, steps),
    hangUp: async () => void hungUp++,
  });
  calls.push(call);
  return { call, room, consultation, hungUp: () => hungUp };
}

const steps = (call: Call) => call.events.flatMap((e) => (e.type === 'person' ? [e.step] : []));
const toPerson = (reason: string) => callTools({ name: 'transfer_to_human', arguments: { reason } });
/** The desk the caller came back to speaks (now, or already did) after the return. */
async function deskSpeaksAfterReturn(call: Call, desk: string): Promise<void> {
  await expect
    .poll(() => {
      const back = call.events.findIndex((e) => e.type === 'handoff' && e.from === 'human');
      return back >= 0 && call.events.slice(back).some((e) => e.type === 'agent' && e.agent === desk);
    })
    .toBe(true);
}
const agentLines = (call: Call, from: number) =>
  call.events.slice(from).filter((e): e is CallEvent & { type: 'agent' } => e.type === 'agent');

describe('warm transfer on LiveKit Cloud (the move exists)', () => {
  it('dials the person into a consultation room, briefs them, moves them to the caller; the agent leaves, the room stays', async () => {
    const { call, room, consultation, hungUp } = await warmCall();
    await say(call, callTools({ name: 'pass_control_to_billing', arguments: { reason: 'charged twice in March' } }));
    await say(call, toPerson('Billing could not refund'));
    const end = await call.finished;
    expect(end.reason).toBe('joined to a person');
    expect(steps(call)).toEqual(['dialling', 'briefing', 'connected']);
    expect(hungUp()).toBe(0); // the caller stays in the room with the person
    // The dial, as the task makes it: trunk, number, the consultation room, identity, headers, ringing timeout.
    const dial = cloud.state.dials.find((d) => d.room === `${room}-human-agent`)!;
    expect(dial).toMatchObject({
      trunkId: 'ST_outbound',
      callTo: '+918012345678',
      identity: PERSON_IDENTITY,
      fromNumber: '+918069000000',
      headers: { 'X-Switchboard-Call': room },
      ringingTimeout: '20s',
      waitUntilAnswered: true,
    });
    expect(cloud.state.moves).toContainEqual({ room: `${room}-human-agent`, identity: PERSON_IDENTITY, destinationRoom: room });
    // The briefing is built from the call: who, the route with its reasons.
    const brief = (consultation as ScriptedConsultation).runs[0]!.briefing;
    expect(brief).toContain('Maya, +919876543210, account 4411');
    expect(brief).toContain('Billing → you (Billing could not refund)');
    expect(brief).toContain('Triage → Billing (charged twice in March)');
    // Records and webhooks: call.transferred says warm; call.ended's route has each step with its time.
    const handoff = call.events.find((e) => e.type === 'handoff' && e.to === 'human')!;
    const digest = digestOf(call.callId, call.events);
    expect(JSON.parse(webhookFor(handoff, digest, 'w')!.body).data).toMatchObject({ to: 'human', mode: 'warm' });
    const leg = summaryOf(digest, 'ended', end.reason).route.find((l) => l.state === 'human')!;
    expect(leg).toMatchObject({ mode: 'warm', reason: 'Billing could not refund' });
    expect(leg.steps!.map((s) => s.step)).toEqual(['dialling', 'briefing', 'connected']);
    const times = leg.steps!.map((s) => s.at);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    // The inspector's view of the call shows them too.
    const view = viewOfDigest({ callId: call.callId, live: false, startedAt: digest.startedAt!, state: 'ended', handoffCount: 2, maxHandoffs: 6, humanAvailable: true, caller: {} }, digest);
    expect(view.timeline.find((t) => t.state === 'human')).toMatchObject({ mode: 'warm', steps: leg.steps });
  });

  it.each([
    ['declines', { decline: 'in a meeting' } as const, /declined to connect: in a meeting/],
    ['reaches voicemail', 'voicemail' as const, /voicemail detected/],
  ])('the person %s: the caller is back with the desk they came from, which tells them', async (_what, decision, reason) => {
    const { call, room } = await warmCall({ consultation: (r) => new ScriptedConsultation(apiOf(cloud), r, decision) });
    await say(call, callTools({ name: 'pass_control_to_support', arguments: { reason: 'router broken' } }));
    const from = call.events.length;
    const back = waitForEvent(call, (e) => e.type === 'handoff' && e.from === 'human');
    await say(call, toPerson('needs an engineer'));
    expect(await back).toMatchObject({ from: 'human', to: 'support', reason: expect.stringMatching(reason) });
    await deskSpeaksAfterReturn(call, 'support');
    expect(call.machineState).toBe('support');
    expect(steps(call)).toEqual(['dialling', 'briefing']);
    expect(agentLines(call, from).at(-1)!.agent).toBe('support');
    expect(cloud.state.moves.filter((m) => m.destinationRoom === room)).toEqual([]);
  });

  it('busy (SIP 486): the task cannot dial; the caller is back with the desk', async () => {
    const { call } = await warmCall();
    cloud.failNext('CreateSIPParticipant', sipFailure(486, 'Busy Here'));
    const back = waitForEvent(call, (e) => e.type === 'handoff' && e.from === 'human');
    await say(call, toPerson('asked for a person'));
    expect(await back).toMatchObject({ to: 'triage', reason: 'could not dial human agent' });
    expect(steps(call)).toEqual(['dialling']);
  });

  it('nobody connected within the bound: the transfer is cancelled, the consultation torn down, the caller back with a desk', async () => {
    const { call, room } = await warmCall({ consultation: (r) => new ScriptedConsultation(apiOf(cloud), r, null), timeoutMs: 300 });
    const back = waitForEvent(call, (e) => e.type === 'handoff' && e.from === 'human');
    await say(call, toPerson('asked for a person'));
    expect(await back).toMatchObject({ to: 'triage', reason: 'nobody was connected within 0 s' });
    await deskSpeaksAfterReturn(call, 'triage');
    await expect.poll(() => cloud.state.removed).toContainEqual({ room: `${room}-human-agent`, identity: PERSON_IDENTITY });
  });

  it('the caller hangs up on hold: the dial is cancelled and the consultation torn down; nobody is moved', async () => {
    const { call, room, consultation } = await warmCall({ consultation: (r) => new ScriptedConsultation(apiOf(cloud), r, null) });
    const dialling = waitForEvent(call, (e) => e.type === 'person' && e.step === 'dialling');
    void say(call, toPerson('asked for a person')).catch(() => undefined);
    await dialling;
    await expect.poll(() => cloud.state.dials.some((d) => d.room === `${room}-human-agent`)).toBe(true);
    call.hangup();
    const end = await call.finished;
    expect(end.reason).toBe('hangup');
    await expect.poll(() => cloud.state.removed).toContainEqual({ room: `${room}-human-agent`, identity: PERSON_IDENTITY });
    (consultation as ScriptedConsultation).pickUp();
    (consultation as ScriptedConsultation).decide('connect');
    expect(cloud.state.moves.filter((m) => m.destinationRoom === room)).toEqual([]);
  });
});

describe('warm transfer on a self-hosted server (no MoveParticipant)', () => {
  it('"unimplemented" on the move: the person is dialled into the caller’s own room and introduced; said once, remembered', async () => {
    const logs: string[] = [];
    const { call, room } = await warmCall({ server: selfHosted, logs });
    await say(call, toPerson('asked for a person'));
    const end = await call.finished;
    expect(end.reason).toBe('joined to a person');
    expect(steps(call)).toEqual(['dialling', 'briefing', 'connected']);
    // Asked once; the answer was LiveKit's "unimplemented".
    expect(selfHosted.calls('MoveParticipant').filter((r) => r.body.room === room).map((r) => r.error?.code)).toEqual(['unimplemented']);
    // The dial goes straight to the caller's room, ringing heard there.
    expect(selfHosted.state.dials.find((d) => d.room === room)).toMatchObject({
      trunkId: 'ST_outbound',
      callTo: '+918012345678',
      identity: PERSON_IDENTITY,
      headers: { 'X-Switchboard-Call': room },
      ringingTimeout: '20s',
      waitUntilAnswered: true,
      playDialtone: true,
    });
    // The agent introduces the caller to the person aloud, then leaves.
    expect(call.events.filter((e) => e.type === 'agent' && e.agent === 'human').map((e) => (e as { text: string }).text).at(-1)).toMatch(
      /I have a colleague on the line now\. Maya, \+919876543210, account 4411/,
    );
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/cannot move participants between rooms \(MoveParticipant is not implemented; LiveKit Cloud only\)/);
  });

  it('the caller hangs up while the person’s phone rings in the caller’s room: the ringing dial is cancelled, nobody joins', async () => {
    const ringing = await startFakeLiveKit({ apiKey, apiSecret, server: 'self-hosted', answerAfterMs: 1500 });
    try {
      const { call, room } = await warmCall({ server: ringing });
      const dialling = waitForEvent(call, (e) => e.type === 'person' && e.step === 'dialling');
      void say(call, toPerson('asked for a person')).catch(() => undefined);
      await dialling;
      await expect.poll(() => ringing.state.dials.some((d) => d.room === room)).toBe(true);
      call.hangup();
      expect((await call.finished).reason).toBe('hangup');
      // The person's leg is removed while it rings (a cancelled dial), before it could be answered.
      await expect.poll(() => ringing.state.removed).toContainEqual({ room, identity: PERSON_IDENTITY });
      await new Promise((r) => setTimeout(r, 1800));
      expect(ringing.state.participants[room] ?? []).not.toContain(PERSON_IDENTITY);
    } finally {
      await ringing.close();
    }
  });

  it('the rest of the worker’s life: no second question, logged once', async () => {
    const logs: string[] = [];
    const api = apiOf(selfHosted);
    const marker = join(markers, 'worker.marker');
    const first = new MoveSupport(api, (m) => logs.push(m), marker);
    expect(await first.supported('room-a')).toBe(false);
    expect(existsSync(marker)).toBe(true);
    const asked = selfHosted.calls('MoveParticipant').length;
    // Another job (its own process) of the same worker reads the marker.
    expect(await new MoveSupport(api, (m) => logs.push(m), marker).supported('room-b')).toBe(false);
    expect(selfHosted.calls('MoveParticipant').length).toBe(asked);
    expect(logs).toHaveLength(1);
    // Cloud's "not found" for the probe means the method exists.
    expect(await new MoveSupport(apiOf(cloud), () => undefined, join(markers, 'cloud.marker')).supported('room-c')).toBe(true);
  });

  it.each([
    [486, 'Busy Here'],
    [480, 'Temporarily Unavailable'],
    [603, 'Decline'],
  ])('the person’s phone answers SIP %i %s: the caller is back with the desk, told why', async (code, status) => {
    const { call } = await warmCall({ server: selfHosted });
    selfHosted.failNext('CreateSIPParticipant', sipFailure(code, status));
    const back = waitForEvent(call, (e) => e.type === 'handoff' && e.from === 'human');
    await say(call, toPerson('asked for a person'));
    expect(await back).toMatchObject({ to: 'triage', reason: `SIP ${code} ${status}` });
    await deskSpeaksAfterReturn(call, 'triage');
    expect(call.machineState).toBe('triage');
  });
});
