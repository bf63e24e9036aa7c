/**
 * The phone line: what the machine's telephony states do on a real call, through LiveKit's server API
 * (`livekit-server-sdk`). Kept apart from the worker so tests can run it against a local fake of that API.
 */
import { RoomServiceClient, SipCallError, SipClient } from 'livekit-server-sdk';
import type { Target } from '../../machines/router.js';

export interface PhoneLineOptions {
  /** LiveKit server URL (`wss://…` or `https://…`). */
  url: string;
  apiKey: string;
  apiSecret: string;
  room: string;
  /** The caller's SIP participant identity. */
  participantIdentity: string;
  /** HUMAN_TRANSFER_TO: `tel:+E164` or a `sip:` URI. */
  transferTo?: string;
  /** SIP headers sent with the REFER (e.g. a call reference for the person picking up). */
  headers?: Record<string, string>;
}

export interface PhoneLine {
  /** Cold transfer by SIP REFER. Rejects with a message carrying the SIP status when it fails. */
  transferToPerson(): Promise<void>;
  /** Hangs up the phone line by deleting the room. */
  hangUp(): Promise<void>;
}

export const httpURL = (url: string) => url.replace(/^ws(s?):/, 'http$1:');

/** A readable reason for a failed transfer: `SIP 486 Busy Here`, or the server's own words. */
export function describeSipError(err: unknown): string {
  if (err instanceof SipCallError) {
    const code = err.sipStatusCode;
    return code !== undefined ? `SIP ${code}${err.sipStatus ? ` ${err.sipStatus}` : ''}` : err.message;
  }
  const e = err as { status?: number; code?: string; message?: string };
  if (e?.status === 401 || e?.status === 403) {
    return `LiveKit refused the request (${e.status}): check LIVEKIT_API_KEY / LIVEKIT_API_SECRET and that the key may make SIP calls`;
  }
  return e?.message ?? String(err);
}

export function livekitPhoneLine(o: PhoneLineOptions): PhoneLine {
  const host = httpURL(o.url);
  return {
    async transferToPerson() {
      if (!o.transferTo) throw new Error('HUMAN_TRANSFER_TO is not set');
      const sip = new SipClient(host, o.apiKey, o.apiSecret);
      try {
        await sip.transferSipParticipant(o.room, o.participantIdentity, o.transferTo, {
          playDialtone: false,
          headers: o.headers,
        });
      } catch (err) {
        throw new Error(describeSipError(err), { cause: err });
      }
    },
    async hangUp() {
      await new RoomServiceClient(host, o.apiKey, o.apiSecret).deleteRoom(o.room);
    },
  };
}

// Kept apart (./dtmf-map.ts) so reading settings does not load LiveKit's server SDK.
export { parseDtmfMap } from './dtmf-map.js';
