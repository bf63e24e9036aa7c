/**
 * The rules that decide whether a reply prepared during a transfer may play, one by one, on the
 * `PreparedReply` itself: a real OpenAI plugin LLM (and TTS) against the scripted server, a history as
 * the session would hold it. `take` answers with the reply that would play, or null: each test says
 * what the caller would hear with its rule broken (a stale reply, a reply twice, speech made for nobody).
 * The same rules through whole calls: seam.test.ts, prepared-freshness.test.ts and the voice suites.
 */
import { llm } from '@livekit/agents';
import * as openai from '@livekit/agents-plugin-openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ScriptedReply, type ScriptedServer, deskOf, isTakeover, keywordBrain, startScriptedServer } from '../dev/scripted-llm.js';
import type { Call } from '../src/call/call.js';
import type { CallEvent } from '../src/call/events.js';
import { concatSamples, soundSpans } from '../src/call/sound.js';
import { PreparedReply, type PreparedStats, emptyPreparedStats } from '../src/call/prepared-reply.js';
import { callTools, directiveScript, requestsOf, say, sleep, startCall, startServer, waitForEvent } from './support/harness.js';

const INSTRUCTIONS = 'You are the Billing desk. You have just taken over this call from Triage.';
/** The model's time to its first token: the window in which the call may change under a preparation. */
const TTFT_MS = 300;
const REPLY = 'This is the billing team; I can see the double charge on your card.';

let server: ScriptedServer;
let model: llm.LLM;

beforeAll(async () => {
  server = await startServer(() => ({ text: REPLY, ttftMs: TTFT_MS }));
  model = new openai.LLM({ model: 'scripted', apiKey: 'rules', baseURL: server.url });
});
afterAll(async () => {
  await server.close();
});

/** The conversation at the moment of the transfer (the front desk's line not yet committed). */
function historyAtTransfer(): llm.ChatContext {
  const ctx = llm.ChatContext.empty();
  ctx.addMessage({ role: 'assistant', content: 'Thank you for calling Acme. How can I help?' });
  ctx.addMessage({ role: 'user', content: 'I was charged twice on my card' });
  return ctx;
}

/** A speech engine that counts what it is asked to say. */
class CountedTTS extends openai.TTS {
  said: string[] = [];
  override synthesize(text: string, ...rest: unknown[]) {
    this.said.push(text);
    return (super.synthesize as (t: string, ...r: unknown[]) => ReturnType<openai.TTS['synthesize']>)(text, ...rest);
  }
}

function prepare(o: { history: llm.ChatContext; oldLine?: string; tts?: CountedTTS; stats?: PreparedStats }) {
  return new PreparedReply({
    history: o.history,
    oldLine: o.oldLine ?? 'Let me transfer you to billing.',
    instructions: INSTRUCTIONS,
    model,
    toolCtx: {} as llm.ToolContext,
    toolChoice: 'auto',
    tts: o.tts,
    stats: o.stats ?? emptyPreparedStats(),
  });
}

/** The session's history once the old desk's line was committed (as it is when the new desk takes the line). */
function committed(history: llm.ChatContext, ...lines: [role: 'assistant' | 'user', text: string][]): llm.ChatContext {
  const ctx = history.copy();
  for (const [role, content] of lines) ctx.addMessage({ role, content });
  return ctx;
}

describe('a prepared reply plays only on the conversation it was made for', () => {
  it('nothing changed: it plays (the control for every rule below), and its request is counted', async () => {
    const stats = emptyPreparedStats();
    const history = historyAtTransfer();
    const reply = prepare({ history, stats });
    const ready = await reply.take(committed(history, ['assistant', 'Let me transfer you to billing.']), () => INSTRUCTIONS);
    expect(ready?.text).toBe(REPLY);
    expect(ready!.ttftMs!).toBeGreaterThanOrEqual(TTFT_MS - 20);
    expect(stats).toMatchObject({ requests: 1, used: 1, thrownAway: 0 });
  });

  it('the caller spoke while it was being made: it does not play — it answers a conversation without their words', async () => {
    const stats = emptyPreparedStats();
    const history = historyAtTransfer();
    const reply = prepare({ history, stats });
    await sleep(TTFT_MS / 3);
    const now = committed(history, ['assistant', 'Let me transfer you to billing.'], ['user', 'Actually, it was my debit card']);
    expect(await reply.take(now, () => INSTRUCTIONS)).toBeNull();
    expect(stats).toMatchObject({ used: 0, thrownAway: 1 });
  });

  it('the line the caller heard from the old desk is not the one it was prepared after: it does not play', async () => {
    const history = historyAtTransfer();
    const reply = prepare({ history, oldLine: 'Let me transfer you to billing.' });
    const heard = committed(history, ['assistant', 'Let me transfer you to billing. One moment while I note your account.']);
    expect(await reply.take(heard, () => INSTRUCTIONS)).toBeNull();
  });

  it('after a silent transfer: any line in the conversation it was not prepared after makes it stale', async () => {
    const history = historyAtTransfer();
    // (The desk's own bridging line is kept out of the conversation, so it never stands here.)
    const other = prepare({ history, oldLine: '' });
    expect(await other.take(committed(history, ['assistant', 'Your refund is on its way.']), () => INSTRUCTIONS)).toBeNull();
    const unchanged = prepare({ history, oldLine: '' });
    expect((await unchanged.take(history, () => INSTRUCTIONS))?.text).toBe(REPLY);
  });

  it('the desk\'s instructions changed while it was being made (details or language saved): it does not play', async () => {
    const history = historyAtTransfer();
    const reply = prepare({ history });
    let instructions = INSTRUCTIONS;
    const taking = reply.take(committed(history, ['assistant', 'Let me transfer you to billing.']), () => instructions);
    // Judged when ready, not when the desk began to wait for it.
    await sleep(TTFT_MS / 3);
    instructions = `${INSTRUCTIONS}\nWhat we know about the caller: name: Maya.`;
    expect(await taking).toBeNull();
  });

  it('taken once: a second take gets nothing, so it can never play twice; the call leaving later does not count it thrown away', async () => {
    const stats = emptyPreparedStats();
    const history = historyAtTransfer();
    const reply = prepare({ history, stats });
    const now = committed(history, ['assistant', 'Let me transfer you to billing.']);
    expect((await reply.take(now, () => INSTRUCTIONS))?.text).toBe(REPLY);
    expect(await reply.take(now, () => INSTRUCTIONS)).toBeNull();
    expect(await reply.readyWithin(10)).toBe(false);
    reply.discard(); // the call moves on after it played
    expect(stats).toMatchObject({ requests: 1, used: 1, thrownAway: 0 });
  });
});

describe('a prepared reply\'s speech', () => {
  it('several sentences: the first asked for alone (its words come sooner), the rest at once; between them a sentence\'s pause, not two clips\' padding', async () => {
    const twoSentences = 'This is the billing team, and I can see the charge. I will refund the second one to your card today.';
    const server2 = await startScriptedServer({ script: () => ({ text: twoSentences }) }); // voices padded 150 / 200 ms, as real ones
    try {
      const tts = new CountedTTS({ model: 'tts-1', voice: 'alloy', apiKey: 'rules', baseURL: server2.url });
      const history = historyAtTransfer();
      const reply = new PreparedReply({
        history, oldLine: '', instructions: INSTRUCTIONS, toolCtx: {} as llm.ToolContext, toolChoice: 'auto', stats: emptyPreparedStats(), tts,
        model: new openai.LLM({ model: 'scripted', apiKey: 'rules', baseURL: server2.url }),
      });
      const ready = await reply.take(history, () => INSTRUCTIONS);
      expect(tts.said).toEqual(['This is the billing team, and I can see the charge.', 'I will refund the second one to your card today.']);
      const parts: Int16Array[] = [];
      let rate = 24_000;
      for await (const f of ready!.speech!.stream()) {
        parts.push(f.data.slice(0, f.samplesPerChannel));
        rate = f.sampleRate;
      }
      const spans = soundSpans(concatSamples(parts), rate);
      const gaps = spans.slice(1).map((sp, i) => sp.startMs - spans[i]!.endMs);
      // The longest pause is the one between the two clips: about 150 ms, where the padding was 350 ms.
      expect(Math.max(...gaps)).toBeGreaterThanOrEqual(120);
      expect(Math.max(...gaps)).toBeLessThanOrEqual(200);
    } finally {
      await server2.close();
    }
  });
});

describe('after a silent transfer: the bridging line is decided on how soon the reply is expected', () => {
  async function provider(ttftMs: number) {
    const server = await startScriptedServer({ script: () => ({ text: REPLY, ttftMs }) });
    const model = new openai.LLM({ model: 'scripted', apiKey: 'rules', baseURL: server.url });
    const make = () =>
      new PreparedReply({ history: historyAtTransfer(), oldLine: '', instructions: INSTRUCTIONS, model, toolCtx: {} as llm.ToolContext, toolChoice: 'auto', stats: emptyPreparedStats() });
    return { server, make };
  }

  it('a model whose replies take 600 ms: the line at once (no wait), since the reply is not expected within 250 ms', async () => {
    const { server, make } = await provider(600);
    try {
      // The first preparation: nothing to go by, so it is waited for a moment (100 ms) and is not ready.
      let t = performance.now();
      expect(await make().expectedWithin(250, 100)).toBe(false);
      expect(performance.now() - t).toBeGreaterThanOrEqual(90);
      await sleep(700); // it was ready meanwhile: 600 ms is now what this model takes
      t = performance.now();
      expect(await make().expectedWithin(250, 100)).toBe(false);
      expect(performance.now() - t, 'the line held back by a wait for a reply that cannot come in time').toBeLessThan(50);
    } finally {
      await server.close();
    }
  });

  it('a model whose replies take 100 ms: the reply is waited for (no line), and plays', async () => {
    const { server, make } = await provider(100);
    try {
      await make().readyWithin(1000); // one preparation to go by
      const reply = make();
      expect(await reply.expectedWithin(250, 50), 'a line said though the reply was about to play').toBe(true);
    } finally {
      await server.close();
    }
  });
});

describe('a prepared reply the call left behind', () => {
  it('discarded while its text is being made (the call moved on or ended): its speech is never made, nothing is ready', async () => {
    const stats = emptyPreparedStats();
    const tts = new CountedTTS({ model: 'tts-1', voice: 'alloy', apiKey: 'rules', baseURL: server.url });
    const reply = prepare({ history: historyAtTransfer(), tts, stats });
    await sleep(TTFT_MS / 3);
    reply.discard();
    await sleep(TTFT_MS * 2); // its text arrives meanwhile
    expect(tts.said, 'speech synthesized for a reply nobody will hear').toEqual([]);
    expect(await reply.readyWithin(10)).toBe(false);
    expect(stats).toMatchObject({ requests: 1, used: 0, thrownAway: 1 });
  });

  it('discarded while its speech is being made, a desk already waiting for it: the desk gets nothing to play', async () => {
    const slowVoice = await startScriptedServer({ script: () => ({ text: REPLY }), ttsTtfbMs: 600 });
    try {
      const stats = emptyPreparedStats();
      const tts = new CountedTTS({ model: 'tts-1', voice: 'alloy', apiKey: 'rules', baseURL: slowVoice.url });
      const history = historyAtTransfer();
      const reply = new PreparedReply({
        history, oldLine: '', instructions: INSTRUCTIONS, toolCtx: {} as llm.ToolContext, toolChoice: 'auto', stats, tts,
        model: new openai.LLM({ model: 'scripted', apiKey: 'rules', baseURL: slowVoice.url }),
      });
      const taking = reply.take(history, () => INSTRUCTIONS);
      while (!tts.said.length) await sleep(10); // its text is made; its speech is on the way
      reply.discard(); // the call moves on
      expect(await taking, 'a reply played by a desk the call has left').toBeNull();
      expect(stats).toMatchObject({ requests: 1, used: 0, thrownAway: 1 });
    } finally {
      await slowVoice.close();
    }
  });

  it('made whole, with its speech, when nothing changed (the control)', async () => {
    const tts = new CountedTTS({ model: 'tts-1', voice: 'alloy', apiKey: 'rules', baseURL: server.url });
    const history = historyAtTransfer();
    const reply = prepare({ history, tts });
    const ready = await reply.take(committed(history, ['assistant', 'Let me transfer you to billing.']), () => INSTRUCTIONS);
    expect(tts.said).toEqual([REPLY]);
    // Ready at its first frame; the whole of it plays, from the start, for every reader.
    expect(ready!.speech!.ttfbMs).not.toBeNull();
    const read = async () => {
      let samples = 0;
      for await (const f of ready!.speech!.stream()) samples += f.samplesPerChannel;
      return samples;
    };
    const [a, b] = await Promise.all([read(), read()]);
    expect(a).toBeGreaterThan(24_000 * 0.5);
    expect(b).toBe(a);
  });
});

describe('through a call: a prepared reply the call left behind', () => {
  let slow: ScriptedServer;
  const calls: Call[] = [];
  beforeAll(async () => {
    // Billing taking the call over (its prepared reply) is slow: the window in which the call moves on.
    slow = await startServer(
      directiveScript((req, rec) => {
        if (!isTakeover(req) || deskOf(req) !== 'Billing') return undefined;
        return { ...(keywordBrain(req, rec) as ScriptedReply), ttftMs: 700 };
      }),
    );
  });
  afterAll(async () => {
    await Promise.all(calls.splice(0).map((c) => c.close('test over')));
    await slow.close();
  });

  /** The caller asks for billing; returns once Billing is on the line and its reply is being prepared. */
  async function billingPreparing(o: Parameters<typeof startCall>[1] = {}): Promise<Call> {
    const call = await startCall(slow, o);
    calls.push(call);
    void say(call, 'I was charged twice on my card');
    const until = Date.now() + 5000;
    while (!(call.session.currentAgent.id === 'billing' && requestsOf(slow, call).some((r) => isTakeover(r.body) && deskOf(r.body) === 'Billing'))) {
      if (Date.now() > until) throw new Error('Billing never took the line');
      await sleep(10);
    }
    await sleep(100);
    return call;
  }

  it('the caller hangs up while it is being made: nothing is said after, no error, it counts as thrown away', async () => {
    const call = await billingPreparing();
    const from = call.events.length;
    call.hangup();
    await call.finished;
    await sleep(900); // the prepared reply's text arrives meanwhile
    const after = call.events.slice(from);
    expect(after.filter((e) => e.type === 'agent')).toEqual([]);
    expect(after.filter((e) => e.type === 'error')).toEqual([]);
    expect(call.prepared).toMatchObject({ requests: 1, used: 0, thrownAway: 1 });
  });

  it.each([
    ['the keypad', (call: Call) => call.pressKey('0')],
    ['a supervisor', (call: Call) => call.requestTransfer('triage', 'supervisor moved the call', 'supervisor')],
  ] as const)('%s moves the call while it is being made: Billing never speaks, the front desk answers once', async (_who, move) => {
    const call = await billingPreparing({ dtmfMap: { '0': 'triage' } });
    const from = call.events.length;
    const answer = move(call);
    expect(answer, JSON.stringify(answer)).toMatchObject({ accepted: true, to: 'triage' });
    await waitForEvent(call, (e) => e.type === 'agent' && e.agent === 'triage', 5000);
    await sleep(900); // Billing's prepared reply arrives meanwhile
    const lines = call.events.slice(from).filter((e): e is CallEvent & { type: 'agent' } => e.type === 'agent');
    expect(lines.map((e) => e.agent)).toEqual(['triage']);
    expect(call.events.filter((e) => e.type === 'error')).toEqual([]);
    expect(call.prepared).toMatchObject({ used: 0, thrownAway: 1 });
  });
});

describe('through a call: a bridging line the call left behind', () => {
  it('the keypad moves the call while the new desk\'s bridging line is still being voiced: that desk says nothing', async () => {
    // Voices that take 1.5 s to their first byte: the bridging line's audio (made once per voice) is not
    // ready when the silent transfer happens, and the call moves on while the new desk waits for it.
    const slowVoices = await startScriptedServer({ script: directiveScript(), ttsTtfbMs: 1500 });
    const voice = new openai.TTS({ model: 'tts-1', voice: 'alloy', apiKey: 'rules', baseURL: slowVoices.url });
    const call = await startCall(slowVoices, { ttsFor: () => voice, dtmfMap: { '0': 'triage' } });
    try {
      void say(call, callTools({ name: 'pass_control_to_billing', arguments: { reason: 'double charge' } })); // no line: silent
      const until = Date.now() + 5000;
      while (call.session.currentAgent.id !== 'billing') {
        if (Date.now() > until) throw new Error('Billing never took the line');
        await sleep(10);
      }
      await sleep(300); // Billing waits for its bridging line's audio
      expect(call.pressKey('0')).toMatchObject({ accepted: true, to: 'triage' });
      await sleep(2500); // the line's audio is made meanwhile
      const lines = call.events.filter((e): e is CallEvent & { type: 'agent' } => e.type === 'agent').map((e) => `${e.agent}: ${e.text}`);
      // The front desk takes the call back and answers; Billing's "Sure." is never heard, by anyone's voice.
      expect(lines.filter((l) => /^billing:|Sure\./.test(l)), `a desk speaking after the call left it: ${JSON.stringify(lines)}`).toEqual([]);
      expect(call.events.filter((e) => e.type === 'error')).toEqual([]);
    } finally {
      await call.close('test over');
      await slowVoices.close();
    }
  });
});
