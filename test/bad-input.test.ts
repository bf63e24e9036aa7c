/**
 * Nothing lost, part 5: bad input from the model or the caller never crashes a call or moves it where
 * the machine does not allow. Unknown tools, malformed and oversized arguments, a transfer tool called
 * five times in one turn, departments ping-ponging until the cap, transfers the current state does not
 * offer, and empty, huge and non-English turns. Each case ends with the call still answering.
 *
 * Real orchestrator, real OpenAI plugin, scripted server over HTTP.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Target } from '../machines/router.js';
import { DEPARTMENT_TABLE } from '../src/departments.js';
import type { Call } from '../src/call/call.js';
import { type CallEvent } from '../src/call/events.js';
import { MAX_CALLER_FIELD_CHARS, MAX_REASON_CHARS, bounded } from '../src/call/context.js';
import { type ScriptedServer, deskOf, historyProblem, systemText, textOf } from '../dev/scripted-llm.js';
import { callTools, directiveScript, requestsOf, startCall, startServer } from './support/harness.js';

const HUGE = 200 * 1024;
/** 200 KB of reason, with a marker at the start and the end. */
const hugeReason = `START ${'the caller was double charged and is upset; '.repeat(Math.ceil(HUGE / 44)).slice(0, HUGE)} END`;
const hugeName = `Zed${'z'.repeat(HUGE)}`;

let server: ScriptedServer;
const calls: Call[] = [];
/** Every bad input tried, for the report. */
const tried: string[] = [];

beforeAll(async () => {
  server = await startServer(
    directiveScript((req) => {
      const last = req.messages.at(-1);
      if (last?.role !== 'user' || req.tool_choice === 'none') return undefined;
      const text = textOf(last);
      // Oversized arguments, asked for by a short caller line (so only the tool call is huge).
      if (text === 'oversized transfer') {
        return { text: 'Let me transfer you.', toolCalls: [{ name: 'pass_control_to_billing', arguments: { reason: hugeReason } }] };
      }
      if (text === 'oversized refused transfer') {
        return { toolCalls: [{ name: 'pass_control_to_triage', arguments: { reason: hugeReason } }] };
      }
      if (text === 'oversized name') {
        return { toolCalls: [{ name: 'update_caller_info', arguments: { name: hugeName, accountId: 'AC-1' } }] };
      }
      // A model stuck in a loop: every desk sends the caller to the other one, every turn.
      if (text === 'ping-pong') {
        const desk = deskOf(req);
        const to = desk === 'Triage' ? 'billing' : 'triage';
        return { text: `Let me get you to ${to}.`, toolCalls: [{ name: `pass_control_to_${to}`, arguments: { reason: 'loop' } }] };
      }
      return undefined;
    }),
  );
});
afterAll(async () => {
  await server.close();
  console.log(`bad inputs tried (${tried.length}): ${tried.join(' | ')}`);
});
afterEach(async () => {
  await Promise.all(calls.splice(0).map((c) => c.close('test over')));
});

async function newCall(o: Parameters<typeof startCall>[1] = {}) {
  const call = await startCall(server, o);
  calls.push(call);
  return call;
}

const agentLines = (events: CallEvent[]) => events.filter((e): e is CallEvent & { type: 'agent' } => e.type === 'agent');
const handoffs = (events: CallEvent[]) => events.filter((e): e is CallEvent & { type: 'handoff' } => e.type === 'handoff');
const errors = (events: CallEvent[]) => events.filter((e) => e.type === 'error');

/** Every request valid, machine and agent in agreement, the route only along the machine's edges. */
function expectSound(call: Call) {
  expect(call.machineState).toBe(call.activeRole);
  for (const r of requestsOf(server, call)) {
    expect(r.invalid).toBeUndefined();
    expect(historyProblem(r.body.messages)).toBeUndefined();
  }
  const allowed: Record<string, string[]> = {
    triage: ['billing', 'sales', 'support', 'human'],
    billing: ['triage', 'human'],
    sales: ['triage', 'human'],
    support: ['triage', 'human'],
  };
  for (const r of call.actor.getSnapshot().context.route) {
    if (r.from === 'human') continue; // HUMAN_TRANSFER_FAILED: back where the caller came from
    expect(allowed[r.from], JSON.stringify(r)).toContain(r.to);
  }
  expect(call.actor.getSnapshot().context.handoffCount).toBeLessThanOrEqual(call.actor.getSnapshot().context.maxHandoffs + 1);
}

/** One turn; returns its events. */
async function turn(call: Call, text: string, label = text.slice(0, 40)): Promise<CallEvent[]> {
  tried.push(label);
  const from = call.events.length;
  await call.session.run({ userInput: text }).wait();
  expectSound(call);
  return call.events.slice(from);
}

/** The call still answers: a plain line gets a line back from the department holding the call. */
async function expectStillAnswering(call: Call) {
  const role = call.machineState as Target;
  const from = call.events.length;
  const reqs = requestsOf(server, call).length;
  await call.session.run({ userInput: 'are you still there?' }).wait();
  const events = call.events.slice(from);
  expect(errors(events)).toEqual([]);
  expect(agentLines(events).map((e) => e.agent)).toEqual([role]);
  expect(deskOf(requestsOf(server, call)[reqs]!.body)).toBe(DEPARTMENT_TABLE[role].title);
  expect(call.machineState).toBe(role);
  expectSound(call);
}

describe('tools that do not exist, or not here', () => {
  it.each([
    ['an unknown tool', 'triage', { name: 'open_the_pod_bay_doors', arguments: {} }],
    ['a department that does not exist', 'triage', { name: 'pass_control_to_legal', arguments: { reason: 'contract' } }],
    ['transfer_to_human without a human number', 'triage', { name: 'transfer_to_human', arguments: { reason: 'wants a person' } }],
    ['transfer_to_human without a human number, from billing', 'billing', { name: 'transfer_to_human', arguments: { reason: 'x' } }],
    ['pass_control_to_sales from billing', 'billing', { name: 'pass_control_to_sales', arguments: { reason: 'upgrade' } }],
    ['pass_control_to_billing from billing', 'billing', { name: 'pass_control_to_billing', arguments: { reason: 'x' } }],
    ['pass_control_to_triage from triage', 'triage', { name: 'pass_control_to_triage', arguments: { reason: 'x' } }],
  ] as const)('%s: nobody moves, the agent explains, the call goes on', async (label, where, call_) => {
    const call = await newCall();
    if (where === 'billing') await turn(call, 'I was charged twice on my card');
    const before = call.actor.getSnapshot().context.handoffCount;
    const events = await turn(call, callTools(call_), label);
    expect(handoffs(events)).toEqual([]);
    expect(errors(events)).toEqual([]);
    expect(call.machineState).toBe(where);
    expect(call.actor.getSnapshot().context.handoffCount).toBe(before);
    // The same agent answers (explaining it cannot do that).
    expect(agentLines(events).map((e) => e.agent)).toEqual([where]);
    expect(agentLines(events)[0]!.text).toMatch(/can't do that/);
    await expectStillAnswering(call);
  });

  it('a supervisor or keypad asking for nonsense targets is refused by the machine', async () => {
    const call = await newCall();
    for (const to of ['', 'legal', 'constructor', '__proto__', 'toString', 'ended', 'x'.repeat(10_000), 'billing ']) {
      tried.push(`requestTransfer(${JSON.stringify(to.slice(0, 20))})`);
      expect(call.requestTransfer(to, 'x', 'supervisor')).toMatchObject({ accepted: false });
      expect(call.machineState).toBe('triage');
      expect(call.activeRole).toBe('triage');
    }
    await expectStillAnswering(call);
  });
});

describe('malformed arguments', () => {
  it.each([
    ['arguments that are a JSON array', '[1, 2, 3]'],
    ['arguments that are a JSON string', '"billing please"'],
    ['arguments that are not JSON at all', 'billing, {{please'],
    ['a reason that is a number', { reason: 42 }],
    ['a reason that is an object', { reason: { why: 'x' } }],
    ['a reason that is an array', { reason: ['a', 'b'] }],
  ] as const)('%s: no transfer, the agent answers', async (label, args) => {
    const call = await newCall();
    const events = await turn(
      call,
      callTools({ name: 'pass_control_to_billing', arguments: args as Record<string, unknown> | string }),
      label,
    );
    expect(handoffs(events)).toEqual([]);
    expect(errors(events)).toEqual([]);
    expect(call.machineState).toBe('triage');
    expect(agentLines(events).map((e) => e.agent)).toEqual(['triage']);
    await expectStillAnswering(call);
    // And a well-formed transfer still works afterwards.
    const next = await turn(call, 'I was charged twice on my card');
    expect(handoffs(next)).toMatchObject([{ from: 'triage', to: 'billing' }]);
  });

  // The target is in the tool's name: a reason that is not there is no reason to drop the transfer.
  it.each([
    ['a reason that is null', { reason: null }],
    ['a missing reason', {}],
    ['an empty arguments string', ''],
    ['arguments cut short (LiveKit repairs them to a null reason)', '{"reason": '],
  ] as const)('%s: the caller is moved, with "(no reason given)"', async (label, args) => {
    const call = await newCall();
    const events = await turn(
      call,
      callTools({ name: 'pass_control_to_billing', arguments: args as Record<string, unknown> | string }),
      label,
    );
    expect(handoffs(events)).toMatchObject([{ from: 'triage', to: 'billing', reason: '(no reason given)' }]);
    expect(errors(events)).toEqual([]);
    expect(call.machineState).toBe('billing');
    await expectStillAnswering(call);
  });

  it('update_caller_info with wrong types saves nothing and the call goes on', async () => {
    const call = await newCall();
    const events = await turn(call, callTools({ name: 'update_caller_info', arguments: { name: 7, accountId: ['x'] } }), 'caller info of wrong types');
    expect(errors(events)).toEqual([]);
    expect(call.session.userData.caller).toEqual({});
    await expectStillAnswering(call);
  });
});

describe('oversized arguments (policy: accepted, cut to a bound)', () => {
  it(`a 200 KB transfer reason: the transfer goes through with the reason cut to ${MAX_REASON_CHARS} characters`, async () => {
    const call = await newCall();
    const events = await turn(call, 'oversized transfer', 'a 200 KB transfer reason');
    const [h] = handoffs(events);
    expect(h).toMatchObject({ from: 'triage', to: 'billing' });
    const expected = bounded(hugeReason, MAX_REASON_CHARS);
    expect(Array.from(expected)).toHaveLength(MAX_REASON_CHARS);
    expect(expected.startsWith('START the caller was double charged')).toBe(true);
    expect(expected.endsWith('…')).toBe(true);
    expect(h!.reason).toBe(expected);
    expect(call.actor.getSnapshot().context.route.at(-1)!.reason).toBe(expected);
    // The new agent is told the cut reason, and its request stays small.
    const entry = requestsOf(server, call).filter((r) => deskOf(r.body) === 'Billing')[0]!;
    expect(systemText(entry.body)).toContain(expected);
    expect(systemText(entry.body)).not.toContain(' END');
    expect(JSON.stringify(entry.body).length).toBeLessThan(20_000);
    expect(agentLines(events).at(-1)).toMatchObject({ agent: 'billing' });
    await expectStillAnswering(call);
    // Back to triage: the huge call is not carried into later requests either.
    const back = await turn(call, 'I also want to upgrade my plan');
    // Back to triage, which passes the caller on to sales from the same line (a chained transfer).
    expect(handoffs(back)).toMatchObject([
      { from: 'billing', to: 'triage' },
      { from: 'triage', to: 'sales' },
    ]);
    for (const r of requestsOf(server, call).slice(-3)) expect(JSON.stringify(r.body).length).toBeLessThan(20_000);
  });

  it('a 200 KB reason on a transfer the desk is not offered (past the cap): nobody moves, the agent explains', async () => {
    const call = await newCall({ maxHandoffs: 1 });
    await turn(call, 'I was charged twice on my card');
    const events = await turn(call, 'oversized refused transfer', 'a 200 KB reason on a refused transfer');
    expect(handoffs(events)).toEqual([]);
    // At the cap billing has no transfer tool: the machine never hears of it, LiveKit answers the model.
    expect(events.filter((e) => e.type === 'rejected')).toEqual([]);
    expect(agentLines(events)[0]!.text).toMatch(/can't do that/);
    expect(call.machineState).toBe('billing');
    expect(agentLines(events).map((e) => e.agent)).toEqual(['billing']);
    await expectStillAnswering(call);
    // The refused call stays in billing's history, but what billing sends the model is cut.
    expect(call.session.history.items.some((i) => i.type === 'function_call' && i.args.length > HUGE)).toBe(true);
    for (const r of requestsOf(server, call).slice(-2)) expect(JSON.stringify(r.body).length).toBeLessThan(20_000);
  });

  it(`a 200 KB caller name is cut to ${MAX_CALLER_FIELD_CHARS} characters before it reaches any prompt`, async () => {
    const call = await newCall();
    await turn(call, 'oversized name', 'a 200 KB caller name');
    const name = call.session.userData.caller.name!;
    expect(Array.from(name)).toHaveLength(MAX_CALLER_FIELD_CHARS);
    expect(call.session.userData.caller.accountId).toBe('AC-1');
    await turn(call, 'I was charged twice on my card');
    expect(call.machineState).toBe('billing');
    const entry = requestsOf(server, call).filter((r) => deskOf(r.body) === 'Billing')[0]!;
    expect(systemText(entry.body)).toContain(`name: ${name}`);
    expect(systemText(entry.body).length).toBeLessThan(5_000);
    await expectStillAnswering(call);
  });

  it('a reason cut at the bound never splits an emoji', () => {
    const reason = '💳'.repeat(600);
    const cut = bounded(reason, MAX_REASON_CHARS);
    expect(Array.from(cut)).toHaveLength(MAX_REASON_CHARS);
    expect(cut).toBe(`${'💳'.repeat(MAX_REASON_CHARS - 1)}…`);
    // No lone surrogate anywhere (a half emoji would be invalid UTF-8 on the wire).
    expect(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(cut)).toBe(false);
  });
});

describe('more transfers than the machine allows', () => {
  it('a transfer tool called 5 times in one turn: one transfer', async () => {
    const call = await newCall();
    const five = [1, 2, 3, 4, 5].map((n) => ({ name: 'pass_control_to_billing', arguments: { reason: `attempt ${n}` } }));
    const events = await turn(call, callTools(...five), 'a transfer tool called 5 times in one turn');
    expect(handoffs(events)).toHaveLength(1);
    expect(call.actor.getSnapshot().context.handoffCount).toBe(1);
    expect(call.actor.getSnapshot().context.route.map((r) => r.reason)).toEqual(['attempt 1']);
    expect(agentLines(events.slice(events.indexOf(handoffs(events)[0]!) + 1)).map((e) => e.agent)).toEqual(['billing']);
    expect(errors(events)).toEqual([]);
    await expectStillAnswering(call);
  });

  it('five different transfers in one turn: the first wins, none of the others happens', async () => {
    const call = await newCall({ humanAvailable: true });
    const events = await turn(
      call,
      callTools(
        { name: 'pass_control_to_support', arguments: { reason: 'broken' } },
        { name: 'pass_control_to_billing', arguments: { reason: 'charge' } },
        { name: 'pass_control_to_sales', arguments: { reason: 'upgrade' } },
        { name: 'transfer_to_human', arguments: { reason: 'person' } },
        { name: 'pass_control_to_legal', arguments: { reason: 'contract' } },
      ),
      'five different transfers in one turn',
    );
    expect(handoffs(events)).toMatchObject([{ from: 'triage', to: 'support' }]);
    expect(call.machineState).toBe('support');
    expect(call.actor.getSnapshot().context.handoffCount).toBe(1);
    await expectStillAnswering(call);
  });

  it.each([
    ['without a human number: the last hop to the front desk is not offered, the caller stays with billing', false],
    ['with a human number: the last hop to the front desk is not offered either, the caller stays with billing', true],
  ])('ping-pong billing ↔ triage every turn, %s', async (_label, humanAvailable) => {
    const maxHandoffs = 4;
    const call = await newCall({ maxHandoffs, humanAvailable });
    const seen: string[] = [];
    for (let n = 0; n < 8; n++) {
      const events = await turn(call, 'ping-pong', `ping-pong turn ${n + 1}`);
      for (const h of handoffs(events)) seen.push(`${h.from}>${h.to}${h.escalated ? '!' : ''}`);
      expect(errors(events)).toEqual([]);
      // Every turn is answered by whoever holds the call afterwards.
      expect(agentLines(events).at(-1)!.agent).toBe(call.machineState);
    }
    const ctx = call.actor.getSnapshot().context;
    // The model keeps asking for a transfer its desk is no longer offered: the machine never hears of it
    // (nothing refused, nothing escalated), and the desk holding the call answers every turn.
    // The fourth hop would spend the last transfer on the front desk, which could send the caller to no
    // department (a person, when one can be reached, is offered from billing itself).
    expect(seen).toEqual(['triage>billing', 'billing>triage', 'triage>billing']);
    expect(call.machineState).toBe('billing');
    expect(ctx.handoffCount).toBe(maxHandoffs - 1);
    expect(call.events.filter((e) => e.type === 'rejected')).toEqual([]);
    await expectStillAnswering(call);
  });
});

describe('what the caller says', () => {
  const LINES: [string, string][] = [
    ['an empty turn', ''],
    ['a whitespace-only turn', '  \t  '],
    ['a turn of newlines', '\n\n\n'],
    ['a 20 KB turn', `I have a question. ${'Please listen carefully to all of this. '.repeat(520)}`.slice(0, 20 * 1024)],
    ['Hindi in Devanagari', 'नमस्ते, मेरा नाम प्रिया है। मुझे अपने खाते के बारे में जानकारी चाहिए।'],
    ['Devanagari with emoji', 'नमस्ते 🙏😊 आप कैसे हैं?'],
    ['emoji only', '🙂🙂🙂 👨‍👩‍👧 🇮🇳'],
    ['Arabic, right to left', 'مرحبا، أريد التحدث مع شخص ما'],
    ['control characters', 'hello\u0000\u0007\u001b[31m there'],
    ['a lone surrogate', 'garbled \ud800 text'],
  ];

  it.each(LINES)('%s: the call answers and stays where it is', async (label, text) => {
    const call = await newCall();
    const events = await turn(call, text, label);
    expect(errors(events)).toEqual([]);
    expect(handoffs(events)).toEqual([]);
    expect(call.machineState).toBe('triage');
    expect(agentLines(events).map((e) => e.agent)).toEqual(['triage']);
    await expectStillAnswering(call);
  });

  it('all of them in one call, in a specialist, then a transfer still works', async () => {
    const call = await newCall();
    await turn(call, 'I was charged twice on my card');
    for (const [label, text] of LINES) {
      const events = await turn(call, text, `${label} (billing)`);
      expect(errors(events)).toEqual([]);
      expect(call.machineState).toBe('billing');
    }
    const back = await turn(call, 'I also want to upgrade my plan');
    // Back to triage, which passes the caller on to sales from the same line (a chained transfer).
    expect(handoffs(back)).toMatchObject([
      { from: 'billing', to: 'triage' },
      { from: 'triage', to: 'sales' },
    ]);
    await expectStillAnswering(call);
  });

  it('a Hindi line with emoji that routes: the reason reaches billing intact', async () => {
    const call = await newCall();
    const line = 'मुझे refund चाहिए 💸 क्योंकि पैसे दो बार कटे';
    const events = await turn(call, line, 'Hindi + emoji that routes to billing');
    expect(handoffs(events)).toMatchObject([{ from: 'triage', to: 'billing', reason: line }]);
    const entry = requestsOf(server, call).filter((r) => deskOf(r.body) === 'Billing')[0]!;
    expect(systemText(entry.body)).toContain(line);
    expect(agentLines(events).at(-1)!.text).toContain(line);
    await expectStillAnswering(call);
  });
});
