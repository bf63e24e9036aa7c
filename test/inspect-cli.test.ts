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
    env: { PATH: process.env.PATH!, HOME: process.env.HOME!, ENV_FILE: emptyEnvFile, CALLS_DB: process.env.CALLS_DB, ...env },
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return { child, lines };
}

const exited = (child: ChildProcessWithoutNullStreams) =>
  new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.on('close', (code) => r(code))));
const collect = (child: ChildProcessWithoutNullStreams) => {
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  return { out: () => out, err: () => err };
};

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

describe('npm run demo against a configured model', () => {
  it('OPENAI_BASE_URL alone (a key-less OpenAI-compatible server): that server answers, and the demo names it', async () => {
    const other = await startServer();
    const { child, lines } = run(['src/cli/demo.ts', '--once'], { DEMO_PAUSE_MS: '300', CALLS_DB: 'off', OPENAI_BASE_URL: other.url });
    try {
      expect(await nextMatching(lines, (l) => l.startsWith('Answers come from'))).toBe(
        `Answers come from the model gpt-4.1-mini at ${other.url}; the caller's lines are scripted.`,
      );
      await nextMatching(lines, (l) => l.includes('triage → billing'));
      expect(other.chatRequests().length).toBeGreaterThan(0);
      expect(await new Promise((r) => child.on('exit', r))).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await other.close();
    }
  });
});

describe('npm run demo in Hindi and Hinglish', () => {
  it('its second call speaks Hindi and reaches Support, its third Hinglish and reaches Billing', async () => {
    const { child, lines } = run(['src/cli/demo.ts'], { DEMO_PAUSE_MS: '300', INSPECTOR_PORT: '0', CALLS_DB: 'off' });
    try {
      await nextMatching(lines, (l) => /call 2: triage → support \(.*इंटरनेट/.test(l));
      await nextMatching(lines, (l) => /call 3: triage → billing \(.*kat gaya/.test(l));
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

// ---- the first ten minutes: what a newcomer sees ---------------------------------------------------

describe('npm run demo and npm run inspector, as a newcomer runs them', () => {
  const until = async (pred: () => boolean, what: string, ms = 30_000) => {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('overlapping calls: each transfer is printed under its own call; Ctrl-C hangs up the live calls (recorded hangup)', async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'demo-records-')), 'calls.sqlite');
    const child = spawn(join(root, 'node_modules/.bin/tsx'), ['src/cli/demo.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH!, HOME: process.env.HOME!, ENV_FILE: emptyEnvFile, DEMO_PAUSE_MS: '500', CALLS_DB: db },
      detached: true,
    });
    const io = collect(child);
    try {
      // A new call every 1.5 s, each taking about 3 s: they overlap. Stop while calls are under way.
      await until(() => /call 3: /.test(io.out()), 'a transfer of the third call', 45_000);
      process.kill(-child.pid!, 'SIGINT');
      expect(await exited(child), io.err()).toBe(0);
      expect(io.out()).toMatch(/Stopping: hanging up \d+ live call\(s\)/);
      expect(io.err()).toBe('');
      const opened = (await openStore({ CALLS_DB: db }))!;
      try {
        const rows = await opened.store.listCalls(50);
        expect(rows.every((r) => r.status === 'ended'), JSON.stringify(rows)).toBe(true);
        expect(rows.some((r) => r.outcome === 'hangup'), JSON.stringify(rows)).toBe(true);
        // Every printed transfer is one the call of that number made, in its order.
        const printed = [...io.out().matchAll(/^ {2}call (\d+): (\w+) → (\w+) /gm)].map((m) => ({ n: m[1]!, from: m[2]!, to: m[3]! }));
        expect(printed.length).toBeGreaterThan(3);
        for (const n of new Set(printed.map((p) => p.n))) {
          const row = rows.find((r) => r.id.startsWith(`demo-${n}-`))!;
          const rec = (await opened.store.getCall(row.id))!;
          const route = rec.events.flatMap((e) => (e.event.type === 'handoff' ? [`${e.event.from}→${e.event.to}`] : []));
          expect(printed.filter((p) => p.n === n).map((p) => `${p.from}→${p.to}`), `call ${n}`).toEqual(route);
        }
      } finally {
        await opened.store.close();
      }
    } finally {
      child.kill('SIGKILL');
    }
  }, 90_000);

  it('--once says the page goes away when the call is over', async () => {
    const { child } = run(['src/cli/demo.ts', '--once'], { DEMO_PAUSE_MS: '300', CALLS_DB: 'off' });
    const io = collect(child);
    try {
      expect(await exited(child)).toBe(0);
      expect(io.out()).toMatch(/One call \(--once\): the page's server stops when the call is over, in about \d+ s\./);
      expect(io.out()).toMatch(/The call is over; the inspector stops now/);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);

  it('INSPECTOR_URL: a text call and the demo report to a running `npm run inspector`', async () => {
    const insp = run(['src/cli/inspector.ts'], { INSPECTOR_PORT: '0', CALLS_DB: 'off' });
    try {
      const url = /^Inspector: (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(await nextMatching(insp.lines, (l) => l.startsWith('Inspector:')))![1]!;
      const chat = run(['src/cli/chat.ts', '--json'], { OPENAI_BASE_URL: llm.url, LLM_MAX_RETRY: '0', CALLS_DB: 'off', INSPECTOR_URL: url });
      chat.child.stdin.end('I was charged twice on my card\n');
      expect(await exited(chat.child)).toBe(0);
      const demo = run(['src/cli/demo.ts', '--once'], { DEMO_PAUSE_MS: '300', CALLS_DB: 'off', INSPECTOR_URL: url });
      const io = collect(demo.child);
      expect(await exited(demo.child)).toBe(0);
      expect(io.out()).toContain(`open ${url}`);
      expect(io.out()).toMatch(/calls report to the inspector at INSPECTOR_URL/);
      await expect
        .poll(async () => (await callsAt(url)).map((c) => c.callId.replace(/-[0-9a-f]{8}$/, '')).sort(), { timeout: 10_000 })
        .toEqual(['chat', 'demo-1']);
    } finally {
      // SIGTERM: tsx passes it on and the inspector exits (SIGKILL would leave tsx's child running).
      insp.child.kill('SIGTERM');
      await exited(insp.child);
    }
  }, 90_000);

  it('a second `npm run inspector` on a busy port: one line naming the port and INSPECTOR_PORT, exit 2', async () => {
    const first = run(['src/cli/inspector.ts'], { INSPECTOR_PORT: '0', CALLS_DB: 'off' });
    try {
      const port = /:(\d+)\/$/.exec(await nextMatching(first.lines, (l) => l.startsWith('Inspector:')))![1]!;
      const second = run(['src/cli/inspector.ts'], { INSPECTOR_PORT: port, CALLS_DB: 'off' });
      const io = collect(second.child);
      expect(await exited(second.child)).toBe(2);
      const lines = io.err().trim().split('\n');
      expect(lines, io.err()).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^inspector: port ${port} on 127\\.0\\.0\\.1 is already in use`));
      expect(lines[0]).toContain('INSPECTOR_PORT');
      expect(io.err()).not.toContain('    at ');
    } finally {
      first.child.kill('SIGTERM');
      await exited(first.child);
    }
  }, 60_000);
});

describe('npm run scripted-llm', () => {
  it('a busy port: one line naming it and PORT, exit 2, no stack trace', async () => {
    const port = new URL(llm.url).port;
    const second = run(['dev/scripted-llm.ts'], { PORT: port });
    const io = collect(second.child);
    expect(await exited(second.child)).toBe(2);
    const lines = io.err().trim().split('\n');
    expect(lines, io.err()).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^scripted-llm: cannot listen: 127\\.0\\.0\\.1:${port} is already in use`));
    expect(lines[0]).toContain('PORT');
    expect(io.err()).not.toContain('    at ');
  }, 60_000);

  it('PORT that is not a port: one line naming PORT, its value and what is allowed, exit 2', async () => {
    const bad = run(['dev/scripted-llm.ts'], { PORT: 'abc' });
    const io = collect(bad.child);
    expect(await exited(bad.child)).toBe(2);
    expect(io.err().trim()).toBe('scripted-llm: PORT is "abc": must be a whole number from 0 to 65535 (0: any free port).');
  }, 60_000);

  it("greets for the call's COMPANY_NAME, not a fixed company", async () => {
    const { child, lines } = run(['src/cli/chat.ts', '--json'], { OPENAI_BASE_URL: llm.url, COMPANY_NAME: 'Zenith Telecom' });
    try {
      const first = JSON.parse((await lines.next()).value as string);
      expect(first).toMatchObject({ type: 'agent', agent: 'triage' });
      expect(first.text).toContain('Thank you for calling Zenith Telecom');
    } finally {
      child.stdin.end();
      await exited(child);
    }
  }, 60_000);
});
