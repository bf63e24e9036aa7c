/**
 * `npm run setup:sip` (`-- --dry-run` to only look): makes LiveKit ring the agent when a Vobiz number is
 * called. Idempotent: it finds its two objects by name, creates what is missing, updates only what differs,
 * and prints one line per object (`created`, `updated (fields…)` or `unchanged`).
 *
 * - an **inbound trunk** (`SIP_TRUNK_NAME`) for `VOBIZ_NUMBERS`, accepting calls only from
 *   `VOBIZ_ALLOWED_ADDRESSES` (Vobiz's gateways);
 * - an **individual dispatch rule** (`SIP_DISPATCH_RULE_NAME`): one room per caller (`call-…`), attached to
 *   that trunk, whose room config dispatches the agent `AGENT_NAME`.
 */
import { isIP } from 'node:net';
import { pathToFileURL } from 'node:url';
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
import { livekitUrl, requireSettings, settingsOrExit } from './config.js';

const PROGRAM = 'setup:sip';
/** Rooms of calls from the dispatch rule are named `call-<caller>_<random>`. */
export const ROOM_PREFIX = 'call-';
export const DEFAULT_ALLOWED_ADDRESSES = '13.233.44.61/32';

const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

const e164List = z.string().transform((s, ctx) => {
  const items = list(s);
  const bad = items.filter((n) => !/^\+[1-9]\d{6,14}$/.test(n));
  if (!items.length || bad.length) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `must be comma-separated E.164 numbers (+919876543210)${bad.length ? `; not a number: ${bad.join(', ')}` : ''}`,
    });
    return z.NEVER;
  }
  return [...new Set(items)];
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

const httpURL = (url: string) => url.replace(/^ws(s?):/, 'http$1:');

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
  const dryRun = options.dryRun ?? false;
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const sip = new SipClient(httpURL(settings.LIVEKIT_URL), settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET);
  const numbers = settings.VOBIZ_NUMBERS;
  const addresses = settings.VOBIZ_ALLOWED_ADDRESSES;

  // ---- the inbound trunk ----
  const trunkLabel = `inbound trunk "${settings.SIP_TRUNK_NAME}"`;
  const existingTrunk = only(await sip.listSipInboundTrunk(), settings.SIP_TRUNK_NAME, 'inbound trunk', (t) => t.sipTrunkId);
  let trunk: ObjectResult;
  const trunkWhat = `numbers ${numbers.join(', ')}; allowed addresses ${addresses.join(', ')}`;
  if (!existingTrunk) {
    if (dryRun) {
      trunk = { action: 'would create', changed: [] };
      log(`${trunkLabel}: would create (${trunkWhat})`);
    } else {
      const created = await sip.createSipInboundTrunk(settings.SIP_TRUNK_NAME, numbers, { allowedAddresses: addresses });
      trunk = { action: 'created', id: created.sipTrunkId, changed: [] };
      log(`${trunkLabel} ${created.sipTrunkId}: created (${trunkWhat})`);
    }
  } else {
    const id = existingTrunk.sipTrunkId;
    const fields: SipInboundTrunkUpdateOptions = {};
    const changed: string[] = [];
    const diffs: string[] = [];
    if (!sameSet(existingTrunk.numbers, numbers)) {
      fields.numbers = setList(numbers);
      changed.push('numbers');
      diffs.push(`numbers ${existingTrunk.numbers.join(', ') || '(none)'} → ${numbers.join(', ')}`);
    }
    if (!sameSet(existingTrunk.allowedAddresses, addresses)) {
      fields.allowedAddresses = setList(addresses);
      changed.push('allowed addresses');
      diffs.push(`allowed addresses ${existingTrunk.allowedAddresses.join(', ') || '(any)'} → ${addresses.join(', ')}`);
    }
    if (!changed.length) {
      trunk = { action: 'unchanged', id, changed };
      log(`${trunkLabel} ${id}: unchanged`);
    } else if (dryRun) {
      trunk = { action: 'would update', id, changed };
      log(`${trunkLabel} ${id}: would update (${diffs.join('; ')})`);
    } else {
      await sip.updateSipInboundTrunkFields(id, fields);
      trunk = { action: 'updated', id, changed };
      log(`${trunkLabel} ${id}: updated (${changed.join(', ')})`);
    }
  }

  // ---- the dispatch rule ----
  const ruleLabel = `dispatch rule "${settings.SIP_DISPATCH_RULE_NAME}"`;
  const trunkRef = trunk.id ?? `(the new trunk "${settings.SIP_TRUNK_NAME}")`;
  const ruleWhat = `one room per caller "${ROOM_PREFIX}…", agent "${settings.AGENT_NAME}", trunk ${trunkRef}`;
  const existingRule = only(
    await sip.listSipDispatchRule(),
    settings.SIP_DISPATCH_RULE_NAME,
    'dispatch rule',
    (r) => r.sipDispatchRuleId,
  );
  const wantRule = () =>
    new SIPDispatchRule({
      rule: { case: 'dispatchRuleIndividual', value: new SIPDispatchRuleIndividual({ roomPrefix: ROOM_PREFIX, pin: '' }) },
    });
  let dispatchRule: ObjectResult;
  if (!existingRule) {
    if (dryRun) {
      dispatchRule = { action: 'would create', changed: [] };
      log(`${ruleLabel}: would create (${ruleWhat})`);
    } else {
      const created = await sip.createSipDispatchRule(
        { type: 'individual', roomPrefix: ROOM_PREFIX },
        {
          name: settings.SIP_DISPATCH_RULE_NAME,
          trunkIds: [trunk.id!],
          roomConfig: new RoomConfiguration({ agents: [new RoomAgentDispatch({ agentName: settings.AGENT_NAME })] }),
        },
      );
      dispatchRule = { action: 'created', id: created.sipDispatchRuleId, changed: [] };
      log(`${ruleLabel} ${created.sipDispatchRuleId}: created (${ruleWhat})`);
    }
  } else {
    const id = existingRule.sipDispatchRuleId;
    const changed: string[] = [];
    const diffs: string[] = [];
    const ind = individual(existingRule);
    if (!ind || ind.roomPrefix !== ROOM_PREFIX || ind.pin !== '') {
      changed.push('rule');
      diffs.push(`rule → individual rooms "${ROOM_PREFIX}…" without a PIN`);
    }
    const trunkIds = trunk.id ? [trunk.id] : [];
    if (!trunk.id || !sameSet(existingRule.trunkIds, trunkIds)) {
      changed.push('trunk ids');
      diffs.push(`trunk ids ${existingRule.trunkIds.join(', ') || '(any trunk)'} → ${trunkRef}`);
    }
    const agents = existingRule.roomConfig?.agents ?? [];
    if (agents.length !== 1 || agents[0].agentName !== settings.AGENT_NAME) {
      changed.push('agent name');
      diffs.push(`agents ${agents.map((a) => `"${a.agentName}"`).join(', ') || '(none)'} → "${settings.AGENT_NAME}"`);
    }
    if (!changed.length) {
      dispatchRule = { action: 'unchanged', id, changed };
      log(`${ruleLabel} ${id}: unchanged`);
    } else if (dryRun) {
      dispatchRule = { action: 'would update', id, changed };
      log(`${ruleLabel} ${id}: would update (${diffs.join('; ')})`);
    } else {
      // The field update cannot change the room config, so replace the rule, keeping what we do not manage.
      const next = existingRule.clone();
      if (changed.includes('rule')) next.rule = wantRule();
      next.trunkIds = trunkIds;
      const roomConfig = next.roomConfig ?? new RoomConfiguration();
      const kept = agents.find((a) => a.agentName === settings.AGENT_NAME);
      roomConfig.agents = [kept ?? new RoomAgentDispatch({ agentName: settings.AGENT_NAME })];
      next.roomConfig = roomConfig;
      await sip.updateSipDispatchRule(id, next);
      dispatchRule = { action: 'updated', id, changed };
      log(`${ruleLabel} ${id}: updated (${changed.join(', ')})`);
    }
  }
  return { trunk, dispatchRule };
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

async function main(argv: string[]): Promise<void> {
  const unknown = argv.filter((a) => a !== '--dry-run');
  if (unknown.length) {
    process.stderr.write(`${PROGRAM}: unknown option ${unknown.join(' ')} (usage: npm run setup:sip [-- --dry-run])\n`);
    process.exit(2);
  }
  const settings = settingsOrExit(PROGRAM, () => loadSetupSipSettings());
  const dryRun = argv.includes('--dry-run');
  try {
    await setupSip(settings, { dryRun });
    if (dryRun) process.stdout.write('dry run: nothing was changed\n');
  } catch (err) {
    process.stderr.write(`${PROGRAM}: ${describeFailure(err, settings)}\n`);
    process.exit(1);
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) void main(process.argv.slice(2));
