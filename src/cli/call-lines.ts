/**
 * A call's events as the commands show them: the JSON lines of `--json` (the contract in docs/chat.md's
 * table: a stable subset of each event) and the readable transcript lines. `npm run chat` and
 * `npm run voice` print the same.
 */
import type { CallEvent } from '../call/events.js';
import { describeError } from './text-calls.js';

/** The JSON contract: a stable subset of each call event, plus extra fields. */
export function toJson(e: CallEvent, server: string): Record<string, unknown> | null {
  switch (e.type) {
    case 'user':
      return { type: 'user', text: e.text };
    case 'agent':
      return { type: 'agent', agent: e.agent, text: e.text, interrupted: e.interrupted || undefined };
    case 'handoff':
      return {
        type: 'handoff',
        from: e.from,
        to: e.to,
        handoffCount: e.handoffCount,
        reason: e.reason,
        escalated: e.escalated || undefined,
        latencyMs: e.latencyMs,
        stages: e.stages,
      };
    case 'rejected':
      return { type: 'rejected', from: e.from, to: e.to, reason: e.reason };
    case 'error':
      return { type: 'error', message: describeError(e.message, server) };
    case 'recording':
      return { type: 'recording', file: e.file, format: e.format, channels: e.channels, startedAt: e.startedAt, durationMs: e.durationMs, bytes: e.bytes };
    case 'end':
      return { type: 'end', state: e.state, handoffCount: e.handoffCount, reason: e.reason };
    default:
      return null;
  }
}

export function toText(e: CallEvent, server: string): string | null {
  switch (e.type) {
    case 'agent':
      return `${e.agent.padStart(7)} │ ${e.text}${e.interrupted ? ' …(interrupted)' : ''}`;
    case 'user':
      return `${'caller'.padStart(7)} │ ${e.text}`;
    case 'handoff':
      return `        ↪ ${e.escalated ? 'escalated' : 'transferred'} ${e.from} → ${e.to} (${e.handoffCount}) — ${e.reason}${e.latencyMs !== null ? ` [${e.latencyMs} ms]` : ''}${e.stages?.silenceMs != null ? ` — ${Math.round(e.stages.silenceMs)} ms of silence` : ''}`;
    case 'rejected':
      return `        ✗ transfer ${e.from} → ${e.to} refused: ${e.reason}`;
    case 'error':
      return `        ! ${describeError(e.message, server)}`;
    case 'end':
      return e.reason === 'hangup'
        ? `        ■ the caller hung up, after ${e.handoffCount} transfer${e.handoffCount === 1 ? '' : 's'}`
        : `        ■ ${e.state === 'ended' ? 'call ended' : `call over in ${e.state}`} after ${e.handoffCount} transfer${e.handoffCount === 1 ? '' : 's'}${e.reason ? ` (${e.reason})` : ''}`;
    default:
      return null;
  }
}
