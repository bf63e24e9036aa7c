/**
 * `npm run chat` as a process: `tsx src/cli/chat.ts [--json]` with a clean environment, talking to the
 * scripted OpenAI-compatible server running in this test process.
 *
 * The `--json` contract: every stdout line is one JSON object — user / agent / handoff / rejected /
 * error events in the order the caller would hear them, and an `end` event last. Logs go to stderr.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ScriptedServer, keywordBrain, startScriptedServer } from '../dev/scripted-llm.js';
import { callTools, directiveScript } from './support/harness.js';
import { closedServerUrl, hangingServer, keyRefusingServer } from './support/model-servers.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const STATES = ['triage', 'billing', 'sales', 'support', 'human', 'ended'];
const RUN_TIMEOUT_MS = 60_000;

let tmp: string;
let emptyEnvFile: string;
const children: ChildProcess[] = [];
const servers: ScriptedServer[] = [];

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-chat-'));
  emptyEnvFile = join(tmp, 'empty.env');
  writeFileSync(emptyEnvFile, '');
});

afterAll(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  rmSync(tmp, { recursive: true, force: true });
});

/** Kills the CLI and everything it started (it runs in its own process group). */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

afterEach(() => {
  for (const c of children.splice(0)) killGroup(c);
});

async function server(script: Parameters<typeof startScriptedServer>[0] = {}): Promise<ScriptedServer> {
  const s = await startScriptedServer({ host: '127.0.0.1', ...script });
  servers.push(s);
  return s;
}

interface ChatRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI with only PATH, HOME, an empty ENV_FILE, LLM_MAX_RETRY=0 and `env` in its environment,
 * writes `lines` to its stdin, ends stdin, and waits for it to exit.
 */
async function runChat(args: string[], lines: string[], env: Record<string, string | undefined>): Promise<ChatRun> {
  const fullEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CALLS_DB: process.env.CALLS_DB,
    ENV_FILE: emptyEnvFile,
    LLM_MAX_RETRY: '0',
    ...env,
  };
  for (const k of Object.keys(fullEnv)) if (fullEnv[k] === undefined) delete fullEnv[k];
  const child = spawn(TSX, ['src/cli/chat.ts', ...args], { cwd: ROOT, env: fullEnv, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdin!.on('error', () => {}); // the CLI may exit (e.g. --help) before reading its input
  child.stdin!.end(lines.map((l) => `${l}\n`).join(''));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res, rej) => {
    child.once('error', rej);
    child.once('close', (code, signal) => res({ code, signal }));
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(
      () => rej(new Error(`chat did not exit in ${RUN_TIMEOUT_MS / 1000} s\nstderr:\n${err.slice(-4000)}\nstdout:\n${out.slice(-4000)}`)),
      RUN_TIMEOUT_MS,
    );
  });
  try {
    const { code, signal } = await Promise.race([exited, timeout]);
    return { code, signal, stdout: out, stderr: err };
  } finally {
    clearTimeout(timer);
  }
}

type JsonEvent = Record<string, unknown> & { type: string };

/** Every stdout line must be exactly one JSON object; returns them in order. */
function parseJsonLines(r: ChatRun): JsonEvent[] {
  const diag = `stdout:\n${r.stdout}\nstderr:\n${r.stderr.slice(-4000)}`;
  expect(r.stdout.endsWith('\n'), diag).toBe(true);
  const lines = r.stdout.slice(0, -1).split('\n');
  return lines.map((line, i) => {
    let parsed: unknown;
    expect(() => (parsed = JSON.parse(line)), `stdout line ${i + 1} is not JSON: ${line}\n${diag}`).not.toThrow();
    expect(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), `line ${i + 1}: ${line}`).toBe(true);
    const e = parsed as JsonEvent;
    expect(['user', 'agent', 'handoff', 'rejected', 'error', 'end'], `line ${i + 1}: ${line}`).toContain(e.type);
    return e;
  });
}

/** Checks the shape of each event as the contract states it. */
function checkShapes(events: JsonEvent[]): void {
  for (const e of events) {
    const where = JSON.stringify(e);
    switch (e.type) {
      case 'user':
        expect(typeof e.text, where).toBe('string');
        break;
      case 'agent':
        expect(STATES, where).toContain(e.agent);
        expect(typeof e.text, where).toBe('string');
        expect((e.text as string).trim(), where).not.toBe('');
        break;
      case 'handoff':
        expect(STATES, where).toContain(e.from);
        expect(STATES, where).toContain(e.to);
        expect(typeof e.handoffCount, where).toBe('number');
        expect(typeof e.reason, where).toBe('string');
        expect(e, where).toHaveProperty('latencyMs');
        break;
      case 'rejected':
        expect(STATES, where).toContain(e.from);
        expect(typeof e.to, where).toBe('string');
        expect(typeof e.reason, where).toBe('string');
        break;
      case 'error':
        expect(typeof e.message, where).toBe('string');
        expect((e.message as string).trim(), where).not.toBe('');
        break;
      case 'end':
        expect(STATES, where).toContain(e.state);
        expect(typeof e.handoffCount, where).toBe('number');
        break;
    }
  }
  expect(events.filter((e) => e.type === 'end'), 'exactly one end event').toHaveLength(1);
  expect(events.at(-1)?.type, 'the end event is the last line').toBe('end');
}

const show = (events: JsonEvent[]) => events.map((e) => JSON.stringify(e)).join('\n');
const indexOfUser = (events: JsonEvent[], text: string) => events.findIndex((e) => e.type === 'user' && e.text === text);

describe('chat --json with the keyword model', () => {
  it('routes triage → billing → triage → sales, in the order the caller hears it', async () => {
    const s = await server({ script: keywordBrain });
    const lines = [
      'Hi, my name is Maya',
      'I was charged twice on my card',
      'Actually I also want to upgrade my plan',
      'yes, upgrade my plan please',
    ];
    const r = await runChat(['--json'], lines, { OPENAI_BASE_URL: s.url });
    const events = parseJsonLines(r);
    const diag = show(events);
    expect(r.code, `${diag}\n${r.stderr}`).toBe(0);
    checkShapes(events);

    // Every caller line is handled, once, in input order.
    const users = events.filter((e) => e.type === 'user');
    expect(users.map((e) => e.text), diag).toEqual(lines);
    const userIdx = lines.map((l) => indexOfUser(events, l));

    // The triage greeting comes first, before any caller line.
    expect(events[0], diag).toMatchObject({ type: 'agent', agent: 'triage' });
    expect(userIdx[0]!, diag).toBeGreaterThan(0);

    // The three transfers, with their counts.
    const handoffs = events.filter((e) => e.type === 'handoff');
    expect(handoffs.map((h) => [h.from, h.to, h.handoffCount]), diag).toEqual([
      ['triage', 'billing', 1],
      ['billing', 'triage', 2],
      ['triage', 'sales', 3],
    ]);
    expect(events.filter((e) => e.type === 'rejected' || e.type === 'error'), diag).toEqual([]);

    // Each handoff follows the caller line that caused it — the front desk routes the sales need on at
    // once, from the same line (a chained transfer) — and the agent handing over says its transfer line
    // first; then exactly one message from the new agent, before the next transfer or caller line.
    const causes = [lines[1]!, lines[2]!, lines[2]!];
    handoffs.forEach((h, n) => {
      const hi = events.indexOf(h);
      const ui = indexOfUser(events, causes[n]!);
      expect(hi, `handoff ${n + 1} after its caller line\n${diag}`).toBeGreaterThan(ui);
      const prev = n > 0 ? events.indexOf(handoffs[n - 1]!) : -1;
      const before = events.slice(Math.max(ui, prev) + 1, hi);
      expect(
        before.some((e) => e.type === 'agent' && e.agent === h.from && /transfer you|send you back/i.test(e.text as string)),
        `the ${String(h.from)} agent's transfer line comes before handoff ${n + 1}\n${diag}`,
      ).toBe(true);
      const next = events.findIndex((e, i) => i > hi && (e.type === 'user' || e.type === 'handoff'));
      const after = events.slice(hi + 1, next === -1 ? events.length - 1 : next);
      expect(after.map((e) => [e.type, e.agent]), `after handoff ${n + 1}\n${diag}`).toEqual([['agent', h.to]]);
    });
    // The last line, at sales: sales answers it, no transfer.
    expect(events.slice(userIdx[3]! + 1, -1).map((e) => [e.type, e.agent]), diag).toEqual([['agent', 'sales']]);

    // Each caller line gets its answer after it (and before the next line).
    for (let n = 0; n < lines.length; n++) {
      const from = userIdx[n]!;
      const to = n + 1 < lines.length ? userIdx[n + 1]! : events.length - 1;
      expect(to, diag).toBeGreaterThan(from);
      expect(events.slice(from + 1, to).some((e) => e.type === 'agent'), `a reply to "${lines[n]}"\n${diag}`).toBe(true);
    }
    // The first line saved the name: triage thanks Maya.
    expect(
      events.slice(userIdx[0]! + 1, userIdx[1]!).some((e) => e.type === 'agent' && e.agent === 'triage' && /Maya/.test(e.text as string)),
      diag,
    ).toBe(true);

    expect(events.at(-1), diag).toMatchObject({ type: 'end', state: 'sales', handoffCount: 3 });
  }, 90_000);

  it('end_call: the agent says goodbye, the call ends in `ended`, later lines are not handled', async () => {
    const s = await server({ script: keywordBrain });
    const lines = ['I was charged twice on my card', "That's all, bye", 'hello? are you still there?', 'I want to upgrade my plan'];
    const r = await runChat(['--json'], lines, { OPENAI_BASE_URL: s.url });
    const events = parseJsonLines(r);
    const diag = show(events);
    expect(r.code, `${diag}\n${r.stderr}`).toBe(0);
    checkShapes(events);

    expect(events.filter((e) => e.type === 'user').map((e) => e.text), diag).toEqual(lines.slice(0, 2));
    const byeIdx = indexOfUser(events, lines[1]!);
    const after = events.slice(byeIdx + 1);
    expect(after.map((e) => e.type), diag).toEqual(['agent', 'end']);
    expect(after[0], diag).toMatchObject({ type: 'agent', agent: 'billing' });
    expect(after[0]!.text as string, diag).toMatch(/goodbye/i);
    expect(events.at(-1), diag).toMatchObject({ type: 'end', state: 'ended', handoffCount: 1 });
  }, 90_000);
});

describe('chat --json: refusals and failures', () => {
  it('a transfer the machine refuses (a chain straight back): the caller stays with billing, who explains', async () => {
    const s = await server({ script: directiveScript() });
    // Triage sends a caller who wants a new plan to billing; billing's first reply passes them straight back.
    const lines = [callTools({ name: 'pass_control_to_billing', arguments: { reason: 'I want to upgrade my plan' } })];
    const r = await runChat(['--json'], lines, { OPENAI_BASE_URL: s.url, MAX_HANDOFFS: '3' });
    const events = parseJsonLines(r);
    const diag = show(events);
    expect(r.code, `${diag}\n${r.stderr}`).toBe(0);
    checkShapes(events);

    expect(events.filter((e) => e.type === 'user').map((e) => e.text), diag).toEqual(lines);
    const handoffs = events.filter((e) => e.type === 'handoff');
    expect(handoffs.map((h) => [h.from, h.to, h.handoffCount]), diag).toEqual([['triage', 'billing', 1]]);

    const rejected = events.filter((e) => e.type === 'rejected');
    expect(rejected, diag).toHaveLength(1);
    expect(rejected[0], diag).toMatchObject({ from: 'billing', to: 'triage' });
    expect(rejected[0]!.reason as string, diag).toMatch(/just come from triage/i);

    // The refusal follows billing's line that announced the transfer; billing then explains, nobody else speaks.
    const ri = events.indexOf(rejected[0]!);
    expect(events[ri - 1], diag).toMatchObject({ type: 'agent', agent: 'billing' });
    const after = events.slice(ri + 1);
    expect(after.map((e) => [e.type, e.agent ?? e.state]), diag).toEqual([
      ['agent', 'billing'],
      ['end', 'billing'],
    ]);
    expect(after[0]!.text as string, diag).toMatch(/can't transfer you/);
    expect(events.at(-1), diag).toMatchObject({ type: 'end', state: 'billing', handoffCount: 1 });
  }, 90_000);

  it('failed LLM turns: an error, then one apology line each, and the call goes on', async () => {
    let userTurns = 0;
    const s = await server({
      script: (req, rec) => {
        if (req.messages.at(-1)?.role === 'user') {
          userTurns++;
          if (userTurns <= 2) return { fail: { status: 500, message: 'scripted outage' } };
        }
        return keywordBrain(req, rec);
      },
    });
    const lines = ['hello there', 'are you there?', 'I was charged twice on my card'];
    const r = await runChat(['--json'], lines, { OPENAI_BASE_URL: s.url });
    const events = parseJsonLines(r);
    const diag = show(events);
    expect(r.code, `${diag}\n${r.stderr}`).toBe(0);
    checkShapes(events);

    // The greeting did not count as a failing request.
    expect(events[0], diag).toMatchObject({ type: 'agent', agent: 'triage' });
    expect(userTurns, diag).toBe(3);

    expect(events.filter((e) => e.type === 'user').map((e) => e.text), diag).toEqual(lines);
    const errors = events.filter((e) => e.type === 'error');
    expect(errors, diag).toHaveLength(2);
    // For each failed line, between it and the next line: its error, then exactly one apology from the
    // agent on the line (so a caller is never left in silence), nothing else.
    for (let n = 0; n < 2; n++) {
      const seg = events.slice(indexOfUser(events, lines[n]!) + 1, indexOfUser(events, lines[n + 1]!));
      expect(seg.map((e) => [e.type, e.agent]), `after "${lines[n]}"\n${diag}`).toEqual([
        ['error', undefined],
        ['agent', 'triage'],
      ]);
      expect(seg[1]!.text, diag).toBe("I'm sorry, I didn't catch that. Could you say it again?");
    }
    // The third line is answered (and routed, as usual).
    const third = events.slice(indexOfUser(events, lines[2]!) + 1, -1);
    expect(third.some((e) => e.type === 'agent'), diag).toBe(true);
    expect(events.at(-1), diag).toMatchObject({ type: 'end' });
  }, 90_000);
});

describe('chat: readable transcript, settings and flags', () => {
  it('without --json prints the agent lines and the transfer, no JSON', async () => {
    const s = await server({ script: keywordBrain });
    const r = await runChat([], ['I was charged twice on my card'], { OPENAI_BASE_URL: s.url });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const out = r.stdout;
    expect(out, out).toContain('Thank you for calling Acme');
    expect(out, out).toContain('I was charged twice on my card');
    expect(out, out).toContain('Let me transfer you to billing.');
    // The desk introduces itself by its caller-facing name ("say you are the billing team").
    expect(out, out).toMatch(/This is the billing team/);
    expect(out, out).toMatch(/triage\s*→\s*billing/);
    expect(out, out).toMatch(/■ call over in billing after 1 transfer \(/);
    for (const line of out.split('\n').filter(Boolean)) {
      expect(line.trim().startsWith('{'), `not JSON: ${line}`).toBe(false);
    }
  }, 90_000);

  it('without OPENAI_API_KEY or OPENAI_BASE_URL exits non-zero naming OPENAI_API_KEY, no stack trace', async () => {
    const r = await runChat(['--json'], ['hello'], {});
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.code, r.stderr).not.toBeNull();
    expect(r.stderr).toContain('OPENAI_API_KEY');
    expect(r.stderr).not.toContain('    at ');
    expect(r.stdout).toBe('');
  }, 90_000);

  it('near the cap no transfer is promised: the desk tells the caller in their words; the agent ending the call reads "call ended"', async () => {
    const s = await server({ script: keywordBrain });
    const r = await runChat([], ['I was charged twice', "I'd also like to upgrade my plan", "No, that's all, goodbye"], {
      OPENAI_BASE_URL: s.url,
      MAX_HANDOFFS: '2',
      CALLS_DB: 'off',
    });
    expect(r.code, r.stderr).toBe(0);
    // The hop back to the front desk would spend the last transfer with nowhere to go from there: billing
    // is not offered it, and says so instead of "let me send you back" followed by a refusal read out.
    expect(r.stdout, r.stdout).toMatch(/billing.*I'm sorry, I can't transfer you to another department on this call any more/);
    const afterAsking = r.stdout.slice(r.stdout.indexOf('upgrade my plan'));
    expect(afterAsking, r.stdout).not.toMatch(/Transfer refused|not to be read out|Let me (send|transfer)|refused|↪/);
    expect(r.stdout, r.stdout).toMatch(/■ call ended after 1 transfer \(caller is done\)/);
  }, 90_000);

  it('--help prints usage and exits 0; an unknown flag exits non-zero', async () => {
    const help = await runChat(['--help'], [], {});
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/usage/i);
    expect(help.stdout).toContain('--json');

    const bad = await runChat(['--bogus'], [], {});
    expect(bad.code).not.toBe(0);
    expect(bad.code).not.toBeNull();
    expect(bad.stderr).toContain('--bogus');
    expect(bad.stdout).toBe('');
  }, 90_000);
});

describe('chat --json: no repeat, no wait', () => {
  it('three needs in three lines: triage → billing → triage → sales → triage → support, no agent line said twice', async () => {
    const s = await server({ script: keywordBrain });
    const lines = ['I was charged twice', "I'd also like to upgrade my plan", 'my router is down'];
    const r = await runChat(['--json'], lines, { OPENAI_BASE_URL: s.url });
    const events = parseJsonLines(r);
    const diag = show(events);
    expect(r.code, `${diag}\n${r.stderr}`).toBe(0);
    checkShapes(events);

    expect(events.filter((e) => e.type === 'user').map((e) => e.text), diag).toEqual(lines);
    expect(events.filter((e) => e.type === 'rejected' || e.type === 'error'), diag).toEqual([]);

    // The route, in order, with its counts.
    const handoffs = events.filter((e) => e.type === 'handoff');
    expect(handoffs.map((h) => [h.from, h.to, h.handoffCount]), diag).toEqual([
      ['triage', 'billing', 1],
      ['billing', 'triage', 2],
      ['triage', 'sales', 3],
      ['sales', 'triage', 4],
      ['triage', 'support', 5],
    ]);

    // No wait: each need is routed from the caller line that states it, the chain through the front
    // desk included — the caller never says it twice.
    const userIdx = lines.map((l) => indexOfUser(events, l));
    const hopsAfter = (n: number) =>
      events
        .slice(userIdx[n]! + 1, n + 1 < lines.length ? userIdx[n + 1]! : events.length)
        .filter((e) => e.type === 'handoff')
        .map((h) => `${String(h.from)}→${String(h.to)}`);
    expect([0, 1, 2].map(hopsAfter), diag).toEqual([
      ['triage→billing'],
      ['billing→triage', 'triage→sales'],
      ['sales→triage', 'triage→support'],
    ]);

    // No repeat: no agent line is said twice, word for word.
    const said = events.filter((e) => e.type === 'agent').map((e) => e.text as string);
    expect(said.filter((t, i) => said.indexOf(t) !== i), diag).toEqual([]);

    // Support takes the last line, knowing what it is about; the call ends there.
    const last = events.filter((e) => e.type === 'agent').at(-1)!;
    expect(last, diag).toMatchObject({ agent: 'support' });
    expect(last.text as string, diag).toMatch(/router/i);
    expect(events.at(-1), diag).toMatchObject({ type: 'end', state: 'support', handoffCount: 5 });
  }, 90_000);
});

// ---- the first ten minutes: what a newcomer sees ---------------------------------------------------

/** Starts the CLI with stdin left open (the caller still on the line); `stop` ends it as a person would. */
function startChat(args: string[], env: Record<string, string>) {
  const child = spawn(TSX, ['src/cli/chat.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ENV_FILE: emptyEnvFile, CALLS_DB: process.env.CALLS_DB, LLM_MAX_RETRY: '0', ...env },
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('close', (code, signal) => res({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function waitFor(pred: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('chat: the first ten minutes', () => {
  it('a normal call prints nothing on stderr (no framework log line at the default level)', async () => {
    const s = await server({ script: keywordBrain });
    const r = await runChat(['--json'], ['Hi, my name is Maya', 'I was charged twice on my card'], {
      OPENAI_BASE_URL: s.url,
      CALLS_DB: join(tmp, 'quiet.sqlite'),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(parseJsonLines(r).at(-1)).toMatchObject({ type: 'end', state: 'billing' });
    expect(r.stderr).toBe('');
  }, 90_000);

  it('a refused transfer is a turn of the call, not an error: reported as `rejected`, nothing on stderr', async () => {
    const s = await server({ script: directiveScript() });
    const misrouted = callTools({ name: 'pass_control_to_billing', arguments: { reason: 'I want to upgrade my plan' } });
    const r = await runChat(['--json'], [misrouted], { OPENAI_BASE_URL: s.url, CALLS_DB: 'off' });
    expect(r.code, r.stderr).toBe(0);
    expect(parseJsonLines(r).filter((e) => e.type === 'rejected'), show(parseJsonLines(r))).toMatchObject([{ to: 'triage' }]);
    expect(r.stderr).toBe('');
  }, 90_000);

  it('no settings: the message names OPENAI_API_KEY and the key-free way in (npm run scripted-llm)', async () => {
    const r = await runChat([], ['hello'], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('OPENAI_API_KEY');
    expect(r.stderr).toContain('npm run scripted-llm');
    expect(r.stderr).toContain('OPENAI_BASE_URL=http://127.0.0.1:8787/v1 npm run chat');
    expect(r.stdout).toBe('');
  }, 90_000);

  it('a model server that is not there: one line per turn naming its URL, no stack trace, exit 1', async () => {
    const url = 'http://127.0.0.1:9/v1';
    const r = await runChat(['--json'], ['hello', 'anyone there?'], { OPENAI_BASE_URL: url, CALLS_DB: 'off' });
    const events = parseJsonLines(r);
    const errors = events.filter((e) => e.type === 'error');
    expect(errors.length, show(events)).toBe(3); // the greeting and both lines
    for (const e of errors) expect(e.message).toBe(`could not reach the model server at ${url} (Connection error.)`);
    expect(events.at(-1)).toMatchObject({ type: 'end' });
    // stderr: one line, naming the URL and the setting; no framework JSON, no stack trace.
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^chat: the model never answered in this call: could not reach the model server at http:\/\/127\.0\.0\.1:9\/v1/);
    expect(lines[0]).toContain('OPENAI_BASE_URL');
    expect(r.stderr).not.toContain('    at ');
    expect(r.code).toBe(1);
  }, 90_000);

  it('an INSPECTOR_URL nothing answers at: one line saying so, naming it; the call goes on, exit 0', async () => {
    const s = await server({ script: keywordBrain });
    const inspector = (await closedServerUrl()).replace(/\/v1$/, '');
    const r = await runChat(['--json'], ['I was charged twice on my card'], { OPENAI_BASE_URL: s.url, CALLS_DB: 'off', INSPECTOR_URL: inspector });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([`chat: cannot reach the inspector at ${inspector} (ECONNREFUSED): check INSPECTOR_URL; the call goes on`]);
    expect(parseJsonLines(r).some((e) => e.type === 'handoff')).toBe(true);
  }, 90_000);

  it('a model that never answers: chat says it is waiting for it (after 2.5 s), then one line, no doubled punctuation', async () => {
    const hanging = await hangingServer();
    try {
      const r = await runChat(['--json'], ['hello'], { OPENAI_BASE_URL: hanging.url, CALLS_DB: 'off', LLM_TIMEOUT_MS: '3000' });
      const lines = r.stderr.trim().split('\n');
      expect(lines.filter((l) => l === `chat: waiting for the model at ${hanging.url}…`).length, r.stderr).toBeGreaterThanOrEqual(1);
      const last = lines.at(-1)!;
      expect(last).toMatch(/^chat: the model never answered in this call: .*timed out/i);
      expect(r.stderr).not.toMatch(/\.\./);
      expect(r.code).toBe(1);
    } finally {
      hanging.close();
    }
  }, 90_000);

  it('a model server that refuses the key: one line saying so and naming OPENAI_API_KEY, exit 2', async () => {
    const refusing = await keyRefusingServer();
    try {
      const { url } = refusing;
      const r = await runChat(['--json'], ['hello'], { OPENAI_BASE_URL: url, OPENAI_API_KEY: 'sk-wrong', CALLS_DB: 'off' });
      const errors = parseJsonLines(r).filter((e) => e.type === 'error');
      expect(errors[0]?.message, show(parseJsonLines(r))).toMatch(new RegExp(`^the model server at ${url} refused the key \\(401`));
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/refused the key .*Check OPENAI_API_KEY\.$/);
      expect(r.code).toBe(2);
    } finally {
      refusing.close();
    }
  }, 90_000);

  it('DTMF_MAP is the worker\'s setting: a bad value does not stop a text call', async () => {
    const s = await server({ script: keywordBrain });
    const r = await runChat(['--json'], ['hello'], { OPENAI_BASE_URL: s.url, DTMF_MAP: 'not a keypad map', CALLS_DB: 'off' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  }, 90_000);

  it('a text call cannot reach a person: the hand-off fails, the caller is back with the department, which says so', async () => {
    const s = await server({ script: keywordBrain });
    const lines = [callTools({ name: 'transfer_to_human', arguments: { reason: 'wants a person' } }), 'ok, thanks'];
    const r = await runChat(['--json'], lines, { OPENAI_BASE_URL: s.url, HUMAN_TRANSFER_TO: '+14155550100', CALLS_DB: 'off' });
    const events = parseJsonLines(r);
    const diag = show(events);
    expect(r.code, `${diag}\n${r.stderr}`).toBe(0);
    const hops = events.filter((e) => e.type === 'handoff').map((h) => `${String(h.from)}→${String(h.to)}`);
    expect(hops, diag).toEqual(['triage→human', 'human→triage']);
    expect(events.filter((e) => e.type === 'error').map((e) => e.message), diag).toEqual([
      'transfer to a person failed: a text call cannot reach a person',
    ]);
    // Back with triage, which speaks before the next caller line is handled; nobody labelled `human` answers it.
    const back = events.findIndex((e) => e.type === 'handoff' && e.from === 'human');
    const next = indexOfUser(events, lines[1]!);
    expect(back, diag).toBeLessThan(next);
    expect(events.slice(back + 1, next).map((e) => [e.type, e.agent]), diag).toEqual([['agent', 'triage']]);
    expect(events.slice(next).filter((e) => e.type === 'agent').every((e) => e.agent === 'triage'), diag).toBe(true);
    expect(events.at(-1), diag).toMatchObject({ type: 'end', state: 'triage' });
  }, 90_000);

  it('Ctrl-C (SIGINT) is the caller hanging up: the call ends cleanly and is recorded so, not as interrupted', async () => {
    const s = await server({ script: keywordBrain });
    const db = join(tmp, 'hangup.sqlite');
    const run = startChat(['--json'], { OPENAI_BASE_URL: s.url, CALLS_DB: db });
    run.child.stdin!.write('I was charged twice on my card\n');
    await waitFor(() => run.stdout().includes('"agent":"billing"'), 'billing to answer');
    process.kill(-run.child.pid!, 'SIGINT'); // what a terminal sends the whole foreground group on Ctrl-C
    const { code } = await run.exited;
    const r = { code, signal: null, stdout: run.stdout(), stderr: run.stderr() };
    const events = parseJsonLines(r);
    expect(code, r.stderr).toBe(0);
    expect(events.at(-1)).toMatchObject({ type: 'end', state: 'ended', reason: 'hangup' });
    const calls = await new Promise<string>((res) => {
      const c = spawn(TSX, ['src/cli/calls.ts', '--json'], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ENV_FILE: emptyEnvFile, CALLS_DB: db } });
      let o = '';
      c.stdout.setEncoding('utf8').on('data', (d: string) => (o += d));
      c.on('close', () => res(o));
    });
    expect(JSON.parse(calls)[0]).toMatchObject({ status: 'ended', outcome: 'hangup', department: 'billing' });
  }, 90_000);

  /**
   * `npm run chat` at a terminal of its own (`script`, util-linux): what `type` writes is typed, `screen`
   * is what the terminal shows. Resolves once the greeting and the prompt are on the screen.
   */
  async function chatAtTerminal() {
    const s = await server({ script: keywordBrain });
    const child = spawn('script', ['-qfec', `${TSX} src/cli/chat.ts`, '/dev/null'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ENV_FILE: emptyEnvFile, OPENAI_BASE_URL: s.url, CALLS_DB: 'off', TERM: 'dumb' },
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((res) => child.once('close', (code) => res(code)));
    await waitFor(() => out.includes('How can I help you today?') && out.includes('caller │'), 'the greeting and the prompt');
    return { type: (keys: string) => child.stdin!.write(keys), screen: () => out, exited };
  }

  it('at a terminal: a prompt and the Ctrl-D / Ctrl-C hint, each typed line shown once, Ctrl-C hangs up', async () => {
    const { type, screen, exited } = await chatAtTerminal();
    expect(screen()).toMatch(/Ctrl-D ends the call; Ctrl-C hangs up/);
    type('I was charged twice on my card\r');
    await waitFor(() => screen().includes('billing │'), 'billing to answer');
    type('\x03'); // Ctrl-C, typed
    expect(await exited).toBe(0);
    const out = screen();
    // The typed line is on the screen once, as the caller's line (not the terminal's echo and a copy).
    const typed = out.split('\n').map((l) => l.replace(/\r/g, '').trim()).filter((l) => l.endsWith('I was charged twice on my card'));
    expect(typed, out).toEqual(['caller │ I was charged twice on my card']);
    expect(out).toMatch(/caller hung up/);
  }, 90_000);

  it('at a terminal: Ctrl-D at the prompt ends the call, its end line on a line of its own', async () => {
    const { type, screen, exited } = await chatAtTerminal();
    type('\x04'); // Ctrl-D, typed
    expect(await exited).toBe(0);
    const out = screen();
    const end = out.split('\n').map((l) => l.replace(/\r/g, '')).find((l) => l.includes('■'));
    expect(end, out).toMatch(/^\s+■ call over in triage after 0 transfers/);
  }, 90_000);
});
