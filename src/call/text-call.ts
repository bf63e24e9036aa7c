/**
 * The one recipe for a text call: a call with no room and no audio, turns committed by the caller's
 * lines (`npm run chat`, `npm run demo`, the tests, the bench).
 */
import { Call } from './call.js';
import type { CallOptions } from './options.js';

/** Session options of a text call: no VAD, the turn ends when a line is committed, never "away". */
export const TEXT_SESSION = { vad: null, turnHandling: { turnDetection: 'manual' as const }, userAwayTimeout: null };

export function textCall(opts: CallOptions): Call {
  return new Call({ ...opts, sessionOptions: { ...TEXT_SESSION, ...opts.sessionOptions } });
}
