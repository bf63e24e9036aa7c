/**
 * The inspector's wire protocol (JSON over WebSocket), shared by the server, the calls that feed it
 * and the page. Every inbound message is validated with zod; anything else is dropped.
 *
 *   call process ──ws /ingest──► inspector server ──ws /feed──► page(s)
 *        ▲                             │
 *        └──── command (supervisor) ◄──┘◄── POST /api/calls/:id/command (page)
 *
 * With a token configured, every endpoint needs it: `?token=` on WebSocket URLs and page URLs, or
 * `Authorization: Bearer <token>` on HTTP.
 */
import { z } from 'zod';

export const MAX_MESSAGE_BYTES = 64 * 1024;

const callerInfo = z
  .object({
    name: z.string().optional(),
    phoneNumber: z.string().optional(),
    accountId: z.string().optional(),
    need: z.string().optional(),
    dialedNumber: z.string().optional(),
    sipCallId: z.string().optional(),
    sipCallIdFull: z.string().optional(),
  })
  .passthrough();

/** A CallEvent (src/orchestrator.ts) as sent on the wire; validated loosely by type, strictly by size. */
export const wireCallEvent = z
  .object({
    type: z.enum(['started', 'user', 'agent', 'handoff', 'rejected', 'caller', 'error', 'end', 'keypad']),
    at: z.number(),
  })
  .passthrough();

/** call process → server (`/ingest`). */
export const ingestMessage = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('hello'),
    callId: z.string().min(1).max(200),
    /** Which worker process runs it (host:pid). */
    worker: z.string().max(200).optional(),
    startedAt: z.number(),
    state: z.string(),
    handoffCount: z.number().int().nonnegative(),
    maxHandoffs: z.number().int().positive(),
    humanAvailable: z.boolean(),
    caller: callerInfo,
  }),
  z.object({ kind: z.literal('event'), callId: z.string().min(1).max(200), event: wireCallEvent }),
  /** The routing actor's snapshot after each macrostep (from XState's `inspect`). */
  z.object({
    kind: z.literal('snapshot'),
    callId: z.string().min(1).max(200),
    state: z.string(),
    handoffCount: z.number().int().nonnegative(),
    status: z.string(),
    at: z.number(),
  }),
  z.object({
    kind: z.literal('command-result'),
    commandId: z.string(),
    accepted: z.boolean(),
    reason: z.string().optional(),
    state: z.string().optional(),
  }),
]);
export type IngestMessage = z.infer<typeof ingestMessage>;

/** server → call process: a supervisor's request; the machine's guards decide. */
export interface CommandMessage {
  kind: 'command';
  commandId: string;
  callId: string;
  action: { type: 'TRANSFER'; to: string } | { type: 'END_CALL' };
}

/** The body of POST /api/calls/:id/command (page → server). */
export const commandBody = z.object({
  action: z.discriminatedUnion('type', [
    z.object({ type: z.literal('TRANSFER'), to: z.string().min(1).max(50) }),
    z.object({ type: z.literal('END_CALL') }),
  ]),
});

/** What the page is told about one call. */
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
  caller: z.infer<typeof callerInfo>;
  /** Each department the call visited: entered at, left at, the transfer that brought it there. */
  timeline: {
    state: string;
    enteredAt: number;
    leftAt?: number;
    reason?: string;
    source?: string;
    latencyMs?: number | null;
    escalated?: boolean;
  }[];
  refusals: { at: number; from: string; to: string; reason: string; source?: string }[];
  transcript: { at: number; who: string; text: string; interrupted?: boolean }[];
  errors: { at: number; message: string }[];
  endReason?: string | null;
}

/** server → page (`/feed`). */
export type FeedMessage =
  | { kind: 'welcome'; calls: CallView[]; hidePhoneNumbers: boolean }
  | { kind: 'call'; call: CallView }
  | { kind: 'command-result'; callId: string; commandId: string; accepted: boolean; reason?: string };
