/**
 * The department table: who each agent is, how it sounds, and how it opens. Data, not code paths —
 * adding a department means a state in `machines/router.ts` and a row here; tools, diagram and
 * tests follow from those two.
 */
import type { CallerInfo, Department } from '../machines/router.js';

export type AgentRole = Department | 'human';

export interface DepartmentSpec {
  id: AgentRole;
  /** Shown to callers and on the inspector page. */
  title: string;
  /** Default OpenAI TTS voice, so a transfer is audible (override with TTS_VOICE_<ID>). */
  voice: string;
  /** What this desk does; the common rules are appended by `instructionsFor`. */
  role: string;
}

export const DEPARTMENT_TABLE: Readonly<Record<AgentRole, DepartmentSpec>> = {
  triage: {
    id: 'triage',
    title: 'Triage',
    voice: 'alloy',
    role:
      'You are the front desk. Greet callers, learn who they are (name, account id if they have one) and ' +
      'what they need, then send them to the right specialist: Billing for invoices, charges, refunds and ' +
      'payment methods; Sales for plans, prices, upgrades and new purchases; Support for anything broken ' +
      'or not working. Do not try to solve specialist problems yourself.',
  },
  billing: {
    id: 'billing',
    title: 'Billing',
    voice: 'sage',
    role:
      'You are the billing specialist: invoices, charges, double charges, refunds, payment methods and ' +
      'due dates. Be precise about amounts and dates; never invent an amount you were not told.',
  },
  sales: {
    id: 'sales',
    title: 'Sales',
    voice: 'coral',
    role:
      'You are the sales specialist: plans, pricing, upgrades, add-ons and new purchases. Recommend what ' +
      'fits what the caller told you; no pressure.',
  },
  support: {
    id: 'support',
    title: 'Support',
    voice: 'verse',
    role:
      'You are the technical support specialist: outages, errors, devices, accounts that do not work. ' +
      'Troubleshoot one step at a time and check the result of each step with the caller.',
  },
  human: {
    id: 'human',
    title: 'Human hand-off',
    voice: 'alloy',
    role:
      'The caller is being connected to a person on our team. Tell them so in one sentence and ask them to ' +
      'stay on the line. Do not try to solve their problem yourself anymore.',
  },
};

export function describeCaller(caller: CallerInfo): string {
  const known: string[] = [];
  if (caller.name) known.push(`name: ${caller.name}`);
  if (caller.phoneNumber) known.push(`phone number: ${caller.phoneNumber}`);
  if (caller.accountId) known.push(`account id: ${caller.accountId}`);
  if (caller.need) known.push(`what they need: ${caller.need}`);
  return known.length ? known.join('; ') : 'nothing yet';
}

/** The system prompt of one department's agent. */
export function instructionsFor(role: AgentRole, opts: { company: string; caller: CallerInfo }): string {
  const spec = DEPARTMENT_TABLE[role];
  return [
    `You are the ${spec.title} desk at ${opts.company}'s call center, speaking with a caller on the phone.`,
    spec.role,
    'Speak in short, natural sentences: this is a voice call, so no lists, markdown or emoji.',
    'When the caller tells you their name, account id, phone number or what they need, save it with ' +
      'update_caller_info. Never ask again for something already known.',
    'When the caller needs another department, call the matching transfer tool with a short reason. ' +
      'Say at most one short line before it (for example "Let me get you to billing"), never goodbye. ' +
      'If a transfer is refused, tell the caller why in one sentence and keep helping.',
    'When the caller is done, say nothing more yourself and call end_call.',
    `What we know about the caller: ${describeCaller(opts.caller)}.`,
  ].join('\n');
}

/** The one-off instructions of the first reply an agent gives when it takes the line. */
export function openingFor(
  role: AgentRole,
  how: { kind: 'start' } | { kind: 'transfer'; from: AgentRole; reason: string } | { kind: 'returned'; reason: string },
): string {
  const spec = DEPARTMENT_TABLE[role];
  if (how.kind === 'start') {
    return 'The call has just connected. Greet the caller, say which company they reached, and ask how you can help.';
  }
  if (how.kind === 'returned') {
    return (
      `The transfer to a person did not go through (${how.reason}). Apologise in one sentence, say you are ` +
      'still here, and keep helping. Do not greet the caller again.'
    );
  }
  if (role === 'human') return DEPARTMENT_TABLE.human.role;
  return (
    `You have just taken over this call from ${DEPARTMENT_TABLE[how.from].title}; the reason given was: ` +
    `"${how.reason}". The conversation so far is above. Do not greet the caller as if the call had just ` +
    `started and do not ask for anything already known. In one or two sentences, say you are ${spec.title} ` +
    'and continue with what they need.'
  );
}
