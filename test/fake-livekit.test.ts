/**
 * The local LiveKit stand-in, driven by the real SDK clients: it accepts what the SDK signs, refuses a bad
 * signature, an unknown key, an expired token and a missing grant the way it says it does, keeps SIP
 * state, and answers scripted failures (a SIP transfer refused with 486 Busy Here) as LiveKit does.
 */
import { ServerMessage, WorkerMessage, WorkerStatus } from '@livekit/protocol';
import { SignJWT } from 'jose';
import { AccessToken, RoomServiceClient, ServerError, SipCallError, SipClient, type VideoGrant } from 'livekit-server-sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type FakeLiveKit, type FakeLiveKitOptions, sipFailure, startFakeLiveKit } from './support/fake-livekit.js';

const KEY = 'APIfakekey';
const SECRET = 'fake-secret-that-is-long-enough-for-hs256-signing';

let fake: FakeLiveKit | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function start(opts: Partial<FakeLiveKitOptions> = {}): Promise<FakeLiveKit> {
  fake = await startFakeLiveKit({ apiKey: KEY, apiSecret: SECRET, ...opts });
  return fake;
}

/** The SDK's rejection, as a ServerError. */
async function refusal(p: Promise<unknown>): Promise<ServerError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ServerError);
  return err as ServerError;
}

/** A raw Twirp call, to see the exact body and content type. */
async function raw(url: string, method: string, body: unknown, token?: string) {
  const res = await fetch(`${url}/twirp/livekit.${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

describe('fake LiveKit: what the SDK sends is accepted', () => {
  it('creates, lists, updates and deletes an inbound trunk, answering snake_case protobuf JSON', async () => {
    const f = await start();
    const sip = new SipClient(f.url, KEY, SECRET);
    const t = await sip.createSipInboundTrunk('vobiz', ['+919876543210'], { allowedAddresses: ['13.233.44.61/32'] });
    expect(t.sipTrunkId).toMatch(/^ST_\w{12}$/);
    expect(t.numbers).toEqual(['+919876543210']);

    const req = f.calls('CreateSIPInboundTrunk')[0];
    expect(req.service).toBe('SIP');
    expect(req.body.trunk).toMatchObject({ name: 'vobiz', numbers: ['+919876543210'], allowedAddresses: ['13.233.44.61/32'] });
    expect(req.claims).toMatchObject({ iss: KEY, sip: { admin: true } });
    expect(req.verified).toBe(true);
    expect(req.status).toBe(200);

    const at = new AccessToken(KEY, SECRET);
    at.addSIPGrant({ admin: true });
    const token = await at.toJwt();
    const listed = await raw(f.url, 'SIP/ListSIPInboundTrunk', {}, token);
    expect(listed.status).toBe(200);
    expect(listed.type).toBe('application/json');
    expect(JSON.parse(listed.text).items[0]).toMatchObject({ sip_trunk_id: t.sipTrunkId, allowed_addresses: ['13.233.44.61/32'] });

    const updated = await sip.updateSipInboundTrunkFields(t.sipTrunkId, {
      numbers: { set: ['+911111111111'] } as never,
    });
    expect(updated.numbers).toEqual(['+911111111111']);
    expect(updated.allowedAddresses).toEqual(['13.233.44.61/32']);
    expect(f.state.inboundTrunks[0].numbers).toEqual(['+911111111111']);

    expect((await sip.listSipInboundTrunk({ numbers: ['+911111111111'] })).map((x) => x.sipTrunkId)).toEqual([t.sipTrunkId]);
    await sip.deleteSipTrunk(t.sipTrunkId);
    expect(await sip.listSipInboundTrunk()).toEqual([]);
    const gone = await refusal(sip.deleteSipTrunk(t.sipTrunkId));
    expect([gone.status, gone.code]).toEqual([404, 'not_found']);
  });

  it('refuses a second trunk for the same number, as LiveKit does', async () => {
    const f = await start();
    const sip = new SipClient(f.url, KEY, SECRET);
    await sip.createSipInboundTrunk('a', ['+919876543210']);
    const err = await refusal(sip.createSipInboundTrunk('b', ['+919876543210']));
    expect(err.message).toMatch(/Conflicting inbound SIP Trunks/);
    expect(f.state.inboundTrunks).toHaveLength(1);
  });

  it('creates, updates (replace and fields) and deletes a dispatch rule', async () => {
    const f = await start();
    const sip = new SipClient(f.url, KEY, SECRET);
    const r = await sip.createSipDispatchRule(
      { type: 'individual', roomPrefix: 'call-' },
      { name: 'sb', trunkIds: ['ST_x'], roomConfig: { agents: [{ agentName: 'switchboard' }] } as never },
    );
    expect(r.sipDispatchRuleId).toMatch(/^SDR_\w{12}$/);
    expect(r.rule?.rule.case).toBe('dispatchRuleIndividual');
    expect(r.roomConfig?.agents[0].agentName).toBe('switchboard');
    expect(f.calls('CreateSIPDispatchRule')[0].body).toMatchObject({
      rule: { dispatchRuleIndividual: { roomPrefix: 'call-' } },
      trunkIds: ['ST_x'],
      roomConfig: { agents: [{ agentName: 'switchboard' }] },
    });

    const next = r.clone();
    next.roomConfig!.agents[0].agentName = 'other';
    expect((await sip.updateSipDispatchRule(r.sipDispatchRuleId, next)).roomConfig?.agents[0].agentName).toBe('other');
    const renamed = await sip.updateSipDispatchRuleFields(r.sipDispatchRuleId, { name: 'renamed', trunkIds: { add: ['ST_y'] } as never });
    expect([renamed.name, renamed.trunkIds]).toEqual(['renamed', ['ST_x', 'ST_y']]);
    expect((await sip.listSipDispatchRule({ trunkIds: ['ST_y'] })).length).toBe(1);

    // A second rule for the same trunk and no PIN conflicts.
    const clash = await refusal(sip.createSipDispatchRule({ type: 'individual', roomPrefix: 'x-' }, { trunkIds: ['ST_x'] }));
    expect(clash.message).toMatch(/Conflicting SIP Dispatch Rules/);

    await sip.deleteSipDispatchRule(r.sipDispatchRuleId);
    expect(f.state.dispatchRules).toEqual([]);
  });

  it('transfers a SIP participant with the grants the SDK signs, and deletes a room', async () => {
    const f = await start();
    await new SipClient(f.url, KEY, SECRET).transferSipParticipant('call-1', 'sip_caller', 'tel:+919876543210', {
      playDialtone: false,
    });
    expect(f.state.transfers).toEqual([
      expect.objectContaining({ room: 'call-1', identity: 'sip_caller', transferTo: 'tel:+919876543210', playDialtone: false }),
    ]);
    expect(f.calls('TransferSIPParticipant')[0].claims).toMatchObject({
      sip: { call: true },
      video: { roomAdmin: true, room: 'call-1' },
    });

    await new RoomServiceClient(f.url.replace('http:', 'ws:'), KEY, SECRET).deleteRoom('call-1');
    expect(f.state.deletedRooms).toEqual(['call-1']);
    expect(f.calls('DeleteRoom')[0]).toMatchObject({ service: 'RoomService', claims: { video: { roomCreate: true } } });
  });
});

describe.each(['livekit', 'twirp'] as const)('fake LiveKit refuses (authErrors: %s)', (style) => {
  it('a bad signature: HTTP 401, and nothing changes', async () => {
    const f = await start({ authErrors: style });
    const err = await refusal(new SipClient(f.url, KEY, 'not-the-secret').createSipInboundTrunk('x', ['+919876543210']));
    expect(err.status).toBe(401);
    if (style === 'livekit') {
      // livekit-server's auth middleware: plain text, echoing the token, no Twirp code.
      expect(err.code).toBeUndefined();
      expect(err.message).toMatch(/^invalid token: eyJ[\w.-]+, error: signature verification failed$/);
    } else {
      expect(err.code).toBe('unauthenticated');
      expect(err.message).toBe('invalid token: signature verification failed');
    }
    expect(f.requests[0]).toMatchObject({ method: 'CreateSIPInboundTrunk', status: 401, verified: false });
    expect(f.state.inboundTrunks).toEqual([]);
  });

  it('an unknown API key and an expired token: HTTP 401', async () => {
    const f = await start({ authErrors: style });
    const unknown = await refusal(new SipClient(f.url, 'APIother', SECRET).listSipInboundTrunk());
    expect([unknown.status, unknown.message]).toEqual([401, 'invalid API key: APIother']);

    const expired = await new SignJWT({ sip: { admin: true } })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(KEY)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 120)
      .sign(new TextEncoder().encode(SECRET));
    const r = await raw(f.url, 'SIP/ListSIPInboundTrunk', {}, expired);
    expect(r.status).toBe(401);
    expect(r.text).toMatch(/exp\\?" claim timestamp check failed/);
  });

  it('a missing grant, exactly as documented', async () => {
    const f = await start({ authErrors: style });
    const expectDenied = (r: { status: number; type: string | null; text: string }) => {
      expect(r.type).toBe('application/json');
      if (style === 'livekit') {
        expect(r.status).toBe(401);
        expect(JSON.parse(r.text)).toEqual({ code: 'unauthenticated', msg: 'permissions denied' });
      } else {
        expect(r.status).toBe(403);
        expect(JSON.parse(r.text)).toMatchObject({ code: 'permission_denied', msg: expect.stringMatching(/^permissions denied/) });
      }
    };
    // A token that verifies but carries only a room grant.
    const at = new AccessToken(KEY, SECRET);
    at.addGrant({ roomCreate: true });
    expectDenied(await raw(f.url, 'SIP/ListSIPInboundTrunk', {}, await at.toJwt()));
    // No token at all.
    expectDenied(await raw(f.url, 'SIP/ListSIPInboundTrunk', {}));
    // Room admin for another room cannot transfer a caller in this one.
    const other = new AccessToken(KEY, SECRET);
    other.addGrant({ roomAdmin: true, room: 'call-2' });
    other.addSIPGrant({ call: true });
    expectDenied(await raw(f.url, 'SIP/TransferSIPParticipant', { roomName: 'call-1', participantIdentity: 'p', transferTo: 'tel:+1' }, await other.toJwt()));

    // The test switch: the SDK always signs sip.admin, so take it away.
    f.denyGrant('sip.admin');
    const err = await refusal(new SipClient(f.url, KEY, SECRET).listSipInboundTrunk());
    expect(err.status).toBe(style === 'livekit' ? 401 : 403);
    expect(err.code).toBe(style === 'livekit' ? 'unauthenticated' : 'permission_denied');
    expect(f.requests.at(-1)).toMatchObject({ verified: true, status: err.status });
    f.allowGrant('sip.admin');
    expect(await new SipClient(f.url, KEY, SECRET).listSipInboundTrunk()).toEqual([]);

    f.denyGrant('video.roomCreate');
    const room = await refusal(new RoomServiceClient(f.url, KEY, SECRET).deleteRoom('call-1'));
    expect(room.status).toBe(style === 'livekit' ? 401 : 403);
    expect(f.state.deletedRooms).toEqual([]);
  });
});

describe('fake LiveKit: scripted failures', () => {
  it('a transfer the far end refuses: 486 Busy Here reaches the SDK as a SipCallError', async () => {
    const f = await start();
    f.failNext('TransferSIPParticipant', sipFailure(486, 'Busy Here'));
    const sip = new SipClient(f.url, KEY, SECRET);
    const err = await refusal(sip.transferSipParticipant('call-1', 'sip_caller', 'tel:+919876543210'));
    expect(err).toBeInstanceOf(SipCallError);
    const sipErr = err as SipCallError;
    expect([sipErr.status, sipErr.code, sipErr.sipStatusCode, sipErr.sipStatus]).toEqual([429, 'resource_exhausted', 486, 'Busy Here']);
    expect(sipErr.metadata).toEqual({ sip_status_code: '486', sip_status: 'Busy Here' });
    expect(sipErr.message).toBe('SIP call failed: 486 Busy Here (resource_exhausted)');
    expect(f.state.transfers).toEqual([]);
    // Only the next call fails.
    await sip.transferSipParticipant('call-1', 'sip_caller', 'tel:+919876543210');
    expect(f.state.transfers).toHaveLength(1);
  });

  it('a status alone gets Twirp’s code for it; a code alone gets its status; the grant check still comes first', async () => {
    const f = await start();
    const sip = new SipClient(f.url, KEY, SECRET);
    f.failNext('TransferSIPParticipant', { status: 500 });
    const e500 = await refusal(sip.transferSipParticipant('call-1', 'p', 'tel:+1'));
    expect([e500.status, e500.code, e500.message]).toEqual([500, 'internal', 'scripted failure of TransferSIPParticipant']);
    expect(e500).not.toBeInstanceOf(SipCallError);

    f.failNext('TransferSIPParticipant', { code: 'deadline_exceeded', msg: 'transfer timed out', delayMs: 50 });
    const e408 = await refusal(sip.transferSipParticipant('call-1', 'p', 'tel:+1'));
    expect([e408.status, e408.code, e408.message]).toEqual([408, 'deadline_exceeded', 'transfer timed out']);

    f.failNext('ListSIPInboundTrunk', { status: 503 });
    const bad = await refusal(new SipClient(f.url, KEY, 'wrong-secret').listSipInboundTrunk());
    expect(bad.status).toBe(401);
    const e503 = await refusal(sip.listSipInboundTrunk());
    expect([e503.status, e503.code]).toEqual([503, 'unavailable']);
  });
});

describe('fake LiveKit: workers register over /agent', () => {
  /** Opens `/agent` with a token of these grants; the HTTP status when the upgrade is refused. */
  const connect = async (f: FakeLiveKit, grant: VideoGrant) => {
    const at = new AccessToken(KEY, SECRET);
    at.addGrant(grant);
    const ws = new WebSocket(`${f.url.replace(/^http/, 'ws')}/agent`, { headers: { authorization: `Bearer ${await at.toJwt()}` } });
    return new Promise<{ ws: WebSocket } | { status: number }>((res, rej) => {
      ws.once('open', () => res({ ws }));
      ws.once('unexpected-response', (_req, r) => res({ status: r.statusCode ?? 0 }));
      ws.once('error', rej);
    });
  };

  it('answers a register with a worker id and keeps the worker and its status updates', async () => {
    const f = await start();
    const c = await connect(f, { agent: true });
    if (!('ws' in c)) throw new Error(`refused: ${c.status}`);
    const answer = new Promise<ServerMessage>((res) => c.ws.once('message', (d: Buffer) => res(ServerMessage.fromBinary(new Uint8Array(d)))));
    c.ws.send(new WorkerMessage({ message: { case: 'register', value: { agentName: 'desk' } } }).toBinary());
    const msg = await answer;
    expect(msg.message.case).toBe('register');
    const workerId = msg.message.case === 'register' ? msg.message.value.workerId : '';
    expect(workerId).toMatch(/^AW_\w{12}$/);
    c.ws.send(new WorkerMessage({ message: { case: 'updateWorker', value: { status: WorkerStatus.WS_FULL } } }).toBinary());
    await new Promise((r) => setTimeout(r, 100));
    expect(f.state.workers).toEqual([{ workerId, agentName: 'desk', statuses: ['full'], connected: true }]);
    c.ws.close();
    await new Promise((r) => c.ws.once('close', r));
    await new Promise((r) => setTimeout(r, 50));
    expect(f.state.workers[0]!.connected).toBe(false);
  });

  it('refuses a token without the agent grant (401), as LiveKit does', async () => {
    const f = await start();
    expect(await connect(f, { roomAdmin: true, room: 'r' })).toEqual({ status: 401 });
    expect(f.state.workers).toEqual([]);
  });
});
