/**
 * Settings: from the environment, or a `.env` file in the working directory (the environment wins).
 * Every problem is reported by the name of the setting, in one message, and nothing is logged of a
 * secret's value.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { DEFAULT_MAX_HANDOFFS } from '../machines/router.js';
import {
  DEFAULT_CONTEXT_BUDGET_TOKENS,
  DEFAULT_DTMF_MAP,
  DESK_NAME_SETTINGS,
  type DeskNameSetting,
  VOICE_SETTINGS,
  type VoiceSetting,
} from './departments.js';
import { parseDtmfMap } from './telephony/dtmf-map.js';
import { toE164 } from './telephony/numbers.js';
import { parseLanguage } from './language.js';

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

/** Loads `.env` (or `ENV_FILE`) into `env` without overriding what is already set. */
export function loadEnvFile(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): void {
  const file = env.ENV_FILE ?? `${cwd}/.env`;
  if (!existsSync(file)) {
    if (env.ENV_FILE) throw new ConfigError([`ENV_FILE: no such file: ${file}`]);
    return;
  }
  const parsed = parseEnv(readFileSync(file, 'utf8')) as Record<string, string>;
  for (const [k, v] of Object.entries(parsed)) if (env[k] === undefined) env[k] = v;
}

const optionalString = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();

export const url = (protocols: string[]) =>
  z
    .string()
    .trim()
    .refine((s) => {
      try {
        return protocols.includes(new URL(s).protocol);
      } catch {
        return false;
      }
    }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

/**
 * A whole number as people write it: `10000`, `10,000`, `10_000`, `10 000`, the Indian `1,00,000` —
 * digit groups with commas, underscores or spaces between them. Null for anything else (a sign, a
 * decimal point, hex, words).
 */
export function readWholeNumber(text: string | undefined): number | null {
  const s = (text ?? '').trim();
  if (!/^\d+(?:[,_ ]\d+)*$/.test(s)) return null;
  const n = Number(s.replace(/[,_ ]/g, ''));
  return Number.isSafeInteger(n) ? n : null;
}

/** A share as people write it, from 0 to 1: `0.8`, or `80%` / `80 %`. Null for anything else. */
export function readShare(text: string | undefined): number | null {
  const s = (text ?? '').trim();
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(s);
  const n = pct ? Number(pct[1]) / 100 : /^\d*\.?\d+$/.test(s) ? Number(s) : NaN;
  return n >= 0 && n <= 1 ? n : null;
}

const int = (min: number, max: number, dflt: number) =>
  z
    .string()
    .trim()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s === '') return dflt;
      const n = readWholeNumber(s);
      if (n === null || n < min || n > max) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a whole number from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });

/** `tel:+E164`, a bare `+E164` number, or a `sip:` URI. Bare numbers are normalised to `tel:`. */
const humanTarget = z
  .string()
  .trim()
  .optional()
  .transform((s, ctx) => {
    if (!s) return undefined;
    if (/^sips?:[^@\s]+@[^@\s]+$/.test(s)) return s;
    // As people write numbers: `+91 98765 43210`, `098765-43210`, `tel:+91-98765-43210`.
    const e164 = toE164(s);
    if (e164) return `tel:${e164}`;
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: 'must be an E.164 number (+919876543210), tel:+919876543210, or a sip: URI (sip:+91...@xxxx.sip.vobiz.ai)',
    });
    return z.NEVER;
  });

/** How to make a webhook secret (Standard Webhooks: `whsec_` and 24 to 64 random bytes in base64). */
export const WEBHOOK_SECRET_HOWTO = `node -e "console.log('whsec_' + require('crypto').randomBytes(32).toString('base64'))"`;

/**
 * `CALL_WEBHOOK_SECRET`: a Standard Webhooks secret, `whsec_<base64 of 24–64 random bytes>`, the form
 * every Standard Webhooks library takes as it is. A plain secret (what earlier versions took) is refused
 * by name rather than guessed at: a receiver would verify it differently.
 */
export const webhookSecret = z
  .string()
  .trim()
  .optional()
  .transform((s, ctx) => {
    if (!s) return undefined;
    const body = s.startsWith('whsec_') ? s.slice('whsec_'.length) : null;
    const bytes = body !== null && /^[A-Za-z0-9+/]+={0,2}$/.test(body) && body.length % 4 === 0 ? Buffer.from(body, 'base64').length : 0;
    if (bytes >= 24 && bytes <= 64) return s;
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message:
        (body === null ? 'must be a Standard Webhooks secret: whsec_ followed by base64' : 'must be whsec_ followed by the base64 of 24 to 64 random bytes') +
        ` (a plain secret is no longer accepted; make one with: ${WEBHOOK_SECRET_HOWTO})`,
    });
    return z.NEVER;
  });

/** `REDACT_PII`: `on` or `off` (the default). */
const redactPii = z.enum(['on', 'off']).default('off');

/**
 * Whether `REDACT_PII` is on in `env`, for a process that reads it before its settings are loaded (a
 * worker's job process sets up its log at import; it inherits the worker's environment, `.env` included).
 */
export function redactPiiOn(env: NodeJS.ProcessEnv = process.env): boolean {
  return redactPii.safeParse(env.REDACT_PII?.trim() || undefined).data === 'on';
}

const VOICES = ['alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'nova', 'onyx', 'sage', 'shimmer', 'verse'];
const voice = optionalString;

const baseSchema = z.object({
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: url(['http:', 'https:']).optional(),
  LLM_MODEL: z.string().trim().min(1).default('gpt-4.1-mini'),
  STT_MODEL: z.string().trim().min(1).default('gpt-4o-mini-transcribe'),
  TTS_MODEL: z.string().trim().min(1).default('gpt-4o-mini-tts'),
  ...(Object.fromEntries(VOICE_SETTINGS.map((k) => [k, voice])) as Record<VoiceSetting, typeof voice>),
  LLM_TIMEOUT_MS: int(1000, 600_000, 10_000),
  LLM_MAX_RETRY: int(0, 10, 1),
  MAX_HANDOFFS: int(1, 100, DEFAULT_MAX_HANDOFFS),
  /** History (≈ tokens) before a long call's older turns are summarised in the background; 0: never. */
  CONTEXT_BUDGET_TOKENS: int(0, 1_000_000, DEFAULT_CONTEXT_BUDGET_TOKENS),
  HUMAN_TRANSFER_TO: humanTarget,
  COMPANY_NAME: z.string().trim().min(1).default('Acme'),
  /** The greeting's language until the caller's is known: English, Hindi, Hinglish or an ISO 639-1 code. */
  GREETING_LANGUAGE: z
    .string()
    .trim()
    .optional()
    .transform((s, ctx) => {
      if (!s) return 'en';
      const lang = parseLanguage(s);
      if (lang) return lang;
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be a language: English, Hindi, Hinglish, or a code like hi' });
      return z.NEVER;
    }),
  AGENT_NAME: z.string().trim().min(1).default('switchboard'),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).optional(),
  TURN_DETECTION: z.enum(['model', 'cloud', 'vad', 'stt']).default('model'),
  /** A module whose default export enriches caller info before the greeting (e.g. a CRM lookup). */
  CALLER_LOOKUP: optionalString,
  /** The live inspector: where calls send their events, and how its server listens. */
  INSPECTOR_URL: url(['http:', 'https:', 'ws:', 'wss:']).optional(),
  INSPECTOR_HOST: z.string().trim().default('127.0.0.1'),
  INSPECTOR_PORT: int(0, 65535, 7300),
  INSPECTOR_TOKEN: optionalString,
  INSPECTOR_HIDE_PHONE_NUMBERS: z
    .enum(['1', '0', 'true', 'false', 'yes', 'no'])
    .optional()
    .transform((v) => v === '1' || v === 'true' || v === 'yes'),
  /** `off` keeps `npm run dev` from starting the inspector next to the worker. */
  INSPECTOR: z.enum(['on', 'off']).default('on'),
  /**
   * Stately's inspector (`@statelyai/inspect`): `ws` sends every call's routing actor (its events and
   * snapshots, caller details included) over a WebSocket to XSTATE_INSPECT_URL. Loopback unless set.
   */
  XSTATE_INSPECT: z.enum(['off', 'ws']).default('off'),
  XSTATE_INSPECT_URL: url(['ws:', 'wss:']).default('ws://127.0.0.1:8080'),
  /** Call records: an SQLite file by default; PostgreSQL when DATABASE_URL is set. `off` keeps none. */
  CALLS_DB: z.string().trim().default('data/calls.sqlite'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  /** Webhooks: call.started, call.transferred, call.ended, signed with HMAC-SHA256. */
  CALL_WEBHOOK_URL: url(['http:', 'https:']).optional(),
  CALL_WEBHOOK_SECRET: webhookSecret,
  /**
   * `on`: phone numbers, card and account numbers and email addresses are masked in what leaves a call
   * (records, webhooks, the inspector, the log; src/redact.ts), never in what its agents see.
   */
  REDACT_PII: redactPii,
  /**
   * `on`: each call is recorded in process (LiveKit's RecorderIO: no egress service) to one Ogg/Opus file,
   * the caller on the left channel and the agents on the right, in RECORDINGS_DIR; the records and
   * `call.ended` name it. Off by default.
   */
  RECORD_CALLS: z.enum(['on', 'off']).default('off'),
  RECORDINGS_DIR: z.string().trim().min(1).default('data/recordings'),
  /** Recordings older than this many days are deleted (by the worker, at start and hourly). 0 keeps them. */
  RECORDING_RETENTION_DAYS: int(0, 36500, 30),
  /**
   * Said before the greeting when calls are recorded: `on` says the default notice in the greeting's
   * language, `off` (the default) says none, any other text is said as written.
   */
  RECORDING_NOTICE: z.string().trim().default('off'),
  /** A second model that takes over when the primary fails (LiveKit's FallbackAdapter). */
  LLM_FALLBACK_MODEL: optionalString,
  /** Prepare the new agent's first reply while the old agent's transfer line plays (zero-gap handoff). */
  PREPARE_REPLIES: z
    .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'])
    .default('on')
    .transform((v) => ['1', 'true', 'yes', 'on'].includes(v)),
  /**
   * The silence kept where one agent clip meets the next (a transfer's seam): the speech engine's padding
   * around each clip is trimmed to it (20 ms before a clip's sound, the rest after). 0 keeps none.
   */
  SEAM_PAUSE_MS: int(0, 2000, 150),
  /** How each desk introduces itself to callers (DESK_NAME_BILLING="Accounts"); the table's names by default. */
  ...(Object.fromEntries(DESK_NAME_SETTINGS.map((k) => [k, optionalString])) as Record<DeskNameSetting, typeof optionalString>),
});

export const livekitUrl = url(['ws:', 'wss:', 'http:', 'https:']);

/** `npm run inspector` on its own: the inspector's settings, and where past calls are read from. */
export const inspectorSchema = baseSchema.pick({
  INSPECTOR_HOST: true,
  INSPECTOR_PORT: true,
  INSPECTOR_TOKEN: true,
  INSPECTOR_HIDE_PHONE_NUMBERS: true,
  REDACT_PII: true,
  RECORDINGS_DIR: true,
  CALLS_DB: true,
  DATABASE_URL: true,
  // Opening the records marks calls of dead processes interrupted; with webhooks on, that enqueues their
  // call.ended (sent by a worker, not by the inspector).
  CALL_WEBHOOK_URL: true,
});

const workerSchema = baseSchema.extend({
  LIVEKIT_URL: livekitUrl,
  LIVEKIT_API_KEY: z.string().trim().min(1),
  LIVEKIT_API_SECRET: z.string().trim().min(1),
  /** Keypad digits → transfers: only a phone call has a keypad, so only the worker reads (and checks) it. */
  DTMF_MAP: z
    .string()
    .default(DEFAULT_DTMF_MAP)
    .transform((s, ctx) => {
      try {
        return parseDtmfMap(s);
      } catch (err) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `is not a keypad map: ${(err as Error).message}` });
        return z.NEVER;
      }
    }),
  /**
   * How a person is reached: `cold` (default: a SIP REFER, works with any trunk and server) or `warm`
   * (dialled through SIP_OUTBOUND_TRUNK_ID and briefed while the caller holds, then joined).
   */
  HUMAN_TRANSFER_MODE: z.preprocess(
    (v) => (typeof v === 'string' ? v.trim().toLowerCase() || undefined : v),
    z.enum(['cold', 'warm'], { errorMap: () => ({ message: 'must be cold or warm' }) }).default('cold'),
  ),
  /** Warm: the outbound SIP trunk that dials the person (`ST_…`), and the caller id it shows (E.164). */
  SIP_OUTBOUND_TRUNK_ID: optionalString.refine((s) => s === undefined || /^ST_\w+$/.test(s), {
    message: 'must be an outbound SIP trunk id, ST_… (lk sip outbound list)',
  }),
  SIP_OUTBOUND_NUMBER: optionalString.transform((s, ctx) => {
    if (s === undefined) return undefined;
    const e164 = toE164(s);
    if (e164) return e164;
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be a phone number, e.g. +918012345678 (the caller id the person sees)' });
    return z.NEVER;
  }),
  /** Warm: how long the caller may hold (dial, briefing, join) before a desk takes them back. */
  HUMAN_TRANSFER_TIMEOUT_S: int(10, 600, 90),
  /** The worker's own HTTP server (health check `/`, `/worker`): loopback unless set. */
  WORKER_HOST: z.string().trim().default('127.0.0.1'),
  /** Its port: the framework's default (any free port under `dev`, 8081 under `start`) unless set. */
  WORKER_PORT: z
    .string()
    .trim()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s === '') return undefined;
      const n = readWholeNumber(s);
      if (n === null || n < 1 || n > 65535) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be a whole number from 1 to 65535' });
        return z.NEVER;
      }
      return n;
    }),
});

/** Every setting the project reads, for docs/settings.md's table (a test keeps them in step). */
/**
 * `npm run simulate`: the model that plays the caller, and the optional LLM judge. Each talks to any
 * OpenAI-compatible server; unset, the caller uses the desks' model and server (OPENAI_*), and the LLM
 * judge does not run.
 */
export const simulateSchema = z.object({
  CALLER_MODEL: optionalString,
  CALLER_BASE_URL: url(['http:', 'https:']).optional(),
  CALLER_API_KEY: optionalString,
  JUDGE_MODEL: optionalString,
  JUDGE_BASE_URL: url(['http:', 'https:']).optional(),
  JUDGE_API_KEY: optionalString,
});
export type SimulateSettings = z.infer<typeof simulateSchema>;

export const SETTING_NAMES: readonly string[] = [...Object.keys(workerSchema.shape), ...Object.keys(simulateSchema.shape), 'ENV_FILE'];

export type Settings = z.infer<typeof baseSchema> & Partial<z.infer<typeof workerSchema>>;

/**
 * Parses settings with `schema`: an empty value (`OPENAI_BASE_URL=` in .env) means "not set", so its
 * default applies; every problem is named, none repeated. Returns the data and the problems found.
 */
export function parseSettings<S extends z.ZodTypeAny>(
  schema: S,
  rawEnv: NodeJS.ProcessEnv,
): { data: z.infer<S> | undefined; env: Record<string, string>; problems: string[] } {
  const env = Object.fromEntries(
    Object.entries(rawEnv).filter((e): e is [string, string] => e[1] !== undefined && e[1].trim() !== ''),
  );
  const res = schema.safeParse(env);
  const problems = res.success
    ? []
    : res.error.issues.map((issue) => {
        const name = String(issue.path[0]);
        if (env[name] === undefined) return `${name} is not set`;
        // A choice refused in the words of the setting, not of the library (values of secrets are never shown).
        if (issue.code === z.ZodIssueCode.invalid_enum_value) {
          const shown = /KEY|SECRET|TOKEN|PASSWORD/.test(name) ? '' : ` is "${env[name]}":`;
          return `${name}${shown} must be one of ${issue.options.join(', ')}`;
        }
        return `${name} ${issue.message}`;
      });
  return { data: res.success ? res.data : undefined, env, problems: [...new Set(problems)] };
}

function check(schema: z.ZodTypeAny, rawEnv: NodeJS.ProcessEnv): Settings {
  const parsed = parseSettings(schema, rawEnv);
  const { env, problems } = parsed;
  const data = (parsed.data ?? {}) as Settings;
  if (!env.OPENAI_API_KEY && !env.OPENAI_BASE_URL) {
    problems.push('OPENAI_API_KEY is not set (needed unless OPENAI_BASE_URL points at a server without keys)');
  }
  for (const k of VOICE_SETTINGS) {
    const v = env[k]?.trim();
    // Other OpenAI-compatible servers have their own voices: only warn-free check for OpenAI itself.
    if (v && !env.OPENAI_BASE_URL && !VOICES.includes(v)) problems.push(`${k} must be one of ${VOICES.join(', ')}`);
  }
  if (problems.length) throw new ConfigError(problems);
  return data;
}

/** Parses `rawEnv` with `schema`, or throws a ConfigError naming every problem. */
export function requireSettings<S extends z.ZodTypeAny>(schema: S, rawEnv: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const { data, problems } = parseSettings(schema, rawEnv);
  if (problems.length || data === undefined) throw new ConfigError(problems);
  return data;
}

/**
 * An entry point's settings: `.env` is loaded, then `load` runs; a bad or missing setting is printed
 * (see `exitOnConfigError`) and the process exits 2.
 */
export function settingsOrExit<T>(program: string, load: () => T, hint?: (problems: string[]) => string | undefined): T {
  try {
    loadEnvFile();
    return load();
  } catch (err) {
    exitOnConfigError(err, program, hint);
  }
}

/** Settings for the text call and tests: OpenAI-side only. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  return check(baseSchema, env);
}

/** Settings for the LiveKit worker: everything, LiveKit included. */
export function loadWorkerSettings(env: NodeJS.ProcessEnv = process.env): Settings & z.infer<typeof workerSchema> {
  const problems: string[] = [];
  if (env.HUMAN_TRANSFER_MODE?.trim().toLowerCase() === 'warm') {
    // Warm dials the person itself: it needs a number and a trunk to dial it through.
    if (!env.HUMAN_TRANSFER_TO?.trim()) problems.push('HUMAN_TRANSFER_TO is not set (HUMAN_TRANSFER_MODE=warm dials this person)');
    if (!env.SIP_OUTBOUND_TRUNK_ID?.trim()) {
      problems.push('SIP_OUTBOUND_TRUNK_ID is not set (HUMAN_TRANSFER_MODE=warm dials the person through this outbound trunk, ST_…)');
    }
  }
  try {
    const s = check(workerSchema, env) as Settings & z.infer<typeof workerSchema>;
    if (problems.length) throw new ConfigError(problems);
    return s;
  } catch (err) {
    if (err instanceof ConfigError && problems.length) throw new ConfigError([...err.problems.filter((p) => !problems.includes(p)), ...problems]);
    throw err;
  }
}

/** Prints a ConfigError the way a user should see it, and exits non-zero. Other errors are rethrown. */
export function exitOnConfigError(err: unknown, program: string, hint?: (problems: string[]) => string | undefined): never {
  if (err instanceof ConfigError) {
    const more = hint?.(err.problems);
    process.stderr.write(
      `${program}: cannot start, fix these settings (environment or .env; see docs/settings.md):\n` +
        err.problems.map((p) => `  - ${p}\n`).join('') +
        (more ? `${more.trimEnd()}\n` : ''),
    );
    process.exit(2);
  }
  throw err;
}
