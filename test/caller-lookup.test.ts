import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { enrichCaller } from '../src/telephony/caller.js';

const dir = mkdtempSync(join(tmpdir(), 'lookup-'));
const mod = (name: string, body: string) => {
  const p = join(dir, name);
  writeFileSync(p, body);
  return p;
};

describe('CALLER_LOOKUP', () => {
  it('enriches caller info before the greeting', async () => {
    const p = mod('crm.mjs', `export default async (c) => c.phoneNumber === '+919876543210' ? { name: 'Maya', accountId: 'AC-7', phoneNumber: 'ignored?' } : {};`);
    expect(await enrichCaller(p, { phoneNumber: '+919876543210' })).toEqual({ name: 'Maya', accountId: 'AC-7', phoneNumber: 'ignored?' });
    expect(await enrichCaller(p, { phoneNumber: '+10000000000' })).toEqual({ phoneNumber: '+10000000000' });
  });

  it('a failing, slow or missing lookup never holds up the call', async () => {
    const errors: unknown[] = [];
    const failing = mod('fail.mjs', `export default async () => { throw new Error('CRM down'); };`);
    const slow = mod('slow.mjs', `export default () => new Promise((r) => setTimeout(() => r({ name: 'late' }), 5000));`);
    const caller = { phoneNumber: '+14155550100' };
    expect(await enrichCaller(failing, caller, (e) => errors.push(e))).toEqual(caller);
    const t = Date.now();
    expect(await enrichCaller(slow, caller, (e) => errors.push(e), 200)).toEqual(caller);
    expect(Date.now() - t).toBeLessThan(2000);
    expect(await enrichCaller(join(dir, 'nope.mjs'), caller, (e) => errors.push(e))).toEqual(caller);
    expect(errors).toHaveLength(3);
  });
});
