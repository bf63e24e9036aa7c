/**
 * Who is calling: the caller's identity as the SIP participant carries it, then enriched by the optional
 * CALLER_LOOKUP module before the greeting. Used by the LiveKit worker (`src/cli/worker.ts`).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ParticipantKind, type RemoteParticipant } from '@livekit/rtc-node';
import type { CallerInfo } from '../../machines/router.js';

/** Caller info from a SIP participant's attributes; empty for other participants or hidden numbers. */
export function callerFromParticipant(p: Pick<RemoteParticipant, 'kind' | 'attributes'>): CallerInfo {
  if (p.kind !== ParticipantKind.SIP) return {};
  const a = p.attributes ?? {};
  const info: CallerInfo = {
    phoneNumber: a['sip.phoneNumber'],
    dialedNumber: a['sip.trunkPhoneNumber'],
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
    const extra = Object.fromEntries(Object.entries(found ?? {}).filter(([, v]) => typeof v === 'string' && v.trim()));
    return { ...caller, ...extra };
  } catch (err) {
    onError(err);
    return caller;
  }
}
