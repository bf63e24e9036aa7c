/**
 * Regressions planted in the scripted model, for proving that `npm run simulate`'s judges catch what
 * callers complain about: a desk that takes over a call and greets the caller as a new call
 * (`regreet`), asks again for the account number (`reask`), answers twice (`twice`: it saves the
 * caller's details again and speaks again), or answers in English whatever the caller speaks
 * (`english`). Only the desks misbehave; the simulated caller and the judge do not.
 */
import { type ChatRequest, type Script, type ScriptedReply, introOf, isTakeover, systemText, textOf } from './scripted-llm.js';

export const FAULTS = ['regreet', 'reask', 'twice', 'english'] as const;
export type Fault = (typeof FAULTS)[number];

const transfers = (reply: ScriptedReply) => reply.toolCalls?.some((c) => c.name === 'transfer_to_human' || c.name.startsWith('pass_control_to_')) ?? false;

/** A desk taking the call over and staying on it (not passing the caller on). */
const staysAfterTakeover = (req: ChatRequest, reply: ScriptedReply) => isTakeover(req) && !transfers(reply) && !!reply.text;

export function withFault(script: Script, fault: Fault): Script {
  return async (req, rec) => {
    if (fault === 'english') {
      const english = (m: ChatRequest['messages'][number]) =>
        m.role === 'system' || m.role === 'developer'
          ? { ...m, content: textOf(m).replace(/The caller speaks \w+/g, 'The caller speaks English').replace(/Greet them in \w+\./g, '') }
          : m;
      return script({ ...req, messages: req.messages.map(english) }, rec);
    }
    const reply = await script(req, rec);
    if (!staysAfterTakeover(req, reply)) return reply;
    if (fault === 'regreet') {
      const company = /desk at (.+?)'s call center/.exec(systemText(req))?.[1] ?? 'us';
      return { ...reply, text: `Thank you for calling ${company}, this is ${introOf(req)}. How can I help you today?` };
    }
    if (fault === 'reask') return { ...reply, text: `${reply.text} Could you give me your account number, please?` };
    const offered = (req.tools ?? []).some((t) => t.function.name === 'update_caller_info');
    const last = textOf([...req.messages].reverse().find((m) => m.role === 'user'));
    return offered ? { ...reply, toolCalls: [...(reply.toolCalls ?? []), { name: 'update_caller_info', arguments: { need: last } }] } : reply;
  };
}
