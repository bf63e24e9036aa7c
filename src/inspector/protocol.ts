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
import type { SupervisorMove } from '../../machines/derive.js';
import { CALL_EVENT_TYPES, type CallEventType, type CallView, callerInfoSchema } from '../call/events.js';

export const MAX_MESSAGE_BYTES = 64 * 1024;

/**
 * A CallEvent (src/call/events.ts) as sent on the wire: checked here by type, time and size only; the
 * server validates the event itself with the contract's schema (`callEventSchema`) before applying it.
 */
export const wireCallEvent = z
  .object({
    type: z.enum(CALL_EVENT_TYPES as [CallEventType, ...CallEventType[]]),
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
    caller: callerInfoSchema,
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

/**
 * A call as pages get it: the call's view and, for a live call, each supervisor move (to each
 * department, to a person) with the machine's answer to it now (`supervisorMoves`).
 */
export type PageCallView = CallView & { moves?: SupervisorMove[] };

/** server → page (`/feed`). */
export type FeedMessage =
  | { kind: 'welcome'; calls: CallView[]; hidePhoneNumbers: boolean }
  | { kind: 'call'; call: CallView }
  | { kind: 'command-result'; callId: string; commandId: string; accepted: boolean; reason?: string };
