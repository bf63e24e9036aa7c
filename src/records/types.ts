/**
 * Durable call records: what a store keeps and the one interface both stores (SQLite, PostgreSQL) share.
 *
 * - `calls`: one row per call, kept current on start, each accepted transfer, caller info, each answered
 *   turn (its latency) and the end.
 * - `events`: every `CallEvent` of the call, in order (`seq` from 1), written as it happens.
 * - `webhook_outbox`: webhooks waiting to be delivered, written in the same transaction as the event
 *   that caused them, so a webhook is never lost between "recorded" and "sent".
 */
import type { CallerInfo } from '../../machines/router.js';
import type { TurnRecord } from '../call/digest.js';
import type { CallEvent, RecordingInfo } from '../call/events.js';

export type CallStatus = 'live' | 'ended' | 'interrupted';

export interface CallRow {
  id: string;
  /** The label of the process that ran the call (`host:pid` for the worker, `chat`, `demo`). */
  worker: string | null;
  host: string | null;
  pid: number | null;
  startedAt: number;
  endedAt: number | null;
  updatedAt: number;
  status: CallStatus;
  /** The end reason (`completed`, `hangup`, `end of input`, `transferred to a person`, …) or `interrupted`. */
  outcome: string | null;
  /** The machine's state: the department holding the call, or `ended`. */
  state: string;
  /** The last department that held the call (unlike `state`, never `ended`). */
  department: string;
  handoffCount: number;
  maxHandoffs: number | null;
  humanAvailable: boolean;
  caller: CallerInfo;
  /** Each caller line answered, with its latency (the call's `turn` events; empty before they were measured). */
  turns: TurnRecord[];
  /** The call's recording (its `recording` event), null when it was not recorded. */
  recording: RecordingInfo | null;
}

export interface StoredEvent {
  callId: string;
  seq: number;
  at: number;
  type: CallEvent['type'];
  event: CallEvent;
}

export interface CallRecord {
  call: CallRow;
  events: StoredEvent[];
}

/** A webhook to enqueue: its delivery id, type and the exact body that will be POSTed (and signed). */
export interface OutboxInsert {
  id: string;
  type: string;
  body: string;
}

export interface OutboxRow extends OutboxInsert {
  callId: string;
  createdAt: number;
  attempts: number;
  nextAttemptAt: number;
  deliveredAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
}

/**
 * The calls row as the recorder knows it after an event: written whole (upsert) with every event that
 * changes it, so a row whose earlier write failed is complete again with the next one.
 */
export type CallRowData = Omit<CallRow, 'id' | 'updatedAt' | 'turns' | 'recording'> & { turns?: TurnRecord[]; recording?: RecordingInfo | null };

/** One event, its effect on the calls row and the webhooks it causes: written in ONE transaction. */
export interface RecordWrite {
  callId: string;
  event: CallEvent;
  call?: CallRowData;
  webhooks?: OutboxInsert[];
  /**
   * The recorder's first write for this call: the store refuses it (DuplicateCallError) when events
   * of a call with this id are already recorded, so two calls never merge into one record.
   */
  first?: boolean;
}

/** A page of the calls list (newest first). */
export interface CallsPage {
  limit: number;
  /**
   * Only the calls listed after this one (the last call of the page before): started earlier, or at the
   * same moment with a smaller id. Its start is read from its row when not given.
   */
  before?: { id: string; startedAt?: number };
}

/** `before` names a call the store does not hold. */
export class NoSuchCallError extends Error {
  constructor(readonly callId: string) {
    super(`no call ${callId} is recorded`);
    this.name = 'NoSuchCallError';
  }
}

/** A call id that is already recorded: the new call is not recorded, the old record stays as it was. */
export class DuplicateCallError extends Error {
  constructor(readonly callId: string) {
    super(`a call with id ${callId} is already recorded (call ids must be unique)`);
    this.name = 'DuplicateCallError';
  }
}

export interface CallStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Where the records live (a file path, or the database URL without its password). */
  readonly location: string;
  /** Applied migration versions, ascending. */
  migrations(): Promise<number[]>;
  /** Writes one event (and its row change and webhooks) atomically; resolves with the event's seq. */
  record(w: RecordWrite): Promise<number>;
  /** Live calls last run on `host` (for the interrupted-call sweep). */
  liveCalls(host: string): Promise<CallRow[]>;
  /** Marks a call that is still `live` as interrupted (with its webhooks); false if it was not live. */
  markInterrupted(callId: string, at: number, webhooks: OutboxInsert[]): Promise<boolean>;
  /**
   * Most recent first (started_at DESC, id DESC): the first `limit` calls, or a page of them (keyset
   * pagination: `before` the last call of the page before, so a page costs the same however deep it is).
   * Rejects with NoSuchCallError when `before` names no recorded call.
   */
  listCalls(query: number | CallsPage): Promise<CallRow[]>;
  getCall(callId: string): Promise<CallRecord | null>;

  /**
   * Takes up to `limit` due webhooks (the oldest undelivered one of each call only, so a call's webhooks
   * go out in order) and leases them for `leaseMs` so another deliverer does not send them meanwhile.
   */
  claimWebhooks(now: number, limit: number, leaseMs: number): Promise<OutboxRow[]>;
  /** When the next claimable webhook is due (null: none pending). */
  nextWebhookDue(): Promise<number | null>;
  webhookDelivered(id: string, at: number, status: number): Promise<void>;
  webhookFailed(id: string, nextAttemptAt: number, status: number | null, error: string): Promise<void>;
  /** Gives leased webhooks back (a deliverer stopping mid-request): due now, no attempt counted. */
  releaseWebhooks(ids: string[], now: number): Promise<void>;
  /** Every outbox row, oldest first (for tests and diagnostics). */
  webhooks(): Promise<OutboxRow[]>;
  pendingWebhooks(): Promise<number>;
  close(): Promise<void>;
}

/** An outbox row as either store returns it (snake_case columns; numbers may come back as strings). */
export function outboxFromRow(r: Record<string, unknown>): OutboxRow {
  const n = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  return {
    id: String(r.id),
    callId: String(r.call_id),
    type: String(r.type),
    body: String(r.body),
    createdAt: Number(r.created_at),
    attempts: Number(r.attempts),
    nextAttemptAt: Number(r.next_attempt_at),
    deliveredAt: n(r.delivered_at),
    lastStatus: n(r.last_status),
    lastError: r.last_error === null || r.last_error === undefined ? null : String(r.last_error),
  };
}
