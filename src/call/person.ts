/** The hand-off to a person: once the agent's hand-off line has played, the telephony side connects the caller. */
import type { voice } from '@livekit/agents';
import type { Call } from './call.js';
import { errorText } from './session.js';

/** The provider takes the caller (the call ends), or the caller returns where they came from. */
export async function connectPerson(call: Call, speech: voice.SpeechHandle, connect: (call: Call) => Promise<void>): Promise<void> {
  await speech.waitForPlayout().catch(() => undefined);
  try {
    await connect(call);
    // The provider took the caller: this call's part is over.
    if (call.machineState === 'human') call.endCall('transferred to a person');
  } catch (err) {
    const reason = errorText(err);
    call.reportError(`transfer to a person failed: ${reason}`);
    if (call.machineState === 'human') call.send({ type: 'HUMAN_TRANSFER_FAILED', reason });
  }
}
