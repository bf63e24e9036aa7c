/**
 * The commands that serve the inspector: `npm run chat -- --inspect`, `npm run demo` and
 * `npm run inspector`, run as a user would.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import { openStore } from '../src/records/index.js';
import { attachRecorder } from '../src/records/recorder.js';
import { say, startCall, startServer } from './support/harness.js';

const root = new URL('..', import.meta.url).pathname;
const emptyEnvFile = join(mkdtempSync(join(tmpdir(), 'env-')), 'empty.env');
writeFileSync(emptyEnvFile, '');
let llm: ScriptedServer;
beforeAll(async () => {
  llm = await startServer();
});
afterAll(async () => {
  await llm.close();
});

function run(args: string[], env: Record<string, string>): { child: ChildProcessWithoutNullStreams; lines: AsyncIterableIterator<string> } {
  const child = spawn(join(root, 'node_modules/.bin/tsx'), args, {
    cwd: root,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME!, ENV_FILE: emptyEnvFile, ...env },
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return { child, lines };
}

async function nextMatching(lines: AsyncIterableIterator<string>, pred: (l: string) => boolean): Promise<string> {
  for (;;) {
    const { value, done } = await lines.next();
    if (done) throw new Error('output ended');
    if (pred(value)) return value;
  }
}

const callsAt = async (url: string) => (await (await fetch(new URL('api/calls', url))).json()) as { callId: string; state: string; live: boolean }[];

describe('npm run chat -- --inspect', () => {
  it('prints the inspector address first, and the page follows the call live', async () => {
    const { child, lines } = run(['src/cli/chat.ts', '--json', '--inspect'], { OPENAI_BASE_URL: llm.url, LLM_MAX_RETRY: '0' });
    try {
      const first = JSON.parse((await lines.next()).value as string);
      expect(first).toMatchObject({ type: 'inspector', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\//) });
      const page = await fetch(first.url);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html');
      await nextMatching(lines, (l) => JSON.parse(l).type === 'agent');
      await expect.poll(async () => (await callsAt(first.url))[0]?.state).toBe('triage');

      child.stdin.write('I was charged twice on my card\n');
      await nextMatching(lines, (l) => JSON.parse(l).type === 'handoff');
      await expect.poll(async () => (await callsAt(first.url))[0]?.state).toBe('billing');
      child.stdin.end();
      const end = JSON.parse(await nextMatching(lines, (l) => JSON.parse(l).type === 'end'));
      expect(end).toMatchObject({ state: 'billing', handoffCount: 1 });
      const code = await new Promise((r) => child.on('exit', r));
      expect(code).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('npm run demo', () => {
  it('plays a scripted call with the inspector serving, and says the answers are scripted', async () => {
    const { child, lines } = run(['src/cli/demo.ts', '--once'], { DEMO_PAUSE_MS: '400' });
    try {
      const banner = await nextMatching(lines, (l) => l.includes('open http'));
      const url = /open (http:\/\/\S+)/.exec(banner)![1]!;
      expect(await nextMatching(lines, (l) => /SCRIPTED/.test(l))).toMatch(/no keys needed/);
      await expect.poll(async () => (await callsAt(url)).length, { timeout: 10_000 }).toBe(1);
      await nextMatching(lines, (l) => l.includes('triage → billing'));
      const code = await new Promise((r) => child.on('exit', r));
      expect(code).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('npm run inspector', () => {
  const exitOf = (child: ChildProcessWithoutNullStreams) =>
    new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.on('exit', (code) => r(code))));
  const stderrOf = (child: ChildProcessWithoutNullStreams) => {
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    return () => err;
  };

  it('serves live calls and the past calls of the records the workers write (CALLS_DB)', async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'inspector-records-')), 'calls.sqlite');
    const opened = (await openStore({ CALLS_DB: db }))!;
    const call = await startCall(llm, { caller: { name: 'Rahul', phoneNumber: '+15550100900' } });
    const recorder = attachRecorder(call, opened.store, { worker: 'inspector-cli-test' });
    await say(call, 'I was charged twice on my card');
    call.hangup();
    await call.finished;
    await recorder.done;
    await opened.store.close();

    const { child, lines } = run(['src/cli/inspector.ts'], { INSPECTOR_PORT: '0', CALLS_DB: db });
    const err = stderrOf(child);
    try {
      const url = /^Inspector: (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(await nextMatching(lines, (l) => l.startsWith('Inspector:')))![1]!;
      expect(await callsAt(url)).toEqual([]);
      const past = (await (await fetch(new URL('api/records', url))).json()) as { callId: string; state: string; endReason: string; caller: { name?: string } }[];
      expect(past.map((p) => [p.callId, p.state, p.endReason, p.caller.name])).toEqual([[call.callId, 'ended', 'hangup', 'Rahul']]);
      const one = (await (await fetch(new URL(`api/records/${call.callId}`, url))).json()) as { timeline: { state: string }[]; transcript: { text: string }[] };
      expect(one.timeline.map((t) => t.state)).toEqual(['triage', 'billing']);
      expect(one.transcript.map((t) => t.text)).toContain('I was charged twice on my card');
      child.kill('SIGTERM');
      expect(await exitOf(child)).toBe(0);
      expect(err()).toBe('');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a bad setting names itself and exits 2; an open address without a token is refused', async () => {
    const bad = run(['src/cli/inspector.ts'], { INSPECTOR_PORT: 'eighty', CALLS_DB: 'off' });
    const badErr = stderrOf(bad.child);
    expect(await exitOf(bad.child)).toBe(2);
    expect(badErr()).toMatch(/INSPECTOR_PORT/);
    expect(badErr()).not.toMatch(/\n\s+at /); // no stack trace

    const open = run(['src/cli/inspector.ts'], { INSPECTOR_HOST: '0.0.0.0', INSPECTOR_PORT: '0', CALLS_DB: 'off' });
    const openErr = stderrOf(open.child);
    expect(await exitOf(open.child)).toBe(2);
    expect(openErr()).toMatch(/INSPECTOR_TOKEN/);
  });
});
