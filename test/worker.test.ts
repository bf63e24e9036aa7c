/**
 * The worker as a process: `tsx src/cli/worker.ts dev` with a clean environment.
 * Bad settings: a short message naming each setting, exit code 2, no stack trace.
 * Good settings: it connects to `${LIVEKIT_URL}/agent` with a valid token and registers under AGENT_NAME
 * (against a local WebSocket server standing in for LiveKit).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { WorkerMessage } from '@livekit/protocol';
import { jwtVerify } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/ports.js';

// `ws` ships no types (and @types/ws is not installed): load it through require with the little we use typed here.
interface WsSocket {
  once(event: 'message', cb: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'error', cb: (err: Error) => void): void;
  terminate(): void;
}
interface WsServer {
  once(event: 'listening', cb: () => void): void;
  once(event: 'error', cb: (err: Error) => void): void;
  on(event: 'connection', cb: (socket: WsSocket, req: IncomingMessage) => void): void;
  address(): AddressInfo | string | null;
  clients: Set<WsSocket>;
  close(cb?: (err?: Error) => void): void;
}
const { WebSocketServer } = createRequire(import.meta.url)('ws') as {
  WebSocketServer: new (opts: { host: string; port: number }) => WsServer;
};

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

let tmp: string;
let emptyEnvFile: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-worker-'));
  emptyEnvFile = join(tmp, 'empty.env');
  writeFileSync(emptyEnvFile, '');
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Kills the worker and everything it forked (it runs in its own process group). */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

afterEach(() => {
  for (const c of children.splice(0)) killGroup(c);
});

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the worker with only PATH, HOME, an empty ENV_FILE and `settings` in its environment. */
function startWorker(settings: Record<string, string>): Run {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CALLS_DB: process.env.CALLS_DB,
    ENV_FILE: emptyEnvFile,
    ...settings,
  };
  const child = spawn(TSX, ['src/cli/worker.ts', 'dev'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res, rej) => {
    child.once('error', rej);
    child.once('close', (code, signal) => res({ code, signal }));
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Runs a worker that is expected to refuse to start, with a time limit. */
async function runToExit(settings: Record<string, string>) {
  const run = startWorker(settings);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`worker did not exit in 30 s\nstderr:\n${run.stderr()}\nstdout:\n${run.stdout()}`)), 30_000);
  });
  try {
    const { code, signal } = await Promise.race([run.exited, timeout]);
    return { code, signal, stdout: run.stdout(), stderr: run.stderr() };
  } finally {
    clearTimeout(timer);
  }
}

const VALID = {
  LIVEKIT_URL: 'ws://127.0.0.1:7880',
  LIVEKIT_API_KEY: 'APItestkey',
  LIVEKIT_API_SECRET: 'test-secret-that-is-long-enough-for-hs256',
  OPENAI_API_KEY: 'sk-test-not-a-real-key',
};

/** The `  - NAME ...` lines of the worker's error message. */
const problemLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('  - '));

describe('worker: bad settings', () => {
  it('with no settings, exits 2 naming every required setting, without a stack trace', async () => {
    const r = await runToExit({});
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^worker: cannot start, fix these settings/);
    const lines = problemLines(r.stderr);
    for (const name of ['LIVEKIT_URL', 'LIVEKIT_API_KEY', 'LIVEKIT_API_SECRET', 'OPENAI_API_KEY']) {
      expect(lines.filter((l) => l.startsWith(`  - ${name} `)), name).toHaveLength(1);
    }
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).not.toContain('    at ');
  }, 60_000);

  it('with malformed settings, exits 2 naming each bad one once, and no secret', async () => {
    const r = await runToExit({
      ...VALID,
      LIVEKIT_URL: 'notaurl',
      MAX_HANDOFFS: 'abc',
      HUMAN_TRANSFER_TO: '12345',
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^worker: cannot start, fix these settings/);
    const lines = problemLines(r.stderr);
    expect(lines, r.stderr).toHaveLength(3);
    for (const name of ['LIVEKIT_URL', 'MAX_HANDOFFS', 'HUMAN_TRANSFER_TO']) {
      expect(lines.filter((l) => l.startsWith(`  - ${name} `)), name).toHaveLength(1);
    }
    for (const name of ['LIVEKIT_API_KEY', 'LIVEKIT_API_SECRET', 'OPENAI_API_KEY']) expect(r.stderr).not.toContain(name);
    expect(r.stderr).not.toContain(VALID.LIVEKIT_API_SECRET);
    expect(r.stderr).not.toContain(VALID.OPENAI_API_KEY);
    expect(r.stderr).not.toContain('    at ');
  }, 60_000);

  it('RECORD_CALLS=on with a RECORDINGS_DIR it cannot write: one line naming it, exit 2, before any call', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-worker-rec-'));
    writeFileSync(join(dir, 'a-file'), '');
    try {
      const r = await runToExit({ ...VALID, INSPECTOR: 'off', CALLS_DB: 'off', RECORD_CALLS: 'on', RECORDINGS_DIR: join(dir, 'a-file', 'recs') });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([`worker: RECORDINGS_DIR ${join(dir, 'a-file', 'recs')} cannot be written: ENOTDIR`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('worker: good settings', () => {
  let server: WsServer | undefined;
  afterEach(async () => {
    if (!server) return;
    for (const c of server.clients) c.terminate();
    await new Promise<void>((res) => server!.close(() => res()));
    server = undefined;
  });

  it.each([
    { agentName: 'switchboard-test', expected: 'switchboard-test' },
    { agentName: undefined, expected: 'switchboard' },
  ])(
    'connects to /agent with a valid token and registers as $expected',
    async ({ agentName, expected }) => {
      const srv = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      server = srv;
      await new Promise<void>((res, rej) => {
        srv.once('listening', res);
        srv.once('error', rej);
      });
      const { port } = srv.address() as AddressInfo;

      const first = new Promise<{ url: string | undefined; authorization: string | undefined; data: Buffer; isBinary: boolean }>(
        (res) => {
          srv.on('connection', (socket, req) => {
            socket.on('error', () => {});
            socket.once('message', (data, isBinary) => res({ url: req.url, authorization: req.headers.authorization, data, isBinary }));
          });
        },
      );

      const run = startWorker({
        ...VALID,
        LIVEKIT_URL: `ws://127.0.0.1:${port}`,
        INSPECTOR_PORT: '0',
        ...(agentName ? { AGENT_NAME: agentName } : {}),
      });
      let timer: NodeJS.Timeout | undefined;
      const failure = new Promise<never>((_, rej) => {
        const why = (what: string) => new Error(`${what}\nstderr:\n${run.stderr()}\nstdout:\n${run.stdout().slice(-4000)}`);
        void run.exited.then(
          ({ code, signal }) => rej(why(`worker exited (code ${code}, signal ${signal}) before registering`)),
          (err: unknown) => rej(why(`could not spawn the worker: ${String(err)}`)),
        );
        timer = setTimeout(() => rej(why('no registration within 45 s')), 45_000);
      });

      try {
        const msg = await Promise.race([first, failure]);

        expect(msg.url).toBe('/agent');

        expect(msg.authorization).toMatch(/^Bearer \S+$/);
        const jwt = msg.authorization!.slice('Bearer '.length);
        const { payload, protectedHeader } = await jwtVerify(jwt, new TextEncoder().encode(VALID.LIVEKIT_API_SECRET), {
          algorithms: ['HS256'],
          issuer: VALID.LIVEKIT_API_KEY,
        });
        expect(protectedHeader.alg).toBe('HS256');
        expect(payload.iss).toBe(VALID.LIVEKIT_API_KEY);
        expect((payload as { video?: { agent?: unknown } }).video?.agent).toBe(true);
        // The same token must not verify with another secret.
        await expect(jwtVerify(jwt, new TextEncoder().encode('some-other-secret-of-enough-length'))).rejects.toThrow();

        expect(msg.isBinary).toBe(true);
        const wm = WorkerMessage.fromBinary(new Uint8Array(msg.data));
        expect(wm.message.case).toBe('register');
        if (wm.message.case !== 'register') throw new Error('unreachable');
        expect(wm.message.value.agentName).toBe(expected);

        // `npm run dev` serves the live inspector next to the worker and prints its address.
        const printed = /Inspector: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(run.stdout());
        expect(printed, run.stdout().slice(-2000)).not.toBeNull();
        const page = await fetch(printed![1]!);
        expect(page.status).toBe(200);
        expect(await (await fetch(new URL('api/calls', printed![1]!))).json()).toEqual([]);
      } finally {
        clearTimeout(timer);
        killGroup(run.child);
      }
    },
    60_000,
  );
});

// ---- the first ten minutes: a wrong URL or key, the worker's own server, the log ------------------

describe('worker: what a newcomer sees', () => {
  const until = async (pred: () => boolean, what: string, run: Run, ms = 30_000) => {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nstderr:\n${run.stderr()}\nstdout:\n${run.stdout()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('nothing at LIVEKIT_URL: one line per attempt naming LIVEKIT_URL, no stack trace; the log is quiet and plain', async () => {
    const dead = await freePort();
    const workerPort = await freePort();
    const run = startWorker({ ...VALID, LIVEKIT_URL: `ws://127.0.0.1:${dead}`, INSPECTOR: 'off', CALLS_DB: 'off', WORKER_PORT: String(workerPort) });
    try {
      await until(() => /\(2\/10\)/.test(run.stderr()), 'a second attempt', run);
      const lines = run.stderr().trim().split('\n');
      expect(lines.slice(0, 2)).toEqual([
        `worker: cannot reach LiveKit at ws://127.0.0.1:${dead} (connect ECONNREFUSED 127.0.0.1:${dead}): check LIVEKIT_URL; retrying in 2 s (1/10)`,
        `worker: cannot reach LiveKit at ws://127.0.0.1:${dead} (connect ECONNREFUSED 127.0.0.1:${dead}): check LIVEKIT_URL; retrying in 4 s (2/10)`,
      ]);
      expect(run.stderr()).not.toContain('    at ');
      // The log: info by default (no debug lines), one readable line per entry, no colour codes when not a terminal.
      expect(run.stdout()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  starting worker/m);
      expect(run.stdout()).not.toMatch(/DEBUG/);
      expect(run.stdout() + run.stderr()).not.toContain('\x1b[');
      // The worker's own HTTP server (health check) answers on loopback only, where WORKER_PORT says.
      const health = await fetch(`http://127.0.0.1:${workerPort}/`);
      expect(health.status).toBeLessThan(600);
      const { networkInterfaces } = await import('node:os');
      const external = Object.values(networkInterfaces())
        .flat()
        .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
      if (external) await expect(fetch(`http://${external}:${workerPort}/`)).rejects.toThrow();
    } finally {
      killGroup(run.child);
    }
  }, 60_000);

  it('a key LiveKit refuses (401): one line naming LIVEKIT_API_KEY and LIVEKIT_API_SECRET, exit 2 at once', async () => {
    const { createServer } = await import('node:http');
    const refusing = createServer((_req, res) => res.writeHead(401).end());
    refusing.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n'));
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    const { port } = refusing.address() as AddressInfo;
    try {
      const r = await runToExit({ ...VALID, LIVEKIT_URL: `ws://127.0.0.1:${port}`, INSPECTOR: 'off', CALLS_DB: 'off' });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([
        `worker: LiveKit at ws://127.0.0.1:${port} refused the worker's key (HTTP 401): check LIVEKIT_API_KEY and LIVEKIT_API_SECRET`,
      ]);
      expect(r.stderr).not.toContain(VALID.LIVEKIT_API_SECRET);
    } finally {
      await new Promise<void>((res) => refusing.close(() => res()));
    }
  }, 60_000);
});
