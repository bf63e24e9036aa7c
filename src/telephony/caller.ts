/**
 * Who is calling: the caller's identity as the SIP participant carries it, then enriched by the optional
 * CALLER_LOOKUP module before the greeting. Used by the LiveKit worker (`src/cli/worker.ts`).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ParticipantKind, type RemoteParticipant } from '@livekit/rtc-node';
import type { CallerInfo } from '../../machines/router.js';
import { toE164 } from './numbers.js';
import { parseLanguage } from '../language.js';

/** A number in E.164 when it reads as one (`+91 98765 43210` → `+919876543210`), else as it came. */
const e164 = (n: string | undefined) => (n ? (toE164(n) ?? n) : n);

/** Caller info from a SIP participant's attributes; empty for other participants or hidden numbers. */
export function callerFromParticipant(p: Pick<RemoteParticipant, 'kind' | 'attributes'>): CallerInfo {
  if (p.kind !== ParticipantKind.SIP) return {};
  const a = p.attributes ?? {};
  const info: CallerInfo = {
    phoneNumber: e164(a['sip.phoneNumber']),
    dialedNumber: e164(a['sip.trunkPhoneNumber']),
    sipCallId: a['sip.callID'],
    sipCallIdFull: a['sip.callIDFull'],
  };
  return Object.fromEntries(Object.entries(info).filter(([, v]) => v)) as CallerInfo;
}

/**
 * Runs the CALLER_LOOKUP module (default export: `async (caller) => Partial<CallerInfo>`) before the
 * greeting, so Triage can say "welcome back". A slow or failing lookup never holds up the call.
 */
export async function enrichCaller(
  modulePath: string | undefined,
  caller: CallerInfo,
  onError: (err: unknown) => void = () => {},
  timeoutMs = 1500,
): Promise<CallerInfo> {
  if (!modulePath) return caller;
  try {
    const mod = (await import(pathToFileURL(resolve(modulePath)).href)) as {
      default: (c: CallerInfo) => Promise<Partial<CallerInfo> | undefined> | Partial<CallerInfo> | undefined;
    };
    const found = await Promise.race([
      Promise.resolve(mod.default({ ...caller })),
      new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`lookup took over ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
    const extra: Partial<CallerInfo> = Object.fromEntries(
      Object.entries(found ?? {}).filter(([, v]) => typeof v === 'string' && v.trim()),
    );
    if (extra.phoneNumber) extra.phoneNumber = e164(extra.phoneNumber);
    if (extra.language) extra.language = parseLanguage(extra.language) ?? undefined;
    return { ...caller, ...extra };
  } catch (err) {
    onError(err);
    return caller;
  }
}
