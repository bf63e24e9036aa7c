/**
 * One simulated call: the scenario's caller (a model, see ./caller.ts) against the real orchestrator
 * as a text call, turn by turn, until the caller hangs up, the call ends, or the caller runs out of
 * turns. What happened is kept on one timeline for the judges.
 */
import { voice } from '@livekit/agents';
import type { Settings } from '../config.js';
import { type Language, detectLanguage } from '../language.js';
import { newTextCall, sayLine } from '../text-calls.js';
import type { ModelEndpoint } from './chat-model.js';
import { SimulatedCaller } from './caller.js';
import type { Scenario } from './scenario.js';

/** One thing on a call's timeline; `at` is ms since the call started. */
export type Entry =
  | { kind: 'caller'; text: string; language: Language; at: number; heard?: string | null }
  | { kind: 'silence'; at: number }
  | { kind: 'agent'; desk: string; text: string; at: number }
  | { kind: 'transfer'; from: string; to: string; reason: string; at: number }
  | { kind: 'refused'; from: string; to: string; reason: string; at: number }
  | { kind: 'error'; text: string; at: number };

export interface SimCall {
  scenario: string;
  /** Which repeat of the scenario (1-based). */
  run: number;
  entries: Entry[];
  /** How the call ended: the caller hung up (with or without their needs met), the agents ended it, the caller ran out of turns, or a model failed. */
  end: { by: 'caller' | 'agent' | 'turn limit' | 'error'; needsMet: boolean | null; reason: string };
  tokens: { desks: number; caller: number };
  ms: number;
}

/** How long a caller on hold for a person waits before speaking again. */
const HOLD_MS = 15_000;

/**
 * A caller being handed to a person waits on hold, as a caller does, until the person takes the call
 * (the call ends) or the call comes back to a desk and its line was said — not talking over the hold.
 */
async function onHoldEnded(entries: Entry[], ended: () => boolean): Promise<void> {
  const onHold = () => {
    const i = entries.findLastIndex((e) => e.kind === 'transfer' && e.to === 'human');
    if (i < 0) return false;
    const back = entries.findIndex((e, j) => j > i && e.kind === 'transfer' && e.from === 'human');
    return back < 0 || !entries.slice(back + 1).some((e) => e.kind === 'agent');
  };
  const until = Date.now() + HOLD_MS;
  while (onHold() && !ended() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
}

export async function playScenario(settings: Settings, callerModel: ModelEndpoint, s: Scenario, run: number, runId: string): Promise<SimCall> {
  const started = Date.now();
  const at = () => Date.now() - started;
  const call = newTextCall(settings, { callId: `sim-${s.id}-${run}-${runId}`, humanAvailable: true });
  const entries: Entry[] = [];
  const tokens = { desks: 0, caller: 0 };
  let language: Language = s.caller.language;
  let ended = false;
  call.on('event', (e) => {
    if (e.type === 'agent') entries.push({ kind: 'agent', desk: e.agent, text: e.text, at: at() });
    else if (e.type === 'handoff') entries.push({ kind: 'transfer', from: e.from, to: e.to, reason: e.reason, at: at() });
    else if (e.type === 'rejected') entries.push({ kind: 'refused', from: e.from, to: e.to, reason: e.reason, at: at() });
    else if (e.type === 'error') entries.push({ kind: 'error', text: e.message, at: at() });
    else if (e.type === 'end') ended = true;
  });
  call.session.on(voice.AgentSessionEventTypes.MetricsCollected, ({ metrics }) => {
    if (metrics.type === 'llm_metrics') tokens.desks += metrics.totalTokens;
  });
  const caller = new SimulatedCaller(callerModel, s);
  let end: SimCall['end'] = { by: 'turn limit', needsMet: false, reason: `the caller gave up after ${s.max_turns} lines` };
  let heard = 0;
  const say = async (text: string) => {
    language = detectLanguage(text) ?? language;
    entries.push({ kind: 'caller', text, language, at: at() });
    await sayLine(call, text, () => false);
  };
  try {
    await call.start();
    await call.greeted;
    for (let turn = 0; turn < s.max_turns; turn++) {
      if (ended || call.machineState === 'ended') {
        end = { by: 'agent', needsMet: null, reason: 'the agents ended the call' };
        break;
      }
      await onHoldEnded(entries, () => ended);
      const agentLines = entries.filter((e) => e.kind === 'agent');
      caller.hear(agentLines.slice(heard).map((e) => e.text));
      heard = agentLines.length;
      let move;
      try {
        move = await caller.next();
      } catch (err) {
        entries.push({ kind: 'error', text: `caller model: ${(err as Error).message}`, at: at() });
        end = { by: 'error', needsMet: null, reason: `the caller's model failed: ${(err as Error).message}` };
        break;
      }
      if (move.kind === 'silent') entries.push({ kind: 'silence', at: at() });
      else if (move.text) await say(move.text);
      if (move.kind === 'end') {
        end = { by: 'caller', needsMet: move.needsMet, reason: move.reason };
        break;
      }
    }
  } finally {
    tokens.caller = caller.tokens;
    await call.close('simulation over');
  }
  return { scenario: s.id, run, entries, end, tokens, ms: Date.now() - started };
}
