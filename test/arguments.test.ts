/**
 * Tool arguments as a real model sends them. The OpenAI plugin offers every zod schema with all its
 * properties `required` and the optional ones nullable (`"type": ["string", "null"]`), so a model
 * sends every field, `null` for what it does not know. The scripted server does the same (it fills
 * every property a script leaves out with `null`), and every tool must accept what it sends:
 * through the real call, the real AgentSession and the real OpenAI plugin.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Target } from '../machines/router.js';
import type { Call } from '../src/call/call.js';
import type { CallEvent } from '../src/call/events.js';
import { instructionsFor, openingFor } from '../src/departments.js';
import {
  type ChatRequest,
  type ScriptedServer,
  callerInfoIn,
  deskOf,
  keywordBrain,
  systemText,
  textOf,
  topicsIn,
  withSchemaArguments,
} from '../dev/scripted-llm.js';
import { callTools, requestsOf, say, schemaGap, startCall, startServer, toolCallsSent } from './support/harness.js';

let server: ScriptedServer;
const calls: Call[] = [];

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await Promise.all(calls.splice(0).map((c) => c.close('test over')));
});

async function newCall(o: Parameters<typeof startCall>[1] = {}) {
  const call = await startCall(server, o);
  calls.push(call);
  return call;
}

const ofType = <T extends CallEvent['type']>(events: CallEvent[], type: T) =>
  events.filter((e): e is CallEvent & { type: T } => e.type === type);

const noErrors = (call: Call) => expect(ofType(call.events, 'error').map((e) => e.message)).toEqual([]);

/** The tool calls the server sent to this call, as `{ name, arguments }` with the arguments parsed. */
const sent = (call: Call) =>
  toolCallsSent(server, call).map((c) => ({
    name: c.name,
    arguments: typeof c.arguments === 'string' ? (JSON.parse(c.arguments) as unknown) : c.arguments,
  }));

describe('the offered schema (as the OpenAI plugin sends it)', () => {
  it('lists every property as required; the optional ones are nullable', async () => {
    const call = await newCall();
    const tools = requestsOf(server, call)[0]!.body.tools ?? [];
    const params = (name: string) => tools.find((t) => t.function.name === name)?.function.parameters;
    expect(params('update_caller_info')).toMatchObject({
      type: 'object',
      required: ['name', 'phoneNumber', 'accountId', 'need', 'language'],
      additionalProperties: false,
    });
    for (const p of ['name', 'phoneNumber', 'accountId', 'need', 'language']) {
      expect(params('update_caller_info')!.properties![p]!.type).toEqual(['string', 'null']);
    }
    expect(params('end_call')).toMatchObject({ required: ['reason'] });
    expect(params('end_call')!.properties!.reason!.type).toEqual(['string', 'null']);
    expect(params('pass_control_to_billing')).toMatchObject({ required: ['reason'], properties: { reason: { type: 'string' } } });
  });

  it('each transfer tool says what the desk it goes to is for, never "you are" (the model offering it is not that desk)', async () => {
    const call = await newCall({ humanAvailable: true });
    const description = (name: string) => requestsOf(server, call)[0]!.body.tools!.find((t) => t.function.name === name)?.function.description;
    expect(description('pass_control_to_billing')).toBe('Transfer the caller to Billing: invoices, charges, double charges, refunds, payment methods and due dates.');
    expect(description('pass_control_to_sales')).toMatch(/^Transfer the caller to Sales: plans, pricing/);
    expect(description('transfer_to_human')).toMatch(/^Transfer the caller to a person on our team/);
    await say(call, callTools({ name: 'pass_control_to_billing', arguments: { reason: 'charged twice' } }));
    const billing = requestsOf(server, call).filter((r) => deskOf(r.body) === 'Billing').at(-1)!;
    const triageTool = billing.body.tools!.find((t) => t.function.name === 'pass_control_to_triage')!.function.description!;
    expect(triageTool).toMatch(/^Transfer the caller to Triage: the front desk/);
    for (const r of requestsOf(server, call)) for (const t of r.body.tools ?? []) expect(t.function.description).not.toMatch(/\byou are\b/i);
  });
});

describe('each tool with schema-true arguments', () => {
  it('update_caller_info with nulls for the unknown fields saves the name and the account', async () => {
    const call = await newCall();
    const args = { name: 'Maya', accountId: '4411', phoneNumber: null, need: null, language: null };
    const events = await say(call, callTools({ name: 'update_caller_info', arguments: args }));
    noErrors(call);
    expect(sent(call)).toEqual([{ name: 'update_caller_info', arguments: args }]);

    const caller = ofType(events, 'caller');
    expect(caller).toHaveLength(1);
    expect(caller[0]!.caller).toEqual({ name: 'Maya', accountId: '4411' });
    expect(call.session.userData.caller).toEqual({ name: 'Maya', accountId: '4411' });
    expect(call.actor.getSnapshot().context.caller).toEqual({ name: 'Maya', accountId: '4411' });

    // The tool answered (no "Invalid arguments"), and the agent thanked her.
    const reply = requestsOf(server, call).find((r) => r.body.messages.at(-1)?.role === 'tool')!;
    expect(textOf(reply.body.messages.at(-1))).toMatch(/"saved":true/);
    expect(textOf(reply.body.messages.at(-1))).not.toMatch(/invalid/i);
    expect(ofType(events, 'agent').at(-1)!.text).toMatch(/Maya/);

    // The caller's next turn: the prompt knows her (and nothing was saved for the nulls).
    await say(call, 'hello again');
    const next = requestsOf(server, call).at(-1)!;
    expect(textOf(next.body.messages.at(-1))).toBe('hello again');
    expect(systemText(next.body)).toContain('name: Maya; account id: 4411');
    expect(systemText(next.body)).not.toMatch(/phone number:|what they need:/);
  });

  it('update_caller_info: the very next request (the reply to the tool) already has the saved details in its prompt', async () => {
    const call = await newCall();
    const args = { name: 'Maya', accountId: '4411', phoneNumber: null, need: null, language: null };
    await say(call, callTools({ name: 'update_caller_info', arguments: args }));
    const reqs = requestsOf(server, call);
    const asked = reqs.findIndex((r) => r.reply?.toolCalls?.some((c) => c.name === 'update_caller_info'));
    const next = reqs[asked + 1]!;
    expect(next.body.messages.at(-1)?.role).toBe('tool');
    expect(systemText(next.body)).toContain('name: Maya; account id: 4411');
  });

  it('update_caller_info from the keyword model: "my name is Maya and my account is 4411"', async () => {
    const call = await newCall();
    const events = await say(call, 'my name is Maya and my account is 4411');
    noErrors(call);
    expect(sent(call)).toEqual([
      { name: 'update_caller_info', arguments: { name: 'Maya', phoneNumber: null, accountId: '4411', need: null, language: null } },
    ]);
    expect(ofType(events, 'caller')[0]!.caller).toEqual({ name: 'Maya', accountId: '4411' });
  });

  it('end_call with { reason: null } ends the call', async () => {
    const call = await newCall();
    await say(call, callTools({ name: 'end_call', arguments: { reason: null } }));
    const end = await call.finished;
    noErrors(call);
    expect(sent(call)).toEqual([{ name: 'end_call', arguments: { reason: null } }]);
    expect(end).toMatchObject({ type: 'end', state: 'ended' });
    expect(call.machineState).toBe('ended');
    expect(ofType(call.events, 'end')).toHaveLength(1);
    expect(ofType(call.events, 'agent').at(-1)!.text).toMatch(/goodbye/i);
  });

  const transfers: [tool: string, from: Target, to: Target, reason: string][] = [
    ['pass_control_to_billing', 'triage', 'billing', 'caller was charged twice'],
    ['pass_control_to_sales', 'triage', 'sales', 'caller wants to upgrade the plan'],
    ['pass_control_to_support', 'triage', 'support', 'caller says the router is down'],
    ['pass_control_to_triage', 'billing', 'triage', 'caller wants to start over'],
    ['transfer_to_human', 'billing', 'human', 'caller asked for a person'],
  ];
  it.each(transfers)('%s (%s → %s) with every field present', async (tool, from, to, reason) => {
    const call = await newCall({ humanAvailable: true });
    if (from !== 'triage') {
      await say(call, callTools({ name: `pass_control_to_${from}`, arguments: { reason: 'to get there' } }));
      expect(call.machineState).toBe(from);
    }
    const events = await say(call, callTools({ name: tool, arguments: { reason } }));
    noErrors(call);
    expect(sent(call).at(-1)).toEqual({ name: tool, arguments: { reason } });
    expect(ofType(events, 'handoff')).toMatchObject([{ from, to, reason, source: 'agent' }]);
    expect(call.machineState).toBe(to);
    expect(ofType(events, 'agent').at(-1)!.agent).toBe(to);
  });
});

describe('a model that breaks the schema a little', () => {
  it('a transfer with { reason: null } still moves the caller, with "(no reason given)"', async () => {
    const call = await newCall();
    const events = await say(call, callTools({ name: 'pass_control_to_billing', arguments: { reason: null } }));
    noErrors(call);
    expect(ofType(events, 'handoff')).toMatchObject([{ from: 'triage', to: 'billing', reason: '(no reason given)' }]);
    expect(call.machineState).toBe('billing');
  });
});

describe('the keyword model fills every argument', () => {
  it('every tool call it sends carries every property of the offered schema', async () => {
    const keywordServer = await startServer(keywordBrain);
    try {
      const call = await startCall(keywordServer);
      calls.push(call);
      for (const line of [
        'Hi, my name is Maya and my account number is 4411',
        'I was charged twice on my card',
        "I'd also like to upgrade my plan",
        'my router is down',
        "That's all, bye",
      ]) {
        if (call.machineState === 'ended') break;
        await say(call, line);
      }
      await call.finished;
      expect(ofType(call.events, 'error').map((e) => e.message)).toEqual([]);

      const all = toolCallsSent(keywordServer, call);
      const names = new Set(all.map((c) => c.name));
      // Not vacuous: the call used the tool with four fields, a transfer and end_call.
      for (const n of ['update_caller_info', 'pass_control_to_billing', 'pass_control_to_triage', 'end_call']) {
        expect(names, `sent: ${[...names].join(', ')}`).toContain(n);
      }
      expect(all.map(schemaGap).filter(Boolean)).toEqual([]);

      // As the plugin echoes them back in the history: the same, parsed from the wire.
      let echoed = 0;
      for (const r of requestsOf(keywordServer, call)) {
        for (const m of r.body.messages) {
          for (const tc of m.tool_calls ?? []) {
            const props = r.body.tools?.find((t) => t.function.name === tc.function.name)?.function.parameters?.properties;
            if (!props) continue;
            echoed++;
            expect(Object.keys(JSON.parse(tc.function.arguments) as object).sort(), tc.function.arguments).toEqual(
              Object.keys(props).sort(),
            );
          }
        }
      }
      expect(echoed).toBeGreaterThan(0);
      expect(call.events.at(-1)).toMatchObject({ type: 'end', state: 'ended' });
    } finally {
      await keywordServer.close();
    }
  });
});

// ---- the scripted server and the keyword model, without a call -----------------------------------

const reasonSchema = { type: 'object', properties: { reason: { type: 'string' } }, required: ['reason'], additionalProperties: false };
const nullable = { type: ['string', 'null'] };
const TOOLS: NonNullable<ChatRequest['tools']> = [
  { type: 'function', function: { name: 'end_call', parameters: { type: 'object', properties: { reason: nullable }, required: ['reason'] } } },
  {
    type: 'function',
    function: {
      name: 'update_caller_info',
      parameters: {
        type: 'object',
        properties: { name: nullable, phoneNumber: nullable, accountId: nullable, need: nullable },
        required: ['name', 'phoneNumber', 'accountId', 'need'],
      },
    },
  },
];
const transferTools = (...targets: string[]): NonNullable<ChatRequest['tools']> =>
  targets.map((t) => ({ type: 'function', function: { name: `pass_control_to_${t}`, parameters: reasonSchema } }));

/** The request a desk's model gets: its prompt (plus a one-off instruction), the history, its tools. */
function requestFor(
  role: Target,
  history: { role: 'user' | 'assistant'; content: string }[],
  o: { opening?: string; toolChoice?: 'none' | 'auto'; targets?: string[] } = {},
): ChatRequest {
  const system = instructionsFor(role, { company: 'Acme', caller: {} }) + (o.opening ? `\n${o.opening}` : '');
  const targets = o.targets ?? (role === 'triage' ? ['billing', 'sales', 'support'] : ['triage']);
  return {
    model: 'scripted',
    messages: [{ role: 'system', content: system }, ...history],
    tools: [...transferTools(...targets), ...TOOLS],
    ...(o.toolChoice ? { tool_choice: o.toolChoice } : {}),
  };
}

const brain = async (req: ChatRequest) => withSchemaArguments(req, await keywordBrain(req, { at: 0, path: '', body: req }));

describe('withSchemaArguments', () => {
  const req = requestFor('triage', [{ role: 'user', content: 'hi' }]);

  it('fills every property the script left out with null, in the schema order', () => {
    const out = withSchemaArguments(req, { toolCalls: [{ name: 'update_caller_info', arguments: { accountId: '4411', name: 'Maya' } }] });
    expect(JSON.stringify(out.toolCalls![0]!.arguments)).toBe('{"name":"Maya","phoneNumber":null,"accountId":"4411","need":null}');
    expect(withSchemaArguments(req, { toolCalls: [{ name: 'end_call', arguments: {} }] }).toolCalls![0]!.arguments).toEqual({ reason: null });
  });

  it('leaves raw strings, unknown tools, non-objects and extra properties as scripted', () => {
    const raw = { name: 'pass_control_to_billing', arguments: '{"reason": ' };
    const unknown = { name: 'pass_control_to_legal', arguments: {} };
    const array = { name: 'update_caller_info', arguments: [1, 2] as unknown as Record<string, unknown> };
    const out = withSchemaArguments(req, { toolCalls: [raw, unknown, array] });
    expect(out.toolCalls).toEqual([raw, unknown, array]);
    const extra = withSchemaArguments(req, { toolCalls: [{ name: 'end_call', arguments: { why: 'x' } }] });
    expect(extra.toolCalls![0]!.arguments).toEqual({ reason: null, why: 'x' });
    // A tool the request does not offer (no transfer_to_human without a human number).
    const human = { name: 'transfer_to_human', arguments: { } };
    expect(withSchemaArguments(req, { toolCalls: [human] }).toolCalls).toEqual([human]);
  });
});

describe('keywordBrain', () => {
  it.each([
    ['my name is Maya and my account is 4411', { name: 'Maya', accountId: '4411' }],
    ['my name is maya, account number 4411.', { name: 'Maya', accountId: '4411' }],
    ['account id A-4411 please', { accountId: 'A-4411' }],
    ['mera naam Ravi hai', { name: 'Ravi' }],
    ['my account is not working', {}],
  ])('reads caller details from "%s"', (line, info) => {
    expect(callerInfoIn(line)).toEqual(info);
  });

  it.each([
    ['I was charged twice', ['billing']],
    ['there is a double charge on my bill', ['billing']],
    ['I want to upgrade my plan', ['sales']],
    ['what is your pricing', ['sales']],
    ['my router is down', ['support']],
    ['the wifi is slow and not connecting', ['support']],
    ['I was charged twice and I also want to upgrade my plan', ['billing', 'sales']],
    ['upgrade my plan, and my router is down, and I was charged twice', ['sales', 'support', 'billing']],
    ['hello there', []],
  ])('topics of "%s"', (line, topics) => {
    expect(topicsIn(line)).toEqual(topics);
  });

  it('a caller line with name, account and need: saves first, then routes on the saved answer', async () => {
    const line = 'my name is Maya, account 4411, and I was charged twice';
    const first = await brain(requestFor('triage', [{ role: 'user', content: line }]));
    expect(first.toolCalls).toEqual([
      { name: 'update_caller_info', arguments: { name: 'Maya', phoneNumber: null, accountId: '4411', need: null } },
    ]);
    const afterSave: ChatRequest = {
      ...requestFor('triage', [{ role: 'user', content: line }]),
    };
    afterSave.messages.push(
      { role: 'assistant', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'update_caller_info', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: '{"saved":true,"caller":{"name":"Maya","accountId":"4411"}}' },
    );
    const second = await brain(afterSave);
    expect(second.text).toBe('Thanks, Maya. Let me transfer you to billing.');
    expect(second.toolCalls).toEqual([{ name: 'pass_control_to_billing', arguments: { reason: line } }]);
  });

  it('introduces itself by its caller-facing name on taking over', async () => {
    const opening = openingFor('billing', { kind: 'transfer', from: 'triage', reason: 'I was charged twice' });
    const req = requestFor('billing', [{ role: 'user', content: 'I was charged twice' }], { opening, toolChoice: 'none' });
    expect(deskOf(req)).toBe('Billing');
    const reply = await brain(req);
    expect(reply.text).toMatch(/^This is the billing team\. /);
    expect(reply.toolCalls).toBeUndefined();
  });

  it('a specialist with two needs handles its own first', async () => {
    const line = 'I was charged twice and I also want to upgrade my plan';
    const opening = openingFor('billing', { kind: 'transfer', from: 'triage', reason: line });
    const reply = await brain(requestFor('billing', [{ role: 'user', content: line }], { opening, toolChoice: 'auto' }));
    expect(reply.toolCalls).toBeUndefined();
    expect(reply.text).toMatch(/^This is the billing team\. I understand/);
    // Its next turn, on the other need: back to the front desk, naming it.
    const next = await brain(
      requestFor('billing', [
        { role: 'user', content: line },
        { role: 'assistant', content: reply.text! },
        { role: 'user', content: "I'd also like to upgrade my plan" },
      ]),
    );
    expect(next.text).toMatch(/send you back to the front desk/);
    expect(next.toolCalls).toEqual([
      { name: 'pass_control_to_triage', arguments: { reason: "caller needs sales: I'd also like to upgrade my plan" } },
    ]);
  });

  it('chained transfer: an entry reply with tools allowed routes on at once when the need is elsewhere', async () => {
    const history = [{ role: 'user' as const, content: "I'd also like to upgrade my plan" }];
    const reason = "caller needs sales: I'd also like to upgrade my plan";
    const opening = openingFor('triage', { kind: 'transfer', from: 'billing', reason });
    const reply = await brain(requestFor('triage', history, { opening, toolChoice: 'auto' }));
    expect(reply.text).toBe('This is the front desk. Let me transfer you to sales.');
    expect(reply.toolCalls).toEqual([{ name: 'pass_control_to_sales', arguments: { reason: "I'd also like to upgrade my plan" } }]);
    // With tools withheld (tool_choice 'none') it can only speak.
    const spoken = await brain(requestFor('triage', history, { opening, toolChoice: 'none' }));
    expect(spoken.toolCalls).toBeUndefined();
    expect(spoken.text).toMatch(/^This is the front desk\. I understand/);
    // A specialist taking over something that is not its own sends the caller back to the front desk.
    const wrong = openingFor('sales', { kind: 'transfer', from: 'triage', reason: 'my router is down' });
    const onward = await brain(requestFor('sales', [{ role: 'user', content: 'my router is down' }], { opening: wrong, toolChoice: 'auto' }));
    expect(onward.text).toMatch(/^This is the sales team\. Let me send you back to the front desk/);
    expect(onward.toolCalls).toEqual([{ name: 'pass_control_to_triage', arguments: { reason: 'caller needs support: my router is down' } }]);
  });

  it('a key press is the caller\'s choice: no routing on from earlier words', async () => {
    const opening = openingFor('billing', { kind: 'transfer', from: 'triage', reason: 'caller pressed 1' });
    const reply = await brain(requestFor('billing', [{ role: 'user', content: 'my router is down' }], { opening, toolChoice: 'auto' }));
    expect(reply.toolCalls).toBeUndefined();
  });
});
