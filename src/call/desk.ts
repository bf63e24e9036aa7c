/**
 * A desk on the line: the agent of one department, built from the department table, with the tools
 * the machine allows there. Its tools only ask the call (and through it the machine) and report the
 * answer: accepted (no output, so the new desk speaks first) or refused with the reason.
 */
import { llm, type voice } from '@livekit/agents';
import type { CallerInfo, RouterContext, Target } from '../../machines/router.js';
import { type DeskNames, type Opening, instructionsFor, openingFor } from '../departments.js';
import { type AgentHooks, type CallData, DepartmentAgent } from './agent.js';
import type { CallOptions, TransferAnswer } from './options.js';
import { disallowInterruptions } from './session.js';
import { toolsFor } from './tools.js';
import type { TrimOptions } from './trim.js';

export interface DeskPort {
  company: string;
  deskNames?: DeskNames;
  ttsFor?: CallOptions['ttsFor'];
  /** How each agent clip's padding is trimmed (none: played as made). */
  trim: TrimOptions | null;
  /** The machine's context now (caller details, whether a person can be reached). */
  context(): RouterContext;
  /** The transfers the machine would take from where the call is now (→ the desk's tools). */
  openTransfers(): Target[];
  /** The agent is the one on the line (not retired, not replaced). */
  isOnLine(agent: DepartmentAgent): boolean;
  requestTransfer(to: string, reason: string, chained: boolean): TransferAnswer;
  updateCaller(info: Partial<CallerInfo>): CallerInfo;
  endCall(reason: string): void;
  hooks(agent: DepartmentAgent): AgentHooks;
}

/** A desk's system prompt, with what we know about the caller now. */
export function deskInstructions(role: Target, port: DeskPort): string {
  return instructionsFor(role, {
    company: port.company,
    caller: port.context().caller,
    names: port.deskNames,
    transfers: port.openTransfers(),
  });
}

export function buildDesk(role: Target, how: Opening, port: DeskPort): DepartmentAgent {
  let agent: DepartmentAgent;
  // Only the transfers the machine would take now: a desk is never offered one it would refuse.
  const tools = toolsFor(role, port.openTransfers(), {
    transfer: async (target, reason, ctx) => transfer(port, agent, target, reason, ctx),
    updateCaller: (info) => port.updateCaller(info),
    endCall: (reason, ctx) => {
      if (agent.retired) throw new llm.ToolError('This call has been transferred; say nothing more.');
      disallowInterruptions(ctx);
      port.endCall(reason?.trim() || 'completed');
      return 'The call is ending. Say a short, warm goodbye and nothing else.';
    },
  });
  // After a transfer the entry reply may route onward at once (a chain), so the caller never repeats a need.
  const entry = {
    opening: openingFor(role, how, port.deskNames, port.context().caller.language),
    toolChoice: how.kind === 'transfer' && role !== 'human' ? ('auto' as const) : ('none' as const),
  };
  // The hooks name the agent they belong to; it exists once the constructor has run.
  const hooks: AgentHooks = {
    onTakeLine: () => port.hooks(agent).onTakeLine(),
    onEntryReply: (speech) => port.hooks(agent).onEntryReply(speech),
    onFirstLlmRequest: () => port.hooks(agent).onFirstLlmRequest(),
    beforeReplyTo: (line) => port.hooks(agent).beforeReplyTo(line),
    callerMayBeSpeaking: () => port.hooks(agent).callerMayBeSpeaking(),
    meter: () => port.hooks(agent).meter(),
    bridgeSaid: (text, interrupted) => port.hooks(agent).bridgeSaid(text, interrupted),
    forModel: (ctx) => port.hooks(agent).forModel(ctx),
  };
  agent = new DepartmentAgent(role, entry, hooks, {
    instructions: deskInstructions(role, port),
    tools,
    tts: port.ttsFor?.(role),
  });
  agent.trim = port.trim;
  return agent;
}

async function transfer(
  port: DeskPort,
  agent: DepartmentAgent,
  target: Target,
  reason: string,
  ctx: voice.RunContext<CallData>,
): Promise<undefined> {
  if (!port.isOnLine(agent)) {
    // At most one transfer per turn: the first one won, this agent is no longer on the line.
    throw new llm.ToolError('A transfer is already under way; say nothing more.');
  }
  // Once the machine accepts, the caller talking over the line must not undo the transfer.
  disallowInterruptions(ctx);
  // An agent that has not heard the caller since it took the line is passing the caller on (a chain).
  const answer = port.requestTransfer(target, reason, !agent.heardCaller);
  if (!answer.accepted) {
    const guidance = answer.guidance ? ` (For you, not to be read out: ${answer.guidance})` : '';
    throw new llm.ToolError(`Transfer refused: ${answer.reason}${guidance}`);
  }
  // No output: the old agent does not reply; the new agent speaks first.
  return undefined;
}
