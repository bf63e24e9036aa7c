/** The session's own events, told as call events: who said what (in which language), what failed, when it closed. */
import { voice } from '@livekit/agents';
import type { Target } from '../../machines/router.js';
import type { CallData } from './agent.js';
import type { CallEvent } from './events.js';

export interface SessionListener {
  emit(e: CallEvent): void;
  /** Who said a message: the agent whose context it was committed to. */
  speakerOf(itemId: string): Target;
  callerSpoke(): void;
  /** The speech-to-text reported the language of a caller turn. */
  heardLanguage(code: string): void;
  /** An agent line was committed (events held back for hearing order may follow it). */
  agentSpoke(): void;
  /** An LLM turn failed for good. */
  llmFailed(): void;
  closed(reason: string): void;
}

export function followSession(session: voice.AgentSession<CallData>, to: SessionListener): void {
  const S = voice.AgentSessionEventTypes;
  session.on(S.ConversationItemAdded, ({ item }) => {
    if (item.type !== 'message') return;
    const text = item.textContent ?? '';
    if (item.role === 'user') {
      to.emit({ type: 'user', text, at: Date.now() });
      to.callerSpoke();
    } else if (item.role === 'assistant' && text.trim()) {
      to.emit({ type: 'agent', agent: to.speakerOf(item.id), text, interrupted: item.interrupted, at: Date.now() });
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

  constructor(private readonly session: voice.AgentSession<CallData>) {
    session.on(voice.AgentSessionEventTypes.UserStateChanged, ({ oldState }) => {
      if (oldState === 'speaking') this.stoppedAt = Date.now();
    });
  }

  mayBeSpeaking(withinMs = 500): boolean {
    return this.session.userState === 'speaking' || Date.now() - this.stoppedAt < withinMs;
  }
}
