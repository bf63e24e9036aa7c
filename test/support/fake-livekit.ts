/**
 * A local stand-in for LiveKit's server API (Twirp over HTTP, JSON), as `livekit-server-sdk` calls it:
 * `POST /twirp/livekit.<Service>/<Method>`, a JSON body, `Authorization: Bearer <JWT>`.
 *
 * What it checks, the way livekit-server does (pkg/service/auth.go, sip.go, roomservice.go):
 * - the token: HS256/384/512 signed with the configured secret, `iss` = the configured API key, `exp` set
 *   and not passed (60 s leeway, as go-jose);
 * - the grant each method needs: SIP trunks and dispatch rules `sip.admin`; `TransferSIPParticipant`
 *   `sip.call` plus `video.roomAdmin` with `video.room` = the room (what `SipClient.transferSipParticipant`
 *   signs); `RoomService/DeleteRoom` `video.roomCreate` (what `RoomServiceClient.deleteRoom` signs);
 *   `CreateSIPParticipant` `sip.call`; `MoveParticipant` and `RemoveParticipant` `video.roomAdmin` for the room.
 * - warm transfer's server side: an outbound dial (`CreateSIPParticipant`, answered after `answerAfterMs`,
 *   failing as scripted, e.g. `sipFailure(486, 'Busy Here')`, or as cancelled once its participant is
 *   removed while it rings), the move between rooms (`MoveParticipant`: "not found" for nobody, Twirp
 *   `unimplemented` with `server: 'self-hosted'`, as open-source livekit-server answers).
 *
 * How it refuses (`authErrors`):
 * - `'livekit'` (default), as livekit-server answers: a bad/unknown/expired token → HTTP 401 with a
 *   plain-text body from its auth middleware (`invalid API key: KEY`, `invalid token: <jwt>, error: ...`;
 *   note the server echoes the token); a missing grant → HTTP 401 Twirp JSON
 *   `{"code":"unauthenticated","msg":"permissions denied"}` (the server wraps every permission failure with
 *   `twirpAuthError` = Twirp Unauthenticated).
 * - `'twirp'`: every refusal is a Twirp JSON error: a bad token → 401 `{"code":"unauthenticated",...}`,
 *   a missing grant → 403 `{"code":"permission_denied",...}`.
 *
 * Every request is recorded (method, parsed body, decoded claims, the status answered). Tests script
 * failures with `failNext(method, error)` (e.g. `sipFailure(486, 'Busy Here')` for a transfer the far end
 * refused) and take a grant away with `denyGrant('sip.admin')`.
 *
 * Workers register too: `ws(s)://…/agent` is the agent-server protocol (protobuf `WorkerMessage` in,
 * `ServerMessage` out), as `@livekit/agents`' AgentServer speaks it. The token needs `video.agent`
 * (else HTTP 401, as livekit-server refuses); a `register` is answered with a worker id, so the worker's
 * own health check (`GET /` on its HTTP server) turns 200. Registrations and status updates are kept in
 * `state.workers`. No jobs are dispatched.
 */
import { randomBytes } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { ServerInfo, ServerInfo_Edition, ServerMessage, WorkerMessage, WorkerStatus } from '@livekit/protocol';
import { type JWTPayload, decodeJwt, jwtVerify } from 'jose';
import { SIPDispatchRule, SIPDispatchRuleInfo, SIPInboundTrunkInfo } from 'livekit-server-sdk';
import { WebSocketServer } from 'ws';

/** Twirp error codes and the HTTP status Twirp gives each. */
export const TWIRP_STATUS = {
  canceled: 408,
  unknown: 500,
  invalid_argument: 400,
  malformed: 400,
  deadline_exceeded: 408,
  not_found: 404,
  bad_route: 404,
  already_exists: 409,
  permission_denied: 403,
  unauthenticated: 401,
  resource_exhausted: 429,
  failed_precondition: 412,
  aborted: 409,
  out_of_range: 400,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
  dataloss: 500,
} as const;
export type TwirpCode = keyof typeof TWIRP_STATUS;

/** The code a scripted status alone stands for (the usual one where Twirp maps several codes to it). */
const CODE_FOR_STATUS: Record<number, TwirpCode> = {
  400: 'invalid_argument',
  401: 'unauthenticated',
  403: 'permission_denied',
  404: 'not_found',
  408: 'deadline_exceeded',
  409: 'already_exists',
  412: 'failed_precondition',
  429: 'resource_exhausted',
  500: 'internal',
  501: 'unimplemented',
  503: 'unavailable',
};

/** A scripted error answer. Given only a status, the code is Twirp's for it; given only a code, the status. */
export interface ScriptedError {
  status?: number;
  code?: TwirpCode;
  msg?: string;
  /** Twirp `meta` (string values), e.g. `{ sip_status_code: '486', sip_status: 'Busy Here' }`. */
  meta?: Record<string, string>;
  /** Answer after this long (e.g. to make a transfer take time). */
  delayMs?: number;
}

/** SIP status → Twirp code, as livekit/protocol maps a SIP failure (livekit/sip.go `sipCodeToGRPCCode`). */
const SIP_TO_TWIRP: Record<number, TwirpCode> = {
  400: 'invalid_argument',
  401: 'permission_denied',
  403: 'permission_denied',
  404: 'not_found',
  407: 'unauthenticated',
  408: 'deadline_exceeded',
  410: 'not_found',
  480: 'resource_exhausted',
  481: 'not_found',
  484: 'invalid_argument',
  486: 'resource_exhausted',
  487: 'aborted',
  488: 'invalid_argument',
  500: 'failed_precondition',
  501: 'failed_precondition',
  502: 'failed_precondition',
  503: 'failed_precondition',
  504: 'deadline_exceeded',
  600: 'resource_exhausted',
  603: 'permission_denied',
  604: 'not_found',
  606: 'invalid_argument',
  607: 'permission_denied',
  608: 'permission_denied',
};

/**
 * The error LiveKit answers when the SIP side of a call or transfer fails, e.g. `sipFailure(486, 'Busy Here')`
 * → HTTP 429 `{"code":"resource_exhausted","msg":"sip status 486: Busy Here",
 * "meta":{"sip_status_code":"486","sip_status":"Busy Here"}}`. The SDK turns it into a `SipCallError`
 * (`sipStatusCode` 486, `sipStatus` 'Busy Here', `status` 429, `code` 'resource_exhausted').
 */
export function sipFailure(sipCode: number, reason: string): ScriptedError {
  let code = SIP_TO_TWIRP[sipCode];
  if (!code) code = sipCode >= 500 && sipCode < 600 ? 'failed_precondition' : 'invalid_argument';
  return {
    code,
    msg: `sip status ${sipCode}: ${reason}`,
    meta: { sip_status_code: String(sipCode), sip_status: reason },
  };
}

/** Grants the fake checks; `denyGrant` takes one away whatever the token says. */
export type Grant = 'sip.admin' | 'sip.call' | 'video.roomAdmin' | 'video.roomCreate';

/** The claims of a LiveKit access token (the part the fake reads). */
export interface LiveKitClaims extends JWTPayload {
  video?: { roomCreate?: boolean; roomAdmin?: boolean; room?: string; agent?: boolean; [k: string]: unknown };
  sip?: { admin?: boolean; call?: boolean };
}

export interface RecordedRequest {
  /** `SIP`, `RoomService`, ... */
  service: string;
  /** e.g. `CreateSIPInboundTrunk`. */
  method: string;
  /** The JSON body as sent (the SDK sends protobuf JSON names: `allowedAddresses`, `roomConfig`, ...). */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The token's claims, decoded whether or not it verified; undefined when no token was sent. */
  claims?: LiveKitClaims;
  /** Whether the token verified (signature, key, expiry). */
  verified: boolean;
  /** The HTTP status answered (0 until answered). */
  status: number;
  /** The error answered, if any. */
  error?: { code?: string; msg: string; meta?: Record<string, string> };
}

export interface TransferRecord {
  room: string;
  identity: string;
  transferTo: string;
  playDialtone: boolean;
  headers: Record<string, string>;
  ringingTimeout?: string;
}

/** A `CreateSIPParticipant` request: the outbound dial, as the server received it. */
export interface DialRecord {
  trunkId: string;
  callTo: string;
  room: string;
  identity: string;
  fromNumber?: string;
  headers: Record<string, string>;
  ringingTimeout?: string;
  waitUntilAnswered: boolean;
  playDialtone: boolean;
}

/** A worker connected over `/agent`. */
export interface WorkerRecord {
  /** Given in the register response (`AW_…`). */
  workerId: string;
  /** As the worker registered (`AGENT_NAME`). */
  agentName: string;
  /** The statuses its `updateWorker` messages reported, in order (`WS_FULL` once it drains). */
  statuses: ('available' | 'full')[];
  /** False once its socket closed. */
  connected: boolean;
}

/** In-memory state: protobuf messages (camelCase fields), as the SDK returns them. Tests may seed it. */
export interface FakeLiveKitState {
  inboundTrunks: SIPInboundTrunkInfo[];
  dispatchRules: SIPDispatchRuleInfo[];
  transfers: TransferRecord[];
  deletedRooms: string[];
  dials: DialRecord[];
  /** `MoveParticipant`s carried out: who, from which room, to which. */
  moves: { room: string; identity: string; destinationRoom: string }[];
  /** `RemoveParticipant`s (a ringing SIP participant removed is a cancelled dial). */
  removed: { room: string; identity: string }[];
  /** Participants known per room (dialled ones join when answered; tests may seed callers). */
  participants: Record<string, string[]>;
  /** Workers that registered over `/agent`. */
  workers: WorkerRecord[];
}

export interface FakeLiveKitOptions {
  apiKey: string;
  apiSecret: string;
  /** How refusals look: as livekit-server answers (default), or all-Twirp with 403 for a missing grant. */
  authErrors?: 'livekit' | 'twirp';
  /**
   * `cloud` (default) moves participants between rooms; `self-hosted` answers MoveParticipant as
   * open-source livekit-server does: Twirp `unimplemented` (livekit/livekit#4203).
   */
  server?: 'cloud' | 'self-hosted';
  /** How long an outbound dial with `waitUntilAnswered` rings before the person picks up (ms, default 0). */
  answerAfterMs?: number;
}

export interface FakeLiveKit {
  /** `http://127.0.0.1:<port>` */
  url: string;
  requests: RecordedRequest[];
  state: FakeLiveKitState;
  /** The next call(s) of `method` (after authentication and the grant check) answer this error. */
  failNext(method: string, error?: ScriptedError, times?: number): void;
  /** Treat `grant` as absent from every token until `allowGrant`. */
  denyGrant(grant: Grant): void;
  allowGrant(grant: Grant): void;
  /** Recorded requests of one method. */
  calls(method: string): RecordedRequest[];
  close(): Promise<void>;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: TwirpCode | undefined,
    msg: string,
    readonly meta?: Record<string, string>,
  ) {
    super(msg);
  }
}

const twirp = (code: TwirpCode, msg: string, meta?: Record<string, string>, status?: number) =>
  new Refusal(status ?? TWIRP_STATUS[code], code, msg, meta);

function newId(prefix: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  return prefix + Array.from(randomBytes(12), (b) => alphabet[b % alphabet.length]).join('');
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Protobuf JSON as Twirp's Go server writes it: proto field names, defaults included. */
const toJson = (m: SIPInboundTrunkInfo | SIPDispatchRuleInfo) =>
  m.toJson({ useProtoFieldName: true, emitDefaultValues: true }) as Json;

/** livekit/protocol ListUpdate.Validate + applyListUpdate. */
function applyListUpdate(current: string[], u: Json | undefined): string[] {
  if (!u) return current;
  const set: string[] = u.set ?? [];
  const add: string[] = u.add ?? [];
  const remove: string[] = u.remove ?? [];
  const change = set.length + add.length + remove.length > 0;
  if (!u.clear && !change) throw twirp('invalid_argument', 'unsupported list update operation');
  if (u.clear && change) throw twirp('invalid_argument', 'cannot clear and change the list at the same time');
  if (set.length && add.length + remove.length) throw twirp('invalid_argument', 'cannot set and change the list at the same time');
  if ([...set, ...add, ...remove].some((v) => v === '')) throw twirp('invalid_argument', 'empty element in the list');
  if (u.clear) return [];
  if (set.length) return [...set];
  const out = current.filter((v) => !remove.includes(v));
  for (const v of add) if (!out.includes(v)) out.push(v);
  return out;
}

function parse<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw twirp('malformed', `the json request could not be decoded: ${(err as Error).message}`);
  }
}

export async function startFakeLiveKit(opts: FakeLiveKitOptions): Promise<FakeLiveKit> {
  const style = opts.authErrors ?? 'livekit';
  const requests: RecordedRequest[] = [];
  const state: FakeLiveKitState = {
    inboundTrunks: [],
    dispatchRules: [],
    transfers: [],
    deletedRooms: [],
    dials: [],
    moves: [],
    removed: [],
    participants: {},
    workers: [],
  };
  const scripted = new Map<string, ScriptedError[]>();
  const denied = new Set<Grant>();
  const secret = new TextEncoder().encode(opts.apiSecret);

  const has = (c: LiveKitClaims | undefined, g: Grant): boolean => {
    if (!c || denied.has(g)) return false;
    const [scope, name] = g.split('.') as ['sip' | 'video', string];
    return (c[scope] as Record<string, unknown> | undefined)?.[name] === true;
  };
  const permissionDenied = (grant: string) =>
    style === 'livekit'
      ? twirp('unauthenticated', 'permissions denied')
      : twirp('permission_denied', `permissions denied: the token lacks the ${grant} grant`);
  const need = (c: LiveKitClaims | undefined, g: Grant) => {
    if (!has(c, g)) throw permissionDenied(g);
  };
  const badToken = (text: string) => (style === 'livekit' ? new Refusal(401, undefined, text) : twirp('unauthenticated', text));

  async function authenticate(req: IncomingMessage, rec: RecordedRequest): Promise<LiveKitClaims | undefined> {
    const header = req.headers.authorization;
    if (header === undefined || header === '') return undefined; // no token: the method's grant check refuses
    if (!header.startsWith('Bearer ')) throw badToken('invalid authorization header. Must start with Bearer ');
    const token = header.slice('Bearer '.length);
    let claims: LiveKitClaims;
    try {
      claims = decodeJwt(token) as LiveKitClaims;
    } catch {
      throw badToken('invalid authorization token');
    }
    rec.claims = claims;
    if (claims.iss !== opts.apiKey) throw badToken(`invalid API key: ${claims.iss ?? ''}`);
    try {
      await jwtVerify(token, secret, {
        issuer: opts.apiKey,
        algorithms: ['HS256', 'HS384', 'HS512'],
        clockTolerance: 60,
        requiredClaims: ['exp'],
      });
    } catch (err) {
      const why = (err as Error).message;
      throw badToken(style === 'livekit' ? `invalid token: ${token}, error: ${why}` : `invalid token: ${why}`);
    }
    rec.verified = true;
    return claims;
  }

  // ---- SIP: inbound trunks -------------------------------------------------------------------------

  function validateTrunk(t: SIPInboundTrunkInfo): void {
    if (!t.authUsername && !t.authPassword && !t.allowedAddresses.length && !t.numbers.length) {
      throw twirp(
        'invalid_argument',
        'for security, one of the fields must be set: AuthUsername+AuthPassword, AllowedAddresses or Numbers',
      );
    }
    // Two trunks answering the same number for any caller: LiveKit could not tell which one a call is for.
    for (const other of state.inboundTrunks) {
      if (other.sipTrunkId === t.sipTrunkId || other.allowedNumbers.length || t.allowedNumbers.length) continue;
      const shared = t.numbers.filter((n) => other.numbers.includes(n));
      if (shared.length) {
        throw twirp(
          'internal',
          `Conflicting inbound SIP Trunks: "${t.sipTrunkId || '<new>'}" and "${other.sipTrunkId}", using the same number(s) ${JSON.stringify(shared)} without AllowedNumbers set`,
        );
      }
    }
  }

  function findTrunk(id: string | undefined): SIPInboundTrunkInfo {
    if (!id) throw twirp('invalid_argument', 'trunk ID is required');
    const t = state.inboundTrunks.find((x) => x.sipTrunkId === id);
    if (!t) throw twirp('not_found', 'requested sip trunk does not exist');
    return t;
  }

  // ---- SIP: dispatch rules -------------------------------------------------------------------------

  function rulePin(r: SIPDispatchRuleInfo): string {
    const v = r.rule?.rule.value as { pin?: string } | undefined;
    return v?.pin ?? '';
  }

  function validateRule(r: SIPDispatchRuleInfo): void {
    if (!r.rule || r.rule.rule.case === undefined) throw twirp('invalid_argument', 'missing rule');
    // livekit/protocol sip.ValidateDispatchRules: one rule per Trunk+Number+PIN ("" = any).
    const keys = (x: SIPDispatchRuleInfo) =>
      (x.trunkIds.length ? x.trunkIds : ['']).flatMap((t) =>
        (x.inboundNumbers.length ? x.inboundNumbers : ['']).map((n) => `${t}|${n}|${rulePin(x)}`),
      );
    const mine = new Set(keys(r));
    for (const other of state.dispatchRules) {
      if (other.sipDispatchRuleId === r.sipDispatchRuleId) continue;
      if (keys(other).some((k) => mine.has(k))) {
        throw twirp(
          'internal',
          `Conflicting SIP Dispatch Rules: same Trunk+Number+PIN combination for for "${r.sipDispatchRuleId || '<new>'}" and "${other.sipDispatchRuleId}"`,
        );
      }
    }
  }

  function findRule(id: string | undefined): SIPDispatchRuleInfo {
    if (!id) throw twirp('invalid_argument', 'dispatch rule ID is required');
    const r = state.dispatchRules.find((x) => x.sipDispatchRuleId === id);
    if (!r) throw twirp('not_found', 'requested sip dispatch rule does not exist');
    return r;
  }

  const RULE_FIELDS = [
    'rule',
    'trunkIds',
    'trunk_ids',
    'hidePhoneNumber',
    'hide_phone_number',
    'inboundNumbers',
    'inbound_numbers',
    'name',
    'metadata',
    'attributes',
    'roomPreset',
    'room_preset',
    'roomConfig',
    'room_config',
  ];

  // ---- methods -------------------------------------------------------------------------------------

  interface Method {
    /** Argument checks the server makes before the grant check. */
    before?(body: Json): void;
    grant(claims: LiveKitClaims | undefined, body: Json): void;
    run(body: Json): Json | Promise<Json>;
  }
  const sipAdmin = (c: LiveKitClaims | undefined) => need(c, 'sip.admin');
  /** `video.roomAdmin` for this very room (what RoomServiceClient signs for participant methods). */
  const roomAdmin = (c: LiveKitClaims | undefined, room: string) => {
    need(c, 'video.roomAdmin');
    if (c?.video?.room !== room) throw permissionDenied(`video.room=${room}`);
  };

  const methods: Record<string, Record<string, Method>> = {
    SIP: {
      CreateSIPInboundTrunk: {
        grant: sipAdmin,
        run(body) {
          if (!body.trunk) throw twirp('invalid_argument', 'missing trunk');
          const t = parse(() => SIPInboundTrunkInfo.fromJson(body.trunk, { ignoreUnknownFields: true }));
          if (t.sipTrunkId) throw twirp('invalid_argument', 'trunk id must not be set');
          validateTrunk(t);
          t.sipTrunkId = newId('ST_');
          state.inboundTrunks.push(t);
          return toJson(t);
        },
      },
      ListSIPInboundTrunk: {
        grant: sipAdmin,
        run(body) {
          const ids: string[] = body.trunkIds ?? body.trunk_ids ?? [];
          const numbers: string[] = body.numbers ?? [];
          let items = state.inboundTrunks;
          if (ids.length) items = ids.map((id) => items.find((t) => t.sipTrunkId === id)).filter((t) => t !== undefined);
          if (numbers.length) items = items.filter((t) => !t.numbers.length || t.numbers.some((n) => numbers.includes(n)));
          return { items: items.map(toJson) };
        },
      },
      UpdateSIPInboundTrunk: {
        grant: sipAdmin,
        run(body) {
          const id: string | undefined = body.sipTrunkId ?? body.sip_trunk_id;
          if (!id) throw twirp('invalid_argument', 'trunk id must be set');
          if (!body.replace && !body.update) throw twirp('invalid_argument', 'missing or unsupported update action');
          const current = findTrunk(id);
          let next: SIPInboundTrunkInfo;
          if (body.replace) {
            next = parse(() => SIPInboundTrunkInfo.fromJson(body.replace, { ignoreUnknownFields: true }));
            if (next.sipTrunkId && next.sipTrunkId !== id) {
              throw twirp('invalid_argument', 'trunk id in the info must be empty or match the id in the update');
            }
            next.sipTrunkId = id;
          } else {
            const u: Json = body.update;
            next = current.clone();
            next.numbers = applyListUpdate(next.numbers, u.numbers);
            next.allowedAddresses = applyListUpdate(next.allowedAddresses, u.allowedAddresses ?? u.allowed_addresses);
            next.allowedNumbers = applyListUpdate(next.allowedNumbers, u.allowedNumbers ?? u.allowed_numbers);
            const scalars: [keyof SIPInboundTrunkInfo & string, string][] = [
              ['authUsername', 'auth_username'],
              ['authPassword', 'auth_password'],
              ['name', 'name'],
              ['metadata', 'metadata'],
            ];
            for (const [camel, snake] of scalars) {
              const v = u[camel] ?? u[snake];
              if (typeof v === 'string') (next as unknown as Json)[camel] = v;
            }
          }
          validateTrunk(next);
          state.inboundTrunks[state.inboundTrunks.indexOf(current)] = next;
          return toJson(next);
        },
      },
      DeleteSIPTrunk: {
        grant: sipAdmin,
        run(body) {
          const t = findTrunk(body.sipTrunkId ?? body.sip_trunk_id);
          state.inboundTrunks.splice(state.inboundTrunks.indexOf(t), 1);
          return { sip_trunk_id: t.sipTrunkId };
        },
      },
      CreateSIPDispatchRule: {
        grant: sipAdmin,
        run(body) {
          const src: Json = body.dispatchRule ?? body.dispatch_rule ?? Object.fromEntries(Object.entries(body).filter(([k]) => RULE_FIELDS.includes(k)));
          const r = parse(() => SIPDispatchRuleInfo.fromJson(src, { ignoreUnknownFields: true }));
          r.sipDispatchRuleId = '';
          validateRule(r);
          r.sipDispatchRuleId = newId('SDR_');
          state.dispatchRules.push(r);
          return toJson(r);
        },
      },
      ListSIPDispatchRule: {
        grant: sipAdmin,
        run(body) {
          const ids: string[] = body.dispatchRuleIds ?? body.dispatch_rule_ids ?? [];
          const trunks: string[] = body.trunkIds ?? body.trunk_ids ?? [];
          let items = state.dispatchRules;
          if (ids.length) items = ids.map((id) => items.find((r) => r.sipDispatchRuleId === id)).filter((r) => r !== undefined);
          if (trunks.length) items = items.filter((r) => !r.trunkIds.length || r.trunkIds.some((t) => trunks.includes(t)));
          return { items: items.map(toJson) };
        },
      },
      UpdateSIPDispatchRule: {
        grant: sipAdmin,
        run(body) {
          const id: string | undefined = body.sipDispatchRuleId ?? body.sip_dispatch_rule_id;
          if (!id) throw twirp('invalid_argument', 'dispatch rule id must be set');
          if (!body.replace && !body.update) throw twirp('invalid_argument', 'missing or unsupported update action');
          const current = findRule(id);
          let next: SIPDispatchRuleInfo;
          if (body.replace) {
            next = parse(() => SIPDispatchRuleInfo.fromJson(body.replace, { ignoreUnknownFields: true }));
            next.sipDispatchRuleId = id;
          } else {
            const u: Json = body.update;
            next = current.clone();
            next.trunkIds = applyListUpdate(next.trunkIds, u.trunkIds ?? u.trunk_ids);
            if (u.rule) next.rule = parse(() => SIPDispatchRule.fromJson(u.rule, { ignoreUnknownFields: true }));
            if (typeof u.name === 'string') next.name = u.name;
            if (typeof u.metadata === 'string') next.metadata = u.metadata;
            for (const [k, v] of Object.entries((u.attributes ?? {}) as Record<string, string>)) {
              if (v === '') delete next.attributes[k];
              else next.attributes[k] = v;
            }
          }
          validateRule(next);
          state.dispatchRules[state.dispatchRules.indexOf(current)] = next;
          return toJson(next);
        },
      },
      DeleteSIPDispatchRule: {
        grant: sipAdmin,
        run(body) {
          const r = findRule(body.sipDispatchRuleId ?? body.sip_dispatch_rule_id);
          state.dispatchRules.splice(state.dispatchRules.indexOf(r), 1);
          return toJson(r);
        },
      },
      CreateSIPParticipant: {
        before(body) {
          if (!(body.sipTrunkId ?? body.sip_trunk_id) && !body.trunk) throw twirp('invalid_argument', 'missing sip trunk id');
          if (!(body.sipCallTo ?? body.sip_call_to)) throw twirp('invalid_argument', 'missing sip callee number');
          if (!(body.roomName ?? body.room_name)) throw twirp('invalid_argument', 'missing room name');
        },
        grant: (c) => need(c, 'sip.call'),
        async run(body) {
          const dial: DialRecord = {
            trunkId: body.sipTrunkId ?? body.sip_trunk_id ?? '',
            callTo: body.sipCallTo ?? body.sip_call_to,
            room: body.roomName ?? body.room_name,
            identity: body.participantIdentity ?? body.participant_identity ?? '',
            fromNumber: body.sipNumber ?? body.sip_number,
            headers: body.headers ?? {},
            ringingTimeout: body.ringingTimeout ?? body.ringing_timeout,
            waitUntilAnswered: Boolean(body.waitUntilAnswered ?? body.wait_until_answered),
            playDialtone: Boolean(body.playDialtone ?? body.play_dialtone ?? body.playRingtone),
          };
          state.dials.push(dial);
          if (dial.waitUntilAnswered && opts.answerAfterMs) await new Promise((r) => setTimeout(r, opts.answerAfterMs));
          // Cancelled while ringing (the participant removed): the dial fails as the far end hanging up.
          if (state.removed.some((r) => r.room === dial.room && r.identity === dial.identity)) {
            throw twirp('unavailable', 'call was cancelled', { sip_status_code: '487', sip_status: 'Request Terminated' });
          }
          (state.participants[dial.room] ??= []).push(dial.identity);
          return { participantId: `PA_${dial.identity}`, participantIdentity: dial.identity, roomName: dial.room, sipCallId: `SCL_${state.dials.length}` };
        },
      },
      TransferSIPParticipant: {
        before(body) {
          if (!(body.roomName ?? body.room_name)) throw twirp('invalid_argument', 'Missing room name');
          if (!(body.participantIdentity ?? body.participant_identity)) {
            throw twirp('invalid_argument', 'Missing participant identity');
          }
        },
        grant(claims, body) {
          need(claims, 'sip.call');
          need(claims, 'video.roomAdmin');
          if (claims?.video?.room !== (body.roomName ?? body.room_name)) {
            throw permissionDenied(`video.room=${body.roomName ?? body.room_name}`);
          }
        },
        run(body) {
          state.transfers.push({
            room: body.roomName ?? body.room_name,
            identity: body.participantIdentity ?? body.participant_identity,
            transferTo: body.transferTo ?? body.transfer_to ?? '',
            playDialtone: Boolean(body.playDialtone ?? body.play_dialtone),
            headers: body.headers ?? {},
            ringingTimeout: body.ringingTimeout ?? body.ringing_timeout,
          });
          return {};
        },
      },
    },
    RoomService: {
      DeleteRoom: {
        grant: (c) => need(c, 'video.roomCreate'),
        run(body) {
          state.deletedRooms.push(body.room ?? '');
          return {};
        },
      },
      MoveParticipant: {
        grant: (c, body) => roomAdmin(c, body.room),
        run(body) {
          if (opts.server === 'self-hosted') throw twirp('unimplemented', 'MoveParticipant is not implemented');
          const identity = body.identity ?? '';
          const from = state.participants[body.room] ?? [];
          if (!from.includes(identity)) throw twirp('not_found', 'participant not found');
          const to = body.destinationRoom ?? body.destination_room ?? '';
          state.participants[body.room] = from.filter((p) => p !== identity);
          (state.participants[to] ??= []).push(identity);
          state.moves.push({ room: body.room, identity, destinationRoom: to });
          return {};
        },
      },
      RemoveParticipant: {
        grant: (c, body) => roomAdmin(c, body.room),
        run(body) {
          state.removed.push({ room: body.room, identity: body.identity });
          state.participants[body.room] = (state.participants[body.room] ?? []).filter((p) => p !== body.identity);
          return {};
        },
      },
    },
  };

  // ---- HTTP ----------------------------------------------------------------------------------------

  async function handle(req: IncomingMessage, res: ServerResponse, raw: string): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const m = /^\/twirp\/livekit\.([A-Za-z]+)\/([A-Za-z]+)$/.exec(path);
    const rec: RecordedRequest = { service: m?.[1] ?? '', method: m?.[2] ?? path, body: undefined, verified: false, status: 0 };
    requests.push(rec);
    try {
      rec.body = JSON.parse(raw);
    } catch {
      rec.body = raw;
    }
    let out: Json;
    try {
      const claims = await authenticate(req, rec); // LiveKit's middleware runs before Twirp's routing
      if (req.method !== 'POST') throw twirp('bad_route', `unsupported method "${req.method}" (only POST is allowed)`);
      const method = m ? methods[m[1]]?.[m[2]] : undefined;
      if (!method) throw twirp('bad_route', `no handler for path "${path}"`);
      const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/json') throw twirp('bad_route', `unexpected Content-Type: "${req.headers['content-type'] ?? ''}" (this fake speaks JSON only)`);
      if (typeof rec.body !== 'object' || rec.body === null) throw twirp('malformed', 'the json request could not be decoded');
      method.before?.(rec.body);
      method.grant(claims, rec.body);
      const failure = scripted.get(rec.method)?.shift();
      if (failure) {
        if (failure.delayMs) await new Promise((r) => setTimeout(r, failure.delayMs));
        let code = failure.code;
        if (!code && failure.status) code = CODE_FOR_STATUS[failure.status];
        code ??= 'internal';
        throw twirp(code, failure.msg ?? `scripted failure of ${rec.method}`, failure.meta, failure.status);
      }
      out = await method.run(rec.body);
    } catch (err) {
      const r = err instanceof Refusal ? err : twirp('internal', (err as Error).message);
      rec.status = r.status;
      rec.error = { code: r.code, msg: r.message, ...(r.meta ? { meta: r.meta } : {}) };
      if (r.code === undefined) {
        res.writeHead(r.status, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(r.message);
      } else {
        res.writeHead(r.status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ code: r.code, msg: r.message, ...(r.meta ? { meta: r.meta } : {}) }));
      }
      return;
    }
    rec.status = 200;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(out));
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(String(err));
      });
    });
  });

  // ---- workers: /agent ----------------------------------------------------------------------------

  const workerSockets = new WebSocketServer({ noServer: true });
  const refuseUpgrade = (socket: Duplex, status: number, text: string) =>
    socket.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : 'Unauthorized'}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== '/agent') return void refuseUpgrade(socket, 404, 'not found');
    const rec: RecordedRequest = { service: 'Agent', method: 'WorkerConnect', body: undefined, verified: false, status: 0 };
    requests.push(rec);
    void authenticate(req, rec).then(
      (claims) => {
        if (claims?.video?.agent !== true) {
          rec.status = 401;
          return refuseUpgrade(socket, 401, 'permissions denied');
        }
        rec.status = 101;
        workerSockets.handleUpgrade(req, socket, head, (ws) => {
          let worker: WorkerRecord | undefined;
          ws.on('error', () => {});
          ws.on('close', () => {
            if (worker) worker.connected = false;
          });
          ws.on('message', (data: Buffer, isBinary: boolean) => {
            if (!isBinary) return;
            const msg = WorkerMessage.fromBinary(new Uint8Array(data));
            if (msg.message.case === 'register' && !worker) {
              worker = { workerId: newId('AW_'), agentName: msg.message.value.agentName, statuses: [], connected: true };
              state.workers.push(worker);
              const answer = new ServerMessage({
                message: {
                  case: 'register',
                  value: {
                    workerId: worker.workerId,
                    serverInfo: new ServerInfo({ edition: ServerInfo_Edition.Standard, version: 'fake', protocol: 16, nodeId: 'fake-node' }),
                  },
                },
              });
              ws.send(answer.toBinary());
            } else if (msg.message.case === 'updateWorker' && worker && msg.message.value.status !== undefined) {
              worker.statuses.push(msg.message.value.status === WorkerStatus.WS_FULL ? 'full' : 'available');
            }
          });
        });
      },
      (err: unknown) => {
        const r = err instanceof Refusal ? err : new Refusal(401, undefined, String(err));
        rec.status = r.status;
        refuseUpgrade(socket, r.status, r.message);
      },
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    state,
    failNext(method, error = {}, times = 1) {
      const queue = scripted.get(method) ?? [];
      for (let i = 0; i < times; i++) queue.push(error);
      scripted.set(method, queue);
    },
    denyGrant: (g) => void denied.add(g),
    allowGrant: (g) => void denied.delete(g),
    calls: (method) => requests.filter((r) => r.method === method),
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of workerSockets.clients) ws.terminate();
        workerSockets.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
