/** The session's own events, told as call events: who said what (in which language), what failed, when it closed. */
import { voice } from '@livekit/agents';
import type { Target } from '../../machines/router.js';
import type { CallData } from './agent.js';
import type { CallEvent } from './events.js';

export interface SessionListener {
  emit(e: CallEvent): void;
  /** A line (caller's or agent's), or an error of the desk on the line, is about to be told. */
  beforeLine(): void;
  /** Who said a message: the agent whose context it was committed to. */
  speakerOf(itemId: string): Target;
  callerSpoke(): void;
  /** The speech-to-text reported the language of a caller turn. */
  heardLanguage(code: string): void;
  /** An agent line was committed (events held back for hearing order may follow it). */
  agentSpoke(): void;
  /** An LLM turn failed for good. */
  llmFailed(): void;
  /** When the line being told started to sound (epoch ms): the caller's speech, the agent's clip; null: unknown. */
  callerSpokeAt(): number | null;
  agentSpokeAt(): number | null;
  closed(reason: string): void;
}

export function followSession(session: voice.AgentSession<CallData>, to: SessionListener): void {
  const S = voice.AgentSessionEventTypes;
  session.on(S.ConversationItemAdded, ({ item }) => {
    if (item.type !== 'message') return;
    const text = item.textContent ?? '';
    if (item.role === 'user' || (item.role === 'assistant' && text.trim())) to.beforeLine();
    if (item.role === 'user') {
      const spokeAt = to.callerSpokeAt();
      to.emit({ type: 'user', text, ...(spokeAt !== null ? { spokeAt } : {}), at: Date.now() });
      to.callerSpoke();
    } else if (item.role === 'assistant' && text.trim()) {
      const spokeAt = to.agentSpokeAt();
      to.emit({ type: 'agent', agent: to.speakerOf(item.id), text, interrupted: item.interrupted, ...(spokeAt !== null ? { spokeAt } : {}), at: Date.now() });
      to.agentSpoke();
    }
  });
  session.on(S.UserInputTranscribed, ({ isFinal, language }) => {
    if (isFinal && language) to.heardLanguage(String(language));
  });
  session.on(S.Error, ({ error }) => {
    if ((error as { recoverable?: boolean }).recoverable) return;
    const inner = (error as { error?: unknown }).error;
    const message = inner instanceof Error ? inner.message : String(inner ?? error.type);
    // A desk that just took the line and failed: its handoff is told before its failure.
    to.beforeLine();
    to.emit({ type: 'error', message: `${error.type}: ${message}`, at: Date.now() });
    if (error.type === 'llm_error') to.llmFailed();
  });
  session.on(S.Close, ({ reason }) => to.closed(String(reason)));
}

/**
 * Whether the caller may be speaking, as the session's VAD tells it. An agent swap starts a new
 * activity whose view of the caller starts at "listening", and its VAD finds a caller still speaking
 * again only ~150 ms later (longer on a busy machine): a caller who was speaking just now may still be.
 */
export class CallerVoice {
  private stoppedAt = 0;
  /** When the caller's speech ended, as LiveKit's VAD handling reckons it (epoch ms); 0 when not told. */
  private speechEndAt = 0;
  /** When the caller's line being heard started (their first speech since their last line was told). */
  private lineStartAt: number | null = null;

  constructor(private readonly session: voice.AgentSession<CallData>) {
    session.on(voice.AgentSessionEventTypes.UserStateChanged, ({ oldState, newState, createdAt }) => {
      if (oldState === 'speaking') this.stoppedAt = Date.now();
      if (newState === 'speaking') this.lineStartAt ??= createdAt;
    });
    // LiveKit works out when the caller's speech really ended (the VAD's report, less the silence it
    // waited for and its inference time) and passes it to the session's state update, without keeping it:
    // it is read there. (1.9.0's AgentSession._updateUserState; without it, see `lastSoundAt`.)
    const s = session as unknown as { _updateUserState?: (state: string, o?: { lastSpeakingTime?: number }) => void };
    const update = s._updateUserState?.bind(session);
    if (update) {
      s._updateUserState = (state, o) => {
        if (state === 'listening' && typeof o?.lastSpeakingTime === 'number') this.speechEndAt = o.lastSpeakingTime;
        update(state, o);
      };
    }
  }

  /** When the caller's line now told started to sound (null: no speech heard — a text call); the next line starts anew. */
  takeLineStart(): number | null {
    const at = this.lineStartAt;
    this.lineStartAt = null;
    return at;
  }

  mayBeSpeaking(withinMs = 500): boolean {
    return this.session.userState === 'speaking' || Date.now() - this.stoppedAt < withinMs;
  }

  /**
   * When the caller's voice was last heard (epoch ms; now while they speak; 0 before they spoke). The VAD
   * tells of the end of speech once it has heard enough silence: LiveKit's reckoning of when it really
   * ended, or else the VAD's report less its minimum silence.
   */
  lastSoundAt(): number {
    if (this.session.userState === 'speaking') return Date.now();
    if (this.speechEndAt && this.speechEndAt <= this.stoppedAt) return this.speechEndAt;
    const vad = this.session.vad as { minSilenceDuration?: unknown } | undefined;
    const min = typeof vad?.minSilenceDuration === 'number' ? vad.minSilenceDuration : 0;
    // LiveKit's inference VAD counts it in ms; Silero's plugin in seconds.
    const lag = min < 20 ? min * 1000 : min;
    return this.stoppedAt && this.stoppedAt - lag;
  }
}
