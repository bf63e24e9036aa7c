/**
 * `npm run setup:sip` against the local LiveKit stand-in: the first run creates the inbound trunk and the
 * dispatch rule, a second run changes nothing, a changed setting updates only its object, a dry run only
 * lists, and LiveKit refusing the key (bad secret, no SIP admin grant) or a missing setting is reported in
 * one clear line with the right exit code.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config.js';
import { type SetupSipSettings, describeFailure, loadSetupSipSettings, setupSip } from '../src/telephony/sip-setup.js';
import { type FakeLiveKit, type FakeLiveKitOptions, startFakeLiveKit } from './support/fake-livekit.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const KEY = 'APIsetupkey';
const SECRET = 'setup-secret-that-is-long-enough-for-hs256';
const NUMBER = '+919876543210';

let tmp: string;
let emptyEnvFile: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-setup-sip-'));
  emptyEnvFile = join(tmp, 'empty.env');
  writeFileSync(emptyEnvFile, '');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let fake: FakeLiveKit | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});
async function start(opts: Partial<FakeLiveKitOptions> = {}): Promise<FakeLiveKit> {
  fake = await startFakeLiveKit({ apiKey: KEY, apiSecret: SECRET, ...opts });
  return fake;
}

function settingsFor(f: FakeLiveKit, env: Record<string, string> = {}): SetupSipSettings {
  return loadSetupSipSettings({
    LIVEKIT_URL: f.url.replace('http:', 'ws:'), // as in .env: the worker's ws:// URL
    LIVEKIT_API_KEY: KEY,
    LIVEKIT_API_SECRET: SECRET,
    VOBIZ_NUMBERS: NUMBER,
    ...env,
  });
}

async function run(f: FakeLiveKit, env: Record<string, string> = {}, dryRun = false) {
  const lines: string[] = [];
  const result = await setupSip(settingsFor(f, env), { dryRun, log: (l) => lines.push(l) });
  return { result, lines };
}

const writes = (f: FakeLiveKit, from = 0) =>
  f.requests.slice(from).filter((r) => /^(Create|Update|Delete)/.test(r.method)).map((r) => r.method);

/** Runs `tsx src/cli/setup-sip.ts` with only PATH, HOME, an empty ENV_FILE and `env`; never blocks the fake. */
function runCommand(env: Record<string, string>, args: string[] = []) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((res, rej) => {
    const child = spawn(TSX, ['src/cli/setup-sip.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ENV_FILE: emptyEnvFile, CALLS_DB: process.env.CALLS_DB, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`setup:sip did not exit in 30 s\n${stderr}`));
    }, 30_000);
    child.once('error', rej);
    child.once('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}

const commandEnv = (f: FakeLiveKit, env: Record<string, string> = {}) => ({
  LIVEKIT_URL: f.url,
  LIVEKIT_API_KEY: KEY,
  LIVEKIT_API_SECRET: SECRET,
  VOBIZ_NUMBERS: NUMBER,
  ...env,
});

describe('setup:sip', () => {
  it('first run creates the inbound trunk and an individual dispatch rule for the agent, attached to it', async () => {
    const f = await start();
    const { result, lines } = await run(f);

    expect(f.state.inboundTrunks).toHaveLength(1);
    const trunk = f.state.inboundTrunks[0];
    expect(trunk).toMatchObject({ name: 'switchboard-vobiz', numbers: [NUMBER], allowedAddresses: ['13.233.44.61/32'] });

    expect(f.state.dispatchRules).toHaveLength(1);
    const rule = f.state.dispatchRules[0];
    expect(rule.name).toBe('switchboard');
    expect(rule.rule?.rule.case).toBe('dispatchRuleIndividual');
    expect(rule.rule?.rule.value).toMatchObject({ roomPrefix: 'call-', pin: '' });
    expect(rule.trunkIds).toEqual([trunk.sipTrunkId]);
    expect(rule.roomConfig?.agents.map((a) => a.agentName)).toEqual(['switchboard']);

    // What went over the wire, signed with the SIP admin grant.
    expect(writes(f)).toEqual(['CreateSIPInboundTrunk', 'CreateSIPDispatchRule']);
    expect(f.calls('CreateSIPDispatchRule')[0].body).toMatchObject({
      rule: { dispatchRuleIndividual: { roomPrefix: 'call-' } },
      trunkIds: [trunk.sipTrunkId],
      roomConfig: { agents: [{ agentName: 'switchboard' }] },
    });
    expect(f.requests.every((r) => r.verified && r.claims?.sip?.admin === true)).toBe(true);

    expect(result.trunk).toEqual({ action: 'created', id: trunk.sipTrunkId, changed: [] });
    expect(result.dispatchRule).toEqual({ action: 'created', id: rule.sipDispatchRuleId, changed: [] });
    expect(lines).toEqual([
      `inbound trunk "switchboard-vobiz" ${trunk.sipTrunkId}: created (numbers ${NUMBER}; allowed addresses 13.233.44.61/32)`,
      `dispatch rule "switchboard" ${rule.sipDispatchRuleId}: created (one room per caller "call-…", agent "switchboard", trunk ${trunk.sipTrunkId})`,
    ]);
  });

  it('a second run changes nothing: list calls only, every line "unchanged"', async () => {
    const f = await start();
    await run(f);
    const before = f.requests.length;
    const { result, lines } = await run(f);
    expect(writes(f, before)).toEqual([]);
    expect(f.requests.slice(before).map((r) => r.method)).toEqual(['ListSIPInboundTrunk', 'ListSIPDispatchRule']);
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/: unchanged$/);
    expect([result.trunk.action, result.dispatchRule.action]).toEqual(['unchanged', 'unchanged']);
  });

  it('changed VOBIZ_NUMBERS: the trunk is updated (numbers only), the rule is unchanged', async () => {
    const f = await start();
    await run(f);
    const id = f.state.inboundTrunks[0].sipTrunkId;
    const before = f.requests.length;
    const { lines } = await run(f, { VOBIZ_NUMBERS: `${NUMBER}, +918012345678` });
    expect(writes(f, before)).toEqual(['UpdateSIPInboundTrunk']);
    expect(f.calls('UpdateSIPInboundTrunk')[0].body).toEqual({
      sipTrunkId: id,
      update: { numbers: { set: [NUMBER, '+918012345678'] } },
    });
    expect(f.state.inboundTrunks[0]).toMatchObject({ sipTrunkId: id, numbers: [NUMBER, '+918012345678'], allowedAddresses: ['13.233.44.61/32'] });
    expect(lines[0]).toBe(`inbound trunk "switchboard-vobiz" ${id}: updated (numbers)`);
    expect(lines[1]).toMatch(/: unchanged$/);
  });

  it('changed AGENT_NAME and gateway list: the rule and the trunk are updated in place', async () => {
    const f = await start();
    await run(f);
    const ruleId = f.state.dispatchRules[0].sipDispatchRuleId;
    const before = f.requests.length;
    const { lines } = await run(f, { AGENT_NAME: 'frontdesk', VOBIZ_ALLOWED_ADDRESSES: '13.233.44.61/32,15.206.0.0/16' });
    expect(writes(f, before)).toEqual(['UpdateSIPInboundTrunk', 'UpdateSIPDispatchRule']);
    expect(lines[0]).toMatch(/: updated \(allowed addresses\)$/);
    expect(lines[1]).toBe(`dispatch rule "switchboard" ${ruleId}: updated (agent name)`);
    expect(f.state.dispatchRules).toHaveLength(1);
    expect(f.state.dispatchRules[0].roomConfig?.agents.map((a) => a.agentName)).toEqual(['frontdesk']);
    expect(f.state.dispatchRules[0].trunkIds).toEqual([f.state.inboundTrunks[0].sipTrunkId]);
    expect(f.state.inboundTrunks[0].allowedAddresses).toEqual(['13.233.44.61/32', '15.206.0.0/16']);
  });

  it('--dry-run on an empty server only lists, and says what it would create', async () => {
    const f = await start();
    const { result, lines } = await run(f, {}, true);
    expect(f.requests.map((r) => r.method)).toEqual(['ListSIPInboundTrunk', 'ListSIPDispatchRule']);
    expect(f.state.inboundTrunks).toEqual([]);
    expect(f.state.dispatchRules).toEqual([]);
    expect([result.trunk.action, result.dispatchRule.action]).toEqual(['would create', 'would create']);
    expect(lines).toEqual([
      `inbound trunk "switchboard-vobiz": would create (numbers ${NUMBER}; allowed addresses 13.233.44.61/32)`,
      'dispatch rule "switchboard": would create (one room per caller "call-…", agent "switchboard", trunk (the new trunk "switchboard-vobiz"))',
    ]);
  });

  it('--dry-run with a change says what it would update, and updates nothing', async () => {
    const f = await start();
    await run(f);
    const before = f.requests.length;
    const { lines } = await run(f, { VOBIZ_NUMBERS: '+918012345678' }, true);
    expect(writes(f, before)).toEqual([]);
    expect(lines[0]).toMatch(new RegExp(`: would update \\(numbers \\${NUMBER} → \\+918012345678\\)$`));
    expect(f.state.inboundTrunks[0].numbers).toEqual([NUMBER]);
  });

  it('refuses to guess between two trunks with its name', async () => {
    const f = await start();
    await run(f);
    f.state.inboundTrunks.push(f.state.inboundTrunks[0].clone());
    f.state.inboundTrunks[1].sipTrunkId = 'ST_duplicate';
    await expect(run(f)).rejects.toThrow(/2 inbound trunks are named "switchboard-vobiz" \(ST_\w+, ST_duplicate\)/);
  });
});

describe('setup:sip failures in one line', () => {
  it('LiveKit not reachable: names the URL and the setting to check', async () => {
    const f = await start();
    const settings = settingsFor(f);
    await f.close();
    fake = undefined;
    const err = await setupSip(settings, { log: () => {} }).catch((e: unknown) => e);
    expect(describeFailure(err, settings)).toBe(`cannot reach LiveKit at ${settings.LIVEKIT_URL} (ECONNREFUSED); check LIVEKIT_URL`);
  });

  it('another LiveKit error: status, Twirp code and message', async () => {
    const f = await start();
    f.failNext('ListSIPInboundTrunk', { code: 'unavailable', msg: 'sip not connected (redis required)' });
    const settings = settingsFor(f);
    const err = await setupSip(settings, { log: () => {} }).catch((e: unknown) => e);
    expect(describeFailure(err, settings)).toBe(
      `LiveKit at ${settings.LIVEKIT_URL} answered HTTP 503 unavailable: sip not connected (redis required)`,
    );
  });
});

describe('setup:sip settings', () => {
  it('names each missing or malformed setting', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadSetupSipSettings(env);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems;
      }
      return [];
    };
    expect(problems({})).toEqual([
      'LIVEKIT_URL is not set',
      'LIVEKIT_API_KEY is not set',
      'LIVEKIT_API_SECRET is not set',
      'VOBIZ_NUMBERS is not set',
    ]);
    const bad = problems({
      LIVEKIT_URL: 'nope',
      LIVEKIT_API_KEY: KEY,
      LIVEKIT_API_SECRET: SECRET,
      VOBIZ_NUMBERS: '+919876543210, 98765',
      VOBIZ_ALLOWED_ADDRESSES: '13.233.44.61/33',
    });
    expect(bad).toHaveLength(3);
    expect(bad[0]).toMatch(/^LIVEKIT_URL must be a URL/);
    expect(bad[1]).toBe('VOBIZ_NUMBERS must be comma-separated phone numbers (+919876543210, +91 80123 45678); not a number: 98765');
    expect(bad[2]).toMatch(/^VOBIZ_ALLOWED_ADDRESSES must be comma-separated IP addresses or CIDR ranges .*13\.233\.44\.61\/33$/);
  });

  it('VOBIZ_NUMBERS as people write them: spaces, dashes, a trunk 0 or the international 00 become E.164', () => {
    const s = loadSetupSipSettings({
      LIVEKIT_URL: 'wss://x.livekit.cloud',
      LIVEKIT_API_KEY: KEY,
      LIVEKIT_API_SECRET: SECRET,
      VOBIZ_NUMBERS: '+91 80123 45678, 080-1234-5679, 0091 80123 45680, +918012345678',
    });
    expect(s.VOBIZ_NUMBERS).toEqual(['+918012345678', '+918012345679', '+918012345680']);
  });

  it('defaults: Vobiz gateway, agent, object names; empty values mean unset', () => {
    const s = loadSetupSipSettings({
      LIVEKIT_URL: 'wss://x.livekit.cloud',
      LIVEKIT_API_KEY: KEY,
      LIVEKIT_API_SECRET: SECRET,
      VOBIZ_NUMBERS: ' +919876543210 ,+919876543210,',
      VOBIZ_ALLOWED_ADDRESSES: '',
      AGENT_NAME: ' ',
    });
    expect(s).toMatchObject({
      VOBIZ_NUMBERS: ['+919876543210'],
      VOBIZ_ALLOWED_ADDRESSES: ['13.233.44.61/32'],
      AGENT_NAME: 'switchboard',
      SIP_TRUNK_NAME: 'switchboard-vobiz',
      SIP_DISPATCH_RULE_NAME: 'switchboard',
    });
  });
});

describe('setup:sip as a command', () => {
  it('creates both objects and exits 0; --dry-run afterwards reports them unchanged', async () => {
    const f = await start();
    const r = await runCommand(commandEnv(f));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^inbound trunk "switchboard-vobiz" ST_\w+: created /),
      expect.stringMatching(/^dispatch rule "switchboard" SDR_\w+: created /),
    ]);
    const dry = await runCommand(commandEnv(f), ['--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/: unchanged\n.*: unchanged\ndry run: nothing was changed\n$/);
  }, 60_000);

  it('a missing VOBIZ_NUMBERS: exit 2 naming it, nothing sent to LiveKit', async () => {
    const f = await start();
    const { VOBIZ_NUMBERS: _, ...env } = commandEnv(f);
    const r = await runCommand(env);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toBe(
      'setup:sip: cannot start, fix these settings (environment or .env; see docs/settings.md):\n  - VOBIZ_NUMBERS is not set\n',
    );
    expect(f.requests).toEqual([]);
  }, 60_000);

  it('a bad secret: LiveKit answers 401, one clear line, exit 1, no stack trace, no token', async () => {
    const f = await start();
    const r = await runCommand(commandEnv(f, { LIVEKIT_API_SECRET: 'not-the-secret' }));
    expect(f.requests.map((q) => q.status)).toEqual([401]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^setup:sip: LiveKit at http:\/\/127\.0\.0\.1:\d+ refused the API key\/secret \(HTTP 401: .*\); check LIVEKIT_API_KEY and LIVEKIT_API_SECRET$/);
    expect(r.stderr).not.toContain('eyJ'); // livekit-server echoes the token in its 401 text
    expect(r.stderr).not.toContain('not-the-secret');
    expect(r.stderr).not.toContain('    at ');
  }, 60_000);

  it.each(['livekit', 'twirp'] as const)(
    'a key without the SIP admin grant (authErrors: %s): one clear line, exit 1',
    async (style) => {
      const f = await start({ authErrors: style });
      f.denyGrant('sip.admin');
      const r = await runCommand(commandEnv(f));
      expect(f.requests.map((q) => q.status)).toEqual([style === 'livekit' ? 401 : 403]);
      expect(r.code, r.stderr).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^setup:sip: LiveKit at \S+ refused the request: the API key in LIVEKIT_API_KEY lacks the SIP admin grant \(sip\.admin\) .*\(HTTP 40[13]: permissions denied.*\)$/,
      );
      expect(r.stderr).not.toContain('    at ');
    },
    60_000,
  );
});
