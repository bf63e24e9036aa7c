/**
 * Nothing lost, part 4: a live call survives its LLM provider failing — HTTP 500 and 429, a request
 * that never answers (timeout), a stream cut midway — in triage, in a specialist, and in the middle of
 * a transfer. After each failed turn: one `error` event, exactly one apology line from the agent on the
 * line (kept in the history), the machine and the agent still agree, and the next turn is answered by
 * the machine's department. With `LLM_FALLBACK_MODEL` the fallback model answers instead, silently.
 *
 * Real orchestrator, real OpenAI plugin, scripted server over HTTP.
 */
import * as openai from '@livekit/agents-plugin-openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../src/config.js';
import type { Target } from '../machines/router.js';
import { DEPARTMENT_TABLE } from '../src/departments.js';
import { buildLLM, llmConnOptions } from '../src/models.js';
import { Call } from '../src/call/call.js';
import { DEFAULT_APOLOGY, DEFAULT_GREETING_APOLOGY } from '../src/call/options.js';
import { type CallEvent } from '../src/call/events.js';
import {
  type ChatRequest,
  type RecordedRequest,
  type ScriptedReply,
  type ScriptedServer,
  deskOf,
  historyProblem,
  keywordBrain,
  systemText,
  textOf,
} from '../dev/scripted-llm.js';
import { callTools, directiveScript, requestsOf, startCall, startServer } from './support/harness.js';

// ---- fault injection ------------------------------------------------------------------------------

type Match = (req: ChatRequest) => boolean;
interface Fault {
  callId: string;
  match: Match;
  reply: ScriptedReply;
  left: number;
}
const faults: Fault[] = [];
/** Every fault the server actually injected, by kind. */
const injected: Record<string, number> = {};
let greetingFault: ScriptedReply | null = null;

const kindOf = (r: ScriptedReply) =>
  r.fail ? `http ${r.fail.status}` : r.hang ? 'timeout' : r.cutAfterChunks !== undefined ? 'cut stream' : 'other';

function injectFor(req: ChatRequest, rec: RecordedRequest): ScriptedReply | undefined {
  if (greetingFault && /The call has just connected/.test(systemText(req))) {
    const reply = greetingFault;
    greetingFault = null;
    injected[kindOf(reply)] = (injected[kindOf(reply)] ?? 0) + 1;
    return reply;
  }
  const f = faults.find((x) => x.left > 0 && rec.authorization === `Bearer ${x.callId}` && x.match(req));
  if (!f) return undefined;
  f.left--;
  injected[kindOf(f.reply)] = (injected[kindOf(f.reply)] ?? 0) + 1;
  return f.reply;
}

/** The next `times` requests of this call that match fail with `reply`. */
function failNext(call: Call, match: Match, reply: ScriptedReply, times = 1): Fault {
  const f = { callId: call.callId, match, reply, left: times };
  faults.push(f);
  return f;
}

const lastIs = (role: string): Match => (req) => req.messages.at(-1)?.role === role;
const fromDesk = (role: Target): Match => (req) => deskOf(req) === DEPARTMENT_TABLE[role].title;
const isEntryReply: Match = (req) => /You have just taken over this call/.test(systemText(req));
const and = (...ms: Match[]): Match => (req) => ms.every((m) => m(req));

/** Timeout of each LLM request in these calls: a hung request fails after this. */
const TIMEOUT_MS = 400;

const KINDS: [string, ScriptedReply, RegExp][] = [
  ['HTTP 500', { fail: { status: 500, message: 'scripted outage' } }, /500/],
  ['HTTP 429', { fail: { status: 429, message: 'rate limited' } }, /429/],
  ['a timeout', { hang: true }, /timed out/i],
  ['a stream cut midway', { text: 'Let me look into that for you right away, one moment.', chunkDelayMs: 25, cutAfterChunks: 3 }, /terminated|connection|error/i],
];

// ---- the calls --------------------------------------------------------------------------------------

let server: ScriptedServer;
const calls: Call[] = [];

beforeAll(async () => {
  server = await startServer(
    directiveScript((req, rec) => {
      const fault = injectFor(req, rec);
      if (fault) return fault;
      // The fallback tests: the primary model is down, the fallback answers as usual.
      const down: Record<string, ScriptedReply> = {
        'primary-down': { fail: { status: 503, message: 'primary model unavailable' } },
        'primary-hangs': { hang: true },
        'backup-down': { fail: { status: 500, message: 'backup down too' } },
      };
      const reply = down[req.model];
      if (reply) injected[`fallback test, ${kindOf(reply)}`] = (injected[`fallback test, ${kindOf(reply)}`] ?? 0) + 1;
      return reply;
    }),
  );
});
afterAll(async () => {
  await server.close();
  // The figures for the report.
  console.log(`faults injected: ${JSON.stringify(injected)}`);
});
/** Every moment the machine and the agent on the line disagreed (checked at each call event). */
const disagreements: string[] = [];
function watch(call: Call) {
  call.on('event', (e) => {
    if (e.type === 'end' || call.machineState === 'ended') return;
    if (call.machineState !== call.activeRole) disagreements.push(`${e.type}: ${call.machineState} vs ${call.activeRole}`);
  });
}

afterEach(async () => {
  faults.splice(0);
  greetingFault = null;
  await Promise.all(calls.splice(0).map((c) => c.close('test over')));
  expect(disagreements.splice(0)).toEqual([]);
});

async function newCall(o: Parameters<typeof startCall>[1] = {}) {
  const call = await startCall(server, { timeoutMs: TIMEOUT_MS, ...o });
  watch(call);
  calls.push(call);
  return call;
}

const agentLines = (events: CallEvent[]) => events.filter((e): e is CallEvent & { type: 'agent' } => e.type === 'agent');
const apologies = (events: CallEvent[]) => agentLines(events).filter((e) => e.text === DEFAULT_APOLOGY);
const errors = (events: CallEvent[]) => events.filter((e): e is CallEvent & { type: 'error' } => e.type === 'error');

/** The machine and the agent on the line agree, and nothing the call sent was an invalid history. */
function expectInStep(call: Call) {
  expect(call.machineState).toBe(call.activeRole);
  for (const r of requestsOf(server, call)) {
    expect(r.invalid).toBeUndefined();
    expect(historyProblem(r.body.messages)).toBeUndefined();
  }
}

/**
 * One caller line, and the whole turn. Checks that the turn's first LLM request came from the
 * machine's department at the start of the turn, and that machine and agent agree afterwards.
 */
async function turn(call: Call, text: string): Promise<CallEvent[]> {
  const state = call.machineState as Target;
  const fromEvent = call.events.length;
  const fromReq = requestsOf(server, call).length;
  await call.session.run({ userInput: text }).wait();
  const reqs = requestsOf(server, call).slice(fromReq);
  expect(reqs.length, 'the turn reached the LLM').toBeGreaterThan(0);
  expect(deskOf(reqs[0]!.body), `the turn was asked of ${state}`).toBe(DEPARTMENT_TABLE[state].title);
  expectInStep(call);
  return call.events.slice(fromEvent);
}

/** A failed turn: one error, then exactly one apology from `by`, and nothing else from anyone. */
function expectApologised(events: CallEvent[], by: Target, error: RegExp) {
  const errs = errors(events);
  expect(errs, JSON.stringify(events)).toHaveLength(1);
  expect(errs[0]!.message).toMatch(error);
  const sorry = apologies(events);
  expect(sorry, JSON.stringify(events)).toHaveLength(1);
  expect(sorry[0]!.agent).toBe(by);
  // The apology comes after the error; any other line of the turn is the failed reply's partial text.
  expect(events.indexOf(sorry[0]!)).toBeGreaterThan(events.indexOf(errs[0]!));
  for (const line of agentLines(events)) expect(line.agent).toBe(by);
}

/** The apology is in the history: the next request carries it right after the failed line. */
function expectApologyInHistory(call: Call, failedLine: string) {
  const last = requestsOf(server, call).at(-1)!.body.messages;
  const i = last.findLastIndex((m) => m.role === 'user' && textOf(m) === failedLine);
  expect(i, 'the failed line is in the history').toBeGreaterThanOrEqual(0);
  const next = last.slice(i + 1);
  const nextUser = next.findIndex((m) => m.role === 'user');
  const between = next.slice(0, nextUser === -1 ? undefined : nextUser);
  expect(between.filter((m) => m.role === 'assistant' && textOf(m) === DEFAULT_APOLOGY)).toHaveLength(1);
  expect(between.filter((m) => m.role === 'assistant').at(-1)?.content).toBe(DEFAULT_APOLOGY);
  const history = call.session.history.items.filter(
    (item) => item.type === 'message' && item.role === 'assistant' && item.textContent === DEFAULT_APOLOGY,
  );
  expect(history.length).toBeGreaterThanOrEqual(1);
}

// ---- the tests ------------------------------------------------------------------------------------------

describe.each(KINDS)('the LLM provider failing with %s', (_kind, fault, error) => {
  it('in triage: one apology, then the next line is answered and routed', async () => {
    const call = await newCall();
    failNext(call, and(lastIs('user'), fromDesk('triage')), fault);
    const failed = await turn(call, 'hello, is anyone there?');
    expectApologised(failed, 'triage', error);
    expect(call.machineState).toBe('triage');

    const next = await turn(call, 'I was charged twice on my card');
    expect(errors(next)).toEqual([]);
    expect(next.find((e) => e.type === 'handoff')).toMatchObject({ from: 'triage', to: 'billing' });
    expect(agentLines(next).at(-1)).toMatchObject({ agent: 'billing' });
    expectApologyInHistory(call, 'hello, is anyone there?');
  });

  it('in a specialist: billing apologises and keeps the call', async () => {
    const call = await newCall();
    await turn(call, 'I was charged twice on my card');
    expect(call.machineState).toBe('billing');
    failNext(call, and(lastIs('user'), fromDesk('billing')), fault);
    const failed = await turn(call, 'the second charge was on Monday');
    expectApologised(failed, 'billing', error);
    expect(call.machineState).toBe('billing');

    const next = await turn(call, 'it was 20 dollars');
    expect(errors(next)).toEqual([]);
    expect(agentLines(next).map((e) => e.agent)).toEqual(['billing']);
    expectApologyInHistory(call, 'the second charge was on Monday');
    // And the specialist can still route.
    const back = await turn(call, 'I also want to upgrade my plan');
    expect(back.find((e) => e.type === 'handoff')).toMatchObject({ from: 'billing', to: 'triage' });
  });

  it("mid-transfer, the new agent's entry reply fails: the new department apologises and answers next", async () => {
    const call = await newCall();
    // Both the reply prepared while triage's line played and the live retry fail.
    failNext(call, and(isEntryReply, fromDesk('billing')), fault, 2);
    const events = await turn(call, 'I was charged twice on my card');
    const handoff = events.find((e) => e.type === 'handoff');
    expect(handoff).toMatchObject({ from: 'triage', to: 'billing' });
    // Triage's transfer line, then after the handoff only billing: the error and its apology.
    const after = events.slice(events.indexOf(handoff!) + 1);
    expectApologised(after, 'billing', error);
    expect(errors(events)).toHaveLength(1);
    expect(call.machineState).toBe('billing');

    // No dead air: the caller's next line is answered by billing.
    const next = await turn(call, 'hello? did you get that?');
    expect(errors(next)).toEqual([]);
    expect(agentLines(next).map((e) => e.agent)).toEqual(['billing']);
    expect(agentLines(next)[0]!.text).not.toBe(DEFAULT_APOLOGY);
  });

  it("the reply prepared during the transfer fails: the new department replies live, no error, no apology", async () => {
    const call = await newCall();
    failNext(call, and(isEntryReply, fromDesk('billing')), fault);
    const events = await turn(call, 'I was charged twice on my card');
    expect(events.find((e) => e.type === 'handoff')).toMatchObject({ from: 'triage', to: 'billing' });
    expect(errors(events)).toEqual([]);
    const after = agentLines(events.slice(events.findIndex((e) => e.type === 'handoff') + 1));
    expect(after.map((e) => e.agent)).toEqual(['billing']);
    expect(after[0]!.text).not.toBe(DEFAULT_APOLOGY);
    expect(call.prepared).toMatchObject({ requests: 1, used: 0, thrownAway: 1 });
  });

  it("mid-transfer, the old agent's reply to a refused transfer fails: it apologises, the call stays put", async () => {
    const call = await newCall();
    // Triage sends a caller who wants a new plan to billing; billing's first reply passes them straight
    // back (a chain back where they came from): refused, and the reply explaining it fails.
    failNext(call, and(lastIs('tool'), fromDesk('billing')), fault);
    const events = await turn(call, callTools({ name: 'pass_control_to_billing', arguments: { reason: 'I want to upgrade my plan' } }));
    expect(events.filter((e) => e.type === 'rejected')).toMatchObject([{ from: 'billing', to: 'triage' }]);
    expectApologised(events, 'billing', error);
    expect(call.machineState).toBe('billing');
    const next = await turn(call, 'ok, what about my refund?');
    expect(errors(next)).toEqual([]);
    expect(agentLines(next).map((e) => e.agent)).toEqual(['billing']);
  });
});

describe('a stream that breaks around a transfer tool call', () => {
  it('cut after the tool call arrived: the transfer goes through, the new agent speaks, no apology', async () => {
    const call = await newCall();
    const reply: ScriptedReply = {
      text: 'Let me transfer you.',
      toolCalls: [{ name: 'pass_control_to_billing', arguments: { reason: 'double charge' } }],
      chunkDelayMs: 25,
    };
    // role, two text chunks, the tool call (two chunks), finish — then the connection drops.
    failNext(call, and(lastIs('user'), fromDesk('triage')), { ...reply, cutAfterChunks: 6 });
    const events = await turn(call, 'I was charged twice on my card');
    expect(errors(events)).toHaveLength(1);
    const handoff = events.find((e) => e.type === 'handoff');
    expect(handoff).toMatchObject({ from: 'triage', to: 'billing' });
    // The turn broke after its transfer: the new department's entry reply is the caller's next line.
    expect(apologies(events)).toEqual([]);
    expect(agentLines(events.slice(events.indexOf(handoff!) + 1)).map((e) => e.agent)).toEqual(['billing']);
    expect(call.machineState).toBe('billing');
    const next = await turn(call, 'so can you refund it?');
    expect(errors(next)).toEqual([]);
    expect(agentLines(next).map((e) => e.agent)).toEqual(['billing']);
  });

  it('cut inside the tool call: no transfer, triage apologises and keeps the call', async () => {
    const call = await newCall();
    failNext(call, and(lastIs('user'), fromDesk('triage')), {
      text: 'Let me transfer you.',
      toolCalls: [{ name: 'pass_control_to_billing', arguments: { reason: 'double charge' } }],
      chunkDelayMs: 25,
      cutAfterChunks: 4, // the tool call's name arrived, its arguments did not
    });
    const events = await turn(call, 'I was charged twice on my card');
    expect(events.filter((e) => e.type === 'handoff')).toEqual([]);
    expectApologised(events, 'triage', /terminated|connection|error/i);
    expect(call.machineState).toBe('triage');
    const next = await turn(call, 'I was charged twice on my card');
    expect(next.find((e) => e.type === 'handoff')).toMatchObject({ from: 'triage', to: 'billing' });
  });
});

describe('outages longer than one turn', () => {
  it('five failed turns in a row (past the framework default of 3): five apologies, the call survives', async () => {
    const call = await newCall();
    failNext(call, lastIs('user'), { fail: { status: 500 } }, 5);
    for (let n = 1; n <= 5; n++) {
      const events = await turn(call, `line ${n}, can you hear me?`);
      expectApologised(events, 'triage', /500/);
    }
    expect(apologies(call.events)).toHaveLength(5);
    expect(errors(call.events)).toHaveLength(5);
    const next = await turn(call, 'I was charged twice on my card');
    expect(errors(next)).toEqual([]);
    expect(next.find((e) => e.type === 'handoff')).toMatchObject({ to: 'billing' });
    expect(call.session.agentState).not.toBe('initializing');
  });

  it('a failing greeting: the caller hears a greeting that owns up to the trouble (not "I didn\'t catch that"), and the call goes on', async () => {
    greetingFault = { fail: { status: 500 } };
    const call = await newCall();
    expect(errors(call.events)).toHaveLength(1);
    // Not "I didn't catch that": the caller has said nothing yet. The greeting's own apology.
    expect(agentLines(call.events).map((e) => [e.agent, e.text])).toEqual([['triage', DEFAULT_GREETING_APOLOGY]]);
    const next = await turn(call, 'I was charged twice on my card');
    expect(next.find((e) => e.type === 'handoff')).toMatchObject({ to: 'billing' });
  });

  it('a failure the retry absorbs is not a failed turn: no error, no apology', async () => {
    const call = await newCall({ maxRetry: 1 });
    failNext(call, lastIs('user'), { fail: { status: 500 } });
    const events = await turn(call, 'I was charged twice on my card');
    expect(errors(events)).toEqual([]);
    expect(apologies(events)).toEqual([]);
    expect(events.find((e) => e.type === 'handoff')).toMatchObject({ to: 'billing' });
  });
});

describe('the apology text', () => {
  it('can be set per call', async () => {
    const call = new Call({
      callId: `faults-custom-apology`,
      llm: new openai.LLM({ model: 'scripted', apiKey: 'faults-custom-apology', baseURL: server.url }),
      company: 'Acme',
      maxHandoffs: 6,
      humanAvailable: false,
      apologyOnLlmError: 'Sorry, the line crackled. Say that once more?',
      sessionOptions: {
        vad: null,
        turnHandling: { turnDetection: 'manual' },
        userAwayTimeout: null,
        connOptions: { llmConnOptions: { maxRetry: 0, timeoutMs: TIMEOUT_MS, retryIntervalMs: 50 } },
      },
    });
    calls.push(call);
    await call.start();
    await call.greeted;
    failNext(call, lastIs('user'), { fail: { status: 500 } });
    const events = await turn(call, 'hello?');
    expect(errors(events)).toHaveLength(1);
    expect(agentLines(events).map((e) => e.text)).toEqual(['Sorry, the line crackled. Say that once more?']);
  });
});

describe('LLM_FALLBACK_MODEL', () => {
  async function fallbackCall(primary: string, backup: string, name: string) {
    const settings = loadSettings({
      OPENAI_BASE_URL: server.url,
      OPENAI_API_KEY: name, // tags the requests of this call
      LLM_MODEL: primary,
      LLM_FALLBACK_MODEL: backup,
      LLM_MAX_RETRY: '0',
      LLM_TIMEOUT_MS: '1000',
    });
    const llm = buildLLM(settings);
    const call = new Call({
      callId: name,
      llm,
      company: 'Acme',
      maxHandoffs: 6,
      humanAvailable: false,
      sessionOptions: {
        vad: null,
        turnHandling: { turnDetection: 'manual' },
        userAwayTimeout: null,
        connOptions: llmConnOptions(settings),
      },
    });
    calls.push(call);
    watch(call);
    await call.start();
    await call.greeted;
    return { call, llm };
  }

  it('builds a FallbackAdapter over [LLM_MODEL, LLM_FALLBACK_MODEL]; without it, the plain model', () => {
    const base = { OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', LLM_MODEL: 'a' };
    const plain = buildLLM(loadSettings(base));
    expect(plain).toBeInstanceOf(openai.LLM);
    expect(plain.model).toBe('a');
    const both = buildLLM(loadSettings({ ...base, LLM_FALLBACK_MODEL: 'b', LLM_TIMEOUT_MS: '7000', LLM_MAX_RETRY: '2' })) as unknown as {
      llms: { model: string }[];
      attemptTimeout: number;
      maxRetryPerLLM: number;
    };
    expect(both.llms.map((l) => l.model)).toEqual(['a', 'b']);
    expect(both.attemptTimeout).toBe(7);
    expect(both.maxRetryPerLLM).toBe(2);
    expect(llmConnOptions(loadSettings({ ...base, LLM_FALLBACK_MODEL: 'b', LLM_MAX_RETRY: '2' })).llmConnOptions?.maxRetry).toBe(0);
  });

  it('the primary failing: the fallback model answers every turn, with no error event', async () => {
    const { call } = await fallbackCall('primary-down', 'backup-ok', 'faults-fallback-500');
    const first = await turn(call, 'Hi, my name is Maya');
    const second = await turn(call, 'I was charged twice on my card');
    const events = call.events;
    expect(errors(events)).toEqual([]);
    expect(apologies(events)).toEqual([]);
    expect(agentLines(events)[0]!.text).toMatch(/Thank you for calling Acme/);
    expect(agentLines(first).at(-1)!.text).toMatch(/Maya/);
    expect(second.find((e) => e.type === 'handoff')).toMatchObject({ from: 'triage', to: 'billing' });
    expect(agentLines(second).at(-1)).toMatchObject({ agent: 'billing' });
    const reqs = requestsOf(server, call);
    const answered = reqs.filter((r) => r.body.model === 'backup-ok');
    // greeting, name (tool + reply), transfer, billing's entry reply
    expect(answered.length).toBeGreaterThanOrEqual(5);
    expect(reqs.filter((r) => r.body.model === 'primary-down').length).toBeGreaterThanOrEqual(1);
    expect(new Set(reqs.map((r) => r.body.model))).toEqual(new Set(['primary-down', 'backup-ok']));
  });

  it('the primary timing out: the fallback answers within the turn, with no error event', async () => {
    const { call } = await fallbackCall('primary-hangs', 'backup-ok', 'faults-fallback-timeout');
    const events = await turn(call, 'I was charged twice on my card');
    expect(errors(call.events)).toEqual([]);
    expect(events.find((e) => e.type === 'handoff')).toMatchObject({ to: 'billing' });
    expect(requestsOf(server, call).some((r) => r.body.model === 'backup-ok')).toBe(true);
  });

  it('both models failing: one error and one apology per turn, and the call goes on', async () => {
    const { call } = await fallbackCall('primary-down', 'backup-down', 'faults-fallback-both');
    // The greeting already failed on both: its own apology.
    expect(errors(call.events)).toHaveLength(1);
    expect(agentLines(call.events).map((e) => e.text)).toEqual([DEFAULT_GREETING_APOLOGY]);
    const events = await turn(call, 'hello?');
    expectApologised(events, 'triage', /all LLMs failed|failed/i);
    expect(call.machineState).toBe('triage');
  });
});

// keywordBrain is the model for every unfaulted request.
void keywordBrain;
