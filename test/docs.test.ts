import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SETTING_NAMES } from '../src/config.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8').replace(/\r\n/g, '\n');

/** The README (the front page) and every guide in docs/, by path from the repository's root. */
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const readme = read('README.md');
const all = DOCS.map(read).join('\n');
const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
const example = read('.env.example');

describe('the README and docs/ tell a new user everything they can set and run', () => {
  it.each(SETTING_NAMES)('documents the setting %s', (name) => {
    expect(all.includes(`\`${name}\``), `\`${name}\` is in neither README.md nor docs/: add it to docs/settings.md`).toBe(true);
  });
  it.each(Object.keys(pkg.scripts))('documents npm script %s', (name) => {
    const said = new RegExp(`npm (run )?${name}\\b`).test(all);
    expect(said, `\`npm run ${name}\` is in neither README.md nor docs/: add it to the README's Commands`).toBe(true);
  });
  it('the README has the two setup commands (.ci/run runs them)', () => {
    const setup = readme.slice(readme.indexOf('## Setup'));
    expect(setup).toMatch(/```sh\nnpm install\nnpm test\n```/);
  });
  it('.env.example names the required worker settings', () => {
    for (const name of ['LIVEKIT_URL', 'LIVEKIT_API_KEY', 'LIVEKIT_API_SECRET', 'OPENAI_API_KEY']) {
      expect(example).toMatch(new RegExp(`^${name}=`, 'm'));
    }
  });
});

describe('the README is a front page', () => {
  it('is at most 250 lines', () => {
    const lines = readme.trimEnd().split('\n').length;
    expect(lines, `README.md has ${lines} lines: move the detail into a guide in docs/`).toBeLessThanOrEqual(250);
  });
  it('starts key-free: `npm install` and `npm run demo` before any mention of OPENAI_API_KEY', () => {
    const demo = readme.indexOf('npm run demo');
    const key = readme.indexOf('OPENAI_API_KEY');
    expect(demo).toBeGreaterThan(-1);
    expect(readme.indexOf('npm install')).toBeLessThan(demo);
    if (key !== -1) expect(demo).toBeLessThan(key);
    // The first code block a reader meets is the key-free start.
    expect(readme.indexOf('```')).toBe(readme.indexOf('```sh\nnpm install\nnpm run demo\n```'));
  });
});

// ---- Links: every relative link and #anchor in README.md and docs/*.md leads somewhere. ----

/** GitHub's heading anchor: lowercase, punctuation dropped (hyphens, underscores and spaces kept), spaces → hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]*>/g, '')
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Markdown text with fenced code blocks and inline code spans blanked out (links inside them are not links). */
function prose(md: string): string {
  return md
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
    .replace(/`[^`\n]*`/g, '');
}

/** The anchors a Markdown file's headings make, GitHub's way (a repeated heading gets -1, -2, …). */
function anchorsOf(md: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  const withoutCode = md.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const m of withoutCode.matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = slug(m[1]!.replace(/`/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1'));
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Every link target in a Markdown file: inline links and images `[..](target)`, and reference definitions. */
function linksOf(md: string): string[] {
  const text = prose(md);
  const targets: string[] = [];
  for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(m[1]!);
  for (const m of text.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)) targets.push(m[1]!);
  return targets;
}

/** What is wrong with each relative link of `file` (a path from the root); [] when every one leads somewhere. */
function deadLinks(file: string, md: string, readTarget: (path: string) => string | null): string[] {
  const dead: string[] = [];
  for (const target of linksOf(md)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue; // http:, https:, mailto:, …
    const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
    const path = pathPart === '' ? file : join(dirname(file), decodeURIComponent(pathPart));
    if (relative(ROOT, join(ROOT, path)).startsWith('..')) {
      dead.push(`${target}: outside the repository`);
      continue;
    }
    const body = readTarget(path);
    if (body === null) {
      dead.push(`${target}: no file ${path}`);
      continue;
    }
    if (anchor !== undefined) {
      if (!path.endsWith('.md')) dead.push(`${target}: an anchor into ${path}, which has no headings`);
      else if (!anchorsOf(body).has(anchor)) dead.push(`${target}: no heading in ${path} makes #${anchor}`);
    }
  }
  return dead;
}

/** A repository file's text ('' for a directory or a binary file), or null when there is none. */
function readFromRepo(path: string): string | null {
  const abs = join(ROOT, path);
  if (!existsSync(abs)) return null;
  if (statSync(abs).isDirectory() || !/\.(md|markdown|txt)$/i.test(path)) return '';
  return read(path);
}

describe('no dead links in the README and docs/', () => {
  it('finds the docs', () => {
    expect(DOCS).toContain('docs/settings.md');
    expect(DOCS.length).toBeGreaterThan(5);
  });
  it.each(DOCS)('%s: every relative link and #anchor leads to a file and heading that exist', (file) => {
    expect(deadLinks(file, read(file), readFromRepo)).toEqual([]);
  });
  it('catches a dead link, a missing anchor and a stale same-file anchor', () => {
    const md = [
      '# Title: `npm run x` (one)',
      '## Warm transfer: brief the person first (`HUMAN_TRANSFER_MODE=warm`)',
      '## Title: `npm run x` (one)',
      '[ok](#title-npm-run-x-one) [ok](#title-npm-run-x-one-1) [ok](#warm-transfer-brief-the-person-first-human_transfer_modewarm)',
      '[ok](settings.md#settings) ![ok](inspector.png) [ok](https://example.com/x.md) `[not a link](nowhere.md)`',
      '[gone](nowhere.md) [bad anchor](settings.md#no-such-heading) [stale](#old-title)',
      '```md',
      '[in code](nowhere-either.md)',
      '```',
    ].join('\n');
    const files: Record<string, string> = { 'docs/settings.md': '# Settings\n', 'docs/inspector.png': '' };
    expect(deadLinks('docs/guide.md', md, (p) => (p === 'docs/guide.md' ? md : (files[p] ?? null)))).toEqual([
      'nowhere.md: no file docs/nowhere.md',
      'settings.md#no-such-heading: no heading in docs/settings.md makes #no-such-heading',
      '#old-title: no heading in docs/guide.md makes #old-title',
    ]);
  });
});
