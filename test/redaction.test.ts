/**
 * REDACT_PII: personal data masked where it leaves a call — the records (SQLite, PostgreSQL), the
 * webhooks a receiver gets, the inspector (what a call sends, what the server keeps and serves, past
 * calls), the log — in English and Hindi text, Indian and international formats; amounts, dates and
 * speeds survive; the agents' own requests still carry the real data; turned off, new calls show it
 * again while calls recorded masked stay masked. Real calls (real orchestrator, scripted LLM server).
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ParticipantKind } from '@livekit/rtc-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { Call } from '../src/call/call.js';
import type { CallEvent, CallView } from '../src/call/events.js';
import { ConfigError, inspectorSchema, loadSettings, redactPiiOn, requireSettings } from '../src/config.js';
import { attachInspector } from '../src/inspector/client.js';
import { type InspectorServer, inspectorOptionsFrom, startInspectorServer } from '../src/inspector/server.js';
import { LogFilter } from '../src/logging.js';
import { isMasked, luhnValid, maskToken, redactCaller, redactDeep, redactEvent, redactText, redactView } from '../src/redact.js';
import { type RecordSettings, type Records, inspectorRecords, openRecords } from '../src/records/index.js';
import { SqliteStore } from '../src/records/sqlite.js';
import type { CallStore } from '../src/records/types.js';
import { type ScriptedServer, deskOf } from '../dev/scripted-llm.js';
import { callTools, requestsOf, say, sayAndCall, sleep, startCall, startServer } from './support/harness.js';
import { PG_SKIP_REASON, TEST_DATABASE_URL, dropSchema, uniqueSchema } from './support/pg.js';

// ---- the text ------------------------------------------------------------------------------------

describe('redactText: what is masked', () => {
  it.each([
    // Indian mobiles, as people and speech-to-text write them.
    ['+91 98765 43210', '[phone …3210]'],
    ['+919876543210', '[phone …3210]'],
    ['+91-98765-43210', '[phone …3210]'],
    ['098765-43210', '[phone …3210]'],
    ['09876543210', '[phone …3210]'],
    ['9876543210', '[phone …3210]'],
    ['98765 43210', '[phone …3210]'],
    ['987 654 3210', '[phone …3210]'],
    ['0091 98765 43210', '[phone …3210]'],
    ['00919876543210', '[phone …3210]'],
    // Indian landlines.
    ['080 2345 6789', '[phone …6789]'],
    ['(011) 2345-6789', '[phone …6789]'],
    // International.
    ['+44 20 7946 0958', '[phone …0958]'],
    ['+1 (415) 555-0132', '[phone …0132]'],
    ['+14155550132', '[phone …0132]'],
    ['+971 50 123 4567', '[phone …4567]'],
    ['0044 20 7946 0958', '[phone …0958]'],
    ['(415) 555-0132', '[phone …0132]'],
    ['415-555-0132', '[phone …0132]'],
  ])('phone %s', (input, masked) => {
    expect(redactText(input)).toBe(masked);
  });

  it.each([
    ['4111 1111 1111 1111', '[card …1111]'],
    ['4111-1111-1111-1111', '[card …1111]'],
    ['4242424242424242', '[card …4242]'],
    ['3782 822463 10005', '[card …0005]'], // Amex, 15 digits
    ['5105 1051 0510 5100', '[card …5100]'],
    ['4111 1111 1111 1112', '[card …1112]'], // misheard (not Luhn-valid): still 16 digits of a card
    ['४१११ ११११ ११११ ११११', '[card …११११]'],
  ])('card %s', (input, masked) => {
    expect(redactText(input)).toBe(masked);
  });

  it.each([
    ['account number 55012345', 'account number [account …2345]'],
    ['my account is ACC-4417', 'my account is [account …17]'],
    ['ACC-4417', '[account …17]'],
    ['CRN 4411', '[account …11]'],
    ['customer id CUST-009812', 'customer id [account …812]'],
    ['a/c no. 001234567890', 'a/c no. [account …7890]'],
    ['mera account number 5501 2345 hai', 'mera account number [account …2345] hai'],
    ['खाता संख्या 55012345', 'खाता संख्या [account …2345]'],
    ['अकाउंट नंबर ५५०१२३४५ है', 'अकाउंट नंबर [account …२३४५] है'],
    ['मेरा खाता नंबर है 55012345', 'मेरा खाता नंबर है [account …2345]'],
  ])('account %s', (input, masked) => {
    expect(redactText(input)).toBe(masked);
  });

  it.each([
    ['maya.sharma@example.co.in', '[email]'],
    ['write to maya dot sharma at gmail dot com please', 'write to [email] please'],
    ['ईमेल maya@example.com पर भेजें', 'ईमेल [email] पर भेजें'],
  ])('email %s', (input, masked) => {
    expect(redactText(input)).toBe(masked);
  });

  it.each([
    ['Call me back on +91 98765 43210 after 6 pm', 'Call me back on [phone …3210] after 6 pm'],
    ['मेरा नंबर 98765 43210 है', 'मेरा नंबर [phone …3210] है'],
    ['मेरा नंबर ९८७६५ ४३२१० है', 'मेरा नंबर [phone …३२१०] है'],
    ['mera number 9876543210 hai, kal call karna', 'mera number [phone …3210] hai, kal call karna'],
    ['मेरे कार्ड 4111 1111 1111 1111 से दो बार पैसे कटे', 'मेरे कार्ड [card …1111] से दो बार पैसे कटे'],
    [
      'Maya, account 55012345, card 4242 4242 4242 4242, maya@example.com, +44 20 7946 0958',
      'Maya, account [account …2345], card [card …4242], [email], [phone …0958]',
    ],
  ])('in a sentence: %s', (input, masked) => {
    expect(redactText(input)).toBe(masked);
  });
});

describe('redactText: what stays', () => {
  it.each([
    'I paid ₹49,999 on 15/08/2024 at 10:30 am',
    'The 300 Mbps plan costs Rs. 1,499 a month, 12 months, 3 orders',
    'Refund of ₹1,00,000 by 2024-08-15',
    'मैंने ₹49,999 दिए, 300 Mbps प्लान, 3 ऑर्डर, 15 अगस्त 2024 को',
    'खाते में 500 रुपये हैं',
    'Plan 2 of 3, order #45213, ticket 8812, 1 Gbps',
    'I was charged twice on my card this month',
    'my account has 3 orders since 2019',
    'call me at 5 dot something',
    'Maya, Hindi, billing',
    // 13 and 15 digits failing the Luhn check: a payment reference, not a card.
    'UPI ref 3141592653589, txn 314159265358979',
  ])('%s', (text) => {
    expect(redactText(text)).toBe(text);
  });

  it('masking twice changes nothing (the inspector may mask what a call already masked)', () => {
    for (const text of ['+91 98765 43210', 'ACC-4417 and 4111 1111 1111 1111', 'maya@example.com', 'खाता संख्या ५५०१२३४५']) {
      const once = redactText(text);
      expect(redactText(once)).toBe(once);
    }
    expect(isMasked('[phone …3210]')).toBe(true);
    expect(isMasked('[account …२३४५]')).toBe(true);
    expect(isMasked('+919876543210')).toBe(false);
  });

  it('a token keeps at most 4 digits and never more than half of them', () => {
    expect(maskToken('phone', '+919876543210')).toBe('[phone …3210]');
    expect(maskToken('account', 'ACC-4417')).toBe('[account …17]');
    expect(maskToken('account', '123')).toBe('[account …3]');
    expect(maskToken('account', 'X')).toBe('[account]');
    expect(maskToken('email', 'maya@example.com')).toBe('[email]');
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
  });
});

describe('redactCaller, redactEvent, redactView', () => {
  const caller = {
    name: 'Maya',
    phoneNumber: '+919876543210',
    accountId: 'ACC-4417',
    need: 'refund to card 4111 1111 1111 1111',
    language: 'hi',
    dialedNumber: '+918012345678',
    sipCallIdFull: 'a84b4c76e66710@10.0.0.1',
  };

  it('masks the phone number and account id whole; keeps the name, language, the number dialled, SIP ids', () => {
    const masked = redactCaller(caller);
    expect(masked).toEqual({
      name: 'Maya',
      phoneNumber: '[phone …3210]',
      accountId: '[account …17]',
      need: 'refund to card [card …1111]',
      language: 'hi',
      dialedNumber: '+918012345678',
      sipCallIdFull: 'a84b4c76e66710@10.0.0.1',
    });
    expect(redactCaller(masked)).toEqual(masked);
    // A bare account id (no keyword in it) is masked by its field's name.
    expect(redactCaller({ accountId: '4411' }).accountId).toBe('[account …11]');
  });

  it('every event with text or caller details is masked; the rest is left as it was', () => {
    const at = 1;
    const pii = 'call 98765 43210';
    const events: CallEvent[] = [
      { type: 'started', callId: 'c', state: 'triage', caller, maxHandoffs: 6, humanAvailable: false, at },
      { type: 'caller', caller, at },
      { type: 'user', text: pii, at },
      { type: 'agent', agent: 'billing', text: pii, interrupted: false, at },
      { type: 'summary', text: pii, coveredItems: 4, historyTokens: 900, summaryTokens: 80, ms: 12, at },
      { type: 'handoff', from: 'triage', to: 'billing', handoffCount: 1, reason: pii, source: 'agent', escalated: false, latencyMs: 1, at },
      { type: 'rejected', from: 'billing', to: 'sales', reason: pii, source: 'agent', at },
      { type: 'keypad', digit: '1', target: 'billing', accepted: false, reason: pii, at },
      { type: 'error', message: pii, at },
      { type: 'end', state: 'ended', handoffCount: 1, reason: pii, at },
    ];
    for (const e of events) {
      const json = JSON.stringify(redactEvent(e));
      expect(json, e.type).not.toContain('43210');
      expect(json, e.type).not.toContain('9876543210');
    }
    const person: CallEvent = { type: 'person', step: 'dialling', at };
    expect(redactEvent(person)).toBe(person);
    expect(redactEvent({ type: 'end', state: 'ended', handoffCount: 0, reason: null, at })).toMatchObject({ reason: null });
  });

  it('a view: caller, reasons, refusals, transcript, errors and outcome', () => {
    const pii = 'card 4111 1111 1111 1111';
    const view: CallView = {
      callId: 'v',
      live: false,
      startedAt: 1,
      state: 'ended',
      handoffCount: 1,
      maxHandoffs: 6,
      humanAvailable: false,
      caller: { name: 'Maya', phoneNumber: '+919876543210' },
      timeline: [{ state: 'triage', enteredAt: 1 }, { state: 'billing', enteredAt: 2, reason: pii }],
      refusals: [{ at: 2, from: 'billing', to: 'sales', reason: pii }],
      transcript: [{ at: 1, who: 'caller', text: pii }],
      errors: [{ at: 3, message: pii }],
      endReason: pii,
    };
    const json = JSON.stringify(redactView(view));
    expect(json).not.toContain('4111 1111');
    expect(json.match(/\[card …1111\]/g)).toHaveLength(5);
    expect(redactView(view).caller).toEqual({ name: 'Maya', phoneNumber: '[phone …3210]' });
  });
});

// ---- real calls ----------------------------------------------------------------------------------

let tmp: string;
let llm: ScriptedServer;
const schema = uniqueSchema('redaction_test');
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-redaction-'));
  llm = await startServer();
});
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await llm?.close();
  rmSync(tmp, { recursive: true, force: true });
  await dropSchema(schema).catch(() => undefined);
});

/**
 * What the call below says of the caller: none of it may reach a store, a receiver, the inspector or a
 * log. (Long enough not to turn up inside a timestamp by chance.)
 */
const SECRETS = ['9876543210', '98765 4', '९८७६५', '४३२१९', '55012345', '4111 1111', '4111111111111111', '@example', '7946 0958', '098765-', 'ACC-44'];
/** What stays readable: the name, the masked tokens, and the line with an amount, a date and a speed. */
const AMOUNTS = 'I paid ₹49,999 on 15/08/2024 for the 300 Mbps plan';

const expectNoSecrets = (text: string, where: string) => {
  for (const s of SECRETS) expect(text, `${where} holds "${s}"`).not.toContain(s);
};
const expectSecrets = (text: string, where: string) => {
  for (const s of ['9876543210', '55012345', '4111 1111 1111 1111', 'maya@example.com']) expect(text, `${where} lacks "${s}"`).toContain(s);
};

/**
 * A call that says personal data everywhere an event can carry it: the caller's number (known from the
 * start, as a SIP caller's is), their name and account number (saved by the desk), a Hindi line with Devanagari digits and an
 * email, a transfer whose reason has a card and a foreign number, an error, and an end reason.
 */
async function piiCall(attach: (call: Call) => void | Promise<void>) {
  const call = await startCall(llm, { caller: { phoneNumber: '+919876543210' } });
  await attach(call);
  await say(call, 'Hi, my name is Maya and my account number is 55012345');
  await say(call, 'मेरा दूसरा नंबर ९८७६५ ४३२१९ है और ईमेल maya@example.com है');
  await sayAndCall(call, 'I was charged twice on my card 4111 1111 1111 1111', {
    name: 'pass_control_to_billing',
    arguments: { reason: 'card 4111 1111 1111 1111 charged twice; call back on +44 20 7946 0958' },
  });
  expect(call.machineState).toBe('billing');
  await say(call, AMOUNTS); // billing's own business: no transfer
  call.reportError('the callback to 098765-43210 could not be booked');
  await say(call, callTools({ name: 'end_call', arguments: { reason: 'done; ACC-4417 refunded' } }));
  await call.finished;
  return call;
}

/** A receiver of webhooks on 127.0.0.1: the bodies it was sent. */
async function receiver(): Promise<{ url: string; bodies: string[] }> {
  const bodies: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      bodies.push(body);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  closers.push(() => new Promise<void>((done) => server.close(() => done())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, bodies };
}

async function until(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Everything the store holds of a call: its row, its events, every webhook body. */
async function stored(store: CallStore, callId: string): Promise<string> {
  const rec = await store.getCall(callId);
  expect(rec, `the call ${callId} is recorded`).not.toBeNull();
  const hooks = (await store.webhooks()).filter((w) => w.callId === callId);
  expect(hooks.map((w) => w.type)).toEqual(['call.started', 'call.transferred', 'call.ended']);
  return JSON.stringify({ rec, hooks });
}

/** One call recorded through `openRecords` (the entry points' way) with these settings; webhooks to `hooks`. */
async function recordCall(s: RecordSettings, opts: Parameters<typeof openRecords>[1] = {}) {
  const records = (await openRecords(s, { deliverer: { pollMs: 50, baseDelayMs: 50 }, ...opts })) as Records;
  let done: Promise<void> = Promise.resolve();
  const call = await piiCall((c) => {
    done = records.attach(c, 'redaction-test').done;
  });
  await done;
  return { records, call };
}

/** The records and webhooks of a masked call, then of a clear one (the setting turned off) in the same store. */
async function maskedThenClear(s: Omit<RecordSettings, 'REDACT_PII'>, opts: Parameters<typeof openRecords>[1] = {}) {
  const hooks = await receiver();
  const settings = { ...s, CALL_WEBHOOK_URL: hooks.url };
  const masked = await recordCall({ ...settings, REDACT_PII: 'on' }, opts);
  const maskedJson = await stored(masked.records.store, masked.call.callId);
  await until(() => hooks.bodies.length >= 3, 'the masked call\'s webhooks');
  await masked.records.close({ drainMs: 2000 });

  // What the call itself and its agents had: the real data, all of it.
  expectSecrets(JSON.stringify(masked.call.events), 'the call\'s own events');
  const billing = requestsOf(llm, masked.call).filter((r) => deskOf(r.body) === 'Billing');
  expect(billing.length).toBeGreaterThan(0);
  const lastBilling = JSON.stringify(billing.at(-1)!.body);
  expect(lastBilling).toContain('account id: 55012345');
  expect(lastBilling).toContain('phone number: +919876543210');
  expect(lastBilling).toContain('4111 1111 1111 1111');

  // What left it: none of it, in the store (row, events, outbox) or in what the receiver got.
  expectNoSecrets(maskedJson, 'the masked record');
  expectNoSecrets(hooks.bodies.join('\n'), 'the webhooks received');
  for (const token of ['[phone …3210]', '[account …2345]', '[card …1111]', '[email]', '[phone …0958]', '[phone …3210]', '[account …17]', '"name":"Maya"']) {
    expect(maskedJson, token).toContain(token);
  }
  expect(maskedJson).toContain(AMOUNTS);
  expect(hooks.bodies.join('\n')).toContain('card [card …1111] charged twice; call back on [phone …0958]');

  // Turned off: the next call is recorded as it is; the masked one stays masked.
  const clear = await recordCall({ ...settings, REDACT_PII: 'off' }, opts);
  const clearJson = await stored(clear.records.store, clear.call.callId);
  expectSecrets(clearJson, 'the record of a call made with REDACT_PII=off');
  expectNoSecrets(await stored(clear.records.store, masked.call.callId), 'the masked record, read again');
  return { records: clear.records, masked: masked.call.callId, clear: clear.call.callId };
}

describe('records and webhooks (SQLite)', () => {
  it('REDACT_PII=on: nothing of the caller\'s data in the store or the webhooks; the agents still had it; off again: new calls only', async () => {
    const { records, masked, clear } = await maskedThenClear({ CALLS_DB: join(tmp, 'calls.sqlite'), DATABASE_URL: undefined });
    closers.push(() => records.close());

    // The inspector's past calls: as recorded when it does not redact, everything masked when it does.
    const plain = await startInspectorServer({ records: inspectorRecords(records.store) });
    const redacting = await startInspectorServer({ records: inspectorRecords(records.store), redact: true });
    closers.push(() => plain.close(), () => redacting.close());
    const get = async (s: InspectorServer, path: string) => (await fetch(`${new URL(s.url).origin}${path}`)).text();
    expectNoSecrets(await get(plain, `/api/records/${masked}`), 'a masked past call');
    expectSecrets(await get(plain, `/api/records/${clear}`), 'a clear past call (the inspector not redacting)');
    expectNoSecrets(await get(redacting, `/api/records/${clear}`), 'a clear past call served by a redacting inspector');
    expectNoSecrets(await get(redacting, '/api/records'), 'the past calls\' list of a redacting inspector');
  });
});

describe.skipIf(!TEST_DATABASE_URL)(`records and webhooks (PostgreSQL)${PG_SKIP_REASON ? ` (skipped: ${PG_SKIP_REASON})` : ''}`, () => {
  it('REDACT_PII=on: nothing of the caller\'s data in the store or the webhooks; off again: new calls only', async () => {
    const { records } = await maskedThenClear({ CALLS_DB: 'off', DATABASE_URL: TEST_DATABASE_URL }, { postgres: { schema } });
    expect(records.store.kind).toBe('postgres');
    await records.close();
  });
});

// ---- the inspector -------------------------------------------------------------------------------

/** A page watching the feed: every raw message. */
async function page(s: InspectorServer): Promise<string[]> {
  const raw: string[] = [];
  const ws = new WebSocket(`${new URL(s.url).origin.replace(/^http/, 'ws')}/feed`);
  ws.on('message', (d) => raw.push(d.toString()));
  await new Promise<void>((ok, fail) => ws.once('open', () => ok()).once('error', fail));
  closers.push(async () => ws.terminate());
  return raw;
}

/** A call fed to an inspector (`server` options, the call's link `redact`): what its pages and its API saw. */
async function inspected(server: Parameters<typeof startInspectorServer>[0], redact: boolean) {
  const s = await startInspectorServer(server);
  closers.push(() => s.close());
  const feed = await page(s);
  const call = await piiCall((c) => void attachInspector(c, { url: new URL(s.url).origin, redact }));
  await until(() => feed.some((m) => m.includes('"endReason"')), 'the call\'s end on the page');
  const api = await (await fetch(`${new URL(s.url).origin}/api/calls`)).text();
  return { seen: [...feed, api].join('\n'), view: (JSON.parse(api) as CallView[]).find((v) => v.callId === call.callId)! };
}

describe('the inspector', () => {
  it('without REDACT_PII the page sees the caller\'s data (what the other tests must find masked)', async () => {
    const { seen } = await inspected({}, false);
    expectSecrets(seen, 'the page');
  });

  it('a call that redacts sends none of it: the feed and /api/calls hold none', async () => {
    const { seen, view } = await inspected({}, true);
    expectNoSecrets(seen, 'the page');
    expect(view.caller).toMatchObject({ name: 'Maya', phoneNumber: '[phone …3210]', accountId: '[account …2345]' });
    expect(view.transcript.map((l) => l.text)).toContain(AMOUNTS);
    expect(view.timeline[1]!.reason).toBe('card [card …1111] charged twice; call back on [phone …0958]');
  });

  it('an inspector that redacts keeps none of what a call sent in clear', async () => {
    const { seen, view } = await inspected({ redact: true }, false);
    expectNoSecrets(seen, 'the page');
    expect(view.errors[0]!.message).toBe('the callback to [phone …3210] could not be booked');
    expect(view.endReason).toBe('done; [account …17] refunded');
  });

  it('INSPECTOR_HIDE_PHONE_NUMBERS leaves a number REDACT_PII masked as it is', async () => {
    const { seen, view } = await inspected({ hidePhoneNumbers: true }, true);
    expectNoSecrets(seen, 'the page');
    expect(view.caller.phoneNumber).toBe('[phone …3210]');
  });

  it('its settings: REDACT_PII reaches the server\'s options (npm run inspector reads it too)', () => {
    const s = requireSettings(inspectorSchema, { REDACT_PII: 'on' });
    expect(inspectorOptionsFrom(s)).toMatchObject({ redact: true });
    expect(inspectorOptionsFrom(requireSettings(inspectorSchema, {}))).toMatchObject({ redact: false });
  });
});

// ---- the log -------------------------------------------------------------------------------------

/** What a LogFilter writes for these lines. */
function filtered(lines: string[], opts: ConstructorParameters<typeof LogFilter>[1]): string {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const filter = new LogFilter(out, opts);
  for (const l of lines) filter.line(l);
  return text;
}

describe('the log', () => {
  it('the worker\'s entries for a call\'s events (a real call\'s) and a caller lookup failing: masked in JSON and in lines', async () => {
    const call = await piiCall(() => undefined);
    // What the worker's job logs: `logger.info({ callEvent: e }, 'call handoff')`, as pino writes it.
    const entries = call.events
      .filter((e) => e.type === 'handoff' || e.type === 'error' || e.type === 'end')
      .map((e) => JSON.stringify({ level: 30, time: Date.now(), pid: 1, hostname: 'h', room: 'r', callEvent: e, msg: `call ${e.type}` }));
    entries.push(
      JSON.stringify({ level: 40, time: Date.now(), err: { message: 'CRM has no customer +91 98765 43210' }, caller: { phoneNumber: '+919876543210', accountId: '55012345' }, msg: 'caller lookup failed' }),
      'a line that is not JSON: maya@example.com 4111 1111 1111 1111',
    );
    const clear = filtered(entries, { level: 'info', format: 'json' });
    expect(clear).toContain('4111 1111 1111 1111');
    expect(clear).toContain('098765-43210');

    for (const format of ['json', 'line'] as const) {
      const text = filtered(entries, { level: 'info', format, redact: true });
      expectNoSecrets(text, `the ${format} log`);
      expect(text).toContain('[card …1111]');
      expect(text).toContain('[phone …3210]');
      expect(text).toContain('call handoff');
    }
    // JSON lines stay JSON, one per entry.
    const json = filtered(entries, { level: 'info', format: 'json', redact: true }).trim().split('\n');
    expect(json.slice(0, -1).map((l) => JSON.parse(l).msg)).toEqual(['call handoff', 'call error', 'call end', 'caller lookup failed']);
    expect(JSON.parse(json[3]!).caller).toEqual({ phoneNumber: '[phone …3210]', accountId: '[account …2345]' });
  });

  it('a worker\'s job process reads REDACT_PII from the environment it inherits', () => {
    expect(redactPiiOn({ REDACT_PII: 'on' })).toBe(true);
    expect(redactPiiOn({ REDACT_PII: ' on ' })).toBe(true);
    expect(redactPiiOn({ REDACT_PII: 'off' })).toBe(false);
    expect(redactPiiOn({})).toBe(false);
    expect(redactPiiOn({ REDACT_PII: 'yes' })).toBe(false);
  });

  it('redactDeep: every string of an entry, caller fields by name, JSON held in a string, numbers untouched', () => {
    expect(redactDeep({ at: 9876543210, list: ['ACC-4417'], caller: { accountId: '4411', name: 'Maya' } })).toEqual({
      at: 9876543210,
      list: ['[account …17]'],
      caller: { accountId: '[account …11]', name: 'Maya' },
    });
    // How the framework logs a tool's arguments at debug.
    expect(redactDeep({ 'lk.pii.arguments': '{"name":"Maya","accountId":"4411","phoneNumber":null}' })).toEqual({
      'lk.pii.arguments': '{"name":"Maya","accountId":"[account …11]","phoneNumber":null}',
    });
    expect(redactDeep('{not json, call 9876543210}')).toBe('{not json, call [phone …3210]}');
  });
});

// ---- an entry point, end to end --------------------------------------------------------------------

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** `npm run chat -- --json` as a process with these settings, these caller lines on its stdin. */
async function chat(env: Record<string, string>, lines: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const envFile = join(tmp, 'empty.env');
  writeFileSync(envFile, '');
  const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), ['src/cli/chat.ts', '--json'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ENV_FILE: envFile, LLM_MAX_RETRY: '0', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  closers.push(async () => void child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.end(lines.map((l) => `${l}\n`).join(''));
  const code = await new Promise<number | null>((done) => child.once('close', (c) => done(c)));
  return { code, stdout, stderr };
}

describe('npm run chat with REDACT_PII=on', () => {
  it('its records and its log (at debug: the framework logs tool arguments) hold none of the caller\'s data; the caller\'s own screen does', async () => {
    const db = join(tmp, 'chat.sqlite');
    const r = await chat({ OPENAI_BASE_URL: llm.url, CALLS_DB: db, LOG_LEVEL: 'debug', REDACT_PII: 'on' }, [
      'Hi, my name is Maya and my account number is 55012345',
      'मेरा नंबर ९८७६५ ४३२१९ है, card 4111 1111 1111 1111 charged twice',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('my account number is 55012345');
    expect(r.stdout).toContain('"type":"handoff"');
    expectNoSecrets(r.stderr, 'the chat\'s log');
    expect(r.stderr).toContain('[account …2345]'); // the log did carry the data, masked
    const store = new SqliteStore(db);
    try {
      const [row] = await store.listCalls(1);
      const rec = JSON.stringify(await store.getCall(row!.id));
      expectNoSecrets(rec, 'the chat\'s record');
      expect(rec).toContain('[card …1111]');
    } finally {
      await store.close();
    }
  });
});

describe('the worker with REDACT_PII=on', () => {
  it('its job\'s call reports to the inspector and is recorded with the SIP caller\'s number masked', async () => {
    const { default: worker } = await import('../src/cli/worker.js');
    const s = await startInspectorServer();
    closers.push(() => s.close());
    const feed = await page(s);
    const db = join(tmp, 'worker.sqlite');
    writeFileSync(join(tmp, 'empty.env'), '');
    const saved = process.env;
    process.env = {
      ...saved,
      ENV_FILE: join(tmp, 'empty.env'),
      LIVEKIT_URL: 'ws://127.0.0.1:9',
      LIVEKIT_API_KEY: 'devkey',
      LIVEKIT_API_SECRET: 'a-secret-of-at-least-32-characters!!',
      OPENAI_BASE_URL: llm.url,
      OPENAI_API_KEY: 'scripted',
      TURN_DETECTION: 'vad',
      CALLS_DB: db,
      INSPECTOR_URL: new URL(s.url).origin,
      REDACT_PII: 'on',
    };
    // A stand-in job (as test/worker-keypad.test.ts builds it): a room with a SIP caller, no audio.
    const room = Object.assign(new EventEmitter(), { name: 'redact-room', isConnected: true, remoteParticipants: new Map() });
    const shutdown: (() => Promise<void>)[] = [];
    const ctx = {
      room,
      job: { id: 'job-redact' },
      proc: { userData: { vad: null } },
      connect: async () => undefined,
      waitForParticipant: async () => ({ identity: 'sip-caller', kind: ParticipantKind.SIP, attributes: { 'sip.phoneNumber': '+91 98765 43210' } }),
      addShutdownCallback: (f: () => Promise<void>) => shutdown.push(f),
      shutdown: () => undefined,
    };
    const entry = worker.entry(ctx as never).catch(() => undefined);
    try {
      await until(() => feed.some((m) => m.includes('redact-room_job-redact') && m.includes('"phoneNumber"')), 'the call on the page');
      const store = new SqliteStore(db);
      try {
        await until(async () => (await store.getCall('redact-room_job-redact'))?.call.caller.phoneNumber !== undefined, 'the call in the records');
        const rec = JSON.stringify(await store.getCall('redact-room_job-redact'));
        expectNoSecrets(rec, 'the worker\'s record');
        expect(rec).toContain('[phone …3210]');
      } finally {
        await store.close();
      }
      expectNoSecrets(feed.join('\n'), 'the page');
      expect(feed.join('\n')).toContain('"phoneNumber":"[phone …3210]"');
    } finally {
      process.env = saved;
      await Promise.race([entry, sleep(3000)]);
      // Let the desks' bridging lines (synthesized on the scripted server at start) finish.
      await sleep(500);
      for (const f of shutdown) await f().catch(() => undefined);
    }
  });
});

// ---- the setting ---------------------------------------------------------------------------------

describe('REDACT_PII', () => {
  it('is off unless set to on; anything else is refused by name', () => {
    expect(loadSettings({ OPENAI_API_KEY: 'k' }).REDACT_PII).toBe('off');
    expect(loadSettings({ OPENAI_API_KEY: 'k', REDACT_PII: 'on' }).REDACT_PII).toBe('on');
    expect(() => loadSettings({ OPENAI_API_KEY: 'k', REDACT_PII: 'yes' })).toThrow(ConfigError);
    try {
      loadSettings({ OPENAI_API_KEY: 'k', REDACT_PII: 'yes' });
    } catch (err) {
      expect((err as ConfigError).problems).toEqual(['REDACT_PII is "yes": must be one of on, off']);
    }
  });
});
