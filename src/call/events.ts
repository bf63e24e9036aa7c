/**
 * The one event contract of a call: what a call publishes, step by step, to everything that listens
 * (records and webhooks, the inspector server and its page, the text call's JSON lines, the bench).
 *
 * One zod schema per event; the TypeScript types are inferred from them, so the shapes are written
 * down once. The inspector validates what reaches it over the wire with the same schemas.
 */
import { z } from 'zod';
import { CALL_STATES, type CallState, type CallerInfo, type Target } from '../../machines/router.js';

const callState = z.enum(CALL_STATES as unknown as [CallState, ...CallState[]]);
const target = z.enum(CALL_STATES.filter((s) => s !== 'ended') as unknown as [Target, ...Target[]]);
const source = z.enum(['agent', 'keypad', 'supervisor', 'system']);
const at = z.number();

/** What we know about the caller (`CallerInfo` in the machine), as every listener sees it. */
export const callerInfoSchema = z
  .object({
    name: z.string().optional(),
    phoneNumber: z.string().optional(),
    accountId: z.string().optional(),
    need: z.string().optional(),
    language: z.string().optional(),
    dialedNumber: z.string().optional(),
    sipCallId: z.string().optional(),
    sipCallIdFull: z.string().optional(),
  }) satisfies z.ZodType<CallerInfo>;

export const startedEvent = z.object({
  type: z.literal('started'),
  callId: z.string(),
  state: callState,
  caller: callerInfoSchema,
  maxHandoffs: z.number().int(),
  humanAvailable: z.boolean(),
  at,
});
/**
 * When a line's sound started (epoch ms): the caller's speech as the VAD heard it start, an agent line's
 * first sound in the caller's ear. Absent on text calls (and in records made before it was kept); `at` is
 * when the line was committed, after it was said.
 */
const spokeAt = z.number().optional();
export const userEvent = z.object({ type: z.literal('user'), text: z.string(), spokeAt, at });
export const agentEvent = z.object({
  type: z.literal('agent'),
  agent: target,
  text: z.string(),
  interrupted: z.boolean(),
  spokeAt,
  at,
});
/**
 * Where a transfer's time went, as the caller waited (ms; null where it does not apply or was not measured).
 */
export const handoffStages = z.object({
  /** The transfer asked for → the machine's answer. */
  decisionMs: z.number().nullable(),
  /** The machine's answer → the new desk on the line (a tool's transfer: the old desk's line plays out first). */
  swapMs: z.number().nullable(),
  /** The new desk's first reply: its LLM request → first token (the prepared request, when it played). */
  llmTtftMs: z.number().nullable(),
  /** That reply's speech: synthesis asked for → first audio (null on a text call). */
  ttsTtfbMs: z.number().nullable(),
  /** The silence the caller heard: the last sound on the line (either side) → the new desk's first sound (null on a text call). */
  silenceMs: z.number().nullable(),
  /** The reply prepared during the transfer played (or, for a desk passing the caller on, answered its turn). */
  preparedPlayed: z.boolean(),
  /** The new desk said its short bridging line first (the old desk said nothing and the reply was not ready). */
  bridged: z.boolean(),
});
export type HandoffStages = z.infer<typeof handoffStages>;

export const handoffEvent = z.object({
  type: z.literal('handoff'),
  from: callState,
  to: target,
  handoffCount: z.number().int().nonnegative(),
  reason: z.string(),
  source,
  escalated: z.boolean(),
  /** Transfer requested (tool call arrived) → the new agent's first LLM request, in ms. */
  latencyMs: z.number().nullable(),
  /** To a person: `cold` (SIP REFER) or `warm` (dialled and briefed first). */
  mode: z.enum(['cold', 'warm']).optional(),
  /** Where the time went (calls recorded before stages were measured have none). */
  stages: handoffStages.optional(),
  at,
});
export const rejectedEvent = z.object({
  type: z.literal('rejected'),
  from: callState,
  to: z.string(),
  reason: z.string(),
  source,
  at,
});
export const callerEvent = z.object({ type: z.literal('caller'), caller: callerInfoSchema, at });
/** A keypad digit: the transfer it asked for (or none: the digit means nothing here) and the answer. */
export const keypadEvent = z.object({
  type: z.literal('keypad'),
  digit: z.string(),
  target: target.nullable(),
  accepted: z.boolean(),
  reason: z.string().optional(),
  at,
});
/** A warm transfer's step: the person dialled (the caller on hold), answered and being briefed, joined to the caller. */
export const personEvent = z.object({ type: z.literal('person'), step: z.enum(['dialling', 'briefing', 'connected']), at });
export const errorEvent = z.object({ type: z.literal('error'), message: z.string(), at });
/** The older turns of a long call summarised (see ./memory.ts): later requests carry this and the recent turns. */
export const summaryEvent = z.object({
  type: z.literal('summary'),
  text: z.string(),
  /** History items the summary stands for, from the start of the call. */
  coveredItems: z.number().int().nonnegative(),
  /** The history's size when it was made (≈ tokens). */
  historyTokens: z.number().int().nonnegative(),
  /** What making it cost (the summary request's usage). */
  summaryTokens: z.number().int().nonnegative(),
  ms: z.number().nonnegative(),
  at,
});
/**
 * Where a caller turn's time went (ms; null where it does not apply: a text call has no audio, so it has
 * the model's time only). From the session's metrics (`metrics_collected`) and the sound the caller heard;
 * see ./turn-latency.ts.
 */
export const turnFigures = z.object({
  /** The end of the caller's speech (as the VAD reckons it) → their turn committed (eou_metrics.endOfUtteranceDelayMs). */
  eouMs: z.number().nullable(),
  /** The end of the caller's speech → its final transcript (eou_metrics.transcriptionDelayMs). */
  sttMs: z.number().nullable(),
  /** The reply's first LLM request → its first token (llm_metrics.ttftMs). */
  llmTtftMs: z.number().nullable(),
  /** The reply's first speech synthesis → its first audio (tts_metrics.ttfbMs). */
  ttsTtfbMs: z.number().nullable(),
  /** What the caller waited: the end of their speech → the agents' first sound in their ear. */
  responseMs: z.number().nullable(),
});
export type TurnFigures = z.infer<typeof turnFigures>;

/** A caller's line answered: told once the answer has been heard (voice) or its line committed (text). */
export const turnEvent = turnFigures.extend({
  type: z.literal('turn'),
  /** The caller line it answers: 1 for the call's first (counting its `user` events). */
  line: z.number().int().positive(),
  /** The desk whose sound (voice) or line (text) answered. */
  agent: target,
  at,
});

/**
 * The call's recording, complete (RECORD_CALLS=on; see ./recording.ts): told once the file is written,
 * just before the end. One Ogg/Opus file, the caller on the left channel and the agents on the right.
 */
export const recordingInfo = z.object({
  /** The file's name in RECORDINGS_DIR. */
  file: z.string(),
  format: z.literal('audio/ogg; codecs=opus'),
  channels: z.tuple([z.literal('caller'), z.literal('agents')]),
  /** The epoch ms of the recording's first sample: a line at `t` plays from `t - startedAt` ms. */
  startedAt: z.number(),
  durationMs: z.number().nonnegative(),
  bytes: z.number().int().nonnegative(),
});
export type RecordingInfo = z.infer<typeof recordingInfo>;
export const recordingEvent = recordingInfo.extend({ type: z.literal('recording'), at });

export const endEvent = z.object({
  type: z.literal('end'),
  state: callState,
  handoffCount: z.number().int().nonnegative(),
  reason: z.string().nullable(),
  at,
});

export const callEventSchema = z.discriminatedUnion('type', [
  startedEvent,
  userEvent,
  agentEvent,
  handoffEvent,
  rejectedEvent,
  callerEvent,
  keypadEvent,
  personEvent,
  summaryEvent,
  turnEvent,
  recordingEvent,
  errorEvent,
  endEvent,
]);

export type CallEvent = z.infer<typeof callEventSchema>;
export type CallEventType = CallEvent['type'];
export const CALL_EVENT_TYPES = callEventSchema.options.map((o) => o.shape.type.value) as CallEventType[];

/** What the inspector's page shows of one call, live or from the records (`digest.ts` builds it). */
export interface CallView {
  callId: string;
  worker?: string;
  live: boolean;
  startedAt: number;
  endedAt?: number;
  state: string;
  handoffCount: number;
  maxHandoffs: number;
  humanAvailable: boolean;
  caller: Record<string, string>;
  /** Each department the call visited: entered at, left at, the transfer that brought it there. */
  timeline: {
    state: string;
    enteredAt: number;
    leftAt?: number;
    reason?: string;
    source?: string;
    latencyMs?: number | null;
    escalated?: boolean;
    /** To a person: cold or warm, and warm's steps as they happened (dialling, briefing, connected). */
    mode?: 'cold' | 'warm';
    steps?: { step: string; at: number }[];
    /** Where the transfer that brought the call here spent its time. */
    stages?: HandoffStages;
  }[];
  refusals: { at: number; from: string; to: string; reason: string; source?: string }[];
  /** An agent line that answered a caller line carries that turn's figures (`turn`). */
  transcript: { at: number; who: string; text: string; interrupted?: boolean; spokeAt?: number; turn?: TurnFigures }[];
  errors: { at: number; message: string }[];
  endReason?: string | null;
  /** The call's recording (RECORD_CALLS=on), once written: served at `/api/records/:id/recording`. */
  recording?: RecordingInfo;
}
