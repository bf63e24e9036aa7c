/**
 * A voice call on one clock, measured in its sound: every utterance (who, when its sound starts and
 * stops, what was said or heard), every transfer with the silence the caller heard before the new desk's
 * voice, and each turn's response time (the caller's last sound → the agents' next sound). `call.wav`
 * (caller left, agents right) is the same audio.
 */
import type { Target } from '../../machines/router.js';
import type { CallEvent } from '../call/events.js';
import { AGENT_RATE, type PlayedSegment } from './agent-audio.js';
import { CALLER_RATE } from './caller-audio.js';
import { soundBounds } from '../call/sound.js';
import { encodeWav, resample } from './wav.js';

/** A call event and when it happened on the call's clock. */
export interface Clocked {
  event: CallEvent;
  atMs: number;
}

/** A caller line as it was sent: the script's words and when the clip started and finished. */
export interface CallerLine {
  words: string;
  startMs: number;
  endMs: number;
  samples: Int16Array;
}

export interface Utterance {
  speaker: 'caller' | Target;
  /** Call-clock ms of its first and last sound (energy ≥ −45 dBFS). */
  startMs: number;
  endMs: number;
  text: string;
  /** A caller line: what the speech-to-text heard (null: nothing). */
  heard?: string | null;
  interrupted?: boolean;
  /** An agent line: where its audio segment started and ended (padding included). */
  segment?: { startMs: number; endMs: number };
}

export interface TransferTiming {
  from: string;
  to: Target;
  reason: string;
  atMs: number;
  /** Silence the caller heard before the new desk's first sound (null: the desk never spoke). */
  silenceMs: number | null;
  /** The same seam between audio segments (what the framework sees): padding not counted. */
  segmentGapMs: number | null;
}

export interface Timeline {
  durationMs: number;
  utterances: Utterance[];
  transfers: TransferTiming[];
  /** Each caller line's end of sound → the agents' next sound. */
  responses: { afterLine: number; ms: number | null }[];
}

const round = (ms: number) => Math.round(ms);

/** The agent lines in hearing order, each paired with the audio segment that carried it. */
function agentUtterances(events: Clocked[], segments: PlayedSegment[]): Utterance[] {
  const heard = segments.filter((s) => s.samples.length > 0);
  const out: Utterance[] = [];
  let next = 0;
  for (const { event, atMs } of events) {
    if (event.type !== 'agent' || !event.text.trim()) continue;
    // A line is committed when it has played (or been cut): its segment started before that.
    const seg = heard[next];
    if (!seg || seg.startMs > atMs + 50) continue;
    next++;
    const sound = soundBounds(seg.samples, AGENT_RATE);
    if (!sound) continue;
    out.push({
      speaker: event.agent,
      startMs: round(seg.startMs + sound.onsetMs),
      endMs: round(seg.startMs + sound.offsetMs),
      text: event.text,
      ...(event.interrupted || seg.interrupted ? { interrupted: true } : {}),
      segment: { startMs: round(seg.startMs), endMs: round(seg.endMs) },
    });
  }
  return out;
}

/** The caller's lines, each with what the speech-to-text heard of it (the first `user` event after it). */
function callerUtterances(events: Clocked[], lines: CallerLine[]): Utterance[] {
  const users = events.filter((e) => e.event.type === 'user');
  let next = 0;
  return lines.map((line, i) => {
    const sound = soundBounds(line.samples, CALLER_RATE) ?? { onsetMs: 0, offsetMs: line.endMs - line.startMs };
    const before = lines[i + 1]?.startMs ?? Infinity;
    const user = users[next];
    let heard: string | null = null;
    if (user && user.atMs >= line.startMs && user.atMs < before + 5000) {
      heard = (user.event as { text: string }).text;
      next++;
    }
    return { speaker: 'caller' as const, startMs: round(line.startMs + sound.onsetMs), endMs: round(line.startMs + sound.offsetMs), text: line.words, heard };
  });
}

/** Each accepted transfer: the silence before the new desk's first sound after it. */
function transferTimings(events: Clocked[], all: Utterance[]): TransferTiming[] {
  const agents = all.filter((u) => u.speaker !== 'caller');
  return events.flatMap(({ event, atMs }): TransferTiming[] => {
    if (event.type !== 'handoff') return [];
    // The handoff is told once its desk's reply is heard: a bridging line it said just before is its first sound.
    let at = agents.findIndex((u) => u.speaker === event.to && (u.segment?.endMs ?? u.endMs) >= atMs);
    while (at > 0 && agents[at - 1]!.speaker === event.to) at--;
    const first = at < 0 ? undefined : agents[at];
    const base = { from: event.from, to: event.to, reason: event.reason, atMs: round(atMs) };
    if (!first) return [{ ...base, silenceMs: null, segmentGapMs: null }];
    const before = all.filter((u) => u !== first && u.startMs < first.startMs);
    const lastSound = Math.max(...before.map((u) => Math.min(u.endMs, first.startMs)), 0);
    const prevAgent = agents.filter((u) => u !== first && u.segment && u.segment.startMs < first.segment!.startMs).at(-1);
    return [
      {
        ...base,
        silenceMs: round(first.startMs - lastSound),
        segmentGapMs: prevAgent ? round(Math.max(0, first.segment!.startMs - prevAgent.segment!.endMs)) : null,
      },
    ];
  });
}

export function buildTimeline(events: Clocked[], lines: CallerLine[], segments: PlayedSegment[], durationMs: number): Timeline {
  const callers = callerUtterances(events, lines);
  const utterances = [...callers, ...agentUtterances(events, segments)].sort((a, b) => a.startMs - b.startMs);
  const responses = callers.map((c, i) => {
    const reply = utterances.find((u) => u.speaker !== 'caller' && u.startMs >= c.endMs);
    return { afterLine: i + 1, ms: reply ? reply.startMs - c.endMs : null };
  });
  return { durationMs: round(durationMs), utterances, transfers: transferTimings(events, utterances), responses };
}

/** The call's two channels on one clock, at the agents' rate: the caller's line and what the agents played. */
export function callChannels(caller: Int16Array, segments: PlayedSegment[], durationMs: number): { caller: Int16Array; agents: Int16Array } {
  const left = resample(caller, CALLER_RATE, AGENT_RATE);
  const frames = Math.max(left.length, Math.ceil((durationMs * AGENT_RATE) / 1000));
  const callerOut = new Int16Array(frames);
  callerOut.set(left.subarray(0, frames));
  const agents = new Int16Array(frames);
  for (const seg of segments) {
    const at = Math.round((seg.startMs * AGENT_RATE) / 1000);
    agents.set(seg.samples.subarray(0, Math.max(0, frames - at)), at);
  }
  return { caller: callerOut, agents };
}

/** `call.wav`: stereo at the agents' rate, the caller on the left, the agents on the right. */
export function callWav({ caller, agents }: { caller: Int16Array; agents: Int16Array }): Buffer {
  const out = new Int16Array(caller.length * 2);
  for (let i = 0; i < caller.length; i++) {
    out[i * 2] = caller[i]!;
    out[i * 2 + 1] = agents[i]!;
  }
  return encodeWav({ sampleRate: AGENT_RATE, channels: 2, samples: out });
}
