/** What a call is built from, and what it answers. */
import type { llm, voice } from '@livekit/agents';
import type { InspectionEvent } from 'xstate';
import type { CallState, CallerInfo, HumanTransferMode, Target } from '../../machines/router.js';
import type { DeskNames, HistoryPolicy } from '../departments.js';
import type { CallData } from './agent.js';
import type { Call } from './call.js';
import type { PersonSteps } from './person.js';

export interface HandoffTiming {
  from: CallState;
  to: Target;
  /** When the machine accepted the request (the tool call arriving, a key press, a supervisor). */
  requestedAt: number;
  /** When the new agent made its first LLM request. */
  firstLlmRequestAt: number | null;
  latencyMs: number | null;
}

export type TransferAnswer =
  | { accepted: true; from: CallState; to: CallState }
  /** `reason` may be told to the caller as it is; `guidance` is for the agent alone. */
  | { accepted: false; from: CallState; reason: string; guidance?: string };

export interface CallOptions {
  callId: string;
  llm: llm.LLM;
  company: string;
  maxHandoffs: number;
  humanAvailable: boolean;
  caller?: CallerInfo;
  /** A TTS per department (a distinct voice each), or undefined for a text call. */
  ttsFor?: (role: Target) => voice.AgentOptions<CallData>['tts'];
  /** Extra AgentSession options (STT, VAD, turn handling); the call sets llm, userData and error policy. */
  sessionOptions?: Partial<voice.AgentSessionOptions<CallData>>;
  /** Passed to the routing actor (e.g. an inspector). */
  inspect?: (event: InspectionEvent) => void;
  /**
   * Connects the caller to a person once the hand-off line has played (the worker: a SIP REFER to
   * HUMAN_TRANSFER_TO, or warm: dialled and briefed first — see ./person.ts). A rejection sends
   * HUMAN_TRANSFER_FAILED: the caller returns where they came from.
   */
  connectHuman?: (call: Call, steps: PersonSteps) => Promise<void>;
  /** How a person is reached (HUMAN_TRANSFER_MODE, default cold). */
  humanTransferMode?: HumanTransferMode;
  /** The bound on a warm transfer before the caller is returned to a desk (HUMAN_TRANSFER_TIMEOUT_S). */
  personTimeoutMs?: number;
  /**
   * Said when an LLM turn fails for good (after the `error` event), so the caller never sits in dead
   * air and knows to repeat themselves. One line per failed turn, spoken by the agent on the line and
   * kept in the history. Default: `DEFAULT_APOLOGY`.
   */
  apologyOnLlmError?: string;
  /** Said instead when the greeting itself failed (the caller has said nothing yet). Default: `DEFAULT_GREETING_APOLOGY`. */
  apologyOnGreetingError?: string;
  /** Keypad digits → transfer targets (DTMF_MAP). */
  dtmfMap?: Readonly<Record<string, Target>>;
  /** Hangs up the line once the agent ended the call and its goodbye played (the worker deletes the room). */
  hangUp?: () => Promise<void>;
  /** How long the goodbye may take before the session is closed anyway (ms). */
  goodbyeTimeoutMs?: number;
  /** Caller-facing desk names (DESK_NAME_<ID>); the department table's by default. */
  deskNames?: DeskNames;
  /**
   * Prepare the new agent's first reply while the old agent's transfer line plays (PREPARE_REPLIES,
   * default on): one extra LLM request per transfer at most, no dead air when it can be used.
   */
  prepareReplies?: boolean;
  /**
   * The silence kept around each agent clip's sound, so a transfer's seam holds this pause rather than
   * two speech engines' padding (SEAM_PAUSE_MS; default DEFAULT_SEAM_PAUSE_MS; null: clips play as made).
   */
  seamPauseMs?: number | null;
  /**
   * History (≈ tokens) before the older turns are summarised in the background (CONTEXT_BUDGET_TOKENS;
   * default DEFAULT_CONTEXT_BUDGET_TOKENS; 0: never). See ./memory.ts.
   */
  contextBudgetTokens?: number;
  /** What each desk's requests carry of a long call, over the department table's `history` (the bench compares them). */
  history?: Partial<Record<Target, HistoryPolicy>>;
  /** The greeting's language while the caller's is unknown (GREETING_LANGUAGE; English by default). */
  greetingLanguage?: string;
  /**
   * Record the call's audio (RECORD_CALLS=on) into `dir` (RECORDINGS_DIR), and say `notice`
   * (RECORDING_NOTICE: `on`, `off` or the words) before the greeting. See ./recording.ts.
   */
  recording?: { dir: string; notice?: string };
  /**
   * The caller's language became known or changed (detected, or saved by an agent): the worker tells
   * the speech-to-text and the voices.
   */
  languageChanged?: (language: string) => void;
}

/** The pause at a seam between two agent clips, when none is configured (ms). */
export const DEFAULT_SEAM_PAUSE_MS = 150;

/** What the agent says when its LLM turn failed for good. */
export const DEFAULT_APOLOGY = "I'm sorry, I didn't catch that. Could you say it again?";

/** What the agent says when its greeting failed: the caller has said nothing to be asked to repeat. */
export const DEFAULT_GREETING_APOLOGY = "Hello, thank you for calling. I'm sorry, we're having a little trouble on our side. How can I help you?";
