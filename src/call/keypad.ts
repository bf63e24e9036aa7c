/**
 * A keypad digit from the phone: a transfer request under the same guards as the LLM's. A digit with
 * no meaning is ignored; either way it is reported as a `keypad` event (with no target if it meant nothing).
 */
import type { Target } from '../../machines/router.js';
import type { CallEvent } from './events.js';
import type { TransferAnswer } from './options.js';

export function pressKey(
  digit: string,
  dtmfMap: Readonly<Record<string, Target>> | undefined,
  requestTransfer: (to: Target, reason: string) => TransferAnswer,
  emit: (e: CallEvent) => void,
): TransferAnswer | null {
  const target = dtmfMap?.[digit] ?? null;
  if (!target) {
    emit({ type: 'keypad', digit, target: null, accepted: false, reason: 'no meaning here', at: Date.now() });
    return null;
  }
  const answer = requestTransfer(target, `caller pressed ${digit}`);
  const reason = answer.accepted ? undefined : answer.reason;
  emit({ type: 'keypad', digit, target, accepted: answer.accepted, reason, at: Date.now() });
  return answer;
}
