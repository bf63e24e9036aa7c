/** The LiveKit session of a call: how it is made, and small facts and moves on it that the call needs. */
import { type llm, voice } from '@livekit/agents';
import type { CallData } from './agent.js';
import type { CallOptions } from './options.js';
import { isTransferTool } from './tools.js';

/** The call's session: its LLM, the caller's details as user data, and failed LLM turns survived. */
export function newSession(opts: CallOptions): voice.AgentSession<CallData> {
  return new voice.AgentSession<CallData>({
    ...opts.sessionOptions,
    llm: opts.llm,
    userData: { callId: opts.callId, caller: { ...(opts.caller ?? {}) }, handoffCount: 0 },
    connOptions: {
      ...opts.sessionOptions?.connOptions,
      // A failed LLM turn is reported and the call goes on; the caller (or the agent) ends it.
      maxUnrecoverableErrors: Number.MAX_SAFE_INTEGER,
    },
  });
}

export const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Waits until the agent has finished what it is saying (the goodbye), at most `timeoutMs`. */
export async function waitForQuiet(session: voice.AgentSession<CallData>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // The goodbye is scheduled right after the end_call tool returns; give it a moment to appear.
  await new Promise((r) => setTimeout(r, 50));
  while (Date.now() < deadline && ['thinking', 'speaking'].includes(session.agentState)) {
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A tool call other than a transfer, in the history without its result yet. */
export function otherToolsRunning(history: llm.ChatContext): boolean {
  const done = new Set(history.items.flatMap((i) => (i.type === 'function_call_output' ? [i.callId] : [])));
  return history.items.some((i) => i.type === 'function_call' && !done.has(i.callId) && !isTransferTool(i.name));
}

/** Once the machine accepts, the caller talking over the line must not undo what the tool did. */
export function disallowInterruptions(ctx: voice.RunContext<CallData>): void {
  try {
    ctx.disallowInterruptions();
  } catch {
    /* already interrupted: the machine still decides */
  }
}
