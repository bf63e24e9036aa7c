/**
 * The hand-off to a person: once the agent's hand-off line has played, the telephony side connects the
 * caller — cold (the provider takes the caller, the call ends) or warm (the person is dialled and
 * briefed while the caller holds, then joined to them). Every failure, and a warm transfer that runs
 * out of time, returns the caller to the department they came from; a caller who hangs up cancels it.
 */
import type { voice } from '@livekit/agents';
import { callStateOf } from '../../machines/router.js';
import type { Call } from './call.js';
import { errorText } from './session.js';

/** What a connector is told while it works. */
export interface PersonSteps {
  /** Warm: the person picked up; the briefing begins (the caller still on hold). */
  answered(): void;
  /** Aborted when the caller hangs up or the transfer runs out of time: stop dialling, tear down. */
  signal: AbortSignal;
  /** Says a line to the caller's room and waits for it to play (the person hears it too once joined). */
  say(text: string): Promise<void>;
}

/** Why a warm call ends for the agent: the person was joined to the caller, who stays in the room with them. */
export const JOINED_TO_PERSON = 'joined to a person';
/** The default bound on a warm transfer (HUMAN_TRANSFER_TIMEOUT_S): dial, brief, join. */
export const DEFAULT_PERSON_TIMEOUT_MS = 90_000;

const aborted = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));

/** The caller's audio is not sent to any agent while they hold (LiveKit's task does the same on its side). */
function holdCaller(call: Call, on: boolean): void {
  const input = call.session.input;
  if (input.audio) input.setAudioEnabled(!on);
}

export async function connectPerson(
  call: Call,
  speech: voice.SpeechHandle,
  connect: (call: Call, steps: PersonSteps) => Promise<void>,
  timeoutMs = DEFAULT_PERSON_TIMEOUT_MS,
): Promise<void> {
  await speech.waitForPlayout().catch(() => undefined);
  if (call.machineState !== 'human') return;
  const warm = call.actor.getSnapshot().context.humanTransferMode === 'warm';
  const abort = new AbortController();
  // The caller hung up (or the call ended otherwise): the dial is cancelled, the consultation torn down.
  const watch = call.actor.subscribe((snap) => {
    if (callStateOf(snap.value) === 'ended') abort.abort(new Error('the caller hung up'));
  });
  const closing = () => abort.abort(new Error('the call is closing'));
  call.closingSignal.addEventListener('abort', closing, { once: true });
  const timer = warm ? setTimeout(() => abort.abort(new Error(`nobody was connected within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs) : undefined;
  const steps: PersonSteps = {
    answered: () => call.send({ type: 'PERSON_ANSWERED' }),
    signal: abort.signal,
    say: async (text) => {
      await call.session.say(text, { allowInterruptions: false }).waitForPlayout();
    },
  };
  if (warm) holdCaller(call, true);
  try {
    await Promise.race([connect(call, steps), aborted(abort.signal)]);
    if (call.machineState !== 'human') return;
    if (warm) {
      call.send({ type: 'PERSON_CONNECTED' });
      call.endCall(JOINED_TO_PERSON);
    } else {
      // The provider took the caller: this call's part is over.
      call.endCall('transferred to a person');
    }
  } catch (err) {
    if (call.machineState !== 'human' || call.closingSignal.aborted) return; // hung up or closing: nobody to return
    const reason = errorText(err);
    call.reportError(`transfer to a person failed: ${reason}`);
    call.send({ type: 'HUMAN_TRANSFER_FAILED', reason });
  } finally {
    clearTimeout(timer);
    watch.unsubscribe();
    call.closingSignal.removeEventListener('abort', closing);
    abort.abort(new Error('the transfer is over'));
    if (warm) holdCaller(call, false);
  }
}
