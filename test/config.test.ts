import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_HANDOFFS } from '../machines/router.js';
import { ConfigError, loadEnvFile, loadSettings, loadWorkerSettings } from '../src/config.js';

/** A valid worker environment; tests override single entries. */
const WORKER_ENV = {
  LIVEKIT_URL: 'wss://example.livekit.cloud',
  LIVEKIT_API_KEY: 'APIabc123',
  LIVEKIT_API_SECRET: 'secret-xyz',
  OPENAI_API_KEY: 'sk-test',
} as const;

/** Runs `f`, expects a ConfigError, and returns it. */
function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

/** How many problems start with `name`. */
const count = (err: ConfigError, name: string) => err.problems.filter((p) => p.startsWith(`${name} `)).length;

describe('loadSettings defaults', () => {
  it('fills in every default from a minimal environment', () => {
    const s = loadSettings({ OPENAI_API_KEY: 'sk-test' });
    expect(s.MAX_HANDOFFS).toBe(DEFAULT_MAX_HANDOFFS);
    expect(s.AGENT_NAME).toBe('switchboard');
    expect(s.COMPANY_NAME).toBe('Acme');
    expect(s.LLM_MODEL).toBe('gpt-4.1-mini');
    expect(s.STT_MODEL).toBe('gpt-4o-mini-transcribe');
    expect(s.TTS_MODEL).toBe('gpt-4o-mini-tts');
    expect(s.LLM_TIMEOUT_MS).toBe(10_000);
    expect(s.LLM_MAX_RETRY).toBe(1);
    expect(s.LOG_LEVEL).toBeUndefined(); // the text call then logs at warn
    expect(s.TURN_DETECTION).toBe('model');
    expect(s.HUMAN_TRANSFER_TO).toBeUndefined();
    expect(s.OPENAI_BASE_URL).toBeUndefined();
    expect(s.TTS_VOICE_TRIAGE).toBeUndefined();
    expect(s.SEAM_PAUSE_MS).toBe(150);
  });

  it('SEAM_PAUSE_MS: a number of ms (0 keeps no silence at a seam); anything else is named', () => {
    expect(loadSettings({ OPENAI_API_KEY: 'k', SEAM_PAUSE_MS: '0' }).SEAM_PAUSE_MS).toBe(0);
    expect(count(configError(() => loadSettings({ OPENAI_API_KEY: 'k', SEAM_PAUSE_MS: 'short' })), 'SEAM_PAUSE_MS')).toBe(1);
  });

  it('an empty MAX_HANDOFFS means the default', () => {
    expect(loadSettings({ OPENAI_API_KEY: 'k', MAX_HANDOFFS: '' }).MAX_HANDOFFS).toBe(DEFAULT_MAX_HANDOFFS);
  });

  it('reads and trims explicit values', () => {
    const s = loadSettings({
      OPENAI_API_KEY: ' sk-test ',
      MAX_HANDOFFS: ' 3 ',
      AGENT_NAME: ' front-desk ',
      LLM_TIMEOUT_MS: '2000',
      LOG_LEVEL: 'debug',
      TURN_DETECTION: 'vad',
      TTS_VOICE_SALES: 'coral',
    });
    expect(s.OPENAI_API_KEY).toBe('sk-test');
    expect(s.MAX_HANDOFFS).toBe(3);
    expect(s.AGENT_NAME).toBe('front-desk');
    expect(s.LLM_TIMEOUT_MS).toBe(2000);
    expect(s.LOG_LEVEL).toBe('debug');
    expect(s.TURN_DETECTION).toBe('vad');
    expect(s.TTS_VOICE_SALES).toBe('coral');
  });

  it('loadSettings does not need the LiveKit settings', () => {
    const s = loadSettings({ OPENAI_API_KEY: 'k' });
    expect(s.LIVEKIT_URL).toBeUndefined();
  });
});

describe('numbers', () => {
  it.each(['abc', '0', '101', '2.5', '-1', '1e9'])('MAX_HANDOFFS=%j is rejected by name', (v) => {
    const err = configError(() => loadSettings({ OPENAI_API_KEY: 'k', MAX_HANDOFFS: v }));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^MAX_HANDOFFS must be a whole number from 1 to 100$/);
  });

  it('accepts the range ends', () => {
    expect(loadSettings({ OPENAI_API_KEY: 'k', MAX_HANDOFFS: '1' }).MAX_HANDOFFS).toBe(1);
    expect(loadSettings({ OPENAI_API_KEY: 'k', MAX_HANDOFFS: '100' }).MAX_HANDOFFS).toBe(100);
  });
});

describe('HUMAN_TRANSFER_TO', () => {
  const target = (v: string) => loadSettings({ OPENAI_API_KEY: 'k', HUMAN_TRANSFER_TO: v }).HUMAN_TRANSFER_TO;

  it('normalises a bare E.164 number to tel:', () => {
    expect(target('+14155550100')).toBe('tel:+14155550100');
    expect(target('  +919876543210 ')).toBe('tel:+919876543210');
  });

  it('keeps tel: and sip: targets as they are', () => {
    expect(target('tel:+14155550100')).toBe('tel:+14155550100');
    expect(target('sip:+919876543210@x.sip.vobiz.ai')).toBe('sip:+919876543210@x.sip.vobiz.ai');
    expect(target('sips:agent@pbx.example.com')).toBe('sips:agent@pbx.example.com');
  });

  it('treats an empty value as not set', () => {
    expect(target('')).toBeUndefined();
    expect(target('   ')).toBeUndefined();
  });

  it.each([
    ['+1 415 555 0100', 'tel:+14155550100'],
    ['+91 98765 43210', 'tel:+919876543210'],
    ['098765-43210', 'tel:+919876543210'],
  ])('accepts %j as people write it, normalised to %s', (v, e164) => {
    expect(loadSettings({ OPENAI_API_KEY: 'k', HUMAN_TRANSFER_TO: v }).HUMAN_TRANSFER_TO).toBe(e164);
  });

  it.each(['12345', '14155550100', '+0123456789', 'tel:14155550100', 'hello', 'sip:nobody', 'sip:a@b@c'])(
    'rejects %j, naming the setting',
    (v) => {
      const err = configError(() => loadSettings({ OPENAI_API_KEY: 'k', HUMAN_TRANSFER_TO: v }));
      expect(err.problems).toHaveLength(1);
      expect(err.problems[0]).toMatch(/^HUMAN_TRANSFER_TO must be /);
      expect(err.message).toContain('HUMAN_TRANSFER_TO');
    },
  );
});

describe('OpenAI settings', () => {
  it('requires OPENAI_API_KEY without OPENAI_BASE_URL', () => {
    const err = configError(() => loadSettings({}));
    expect(count(err, 'OPENAI_API_KEY')).toBe(1);
    const blank = configError(() => loadSettings({ OPENAI_API_KEY: '   ' }));
    expect(count(blank, 'OPENAI_API_KEY')).toBe(1);
  });

  it('does not require OPENAI_API_KEY when OPENAI_BASE_URL is set', () => {
    const s = loadSettings({ OPENAI_BASE_URL: 'http://127.0.0.1:8000/v1' });
    expect(s.OPENAI_BASE_URL).toBe('http://127.0.0.1:8000/v1');
    expect(s.OPENAI_API_KEY).toBeUndefined();
    const w = loadWorkerSettings({ ...WORKER_ENV, OPENAI_API_KEY: undefined, OPENAI_BASE_URL: 'https://llm.example.com/v1' });
    expect(w.OPENAI_API_KEY).toBeUndefined();
  });

  it('rejects a malformed OPENAI_BASE_URL', () => {
    const err = configError(() => loadSettings({ OPENAI_BASE_URL: 'notaurl' }));
    expect(err.problems).toEqual(['OPENAI_BASE_URL must be a URL starting with http:// or https://']);
    const ws = configError(() => loadSettings({ OPENAI_BASE_URL: 'ws://127.0.0.1:8000' }));
    expect(count(ws, 'OPENAI_BASE_URL')).toBe(1);
  });

  it('checks TTS voices against OpenAI voices only for OpenAI itself', () => {
    const err = configError(() => loadSettings({ OPENAI_API_KEY: 'k', TTS_VOICE_TRIAGE: 'bogus' }));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^TTS_VOICE_TRIAGE must be one of /);
    const s = loadSettings({ OPENAI_BASE_URL: 'http://127.0.0.1:8000/v1', TTS_VOICE_TRIAGE: 'af_heart' });
    expect(s.TTS_VOICE_TRIAGE).toBe('af_heart');
  });

  // A `.env` line such as `OPENAI_BASE_URL=` means "not set": the default applies, nothing fails.
  it('an empty optional setting means not set', () => {
    const s = loadSettings({ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: '', LLM_MODEL: '', AGENT_NAME: ' ' });
    expect(s.OPENAI_BASE_URL).toBeUndefined();
    expect(s.LLM_MODEL).toBe('gpt-4.1-mini');
    expect(s.AGENT_NAME).toBe('switchboard');
  });
});

describe('a choice refused in words', () => {
  it('names the setting, the value and what is allowed (never a secret\'s value)', () => {
    const err = configError(() => loadSettings({ OPENAI_API_KEY: 'k', LOG_LEVEL: 'loud', PREPARE_REPLIES: 'maybe', TURN_DETECTION: 'smart' }));
    expect(err.problems).toContain('LOG_LEVEL is "loud": must be one of trace, debug, info, warn, error, fatal');
    expect(err.problems).toContain('PREPARE_REPLIES is "maybe": must be one of 1, 0, true, false, yes, no, on, off');
    expect(err.problems).toContain('TURN_DETECTION is "smart": must be one of model, cloud, vad, stt');
    expect(err.problems.join('\n')).not.toMatch(/Invalid enum value|Expected '/);
  });
});

describe('loadWorkerSettings', () => {
  it('returns the LiveKit settings and the defaults', () => {
    const s = loadWorkerSettings({ ...WORKER_ENV });
    expect(s.LIVEKIT_URL).toBe(WORKER_ENV.LIVEKIT_URL);
    expect(s.LIVEKIT_API_KEY).toBe(WORKER_ENV.LIVEKIT_API_KEY);
    expect(s.LIVEKIT_API_SECRET).toBe(WORKER_ENV.LIVEKIT_API_SECRET);
    expect(s.AGENT_NAME).toBe('switchboard');
    expect(s.MAX_HANDOFFS).toBe(DEFAULT_MAX_HANDOFFS);
  });

  it.each(['ws://127.0.0.1:7880', 'wss://x.livekit.cloud', 'http://localhost:7880', 'https://x.livekit.cloud'])(
    'accepts LIVEKIT_URL=%s',
    (u) => {
      expect(loadWorkerSettings({ ...WORKER_ENV, LIVEKIT_URL: u }).LIVEKIT_URL).toBe(u);
    },
  );

  it('reports every missing setting by name, in one error', () => {
    const err = configError(() => loadWorkerSettings({}));
    for (const name of ['LIVEKIT_URL', 'LIVEKIT_API_KEY', 'LIVEKIT_API_SECRET', 'OPENAI_API_KEY']) {
      expect(count(err, name), name).toBe(1);
      expect(err.problems).toContainEqual(expect.stringMatching(new RegExp(`^${name} is not set`)));
    }
    expect(err.problems).toHaveLength(4);
    expect(err.message).toBe(err.problems.join('\n'));
    expect(err.name).toBe('ConfigError');
    expect(err).toBeInstanceOf(Error);
  });

  it('reports each malformed setting once', () => {
    const err = configError(() =>
      loadWorkerSettings({ ...WORKER_ENV, LIVEKIT_URL: 'notaurl', MAX_HANDOFFS: 'abc', HUMAN_TRANSFER_TO: '12345' }),
    );
    expect(err.problems).toHaveLength(3);
    for (const name of ['LIVEKIT_URL', 'MAX_HANDOFFS', 'HUMAN_TRANSFER_TO']) expect(count(err, name), name).toBe(1);
    expect(err.problems).toContain('LIVEKIT_URL must be a URL starting with ws:// or wss:// or http:// or https://');
  });

  it('warm transfer: cold by default; warm names the number and the outbound trunk it needs, with the other problems', () => {
    const s = loadWorkerSettings({ ...WORKER_ENV });
    expect(s.HUMAN_TRANSFER_MODE).toBe('cold');
    expect(s.HUMAN_TRANSFER_TIMEOUT_S).toBe(90);
    const err = configError(() => loadWorkerSettings({ ...WORKER_ENV, HUMAN_TRANSFER_MODE: 'warm', MAX_HANDOFFS: 'abc' }));
    expect(err.problems).toEqual([
      expect.stringMatching(/^MAX_HANDOFFS /),
      'HUMAN_TRANSFER_TO is not set (HUMAN_TRANSFER_MODE=warm dials this person)',
      'SIP_OUTBOUND_TRUNK_ID is not set (HUMAN_TRANSFER_MODE=warm dials the person through this outbound trunk, ST_…)',
    ]);
    expect(configError(() => loadWorkerSettings({ ...WORKER_ENV, HUMAN_TRANSFER_MODE: 'lukewarm' })).problems).toEqual(['HUMAN_TRANSFER_MODE is "lukewarm": must be one of cold, warm']);
    const warm = loadWorkerSettings({ ...WORKER_ENV, HUMAN_TRANSFER_MODE: 'warm', HUMAN_TRANSFER_TO: '+91 80123 45678', SIP_OUTBOUND_TRUNK_ID: 'ST_x', HUMAN_TRANSFER_TIMEOUT_S: '45' });
    expect(warm).toMatchObject({ HUMAN_TRANSFER_MODE: 'warm', HUMAN_TRANSFER_TO: 'tel:+918012345678', HUMAN_TRANSFER_TIMEOUT_S: 45 });
  });

  it('warm transfer settings as people write them: WARM in capitals, the caller id with spaces; a wrong trunk id or caller id named', () => {
    const warm = { ...WORKER_ENV, HUMAN_TRANSFER_TO: '+918012345678', SIP_OUTBOUND_TRUNK_ID: 'ST_abc123' };
    expect(loadWorkerSettings({ ...warm, HUMAN_TRANSFER_MODE: ' WARM ', SIP_OUTBOUND_NUMBER: '+91 80 4567 8900' })).toMatchObject({
      HUMAN_TRANSFER_MODE: 'warm',
      SIP_OUTBOUND_NUMBER: '+918045678900',
    });
    // In capitals it is still warm, so what warm needs is still asked for.
    expect(configError(() => loadWorkerSettings({ ...WORKER_ENV, HUMAN_TRANSFER_MODE: 'Warm' })).problems).toHaveLength(2);
    const err = configError(() => loadWorkerSettings({ ...warm, HUMAN_TRANSFER_MODE: 'warm', SIP_OUTBOUND_TRUNK_ID: 'bogus', SIP_OUTBOUND_NUMBER: 'hello' }));
    expect(err.problems).toEqual([
      'SIP_OUTBOUND_TRUNK_ID must be an outbound SIP trunk id, ST_… (lk sip outbound list)',
      'SIP_OUTBOUND_NUMBER must be a phone number, e.g. +918012345678 (the caller id the person sees)',
    ]);
  });

  it('rejects a LIVEKIT_URL with another scheme', () => {
    const err = configError(() => loadWorkerSettings({ ...WORKER_ENV, LIVEKIT_URL: 'ftp://example.com' }));
    expect(err.problems).toHaveLength(1);
    expect(count(err, 'LIVEKIT_URL')).toBe(1);
  });

  it('does not modify the environment object it reads', () => {
    const env: NodeJS.ProcessEnv = { ...WORKER_ENV, MAX_HANDOFFS: '4' };
    const before = { ...env };
    loadWorkerSettings(env);
    expect(env).toEqual(before);
  });
});

describe('ConfigError never contains a secret value', () => {
  const SECRET = 'supersecretvalue';
  const OPENAI_SECRET = 'sk-openai-supersecret';

  it('with a bad LIVEKIT_URL', () => {
    const err = configError(() =>
      loadWorkerSettings({ ...WORKER_ENV, LIVEKIT_URL: 'notaurl', LIVEKIT_API_SECRET: SECRET, OPENAI_API_KEY: OPENAI_SECRET }),
    );
    expect(err.message).toContain('LIVEKIT_URL');
    expect(err.message).not.toContain(SECRET);
    expect(err.message).not.toContain(OPENAI_SECRET);
    expect(String(err)).not.toContain(SECRET);
    expect(JSON.stringify(err.problems)).not.toContain(SECRET);
    expect(err.stack ?? '').not.toContain(SECRET);
  });

  it('with many problems at once', () => {
    const err = configError(() =>
      loadWorkerSettings({
        LIVEKIT_URL: 'wss://notaurl with spaces',
        LIVEKIT_API_KEY: '',
        LIVEKIT_API_SECRET: SECRET,
        OPENAI_API_KEY: OPENAI_SECRET,
        OPENAI_BASE_URL: `notaurl-${SECRET}`,
        MAX_HANDOFFS: SECRET,
        HUMAN_TRANSFER_TO: SECRET,
        TTS_VOICE_HUMAN: SECRET,
      }),
    );
    expect(err.problems.length).toBeGreaterThanOrEqual(5);
    expect(err.message).not.toContain(SECRET);
    expect(err.message).not.toContain(OPENAI_SECRET);
  });

  it('with a blank secret', () => {
    const err = configError(() => loadWorkerSettings({ ...WORKER_ENV, LIVEKIT_API_SECRET: '   ', OPENAI_API_KEY: OPENAI_SECRET }));
    expect(count(err, 'LIVEKIT_API_SECRET')).toBe(1);
    expect(err.message).not.toContain(OPENAI_SECRET);
    expect(err.message).not.toContain(WORKER_ENV.LIVEKIT_API_KEY);
  });
});

describe('loadEnvFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-config-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads .env from the given directory without overriding what is set', () => {
    writeFileSync(
      join(dir, '.env'),
      [
        '# a comment',
        'OPENAI_API_KEY=from-file',
        'LIVEKIT_URL=wss://file.example.com',
        'AGENT_NAME="quoted name"',
        'SWITCHBOARD_TEST_ONLY_VAR=file-value',
        'EMPTY_IN_ENV=from-file',
        '',
      ].join('\n'),
    );
    const env: NodeJS.ProcessEnv = { OPENAI_API_KEY: 'from-env', EMPTY_IN_ENV: '' };
    loadEnvFile(env, dir);
    expect(env.OPENAI_API_KEY).toBe('from-env');
    expect(env.LIVEKIT_URL).toBe('wss://file.example.com');
    expect(env.AGENT_NAME).toBe('quoted name');
    expect(env.SWITCHBOARD_TEST_ONLY_VAR).toBe('file-value');
    // Set, even if empty, counts as set.
    expect(env.EMPTY_IN_ENV).toBe('');
    // Only the given object is written, not process.env.
    expect(process.env.SWITCHBOARD_TEST_ONLY_VAR).toBeUndefined();
  });

  it('then feeds the settings', () => {
    writeFileSync(join(dir, '.env'), 'MAX_HANDOFFS=3\nHUMAN_TRANSFER_TO=+14155550100\nOPENAI_API_KEY=from-file\n');
    const env: NodeJS.ProcessEnv = { MAX_HANDOFFS: '5' };
    loadEnvFile(env, dir);
    const s = loadSettings(env);
    expect(s.MAX_HANDOFFS).toBe(5);
    expect(s.HUMAN_TRANSFER_TO).toBe('tel:+14155550100');
    expect(s.OPENAI_API_KEY).toBe('from-file');
  });

  it('without a .env file does nothing', () => {
    const env: NodeJS.ProcessEnv = { A: '1' };
    expect(() => loadEnvFile(env, dir)).not.toThrow();
    expect(env).toEqual({ A: '1' });
  });

  it('ENV_FILE takes the place of .env in the directory', () => {
    writeFileSync(join(dir, '.env'), 'FROM_DOTENV=1\n');
    const other = join(dir, 'other.env');
    writeFileSync(other, 'FROM_OTHER=1\n');
    const env: NodeJS.ProcessEnv = { ENV_FILE: other };
    loadEnvFile(env, dir);
    expect(env.FROM_OTHER).toBe('1');
    expect(env.FROM_DOTENV).toBeUndefined();
  });

  it('an empty ENV_FILE loads nothing', () => {
    writeFileSync(join(dir, '.env'), 'FROM_DOTENV=1\n');
    const empty = join(dir, 'empty.env');
    writeFileSync(empty, '');
    const env: NodeJS.ProcessEnv = { ENV_FILE: empty };
    loadEnvFile(env, dir);
    expect(env).toEqual({ ENV_FILE: empty });
  });

  it('a missing ENV_FILE is a ConfigError naming ENV_FILE', () => {
    const missing = join(dir, 'nope.env');
    const err = configError(() => loadEnvFile({ ENV_FILE: missing }, dir));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^ENV_FILE: /);
    expect(err.problems[0]).toContain(missing);
  });
});

describe('settings only the worker reads', () => {
  it('DTMF_MAP: checked by the worker only (a text call has no keypad)', () => {
    expect(() => loadSettings({ OPENAI_API_KEY: 'k', DTMF_MAP: 'not a keypad map' })).not.toThrow();
    const err = configError(() => loadWorkerSettings({ ...WORKER_ENV, DTMF_MAP: 'not a keypad map' }));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^DTMF_MAP is not a keypad map/);
    expect(loadWorkerSettings({ ...WORKER_ENV, DTMF_MAP: '1:billing' }).DTMF_MAP).toEqual({ '1': 'billing' });
  });

  it('WORKER_HOST (default loopback) and WORKER_PORT (default: the framework\'s)', () => {
    const s = loadWorkerSettings({ ...WORKER_ENV });
    expect(s.WORKER_HOST).toBe('127.0.0.1');
    expect(s.WORKER_PORT).toBeUndefined();
    const t = loadWorkerSettings({ ...WORKER_ENV, WORKER_HOST: '0.0.0.0', WORKER_PORT: '8081' });
    expect([t.WORKER_HOST, t.WORKER_PORT]).toEqual(['0.0.0.0', 8081]);
    expect(configError(() => loadWorkerSettings({ ...WORKER_ENV, WORKER_PORT: 'http' })).problems).toEqual([
      'WORKER_PORT must be a whole number from 1 to 65535',
    ]);
  });
});

describe('numbers as people write them', () => {
  it('digit groups with commas, underscores or spaces are read (10,000 · 20_000 · 1 500); anything else is refused, naming the setting', () => {
    const s = loadSettings({ OPENAI_API_KEY: 'sk-test', LLM_TIMEOUT_MS: '10,000', SEAM_PAUSE_MS: ' 1 500 ' });
    expect(s.LLM_TIMEOUT_MS).toBe(10_000);
    expect(s.SEAM_PAUSE_MS).toBe(1500);
    expect(loadSettings({ OPENAI_API_KEY: 'sk-test', LLM_TIMEOUT_MS: '1,00,000' }).LLM_TIMEOUT_MS).toBe(100_000);
    for (const bad of ['0x2710', '1e4', '10.5', '-5', '10,', 'ten']) {
      expect(configError(() => loadSettings({ OPENAI_API_KEY: 'sk-test', LLM_TIMEOUT_MS: bad })).problems, bad).toEqual([
        'LLM_TIMEOUT_MS must be a whole number from 1000 to 600000',
      ]);
    }
    expect(loadWorkerSettings({ ...WORKER_ENV, WORKER_PORT: '8_081', HUMAN_TRANSFER_TIMEOUT_S: '1_20' })).toMatchObject({ WORKER_PORT: 8081, HUMAN_TRANSFER_TIMEOUT_S: 120 });
  });
});
