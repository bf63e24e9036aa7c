/**
 * Model-based tests: paths generated from the routing machine with `xstate/graph`, each driven through
 * the real orchestrator (AgentSession without a room, the real OpenAI plugin, the scripted server).
 * At every step: the agent on the line is the machine's state, the conversation is carried, earlier
 * instructions are absent, every tool call has its result, and a transfer gets exactly one reply.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CallState, DEPARTMENTS, DEFAULT_MAX_HANDOFFS, type RouterEvent } from '../machines/router.js';
import { DEPARTMENT_TABLE } from '../src/departments.js';
import type { Call } from '../src/call/call.js';
import type { CallEvent } from '../src/call/events.js';
import { type ScriptedServer, deskOf, historyProblem, systemText, textOf } from '../dev/scripted-llm.js';
import { callTools, requestsOf, say, startCall, startServer, waitForEvent } from './support/harness.js';
import { type Snap, modelFor } from './support/routing-model.js';

const TITLE_TO_ROLE = Object.fromEntries(Object.values(DEPARTMENT_TABLE).map((d) => [d.title, d.id]));

/** Drives one model step through the real call, returns the call events it produced. */
async function drive(call: Call, event: RouterEvent): Promise<CallEvent[]> {
  const from = call.events.length;
  switch (event.type) {
    case 'TRANSFER': {
      if (!event.to) return []; // bare event from the model's defaults: refused, tested elsewhere
      const name = event.to === 'human' ? 'transfer_to_human' : `pass_control_to_${event.to}`;
      await say(call, callTools({ name, arguments: { reason: event.reason } }));
      break;
    }
    case 'END_CALL':
      await say(call, callTools({ name: 'end_call', arguments: { reason: event.reason ?? 'done' } }));
      await call.finished;
      break;
    case 'HANGUP':
      call.hangup();
      await call.finished;
      break;
    case 'HUMAN_TRANSFER_FAILED': {
      const entered = waitForEvent(call, (e) => e.type === 'agent' && e.agent !== 'human');
      call.send({ type: 'HUMAN_TRANSFER_FAILED', reason: event.reason ?? 'failed' });
      await entered;
      break;
    }
    default:
      return [];
  }
  return call.events.slice(from);
}

function checkStep(server: ScriptedServer, call: Call, snap: Snap, stepEvents: CallEvent[], userLines: string[]) {
  const state = snap.value as CallState;
  expect(call.machineState).toBe(state);
  expect(call.actor.getSnapshot().context.handoffCount).toBe(snap.context.handoffCount);
  expect(call.events.filter((e) => e.type === 'error')).toEqual([]);
  const reqs = requestsOf(server, call);
  expect(reqs.filter((r) => r.invalid).map((r) => r.invalid)).toEqual([]);
  if (state === 'ended') {
    expect(call.events.at(-1)).toMatchObject({ type: 'end', state: 'ended' });
    return;
  }
  expect(call.activeRole).toBe(state);

  const handoff = stepEvents.find((e) => e.type === 'handoff');
  if (handoff && handoff.type === 'handoff') {
    expect(handoff.to).toBe(state);
    const after = stepEvents.slice(stepEvents.indexOf(handoff) + 1);
    // Exactly one reply from the new agent, nothing more from the old one.
    expect(after.filter((e) => e.type === 'agent').map((e) => (e as { agent: string }).agent)).toEqual([state]);
    expect(handoff.latencyMs).toBeGreaterThanOrEqual(0);
  }

  // The newest request comes from the agent on the line, carries the conversation, no old instructions.
  const last = reqs.at(-1)!;
  expect(TITLE_TO_ROLE[deskOf(last.body)]).toBe(state);
  const sys = systemText(last.body);
  for (const d of [...DEPARTMENTS, 'human' as const]) {
    if (d !== state) expect(sys).not.toContain(`You are the ${DEPARTMENT_TABLE[d].title} desk`);
  }
  expect(last.body.messages.filter((m) => m.role === 'system' || m.role === 'developer')).toHaveLength(1);
  const said = last.body.messages.filter((m) => m.role === 'user').map(textOf);
  for (const line of userLines) expect(said).toContain(line);
  expect(historyProblem(last.body.messages)).toBeUndefined();
}

const suites = [
  { name: `every simple path, cap 2, human available`, cap: 2, human: true, paths: 'simple' as const },
  { name: `every simple path, cap 1, no human number`, cap: 1, human: false, paths: 'simple' as const },
  { name: `shortest paths, default cap ${DEFAULT_MAX_HANDOFFS}, human available`, cap: DEFAULT_MAX_HANDOFFS, human: true, paths: 'shortest' as const },
  { name: `shortest paths, default cap ${DEFAULT_MAX_HANDOFFS}, no human number`, cap: DEFAULT_MAX_HANDOFFS, human: false, paths: 'shortest' as const },
];

let server: ScriptedServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});

for (const suite of suites) {
  const model = modelFor(suite.cap, suite.human);
  const paths = suite.paths === 'simple' ? model.getSimplePaths() : model.getShortestPaths();
  describe(`${suite.name} (${paths.length} paths)`, () => {
    it('generates paths that reach every state the configuration allows', () => {
      const reached = new Set(paths.flatMap((p) => [p.state, ...p.steps.map((s) => s.state)].map((s) => s.value as string)));
      const expected = suite.human ? [...DEPARTMENTS, 'human', 'ended'] : [...DEPARTMENTS, 'ended'];
      expect([...reached].sort()).toEqual([...expected].sort());
    });
    for (const path of paths) {
      const name = path.steps
        .slice(1)
        .map(({ event }) => {
          const e = event as RouterEvent;
          return e.type === 'TRANSFER' ? `→${e.to}` : e.type;
        })
        .join(' ');
      it(`${name} ⇒ ${String(path.state.value)}`, async () => {
        const call = await startCall(server, { maxHandoffs: suite.cap, humanAvailable: suite.human });
        const userLines: string[] = [];
        let stepEvents: CallEvent[] = [];
        try {
          await path.test({
            events: {
              TRANSFER: async ({ event }) => {
                const e = event as RouterEvent & { type: 'TRANSFER' };
                if (e.to) userLines.push(callTools({ name: e.to === 'human' ? 'transfer_to_human' : `pass_control_to_${e.to}`, arguments: { reason: e.reason } }));
                stepEvents = await drive(call, e);
              },
              END_CALL: async ({ event }) => {
                stepEvents = await drive(call, event as RouterEvent);
              },
              HANGUP: async ({ event }) => {
                stepEvents = await drive(call, event as RouterEvent);
              },
              HUMAN_TRANSFER_FAILED: async ({ event }) => {
                stepEvents = await drive(call, event as RouterEvent);
              },
            },
            states: {
              '*': (snap) => checkStep(server, call, snap as Snap, stepEvents, userLines),
            },
          });
        } finally {
          await call.close('test over');
        }
      });
    }
  });
}
