/**
 * Telephony through the real orchestrator and the real `livekit-server-sdk`, against a local fake of
 * LiveKit's server API (Twirp JSON, JWT checked): transfer to a person by SIP REFER after the hand-off
 * line has played, a failing transfer, hanging up after the goodbye, escalation at the cap.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../src/call/call.js';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import { livekitPhoneLine } from '../src/telephony/phone-line.js';
import { type FakeLiveKit, sipFailure, startFakeLiveKit } from './support/fake-livekit.js';
import { callTools, say, startCall, startServer, waitForEvent } from './support/harness.js';

const apiKey = 'APItest';
const apiSecret = 'a-test-secret-that-is-long-enough-0123456789';
let llm: ScriptedServer;
let livekit: FakeLiveKit;
const calls: Call[] = [];

beforeAll(async () => {
  llm = await startServer();
  livekit = await startFakeLiveKit({ apiKey, apiSecret });
});
afterAll(async () => {
  await llm.close();
  await livekit.close();
});
afterEach(async () => {
  await Promise.all(calls.splice(0).map((c) => c.close()));
});

let roomSeq = 0;
async function phoneCall(o: { maxHandoffs?: number; secret?: string; transferTo?: string } = {}) {
  const room = `call-${++roomSeq}`;
  const line = livekitPhoneLine({
    url: livekit.url.replace('http:', 'ws:'),
    apiKey,
    apiSecret: o.secret ?? apiSecret,
    room,
    participantIdentity: `sip_+919876543210`,
    transferTo: o.transferTo ?? 'sip:+918012345678@acme.sip.vobiz.ai',
  });
  let refersWhenHandOffLinePlayed = -1;
  const call = await startCall(llm, {
    humanAvailable: true,
    maxHandoffs: o.maxHandoffs,
    connectHuman: () => line.transferToPerson(),
    hangUp: () => line.hangUp(),
  });
  call.on('event', (e) => {
    if (e.type === 'agent' && e.agent === 'human') refersWhenHandOffLinePlayed = livekit.calls('TransferSIPParticipant').length;
  });
  calls.push(call);
  return { call, room, refersAtHandOffLine: () => refersWhenHandOffLinePlayed };
}

const refersFor = (room: string) => livekit.calls('TransferSIPParticipant').filter((r) => r.body.roomName === room);

describe('transfer to a person (SIP REFER)', () => {
  it('sends the REFER for the caller to HUMAN_TRANSFER_TO after the hand-off line has played', async () => {
    const { call, room, refersAtHandOffLine } = await phoneCall();
    await say(call, 'I was charged twice on my card');
    const events = await say(call, 'I want a human');
    expect(events.find((e) => e.type === 'handoff')).toMatchObject({ from: 'billing', to: 'human' });
    await expect.poll(() => refersFor(room).length).toBe(1);
    expect(refersAtHandOffLine()).toBe(refersFor(room).length - 1); // none yet when the line played
    const refer = refersFor(room)[0]!;
    expect(refer.body).toMatchObject({
      roomName: room,
      participantIdentity: 'sip_+919876543210',
      transferTo: 'sip:+918012345678@acme.sip.vobiz.ai',
    });
    expect(refer.body.playDialtone ?? false).toBe(false);
    expect(refer.status).toBe(200);
    expect(refer.claims).toMatchObject({ iss: apiKey, sip: { call: true }, video: { roomAdmin: true, room } });
    // The provider took the caller: the call ends with that outcome.
    expect(await call.finished).toMatchObject({ state: 'ended', reason: 'transferred to a person' });
  });

  it('a refused transfer (SIP 486) returns the caller to their department, who says so', async () => {
    const { call, room } = await phoneCall();
    await say(call, 'I was charged twice on my card');
    livekit.failNext('TransferSIPParticipant', sipFailure(486, 'Busy Here'));
    await say(call, 'I want a human');
    await waitForEvent(call, (e) => e.type === 'agent' && e.agent === 'billing' && /couldn't reach/.test(e.text), 10_000);
    expect(call.machineState).toBe('billing');
    expect(refersFor(room)).toHaveLength(1);
    expect(call.events.find((e) => e.type === 'error')).toMatchObject({ message: expect.stringContaining('SIP 486 Busy Here') });
    // No second attempt in this call: the tool is gone and the machine refuses it.
    expect(call.requestTransfer('human', 'again', 'agent')).toMatchObject({ accepted: false });
  });

  it('a wrong API secret is reported clearly and the caller stays served', async () => {
    const { call, room } = await phoneCall({ secret: 'not-the-secret-not-the-secret-not-the' });
    await say(call, 'I want a human');
    await waitForEvent(call, (e) => e.type === 'agent' && e.agent === 'triage' && /couldn't reach/.test(e.text), 10_000);
    expect(refersFor(room)[0]!.status).toBe(401);
    expect(call.events.find((e) => e.type === 'error')).toMatchObject({ message: expect.stringMatching(/LiveKit refused the request \(401\)/) });
    expect(call.machineState).toBe('triage');
  });

  it('the handoff cap escalates to a person over the same REFER (a key pressed at the cap)', async () => {
    const { call, room } = await phoneCall({ maxHandoffs: 1 });
    await say(call, 'I was charged twice on my card');
    // At the cap a desk is offered only the person; the caller's keypad asking for the front desk escalates.
    const escalated = waitForEvent(call, (e) => e.type === 'handoff' && e.to === 'human');
    expect(call.requestTransfer('triage', 'caller pressed 9', 'keypad')).toMatchObject({ accepted: true, to: 'human' });
    expect(await escalated).toMatchObject({ from: 'billing', to: 'human', escalated: true });
    await expect.poll(() => refersFor(room).length).toBe(1);
  });
});

describe('ending the call', () => {
  it('end_call: goodbye first, then the room is deleted (which hangs up the phone line)', async () => {
    const { call, room } = await phoneCall();
    let deletedAtGoodbye = -1;
    call.on('event', (e) => {
      if (e.type === 'agent' && /Goodbye/.test(e.text)) deletedAtGoodbye = livekit.calls('DeleteRoom').filter((r) => r.body.room === room).length;
    });
    await say(call, callTools({ name: 'end_call', arguments: { reason: 'caller is done' } }));
    const end = await call.finished;
    expect(end).toMatchObject({ state: 'ended', reason: 'caller is done' });
    expect(deletedAtGoodbye).toBe(0);
    const deletes = livekit.calls('DeleteRoom').filter((r) => r.body.room === room);
    expect(deletes).toHaveLength(1);
    expect(deletes[0]!.status).toBe(200);
    expect(deletes[0]!.claims).toMatchObject({ video: { roomCreate: true } });
  });

  it('the caller hanging up ends the call with reason hangup and deletes nothing', async () => {
    const { call, room } = await phoneCall();
    call.hangup();
    const end = await call.finished;
    expect(end).toMatchObject({ state: 'ended', reason: 'hangup' });
    expect(livekit.calls('DeleteRoom').filter((r) => r.body.room === room)).toHaveLength(0);
    expect(call.events.filter((e) => e.type === 'error')).toEqual([]);
  });
});
