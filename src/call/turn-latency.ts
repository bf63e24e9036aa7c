/**
 * Each caller turn's latency: where the time went between the caller's line and the answer they heard.
 *
 * - The session's metrics (`metrics_collected`): the end-of-turn report of the caller's line (its delay, the
 *   transcript's delay, when their speech ended, and the reply it started: `speechId`), and the LLM and
 *   speech requests, each tagged with the reply they were made in.
 * - The sound: the first agent sound in the caller's ear after their speech ended (the call's earpiece).
 *
 * A turn opens with the caller's line (`user`) and is told (a `turn` event) right after the first agent
 * line told once it was answered: on a voice call once an agent's sound followed the end of the caller's
 * speech, on a text call at once. A turn never answered (the caller spoke again first, the call ended) is
 * not told.
 */
import { type metrics, voice } from '@livekit/agents';
import type { Target } from '../../machines/router.js';
import type { CallEvent, TurnFigures } from './events.js';

/** An LLM or speech request as its metrics tell it: the reply it was made in, when it started, its first token/byte. */
interface Request {
  speechId: string | undefined;
  startAt: number;
  firstMs: number;
}

/** The end-of-turn report of a caller line (eou_metrics); its figures null when it saw no end of speech. */
interface EndOfTurn {
  speechId: string | undefined;
  eouMs: number | null;
  sttMs: number | null;
  /** When the caller's speech ended, as the VAD reckons it (epoch ms). */
  speechEndAt: number | null;
  at: number;
}

interface Turn {
  line: number;
  /** When the line was committed (epoch ms). */
  openedAt: number;
  endOfTurn: EndOfTurn | null;
  /** The reply LiveKit started for the line. */
  speechId: string | null;
  answer: { desk: Target; at: number | null } | null;
}

/** Requests kept, newest last (a turn's own are among the most recent). */
const KEPT = 40;
/**
 * LiveKit 1.9.0 reports a line's end of turn just before it commits the line (the report is made when the
 * reply is asked for; the line is added when the reply runs): a report this recent belongs to the line.
 */
const REPORT_BEFORE_LINE_MS = 2_000;

const ms = (v: number | null | undefined) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : null);

export class TurnLatency {
  private readonly llm: Request[] = [];
  private readonly tts: Request[] = [];
  private endOfTurn: EndOfTurn | null = null;
  /** The latest reply asked for (`generate_reply`): a text line's reply (it has no end-of-turn report). */
  private latestReply: string | null = null;
  private lastSound: { desk: Target; at: number } | null = null;
  private turn: Turn | null = null;
  private lines = 0;
  private voice = false;

  constructor(
    private readonly session: voice.AgentSession<unknown>,
    private readonly emit: (e: CallEvent) => void,
  ) {
    const S = voice.AgentSessionEventTypes;
    session.on(S.MetricsCollected, ({ metrics }) => this.metric(metrics));
    session.on(S.SpeechCreated, ({ source, speechHandle }) => {
      if (source === 'generate_reply') this.latestReply = speechHandle.id;
    });
    session.on(S.Close, () => this.tellAnswered());
  }

  /** A call event, once told: a caller line opens a turn; an agent line told after its answer closes it. */
  heard(e: CallEvent): void {
    if (e.type === 'user') this.open();
    else if (e.type === 'agent' && this.turn) {
      // A text call has no sound: its answer is the line.
      if (!this.hasAudio) this.turn.answer ??= { desk: e.agent, at: null };
      this.tellAnswered();
    }
  }

  /** An agent clip's first sound reached the caller's ear (epoch ms). */
  sounded(desk: Target, at: number): void {
    this.lastSound = { desk, at };
    this.answerWith(this.lastSound);
  }

  /** A voice call: the session has an audio output, or had one (it lets it go as it closes). */
  private get hasAudio(): boolean {
    return (this.voice ||= Boolean(this.session.output.audio));
  }

  private metric(m: metrics.AgentMetrics): void {
    if (m.type === 'eou_metrics') {
      // LiveKit reports 0 for all three when it did not see the end of the speech.
      const seen = m.lastSpeakingTimeMs > 0;
      this.endOfTurn = {
        speechId: m.speechId,
        eouMs: seen ? m.endOfUtteranceDelayMs : null,
        sttMs: seen ? m.transcriptionDelayMs : null,
        speechEndAt: seen ? m.lastSpeakingTimeMs : null,
        at: Date.now(),
      };
    } else if (m.type === 'llm_metrics') keep(this.llm, { speechId: m.speechId, startAt: m.timestamp - m.durationMs, firstMs: m.ttftMs });
    else if (m.type === 'tts_metrics') keep(this.tts, { speechId: m.speechId, startAt: m.timestamp - m.durationMs, firstMs: m.ttfbMs });
  }

  private open(): void {
    this.tellAnswered();
    const report = this.endOfTurn && Date.now() - this.endOfTurn.at <= REPORT_BEFORE_LINE_MS ? this.endOfTurn : null;
    this.endOfTurn = null;
    // Known while the session still has its audio output (an end-of-turn report is a voice call's too).
    this.voice ||= this.hasAudio || report !== null;
    const speechId = report?.speechId ?? this.latestReply;
    this.turn = { line: ++this.lines, openedAt: Date.now(), endOfTurn: report, speechId, answer: null };
    // The agents may have sounded between the end of the caller's speech and their line being committed.
    if (this.lastSound) this.answerWith(this.lastSound);
  }

  /**
   * The answer: the first agent sound at or after the end of the caller's speech (a line committed without
   * its end of speech known: after the line).
   */
  private answerWith(sound: { desk: Target; at: number }): void {
    const t = this.turn;
    if (!t || t.answer || sound.at < (t.endOfTurn?.speechEndAt ?? t.openedAt)) return;
    t.answer = { ...sound };
  }

  private tellAnswered(): void {
    const t = this.turn;
    if (!t?.answer) return;
    this.turn = null;
    this.emit({ type: 'turn', line: t.line, agent: t.answer.desk, ...this.figures(t), at: Date.now() });
  }

  private figures(t: Turn): TurnFigures {
    const eot = t.endOfTurn;
    const answeredAt = t.answer?.at ?? null;
    return {
      eouMs: ms(eot?.eouMs),
      sttMs: ms(eot?.sttMs),
      llmTtftMs: ms(firstOf(this.llm, t.speechId)?.firstMs),
      ttsTtfbMs: ms(firstOf(this.tts, t.speechId)?.firstMs),
      responseMs: eot?.speechEndAt && answeredAt !== null ? ms(answeredAt - eot.speechEndAt) : null,
    };
  }
}

function keep(list: Request[], r: Request): void {
  list.push(r);
  if (list.length > KEPT) list.shift();
}

/**
 * A reply's first request: the one of its requests that started first. Later ones in the same reply are
 * the answer after a tool (end_call, update_caller_info) or a transfer's prepared reply for the next desk,
 * made while this reply ran.
 */
function firstOf(list: Request[], speechId: string | null): Request | undefined {
  if (speechId === null) return undefined;
  return list.filter((r) => r.speechId === speechId).reduce<Request | undefined>((a, r) => (a && a.startAt <= r.startAt ? a : r), undefined);
}
