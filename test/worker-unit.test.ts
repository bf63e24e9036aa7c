/** The worker's own parts that run without a LiveKit server: prewarm (offline VAD) and caller identity. */
import { ParticipantKind } from '@livekit/rtc-node';
import { describe, expect, it } from 'vitest';
import worker from '../src/cli/worker.js';
import { callerFromParticipant } from '../src/telephony/caller.js';
import { CopyingVAD } from '../src/voice/vad.js';
import { initTestLogging } from './support/harness.js';

describe('worker', () => {
  it('prewarm loads the Silero VAD offline (LiveKit\'s bundled one, copying each utterance: no download at install or run time)', async () => {
    initTestLogging();
    const proc = { userData: {} as Record<string, unknown> };
    await worker.prewarm!(proc as never);
    const vad = proc.userData.vad as { label: string; stream: () => { close(): void; _nativeVad?: unknown } };
    expect(vad.label).toBe('inference.VAD');
    // The one that hands speech-to-text a copy of each utterance (src/voice/vad.ts, test/voice/vad.test.ts).
    expect(vad).toBeInstanceOf(CopyingVAD);
    // A stream runs the model in the native local-inference module, whose weights ship in the package.
    const stream = vad.stream();
    expect(stream._nativeVad).toBeTruthy();
    stream.close();
  });

  it('reads who is calling from a SIP participant', () => {
    const caller = callerFromParticipant({
      kind: ParticipantKind.SIP,
      attributes: {
        'sip.phoneNumber': '+919876543210',
        'sip.trunkPhoneNumber': '+918012345678',
        'sip.callID': 'SCL_abc',
        'sip.callIDFull': 'bridge-uuid-123',
        'sip.callStatus': 'active',
      },
    });
    expect(caller).toEqual({
      phoneNumber: '+919876543210',
      dialedNumber: '+918012345678',
      sipCallId: 'SCL_abc',
      sipCallIdFull: 'bridge-uuid-123',
    });
  });

  it('serves a caller who hides their number, and ignores non-SIP participants', () => {
    expect(callerFromParticipant({ kind: ParticipantKind.SIP, attributes: { 'sip.callID': 'SCL_x' } })).toEqual({ sipCallId: 'SCL_x' });
    expect(callerFromParticipant({ kind: ParticipantKind.STANDARD, attributes: { 'sip.phoneNumber': '+1' } })).toEqual({});
  });
});
