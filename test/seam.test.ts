/**
 * The seam under realistic timing: what the caller hears around a transfer when the model is slow,
 * when the caller talks over it, when the model batches tools or calls a transfer twice, and when
 * the machine says no. Real AgentSession, real OpenAI plugin, scripted server over HTTP.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../src/call/call.js';
import type { CallEvent } from '../src/call/events.js';
import { type ScriptedReply, type ScriptedServer, deskOf, historyProblem, systemText, textOf } from '../dev/scripted-llm.js';
import { callTools, directiveScript, requestsOf, say, sleep, startCall, startServer, waitForEvent } from './support/harness.js';

let server: ScriptedServer;
let timing: ScriptedReply = {};
const calls: Call[] = [];

beforeAll(async () => {
  // Every reply gets the current test's timing (slow model, streamed in pieces).
  const base = directiveScript();
  server = await startServer(async (req, rec) => ({ ...(await base(req, rec)), ...timing }));
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  timing = {};
  await Promise.all(calls.splice(0).map((c) => c.close('test over')));
});

async function newCall(o: Parameters<typeof startCall>[1] = {}) {
  const call = await startCall(server, o);
  calls.push(call);
  return call;
}

const agentLines = (events: CallEvent[]) =>
  events.filter((e): e is CallEvent & { type: 'agent' } => e.type === 'agent');

/** After the handoff: exactly one line, from the new agent; nothing from the old one. */
function expectCleanSeam(events: CallEvent[], from: string, to: string) {
  const handoffs = events.filter((e) => e.type === 'handoff');
  expect(handoffs).toHaveLength(1);
  expect(handoffs[0]).toMatchObject({ from, to });
  const after = events.slice(events.indexOf(handoffs[0]!) + 1);
  expect(agentLines(after).map((e) => e.agent)).toEqual([to]);
  expect(events.filter((e) => e.type === 'error')).toEqual([]);
}

/**
 * A chain (one caller line, several hops): the hops in order, each desk on the way says at most one
 * line, every line is attributed to the desk on the line when it was said, and the last desk speaks last.
 */
function expectChain(events: CallEvent[], desks: string[]) {
  const handoffs = events.filter((e) => e.type === 'handoff');
  expect(handoffs.map((h) => [h.from, h.to])).toEqual(desks.slice(1).map((d, i) => [desks[i], d]));
  let desk = desks[0];
  const perDesk = new Map<string, number>();
  for (const e of events) {
    if (e.type === 'handoff') desk = e.to;
    if (e.type === 'agent') {
      expect(e.agent, `"${e.text}" said after the call moved to ${desk}`).toBe(desk);
      perDesk.set(e.agent, (perDesk.get(e.agent) ?? 0) + 1);
    }
  }
  for (const d of desks.slice(1, -1)) expect(perDesk.get(d) ?? 0, `${d} passing the caller on`).toBeLessThanOrEqual(1);
  expect(agentLines(events).at(-1)?.agent).toBe(desks.at(-1));
  expect(events.filter((e) => e.type === 'error')).toEqual([]);
}

function expectValidHistories(call: Call) {
  for (const r of requestsOf(server, call)) {
    expect(r.invalid).toBeUndefined();
    expect(historyProblem(r.body.messages)).toBeUndefined();
  }
}

describe('a transfer, as the caller hears it', () => {
  it('the old agent says its line, then the new agent continues once — no new greeting, no old prompt', async () => {
    const call = await newCall({ caller: { phoneNumber: '+14155550100' } });
    await say(call, 'Hi, my name is Maya');
    const events = await say(call, 'I was charged twice on my card');
    expect(events.map((e) => e.type)).toEqual(['user', 'agent', 'handoff', 'agent']);
    expect(events[1]).toMatchObject({ agent: 'triage', text: 'Let me transfer you to billing.' });
    expectCleanSeam(events, 'triage', 'billing');

    const billing = requestsOf(server, call).filter((r) => deskOf(r.body) === 'Billing');
    expect(billing).toHaveLength(1);
    const entry = billing[0]!.body;
    // Continues the call: told why, told who; its tools are offered so it may route onward at once
    // (a chained transfer); its only prompt is its own.
    expect(entry.tool_choice).toBe('auto');
    expect(entry.tools?.map((t) => t.function.name)).toContain('pass_control_to_triage');
    const sys = systemText(entry);
    expect(sys).toContain('You have just taken over this call from Triage');
    expect(sys).toContain('I was charged twice on my card');
    expect(sys).toContain('Do not greet the caller');
    expect(sys).toContain('name: Maya');
    expect(sys).toContain('phone number: +14155550100');
    expect(sys).not.toContain('You are the Triage desk');
    expect(entry.messages.filter((m) => m.role === 'system' || m.role === 'developer')).toHaveLength(1);
    // The conversation is carried: the greeting, the caller's lines, Maya's saved details.
    const texts = entry.messages.map(textOf).join('\n');
    expect(texts).toContain('Thank you for calling Acme');
    expect(texts).toContain('Hi, my name is Maya');
    expect(texts).toContain('Let me transfer you to billing.');
    expect(entry.messages.some((m) => m.tool_calls?.some((c) => c.function.name === 'update_caller_info'))).toBe(true);
    expect(call.session.userData.caller).toMatchObject({ name: 'Maya', phoneNumber: '+14155550100' });
    expectValidHistories(call);
    // The time from the tool call to the new agent's first LLM request is recorded.
    expect(call.handoffs).toHaveLength(1);
    expect(call.handoffs[0]!.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('with a slow, streaming model the order still holds and nobody speaks twice', async () => {
    timing = { ttftMs: 250, chunkDelayMs: 15 };
    const call = await newCall();
    const events = await say(call, 'I was charged twice on my card');
    expect(events.map((e) => e.type)).toEqual(['user', 'agent', 'handoff', 'agent']);
    expectCleanSeam(events, 'triage', 'billing');
    // A second need: Billing hands back to Triage, which routes on to Sales from the same caller line.
    const back = await say(call, 'I also want to upgrade my plan');
    expectChain(back, ['billing', 'triage', 'sales']);
    expect(call.machineState).toBe('sales');
    expectValidHistories(call);
  });

  it('the caller talking over a transfer does not undo it', async () => {
    timing = { ttftMs: 100, chunkDelayMs: 30 };
    const call = await newCall();
    let interjected: Promise<unknown> | undefined;
    const sub = call.actor.subscribe((snap) => {
      if (snap.value === 'billing' && !interjected) {
        // Barge-in the moment the machine has accepted: the caller's voice cuts the speech.
        interjected = (async () => {
          try {
            await call.session.interrupt().await;
          } catch {
            /* uninterruptible: that is the point */
          }
          call.session.generateReply({ userInput: 'hello? are you still there?' });
        })();
      }
    });
    const events = await say(call, 'I was charged twice on my card');
    await interjected;
    sub.unsubscribe();
    await sleep(600);
    await call.session.waitForIdle?.();
    expect(call.machineState).toBe('billing');
    expect(call.activeRole).toBe('billing');
    const all = call.events;
    const handoff = all.find((e) => e.type === 'handoff')!;
    expect(handoff).toMatchObject({ from: 'triage', to: 'billing' });
    // Triage never speaks again; everything after the handoff is billing's.
    const after = agentLines(all.slice(all.indexOf(handoff) + 1));
    expect(after.length).toBeGreaterThanOrEqual(1);
    expect(after.every((e) => e.agent === 'billing')).toBe(true);
    const reqsAfter = requestsOf(server, call).filter((r) => r.at >= handoff.at - 1000);
    expect(reqsAfter.filter((r) => deskOf(r.body) === 'Triage' && r.at > handoff.at)).toEqual([]);
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
    expectValidHistories(call);
  });

  it('a transfer batched with another tool: both run, the old agent stays silent', async () => {
    const call = await newCall();
    const events = await say(
      call,
      callTools(
        { name: 'update_caller_info', arguments: { name: 'Ravi', accountId: 'AC-991' } },
        { name: 'pass_control_to_billing', arguments: { reason: 'double charge' } },
      ),
    );
    expectCleanSeam(events, 'triage', 'billing');
    expect(call.session.userData.caller).toMatchObject({ name: 'Ravi', accountId: 'AC-991' });
    const billing = requestsOf(server, call).filter((r) => deskOf(r.body) === 'Billing');
    expect(billing).toHaveLength(1);
    expect(systemText(billing[0]!.body)).toContain('account id: AC-991');
    // The saved details stay in the history with their result; the triage transfer call does not.
    const names = billing[0]!.body.messages.flatMap((m) => m.tool_calls?.map((c) => c.function.name) ?? []);
    expect(names).toEqual(['update_caller_info']);
    expectValidHistories(call);
  });

  it('a transfer tool called twice in one turn transfers once', async () => {
    const call = await newCall();
    const events = await say(
      call,
      callTools(
        { name: 'pass_control_to_billing', arguments: { reason: 'first' } },
        { name: 'pass_control_to_billing', arguments: { reason: 'second' } },
      ),
    );
    expectCleanSeam(events, 'triage', 'billing');
    expect(call.actor.getSnapshot().context.handoffCount).toBe(1);
    expect(call.actor.getSnapshot().context.route.map((r) => r.reason)).toEqual(['first']);
    expectValidHistories(call);
  });

  it('two different transfers in one turn: the first wins, the second is not carried out', async () => {
    const call = await newCall();
    const events = await say(
      call,
      callTools(
        { name: 'pass_control_to_sales', arguments: { reason: 'upgrade' } },
        { name: 'pass_control_to_support', arguments: { reason: 'broken' } },
      ),
    );
    expectCleanSeam(events, 'triage', 'sales');
    expect(call.machineState).toBe('sales');
    expectValidHistories(call);
  });

  it('a keypad or supervisor transfer cuts a long answer short and swaps at once', async () => {
    timing = { ttftMs: 50, chunkDelayMs: 40 };
    const call = await newCall();
    const turn = call.session.run({ userInput: 'tell me everything about your company please' });
    await sleep(150);
    const answer = call.requestTransfer('support', 'caller pressed 3', 'keypad');
    expect(answer).toMatchObject({ accepted: true, to: 'support' });
    await turn.wait();
    if (!call.events.some((e) => e.type === 'agent' && e.agent === 'support')) {
      await waitForEvent(call, (e) => e.type === 'agent' && e.agent === 'support', 5000);
    }
    const handoff = call.events.find((e) => e.type === 'handoff')!;
    expect(handoff).toMatchObject({ from: 'triage', to: 'support', source: 'keypad' });
    // Triage's answer was cut off, not played to the end, and support spoke once after the swap.
    const before = agentLines(call.events.slice(0, call.events.indexOf(handoff))).slice(1);
    expect(before.every((e) => e.agent === 'triage' && e.interrupted)).toBe(true);
    expect(agentLines(call.events.slice(call.events.indexOf(handoff) + 1)).map((e) => e.agent)).toEqual(['support']);
    expect(call.activeRole).toBe('support');
    expectValidHistories(call);
  });
});

describe('refusals: the caller stays and hears why', () => {
  it('past the cap with no human number: refused, explained by the same agent', async () => {
    const call = await newCall({ maxHandoffs: 1 });
    await say(call, 'I was charged twice on my card');
    const events = await say(call, 'I also want to upgrade my plan');
    expect(events.filter((e) => e.type === 'handoff')).toEqual([]);
    const rejected = events.find((e) => e.type === 'rejected');
    expect(rejected).toMatchObject({ from: 'billing', to: 'triage' });
    expect((rejected as { reason: string }).reason).toMatch(/limit of 1 transfer/);
    const lines = agentLines(events);
    expect(lines.map((e) => e.agent)).toEqual(['billing', 'billing']);
    expect(lines.at(-1)!.text).toMatch(/limit of 1 transfer/);
    expect(call.machineState).toBe('billing');
    expectValidHistories(call);
  });

  it('past the cap with a human number: escalated to a person instead', async () => {
    const call = await newCall({ maxHandoffs: 1, humanAvailable: true });
    await say(call, 'I was charged twice on my card');
    const events = await say(call, 'I also want to upgrade my plan');
    const handoff = events.find((e) => e.type === 'handoff');
    expect(handoff).toMatchObject({ from: 'billing', to: 'human', escalated: true });
    expect(call.machineState).toBe('human');
    expect(agentLines(events).at(-1)).toMatchObject({ agent: 'human' });
    expectValidHistories(call);
  });

  it('a failed transfer to a person brings the caller back to the department they came from', async () => {
    const call = await newCall({
      humanAvailable: true,
      connectHuman: async () => {
        throw new Error('SIP 486 Busy Here');
      },
    });
    await say(call, 'I was charged twice on my card');
    const events = await say(call, 'I want a human');
    expect(events.find((e) => e.type === 'handoff')).toMatchObject({ from: 'billing', to: 'human' });
    await waitForEvent(call, (e) => e.type === 'agent' && e.agent === 'billing', 5000);
    expect(call.machineState).toBe('billing');
    expect(call.events.some((e) => e.type === 'error' && /486/.test(e.message))).toBe(true);
    const lastBilling = requestsOf(server, call).filter((r) => deskOf(r.body) === 'Billing').at(-1)!;
    expect(systemText(lastBilling.body)).toContain('did not go through (SIP 486 Busy Here)');
    expectValidHistories(call);
  });

  it.each([
    ['an unknown tool', callTools({ name: 'pass_control_to_legal', arguments: { reason: 'contract' } })],
    ['a transfer to the current department', callTools({ name: 'pass_control_to_triage', arguments: { reason: 'x' } })],
    ['a reason that is not a string', callTools({ name: 'pass_control_to_billing', arguments: { reason: 42 } })],
    ['a missing reason', callTools({ name: 'pass_control_to_billing', arguments: {} })],
    ['arguments that are not JSON', callTools({ name: 'pass_control_to_billing', arguments: '{"reason": ' })],
  ])('%s: no transfer, the agent answers', async (_name, line) => {
    const call = await newCall();
    const events = await say(call, line);
    expect(events.filter((e) => e.type === 'handoff')).toEqual([]);
    expect(call.machineState).toBe('triage');
    expect(call.activeRole).toBe('triage');
    expect(agentLines(events).map((e) => e.agent)).toEqual(['triage']);
    expectValidHistories(call);
    // The call goes on normally afterwards.
    const next = await say(call, 'I was charged twice on my card');
    expectCleanSeam(next, 'triage', 'billing');
  });

  it('keypad and supervisor requests obey the same guards', async () => {
    const call = await newCall({ maxHandoffs: 3 });
    expect(call.requestTransfer('triage', 'pressed 0', 'keypad')).toMatchObject({
      accepted: false,
      reason: expect.stringMatching(/already with triage/),
    });
    await say(call, 'I was charged twice on my card');
    expect(call.requestTransfer('sales', 'supervisor moved it', 'supervisor')).toMatchObject({
      accepted: false,
      reason: expect.stringMatching(/only to triage/),
    });
    expect(call.requestTransfer('legal', 'x', 'supervisor')).toMatchObject({
      accepted: false,
      reason: expect.stringMatching(/no "legal" department/),
    });
    expect(call.requestTransfer('human', 'x', 'supervisor')).toMatchObject({ accepted: false });
    const rejected = call.events.filter((e) => e.type === 'rejected');
    expect(rejected.map((e) => (e as { source: string }).source)).toEqual(['keypad', 'supervisor', 'supervisor', 'supervisor']);
    expect(call.machineState).toBe('billing');
  });
});
