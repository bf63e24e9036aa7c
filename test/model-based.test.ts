/**
 * Model-based tests: paths generated with `xstate/graph` (dev/routing-model.ts), each driven through the
 * real call (AgentSession without a room, the real OpenAI plugin, the scripted server), and every step
 * judged by an oracle written here — the routing rules once more, as a plain table, independently of
 * machines/router.ts. The machine only *generates* the paths; what the call must do at each step
 * (where the caller is, how many transfers were counted, refused or not, escalated or not, which
 * transfer tools the desk offers) comes from the oracle.
 *
 * Chained transfers are generated too: a TRANSFER with `chained: true` right after an accepted one is
 * the new desk's entry reply calling a transfer tool (scripted below), in the same caller turn.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../src/call/call.js';
import type { CallEvent } from '../src/call/events.js';
import { DEPARTMENT_TABLE } from '../src/departments.js';
import type { PersonStep } from '../machines/router.js';
import { type PersonSteps } from '../src/call/person.js';
import { briefingFor } from '../src/call/briefing.js';
import { MoveSupport, type WarmLineOptions, warmTransfer } from '../src/telephony/warm-transfer.js';
import { type FakeLiveKit, startFakeLiveKit } from './support/fake-livekit.js';
import { ScriptedConsultation } from './support/warm.js';
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
import { callIdOf, callTools, directiveScript, requestsOf, say, sayAndCall, sleep, startCall, startServer, waitForEvent } from './support/harness.js';
import { type ModelEvent, type ModelPath, type PathKind, PathBudgetExceeded, modelFor, stateNameOf } from '../dev/routing-model.js';
import { tmpdir } from 'node:os';

// ---- The oracle: the routing rules, written once more -------------------------------------------

const DESKS = ['triage', 'billing', 'sales', 'support'] as const;
type Desk = (typeof DESKS)[number];
type Where = Desk | 'human' | 'ended';
const isDesk = (w: unknown): w is Desk => (DESKS as readonly unknown[]).includes(w);

/** Who may ask to reach whom: hub and spoke. A person is not in the table (see `offered`). */
const MAY_REACH: Record<Desk, readonly Desk[]> = {
  triage: ['billing', 'sales', 'support'],
  billing: ['triage'],
  sales: ['triage'],
  support: ['triage'],
};

/** What the oracle knows of a call. */
interface World {
  at: Where;
  /** Accepted transfers (to a desk, to a person, the cap's escalation); a return from a person is not one. */
  count: number;
  cap: number;
  /** A human number is configured. */
  humanNumber: boolean;
  /** A transfer to a person failed in this call: there is no second try. */
  personFailed: boolean;
  /** Where the caller was before the last accepted move (a chain must not go straight back there). */
  left: Where | null;
  /** A person is reached warm (HUMAN_TRANSFER_MODE=warm). */
  warm: boolean;
  /** With a person: the step of the transfer (`cold`, or warm's dialling → briefing → connected). */
  step: PersonStep | null;
}

type Verdict =
  | { kind: 'moved'; from: Where; to: Desk | 'human'; escalated: boolean }
  | { kind: 'returned'; from: 'human'; to: Desk }
  /** `reason`: what the caller is told; null when the desk has no such tool (the machine never hears of it). */
  | { kind: 'refused'; from: Where; to: string; reason: RegExp | null }
  /** A warm transfer's next step: the caller still holds, no agent speaks. */
  | { kind: 'step'; step: PersonStep }
  | { kind: 'ended' };

const personReachable = (w: World) => w.humanNumber && !w.personFailed;

/**
 * A hop back to the front desk that would spend the last transfer: the front desk could send the caller
 * to no department from there (a person, if one can be reached, is reached from where the caller is).
 */
const strands = (w: World, to: string) => to === 'triage' && w.count + 1 >= w.cap;

/**
 * The transfer tools the desk on the line offers: only what would be taken as asked — its routes while
 * under the cap (not a hop that strands the caller), and a person while one can be reached.
 */
function offered(w: World): string[] {
  if (!isDesk(w.at)) return [];
  const routes = w.count < w.cap ? MAY_REACH[w.at].filter((to) => !strands(w, to)) : [];
  return [...routes, ...(personReachable(w) ? ['human'] : [])];
}

const transfersWord = (n: number) => `${n} transfers?`;

/** A transfer request, judged: the first rule that applies decides. */
const TRANSFER_RULES: {
  rule: string;
  applies: (w: World, to: string, chained: boolean) => boolean;
  verdict: (w: World, to: string) => Verdict;
}[] = [
  {
    rule: 'while a person is being connected, nothing else',
    applies: (w) => w.at === 'human',
    verdict: (w, to) => ({ kind: 'refused', from: w.at, to, reason: /being connected to a person/ }),
  },
  {
    rule: 'a target the desk has no tool for: never reaches the machine',
    applies: (w, to) => !offered(w).includes(to),
    verdict: (w, to) => ({ kind: 'refused', from: w.at, to, reason: null }),
  },
  {
    rule: 'a person, while one can be reached: accepted (also at the cap)',
    applies: (_w, to) => to === 'human',
    verdict: (w) => ({ kind: 'moved', from: w.at, to: 'human', escalated: false }),
  },
  {
    rule: 'a chained transfer straight back where the caller just came from, under the cap: refused',
    applies: (w, to, chained) => chained && to === w.left && w.count < w.cap,
    verdict: (w, to) => ({ kind: 'refused', from: w.at, to, reason: new RegExp(`just come from ${to}`) }),
  },
  {
    rule: 'under the cap: accepted',
    applies: (w) => w.count < w.cap,
    verdict: (w, to) => ({ kind: 'moved', from: w.at, to: to as Desk, escalated: false }),
  },
  {
    rule: 'at the cap, with a person reachable: escalated to the person',
    applies: (w) => personReachable(w),
    verdict: (w) => ({ kind: 'moved', from: w.at, to: 'human', escalated: true }),
  },
  {
    rule: 'at the cap, nobody to escalate to: refused',
    applies: () => true,
    verdict: (w, to) => ({ kind: 'refused', from: w.at, to, reason: new RegExp(`limit of ${transfersWord(w.cap)}`) }),
  },
];

/** The oracle's answer to one event, and the world after it. */
function judge(w: World, e: ModelEvent): { verdict: Verdict; next: World; rule: string } {
  switch (e.type) {
    case 'TRANSFER': {
      const chained = e.chained === true;
      const { rule, verdict } = TRANSFER_RULES.map((r) => ({ rule: r.rule, verdict: r.applies(w, e.to, chained) ? r.verdict(w, e.to) : null })).find(
        (r) => r.verdict,
      ) as { rule: string; verdict: Verdict };
      const step: PersonStep | null = verdict.kind === 'moved' && verdict.to === 'human' ? (w.warm ? 'dialling' : 'cold') : null;
      const next = verdict.kind === 'moved' ? { ...w, at: verdict.to, count: w.count + 1, left: w.at, step } : w;
      return { verdict, next, rule };
    }
    case 'PERSON_ANSWERED':
    case 'PERSON_CONNECTED': {
      const [from, to] = e.type === 'PERSON_ANSWERED' ? (['dialling', 'briefing'] as const) : (['briefing', 'connected'] as const);
      if (w.step !== from) throw new Error(`the model sent ${e.type} while the person transfer was at ${w.step}`);
      return { verdict: { kind: 'step', step: to }, next: { ...w, step: to }, rule: `warm: ${from} → ${to}, the caller still holding` };
    }
    case 'HUMAN_TRANSFER_FAILED': {
      if (w.at !== 'human' || !isDesk(w.left)) throw new Error('the model sent HUMAN_TRANSFER_FAILED outside a person transfer');
      const verdict: Verdict = { kind: 'returned', from: 'human', to: w.left };
      return {
        verdict,
        next: { ...w, at: w.left, personFailed: true, left: 'human', step: null },
        rule: 'a failed person transfer: back where the caller came from, no second try',
      };
    }
    case 'END_CALL':
    case 'HANGUP':
      return { verdict: { kind: 'ended' }, next: { ...w, at: 'ended' }, rule: 'ending the call, from any live state' };
    default:
      throw new Error(`the model sent an event the oracle does not know: ${JSON.stringify(e)}`);
  }
}

const world0 = (cap: number, humanNumber: boolean, warm = false): World => ({
  at: 'triage',
  count: 0,
  cap,
  humanNumber,
  personFailed: false,
  left: null,
  warm,
  step: null,
});

const describeEvent = (e: ModelEvent) =>
  e.type === 'TRANSFER'
    ? `${e.chained ? '⇢' : '→'}${e.to}`
    : e.type === 'HUMAN_TRANSFER_FAILED'
      ? 'person-failed'
      : e.type === 'PERSON_ANSWERED'
        ? 'person-answers'
        : e.type === 'PERSON_CONNECTED'
          ? 'person-joined'
          : e.type;

// ---- Driving the real call -------------------------------------------------------------------------

const TITLE_TO_ROLE = Object.fromEntries(Object.values(DEPARTMENT_TABLE).map((d) => [d.title, d.id]));
const toolOf = (to: string) => (to === 'human' ? 'transfer_to_human' : `pass_control_to_${to}`);
const TAKEOVER = /You have just taken over this call from/;

/** The chain planned for the current turn of a call: what each desk's entry reply passes the caller on to. */
interface ChainPlan {
  call: Call;
  /** Route length before the turn: the desk taking the line with route length base+1+i replies with `hops[i]`. */
  base: number;
  hops: string[];
}
const plans = new Map<string, ChainPlan>();
/** Each warm call's stand-in for LiveKit's task: the driver says when the person picks up, agrees, or it fails. */
const consultations = new Map<string, ScriptedConsultation>();

/**
 * Entry replies (a desk that has just taken the call over): the planned chain hop, one short line and
 * the transfer tool; with no hop planned, one line that continues the call. (Left to the directive
 * script, the entry reply would repeat the caller's last `@call` line.)
 */
function entryReply(req: ChatRequest, rec: RecordedRequest): ScriptedReply | undefined {
  if (!TAKEOVER.test(systemText(req)) || req.messages.at(-1)?.role === 'tool') return undefined;
  const plan = plans.get(callIdOf(rec));
  if (plan) {
    const hop = plan.hops[plan.call.actor.getSnapshot().context.route.length - plan.base - 1];
    if (hop) return { text: `Let me pass you on to ${hop}.`, toolCalls: [{ name: toolOf(hop), arguments: { reason: `passing the caller on to ${hop}` } }] };
  }
  return { text: `${deskOf(req)} here, carrying on with what you need.` };
}

/** One caller turn: a caller-driven step and the chained hops its transfer sets off. */
interface Turn {
  steps: ModelEvent[];
}

function turnsOf(path: ModelPath): Turn[] {
  const turns: Turn[] = [];
  for (const { event } of path.steps.slice(1)) {
    const e = event as ModelEvent;
    if (e.type === 'TRANSFER' && e.chained) turns.at(-1)!.steps.push(e);
    // Joined to the person, the call ends on its own: one turn.
    else if (e.type === 'END_CALL' && turns.at(-1)?.steps.at(-1)?.type === 'PERSON_CONNECTED') turns.at(-1)!.steps.push(e);
    else turns.push({ steps: [e] });
  }
  return turns;
}

/**
 * The caller's line that makes the desk call `tool`: a `@call` directive, or in a Hindi suite a Hindi
 * sentence with the tool call scripted beside it.
 */
async function sayCalling(call: Call, hindi: string | null, tool: { name: string; arguments: Record<string, unknown> }, saidLines: string[]) {
  const line = hindi ?? callTools(tool);
  saidLines.push(line);
  const from = call.events.length;
  const turn = hindi ? sayAndCall(call, hindi, tool) : say(call, line);
  // A warm transfer holds the turn open (LiveKit's task runs in the person desk's onEnter) until the
  // person answers or it fails: the turn is over for the caller once the hand-off line has played.
  held.set(call.callId, turn.then(() => undefined, () => undefined));
  await Promise.race([turn, onHold(call, from)]);
}

/** The caller turn a warm transfer holds open, per call: the next turn starts once it is over. */
const held = new Map<string, Promise<void>>();
const turnOver = (call: Call) => held.get(call.callId) ?? Promise.resolve();

/** The call went warm to a person in this turn and the hand-off line was said: the caller now holds. */
async function onHold(call: Call, from: number): Promise<void> {
  // (A plain poll: the paths run concurrently, and `expect.poll` needs to know its test.)
  const holding = () => {
    const events = call.events.slice(from);
    const held = events.findIndex((e) => e.type === 'person' && e.step === 'dialling');
    return held >= 0 && events.slice(held).some((e) => e.type === 'agent' && e.agent === 'human');
  };
  const deadline = Date.now() + 60_000;
  while (!holding()) {
    if (Date.now() > deadline) throw new Error(`${call.callId}: the caller was never put on hold with the hand-off line said`);
    await sleep(10);
  }
}

/** Drives one turn through the real call; returns the call events it produced. */
async function drive(call: Call, turn: Turn, saidLines: string[], inHindi: boolean): Promise<CallEvent[]> {
  const from = call.events.length;
  const [first, ...chain] = turn.steps;
  switch (first!.type) {
    case 'TRANSFER': {
      plans.set(call.callId, { call, base: call.actor.getSnapshot().context.route.length, hops: chain.map((e) => (e as { to: string }).to) });
      const hindi = inHindi ? `कृपया मुझे ${first.to} वाले विभाग से जोड़ दीजिए, मेरा काम वहीं होगा` : null;
      await sayCalling(call, hindi, { name: toolOf(first.to), arguments: { reason: first.reason } }, saidLines);
      break;
    }
    case 'END_CALL': {
      await sayCalling(call, inHindi ? 'बस इतना ही चाहिए था, बहुत धन्यवाद' : null, { name: 'end_call', arguments: { reason: first.reason } }, saidLines);
      await call.finished;
      break;
    }
    case 'HANGUP':
      call.hangup();
      await call.finished;
      break;
    case 'HUMAN_TRANSFER_FAILED': {
      const entered = waitForEvent(call, (e) => e.type === 'agent' && e.agent !== 'human');
      // Warm: the telephony side fails (LiveKit's task, stood in for); cold: the REFER's failure, as sent.
      const warm = consultations.get(call.callId);
      if (warm) warm.fail(first.reason);
      else call.send({ type: 'HUMAN_TRANSFER_FAILED', reason: first.reason });
      await entered;
      await turnOver(call);
      break;
    }
    case 'PERSON_ANSWERED': {
      const briefing = waitForEvent(call, (e) => e.type === 'person' && e.step === 'briefing');
      consultations.get(call.callId)!.pickUp();
      await briefing;
      break;
    }
    case 'PERSON_CONNECTED':
      consultations.get(call.callId)!.decide('connect');
      await call.finished;
      break;
    default:
      throw new Error(`no way to drive ${first!.type}`);
  }
  return call.events.slice(from);
}

/** Waits (briefly) for the line that closes the turn, so nothing of this turn spills into the next. */
async function settle(call: Call, expectLineFrom: Where | null): Promise<void> {
  if (expectLineFrom === null || expectLineFrom === 'ended') return;
  const last = call.events.at(-1);
  if (last?.type === 'agent' && last.agent === expectLineFrom) return;
  await waitForEvent(call, (e) => e.type === 'agent' && e.agent === expectLineFrom, 3000).catch(() => undefined);
}

const agentLines = (events: CallEvent[]) => events.filter((e): e is CallEvent & { type: 'agent' } => e.type === 'agent');

/** The turn's events against the oracle's verdicts: moves, refusals, who spoke, and in what order. */
function checkTurn(label: string, before: World, judged: { verdict: Verdict; rule: string }[], events: CallEvent[]) {
  const verdicts = judged.map((j) => j.verdict);
  // A warm transfer that fails is reported once, with the reason the caller is told.
  const reported = before.warm && verdicts[0]?.kind === 'returned' ? [`transfer to a person failed: ${events.find((e) => e.type === 'handoff')?.reason ?? ''}`] : [];
  expect(events.flatMap((e) => (e.type === 'error' ? [e.message] : [])), `${label}: errors`).toEqual(reported);
  // Each warm step is shown as it happens, in order.
  const shown = events.flatMap((e) => (e.type === 'person' ? [e.step] : []));
  const stepsExpected = judged.flatMap(({ verdict: v }) =>
    v.kind === 'step' ? [v.step] : v.kind === 'moved' && v.to === 'human' && before.warm ? ['dialling'] : [],
  );
  expect(shown, `${label}: warm steps shown`).toEqual(stepsExpected);
  if (verdicts.every((v) => v.kind === 'step')) {
    // On hold: no agent speaks to the caller.
    expect(agentLines(events), `${label}: nobody speaks while the caller holds`).toEqual([]);
    // Joined: the agent's part of the call ends, the caller stays with the person.
    const joined = verdicts.at(-1)!.kind === 'step' && (verdicts.at(-1) as { step: PersonStep }).step === 'connected';
    if (joined) expect(events.at(-1), `${label}: the call ends for the agent`).toMatchObject({ type: 'end', reason: 'joined to a person' });
    return;
  }
  const moves = verdicts.filter((v) => v.kind === 'moved' || v.kind === 'returned');
  const handoffs = events.filter((e): e is CallEvent & { type: 'handoff' } => e.type === 'handoff');
  expect(
    handoffs.map((h) => ({ from: h.from, to: h.to, escalated: h.escalated })),
    `${label}: transfers (rules: ${judged.map((j) => j.rule).join('; ')})`,
  ).toEqual(moves.map((v) => ({ from: v.from, to: v.to, escalated: v.kind === 'moved' && v.escalated })));
  for (const h of handoffs) expect(h.latencyMs, `${label}: handoff timing`).not.toBeNull();

  const machineRefusals = verdicts.filter((v): v is Verdict & { kind: 'refused' } => v.kind === 'refused' && v.reason !== null);
  const rejected = events.filter((e): e is CallEvent & { type: 'rejected' } => e.type === 'rejected');
  expect(rejected.map((r) => ({ from: r.from, to: r.to })), `${label}: refusals`).toEqual(machineRefusals.map((v) => ({ from: v.from, to: v.to })));
  rejected.forEach((r, i) => expect(r.reason, `${label}: refusal reason`).toMatch(machineRefusals[i]!.reason!));

  if (verdicts.at(-1)?.kind === 'ended') {
    expect(events.at(-1), `${label}: the call ends`).toMatchObject({ type: 'end', state: 'ended' });
    if (verdicts[0]?.kind === 'step') expect(events.at(-1), `${label}: the caller stays with the person`).toMatchObject({ reason: 'joined to a person' });
    return;
  }
  // Hearing order: every line comes from the desk on the line when it is said; a desk the chain passes
  // through says at most one line; the desk the turn ends with speaks last.
  let desk: Where = before.at;
  const linesOf = new Map<Where, number>();
  const visited: Where[] = [desk];
  for (const e of events) {
    if (e.type === 'handoff') visited.push((desk = e.to));
    if (e.type === 'agent') {
      expect(e.agent, `${label}: "${e.text}" said while the call was with ${desk}`).toBe(desk);
      linesOf.set(e.agent, (linesOf.get(e.agent) ?? 0) + 1);
    }
  }
  for (const d of visited.slice(1, -1)) expect(linesOf.get(d) ?? 0, `${label}: ${d} passing the caller on`).toBeLessThanOrEqual(1);
  const lines = agentLines(events);
  expect(lines.at(-1)?.agent, `${label}: who speaks last`).toBe(desk);
  const last = verdicts.at(-1)!;
  if (last.kind === 'moved' || last.kind === 'returned') {
    // The desk that took the line last speaks exactly once; nobody speaks after it.
    const lastHandoff = events.lastIndexOf(handoffs.at(-1)!);
    expect(agentLines(events.slice(lastHandoff + 1)).map((e) => e.agent), `${label}: after the last transfer`).toEqual([last.to]);
  } else if (last.kind === 'refused' && last.reason) {
    // Refused by the machine: explained once, by the same desk, after the refusal (hearing order).
    const at = events.indexOf(rejected.at(-1)!);
    const after = agentLines(events.slice(at + 1));
    expect(after.map((e) => e.agent), `${label}: after the refusal`).toEqual([last.from]);
    expect(after[0]!.text, `${label}: the refusal is explained`).toContain(rejected.at(-1)!.reason);
    expect(lines.filter((l) => l.text.includes(rejected.at(-1)!.reason)), `${label}: explained once`).toHaveLength(1);
  } else if (last.kind === 'refused') {
    // No such tool at this desk: the same desk answers, once (after its one passing-on line, in a chain).
    const i = Math.max(events.findIndex((e) => e.type === 'user'), events.lastIndexOf(handoffs.at(-1)!));
    const after = agentLines(events.slice(i + 1));
    const chained = judged.length > 1;
    expect(after.map((e) => e.agent), `${label}: the desk answers`).toEqual(chained ? [last.from, last.from] : [last.from]);
    if (chained) expect(after[0]!.text, `${label}: its passing-on line`).toBe(`Let me pass you on to ${last.to}.`);
  }
}

/** The call as it stands against the oracle's world, and the newest request against the desk on the line. */
function checkCall(label: string, server: ScriptedServer, call: Call, w: World, saidLines: string[], inHindi: boolean) {
  if (w.at === 'human' && w.step === 'connected') {
    // The person joined: the call ends on its own (the machine's END_CALL follows at once).
    expect(call.machineState, `${label}: the agent has left`).toBe('ended');
    expect(call.actor.getSnapshot().context.endReason).toBe('joined to a person');
    return;
  }
  expect(call.machineState, `${label}: where the caller is`).toBe(w.at);
  if (w.at === 'human') expect(call.actor.getSnapshot().value, `${label}: the person transfer's step`).toEqual({ human: w.step });
  expect(call.actor.getSnapshot().context.handoffCount, `${label}: transfers counted`).toBe(w.count);
  const reqs = requestsOf(server, call);
  expect(reqs.filter((r) => r.invalid).map((r) => r.invalid), `${label}: requests OpenAI would refuse`).toEqual([]);
  if (inHindi && saidLines.length > 0) {
    // From the caller's first Hindi line on, every desk is told — a desk taking the line above all.
    expect(call.actor.getSnapshot().context.caller.language, `${label}: the caller's language`).toBe('hi');
    const heard = reqs.filter((r) => r.body.messages.some((m) => m.role === 'user'));
    for (const r of heard) expect(systemText(r.body), `${label}: ${deskOf(r.body)} told the language`).toContain('The caller speaks Hindi');
  }
  if (w.at === 'ended') return;
  expect(call.activeRole, `${label}: the agent on the line`).toBe(w.at);
  const last = reqs.at(-1)!;
  expect(TITLE_TO_ROLE[deskOf(last.body)], `${label}: the newest request's desk`).toBe(w.at);
  const sys = systemText(last.body);
  for (const d of [...DESKS, 'human' as const]) {
    if (d !== w.at) expect(sys, `${label}: ${d}'s instructions`).not.toContain(`You are the ${DEPARTMENT_TABLE[d].title} desk`);
  }
  expect(last.body.messages.filter((m) => m.role === 'system' || m.role === 'developer'), `${label}: one system message`).toHaveLength(1);
  const said = last.body.messages.filter((m) => m.role === 'user').map(textOf);
  for (const line of saidLines) expect(said, `${label}: the caller's lines are carried`).toContain(line);
  expect(historyProblem(last.body.messages), `${label}: history`).toBeUndefined();
  // The desk offers exactly the transfers the rules allow from here.
  const tools = (last.body.tools ?? []).map((t) => t.function.name).filter((n) => n === 'transfer_to_human' || n.startsWith('pass_control_to_'));
  expect(tools.sort(), `${label}: transfer tools offered`).toEqual(offered(w).map(toolOf).sort());
}

// ---- The suites ------------------------------------------------------------------------------------

interface Suite {
  name: string;
  cap: number;
  human: boolean;
  chained: boolean;
  kind: PathKind;
  /** The caller speaks Hindi (Devanagari) on every line. */
  hindi?: boolean;
  /** A person is reached warm (HUMAN_TRANSFER_MODE=warm), through the fake server API. */
  warm?: boolean;
}

const DEFAULT_CAP = 6; // MAX_HANDOFFS' default, written down here rather than read from the machine
const kindName = { simple: 'every simple path', shortest: 'the shortest path to every state', transitions: 'every transition' };
const SUITES: Suite[] = [
  { cap: 1, human: false, chained: false, kind: 'simple' },
  { cap: 2, human: true, chained: false, kind: 'transitions' },
  { cap: DEFAULT_CAP, human: true, chained: false, kind: 'shortest' },
  { cap: DEFAULT_CAP, human: false, chained: false, kind: 'transitions' },
  { cap: 1, human: false, chained: true, kind: 'simple' },
  { cap: 2, human: true, chained: true, kind: 'transitions' },
  { cap: 2, human: false, chained: true, kind: 'transitions' },
  { cap: DEFAULT_CAP, human: true, chained: true, kind: 'shortest' },
  { cap: DEFAULT_CAP, human: false, chained: true, kind: 'shortest' },
  { cap: 2, human: true, chained: true, kind: 'transitions', hindi: true },
  { cap: 2, human: true, chained: false, kind: 'transitions', warm: true },
  { cap: DEFAULT_CAP, human: true, chained: true, kind: 'shortest', warm: true },
].map((s) => ({
  ...s,
  name: `${kindName[s.kind as PathKind]}, cap ${s.cap}, ${s.human ? 'human number' : 'no human number'}${s.chained ? ', chained transfers' : ''}${s.hindi ? ', a Hindi caller' : ''}${s.warm ? ', warm transfer' : ''}`,
})) as Suite[];

/** Bounds on generation: a routing model that grows past them fails here, with a message, instead of running out of memory. */
const BOUNDS = { maxStates: 5_000, maxSearchSteps: 1_000_000, maxPaths: 5_000, maxPathLength: 3 * DEFAULT_CAP + 6 };

let server: ScriptedServer;
let livekit: FakeLiveKit;
const LK = { apiKey: 'APImodel', apiSecret: 'a-model-based-secret-long-enough-0123456789' };
beforeAll(async () => {
  server = await startServer(directiveScript(entryReply));
  livekit = await startFakeLiveKit(LK);
});
afterAll(async () => {
  await server.close();
  await livekit.close();
});

/** A warm call's connector: `warmTransfer` against the fake server API, LiveKit's task stood in for. */
function warmConnector(room: string) {
  const api = { url: livekit.url, ...LK };
  const consultation = new ScriptedConsultation(api, room, null);
  const line: WarmLineOptions = {
    api,
    room,
    dial: { trunkId: 'ST_model', to: '+918012345678', ringingTimeoutS: 20 },
    consultation,
    moves: new MoveSupport(api, () => undefined, `${tmpdir()}/switchboard-model-based-${process.pid}`),
  };
  const connect = (c: Call, steps: PersonSteps) =>
    warmTransfer(line, { ...briefingFor(c.actor.getSnapshot().context, 'Acme'), history: c.session.history }, steps);
  return { consultation, connect };
}

describe('path generation is bounded', () => {
  it('a path search past its bound stops with a clear error', () => {
    expect(() => modelFor(2, true, { chained: true, bounds: { maxSearchSteps: 500 } }).paths('simple')).toThrow(
      new PathBudgetExceeded('path generation (cap 2, human number, chained) stopped after 500 search steps: the model has more paths than the bounds allow'),
    );
  });
  it('a state space past its bound stops with a clear error', () => {
    expect(() => modelFor(6, true, { bounds: { maxStates: 50 } }).paths('shortest')).toThrow(/explored more than 50 model states/);
  });
  it('too many paths, or too long a path, stops with a clear error', () => {
    expect(() => modelFor(2, true, { bounds: { maxPaths: 10 } }).paths('simple')).toThrow(/more than the bound of 10/);
    expect(() => modelFor(6, true, { bounds: { maxPathLength: 3 } }).paths('shortest')).toThrow(/longer than the bound of 3/);
  });
});

const counts: Record<string, number> = {};
let modelCalls = 0;

for (const suite of SUITES) {
  let paths: ModelPath[] = [];
  let failure: Error | null = null;
  try {
    paths = modelFor(suite.cap, suite.human, {
      chained: suite.chained,
      refusals: true,
      routes: MAY_REACH,
      bounds: BOUNDS,
      humanTransferMode: suite.warm ? 'warm' : undefined,
    }).paths(suite.kind);
  } catch (err) {
    failure = err as Error;
  }
  counts[suite.name] = paths.length;
  describe(`${suite.name} (${paths.length} paths)`, () => {
    it('generates its paths within bounds, reaching every state the rules allow', () => {
      if (failure) throw failure;
      const reached = new Set(paths.flatMap((p) => p.steps.map((s) => stateNameOf(s.state.machine.value))));
      const person = suite.warm ? ['human.dialling', 'human.briefing', 'human.connected'] : ['human.cold'];
      const expected = suite.human ? [...DESKS, ...person, 'ended'] : [...DESKS, 'ended'];
      expect([...reached].sort()).toEqual([...expected].sort());
      if (suite.chained) {
        // Chains are generated: onward, straight back, and at the cap.
        const chained = paths.flatMap((p) => p.steps.map((s) => s.event as ModelEvent).filter((e) => e.type === 'TRANSFER' && e.chained));
        expect(chained.length).toBeGreaterThan(0);
      }
    });
    for (const path of paths) {
      const events = path.steps.slice(1).map((s) => s.event as ModelEvent);
      it.concurrent(`${events.map(describeEvent).join(' ')} ⇒ ${stateNameOf(path.state.machine.value)}`, async () => {
        // First the machine's own answers (the path as generated) against the oracle: a wrong rule
        // shows here at once, with the rule that was expected.
        let w = world0(suite.cap, suite.human, suite.warm);
        for (const [i, step] of path.steps.slice(1).entries()) {
          const { next, rule } = judge(w, step.event as ModelEvent);
          const label = `step ${i + 1} (${describeEvent(step.event as ModelEvent)} from ${w.at}, ${w.count}/${w.cap}): rule "${rule}"`;
          expect({ state: stateNameOf(step.state.machine.value), handoffCount: step.state.machine.context.handoffCount }, `the machine, ${label}`).toEqual({
            state: next.at === 'human' ? `human.${next.step}` : next.at,
            handoffCount: next.count,
          });
          w = next;
        }

        // Then the real call, turn by turn.
        const callId = `model-${++modelCalls}`;
        const warm = suite.warm ? warmConnector(callId) : null;
        const call = await startCall(server, {
          callId,
          maxHandoffs: suite.cap,
          humanAvailable: suite.human,
          ...(warm ? { humanTransferMode: 'warm' as const, connectHuman: warm.connect } : {}),
        });
        if (warm) consultations.set(callId, warm.consultation);
        const saidLines: string[] = [];
        try {
          w = world0(suite.cap, suite.human, suite.warm);
          const inHindi = suite.hindi === true;
          checkCall('at the start', server, call, w, saidLines, inHindi);
          for (const [t, turn] of turnsOf(path).entries()) {
            const before = w;
            const judged = turn.steps.map((e) => {
              const j = judge(w, e);
              w = j.next;
              return j;
            });
            const label = `turn ${t + 1} (${turn.steps.map(describeEvent).join(' ')} from ${before.at}, ${before.count}/${before.cap})`;
            const last = judged.at(-1)!.verdict;
            const closer = last.kind === 'moved' || last.kind === 'returned' ? last.to : last.kind === 'refused' ? last.from : null;
            const from = call.events.length;
            await drive(call, turn, saidLines, inHindi);
            await settle(call, closer);
            const events = call.events.slice(from);
            // Turns the caller does not start: the telephony side's answers, a hang-up.
            if (!['HUMAN_TRANSFER_FAILED', 'HANGUP', 'PERSON_ANSWERED', 'PERSON_CONNECTED'].includes(turn.steps[0]!.type)) {
              // Nothing of an earlier turn spills into this one: it starts with the caller's line.
              // (A language the line tells may be noted as it is read, just before the line is.)
              expect(events.find((e) => e.type !== 'caller'), `${label}: the turn starts with the caller`).toMatchObject({ type: 'user' });
            }
            checkTurn(label, before, judged, events);
            checkCall(label, server, call, w, saidLines, inHindi);
          }
          // Nobody speaks after the last turn.
          const n = call.events.length;
          await sleep(50);
          expect(agentLines(call.events.slice(n)), 'lines after the last turn').toEqual([]);
        } finally {
          plans.delete(call.callId);
          consultations.delete(call.callId);
          held.delete(call.callId);
          await call.close('test over');
        }
      });
    }
  });
}

describe('path counts', () => {
  it('plain and chained paths are both generated', () => {
    const plain = SUITES.filter((s) => !s.chained).reduce((n, s) => n + counts[s.name]!, 0);
    const chained = SUITES.filter((s) => s.chained).reduce((n, s) => n + counts[s.name]!, 0);
    console.log(`model-based paths: ${plain} plain, ${chained} chained\n${SUITES.map((s) => `  ${s.name}: ${counts[s.name]}`).join('\n')}`);
    expect(plain).toBeGreaterThan(0);
    expect(chained).toBeGreaterThan(0);
  });
});
