/**
 * XSTATE_INSPECT=ws: a call's routing actor reports to Stately's inspector (`@statelyai/inspect`) over a
 * WebSocket. A WebSocket server in this test stands where Stately's relay would (127.0.0.1, a free port)
 * and reads what a real call sends it: `npm run chat` as a process, talking to the scripted model.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { type InspectionEvent, createActor } from 'xstate';
import { type ScriptedServer, keywordBrain, startScriptedServer } from '../dev/scripted-llm.js';
import { routerMachine } from '../machines/router.js';
import { ConfigError, loadSettings } from '../src/config.js';
import { RETRY_MS, closeStatelyLink, reportToStately, withStatelyInspector } from '../src/inspector/stately.js';
import { closedServerUrl } from './support/model-servers.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const RUN_TIMEOUT_MS = 60_000;

let tmp: string;
let emptyEnvFile: string;
let model: ScriptedServer;
const children: ChildProcess[] = [];
const closers: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-xstate-'));
  emptyEnvFile = join(tmp, 'empty.env');
  writeFileSync(emptyEnvFile, '');
  model = await startScriptedServer({ host: '127.0.0.1', script: keywordBrain });
});

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  await Promise.all(closers.splice(0).map((close) => close()));
});

afterAll(async () => {
  await model?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Stately's end of the socket: every message each connection sent, parsed. */
async function statelyServer(): Promise<{ url: string; messages: Record<string, unknown>[][] }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const messages: Record<string, unknown>[][] = [];
  wss.on('connection', (ws) => {
    const mine: Record<string, unknown>[] = [];
    messages.push(mine);
    ws.on('message', (data) => mine.push(JSON.parse(data.toString()) as Record<string, unknown>));
  });
  closers.push(() => new Promise((r) => wss.close(r)));
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, messages };
}

interface ChatRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `npm run chat -- --json` with only these settings (an empty .env), the caller's lines on stdin. */
async function runChat(lines: string[], env: Record<string, string>): Promise<ChatRun> {
  const fullEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ENV_FILE: emptyEnvFile,
    CALLS_DB: 'off',
    LLM_MAX_RETRY: '0',
    OPENAI_BASE_URL: model.url,
    ...env,
  };
  const child = spawn(TSX, ['src/cli/chat.ts', '--json'], { cwd: ROOT, env: fullEnv, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdin!.end(lines.map((l) => `${l}\n`).join(''));
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    new Promise<number | null>((res, rej) => {
      child.once('error', rej);
      child.once('close', (c) => res(c));
    }),
    new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`chat did not exit in ${RUN_TIMEOUT_MS / 1000} s\nstderr:\n${err}\nstdout:\n${out}`)), RUN_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  return { code, stdout: out, stderr: err };
}

const handoffs = (r: ChatRun) =>
  r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; from?: string; to?: string })
    .filter((e) => e.type === 'handoff')
    .map((e) => [e.from, e.to]);

const CALLER_LINES = ['Hi, my name is Maya', 'I was charged twice on my card'];

describe('XSTATE_INSPECT=ws: a call reports to Stately\'s inspector', () => {
  it('a client at XSTATE_INSPECT_URL receives the actor: its machine, its events, and the transfer Triage → Billing', async () => {
    const stately = await statelyServer();
    const r = await runChat(CALLER_LINES, { XSTATE_INSPECT: 'ws', XSTATE_INSPECT_URL: stately.url });
    expect(r.code, r.stderr).toBe(0);
    expect(handoffs(r), r.stdout).toEqual([['triage', 'billing']]);
    // Where the caller's data goes is said, once, naming the URL; nothing else on stderr.
    expect(r.stderr.trim().split('\n')).toEqual([
      `chat: XSTATE_INSPECT=ws: every call's routing actor (its events and state, caller details included) is sent to Stately's inspector at ${stately.url}`,
    ]);

    // One connection for the process.
    expect(stately.messages).toHaveLength(1);
    const messages = stately.messages[0]!;
    const show = JSON.stringify(messages.map((m) => [m.type, (m.event as { type?: string } | undefined)?.type, (m.snapshot as { value?: unknown } | undefined)?.value]));
    // Stately's own protocol, with its version stamp.
    for (const m of messages) {
      expect(['@xstate.actor', '@xstate.event', '@xstate.snapshot'], show).toContain(m.type);
      expect(typeof m._version, show).toBe('string');
    }

    // The routing actor is registered with the machine's definition, under the call's id.
    const actor = messages.find((m) => m.type === '@xstate.actor' && typeof m.definition === 'string' && (m.definition as string).includes('"triage"'));
    expect(actor, show).toBeDefined();
    expect(actor!.name, show).toMatch(/^chat-/);
    const definition = JSON.parse(actor!.definition as string) as { id: string; initial: string; states: Record<string, unknown> };
    expect(definition.id).toBe('router');
    expect(definition.initial).toBe('triage');
    expect(Object.keys(definition.states)).toEqual(expect.arrayContaining(['triage', 'billing', 'sales', 'support', 'human', 'ended']));
    const session = actor!.sessionId;
    const ofActor = messages.filter((m) => m.sessionId === session);

    // The events it received: the start, the agent's TRANSFER with its reason.
    const events = ofActor.filter((m) => m.type === '@xstate.event').map((m) => m.event as { type: string; to?: string; reason?: string });
    expect(events[0]?.type, show).toBe('xstate.init');
    expect(events.find((e) => e.type === 'TRANSFER'), show).toMatchObject({ type: 'TRANSFER', to: 'billing' });

    // Its snapshots: Triage, then Billing after that TRANSFER, with the call's context.
    const snapshots = ofActor.filter((m) => m.type === '@xstate.snapshot');
    const values = snapshots.map((m) => (m.snapshot as { value: unknown }).value);
    expect(values[0], show).toBe('triage');
    const toBilling = snapshots.find((m) => (m.snapshot as { value: unknown }).value === 'billing');
    expect(toBilling, show).toBeDefined();
    expect((toBilling!.event as { type: string }).type).toBe('TRANSFER');
    expect(values.slice(0, values.indexOf('billing')).every((v) => v === 'triage'), show).toBe(true);
    const context = (toBilling!.snapshot as { context: { handoffCount: number; route: { from: string; to: string }[] } }).context;
    expect(context.handoffCount).toBe(1);
    expect(context.route.map((h) => [h.from, h.to])).toEqual([['triage', 'billing']]);
    // The end of the call (end of input: the actor is stopped) reaches it before the process exits.
    expect(snapshots.at(-1), show).toMatchObject({ event: { type: 'xstate.stop' }, snapshot: { value: 'billing', status: 'stopped' } });
  }, 90_000);

  it('an XSTATE_INSPECT_URL nothing answers at: one warning naming it, no stack trace; the call goes on, exit 0', async () => {
    const url = (await closedServerUrl()).replace(/^http:/, 'ws:').replace(/\/v1$/, '');
    const r = await runChat(CALLER_LINES, { XSTATE_INSPECT: 'ws', XSTATE_INSPECT_URL: url });
    expect(r.code, r.stderr).toBe(0);
    expect(handoffs(r), r.stdout).toEqual([['triage', 'billing']]);
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => l.includes('cannot reach'))).toEqual([
      `chat: cannot reach Stately's inspector at ${url} (ECONNREFUSED): check XSTATE_INSPECT_URL; the calls go on, and reach it once it is up`,
    ]);
    expect(lines, r.stderr).toHaveLength(2); // that warning, and where the data would go
    expect(r.stderr).not.toContain('    at ');
  }, 90_000);

  it('off (the default): nothing is sent, nothing is said', async () => {
    const stately = await statelyServer();
    const r = await runChat(CALLER_LINES, { XSTATE_INSPECT_URL: stately.url });
    expect(r.code, r.stderr).toBe(0);
    expect(handoffs(r)).toEqual([['triage', 'billing']]);
    expect(r.stderr).toBe('');
    expect(stately.messages).toEqual([]);
  }, 90_000);
});

describe('the routing actor\'s inspectors', () => {
  it('a call\'s own inspector and Stately\'s both receive every inspection event', async () => {
    const stately = await statelyServer();
    const said: string[] = [];
    const link = reportToStately({ XSTATE_INSPECT: 'ws', XSTATE_INSPECT_URL: stately.url }, { notice: (l) => said.push(l), warn: (l) => said.push(l) });
    closers.push(() => closeStatelyLink());
    expect(link).not.toBeNull();
    // One link per process.
    expect(reportToStately({ XSTATE_INSPECT: 'ws', XSTATE_INSPECT_URL: stately.url })).toBe(link);
    const own: InspectionEvent[] = [];
    const actor = createActor(routerMachine, {
      id: 'composed',
      input: { callId: 'composed', maxHandoffs: 6, humanAvailable: false },
      inspect: withStatelyInspector((e) => own.push(e)),
    });
    actor.start();
    actor.send({ type: 'TRANSFER', to: 'sales', reason: 'wants to upgrade' });
    actor.stop();
    await closeStatelyLink();
    expect(said).toEqual([expect.stringContaining(stately.url)]);
    expect(own.map((e) => e.type)).toEqual(expect.arrayContaining(['@xstate.actor', '@xstate.event', '@xstate.snapshot']));
    const sent = stately.messages.flat();
    const kinds = (list: { type: string }[]) => list.filter((e) => ['@xstate.actor', '@xstate.event', '@xstate.snapshot'].includes(e.type)).map((e) => e.type);
    expect(kinds(sent as { type: string }[])).toEqual(kinds(own));
    expect(sent.some((m) => (m.snapshot as { value?: unknown } | undefined)?.value === 'sales')).toBe(true);
  });

  it('an inspector started after the calls: what was kept reaches it once it is up; said once meanwhile', async () => {
    const { port } = new URL(await closedServerUrl());
    const url = `ws://127.0.0.1:${port}`;
    const said: string[] = [];
    reportToStately({ XSTATE_INSPECT: 'ws', XSTATE_INSPECT_URL: url }, { notice: () => undefined, warn: (l) => said.push(l) });
    closers.push(() => closeStatelyLink());
    const actor = createActor(routerMachine, {
      id: 'early',
      input: { callId: 'early', maxHandoffs: 6, humanAvailable: false },
      inspect: withStatelyInspector(),
    });
    actor.start();
    actor.send({ type: 'TRANSFER', to: 'support', reason: 'no internet' });
    await new Promise((r) => setTimeout(r, 500));
    expect(said).toEqual([expect.stringMatching(new RegExp(`^cannot reach Stately's inspector at ${url} \\(ECONNREFUSED\\)`))]);
    // Stately's relay comes up on that port: the next attempt (within RETRY_MS) delivers the kept messages.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(port) });
    closers.push(() => new Promise((r) => wss.close(r)));
    const got: { type: string; snapshot?: { value?: unknown } }[] = [];
    wss.on('connection', (ws) => ws.on('message', (d) => got.push(JSON.parse(d.toString()) as (typeof got)[number])));
    const until = Date.now() + RETRY_MS + 3000;
    while (!got.some((m) => m.snapshot?.value === 'support') && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(got.map((m) => m.type)).toEqual(expect.arrayContaining(['@xstate.actor', '@xstate.event', '@xstate.snapshot']));
    expect(got.some((m) => m.snapshot?.value === 'support')).toBe(true);
    expect(said).toHaveLength(1);
    actor.stop();
  }, 20_000);

  it('with no link, a call\'s own inspector is passed on as it is', () => {
    const own = () => undefined;
    expect(withStatelyInspector(own)).toBe(own);
    expect(withStatelyInspector(undefined)).toBeUndefined();
    expect(reportToStately({ XSTATE_INSPECT: 'off', XSTATE_INSPECT_URL: 'ws://127.0.0.1:8080' })).toBeNull();
  });
});

describe('the settings', () => {
  const base = { OPENAI_BASE_URL: 'http://127.0.0.1:1/v1' };
  it('off and loopback by default', () => {
    const s = loadSettings(base);
    expect(s.XSTATE_INSPECT).toBe('off');
    expect(s.XSTATE_INSPECT_URL).toBe('ws://127.0.0.1:8080');
  });
  it('a value that is not a choice, or a URL that is not a WebSocket, is refused by name', () => {
    let err: unknown;
    try {
      loadSettings({ ...base, XSTATE_INSPECT: 'yes', XSTATE_INSPECT_URL: 'http://127.0.0.1:8080' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      'XSTATE_INSPECT is "yes": must be one of off, ws',
      'XSTATE_INSPECT_URL must be a URL starting with ws:// or wss://',
    ]);
  });
});
