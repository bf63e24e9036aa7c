/**
 * A prepared reply is judged when it would start playing, not when the new desk began to wait for it
 * (issue 26). The window: the new desk has taken the line, its reply prepared at the transfer is still
 * being made (a slow model), and the caller's details are saved (update_caller_info, a caller lookup,
 * a language change). The reply prepared with the old instructions must not play: the caller hears
 * one entry reply, made by a request that knows what was just saved.
 */
import { voice } from '@livekit/agents';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../src/call/call.js';
import type { CallEvent } from '../src/call/events.js';
import { type RecordedRequest, type ScriptedReply, type ScriptedServer, deskOf, isTakeover, keywordBrain, systemText } from '../dev/scripted-llm.js';
import { detectLanguage } from '../src/language.js';
import { directiveScript, requestsOf, say, sleep, startCall, startServer, waitForEvent } from './support/harness.js';

/** Billing's slow time to first token on its takeover (entry) requests. */
const TTFT_MS = 700;
/** When, after Billing took the line, the caller's details are saved: well inside the window. */
const SAVE_AFTER_MS = 150;

let server: ScriptedServer;
const calls: Call[] = [];

/** Billing's entry reply greets the caller by name when its instructions know one. */
const billingEntry = (sys: string) => {
  const name = /What we know about the caller:[^\n]*?\bname: ([^;.\n]+)/.exec(sys)?.[1];
  return name ? `This is the billing team, ${name}. I see the double charge; let's sort it out.` : undefined;
};

beforeAll(async () => {
  server = await startServer(
    directiveScript((req, rec) => {
      // Billing taking the call over (its prepared reply, or its own entry reply): slow.
      if (!isTakeover(req) || deskOf(req) !== 'Billing' || req.messages.at(-1)?.role === 'tool') return undefined;
      const reply = keywordBrain(req, rec) as ScriptedReply; // keywordBrain answers at once
      const named = billingEntry(systemText(req));
      return { ...reply, ...(named ? { text: named } : {}), ttftMs: TTFT_MS };
    }),
  );
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await Promise.all(calls.splice(0).map((c) => c.close('test over')));
});

async function newCall(): Promise<Call> {
  const call = await startCall(server);
  calls.push(call);
  return call;
}

const billingLines = (events: CallEvent[]) =>
  events.filter((e): e is CallEvent & { type: 'agent' } => e.type === 'agent' && e.agent === 'billing');

/** Billing's takeover requests of this call, in order. */
const billingEntries = (call: Call): RecordedRequest[] =>
  requestsOf(server, call).filter((r) => deskOf(r.body) === 'Billing' && isTakeover(r.body));

/**
 * The caller asks for billing; once Billing has taken the line and while its prepared reply is still
 * being made, `save` runs (caller details saved). Returns the call's events from the caller's line on.
 */
async function saveDuringPreparation(call: Call, save: () => void): Promise<CallEvent[]> {
  const from = call.events.length;
  const turn = say(call, 'I was charged twice on my card');
  // Billing is on the line, its reply prepared at the transfer asked for (the handoff event itself
  // comes once Billing is heard).
  const until = Date.now() + 5000;
  while (!(call.session.currentAgent.id === 'billing' && billingEntries(call).length === 1)) {
    if (Date.now() > until) throw new Error('Billing never took the line');
    await sleep(10);
  }
  await sleep(SAVE_AFTER_MS);
  // Still inside the window: Billing is on the line, its prepared reply not yet answered.
  expect(call.activeRole).toBe('billing');
  const prepared = billingEntries(call);
  expect(prepared).toHaveLength(1);
  expect(Date.now() - prepared[0]!.at, 'saved before the prepared reply could arrive').toBeLessThan(TTFT_MS - 100);
  save();
  await turn;
  if (!billingLines(call.events.slice(from)).length) {
    await waitForEvent(call, (e) => e.type === 'agent' && e.agent === 'billing', 5000);
  }
  await sleep(300); // a second entry reply, if there were one, lands too
  await call.session.waitForIdle?.();
  return call.events.slice(from);
}

/** The request whose reply is this line. */
const requestOf = (call: Call, text: string) => requestsOf(server, call).find((r) => r.reply?.text?.trim() === text.trim());

describe('a prepared reply and caller details saved while it is being made', () => {
  it('the caller\'s name saved after the new desk took the line: the reply heard knows the name; the prepared one is thrown away', async () => {
    const call = await newCall();
    const events = await saveDuringPreparation(call, () => call.updateCaller({ name: 'Maya' }));
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
    expect(events.filter((e) => e.type === 'handoff')).toMatchObject([{ from: 'triage', to: 'billing' }]);
    // Exactly one billing entry reply heard, and it knows the name.
    const heard = billingLines(events);
    expect(heard.map((e) => e.text)).toHaveLength(1);
    expect(heard[0]!.text).toContain('Maya');
    const madeBy = requestOf(call, heard[0]!.text);
    expect(madeBy).toBeDefined();
    expect(systemText(madeBy!.body)).toContain('name: Maya');
    // The reply prepared before the name was known did not play.
    expect(call.prepared).toMatchObject({ requests: 1, used: 0, thrownAway: 1 });
    expect(billingEntries(call)).toHaveLength(2);
  });

  it('the caller\'s language saved (Hindi) after the new desk took the line: the reply heard is in Hindi', async () => {
    const call = await newCall();
    const events = await saveDuringPreparation(call, () => call.updateCaller({ language: 'hi' }));
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
    expect(call.session.userData.caller.language).toBe('hi');
    const heard = billingLines(events);
    expect(heard.map((e) => e.text)).toHaveLength(1);
    expect(detectLanguage(heard[0]!.text), heard[0]!.text).toBe('hi');
    const madeBy = requestOf(call, heard[0]!.text);
    expect(madeBy).toBeDefined();
    expect(systemText(madeBy!.body)).toContain('The caller speaks Hindi');
    expect(call.prepared).toMatchObject({ requests: 1, used: 0, thrownAway: 1 });
  });

  it('a prepared hop (the middle desk of a chain) is judged again when its turn runs: details saved between take and turn make it a live request', async () => {
    const call = await newCall();
    await say(call, 'I was charged twice on my card'); // → billing
    // The moment the front desk's entry turn is scheduled (its prepared hop taken, not yet served),
    // the caller's name is saved — as a lookup or update_caller_info could.
    let saved = false;
    call.session.on(voice.AgentSessionEventTypes.SpeechCreated, () => {
      if (saved || call.activeRole !== 'triage') return;
      saved = true;
      call.updateCaller({ name: 'Maya' });
    });
    await say(call, 'I would also like to upgrade my plan'); // billing → triage → sales
    expect(saved).toBe(true);
    expect(call.events.filter((e) => e.type === 'handoff').map((e) => (e as { to: string }).to)).toEqual(['billing', 'triage', 'sales']);
    const triageHops = requestsOf(server, call).filter((r) => deskOf(r.body) === 'Triage' && isTakeover(r.body));
    // The prepared hop, then the live request that replaced it, knowing the name.
    expect(triageHops).toHaveLength(2);
    expect(systemText(triageHops[1]!.body)).toContain('name: Maya');
    expect(call.prepared.thrownAway).toBeGreaterThanOrEqual(1);
  });
});
