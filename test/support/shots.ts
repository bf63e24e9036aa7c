/**
 * Where the docs' screenshots go: `docs/` when `npm run docs:shots` makes them (DOCS_SHOTS=1), a temp
 * folder otherwise, so `npm test` changes no tracked file (test/support/global-setup.ts checks it).
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const DOCS = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs');
let temp: string | undefined;

export function shotPath(name: string): string {
  if (process.env.DOCS_SHOTS === '1') {
    mkdirSync(DOCS, { recursive: true });
    return join(DOCS, name);
  }
  temp ??= mkdtempSync(join(tmpdir(), 'switchboard-shots-'));
  return join(temp, name);
}
