/**
 * A text call made from settings, as `npm run chat`, `npm run demo` and `npm run eval` make it: no phone
 * line and no audio, how it answers the machine's hand-off to a person, and how a caller's line becomes
 * a turn.
 */
import type { Call } from './call/call.js';
import type { CallOptions } from './call/options.js';
import { textCall } from './call/text-call.js';
import type { Settings } from './config.js';
import { callOptionsFrom } from './models.js';

/** Why the hand-off to a person fails in a text call (said as the call's `error`, then the caller returns). */
export const NO_PERSON_IN_TEXT = 'a text call cannot reach a person';

/**
 * `CallOptions.connectHuman` of a text call. The machine may hand the caller to a person
 * (HUMAN_TRANSFER_TO set, or the transfer cap reached); a text call has no line to pass on, so the
 * hand-off fails and the machine returns the caller to the department they came from, which tells
 * them so — as on the phone when the person cannot be reached.
 */
export async function connectHumanInText(): Promise<void> {
  throw new Error(NO_PERSON_IN_TEXT);
}

/** What a text command says about its own call, on top of what every text call takes from settings. */
export type TextCallOptions = Pick<CallOptions, 'callId' | 'humanAvailable' | 'caller' | 'sessionOptions' | 'history'>;

/**
 * A call with no audio: the model, company and transfer cap from settings, no voice activity detection,
 * turns taken by hand (one per caller line), never "away", and no person to hand the caller to.
 */
export function newTextCall(settings: Settings, { sessionOptions, ...own }: TextCallOptions): Call {
  return textCall({
    ...callOptionsFrom(settings),
    ...own,
    sessionOptions,
    connectHuman: connectHumanInText,
  });
}

/**
 * One caller line as one turn of the call. A turn that fails is reported as the call's `error`,
 * unless the call is being stopped (`stopping()`), when a failed turn is expected and says nothing.
 */
export async function sayLine(call: Call, line: string, stopping: () => boolean): Promise<void> {
  try {
    await call.session.run({ userInput: line }).wait();
  } catch (err) {
    if (!stopping()) call.reportError(`turn failed: ${(err as Error).message}`);
  }
}

