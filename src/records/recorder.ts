/**
 * Writes a call's events to a store as they happen: each `CallEvent` is one committed write (the event,
 * its change to the calls row, and the webhooks it causes). It never throws into the call: the first
 * failed write is reported on the call (`call.reportError`) and to `onError`; later events are still
 * attempted (a store that recovers keeps recording). A call whose id is already recorded is not
 * recorded at all: the earlier record stays as it was.
 *
 * With `redact` (REDACT_PII=on), each event is redacted here, before anything is made of it: the stored
 * event, the calls row (caller details) and the webhooks are all built from the redacted event, so no
 * personal data reaches the store or a receiver, and a call recorded this way stays masked.
 */
import { hostname } from 'node:os';
import type { Call } from '../call/call.js';
import { type CallDigest, applyEvent, emptyDigest } from '../call/digest.js';
import type { CallEvent } from '../call/events.js';
import { redactEvent } from '../redact.js';
import { type CallRowData, type CallStore, DuplicateCallError, type RecordWrite } from './types.js';
import { webhookFor } from './webhooks.js';

export interface RecorderOptions {
  /** Names the process running the call (shown by `npm run calls`; default host:pid). */
  worker?: string;
  /** Enqueue call.started / call.transferred / call.ended webhooks with the events. */
  webhooks?: boolean;
  /** Called after each event is committed (the deliverer's wake-up; the kill test's markers). */
  onWritten?: (seq: number, event: CallEvent) => void;
  /** A write failed (besides the one report on the call). */
  onError?: (message: string) => void;
  /** Mask phone numbers, card and account numbers and email addresses in what is written (REDACT_PII=on). */
  redact?: boolean;
}

export interface Recorder {
  /** Resolves once every event so far has been written (or failed). */
  flush(): Promise<void>;
  /** Resolves once the call's end event has been written (or failed). */
  readonly done: Promise<void>;
  /** Stops listening (events after this are not recorded). */
  detach(): void;
  readonly written: number;
  readonly failures: number;
}

/** Events that change the calls row. */
const ROW_EVENTS = new Set<CallEvent['type']>(['started', 'handoff', 'caller', 'turn', 'recording', 'end']);

function rowOf(d: CallDigest, who: { worker: string; host: string; pid: number }): CallRowData | undefined {
  if (d.startedAt === null) return undefined; // not started yet (caller info can come first)
  return {
    worker: who.worker,
    host: who.host,
    pid: who.pid,
    startedAt: d.startedAt,
    endedAt: d.ended ? d.endedAt : null,
    status: d.ended ? 'ended' : 'live',
    outcome: d.ended ? (d.endReason ?? 'completed') : null,
    state: d.state,
    department: d.department,
    handoffCount: d.handoffCount,
    maxHandoffs: d.maxHandoffs,
    humanAvailable: d.humanAvailable,
    caller: d.caller,
    turns: d.turns,
    recording: d.recording,
  };
}

export function attachRecorder(call: Call, store: CallStore, opts: RecorderOptions = {}): Recorder {
  const host = hostname();
  const who = { worker: opts.worker ?? `${host}:${process.pid}`, host, pid: process.pid };
  const digest = emptyDigest(call.callId);
  let tail: Promise<void> = Promise.resolve();
  let pending = 0;
  let written = 0;
  let failures = 0;
  let reported = false;
  /** A write carrying the calls row failed: the next write carries it again. */
  let rowDirty = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));

  /** The store already holds a call with this id: nothing more is written, the old record stays whole. */
  let refused = false;

  const write = async (w: RecordWrite): Promise<void> => {
    if (refused) return;
    try {
      const seq = await store.record({ ...w, ...(written === 0 ? { first: true } : {}) });
      written++;
      if (w.call) rowDirty = false;
      try {
        opts.onWritten?.(seq, w.event);
      } catch {
        /* a listener's problem is not the call's */
      }
    } catch (err) {
      failures++;
      if (w.call) rowDirty = true;
      if (err instanceof DuplicateCallError) refused = true;
      const message = refused
        ? `call records: this call is not recorded: ${(err as Error).message} in ${store.location}`
        : `call records: could not write the ${w.event.type} event to ${store.location}: ${(err as Error).message}`;
      try {
        opts.onError?.(message);
      } catch {
        /* ignore */
      }
      if (!reported) {
        reported = true;
        // Once: this itself is an event, which the recorder will try to write too.
        call.reportError(message);
      }
    }
  };

  const onEvent = (event: CallEvent) => {
    try {
      const e = opts.redact ? redactEvent(event) : event;
      applyEvent(digest, e);
      const hook = opts.webhooks ? webhookFor(e, digest, who.worker) : null;
      const row = rowOf(digest, who);
      // Writes go in order. When nothing is pending the write starts right away (SQLite commits it
      // before this handler returns), otherwise after the previous one.
      pending++;
      const run = () => {
        const w: RecordWrite = {
          callId: call.callId,
          event: e,
          ...(row && (ROW_EVENTS.has(e.type) || rowDirty) ? { call: row } : {}),
          ...(hook ? { webhooks: [hook] } : {}),
        };
        return write(w).finally(() => pending--);
      };
      tail = pending === 1 ? run() : tail.then(run);
      if (e.type === 'end') void tail.then(resolveDone);
    } catch (err) {
      // Never into the call.
      opts.onError?.(`call records: ${(err as Error).message}`);
    }
  };

  // Events the call emitted before the recorder was attached come first.
  for (const e of call.events) onEvent(e);
  call.on('event', onEvent);

  return {
    flush: () => tail,
    done,
    detach: () => {
      call.off('event', onEvent);
    },
    get written() {
      return written;
    },
    get failures() {
      return failures;
    },
  };
}
