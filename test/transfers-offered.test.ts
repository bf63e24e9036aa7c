/**
 * A desk is offered only the transfers the machine would take now, and tells the caller plainly when no
 * department can be reached any more; the names callers hear are in their language. Through the real
 * orchestrator, the real OpenAI plugin and the scripted server (which reads the tools and the prompt a
 * request carries, as a model does).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { openTransfers } from '../machines/derive.js';
import { type RouterEvent, routerMachine } from '../machines/router.js';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import { NO_MORE_TRANSFERS, callerNameOf, instructionsFor, openingFor } from '../src/departments.js';
import { requestsOf, say, startCall, startServer } from './support/harness.js';

let server: ScriptedServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});

const transfer = (to: string): RouterEvent => ({ type: 'TRANSFER', to, reason: 'test' });

/** What a desk would be offered after `events`, on a call with this cap and person. */
function offeredAfter(maxHandoffs: number, humanAvailable: boolean, ...events: RouterEvent[]) {
  const actor = createActor(routerMachine, { input: { callId: 'offer', maxHandoffs, humanAvailable } }).start();
  for (const e of events) actor.send(e);
  return openTransfers(actor.getSnapshot()).sort();
}

describe('the transfers a desk is offered follow the machine', () => {
  it('under the cap: every route, and a person when one can be reached', () => {
    expect(offeredAfter(6, false)).toEqual(['billing', 'sales', 'support']);
    expect(offeredAfter(6, true)).toEqual(['billing', 'human', 'sales', 'support']);
    expect(offeredAfter(6, false, transfer('billing'))).toEqual(['triage']);
  });
  it('one transfer left: not the hop back to the front desk (it could send the caller to no department)', () => {
    expect(offeredAfter(2, false, transfer('billing'))).toEqual([]);
    // The front desk itself still sends the caller on with the last one.
    expect(offeredAfter(3, false, transfer('billing'), transfer('triage'))).toEqual(['billing', 'sales', 'support']);
    // With a person to reach, the person is offered from here: a hop to the front desk would only delay it.
    expect(offeredAfter(2, true, transfer('billing'))).toEqual(['human']);
  });
  it('at the cap: only a person, if one can be reached', () => {
    expect(offeredAfter(1, true, transfer('billing'))).toEqual(['human']);
    expect(offeredAfter(1, false, transfer('billing'))).toEqual([]);
    expect(offeredAfter(0, false)).toEqual([]);
  });
  it('after a person could not be reached: no second try is offered', () => {
    expect(offeredAfter(6, true, transfer('human'), { type: 'HUMAN_TRANSFER_FAILED', reason: 'busy' })).toEqual(['billing', 'sales', 'support']);
  });
});

describe('a call near its cap', () => {
  it('no department left: the desk is offered no transfer tool, says so in words for the caller, and nothing is refused', async () => {
    const call = await startCall(server, { maxHandoffs: 2 });
    try {
      await say(call, 'I was charged twice on my card');
      expect(call.machineState).toBe('billing');
      const events = await say(call, "I'd also like to upgrade my plan");
      const asked = requestsOf(server, call).at(-1)!.body;
      expect((asked.tools ?? []).map((t) => t.function.name).sort()).toEqual(['end_call', 'update_caller_info']);
      expect(JSON.stringify(asked.messages)).toContain(NO_MORE_TRANSFERS);
      expect(events.filter((e) => e.type === 'handoff' || e.type === 'rejected')).toEqual([]);
      const said = events.filter((e) => e.type === 'agent').map((e) => (e as { text: string }).text);
      expect(said).toEqual([expect.stringMatching(/can't transfer you to another department on this call/)]);
    } finally {
      await call.close();
    }
  });

  it('at the cap with a person: only the person is offered, and the caller reaches them when they ask', async () => {
    const call = await startCall(server, { maxHandoffs: 1, humanAvailable: true, connectHuman: async () => undefined });
    try {
      await say(call, 'I was charged twice on my card');
      const events = await say(call, "I'd also like to upgrade my plan");
      const tools = (requestsOf(server, call).at(-1)!.body.tools ?? []).map((t) => t.function.name);
      expect(tools.filter((n) => n.startsWith('pass_control_to_') || n === 'transfer_to_human')).toEqual(['transfer_to_human']);
      expect(events.filter((e) => e.type === 'handoff' || e.type === 'rejected')).toEqual([]);
      expect(events.find((e) => e.type === 'agent')).toMatchObject({ agent: 'billing', text: expect.stringMatching(/connect you to a colleague/) });
      await say(call, 'Yes please, a real person');
      expect(call.machineState).toBe('human');
    } finally {
      await call.close();
    }
  });
});

describe('desk names in the caller’s language', () => {
  it('a Hindi caller hears the desks named in Hindi, never "the billing team" inside a Hindi sentence', async () => {
    const call = await startCall(server, { caller: { language: 'hi' } });
    try {
      const events = await say(call, 'मेरे बिल में दो बार पैसे कट गए');
      expect(call.machineState).toBe('billing');
      const lines = events.filter((e) => e.type === 'agent').map((e) => (e as { text: string }).text);
      expect(lines.join(' ')).toContain('मैं बिलिंग टीम से हूँ');
      for (const line of lines) expect(line).not.toMatch(/\bthe (billing|sales) team\b|\bfront desk\b|technical support/);
      const billingPrompt = JSON.stringify(requestsOf(server, call).at(-1)!.body.messages);
      expect(billingPrompt).toContain('To the caller you are बिलिंग टीम;');
    } finally {
      await call.close();
    }
  });
  it('every desk has a name in English, Hindi (Devanagari) and Hinglish (Latin); a configured name wins in every language', () => {
    for (const t of ['triage', 'billing', 'sales', 'support', 'human'] as const) {
      expect(callerNameOf(t, {}, 'hi')).toMatch(/[\u0900-\u097F]/);
      expect(callerNameOf(t, {}, 'hinglish')).toMatch(/^[\x20-\x7E]+$/);
      // A language with no names of its own (Tamil) takes the English ones.
      expect(callerNameOf(t, {}, 'ta')).toBe(callerNameOf(t, {}, 'en'));
      expect(callerNameOf(t, { [t]: 'Acme Desk' }, 'hi')).toBe('Acme Desk');
    }
    expect(instructionsFor('sales', { company: 'Acme', caller: { language: 'hinglish' } })).toContain('To the caller you are sales team;');
    expect(openingFor('support', { kind: 'transfer', from: 'triage', reason: 'net nahi chal raha' }, {}, 'hi')).toContain(
      'say you are टेक्निकल सपोर्ट and continue',
    );
  });
});
