/** Keypad digits (DTMF) drive the machine through the real orchestrator, under the LLM's guards. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import { DEFAULT_DTMF_MAP } from '../src/departments.js';
import { parseDtmfMap } from '../src/telephony/phone-line.js';
import { say, startCall, startServer, waitForEvent } from './support/harness.js';

let server: ScriptedServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});

const dtmfMap = parseDtmfMap(DEFAULT_DTMF_MAP);

describe('keypad', () => {
  it('the documented default map: 1 billing, 2 sales, 3 support, 9 triage, 0 a person', () => {
    expect(dtmfMap).toEqual({ '1': 'billing', '2': 'sales', '3': 'support', '9': 'triage', '0': 'human' });
    expect(() => parseDtmfMap('1:legal')).toThrow(/legal/);
    expect(() => parseDtmfMap('1:billing,1:sales')).toThrow(/twice/);
    expect(() => parseDtmfMap('x')).toThrow(/digit:department/);
  });

  it('a digit moves the call, the new department speaks once, and the guards apply', async () => {
    const call = await startCall(server, { dtmfMap, maxHandoffs: 3 });
    try {
      expect(call.pressKey('1')).toMatchObject({ accepted: true, to: 'billing' });
      await waitForEvent(call, (e) => e.type === 'agent' && e.agent === 'billing');
      expect(call.activeRole).toBe('billing');
      expect(call.events.find((e) => e.type === 'handoff')).toMatchObject({ to: 'billing', source: 'keypad', reason: 'caller pressed 1' });

      // From billing, 2 (sales) is not a route: refused with the machine's reason, the caller stays.
      expect(call.pressKey('2')).toMatchObject({ accepted: false, reason: expect.stringMatching(/only to triage/) });
      expect(call.events.at(-1)).toMatchObject({ type: 'keypad', digit: '2', target: 'sales', accepted: false });
      // A digit with no meaning is ignored (and reported).
      expect(call.pressKey('7')).toBeNull();
      expect(call.events.at(-1)).toMatchObject({ type: 'keypad', digit: '7', target: null });
      // 0 without a human number: refused.
      expect(call.pressKey('0')).toMatchObject({ accepted: false });
      expect(call.machineState).toBe('billing');

      // 9 returns to triage; the conversation goes on normally.
      expect(call.pressKey('9')).toMatchObject({ accepted: true, to: 'triage' });
      await waitForEvent(call, (e) => e.type === 'agent' && e.agent === 'triage');
      await say(call, 'I was charged twice on my card');
      expect(call.machineState).toBe('billing');
      // The cap (3) is reached: a digit is refused with the cap's reason, the caller stays.
      expect(call.pressKey('9')).toMatchObject({ accepted: false, reason: expect.stringMatching(/limit of 3/) });
      expect(call.machineState).toBe('billing');
    } finally {
      await call.close();
    }
  });

  it('9 on the last transfer, with no person to escalate to: refused, the front desk could send the caller nowhere', async () => {
    const call = await startCall(server, { dtmfMap, maxHandoffs: 2 });
    try {
      expect(call.pressKey('1')).toMatchObject({ accepted: true, to: 'billing' });
      await waitForEvent(call, (e) => e.type === 'agent' && e.agent === 'billing');
      expect(call.pressKey('9')).toMatchObject({ accepted: false, reason: expect.stringMatching(/only once more/) });
      expect(call.machineState).toBe('billing');
    } finally {
      await call.close();
    }
  });

  it('0 reaches a person when a human number is configured', async () => {
    let connected = 0;
    const call = await startCall(server, { dtmfMap, humanAvailable: true, connectHuman: async () => void connected++ });
    try {
      expect(call.pressKey('0')).toMatchObject({ accepted: true, to: 'human' });
      await waitForEvent(call, (e) => e.type === 'agent' && e.agent === 'human');
      await new Promise((r) => setTimeout(r, 100));
      expect(connected).toBe(1);
    } finally {
      await call.close();
    }
  });
});
