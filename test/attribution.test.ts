/**
 * Who said what, in what order, around a transfer — as the caller hears it. Once the machine has
 * accepted a transfer the old desk says nothing more: not its reply to another tool that ran in the
 * same batch, not before the `handoff` event and not after it. Checked two ways: the call's own events
 * (every agent line attributed to the desk holding the line when it was said) and the scripted model
 * server's request log (no request from the old desk after the one that asked for the transfer).
 *
 * Real orchestrator, real AgentSession, real OpenAI plugin, scripted server over HTTP.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../src/call/call.js';
import type { CallEvent } from '../src/call/events.js';
import { type RecordedRequest, type Script, type ScriptedReply, type ScriptedServer, deskOf, systemText, textOf } from '../dev/scripted-llm.js';
import { callTools, directiveScript, requestsOf, say, sleep, startCall, startServer } from './support/harness.js';

let server: ScriptedServer;
/** Extra timing for the replies of one desk (to move its late reply before or after the handoff). */
let slowDesk: { desk: string; ms: number } | null = null;
const calls: Call[] = [];

/**
 * A `@call`/`@speak` caller line scripts the reply of the desk the caller is talking to; the desk that
 * takes the call over (its history also ends with that line) just introduces itself, so what each desk
 * says and does is the scenario's, not a replay of it.
 */
const forTheDeskOnTheLine = (script: Script): Script => (req, rec) =>
  /You have just taken over this call/.test(systemText(req)) ? { text: `This is ${deskOf(req)}. How can I help?` } : script(req, rec);

/** The tests' script: directives for the desk on the line, and the slow desk's timing. */
const testScript: Script = async (req, rec) => {
  const reply = await forTheDeskOnTheLine(directiveScript())(req, rec);
  // Only replies after a tool ran are slowed: the old desk's would-be reply to its batch.
  const afterTool = req.messages.at(-1)?.role === 'tool';
  if (slowDesk && afterTool && deskOf(req) === slowDesk.desk) return { ...reply, ttftMs: slowDesk.ms };
  return reply;
};

beforeAll(async () => {
  server = await startServer(testScript);
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  slowDesk = null;
  await Promise.all(calls.splice(0).map((c) => c.close('test over')));
});

async function newCall() {
  const call = await startCall(server);
  calls.push(call);
  return call;
}

type AgentLine = CallEvent & { type: 'agent' };
const agentLines = (events: CallEvent[]) => events.filter((e): e is AgentLine => e.type === 'agent');

/** The request whose reply carried an accepted transfer to `to` (the last such one). */
function transferRequest(reqs: RecordedRequest[], to: string): RecordedRequest {
  const r = reqs.filter((q) => q.reply?.toolCalls?.some((c) => c.name === `pass_control_to_${to}`)).at(-1);
  expect(r, `a request answered with pass_control_to_${to}`).toBeDefined();
  return r!;
}

/** Lets late work (a reply the old desk should not give) show up before we look. */
const settle = () => sleep(600);

/**
 * What the caller must hear around the transfer `from → to` made in this turn:
 * - no agent line from `from` in the turn except the one it said with the tool call (`oldLine`);
 * - every line attributed to the desk that held the call when it was said (before the handoff: `from`;
 *   after it: `to`), and `to` speaks once, after the handoff event;
 * - the model server saw no request from `from` after the request that asked for the transfer.
 */
function expectOldDeskSilent(call: Call, turn: CallEvent[], from: string, to: string, oldLine: string | null) {
  const handoffs = turn.filter((e) => e.type === 'handoff');
  expect(handoffs.map((h) => [h.from, h.to])).toEqual([[from, to]]);
  const lines = agentLines(turn);
  const fromOld = lines.filter((l) => l.agent === from).map((l) => l.text);
  expect(fromOld, `the old desk (${from}) after its transfer`).toEqual(oldLine === null ? [] : [oldLine]);
  let holder = from;
  for (const e of turn) {
    if (e.type === 'handoff') holder = e.to;
    if (e.type === 'agent') expect(e.agent, `"${e.text}" said while ${holder} held the call`).toBe(holder);
  }
  const afterHandoff = agentLines(turn.slice(turn.indexOf(handoffs[0]!) + 1));
  expect(afterHandoff.map((l) => l.agent)).toEqual([to]);

  const reqs = requestsOf(server, call);
  const asked = transferRequest(reqs, to);
  const later = reqs.slice(reqs.indexOf(asked) + 1);
  const deskTitle = from.charAt(0).toUpperCase() + from.slice(1);
  expect(
    later.filter((r) => deskOf(r.body) === deskTitle).map((r) => textOf(r.body.messages.at(-1))),
    `requests from ${from} after its transfer was accepted`,
  ).toEqual([]);
  expect(later.some((r) => deskOf(r.body) === to.charAt(0).toUpperCase() + to.slice(1))).toBe(true);
}

const saveAndTransfer = (order: 'save-first' | 'transfer-first', to = 'billing') => {
  const save = { name: 'update_caller_info', arguments: { name: 'Ravi', accountId: 'AC-991' } };
  const transfer = { name: `pass_control_to_${to}`, arguments: { reason: 'double charge on my card' } };
  return callTools(...(order === 'save-first' ? [save, transfer] : [transfer, save]));
};

describe('no line from the old desk after its transfer was accepted', () => {
  for (const order of ['save-first', 'transfer-first'] as const) {
    it(`a transfer batched with update_caller_info (${order}): the old desk is not asked for a reply`, async () => {
      const call = await newCall();
      const turn = await say(call, saveAndTransfer(order));
      await settle();
      const all = call.events.slice(call.events.indexOf(turn[0]!));
      expectOldDeskSilent(call, all, 'triage', 'billing', null);
      expect(call.session.userData.caller).toMatchObject({ name: 'Ravi', accountId: 'AC-991' });
      expect(call.machineState).toBe('billing');
    });
  }

  for (const slow of ['triage', 'billing'] as const) {
    it(`with the ${slow} desk's replies slow (the old desk's reply would land ${slow === 'triage' ? 'after' : 'before'} the handoff)`, async () => {
      const call = await newCall();
      slowDesk = { desk: slow === 'triage' ? 'Triage' : 'Billing', ms: 400 };
      const turn = await say(call, saveAndTransfer('save-first'));
      await settle();
      const all = call.events.slice(call.events.indexOf(turn[0]!));
      expectOldDeskSilent(call, all, 'triage', 'billing', null);
    });
  }

  it('a transfer batched with end_call: the old desk says no goodbye, the call moves on', async () => {
    const call = await newCall();
    const turn = await say(
      call,
      callTools(
        { name: 'pass_control_to_support', arguments: { reason: 'router is broken' } },
        { name: 'end_call', arguments: { reason: 'done' } },
      ),
    );
    await settle();
    const all = call.events.slice(call.events.indexOf(turn[0]!));
    expectOldDeskSilent(call, all, 'triage', 'support', null);
    expect(agentLines(all).filter((l) => /goodbye/i.test(l.text)).map((l) => `${l.agent}: ${l.text}`)).toEqual([]);
  });

  it('the old desk says its line with the transfer, then only the new desk speaks (second hop too)', async () => {
    const call = await newCall();
    // A model that speaks and calls tools in the same reply.
    const speaking = forTheDeskOnTheLine(directiveScript((req) => {
      const last = req.messages.at(-1);
      const m = last?.role === 'user' && req.tool_choice !== 'none' ? /^@speak (.*?) @call (.*)$/s.exec(textOf(last)) : null;
      return m ? ({ text: m[1], toolCalls: JSON.parse(m[2]!) } as ScriptedReply) : undefined;
    }));
    server.setScript(speaking);
    try {
      const batch = (to: string) =>
        `@speak Let me get you to ${to}. @call ${JSON.stringify([
          { name: 'update_caller_info', arguments: { name: 'Ravi' } },
          { name: `pass_control_to_${to}`, arguments: { reason: `wants ${to}` } },
        ])}`;
      const first = await say(call, batch('billing'));
      await settle();
      expectOldDeskSilent(call, call.events.slice(call.events.indexOf(first[0]!)), 'triage', 'billing', 'Let me get you to billing.');
      // Billing's only way on is back to triage: the same rule holds for the second desk.
      const from = call.events.length;
      await say(call, batch('triage'));
      await settle();
      expectOldDeskSilent(call, call.events.slice(from), 'billing', 'triage', 'Let me get you to triage.');
      expect(call.machineState).toBe('triage');
    } finally {
      server.setScript(testScript);
    }
  });
});
