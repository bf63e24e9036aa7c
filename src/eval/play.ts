/**
 * One labelled conversation through the real orchestrator, as a text call against the configured
 * model: the caller's lines one turn each, until the lines or the call run out. What happened is
 * kept for scoring (route, the agents' lines, tokens, time).
 */
import { voice } from '@livekit/agents';
import type { Settings } from '../config.js';
import { type Language, detectLanguage } from '../language.js';
import { newTextCall, sayLine } from '../text-calls.js';
import type { EvalCase } from './cases.js';

export interface Played {
  id: string;
  /** Every accepted transfer, in order (`to`; triage included). */
  transfers: string[];
  /**
   * The agents' lines, each with the desk that said it, whether it came after the first transfer, and
   * the language the caller last spoke (the case's language until a line of theirs says otherwise).
   */
  lines: { agent: string; text: string; afterTransfer: boolean; callerSpeaks: Language }[];
  /** After which caller turn (1-based) each transfer happened. */
  transferTurns: number[];
  /** The language the call kept in the caller's details at the end (null: never known). */
  heardLanguage: string | null;
  tokens: number;
  ms: number;
  errors: string[];
}

export async function playCase(settings: Settings, c: EvalCase, runId: string): Promise<Played> {
  const started = Date.now();
  const call = newTextCall(settings, { callId: `eval-${c.id}-${runId}`, humanAvailable: true });
  const played: Played = { id: c.id, transfers: [], lines: [], transferTurns: [], heardLanguage: null, tokens: 0, ms: 0, errors: [] };
  let turn = 0;
  let callerSpeaks: Language = c.language;
  call.on('event', (e) => {
    if (e.type === 'handoff') {
      played.transfers.push(e.to);
      played.transferTurns.push(turn);
    } else if (e.type === 'agent') {
      played.lines.push({ agent: e.agent, text: e.text, afterTransfer: played.transfers.length > 0, callerSpeaks });
    } else if (e.type === 'caller') {
      played.heardLanguage = e.caller.language ?? null;
    } else if (e.type === 'error') {
      played.errors.push(e.message);
    }
  });
  call.session.on(voice.AgentSessionEventTypes.MetricsCollected, ({ metrics }) => {
    if (metrics.type === 'llm_metrics') played.tokens += metrics.totalTokens;
  });
  try {
    await call.start();
    await call.greeted;
    for (const line of c.turns) {
      if (call.machineState === 'ended') break;
      turn++;
      callerSpeaks = detectLanguage(line) ?? callerSpeaks;
      await sayLine(call, line, () => false);
    }
  } finally {
    await call.close('eval over');
  }
  played.ms = Date.now() - started;
  return played;
}
