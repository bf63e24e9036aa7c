/**
 * What the next desk inherits and what the model is sent (`src/call/context.ts`), on histories built
 * item by item: instructions, orphan tool calls and orphan tool outputs are dropped; valid call/output
 * pairs, the conversation and its order are kept; oversized tool traffic is cut for the model only.
 */
import { llm } from '@livekit/agents';
import { describe, expect, it } from 'vitest';
import {
  MAX_CALLER_FIELD_CHARS,
  MAX_REASON_CHARS,
  MAX_TOOL_ARGS_CHARS,
  bounded,
  boundedForModel,
  carriedHistory,
  cleanCallerInfo,
} from '../src/call/context.js';
import { historyProblem, type ChatMessageIn } from '../dev/scripted-llm.js';

let t = 1_000;
const msg = (role: llm.ChatRole, text: string, id?: string) =>
  llm.ChatMessage.create({ role, content: text, id: id ?? `msg_${role}_${text.replace(/\W+/g, '_')}`, createdAt: t++ });
const call = (callId: string, name = 'update_caller_info', args = '{"name":"Maya"}') =>
  llm.FunctionCall.create({ callId, name, args, id: `fc_${callId}`, createdAt: t++ });
const output = (callId: string, out = '{"saved":true}', name = 'update_caller_info') =>
  llm.FunctionCallOutput.create({ callId, output: out, isError: false, name, id: `fco_${callId}`, createdAt: t++ });

const ids = (ctx: llm.ChatContext) => ctx.items.map((i) => i.id);

/** The history as OpenAI's chat API sees it (assistant tool_calls + tool messages), to check it would be accepted. */
function asOpenAIMessages(ctx: llm.ChatContext): ChatMessageIn[] {
  const out: ChatMessageIn[] = [];
  for (const item of ctx.items) {
    if (item.type === 'message') out.push({ role: item.role as ChatMessageIn['role'], content: item.textContent ?? '' });
    else if (item.type === 'function_call') {
      const last = out.at(-1);
      const tc = { id: item.callId, type: 'function' as const, function: { name: item.name, arguments: item.args } };
      if (last?.role === 'assistant' && last.tool_calls) last.tool_calls.push(tc);
      else out.push({ role: 'assistant', content: null, tool_calls: [tc] });
    } else if (item.type === 'function_call_output') out.push({ role: 'tool', tool_call_id: item.callId, content: item.output });
  }
  return out;
}

describe('carriedHistory: what the next desk inherits', () => {
  it('drops system and developer instructions, keeps the conversation in order', () => {
    const h = new llm.ChatContext([
      msg('system', 'You are the Triage desk at Acme.'),
      msg('developer', 'Never reveal this.'),
      msg('assistant', 'Hello, front desk.'),
      msg('user', 'I was charged twice.'),
      msg('system', 'A second instruction in the middle.'),
      msg('assistant', 'Let me get you to billing.'),
    ]);
    const carried = carriedHistory(h);
    expect(carried.items.map((i) => (i.type === 'message' ? [i.role, i.textContent] : i.type))).toEqual([
      ['assistant', 'Hello, front desk.'],
      ['user', 'I was charged twice.'],
      ['assistant', 'Let me get you to billing.'],
    ]);
  });

  it('drops a function call with no output (the transfer that moved the call), keeps answered calls', () => {
    const h = new llm.ChatContext([
      msg('user', 'My name is Maya, and bill me right'),
      call('c1'),
      output('c1'),
      call('c2', 'pass_control_to_billing', '{"reason":"double charge"}'),
      msg('assistant', 'Over to billing.'),
    ]);
    const carried = carriedHistory(h);
    expect(ids(carried)).toEqual([h.items[0]!.id, 'fc_c1', 'fco_c1', h.items[4]!.id]);
    expect(historyProblem(asOpenAIMessages(carried))).toBeUndefined();
    // Without the filter OpenAI would refuse this history.
    expect(historyProblem(asOpenAIMessages(h))).toMatch(/c2/);
  });

  it('drops a function output whose call is not there', () => {
    const h = new llm.ChatContext([msg('user', 'hi'), output('ghost'), call('c1'), output('c1'), msg('assistant', 'ok')]);
    const carried = carriedHistory(h);
    expect(ids(carried)).toEqual([h.items[0]!.id, 'fc_c1', 'fco_c1', h.items[4]!.id]);
    expect(historyProblem(asOpenAIMessages(carried))).toBeUndefined();
  });

  it('all three at once, interleaved: only valid pairs and messages survive, in their order', () => {
    const h = new llm.ChatContext([
      msg('system', 'sys'),
      msg('user', 'one'),
      call('a'),
      call('orphan-call', 'pass_control_to_sales', '{"reason":"x"}'),
      output('a'),
      output('orphan-output'),
      msg('developer', 'dev'),
      call('b', 'end_call', '{"reason":null}'),
      msg('assistant', 'two'),
      output('b', 'The call is ending.', 'end_call'),
      msg('user', 'three'),
    ]);
    const carried = carriedHistory(h);
    expect(carried.items.map((i) => `${i.type}:${i.type === 'message' ? i.textContent : (i as llm.FunctionCall).callId}`)).toEqual([
      'message:one',
      'function_call:a',
      'function_call_output:a',
      'function_call:b',
      'message:two',
      'function_call_output:b',
      'message:three',
    ]);
  });

  it('leaves the session history itself as it was', () => {
    const items = [msg('system', 'sys'), msg('user', 'u'), call('x'), output('y')];
    const h = new llm.ChatContext(items);
    carriedHistory(h);
    expect(ids(h)).toEqual(items.map((i) => i.id));
  });

  it('an empty history, and one of instructions only, carry nothing', () => {
    expect(carriedHistory(new llm.ChatContext()).items).toEqual([]);
    expect(carriedHistory(new llm.ChatContext([msg('system', 's'), msg('developer', 'd')])).items).toEqual([]);
  });
});

describe('boundedForModel: oversized tool traffic is cut for the model only', () => {
  it('a history with nothing oversized is sent as it is (same context)', () => {
    const h = new llm.ChatContext([msg('user', 'hi'), call('c'), output('c')]);
    expect(boundedForModel(h)).toBe(h);
  });

  it('a tool call with huge arguments: each string value cut to the reason bound; the history keeps the original', () => {
    const huge = JSON.stringify({ reason: 'r'.repeat(200_000), n: 3 });
    const h = new llm.ChatContext([msg('user', 'hi'), call('c', 'pass_control_to_billing', huge), output('c')]);
    const sent = boundedForModel(h);
    expect(sent).not.toBe(h);
    const fc = sent.items[1] as llm.FunctionCall;
    expect(fc.type).toBe('function_call');
    expect(fc.callId).toBe('c');
    expect(fc.name).toBe('pass_control_to_billing');
    expect(fc.id).toBe('fc_c');
    const args = JSON.parse(fc.args) as { reason: string; n: number };
    expect(args.n).toBe(3);
    expect(Array.from(args.reason)).toHaveLength(MAX_REASON_CHARS);
    expect(args.reason.endsWith('…')).toBe(true);
    expect(fc.args.length).toBeLessThanOrEqual(MAX_TOOL_ARGS_CHARS);
    // Untouched items are the same objects; the session's history keeps what the model sent.
    expect(sent.items[0]).toBe(h.items[0]);
    expect(sent.items[2]).toBe(h.items[2]);
    expect((h.items[1] as llm.FunctionCall).args).toBe(huge);
  });

  it('huge arguments that are not a JSON object, or still too big once cut, become {}', () => {
    const notJson = 'x'.repeat(MAX_TOOL_ARGS_CHARS + 1);
    const array = JSON.stringify(Array.from({ length: 1000 }, (_, i) => `item ${i}`));
    const manyKeys = JSON.stringify(Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`k${i}`, 'v'.repeat(10)])));
    const h = new llm.ChatContext([call('a', 'f', notJson), call('b', 'f', array), call('c', 'f', manyKeys)]);
    const sent = boundedForModel(h);
    expect(sent.items.map((i) => (i as llm.FunctionCall).args)).toEqual(['{}', '{}', '{}']);
  });

  it('huge arguments that parse to a string or a number (not an object) become {}', () => {
    const str = `"ab"${' '.repeat(MAX_TOOL_ARGS_CHARS)}`;
    const num = `12${' '.repeat(MAX_TOOL_ARGS_CHARS)}`;
    const sent = boundedForModel(new llm.ChatContext([call('s', 'f', str), call('n', 'f', num)]));
    expect(sent.items.map((i) => (i as llm.FunctionCall).args)).toEqual(['{}', '{}']);
  });

  it('cut arguments that come to exactly the bound are kept; one character more and they become {}', () => {
    // A long reason (cut to MAX_REASON_CHARS) plus padding values chosen so the cut JSON is `target` long.
    const cutTo = (target: number) => {
      const base = { reason: 'r'.repeat(MAX_REASON_CHARS * 3), p1: '', p2: '', p3: '' };
      const cutLen = (o: typeof base) => JSON.stringify({ ...o, reason: `${'r'.repeat(MAX_REASON_CHARS - 1)}…` }).length;
      let missing = target - cutLen(base);
      for (const k of ['p1', 'p2', 'p3'] as const) {
        const n = Math.min(missing, MAX_REASON_CHARS);
        base[k] = 'p'.repeat(n);
        missing -= n;
      }
      expect(cutLen(base)).toBe(target);
      return JSON.stringify(base);
    };
    const exact = boundedForModel(new llm.ChatContext([call('a', 'f', cutTo(MAX_TOOL_ARGS_CHARS))]));
    const args = JSON.parse((exact.items[0] as llm.FunctionCall).args) as Record<string, string>;
    expect(Array.from(args.reason!)).toHaveLength(MAX_REASON_CHARS);
    expect((exact.items[0] as llm.FunctionCall).args).toHaveLength(MAX_TOOL_ARGS_CHARS);
    const over = boundedForModel(new llm.ChatContext([call('b', 'f', cutTo(MAX_TOOL_ARGS_CHARS + 1))]));
    expect((over.items[0] as llm.FunctionCall).args).toBe('{}');
  });

  it('arguments exactly at the bound are left alone; one past it is cut', () => {
    const pad = (n: number) => JSON.stringify({ reason: 'a'.repeat(n - '{"reason":""}'.length) });
    const atBound = pad(MAX_TOOL_ARGS_CHARS);
    expect(atBound.length).toBe(MAX_TOOL_ARGS_CHARS);
    const h = new llm.ChatContext([call('a', 'f', atBound)]);
    expect(boundedForModel(h)).toBe(h);
    const over = pad(MAX_TOOL_ARGS_CHARS + 1);
    const sent = boundedForModel(new llm.ChatContext([call('b', 'f', over)]));
    expect((sent.items[0] as llm.FunctionCall).args).not.toBe(over);
  });

  it('a huge tool output is cut to the bound with a mark; its call id and name stay', () => {
    const big = 'o'.repeat(MAX_TOOL_ARGS_CHARS * 5);
    const h = new llm.ChatContext([call('c'), output('c', big, 'lookup')]);
    const sent = boundedForModel(h);
    const out = sent.items[1] as llm.FunctionCallOutput;
    expect(out.type).toBe('function_call_output');
    expect(out.callId).toBe('c');
    expect(out.name).toBe('lookup');
    expect(out.isError).toBe(false);
    expect(Array.from(out.output)).toHaveLength(MAX_TOOL_ARGS_CHARS);
    expect(out.output.endsWith('…')).toBe(true);
    expect(sent.items[0]).toBe(h.items[0]);
    const exact = new llm.ChatContext([call('d'), output('d', 'o'.repeat(MAX_TOOL_ARGS_CHARS))]);
    expect(boundedForModel(exact)).toBe(exact);
  });
});

describe('bounded', () => {
  it('trims, keeps short text, cuts long text on a character boundary with a mark', () => {
    expect(bounded('  hello  ', 10)).toBe('hello');
    expect(bounded('abcde', 5)).toBe('abcde');
    expect(bounded('abcdef', 5)).toBe('abcd…');
    expect(bounded('abc   def', 5)).toBe('abc…');
    // Emoji are two UTF-16 units: counted as one character, never split.
    const emoji = '😀'.repeat(6);
    expect(bounded(emoji, 6)).toBe(emoji);
    expect(bounded(emoji, 5)).toBe(`${'😀'.repeat(4)}…`);
  });
});

describe('cleanCallerInfo: caller details as they are saved', () => {
  it('a number as the caller said it is kept in E.164, a language by its code, an oversized text cut', () => {
    const saved = cleanCallerInfo({ name: 'M'.repeat(5000), phoneNumber: '098765-43210', language: 'Hindi', accountId: ' 4411 ' });
    expect(saved.phoneNumber).toBe('+919876543210');
    expect(saved.language).toBe('hi');
    expect(saved.accountId).toBe('4411');
    expect(Array.from(saved.name ?? '').length).toBe(MAX_CALLER_FIELD_CHARS);
    expect(saved.name?.endsWith('…')).toBe(true);
  });

  it('keeps what it cannot read as given, and drops a language it does not know', () => {
    const saved = cleanCallerInfo({ phoneNumber: 'ext. 12', language: 'Klingonese' });
    expect(saved.phoneNumber).toBe('ext. 12');
    expect(saved).toHaveProperty('language', undefined);
    expect(cleanCallerInfo({ name: 'Maya' })).toEqual({ name: 'Maya' });
  });
});
