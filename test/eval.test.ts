/**
 * `npm run eval` against the scripted server: the whole labelled set runs through the real
 * orchestrator and the reports are written. This proves the harness and the report, not a model:
 * the scripted server is a keyword script.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScriptedServer } from '../dev/scripted-llm.js';
import { readCases } from '../src/eval/cases.js';
import { startServer } from './support/harness.js';
import { closedServerUrl, keyRefusingServer } from './support/model-servers.js';
import { shotPath } from './support/shots.js';
import { SCRIPTED_NOTE, reportedModel } from '../src/cli/text-calls.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CHROMIUM, launchChromium } from './support/chromium.js';
import { runBatchCli } from './support/batch-cli.js';

const REPO = new URL('..', import.meta.url).pathname;

let server: ScriptedServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});

const runEval = (args: string[], env: Record<string, string> = {}) => runBatchCli('eval', env.OPENAI_BASE_URL ?? server.url, args, env);

interface Run {
  model: string;
  modelNote?: string;
  all: { calls: number; firstAccuracy: number; languageKept: number; confusion: Record<string, Record<string, number>> };
  byLanguage: Record<string, { calls: number }>;
  results: { id: string; route: string[] }[];
}

describe('npm run eval', () => {
  const cases = readCases(join(REPO, 'eval/cases.json'));

  it('the labelled set: at least 150 conversations, 40 or more in each language, every kind in each', () => {
    expect(cases.length).toBeGreaterThanOrEqual(150);
    const kinds = ['clear', 'ambiguous', 'chain', 'off-topic', 'human', 'hostile', 'switch'];
    for (const lang of ['en', 'hi', 'hinglish']) {
      const mine = cases.filter((c) => c.language === lang);
      expect(mine.length, lang).toBeGreaterThanOrEqual(40);
      expect(new Set(mine.map((c) => c.kind)), lang).toEqual(new Set(kinds));
    }
  });

  it('plays the whole set against the scripted server and writes the JSON and HTML reports (screenshot for docs/eval-report.png)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'eval-'));
    const { code, out: stdout, err } = await runEval(['--out', out, '--concurrency', '8']);
    expect(err).toMatch(/\[#{30}\] \d+\/\d+/); // the progress bar reached its end
    expect(code, err).toBe(0);
    const run = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Run;
    expect(run.all.calls).toBe(cases.length);
    expect(run.results.map((r) => r.id)).toEqual(cases.map((c) => c.id));
    expect(Object.keys(run.byLanguage).sort()).toEqual(['en', 'hi', 'hinglish']);
    const matrixTotal = Object.values(run.all.confusion).flatMap((row) => Object.values(row)).reduce((a, b) => a + b, 0);
    expect(matrixTotal).toBe(cases.length);
    // The scripted keyword model routes most clear cases right: a broken harness (no transfer seen) reads ~0.
    expect(run.all.firstAccuracy).toBeGreaterThan(0.5);
    // The scripted model answers in the language each desk's instructions name: a lost language reads < 1.
    expect(run.all.languageKept).toBe(1);
    expect(stdout).toMatch(/^Hindi\s+\d+ calls\s+first transfer/m);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
    // The scripted server says what it is: every report names it, not the configured model name.
    expect(run).toMatchObject({ model: 'scripted', modelNote: SCRIPTED_NOTE });
    expect(stdout).toContain(`Model: scripted (${SCRIPTED_NOTE}).`);
    expect(err).toContain(`against scripted (${SCRIPTED_NOTE})`);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain(SCRIPTED_NOTE);

    if (!existsSync(CHROMIUM)) {
      if (process.env.CI) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
      return;
    }
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      await page.goto(`file://${join(out, 'report.html')}`);
      expect(await page.locator('table.heat').count()).toBe(4); // all, and one per language
      expect(await page.locator('h2').allTextContents()).toContain('Confusion matrices');
      await page.screenshot({ path: shotPath('eval-report.png'), fullPage: false });
    } finally {
      await browser.close();
    }
  }, 300_000);

  it('exits 1 under --min-accuracy, and 2 with a bad option or a bad cases file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eval-cases-'));
    const wrong = join(dir, 'wrong.json');
    // Labelled wrong on purpose: a billing line expected at Sales.
    writeFileSync(wrong, JSON.stringify([{ id: 'x', language: 'en', kind: 'clear', turns: ['I was charged twice on my bill'], expect: { route: ['sales'], language: 'en' } }]));
    const low = await runEval(['--cases', wrong, '--out', dir, '--min-accuracy', '0.5']);
    expect(low.code).toBe(1);
    expect(low.err).toMatch(/under --min-accuracy/);
    const bad = await runEval(['--min-accuracy', '80']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--min-accuracy must be/);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ id: 'y', language: 'en', kind: 'clear', turns: [], expect: { route: [], language: 'en' } }]));
    const badFile = await runEval(['--cases', join(dir, 'bad.json')]);
    expect(badFile.code).toBe(2);
    expect(badFile.err).toMatch(/bad\.json: case 0\.turns/);
    expect(badFile.err).not.toMatch(/\n\s+at /);
  }, 120_000);

  it('--max-calls N plays N cases spread over every language and kind, not the file\'s first N', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eval-spread-'));
    const r = await runEval(['--max-calls', '21', '--concurrency', '4', '--out', dir]);
    expect(r.code, r.err).toBe(0);
    const run = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Run;
    const byId = new Map(cases.map((c) => [c.id, c]));
    const played = run.results.map((x) => byId.get(x.id)!);
    expect(played).toHaveLength(21);
    expect(new Set(played.map((c) => `${c.language}/${c.kind}`)).size).toBe(21);
    expect(r.err).toMatch(/Playing 21 conversations/);
  }, 120_000);

  it('a model server that cannot be reached, or refuses the key, is one line before any call is played (exit 2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eval-down-'));
    const closed = await closedServerUrl();
    const down = await runEval(['--out', dir], { OPENAI_BASE_URL: closed });
    expect(down.code).toBe(2);
    expect(down.err.trim().split('\n')).toEqual([
      `eval: could not reach the model server at ${closed} (ECONNREFUSED): check OPENAI_BASE_URL`,
    ]);
    expect(existsSync(join(dir, 'results.json'))).toBe(false);
    // A server that answers 401, as OpenAI does for a wrong key.
    const refusing = await keyRefusingServer();
    try {
      const { url } = refusing;
      const refused = await runEval(['--out', dir], { OPENAI_BASE_URL: url, OPENAI_API_KEY: 'sk-wrong' });
      expect(refused.code).toBe(2);
      expect(refused.err.trim()).toBe(`eval: the model server at ${url} refused the key (HTTP 401): check OPENAI_API_KEY`);
    } finally {
      refusing.close();
    }
  }, 120_000);

  it('an --out that cannot be written, and a language the cases do not have, are named before any call (exit 2)', async () => {
    const out = await runEval(['--out', join(REPO, 'README.md', 'x')]);
    expect(out.code).toBe(2);
    expect(out.err.trim()).toMatch(/^eval: cannot write the reports to --out .*README\.md\/x \(ENOTDIR\)$/);
    const lang = await runEval(['--language', 'fr']);
    expect(lang.code).toBe(2);
    expect(lang.err).toMatch(/^eval: --language fr: the cases are in en, hi, hinglish\n/);
  }, 120_000);
});

describe('the model a run names', () => {
  /** A server whose `/models` answers `body` (status 200), or `status` with no list. */
  async function modelsServer(body: unknown, status = 200) {
    const server = createServer((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    }).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, close: () => server.close() };
  }
  const ask = (url: string) => reportedModel({ OPENAI_BASE_URL: url, OPENAI_API_KEY: 'sk-x', LLM_MODEL: 'gpt-4.1-mini' });

  it('the configured model when the server lists it; ours, said plainly, when it is the scripted server; marked when not listed', async () => {
    const listed = await modelsServer({ data: [{ id: 'gpt-4.1-mini', owned_by: 'openai' }, { id: 'gpt-4o', owned_by: 'openai' }] });
    const scripted = await modelsServer({ data: [{ id: 'scripted', owned_by: 'switchboard' }] });
    const other = await modelsServer({ data: [{ id: 'llama-3.1-8b', owned_by: 'vllm' }] });
    const none = await modelsServer({ error: 'no such route' }, 404);
    try {
      expect(await ask(listed.url)).toEqual({ model: 'gpt-4.1-mini' });
      expect(await ask(scripted.url)).toEqual({ model: 'scripted', note: SCRIPTED_NOTE });
      expect(await ask(other.url)).toEqual({ model: 'gpt-4.1-mini', note: "not listed by the server's /models" });
      expect(await ask(none.url)).toEqual({ model: 'gpt-4.1-mini' });
    } finally {
      for (const s of [listed, scripted, other, none]) s.close();
    }
  });
});
