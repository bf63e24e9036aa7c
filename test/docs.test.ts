import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SETTING_NAMES } from '../src/config.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');

describe('the README tells a new user everything they can set and run', () => {
  it.each(SETTING_NAMES)('documents the setting %s', (name) => {
    expect(readme).toContain(`\`${name}\``);
  });
  it.each(Object.keys(pkg.scripts))('documents npm script %s', (name) => {
    expect(readme).toMatch(new RegExp(`npm (run )?${name}\\b`));
  });
  it('starts with the two setup commands', () => {
    const setup = readme.slice(readme.indexOf('## Setup'));
    expect(setup).toMatch(/```sh\nnpm install\nnpm test\n```/);
  });
  it('.env.example names the required worker settings', () => {
    for (const name of ['LIVEKIT_URL', 'LIVEKIT_API_KEY', 'LIVEKIT_API_SECRET', 'OPENAI_API_KEY']) {
      expect(example).toMatch(new RegExp(`^${name}=`, 'm'));
    }
  });
});
