/**
 * When the caller's turn has ended: TURN_DETECTION, built the same way for the worker's calls and the
 * voice loop's.
 *
 * The local end-of-turn model (`v1-mini`, the default) runs through an inference executor. In the worker
 * that is the job's (`ctx.inferenceExecutor`: LiveKit's shared inference process, where the worker
 * registers the model). Without one, LiveKit's detector only logs "local audio EOT unavailable" and
 * answers 1.0 for every turn — the model silently does nothing — so a missing executor is refused here,
 * by name. Outside a job (`npm run voice`, tests) `inProcessEot()` runs the same model in this process.
 */
import { type JobContext, inference, type voice } from '@livekit/agents';
import type { Settings } from '../config.js';

/** What runs LiveKit's inference requests (the job's `inferenceExecutor`; the type is not exported by name). */
export type InferenceExecutor = JobContext['inferenceExecutor'];

/** LiveKit's method name for the local end-of-turn model (`inference/eot/runner.ts`, EOT_INFERENCE_METHOD). */
const EOT_METHOD = 'lk_eot_audio';

/** One probability the model gave, for whoever watches (the voice loop reports them). */
export type EotWatcher = (probability: number, inferenceMs: number) => void;

/**
 * The local end-of-turn model in this process, as LiveKit's inference process runs it (`EotRunner`):
 * base64 s16le 16 kHz PCM in, `{ probability, inferenceDurationMs }` out.
 */
export function inProcessEot(watch?: EotWatcher): InferenceExecutor {
  let model: typeof import('@livekit/local-inference') | undefined;
  return {
    async doInference(method, data) {
      if (method !== EOT_METHOD) throw new Error(`no in-process runner for ${method}`);
      model ??= await import('@livekit/local-inference');
      const bytes = Buffer.from((data as { pcm: string }).pcm, 'base64');
      const pcm = new Int16Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 2));
      const started = performance.now();
      const probability = await model.predict(pcm);
      const inferenceDurationMs = performance.now() - started;
      watch?.(probability, inferenceDurationMs);
      return { probability, inferenceDurationMs };
    },
  };
}

/**
 * What a call does with the caller's audio while an agent speaks and may not be cut off (a transfer line
 * once the machine has accepted): LiveKit's default replaces it with silence (`discardAudioIfUninterruptible`),
 * so a caller speaking over "let me transfer you" would lose those words. Kept here: they do not
 * interrupt the line, but the speech-to-text hears them and the new desk answers them.
 */
const KEEP_CALLER_AUDIO = { discardAudioIfUninterruptible: false };

/** The session's turn handling for TURN_DETECTION; `executor` runs the local model (required for `model`). */
export function turnHandlingFor(
  s: Pick<Settings, 'TURN_DETECTION'>,
  executor: InferenceExecutor | undefined,
): NonNullable<voice.AgentSessionOptions['turnHandling']> {
  return { turnDetection: turnDetectionFor(s, executor), interruption: KEEP_CALLER_AUDIO };
}

function turnDetectionFor(s: Pick<Settings, 'TURN_DETECTION'>, executor: InferenceExecutor | undefined) {
  switch (s.TURN_DETECTION) {
    case 'vad':
    case 'stt':
      return s.TURN_DETECTION;
    case 'cloud':
      return new inference.TurnDetector({ version: 'v1' });
    default:
      if (!executor) {
        throw new Error('TURN_DETECTION=model needs an inference executor for the local end-of-turn model (none was given)');
      }
      // The local model: no cloud dependency, also under `dev` (which would pick the cloud one).
      return new inference.TurnDetector({ version: 'v1-mini', executor });
  }
}
