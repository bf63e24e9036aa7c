/**
 * The tools an agent offers its model. Each only sends the machine an event and reports its answer:
 * accepted (no output, so the new agent speaks first), or refused as a `ToolError` with the reason.
 */
import { llm, type voice } from '@livekit/agents';
import { z } from 'zod';
import type { CallerInfo, Target } from '../../machines/router.js';
import { DEPARTMENT_TABLE } from '../departments.js';
import type { CallData } from './agent.js';

/** The one formula for a transfer tool's name. */
export function toolName(target: Target): string {
  return target === 'human' ? 'transfer_to_human' : `pass_control_to_${target}`;
}

/*
 * The OpenAI plugin offers every field as required and an optional one as nullable, so a model sends
 * every field, with `null` for what it does not know: each optional field accepts `null` ("not given").
 */

export const isTransferTool = (name: string) => name === 'transfer_to_human' || name.startsWith('pass_control_to_');

/** The arguments of `update_caller_info`: the fields the caller stated, `null` (or absent) for the rest. */
export const callerInfoParam = z.object({
  // (`.describe` before `.nullish`: the other way round the description does not reach the model.)
  name: z.string().describe("The caller's name, or null").nullish(),
  phoneNumber: z.string().describe('A phone number to reach them, or null').nullish(),
  accountId: z.string().describe('Their account or customer id, or null').nullish(),
  need: z.string().describe('What they want, in one sentence, or null').nullish(),
  language: z.string().describe('The language they speak (English, Hindi, Hinglish, …), or null').nullish(),
});

/** Only the fields that were given: `null` and absent both mean "not given". */
export function givenFields<T extends Record<string, unknown>>(args: T): { [K in keyof T]?: Exclude<T[K], null> } {
  return Object.fromEntries(Object.entries(args).filter(([, v]) => v !== null && v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], null>;
  };
}

/**
 * A transfer's reason is asked for as a string. The target is in the tool's name, so a model that
 * sends `null` (as real models do for what they do not know), leaves the reason out, or sends
 * arguments LiveKit repairs to either, still moves the caller (the reason becomes "(no reason
 * given)"): refusing would drop the transfer over a word. A reason of another type (a number, an
 * object) is refused, and the model is told why.
 */
const reasonParam = z.object({
  reason: z.preprocess((v) => v ?? '', z.string().describe('Why the caller needs this transfer, in a short sentence.')),
});

const endParam = z.object({ reason: z.string().describe('Why the call ends, or null').nullish() });

/** What the tools ask of the call. */
export interface ToolHandlers {
  transfer(target: Target, reason: string, ctx: voice.RunContext<CallData>): Promise<undefined>;
  updateCaller(info: Partial<CallerInfo>): CallerInfo;
  endCall(reason: string | null | undefined, ctx: voice.RunContext<CallData>): string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Tool = llm.FunctionTool<any, CallData, any>;

function transferTool(target: Target, handlers: ToolHandlers): Tool {
  const spec = DEPARTMENT_TABLE[target];
  return llm.tool({
    name: toolName(target),
    // What the desk is for, never its own prompt ("You are the billing specialist" would tell the
    // model offering the tool that it is Billing).
    description: target === 'human' ? `Transfer the caller to ${spec.handles}.` : `Transfer the caller to ${spec.title}: ${spec.handles}.`,
    parameters: reasonParam,
    execute: async ({ reason }, { ctx }) => handlers.transfer(target, reason, ctx),
  });
}

/** The tools of one agent: a transfer tool per target the machine allows, caller info (not for `human`), end_call. */
export function toolsFor(role: Target, targets: readonly Target[], handlers: ToolHandlers): Tool[] {
  const tools = targets.map((t) => transferTool(t, handlers));
  if (role !== 'human') {
    tools.push(llm.tool({
      name: 'update_caller_info',
      description: 'Save what the caller told you about themselves. Pass null for what you did not learn.',
      parameters: callerInfoParam,
      execute: async (info) => ({ saved: true, caller: handlers.updateCaller(givenFields(info)) }),
    }));
  }
  tools.push(llm.tool({
    name: 'end_call',
    description: 'End the call when the caller is done. Do not say goodbye before calling it; you will be asked to.',
    parameters: endParam,
    execute: async ({ reason }, { ctx }) => handlers.endCall(reason, ctx),
  }));
  return tools;
}
