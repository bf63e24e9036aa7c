/**
 * The inspector's live calls: one entry per call, its events folded by the call's one reducer
 * (`src/call/digest.ts`) into a digest, and its head (what `hello` and `snapshot` messages and the link
 * say: worker, live or not, state). What pages see of a call is `viewOfDigest(head, digest)`.
 *
 * The registry's own job is to stay bounded and quiet: text and lists are capped, caller info is kept
 * as strings only, ended calls are evicted (oldest first), phone numbers are masked for pages when
 * asked, and a call's changes go out at most once per 50 ms (the first at once).
 *
 * With `redact` (REDACT_PII=on) personal data is masked as it arrives, before it is kept: whatever the
 * call process sent (a worker that does not redact), the server holds and serves none of it.
 */
import { WebSocket } from 'ws';
import { type PublishedCall, type SupervisorMove, supervisorMoves } from '../../machines/derive.js';
import type { CallState } from '../../machines/router.js';
import { type CallDigest, type CallHead, applyEvent, emptyDigest, viewOfDigest } from '../call/digest.js';
import { type CallEvent, type CallView, callEventSchema } from '../call/events.js';
import { isMasked, redactCaller, redactEvent } from '../redact.js';
import type { IngestMessage, PageCallView } from './protocol.js';

const TRANSCRIPT_CAP = 500;
const ERRORS_CAP = 100;
const REFUSALS_CAP = 200;
const TIMELINE_CAP = 200;
const KEYPAD_CAP = 200;
/** Longest text kept per transcript line, reason or error (characters). */
const TEXT_CAP = 4000;
/** Names: states, departments, sources, keypad digits. */
const NAME_CAP = 50;
/** A hard ceiling on calls held at once (live ones included), against a runaway ingest. */
const MAX_CALLS = 10_000;
const COALESCE_MS = 50;

export const cap = (s: string, n = TEXT_CAP) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** Keeps the last 2 digits: `+15550100010` → `••••••••••10`. */
export function maskNumber(n: string): string {
  if (n.length <= 2) return '•'.repeat(n.length);
  return '•'.repeat(n.length - 2) + n.slice(-2);
}

/** The view with the caller's phone numbers masked, in the caller info and wherever the text repeats them. */
export function maskView(v: CallView): CallView {
  // A number REDACT_PII already masked (`[phone …3210]`) stays as it is.
  const clear = (s: unknown): s is string => typeof s === 'string' && !isMasked(s);
  const secrets = [v.caller.phoneNumber, v.caller.dialedNumber].filter((s): s is string => clear(s) && s.length >= 4);
  const scrub = (s: string) => secrets.reduce((acc, n) => acc.split(n).join(maskNumber(n)), s);
  const caller = { ...v.caller };
  if (clear(caller.phoneNumber)) caller.phoneNumber = maskNumber(caller.phoneNumber);
  if (clear(caller.dialedNumber)) caller.dialedNumber = maskNumber(caller.dialedNumber);
  if (secrets.length === 0) return { ...v, caller };
  return {
    ...v,
    caller,
    timeline: v.timeline.map((t) => (t.reason ? { ...t, reason: scrub(t.reason) } : t)),
    refusals: v.refusals.map((r) => ({ ...r, reason: scrub(r.reason) })),
    transcript: v.transcript.map((l) => ({ ...l, text: scrub(l.text) })),
    errors: v.errors.map((e) => ({ ...e, message: scrub(e.message) })),
    endReason: v.endReason ? scrub(v.endReason) : v.endReason,
  };
}

/** Caller info as the view keeps it: strings only, each capped. */
function cleanCaller(c: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(c).slice(0, 30)) if (typeof v === 'string') out[cap(k, 100)] = cap(v, 500);
  return out;
}

const NAMES = new Set(['state', 'from', 'to', 'agent', 'source', 'digit', 'target']);

/** An event as the registry folds it: every text capped, caller info cleaned. */
function bounded(e: CallEvent): CallEvent {
  const out: Record<string, unknown> = { ...e };
  for (const [k, v] of Object.entries(out)) {
    if (typeof v === 'string' && k !== 'type' && k !== 'callId') out[k] = cap(v, NAMES.has(k) ? NAME_CAP : TEXT_CAP);
  }
  if ('caller' in e) out.caller = cleanCaller(e.caller);
  return out as CallEvent;
}

function keepLast(list: unknown[], max: number): void {
  if (list.length > max) list.splice(0, list.length - max);
}

function trim(d: CallDigest): void {
  keepLast(d.transcript, TRANSCRIPT_CAP);
  keepLast(d.route, TIMELINE_CAP);
  keepLast(d.transfers, TIMELINE_CAP);
  keepLast(d.refusals, REFUSALS_CAP);
  keepLast(d.keypad, KEYPAD_CAP);
  keepLast(d.errors, ERRORS_CAP);
}

type Hello = Extract<IngestMessage, { kind: 'hello' }>;
type Snapshot = Extract<IngestMessage, { kind: 'snapshot' }>;

interface Entry {
  head: CallHead & { caller: Record<string, string> };
  digest: CallDigest;
  /** The ingest link that last announced this call (commands go there). */
  link: WebSocket | null;
  lastSentAt: number;
  timer: NodeJS.Timeout | null;
  /** The supervisor's moves last worked out, and what they were worked out from (`movesKey`). */
  moves: { key: string; moves: SupervisorMove[] } | null;
}

/**
 * Everything `supervisorMoves` reads of a call (`PublishedCall`), as one string: the moves change only
 * when it does (a transfer, the end), not with each transcript line.
 */
function movesKey(v: PublishedCall): string {
  return JSON.stringify([v.state, v.handoffCount, v.maxHandoffs, v.humanAvailable, v.timeline.map((t) => [t.state, t.reason, t.source])]);
}

export interface CallRegistryOptions {
  /** Ended calls kept (oldest dropped first). */
  maxEnded: number;
  hidePhoneNumbers: boolean;
  /** Mask personal data (REDACT_PII) in what calls send, before it is kept. */
  redact?: boolean;
  /** A call changed: its view, as pages see it (coalesced). */
  publish(view: CallView): void;
  /** A call ended (its event, or its link was lost): its pending commands are answered. */
  onEnded(callId: string): void;
}

export class CallRegistry {
  private readonly calls = new Map<string, Entry>();
  private closed = false;

  constructor(private readonly opts: CallRegistryOptions) {}

  get size(): number {
    return this.calls.size;
  }

  /** A view as pages may see it (phone numbers masked when asked). */
  forViewers(v: CallView): CallView {
    return this.opts.hidePhoneNumbers ? maskView(v) : v;
  }

  /** Every call as pages see it, oldest first. */
  views(): CallView[] {
    return [...this.calls.values()].map((e) => this.viewFor(e)).sort((a, b) => a.startedAt - b.startedAt);
  }

  /** Where a live call's commands go; null when it is not live or its link is not open. */
  liveLink(callId: string): WebSocket | null {
    const entry = this.calls.get(callId);
    const link = entry?.link;
    return entry && entry.head.live && link && link.readyState === WebSocket.OPEN ? link : null;
  }

  /** A call process announces (or re-announces, after a reconnect) a call. False: no room for it. */
  hello(msg: Hello, link: WebSocket): boolean {
    let entry = this.calls.get(msg.callId);
    if (!entry) {
      if (this.calls.size >= MAX_CALLS) {
        this.evictEnded();
        if (this.calls.size >= MAX_CALLS) return false;
      }
      entry = newEntry(msg, link);
      this.calls.set(msg.callId, entry);
    }
    const head = entry.head;
    entry.link = link;
    if (msg.worker !== undefined) head.worker = msg.worker;
    head.live = msg.state !== 'ended';
    if (head.live) {
      delete head.endedAt;
      delete head.endReason;
    } else if (head.endedAt === undefined) head.endedAt = Date.now();
    head.state = cap(msg.state, NAME_CAP);
    head.handoffCount = msg.handoffCount;
    head.maxHandoffs = msg.maxHandoffs;
    head.humanAvailable = msg.humanAvailable;
    head.caller = cleanCaller(this.opts.redact ? redactCaller(msg.caller) : msg.caller);
    this.changed(entry);
    return true;
  }

  /** The routing actor's snapshot: the call's state as the machine has it. False: an unknown call. */
  snapshot(msg: Snapshot): boolean {
    const entry = this.calls.get(msg.callId);
    if (!entry) return false;
    entry.head.state = cap(msg.state, NAME_CAP);
    entry.head.handoffCount = msg.handoffCount;
    this.changed(entry);
    return true;
  }

  /** One event of a known call, validated against the event contract. False: unknown call or bad event. */
  event(callId: string, raw: unknown): boolean {
    const entry = this.calls.get(callId);
    // Everything but hello is about a call the server has been told of.
    if (!entry) return false;
    const parsed = callEventSchema.safeParse(raw);
    if (!parsed.success) return false;
    let e = bounded(this.opts.redact ? redactEvent(parsed.data) : parsed.data);
    const { head, digest } = entry;
    // A link that connected late (its history queued) said hello with the current state: the replayed
    // start puts the timeline's beginning right. A start after transfers only brings its caller info.
    if (e.type === 'started' && digest.route.length > 1) e = { type: 'caller', caller: e.caller, at: e.at };
    applyEvent(digest, e);
    trim(digest);
    if (e.type === 'started') head.startedAt = e.at;
    if (e.type === 'started' || e.type === 'caller') head.caller = { ...(digest.caller as Record<string, string>) };
    if (e.type === 'handoff') head.handoffCount = digest.handoffCount;
    if (e.type === 'keypad') return true; // the transfer it caused (if any) arrives as handoff/rejected
    if (e.type === 'end') {
      head.handoffCount = digest.handoffCount;
      this.end(entry, e.at, digest.endReason, digest.state);
    }
    this.changed(entry);
    if (e.type === 'end') this.evictEnded();
    return true;
  }

  /** A call process's link closed: its live calls end (`inspector link lost`). */
  linkLost(link: WebSocket): void {
    const now = Date.now();
    for (const entry of this.calls.values()) {
      if (entry.link !== link) continue;
      entry.link = null;
      if (entry.head.live) {
        this.end(entry, now, 'inspector link lost');
        this.changed(entry);
      }
    }
  }

  /** Drops the oldest ended calls beyond `maxEnded`. */
  evictEnded(): void {
    const ended = [...this.calls.values()].filter((e) => !e.head.live);
    if (ended.length <= this.opts.maxEnded) return;
    ended.sort((a, b) => (a.head.endedAt ?? 0) - (b.head.endedAt ?? 0));
    for (const e of ended.slice(0, ended.length - this.opts.maxEnded)) {
      if (e.timer) clearTimeout(e.timer);
      this.calls.delete(e.head.callId);
    }
  }

  close(): void {
    this.closed = true;
    for (const e of this.calls.values()) if (e.timer) clearTimeout(e.timer);
  }

  private viewFor(entry: Entry): CallView {
    const view: PageCallView = this.forViewers(viewOfDigest(entry.head, entry.digest));
    // A live call: the supervisor's moves as the machine would answer them now (the page shows the
    // refused ones disabled, with the machine's reason).
    if (view.live) view.moves = this.movesOf(entry, view);
    return view;
  }

  /**
   * The machine's answers, worked out again only when what they depend on changed: replaying the route
   * through the machine for every transcript line was most of the inspector's work with many calls.
   */
  private movesOf(entry: Entry, view: CallView): SupervisorMove[] {
    const key = movesKey(view);
    if (entry.moves?.key !== key) entry.moves = { key, moves: supervisorMoves(view) };
    return entry.moves.moves.map((m) => ({ ...m }));
  }

  private end(entry: Entry, at: number, reason: string | null, state?: string): void {
    const head = entry.head;
    head.live = false;
    head.endedAt = at;
    head.endReason = reason;
    if (state) head.state = state;
    const open = entry.digest.route.at(-1);
    if (open && open.leftAt === null) open.leftAt = at;
    this.opts.onEnded(head.callId);
  }

  /** After each change: the first goes out at once, then at most one send per call per 50 ms. */
  private changed(entry: Entry): void {
    if (entry.timer || this.closed) return;
    const since = Date.now() - entry.lastSentAt;
    const id = entry.head.callId;
    if (since >= COALESCE_MS) this.flush(id);
    else {
      entry.timer = setTimeout(() => this.flush(id), COALESCE_MS - since);
      entry.timer.unref();
    }
  }

  private flush(id: string): void {
    const entry = this.calls.get(id);
    if (!entry) return;
    entry.timer = null;
    entry.lastSentAt = Date.now();
    this.opts.publish(this.viewFor(entry));
  }
}

/** A call first heard of: the hello stands for its start until the call's own `started` arrives. */
function newEntry(msg: Hello, link: WebSocket): Entry {
  const state = cap(msg.state, NAME_CAP);
  const digest = emptyDigest(msg.callId);
  const start = { callId: msg.callId, state: state as CallState, caller: {}, at: msg.startedAt };
  applyEvent(digest, { type: 'started', ...start, maxHandoffs: msg.maxHandoffs, humanAvailable: msg.humanAvailable });
  const head = {
    callId: msg.callId,
    live: true,
    startedAt: msg.startedAt,
    state,
    handoffCount: msg.handoffCount,
    maxHandoffs: msg.maxHandoffs,
    humanAvailable: msg.humanAvailable,
    caller: {},
  };
  return { head, digest, link, lastSentAt: 0, timer: null, moves: null };
}
