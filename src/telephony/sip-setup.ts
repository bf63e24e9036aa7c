/**
 * SIP setup (the library behind `npm run setup:sip`, whose command is `src/cli/setup-sip.ts`): makes
 * LiveKit ring the agent when a Vobiz number is called. Idempotent: it finds its two objects by name,
 * creates what is missing, updates only what differs, and logs one line per object (`created`,
 * `updated (fields…)` or `unchanged`).
 *
 * - an **inbound trunk** (`SIP_TRUNK_NAME`) for `VOBIZ_NUMBERS`, accepting calls only from
 *   `VOBIZ_ALLOWED_ADDRESSES` (Vobiz's gateways);
 * - an **individual dispatch rule** (`SIP_DISPATCH_RULE_NAME`): one room per caller (`call-…`), attached to
 *   that trunk, whose room config dispatches the agent `AGENT_NAME`.
 */
import { isIP } from 'node:net';
import {
  RoomAgentDispatch,
  RoomConfiguration,
  SIPDispatchRule,
  SIPDispatchRuleIndividual,
  type SIPDispatchRuleInfo,
  type SIPInboundTrunkInfo,
  ServerError,
  SipClient,
  type SipInboundTrunkUpdateOptions,
} from 'livekit-server-sdk';
import { z } from 'zod';
import { toE164 } from './numbers.js';
import { livekitUrl, requireSettings } from '../config.js';
import { httpURL } from './phone-line.js';

/** Rooms of calls from the dispatch rule are named `call-<caller>_<random>`. */
export const ROOM_PREFIX = 'call-';
export const DEFAULT_ALLOWED_ADDRESSES = '13.233.44.61/32';

const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** Numbers as people write them (`+91 80123 45678`, `080-1234-5678`, `0091…`), comma-separated, as E.164. */
const e164List = z.string().transform((s, ctx) => {
  const items = list(s);
  const numbers = items.map((n) => toE164(n));
  const bad = items.filter((_, i) => numbers[i] === null);
  if (!items.length || bad.length) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `must be comma-separated phone numbers (+919876543210, +91 80123 45678)${bad.length ? `; not a number: ${bad.join(', ')}` : ''}`,
    });
    return z.NEVER;
  }
  return [...new Set(numbers as string[])];
});

function isAddress(s: string): boolean {
  const [ip, bits, ...rest] = s.split('/');
  const v = isIP(ip);
  if (!v || rest.length) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (v === 4 ? 32 : 128);
}

const addressList = z
  .string()
  .default(DEFAULT_ALLOWED_ADDRESSES)
  .transform((s, ctx) => {
    const items = list(s);
    const bad = items.filter((a) => !isAddress(a));
    if (!items.length || bad.length) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `must be comma-separated IP addresses or CIDR ranges (${DEFAULT_ALLOWED_ADDRESSES})${bad.length ? `; not an address: ${bad.join(', ')}` : ''}`,
      });
      return z.NEVER;
    }
    return [...new Set(items)];
  });

const schema = z.object({
  LIVEKIT_URL: livekitUrl,
  LIVEKIT_API_KEY: z.string().trim().min(1),
  LIVEKIT_API_SECRET: z.string().trim().min(1),
  VOBIZ_NUMBERS: e164List,
  VOBIZ_ALLOWED_ADDRESSES: addressList,
  AGENT_NAME: z.string().trim().min(1).default('switchboard'),
  SIP_TRUNK_NAME: z.string().trim().min(1).default('switchboard-vobiz'),
  SIP_DISPATCH_RULE_NAME: z.string().trim().min(1).default('switchboard'),
});

export type SetupSipSettings = z.infer<typeof schema>;

/** Reads this command's settings; every problem is reported by name in one ConfigError. */
export function loadSetupSipSettings(rawEnv: NodeJS.ProcessEnv = process.env): SetupSipSettings {
  return requireSettings(schema, rawEnv) as SetupSipSettings;
}

export type Action = 'created' | 'updated' | 'unchanged' | 'would create' | 'would update';

export interface ObjectResult {
  action: Action;
  /** The LiveKit id; undefined when a dry run would create it. */
  id?: string;
  /** What differed (`numbers`, `allowed addresses`, `rule`, `trunk ids`, `agent name`). */
  changed: string[];
}

export interface SetupSipResult {
  trunk: ObjectResult;
  dispatchRule: ObjectResult;
}

export interface SetupSipOptions {
  /** Only list and report; create and update nothing. */
  dryRun?: boolean;
  /** One line per object; defaults to stdout. */
  log?: (line: string) => void;
}

/** A failure to report as one line (exit code 1), without a stack trace. */
export class SetupSipError extends Error {
  override name = 'SetupSipError';
}

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/** `as` a ListUpdate: the SDK builds the request message from this plain shape. */
type ListUpdate = NonNullable<SipInboundTrunkUpdateOptions['numbers']>;
const setList = (values: string[]) => ({ set: values }) as ListUpdate;

function only<T extends { name: string }>(items: T[], name: string, what: string, id: (x: T) => string): T | undefined {
  const found = items.filter((x) => x.name === name);
  if (found.length > 1) {
    throw new SetupSipError(
      `${found.length} ${what}s are named "${name}" (${found.map(id).join(', ')}); delete the extra ones in LiveKit, then run this again`,
    );
  }
  return found[0];
}

/** The rule's room prefix and pin when it is an individual rule. */
function individual(rule: SIPDispatchRuleInfo): { roomPrefix: string; pin: string } | undefined {
  const r = rule.rule?.rule;
  return r?.case === 'dispatchRuleIndividual' ? { roomPrefix: r.value.roomPrefix, pin: r.value.pin } : undefined;
}

/**
 * Creates or updates the inbound trunk and the dispatch rule. Throws SetupSipError (our own refusals) or
 * the SDK's ServerError (LiveKit's); `describeFailure` turns either into one line.
 */
export async function setupSip(settings: SetupSipSettings, options: SetupSipOptions = {}): Promise<SetupSipResult> {
  const run: Run = {
    sip: new SipClient(httpURL(settings.LIVEKIT_URL), settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET),
    settings,
    dryRun: options.dryRun ?? false,
    log: options.log ?? ((line: string) => process.stdout.write(`${line}\n`)),
  };
  const trunk = await ensureTrunk(run);
  const dispatchRule = await ensureDispatchRule(run, trunk);
  return { trunk, dispatchRule };
}

/** One run of `setupSip`: the client, the settings and how to report. */
interface Run {
  sip: SipClient;
  settings: SetupSipSettings;
  dryRun: boolean;
  log: (line: string) => void;
}

/** What differs between an existing object and the settings: field names, and readable `old → new`s. */
interface Diff {
  changed: string[];
  diffs: string[];
}

/**
 * The step for an existing object: `unchanged` when nothing differs, `would update` on a dry run,
 * otherwise `update()` then `updated`. Logs its one line.
 */
async function settle(run: Run, label: string, id: string, { changed, diffs }: Diff, update: () => Promise<unknown>): Promise<ObjectResult> {
  if (!changed.length) {
    run.log(`${label} ${id}: unchanged`);
    return { action: 'unchanged', id, changed };
  }
  if (run.dryRun) {
    run.log(`${label} ${id}: would update (${diffs.join('; ')})`);
    return { action: 'would update', id, changed };
  }
  await update();
  run.log(`${label} ${id}: updated (${changed.join(', ')})`);
  return { action: 'updated', id, changed };
}

// ---- the inbound trunk -----------------------------------------------------------------------------

async function ensureTrunk(run: Run): Promise<ObjectResult> {
  const { sip, settings, log } = run;
  const numbers = settings.VOBIZ_NUMBERS;
  const addresses = settings.VOBIZ_ALLOWED_ADDRESSES;
  const label = `inbound trunk "${settings.SIP_TRUNK_NAME}"`;
  const existing = only(await sip.listSipInboundTrunk(), settings.SIP_TRUNK_NAME, 'inbound trunk', (t) => t.sipTrunkId);
  if (existing) {
    const { fields, ...diff } = trunkDiff(existing, numbers, addresses);
    return settle(run, label, existing.sipTrunkId, diff, () => sip.updateSipInboundTrunkFields(existing.sipTrunkId, fields));
  }
  const what = `numbers ${numbers.join(', ')}; allowed addresses ${addresses.join(', ')}`;
  if (run.dryRun) {
    log(`${label}: would create (${what})`);
    return { action: 'would create', changed: [] };
  }
  const created = await sip.createSipInboundTrunk(settings.SIP_TRUNK_NAME, numbers, { allowedAddresses: addresses });
  log(`${label} ${created.sipTrunkId}: created (${what})`);
  return { action: 'created', id: created.sipTrunkId, changed: [] };
}

/** The trunk's numbers and allowed addresses against the settings, with the field update that fixes them. */
function trunkDiff(existing: SIPInboundTrunkInfo, numbers: string[], addresses: string[]): Diff & { fields: SipInboundTrunkUpdateOptions } {
  const fields: SipInboundTrunkUpdateOptions = {};
  const changed: string[] = [];
  const diffs: string[] = [];
  if (!sameSet(existing.numbers, numbers)) {
    fields.numbers = setList(numbers);
    changed.push('numbers');
    diffs.push(`numbers ${existing.numbers.join(', ') || '(none)'} → ${numbers.join(', ')}`);
  }
  if (!sameSet(existing.allowedAddresses, addresses)) {
    fields.allowedAddresses = setList(addresses);
    changed.push('allowed addresses');
    diffs.push(`allowed addresses ${existing.allowedAddresses.join(', ') || '(any)'} → ${addresses.join(', ')}`);
  }
  return { fields, changed, diffs };
}

// ---- the dispatch rule -----------------------------------------------------------------------------

/** How the trunk is named in the rule's lines: its id, or the one a dry run would create. */
const trunkRefOf = (settings: SetupSipSettings, trunk: ObjectResult) => trunk.id ?? `(the new trunk "${settings.SIP_TRUNK_NAME}")`;

async function ensureDispatchRule(run: Run, trunk: ObjectResult): Promise<ObjectResult> {
  const { sip, settings, log } = run;
  const label = `dispatch rule "${settings.SIP_DISPATCH_RULE_NAME}"`;
  const existing = only(await sip.listSipDispatchRule(), settings.SIP_DISPATCH_RULE_NAME, 'dispatch rule', (r) => r.sipDispatchRuleId);
  if (existing) {
    const diff = ruleDiff(existing, settings, trunk);
    const id = existing.sipDispatchRuleId;
    return settle(run, label, id, diff, () => sip.updateSipDispatchRule(id, replacementRule(existing, settings, trunk, diff.changed)));
  }
  const what = `one room per caller "${ROOM_PREFIX}…", agent "${settings.AGENT_NAME}", trunk ${trunkRefOf(settings, trunk)}`;
  if (run.dryRun) {
    log(`${label}: would create (${what})`);
    return { action: 'would create', changed: [] };
  }
  const created = await sip.createSipDispatchRule(
    { type: 'individual', roomPrefix: ROOM_PREFIX },
    {
      name: settings.SIP_DISPATCH_RULE_NAME,
      trunkIds: [trunk.id!],
      roomConfig: new RoomConfiguration({ agents: [new RoomAgentDispatch({ agentName: settings.AGENT_NAME })] }),
    },
  );
  log(`${label} ${created.sipDispatchRuleId}: created (${what})`);
  return { action: 'created', id: created.sipDispatchRuleId, changed: [] };
}

/** The rule's kind, trunk ids and agent against what the settings (and the trunk) want. */
function ruleDiff(existing: SIPDispatchRuleInfo, settings: SetupSipSettings, trunk: ObjectResult): Diff {
  const changed: string[] = [];
  const diffs: string[] = [];
  const ind = individual(existing);
  if (!ind || ind.roomPrefix !== ROOM_PREFIX || ind.pin !== '') {
    changed.push('rule');
    diffs.push(`rule → individual rooms "${ROOM_PREFIX}…" without a PIN`);
  }
  if (!trunk.id || !sameSet(existing.trunkIds, [trunk.id])) {
    changed.push('trunk ids');
    diffs.push(`trunk ids ${existing.trunkIds.join(', ') || '(any trunk)'} → ${trunkRefOf(settings, trunk)}`);
  }
  const agents = existing.roomConfig?.agents ?? [];
  if (agents.length !== 1 || agents[0].agentName !== settings.AGENT_NAME) {
    changed.push('agent name');
    diffs.push(`agents ${agents.map((a) => `"${a.agentName}"`).join(', ') || '(none)'} → "${settings.AGENT_NAME}"`);
  }
  return { changed, diffs };
}

/** The field update cannot change the room config, so the rule is replaced, keeping what we do not manage. */
function replacementRule(existing: SIPDispatchRuleInfo, settings: SetupSipSettings, trunk: ObjectResult, changed: string[]): SIPDispatchRuleInfo {
  const next = existing.clone();
  if (changed.includes('rule')) {
    next.rule = new SIPDispatchRule({
      rule: { case: 'dispatchRuleIndividual', value: new SIPDispatchRuleIndividual({ roomPrefix: ROOM_PREFIX, pin: '' }) },
    });
  }
  next.trunkIds = trunk.id ? [trunk.id] : [];
  const roomConfig = next.roomConfig ?? new RoomConfiguration();
  const kept = (existing.roomConfig?.agents ?? []).find((a) => a.agentName === settings.AGENT_NAME);
  roomConfig.agents = [kept ?? new RoomAgentDispatch({ agentName: settings.AGENT_NAME })];
  next.roomConfig = roomConfig;
  return next;
}

/** Removes anything that looks like a JWT: LiveKit echoes a refused token in its error text. */
const redact = (s: string) => s.replace(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, '<token>').replace(/\s+/g, ' ').trim();

/** One line for the user, naming the setting to fix when there is one. */
export function describeFailure(err: unknown, settings: Pick<SetupSipSettings, 'LIVEKIT_URL'>): string {
  const where = `LiveKit at ${settings.LIVEKIT_URL}`;
  if (err instanceof SetupSipError) return err.message;
  if (err instanceof ServerError) {
    const msg = redact(err.message || err.name);
    if (err.status === 401 || err.status === 403) {
      // livekit-server answers a missing grant with 401 "permissions denied"; Twirp's own code is 403.
      const grant = err.status === 403 || err.code === 'permission_denied' || /permission/i.test(msg);
      return grant
        ? `${where} refused the request: the API key in LIVEKIT_API_KEY lacks the SIP admin grant (sip.admin) needed to manage trunks and dispatch rules; use a key with SIP admin permission (HTTP ${err.status}: ${msg})`
        : `${where} refused the API key/secret (HTTP 401: ${msg}); check LIVEKIT_API_KEY and LIVEKIT_API_SECRET`;
    }
    return `${where} answered HTTP ${err.status}${err.code ? ` ${err.code}` : ''}: ${msg}`;
  }
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code || cause?.message) return `cannot reach ${where} (${cause.code ?? cause.message}); check LIVEKIT_URL`;
    if (err.name === 'TimeoutError') return `${where} did not answer in time; check LIVEKIT_URL`;
    return redact(`${where}: ${err.message}`);
  }
  return redact(String(err));
}
