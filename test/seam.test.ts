/**
 * The seam under realistic timing: what the caller hears around a transfer when the model is slow,
 * when the caller talks over it, when the model batches tools or calls a transfer twice, and when
 * the machine says no. Real AgentSession, real OpenAI plugin, scripted server over HTTP.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../src/call/call.js';
import type { CallEvent } from '../src/call/events.js';
import {
  type ChatRequest,
  type RecordedRequest,
  type ScriptedReply,
  type ScriptedServer,
  deskOf,
  historyProblem,
  systemText,
  textOf,
} from '../dev/scripted-llm.js';
import { detectLanguage } from '../src/language.js';
import { callTools, directiveScript, requestsOf, say, sleep, startCall, startServer, waitForEvent } from './support/harness.js';

let server: ScriptedServer;
let timing: ScriptedReply = {};
/** A test's own answer to some requests (the chain tests script entry replies); undefined: the default script. */
let scripted: ((req: ChatRequest, rec: RecordedRequest) => ScriptedReply | undefined) | undefined;
const calls: Call[] = [];

beforeAll(async () => {
  // Every reply gets the current test's timing (slow model, streamed in pieces).
  const base = directiveScript((req, rec) => scripted?.(req, rec));
  server = await startServer(async (req, rec) => ({ ...(await base(req, rec)), ...timing }));
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  timing = {};
  scripted = undefined;
  await Promise.all(calls.splice(0).map((c) => c.close('test over')));
});

async function newCall(o: Parameters<typeof startCall>[1] = {}) {
  const call = await startCall(server, o);
  calls.push(call);
  return call;
}

/** What the caller hears of a turn: its lines and transfers (without the `turn` event that times it: test/turn-latency.test.ts). */
const heard = (events: CallEvent[]) => events.filter((e) => e.type !== 'turn');
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
    const events = heard(await say(call, 'I was charged twice on my card'));
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
    const events = heard(await say(call, 'I was charged twice on my card'));
    expect(events.map((e) => e.type)).toEqual(['user', 'agent', 'handoff', 'agent']);
    expectCleanSeam(events, 'triage', 'billing');
    // A second need: Billing hands back to Triage, which routes on to Sales from the same caller line.
    const back = await say(call, 'I also want to upgrade my plan');
    expectChain(back, ['billing', 'triage', 'sales']);
    expect(call.machineState).toBe('sales');
    // Each hop's first reply was prepared while the line before it played, and used: the chained hop's
    // prepared reply (a transfer) answered triage's own turn, so no request was made twice.
    expect(call.prepared).toMatchObject({ requests: 3, used: 3, thrownAway: 0 });
    expectValidHistories(call);
  });

  it.each([
    ['prepared while the old line plays', true],
    ['asked for live (PREPARE_REPLIES=false)', false],
  ] as const)('each handoff says where its time went: the new desk\'s reply %s', async (_how, prepareReplies) => {
    timing = { ttftMs: 300, chunkDelayMs: 10 };
    const call = await newCall({ prepareReplies });
    await say(call, 'I was charged twice on my card');
    await say(call, 'I also want to upgrade my plan'); // billing → triage → sales
    const handoffs = call.events.filter((e): e is CallEvent & { type: 'handoff' } => e.type === 'handoff');
    expect(handoffs.map((h) => `${h.from}→${h.to}`)).toEqual(['triage→billing', 'billing→triage', 'triage→sales']);
    for (const h of handoffs) {
      const what = `${h.from}→${h.to}`;
      // The machine's decision is synchronous and quick; the swap waited for nothing the caller hears on a text call.
      expect(h.stages!.decisionMs, what).toBeGreaterThanOrEqual(0);
      expect(h.stages!.decisionMs!, what).toBeLessThan(50);
      expect(h.stages!.swapMs, what).not.toBeNull();
      // The first reply's request took the model's 300 ms to its first token, whichever request it was.
      expect(h.stages!.llmTtftMs!, what).toBeGreaterThanOrEqual(280);
      expect(h.stages!.preparedPlayed, what).toBe(prepareReplies);
      // No sound on a text call: nothing to synthesize, no silence to measure, no bridging line.
      expect(h.stages, what).toMatchObject({ ttsTtfbMs: null, silenceMs: null, bridged: false });
    }
  });

  it('a Hindi caller, slow streaming model: the same seam, every desk told the language, every line in Hindi', async () => {
    timing = { ttftMs: 250, chunkDelayMs: 15 };
    const call = await newCall();
    const events = heard(await say(call, 'मेरे कार्ड से इस महीने दो बार पैसे कट गए हैं'));
    expect(events.filter((e) => e.type !== 'caller').map((e) => e.type)).toEqual(['user', 'agent', 'handoff', 'agent']);
    expectCleanSeam(events, 'triage', 'billing');
    expect(call.actor.getSnapshot().context.caller.language).toBe('hi');
    // The new desk's first reply, above all, is told — and so answers in Hindi, as does the old desk's line.
    const entry = requestsOf(server, call).find((r) => deskOf(r.body) === 'Billing')!.body;
    expect(systemText(entry)).toContain('The caller speaks Hindi');
    expect(systemText(entry)).toContain('You have just taken over this call from Triage');
    for (const line of agentLines(events)) expect(detectLanguage(line.text), `${line.agent}: "${line.text}"`).toBe('hi');
    // Two needs: back through Triage and on to Sales, still in Hindi, nobody told twice what to say.
    const back = await say(call, 'और मुझे अपना प्लान भी बदलना है, नया प्लान चाहिए');
    expectChain(back, ['billing', 'triage', 'sales']);
    for (const line of agentLines(back)) expect(detectLanguage(line.text), `${line.agent}: "${line.text}"`).toBe('hi');
    for (const r of requestsOf(server, call).filter((r) => r.body.messages.some((m) => m.role === 'user'))) {
      expect(systemText(r.body), deskOf(r.body)).toContain('The caller speaks Hindi');
    }
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
  it('at the cap with no human number: no transfer is offered, the same desk says it cannot, nothing refused', async () => {
    const call = await newCall({ maxHandoffs: 1 });
    await say(call, 'I was charged twice on my card');
    const events = await say(call, 'I also want to upgrade my plan');
    expect(events.filter((e) => e.type === 'handoff' || e.type === 'rejected')).toEqual([]);
    const lines = agentLines(events);
    expect(lines.map((e) => e.agent)).toEqual(['billing']);
    expect(lines[0]!.text).toMatch(/can't transfer you to another department on this call/);
    expect(call.machineState).toBe('billing');
    expectValidHistories(call);
  });

  it('at the cap with a human number: only the person is offered; the desk offers them instead of escalating unasked', async () => {
    const call = await newCall({ maxHandoffs: 1, humanAvailable: true });
    await say(call, 'I was charged twice on my card');
    const events = await say(call, 'I also want to upgrade my plan');
    expect(events.filter((e) => e.type === 'handoff' || e.type === 'rejected')).toEqual([]);
    expect(agentLines(events)).toMatchObject([{ agent: 'billing', text: expect.stringMatching(/connect you to a colleague/) }]);
    expect(call.machineState).toBe('billing');
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
    ['arguments that are not JSON', callTools({ name: 'pass_control_to_billing', arguments: 'billing, {{please' })],
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

// ---- chained transfers at the seam ------------------------------------------------------------------

const TAKEOVER = /You have just taken over this call from ([\w -]+?);/;
/** Entry requests (a desk taking the call over) the server received in this test, in order. */
let entryRequests: string[] = [];

/**
 * Entry replies of desks taking the call over: `hops[desk]` is where that desk's entry reply passes the
 * caller on (one short line and the transfer tool, after `ttftMs`); any other takeover continues the
 * call with one line. Requests that answer a tool result, and every later turn, are the default script's.
 */
function scriptEntries(hops: Partial<Record<string, string>>, ttftMs = 0) {
  entryRequests = [];
  scripted = (req) => {
    if (!TAKEOVER.test(systemText(req)) || req.messages.at(-1)?.role === 'tool') return undefined;
    const desk = deskOf(req).toLowerCase();
    entryRequests.push(desk);
    const to = hops[desk];
    if (!to) return { text: `${deskOf(req)} here, carrying on with what you need.` };
    const name = to === 'human' ? 'transfer_to_human' : `pass_control_to_${to}`;
    return { text: `Let me pass you on to ${to}.`, toolCalls: [{ name, arguments: { reason: `passing the caller on to ${to}` } }], ttftMs };
  };
}

/**
 * The moments, in a slow middle desk's taking of the line, when the caller (or the keypad, or a
 * supervisor) cuts in — both on the desk's entry request (its first request, whatever answers it):
 * with prepared replies on (the product's default), while the reply prepared at the transfer is still
 * being made (a reply that routes onward is then served to the desk's own turn); with prepared
 * replies off (PREPARE_REPLIES=false), while the desk's own entry reply is under way.
 */
const MOMENTS = [
  ['while its prepared entry reply is being made', true],
  ['while its entry reply is under way (prepared replies off)', false],
] as const;

async function entryRequest(desk: string, nth: number, timeoutMs = 5000) {
  const until = Date.now() + timeoutMs;
  while (entryRequests.filter((d) => d === desk).length < nth) {
    if (Date.now() > until) throw new Error(`no entry request #${nth} from ${desk}; saw ${JSON.stringify(entryRequests)}`);
    await sleep(5);
  }
}

/**
 * The whole call as the caller heard it: every line from the desk on the line when it was said, no
 * line said twice, every request a valid history.
 */
function expectHearingOrder(call: Call) {
  let desk: string = 'triage';
  for (const e of call.events) {
    if (e.type === 'handoff') desk = e.to;
    if (e.type === 'agent') expect(e.agent, `"${e.text}" said while the call was with ${desk}`).toBe(desk);
  }
  const texts = agentLines(call.events).map((e) => e.text.trim()).filter(Boolean);
  expect(texts.filter((t, i) => texts.indexOf(t) !== i), 'lines said twice').toEqual([]);
  expect(call.events.filter((e) => e.type === 'error')).toEqual([]);
  expect(call.machineState).toBe(call.activeRole);
  expectValidHistories(call);
}

/** Lets a turn's last lines land (a chain's end, a reply to an interjection). */
async function quiet(call: Call, ms = 300) {
  let n = -1;
  while (n !== call.events.length) {
    n = call.events.length;
    await sleep(ms);
  }
}

const transcript = (call: Call) =>
  call.events
    .map((e) =>
      e.type === 'agent' ? `${e.agent}${e.interrupted ? '(cut)' : ''}: ${e.text}`
      : e.type === 'user' ? `caller: ${e.text}`
      : e.type === 'handoff' ? `[${e.from}→${e.to}${e.escalated ? ' escalated' : ''}]`
      : e.type === 'rejected' ? `[refused ${e.from}→${e.to}: ${e.reason}]`
      : `[${e.type}]`,
    )
    .join('\n');

/** The caller talks over the desk on the line (voice cuts the speech, then the line is heard). */
async function callerSays(call: Call, text: string) {
  try {
    await call.session.interrupt().await;
  } catch {
    /* nothing to interrupt, or uninterruptible: either way the caller has spoken */
  }
  return call.session.generateReply({ userInput: text });
}

describe('chained transfers at the seam', () => {
  it('a ping-pong entry reply (straight back where the caller came from) is refused with the reason; the desk keeps helping', async () => {
    scriptEntries({ billing: 'triage' });
    const call = await newCall();
    const events = await say(call, 'I was charged twice on my card');
    await quiet(call);
    const all = heard(call.events.slice(call.events.indexOf(events[0]!)));
    expect(all.map((e) => e.type)).toEqual(['user', 'agent', 'handoff', 'agent', 'rejected', 'agent']);
    expect(all[2]).toMatchObject({ from: 'triage', to: 'billing' });
    expect(all[3]).toMatchObject({ agent: 'billing', text: 'Let me pass you on to triage.' });
    // The caller-facing reason, and nothing meant for the agent alone.
    expect(all[4]).toEqual({ type: 'rejected', from: 'billing', to: 'triage', reason: 'The caller has just come from triage.', source: 'agent', at: expect.any(Number) });
    expect(all[5]).toMatchObject({ agent: 'billing' });
    expect((all[5] as { text: string }).text).toContain('The caller has just come from triage.');
    expect(call.machineState).toBe('billing');
    expect(call.actor.getSnapshot().context.handoffCount).toBe(1);
    // The model was told why and what to do instead (guidance for it alone).
    const toolOut = requestsOf(server, call).at(-1)!.body.messages.at(-1)!;
    expect(toolOut.role).toBe('tool');
    expect(textOf(toolOut)).toMatch(/The caller has just come from triage\..*not to be read out: Do not send them straight back to triage/);
    // The desk keeps helping; once it has heard the caller, sending them to the front desk is no chain.
    const next = await say(call, 'hmm, can you check my last invoice?');
    expect(agentLines(next).map((e) => e.agent)).toEqual(['billing']);
    expect(next.filter((e) => e.type === 'handoff' || e.type === 'rejected')).toEqual([]);
    const back = await say(call, callTools({ name: 'pass_control_to_triage', arguments: { reason: 'caller wants the front desk' } }));
    expectCleanSeam(back, 'billing', 'triage');
    expectHearingOrder(call);
  });

  it('a chain that would spend the last transfer on the front desk, with no human number: not started, said once', async () => {
    const call = await newCall({ maxHandoffs: 2 });
    await say(call, 'I was charged twice on my card');
    // Billing → Triage would be the 2nd and last transfer, and Triage could send the caller nowhere: not offered.
    const events = await say(call, 'I also want to upgrade my plan');
    await quiet(call);
    const turn = heard(call.events.slice(call.events.indexOf(events[0]!)));
    expect(turn.map((e) => e.type)).toEqual(['user', 'agent']);
    expect(turn[1]).toMatchObject({ agent: 'billing', text: expect.stringMatching(/can't transfer you to another department on this call/) });
    expect(call.machineState).toBe('billing');
    expect(call.actor.getSnapshot().context.handoffCount).toBe(1);
    expectHearingOrder(call);
  });

  it('a chain that would spend the last transfer on the front desk, with a human number: the desk offers the person instead, in hearing order', async () => {
    const call = await newCall({ maxHandoffs: 2, humanAvailable: true });
    await say(call, 'I was charged twice on my card');
    const events = await say(call, 'I also want to upgrade my plan');
    await quiet(call);
    const turn = heard(call.events.slice(call.events.indexOf(events[0]!)));
    // The front desk could reach no department with the last transfer: Billing is not offered the hop, and
    // says so (offering the person) instead of "the front desk will get you to Sales".
    expect(turn.map((e) => e.type)).toEqual(['user', 'agent']);
    expect(turn[1]).toMatchObject({ agent: 'billing', text: expect.stringMatching(/can't transfer you to another department.*colleague/) });
    expect(call.events.filter((e) => e.type === 'rejected')).toEqual([]);
    expect(call.machineState).toBe('billing');
    await say(call, 'yes, a real person please');
    expect(call.machineState).toBe('human');
    const last = call.actor.getSnapshot().context.route.at(-1)!;
    expect(last).toMatchObject({ from: 'billing', to: 'human' });
    expect(last.escalated).toBeFalsy(); // asked for, not the cap's doing
    expectHearingOrder(call);
  });

  it.each(MOMENTS)('the caller speaking to the middle desk %s: the chain stops or goes on, consistently, one answer', async (_moment, prepareReplies) => {
    // Billing → Triage from the caller's line; Triage's entry reply (slow) passes them on to Sales.
    scriptEntries({ triage: 'sales' }, 400);
    const call = await newCall({ prepareReplies });
    await say(call, callTools({ name: 'pass_control_to_billing', arguments: { reason: 'double charge' } }));
    const turn = say(call, callTools({ name: 'pass_control_to_triage', arguments: { reason: 'caller needs sales: upgrade' } }));
    await entryRequest('triage', 1);
    const interjection = 'sorry, who am I talking to now?';
    const answered = await callerSays(call, interjection);
    await turn;
    await answered.waitForPlayout().catch(() => undefined);
    await quiet(call);
    const story = transcript(call);

    expectHearingOrder(call);
    const all = call.events;
    const spoke = all.findIndex((e) => e.type === 'user' && e.text === interjection);
    expect(spoke, story).toBeGreaterThan(0);
    const handoffs = all.filter((e): e is CallEvent & { type: 'handoff' } => e.type === 'handoff').map((h) => `${h.from}→${h.to}`);
    // Either the chain went on (once) or it stopped with Triage; never back, never twice.
    expect([['triage→billing', 'billing→triage'], ['triage→billing', 'billing→triage', 'triage→sales']], story).toContainEqual(handoffs);
    expect(all.filter((e) => e.type === 'rejected'), story).toEqual([]);
    const final = call.activeRole!;
    const after = agentLines(all.slice(spoke + 1));
    if (final === 'triage') {
      // The chain stopped: Triage heard the caller and answers them once; it passes nobody on.
      expect(after.map((e) => e.agent), story).toEqual(['triage']);
    } else {
      // The chain went on: the caller's line is answered once, by Sales; Triage said at most its
      // passing-on line, and it did not also answer the caller as if it were staying.
      expect(after.filter((e) => e.agent === 'sales'), story).toHaveLength(1);
      expect(after.filter((e) => e.agent === 'triage' && e.text !== 'Let me pass you on to sales.'), story).toEqual([]);
    }
    expect(after.at(-1)?.agent, story).toBe(final);
    // Whoever has the call heard the interjection.
    const lastReq = requestsOf(server, call).at(-1)!.body;
    expect(lastReq.messages.filter((m) => m.role === 'user').map(textOf), story).toContain(interjection);
    expect(deskOf(lastReq).toLowerCase(), story).toBe(final);
  });

  it.each(MOMENTS)('a ping-pong entry reply stays refused when the caller speaks %s: no second answer, not sent back', async (_moment, prepareReplies) => {
    scriptEntries({ billing: 'triage' }, 400);
    const call = await newCall({ prepareReplies });
    const turn = say(call, callTools({ name: 'pass_control_to_billing', arguments: { reason: 'double charge' } }));
    await entryRequest('billing', 1);
    const interjection = 'sorry, who am I talking to now?';
    const answered = await callerSays(call, interjection);
    await turn;
    await answered.waitForPlayout().catch(() => undefined);
    await quiet(call);
    const story = transcript(call);
    expectHearingOrder(call);
    // Billing answers the caller once and keeps them: its entry reply, made to send them straight
    // back, is either cut by the caller or refused — never carried out after the caller was answered.
    expect(call.machineState, story).toBe('billing');
    expect(call.actor.getSnapshot().context.route.map((r) => `${r.from}→${r.to}`), story).toEqual(['triage→billing']);
    const spoke = call.events.findIndex((e) => e.type === 'user' && e.text === interjection);
    const answers = agentLines(call.events.slice(spoke + 1)).filter((e) => !/The caller has just come from triage/.test(e.text));
    expect(answers.map((e) => e.agent), story).toEqual(['billing']);
  });

  it.each(MOMENTS.flatMap(([moment, prepareReplies]) => [
    ['the keypad', moment, prepareReplies, (call: Call) => call.pressKey('3')],
    ['a supervisor', moment, prepareReplies, (call: Call) => call.requestTransfer('support', 'supervisor moved the call', 'supervisor')],
  ] as const))('%s overtaking a chain %s: the call goes where it was sent, the chained request refused or never made, one reply', async (who, _moment, prepareReplies, overtake) => {
    scriptEntries({ triage: 'sales' }, 400);
    const call = await newCall({ dtmfMap: { '3': 'support' }, prepareReplies });
    await say(call, callTools({ name: 'pass_control_to_billing', arguments: { reason: 'double charge' } }));
    const turn = say(call, callTools({ name: 'pass_control_to_triage', arguments: { reason: 'caller needs sales: upgrade' } }));
    await entryRequest('triage', 1);
    const answer = overtake(call);
    expect(answer, who).toMatchObject({ accepted: true, to: 'support' });
    await turn;
    await quiet(call);
    const story = transcript(call);

    expect(call.machineState, story).toBe('support');
    expect(call.activeRole, story).toBe('support');
    const handoffs = call.events.filter((e): e is CallEvent & { type: 'handoff' } => e.type === 'handoff');
    expect(handoffs.map((h) => `${h.from}→${h.to}`), story).toEqual(['triage→billing', 'billing→triage', 'triage→support']);
    expect(handoffs[2]!.source).toBe(who === 'the keypad' ? 'keypad' : 'supervisor');
    // The chain's request to Sales: never carried out (refused, or never reached the machine).
    expect(call.actor.getSnapshot().context.route.map((r) => r.to), story).toEqual(['billing', 'triage', 'support']);
    for (const r of call.events.filter((e) => e.type === 'rejected')) expect(r, story).toMatchObject({ to: 'sales' });
    // One reply from Support, nothing from Triage after the overtaking transfer.
    const at = call.events.indexOf(handoffs[2]!);
    expect(agentLines(call.events.slice(at + 1)).map((e) => e.agent), story).toEqual(['support']);
    expectHearingOrder(call);
  });
});
