/**
 * The one reducer of a call's events: events → digest → view. A call's story from its events: the route
 * (each department, how long, why the caller came there and how long the handoff took), refused
 * transfers, caller info, transcript, errors and the outcome. Pure: the same reduction serves the live
 * recorder (webhook payloads), `npm run calls`, the inspector's past calls and its live calls.
 */
import type { CallerInfo } from '../../machines/router.js';
import type { CallEvent, CallView, HandoffStages, RecordingInfo, TurnFigures } from './events.js';

/** A caller line answered, and where the time went (a `turn` event). */
export interface TurnRecord extends TurnFigures {
  /** The caller line it answers: 1 for the call's first. */
  line: number;
  /** The desk that answered. */
  agent: string;
  at: number;
}

export interface RouteLeg {
  /** The department (or `human`). */
  state: string;
  enteredAt: number;
  leftAt: number | null;
  /** How the call got here; absent for the first department. */
  via?: {
    from: string;
    reason: string;
    source: string;
    escalated: boolean;
    handoffCount: number;
    latencyMs: number | null;
    mode?: 'cold' | 'warm';
    /** Where the transfer's time went (absent in calls recorded before it was measured). */
    stages?: HandoffStages;
  };
  /** With a person, warm: each step as it happened. */
  steps?: { step: string; at: number }[];
}

export interface CallDigest {
  callId: string;
  startedAt: number | null;
  endedAt: number | null;
  /** The machine's state at the last event (`ended` once the call ended by END_CALL/HANGUP). */
  state: string;
  /** The last department that held the call. */
  department: string;
  handoffCount: number;
  maxHandoffs: number | null;
  humanAvailable: boolean;
  caller: CallerInfo;
  route: RouteLeg[];
  transfers: {
    at: number;
    from: string;
    to: string;
    reason: string;
    source: string;
    escalated: boolean;
    handoffCount: number;
    latencyMs: number | null;
    stages?: HandoffStages;
  }[];
  refusals: { at: number; from: string; to: string; reason: string; source: string }[];
  transcript: { at: number; who: string; text: string; interrupted?: boolean; spokeAt?: number }[];
  keypad: { at: number; digit: string; target: string | null; accepted: boolean; reason?: string }[];
  /** Each caller line answered, with its latency (calls recorded before it was measured have none). */
  turns: TurnRecord[];
  errors: { at: number; message: string }[];
  /** The call's recording, once written (RECORD_CALLS=on). */
  recording: RecordingInfo | null;
  /** Warm steps heard before the handoff into the person was published (it is published once the person desk is heard from). */
  pendingSteps: { step: string; at: number }[];
  ended: boolean;
  endReason: string | null;
  counts: { callerTurns: number; agentTurns: number; transfers: number; refusals: number; errors: number; events: number };
}

export function emptyDigest(callId: string): CallDigest {
  return {
    callId,
    startedAt: null,
    endedAt: null,
    state: 'triage',
    department: 'triage',
    handoffCount: 0,
    maxHandoffs: null,
    humanAvailable: false,
    caller: {},
    route: [],
    transfers: [],
    refusals: [],
    transcript: [],
    keypad: [],
    turns: [],
    errors: [],
    recording: null,
    pendingSteps: [],
    ended: false,
    endReason: null,
    counts: { callerTurns: 0, agentTurns: 0, transfers: 0, refusals: 0, errors: 0, events: 0 },
  };
}

/** Applies one event (in order) to the digest, in place. */
export function applyEvent(d: CallDigest, e: CallEvent): CallDigest {
  d.counts.events++;
  switch (e.type) {
    case 'started':
      d.startedAt = e.at;
      d.state = e.state;
      d.department = e.state;
      d.caller = { ...e.caller };
      d.maxHandoffs = e.maxHandoffs;
      d.humanAvailable = e.humanAvailable;
      d.route = [{ state: e.state, enteredAt: e.at, leftAt: null }];
      break;
    case 'user':
      d.counts.callerTurns++;
      d.transcript.push({ at: e.at, who: 'caller', text: e.text, ...(e.spokeAt !== undefined ? { spokeAt: e.spokeAt } : {}) });
      break;
    case 'agent':
      d.counts.agentTurns++;
      d.transcript.push({
        at: e.at,
        who: e.agent,
        text: e.text,
        ...(e.interrupted ? { interrupted: true } : {}),
        ...(e.spokeAt !== undefined ? { spokeAt: e.spokeAt } : {}),
      });
      break;
    case 'handoff': {
      const open = d.route.at(-1);
      if (open && open.leftAt === null) open.leftAt = e.at;
      d.route.push({
        state: e.to,
        enteredAt: e.at,
        leftAt: null,
        ...(e.to === 'human' && d.pendingSteps.length ? { steps: d.pendingSteps.splice(0) } : {}),
        via: {
          from: e.from,
          reason: e.reason,
          source: e.source,
          escalated: e.escalated,
          handoffCount: e.handoffCount,
          latencyMs: e.latencyMs,
          ...(e.mode ? { mode: e.mode } : {}),
          ...(e.stages ? { stages: { ...e.stages } } : {}),
        },
      });
      d.transfers.push({
        at: e.at,
        from: e.from,
        to: e.to,
        reason: e.reason,
        source: e.source,
        escalated: e.escalated,
        handoffCount: e.handoffCount,
        latencyMs: e.latencyMs,
        ...(e.stages ? { stages: { ...e.stages } } : {}),
      });
      d.counts.transfers++;
      d.handoffCount = e.handoffCount;
      if (d.state !== 'ended') d.state = e.to;
      d.department = e.to;
      break;
    }
    case 'rejected':
      d.counts.refusals++;
      d.refusals.push({ at: e.at, from: e.from, to: e.to, reason: e.reason, source: e.source });
      break;
    case 'caller':
      d.caller = { ...e.caller };
      break;
    case 'keypad':
      d.keypad.push({ at: e.at, digit: e.digit, target: e.target, accepted: e.accepted, ...(e.reason ? { reason: e.reason } : {}) });
      break;
    case 'person': {
      // The step belongs to the leg with the person (the handoff into it may be published just after).
      const leg = [...d.route].reverse().find((l) => l.state === 'human');
      if (leg) (leg.steps ??= []).push({ step: e.step, at: e.at });
      else d.pendingSteps.push({ step: e.step, at: e.at });
      break;
    }
    case 'summary':
      // The notes later requests carry in place of the older turns: shown where they were made.
      d.transcript.push({ at: e.at, who: 'summary', text: e.text });
      break;
    case 'turn': {
      const { type: _type, ...turn } = e;
      d.turns.push(turn);
      break;
    }
    case 'recording': {
      const { type: _type, at: _at, ...info } = e;
      d.recording = info;
      break;
    }
    case 'error':
      d.counts.errors++;
      d.errors.push({ at: e.at, message: e.message });
      break;
    case 'end': {
      d.ended = true;
      d.endedAt = e.at;
      d.endReason = e.reason;
      d.state = e.state;
      d.handoffCount = e.handoffCount;
      if (e.state !== 'ended') d.department = e.state;
      const open = d.route.at(-1);
      if (open && open.leftAt === null) open.leftAt = e.at;
      break;
    }
  }
  return d;
}

export function digestOf(callId: string, events: readonly CallEvent[]): CallDigest {
  const d = emptyDigest(callId);
  for (const e of events) applyEvent(d, e);
  return d;
}

/** What `call.ended` and `npm run calls -- --json` report about a finished (or interrupted) call. */
export function summaryOf(d: CallDigest, status: 'ended' | 'interrupted', outcome: string | null) {
  const endedAt = d.endedAt;
  return {
    callId: d.callId,
    status,
    outcome,
    finalState: d.state,
    department: d.department,
    startedAt: d.startedAt,
    endedAt,
    durationMs: endedAt !== null && d.startedAt !== null ? endedAt - d.startedAt : null,
    handoffCount: d.handoffCount,
    caller: d.caller,
    route: d.route.map((leg) => ({
      state: leg.state,
      enteredAt: leg.enteredAt,
      leftAt: leg.leftAt ?? endedAt,
      ...(leg.via
        ? {
            from: leg.via.from,
            reason: leg.via.reason,
            source: leg.via.source,
            escalated: leg.via.escalated,
            latencyMs: leg.via.latencyMs,
            ...(leg.via.mode ? { mode: leg.via.mode } : {}),
            ...(leg.via.stages ? { stages: { ...leg.via.stages } } : {}),
          }
        : {}),
      ...(leg.steps ? { steps: leg.steps.map((st) => ({ ...st })) } : {}),
    })),
    turns: d.turns.map((t) => ({ ...t })),
    /** The call's recording in RECORDINGS_DIR (RECORD_CALLS=on); null: not recorded. */
    recording: d.recording ? { ...d.recording } : null,
    counts: {
      turns: d.counts.callerTurns + d.counts.agentTurns,
      callerTurns: d.counts.callerTurns,
      agentTurns: d.counts.agentTurns,
      transfers: d.counts.transfers,
      refusals: d.counts.refusals,
      errors: d.counts.errors,
    },
  };
}

/**
 * What a view needs besides the events: the call's head, as whoever holds the call keeps it (a stored
 * calls row, or the inspector's live entry). `endedAt` and `endReason` count only when it is not live.
 */
export interface CallHead {
  callId: string;
  worker?: string | null;
  live: boolean;
  startedAt: number;
  /** When it ended; absent or null: when its events say it ended. */
  endedAt?: number | null;
  state: string;
  handoffCount: number;
  /** Absent or null: what the `started` event said (else 1). */
  maxHandoffs?: number | null;
  humanAvailable: boolean;
  caller: CallerInfo;
  endReason?: string | null;
  /** The recording as the calls row names it (a list has no events to tell it). */
  recording?: RecordingInfo | null;
}

/** A call as the inspector's page shows it (`CallView`): its head and its events (null: head only). */
export function viewOf(head: CallHead, events: readonly CallEvent[] | null): CallView {
  return viewOfDigest(head, events ? digestOf(head.callId, events) : null);
}

/** The same from a digest already folded (the inspector's live calls keep one per call). */
export function viewOfDigest(head: CallHead, d: CallDigest | null): CallView {
  const endedAt = head.endedAt ?? d?.endedAt ?? undefined;
  const ended = !head.live;
  const recording = d?.recording ?? head.recording ?? null;
  return {
    callId: head.callId,
    ...(head.worker ? { worker: head.worker } : {}),
    live: head.live,
    startedAt: head.startedAt,
    ...(endedAt !== undefined && ended ? { endedAt } : {}),
    state: head.state,
    handoffCount: head.handoffCount,
    maxHandoffs: head.maxHandoffs ?? d?.maxHandoffs ?? 1,
    humanAvailable: head.humanAvailable,
    caller: { ...head.caller },
    timeline: (d?.route ?? []).map((leg) => ({
      state: leg.state,
      enteredAt: leg.enteredAt,
      ...(leg.leftAt !== null ? { leftAt: leg.leftAt } : ended && endedAt !== undefined ? { leftAt: endedAt } : {}),
      ...(leg.via
        ? { reason: leg.via.reason, source: leg.via.source, latencyMs: leg.via.latencyMs, escalated: leg.via.escalated }
        : {}),
      ...(leg.via?.mode ? { mode: leg.via.mode } : {}),
      ...(leg.via?.stages ? { stages: { ...leg.via.stages } } : {}),
      ...(leg.steps ? { steps: leg.steps.map((s) => ({ ...s })) } : {}),
    })),
    refusals: (d?.refusals ?? []).map((r) => ({ ...r })),
    transcript: transcriptWithTurns(d),
    errors: (d?.errors ?? []).map((e) => ({ ...e })),
    ...(ended && head.endReason !== undefined ? { endReason: head.endReason } : {}),
    ...(recording ? { recording: { ...recording } } : {}),
  };
}

/** The transcript, each agent line that answered a caller line with that turn's figures (the first agent line after it). */
function transcriptWithTurns(d: CallDigest | null): CallView['transcript'] {
  const byLine = new Map((d?.turns ?? []).map(({ line, eouMs, sttMs, llmTtftMs, ttsTtfbMs, responseMs }) => [line, { eouMs, sttMs, llmTtftMs, ttsTtfbMs, responseMs }]));
  let callerLines = 0;
  let answering: TurnFigures | undefined;
  return (d?.transcript ?? []).map((t) => {
    if (t.who === 'caller') answering = byLine.get(++callerLines);
    if (t.who === 'caller' || t.who === 'summary' || !answering) return { ...t };
    const turn = answering;
    answering = undefined;
    return { ...t, turn };
  });
}
