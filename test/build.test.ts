/**
 * The production build: `npm run build` compiles machines/ and src/ to dist/, `npm start` runs
 * `node dist/…` (no tsx at run time), and the Dockerfile makes an image of it.
 *
 * Images cannot be pulled here, so the Dockerfile is carried out by this file, from the Dockerfile
 * itself: the build stage's `npm run build` (into a temp directory, not the checkout's dist/), then every
 * instruction of the run stage in a clean temp directory standing for /app — its COPY lines (from the
 * build context, minus .dockerignore, or from the build stage's dist/), its RUN lines as written (a
 * BuildKit `--mount` flag dropped; the npm cache is this machine's), its ENV — then its CMD, against a
 * local LiveKit stand-in the worker registers with, until its HEALTHCHECK command passes. An instruction
 * this file does not know fails the test, so the Dockerfile and this test cannot drift apart.
 * What only Docker can check is not checked here: the base image, the user (USER), EXPOSE.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeLiveKit, startFakeLiveKit } from './support/fake-livekit.js';
import { freePort } from './support/ports.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
};

// ---- the Dockerfile, read ---------------------------------------------------------------------------

interface Step {
  op: string;
  args: string;
  line: number;
}
interface Stage {
  name?: string;
  steps: Step[];
}

/** The Dockerfile's stages and their instructions (comments dropped, `\` continuations joined). */
function readDockerfile(): Stage[] {
  const lines = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split('\n');
  const stages: Stage[] = [];
  for (let i = 0; i < lines.length; i++) {
    const at = i + 1;
    let text = lines[i]!.trim();
    if (!text || text.startsWith('#')) continue;
    while (text.endsWith('\\') && i + 1 < lines.length) text = `${text.slice(0, -1).trim()} ${lines[++i]!.trim()}`;
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(text);
    if (!m) throw new Error(`Dockerfile line ${at}: cannot read "${text}"`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!;
    if (op === 'FROM') stages.push({ name: /\bAS\s+(\S+)\s*$/i.exec(args)?.[1], steps: [] });
    else if (stages.length) stages.at(-1)!.steps.push({ op, args, line: at });
  }
  return stages;
}

/** `--name=value` flags before an instruction's arguments, and what follows them. */
function flags(args: string): { flags: Record<string, string>; rest: string } {
  const out: Record<string, string> = {};
  let rest = args;
  for (let m = /^--([\w-]+)(?:=(\S*))?\s+/.exec(rest); m; m = /^--([\w-]+)(?:=(\S*))?\s+/.exec(rest)) {
    out[m[1]!] = m[2] ?? '';
    rest = rest.slice(m[0].length);
  }
  return { flags: out, rest };
}

/** `ENV A=1 B="two words"` → { A: '1', B: 'two words' }. */
function envPairs(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of args.matchAll(/(\w+)=("([^"]*)"|\S*)/g)) out[m[1]!] = m[3] ?? m[2]!;
  return out;
}

/** .dockerignore as Docker reads it: patterns from the context's root, `*` within a name, `**` across, `!` to keep. */
function dockerignore(): (path: string) => boolean {
  const rules = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const keep = l.startsWith('!');
      const pattern = posix.normalize((keep ? l.slice(1) : l).replace(/^\/+/, '')).replace(/\/+$/, '');
      const source = pattern
        .split(/(\*\*\/?|\*|\?)/)
        .map((p) => (p.startsWith('**') ? '(?:.*/)?' : p === '*' ? '[^/]*' : p === '?' ? '[^/]' : p.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('');
      return { keep, re: new RegExp(`^${source}(?:/.*)?$`) };
    });
  return (path) => {
    let ignored = false;
    for (const r of rules) if (r.re.test(path)) ignored = !r.keep;
    return ignored;
  };
}

// ---- processes ----------------------------------------------------------------------------------------

interface Proc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const procs: Proc[] = [];
function start(cmd: string[], cwd: string, env: NodeJS.ProcessEnv): Proc {
  const child = spawn(cmd[0]!, cmd.slice(1), { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.once('error', () => res({ code: -1, signal: null }));
    child.once('close', (code, signal) => res({ code, signal }));
  });
  const p = { child, out: () => out, err: () => err, exited };
  procs.push(p);
  return p;
}
/** The process and everything it forked (job processes, the inference process). */
function killGroup(p: Proc): void {
  if (p.child.pid === undefined) return;
  try {
    process.kill(-p.child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the checks -------------------------------------------------------------------------------------

const stages = readDockerfile();
const buildStage = stages.find((s) => s.name === 'build');
const runStage = stages.at(-1)!;
/** The run stage's last `op` instruction. */
const last = (op: string) => runStage.steps.filter((s) => s.op === op).at(-1);
/** An exec-form command (`["node", …]`: no shell in between, so signals reach the program). */
const execForm = (text: string | undefined, what: string): string[] => {
  try {
    const cmd = JSON.parse(text ?? '') as unknown;
    if (Array.isArray(cmd) && cmd.length && cmd.every((a) => typeof a === 'string')) return cmd as string[];
  } catch {
    // said below
  }
  throw new Error(`Dockerfile: ${what} must be in exec form, ["…", "…"]; it is ${text ?? 'missing'}`);
};
/** CMD ["…"] */
const command = () => execForm(last('CMD')?.args, 'CMD');
/** HEALTHCHECK [options] CMD ["…"] */
const healthCheck = () => execForm(flags(last('HEALTHCHECK')?.args ?? '').rest.replace(/^CMD\s+/i, ''), 'HEALTHCHECK … CMD');

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-build-'));
});
afterAll(() => {
  for (const p of procs.splice(0)) killGroup(p);
  rmSync(tmp, { recursive: true, force: true });
});

describe('production build', () => {
  it('npm run build compiles to dist/; npm start is the image CMD: node dist/…, no tsx', () => {
    expect(pkg.scripts.build, 'a "build" script').toMatch(/^tsc -p tsconfig\.build\.json$/);
    expect(pkg.scripts.start, 'npm start').not.toMatch(/\btsx\b/);
    const cmd = command();
    expect(cmd.slice(0, 1), 'the image runs node itself').toEqual(['node']);
    expect(cmd.join(' '), 'npm start and the image CMD run the same command').toBe(pkg.scripts.start);
    expect(cmd.at(-1)).toBe('start');
    // tsx is a development tool: an image with production dependencies only has none.
    expect(Object.keys(pkg.dependencies)).not.toContain('tsx');
    expect(Object.keys(pkg.dependencies)).not.toContain('typescript');
    // The Docker build compiles in its build stage, with the same script.
    expect(buildStage?.steps.filter((s) => s.op === 'RUN').map((s) => s.args)).toContain('npm run build');
    expect(runStage).not.toBe(buildStage);
    // The build reads only what the build context (minus .dockerignore) holds.
    const listed = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json', '--listFilesOnly'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(listed.status, listed.stderr).toBe(0);
    const ignored = dockerignore();
    const ours = listed.stdout
      .split('\n')
      .filter(Boolean)
      .map((f) => relative(ROOT, f))
      .filter((f) => !f.startsWith('node_modules/') && !f.startsWith('..'));
    expect(ours.length).toBeGreaterThan(20);
    expect(ours.filter(ignored), 'sources the Docker build would not see').toEqual([]);
    for (const f of ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json']) expect(ignored(f), f).toBe(false);
  }, 60_000);

  it('the Dockerfile run stage, step by step in a clean directory: the worker starts from dist/ and its health check passes', async () => {
    const started = Date.now();
    const timings: string[] = [];
    const lap = (what: string) => timings.push(`${what} ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // The build stage's `npm run build`, into a temp directory (npm test leaves the checkout as it was).
    const built = join(tmp, 'build', 'dist');
    await run('npm', ['run', 'build', '--', '--outDir', built], { cwd: ROOT, timeout: 180_000 });
    expect(existsSync(join(built, 'src', 'cli', 'worker.js'))).toBe(true);
    expect(existsSync(join(built, 'src', 'cli', 'worker.js.map')), 'source maps').toBe(true);
    expect(readdirSync(built).sort(), 'only machines/ and src/ (and what src imports) are compiled').not.toContain('test');
    lap('build');

    // The run stage, instruction by instruction; /app is `app`.
    const app = join(tmp, 'image', 'app');
    mkdirSync(app, { recursive: true });
    const ignored = dockerignore();
    const env: Record<string, string> = {};
    const done: string[] = [];
    for (const step of runStage.steps) {
      const where = `Dockerfile line ${step.line}: ${step.op} ${step.args}`;
      const { flags: f, rest } = flags(step.args);
      switch (step.op) {
        case 'WORKDIR':
          expect(step.args, where).toBe('/app');
          break;
        case 'COPY': {
          // Docker's rules: a directory's contents go to the destination; files go into it when it ends
          // in `/` (or there are several sources), else become it.
          const parts = rest.split(/\s+/);
          const destArg = parts.pop()!;
          const dest = resolve(app, destArg.replace(/^\/app(\/|$)/, './'));
          expect(dest === app || dest.startsWith(`${app}/`), where).toBe(true);
          for (const src of parts) {
            let from: string;
            if (f.from !== undefined) {
              expect(f.from, where).toBe('build');
              // The build stage's /app/dist is what `npm run build` wrote above; nothing else of it is copied.
              expect(src, `${where}: only /app/dist comes from the build stage`).toBe('/app/dist');
              from = built;
            } else {
              expect(ignored(src), `${where}: ${src} is in .dockerignore`).toBe(false);
              from = join(ROOT, src);
            }
            const into = statSync(from).isDirectory() || !(destArg.endsWith('/') || parts.length > 1) ? dest : join(dest, posix.basename(src));
            cpSync(from, into, { recursive: true, filter: (p) => f.from !== undefined || !ignored(relative(ROOT, p)) });
          }
          break;
        }
        case 'RUN': {
          // A BuildKit cache mount for npm's cache is the one flag: here, this machine's npm cache.
          expect(Object.keys(f).filter((k) => k !== 'mount'), where).toEqual([]);
          if (f.mount !== undefined) expect(f.mount, where).toMatch(/^type=cache,target=\/root\/\.npm$/);
          // As written, in /app, with the ENV so far; the npm cache is this machine's (`--mount=type=cache`).
          await run('sh', ['-c', rest], {
            cwd: app,
            timeout: 240_000,
            env: { PATH: process.env.PATH, HOME: process.env.HOME, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false', ...env },
          });
          lap(rest);
          break;
        }
        case 'ENV':
          Object.assign(env, envPairs(step.args));
          break;
        case 'USER':
        case 'EXPOSE':
        case 'ARG':
        case 'LABEL':
        case 'HEALTHCHECK':
        case 'CMD':
          break; // Docker's business, or read below
        default:
          throw new Error(`${where}: this test does not know ${step.op}; teach it, or the image and the test drift apart`);
      }
      done.push(step.op);
    }
    expect(done).toContain('RUN');
    // Production dependencies only: no tsx, no vitest in the image.
    expect(existsSync(join(app, 'node_modules', '@livekit', 'agents')), 'production dependencies installed').toBe(true);
    expect(existsSync(join(app, 'node_modules', 'tsx')), 'tsx in the image').toBe(false);
    expect(existsSync(join(app, 'node_modules', 'vitest')), 'vitest in the image').toBe(false);
    expect(existsSync(join(app, 'src')), 'TypeScript sources in the image').toBe(false);
    expect(existsSync(join(app, 'visualizer', 'index.html')), 'the inspector page').toBe(true);

    // The image's settings: WORKER_HOST=0.0.0.0 so the health check is reachable from outside the container.
    expect(env.WORKER_HOST).toBe('0.0.0.0');
    expect(env.WORKER_PORT).toMatch(/^\d+$/);
    expect(env.NODE_ENV).toBe('production');

    // CMD, with what `docker run --env-file .env` would add: LiveKit (a local stand-in) and a key.
    const KEY = 'APIbuildtest';
    const SECRET = 'build-test-secret-that-is-long-enough-for-hs256';
    const fake: FakeLiveKit = await startFakeLiveKit({ apiKey: KEY, apiSecret: SECRET });
    const port = String(await freePort()); // 8081 may be taken here; the health check reads WORKER_PORT
    const runEnv = {
      PATH: process.env.PATH,
      HOME: app,
      CALLS_DB: process.env.CALLS_DB,
      ...env,
      WORKER_PORT: port,
      LIVEKIT_URL: fake.url.replace(/^http/, 'ws'),
      LIVEKIT_API_KEY: KEY,
      LIVEKIT_API_SECRET: SECRET,
      OPENAI_API_KEY: 'sk-build-test-not-a-real-key',
    };
    const cmd = command();
    const check = healthCheck();
    const worker = start(cmd, app, runEnv);
    const tell = () => `\nstdout:\n${worker.out().slice(-3000)}\nstderr:\n${worker.err().slice(-3000)}`;
    try {
      // The HEALTHCHECK command, as Docker runs it inside the container, until it passes.
      const deadline = Date.now() + 150_000;
      let healthy = false;
      let exited: { code: number | null } | undefined;
      void worker.exited.then((e) => (exited = e));
      while (!healthy) {
        if (exited) throw new Error(`the worker exited (${exited.code}) before its health check passed${tell()}`);
        if (Date.now() > deadline) throw new Error(`the health check did not pass in 150 s${tell()}`);
        const r = spawnSync(check[0]!, check.slice(1), { cwd: app, env: runEnv, timeout: 10_000 });
        healthy = r.status === 0;
        if (!healthy) await sleep(500);
      }
      lap('healthy');
      expect(fake.state.workers.map((w) => [w.agentName, w.connected])).toEqual([['switchboard', true]]);
      expect(worker.out() + worker.err()).not.toMatch(/native binding unavailable|Cannot find module|ERR_MODULE_NOT_FOUND/);
      const info = (await (await fetch(`http://127.0.0.1:${port}/worker`)).json()) as { agent_name: string };
      expect(info.agent_name).toBe('switchboard');
      // Reachable from outside loopback (another container, the orchestrator's probe).
      const external = Object.values(networkInterfaces())
        .flat()
        .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
      if (external) expect((await fetch(`http://${external}:${port}/`)).status).toBe(200);

      // `docker stop`: SIGTERM reaches the CMD's process (no npm or shell in between) and the worker starts
      // draining: it tells LiveKit it takes no more calls. (Its exit waits for calls under way, and for job
      // processes still starting, up to LiveKit's 60 s: not waited for here.)
      process.kill(worker.child.pid!, 'SIGTERM');
      const drainBy = Date.now() + 20_000;
      while (!fake.state.workers[0]!.statuses.includes('full')) {
        if (Date.now() > drainBy) throw new Error(`no drain within 20 s of SIGTERM${tell()}`);
        await sleep(100);
      }
    } finally {
      killGroup(worker);
      await fake.close();
    }

    // The inspector from the same image: its page found from dist/ (visualizer/ at the package root).
    const inspector = start(['node', 'dist/src/cli/inspector.js'], app, {
      PATH: process.env.PATH,
      HOME: app,
      CALLS_DB: process.env.CALLS_DB,
      INSPECTOR_PORT: '0',
    });
    try {
      const deadline = Date.now() + 30_000;
      let url: string | undefined;
      while (!(url = /Inspector: (http:\/\/\S+)/.exec(inspector.out())?.[1])) {
        if (Date.now() > deadline) throw new Error(`the inspector did not start\n${inspector.out()}\n${inspector.err()}`);
        await sleep(100);
      }
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(await page.text()).toBe(readFileSync(join(ROOT, 'visualizer', 'index.html'), 'utf8'));
      for (const asset of ['app.js', 'style.css', 'vendor/elk.bundled.js']) {
        expect((await fetch(new URL(asset, url))).status, asset).toBe(200);
      }
    } finally {
      killGroup(inspector);
    }
    lap('inspector');
    const size = (dir: string): number =>
      readdirSync(dir, { withFileTypes: true }).reduce((n, e) => {
        const p = join(dir, e.name);
        return n + (e.isDirectory() ? size(p) : e.isFile() ? statSync(p).size : 0);
      }, 0);
    process.stdout.write(
      `build.test: ${timings.join(', ')}; /app ${(size(app) / 1e6).toFixed(0)} MB (node_modules ${(size(join(app, 'node_modules')) / 1e6).toFixed(0)} MB)\n`,
    );
  }, 420_000);
});
