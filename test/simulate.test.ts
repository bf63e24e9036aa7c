/**
 * `npm run simulate` against the scripted server, key-free: every scenario played by the deterministic
 * caller through the real orchestrator and judged; the regressions callers complain about, planted in
 * the scripted desks, each caught by its judge; the command's contract (reports, exit codes, bad files).
 * These figures prove the harness, not a model.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ScriptedServer, startScriptedServer } from '../dev/scripted-llm.js';
import type { Fault } from '../dev/scripted-faults.js';
import { scriptedCaller } from '../dev/scripted-caller.js';
import { callerPrompt } from '../src/simulate/caller.js';
import { loadSettings } from '../src/config.js';
import { JUDGES, judgeCall } from '../src/simulate/judges.js';
import { llmJudge } from '../src/simulate/llm-judge.js';
import { playScenario } from '../src/simulate/play.js';
import type { SimRun } from '../src/simulate/report.js';
import { readScenarios } from '../src/simulate/scenario.js';
import { initTestLogging } from './support/harness.js';
import { closedServerUrl } from './support/model-servers.js';
import { runBatchCli } from './support/batch-cli.js';

const REPO = new URL('..', import.meta.url).pathname;
const SCENARIOS = readScenarios(join(REPO, 'eval/scenarios'));

let server: ScriptedServer;
beforeAll(async () => {
  initTestLogging();
  server = await startScriptedServer();
});
afterAll(async () => {
  await server.close();
});

const simulate = (args: string[], env: Record<string, string> = {}) => runBatchCli('simulate', env.OPENAI_BASE_URL ?? server.url, args, env);

const readRun = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as SimRun;

describe('the scenarios', () => {
  it('at least 40: English, Hindi and Hinglish, every department, chains, the cap, a person, hostile callers', () => {
    expect(SCENARIOS.length).toBeGreaterThanOrEqual(40);
    for (const lang of ['en', 'hi', 'hinglish']) {
      const mine = SCENARIOS.filter((s) => s.caller.language === lang);
      expect(mine.length, lang).toBeGreaterThanOrEqual(12);
      for (const desk of ['billing', 'sales', 'support']) expect(mine.some((s) => s.expect.route.includes(desk as 'billing')), `${lang} ${desk}`).toBe(true);
    }
    expect(SCENARIOS.some((s) => s.expect.route.filter((d) => d !== 'human').length >= 2), 'a chain').toBe(true);
    expect(SCENARIOS.some((s) => s.expect.outcome === 'person'), 'a person').toBe(true);
    expect(SCENARIOS.some((s) => s.behaviour.some((b) => b.kind === 'injection')), 'a prompt injection').toBe(true);
    expect(SCENARIOS.some((s) => s.tags.includes('cap')), 'the cap').toBe(true);
  });
});

describe('npm run simulate, key-free', () => {
  it('plays every scenario through the real orchestrator; the report shows every judge; every call passes', async () => {
    const out = mkdtempSync(join(tmpdir(), 'simulate-'));
    const { code, out: stdout, err } = await simulate(['--out', out, '--concurrency', '4']);
    expect(code, err + stdout).toBe(0);
    expect(err).toMatch(/\[#{30}\] \d+\/\d+/);
    const run = readRun(out);
    expect(run.results.map((r) => r.scenario)).toEqual(SCENARIOS.map((s) => s.id));
    expect(run.summary.byJudge.map((j) => j.id)).toEqual(JUDGES.map((j) => j.id));
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    for (const j of JUDGES) expect(html).toContain(`<th>${j.id}</th>`);
    // Honest about what played the calls.
    expect(run.models.note).toMatch(/proves the harness, not a model/);
    expect(run.models.caller).toMatch(/scripted caller/);
    const failed = run.results.filter((r) => !r.pass).map((r) => `${r.scenario}: ${JSON.stringify(r.verdicts)}`);
    expect(failed).toEqual([]);
    expect(stdout).toMatch(/^all: 100\.0 % of \d+ calls passed every judge/m);
    // A caller handed to a person waits on hold: the desk that takes them back (a text call reaches no
    // person) is heard before the caller speaks again.
    const withPerson = run.results.filter((r) => r.call.entries.some((e) => e.kind === 'transfer' && e.to === 'human'));
    expect(withPerson.length).toBeGreaterThan(0);
    for (const r of withPerson) {
      const at = r.call.entries.findIndex((e) => e.kind === 'transfer' && e.to === 'human');
      const next = r.call.entries.slice(at + 1).filter((e) => e.kind === 'caller' || (e.kind === 'agent' && e.desk !== 'human'));
      expect(next[0]?.kind, r.scenario).toBe('agent');
    }
    // Each judge that needs a transfer to judge had some to judge.
    for (const id of ['no-regreet', 'replies-once', 'reply-budget', 'no-reask', 'language']) {
      expect(run.summary.byJudge.find((j) => j.id === id)!.calls, id).toBeGreaterThan(SCENARIOS.length / 2);
    }
  });

  it('--repeat plays each scenario N times and counts flakiness; --min-pass-rate fails the run below it', async () => {
    const faulty = await startScriptedServer({ fault: 'regreet' });
    try {
      const out = mkdtempSync(join(tmpdir(), 'simulate-'));
      const ids = ['en-billing-double-charge', 'hi-support-internet-down'];
      const { code, out: stdout, err } = await simulate(['--out', out, '--repeat', '2', '--min-pass-rate', '90%', ...ids.flatMap((id) => ['--scenario', id])], {
        OPENAI_BASE_URL: faulty.url,
      });
      expect(code, err).toBe(1);
      expect(err).toMatch(/simulate: pass rate 0\.0 % is under --min-pass-rate 90\.0 %/);
      expect(stdout).toMatch(/FAILED en-billing-double-charge \(run 2\): no-regreet: billing greeted the caller as a new call/);
      const run = readRun(out);
      expect(run.summary.calls).toBe(4);
      expect(run.summary.byScenario.map((s) => [s.id, s.calls, s.flaky])).toEqual(ids.map((id) => [id, 2, false]));
      expect(run.summary.byJudge.find((j) => j.id === 'no-regreet')!.passRate).toBe(0);
      expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('Failed calls (4)');
    } finally {
      await faulty.close();
    }
  });

  it('with JUDGE_MODEL the LLM judge reads every call with a rubric; the scripted judge says it read nothing', async () => {
    const out = mkdtempSync(join(tmpdir(), 'simulate-'));
    const { code, err } = await simulate(['--out', out, '--scenario', 'en-billing-double-charge'], { JUDGE_MODEL: 'judge' });
    expect(code, err).toBe(0);
    const run = readRun(out);
    expect(run.results[0]!.verdicts.llm).toEqual({ pass: true, reason: '2 criteria met (scripted judge: no model read this call)' });
    expect(run.summary.byJudge.at(-1)!.id).toBe('llm');
  });

  it('a bad scenario file is one line naming the file and the field, exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scenarios-'));
    writeFileSync(join(dir, 'ok.yaml'), readFileSync(join(REPO, 'eval/scenarios/en-billing-double-charge.yaml')));
    writeFileSync(join(dir, 'bad.yaml'), 'title: x\ncaller: {persona: p, language: fr}\nneeds: [{say: hi}]\nexpect: {route: []}\n');
    const { code, err, out } = await simulate(['--scenarios', dir]);
    expect(code).toBe(2);
    expect(err.trim()).toBe(`simulate: ${join(dir, 'bad.yaml')}: caller.language: Invalid enum value. Expected 'en' | 'hi' | 'hinglish', received 'fr'`);
    expect(out).toBe('');
  });

  it("a caller's server that cannot be reached is one line naming CALLER_BASE_URL, exit 2", async () => {
    const { code, err } = await simulate(['--scenario', 'en-billing-double-charge'], { CALLER_BASE_URL: await closedServerUrl() });
    expect(code).toBe(2);
    expect(err).toMatch(/^simulate: could not reach the model server at http:\/\/127\.0\.0\.1:\d+\/v1 \(ECONNREFUSED\): check CALLER_BASE_URL\n$/);
  });
});

/** The planted regressions: the scripted desks misbehave as callers complain; the judge named catches it. */
describe.each<[Fault, string, RegExp]>([
  ['regreet', 'no-regreet', /greeted the caller as a new call/],
  ['reask', 'no-reask', /asked for the account .* which the caller gave/],
  ['twice', 'replies-once', /replied \d times after the transfer/],
  ['english', 'language', /answered in English .* to a caller speaking (Hindi|Hinglish)/],
])('a desk that %s', (fault, judge, reason) => {
  it(`is caught by ${judge}`, async () => {
    const faulty = await startScriptedServer({ fault });
    try {
      const settings = loadSettings({ OPENAI_BASE_URL: faulty.url });
      const picked = SCENARIOS.filter((s) => ['en-billing-double-charge', 'hi-support-internet-down'].includes(s.id));
      const verdicts = await Promise.all(picked.map(async (s) => judgeCall(await playScenario(settings, { model: 'scripted', baseUrl: faulty.url }, s, 1, fault), s)[judge]!));
      const failed = verdicts.filter((v) => v.pass === false);
      expect(failed.length, JSON.stringify(verdicts)).toBeGreaterThan(0);
      for (const v of failed) expect(v.reason).toMatch(reason);
    } finally {
      await faulty.close();
    }
  });
});

describe('the scripted caller', () => {
  const request = (...turns: [string, string][]) => ({
    model: 'scripted',
    messages: [
      { role: 'system' as const, content: callerPrompt(SCENARIOS.find((s) => s.id === 'en-billing-double-charge')!) },
      ...turns.map(([role, content]) => ({ role: role as 'user' | 'assistant', content })),
    ],
  });
  it('hangs up with its needs unmet when a desk could not help with one, and met otherwise', () => {
    const said = ['Thank you for calling Acme.', 'My name is Asha and my account number is ACC-4417.', "Thanks, Asha. I've noted that.", 'I was charged twice on my bill this month.'];
    const turns = (last: string): [string, string][] => said.map((t, i) => [i % 2 ? 'assistant' : 'user', t] as [string, string]).concat([['user', last]]);
    const refused = scriptedCaller(request(...turns("I'm sorry, I can't transfer you: this call has reached its limit.")));
    expect(refused.toolCalls?.[0]).toMatchObject({ name: 'end_call', arguments: { needs_met: false, reason: expect.stringContaining('could not help with: I was charged twice') } });
    const helped = scriptedCaller(request(...turns("This is the billing team. Let's sort that out.")));
    expect(helped.toolCalls?.[0]).toMatchObject({ name: 'end_call', arguments: { needs_met: true } });
  });
  it('gives an asked-for fact, and gives up when asked for it a third time', () => {
    const ask = 'Could you give me your account number, please?';
    expect(scriptedCaller(request(['user', ask])).text).toBe('My account is ACC-4417.');
    const third = scriptedCaller(request(['user', ask], ['assistant', 'My account is ACC-4417.'], ['user', ask], ['assistant', 'My account is ACC-4417.'], ['user', ask]));
    expect(third.toolCalls?.[0]).toMatchObject({ name: 'end_call', arguments: { needs_met: false } });
  });
});

describe('the LLM judge against a model that fails the call', () => {
  it("fails the call with the model's reason; a model that errs fails it too, saying so", async () => {
    let answer: unknown = null;
    let status = 200;
    const judgeServer = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer));
      });
    }).listen(0, '127.0.0.1');
    await new Promise((r) => judgeServer.once('listening', r));
    const endpoint = { model: 'judge', baseUrl: `http://127.0.0.1:${(judgeServer.address() as AddressInfo).port}/v1` };
    try {
      const s = SCENARIOS.find((x) => x.id === 'en-billing-double-charge')!;
      const call = await playScenario(loadSettings({ OPENAI_BASE_URL: server.url }), { model: 'scripted', baseUrl: server.url }, s, 1, 'llm');
      const verdicts = [
        { criterion: 1, pass: false, reason: 'billing never mentions the charge' },
        { criterion: 2, pass: true, reason: 'no amount' },
      ];
      answer = { choices: [{ message: { content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'verdict', arguments: JSON.stringify({ verdicts }) } }] } }], usage: { total_tokens: 900 } };
      const judged = await llmJudge(endpoint, call, s);
      expect(judged).toEqual({ verdict: { pass: false, reason: `1. ${s.rubric[0]}: billing never mentions the charge` }, tokens: 900 });
      answer = { choices: [{ message: { content: 'It looks fine to me.' } }] };
      expect((await llmJudge(endpoint, call, s)).verdict).toEqual({ pass: false, reason: 'the judge did not call verdict: "It looks fine to me."' });
      status = 500;
      answer = { error: { message: 'overloaded' } };
      expect((await llmJudge(endpoint, call, s)).verdict).toEqual({ pass: false, reason: `the judge failed: judge at ${endpoint.baseUrl}: HTTP 500 (overloaded)` });
    } finally {
      judgeServer.close();
    }
  });
});
