/**
 * What a person taking a warm transfer is told, built from the call: who the caller is, the route with
 * its reasons, and what the caller needs — in the caller's language when it is known.
 */
import type { RouterContext } from '../../machines/router.js';
import { DEPARTMENT_TABLE } from '../departments.js';
import { languageName } from '../language.js';

const deskName = (d: string) => (d in DEPARTMENT_TABLE ? DEPARTMENT_TABLE[d as keyof typeof DEPARTMENT_TABLE].title : d);

/** The caller's details in one line ("Maya, +919876543210, account 4411"). */
function whoIsCalling(c: RouterContext['caller']): string {
  const parts = [c.name, c.phoneNumber, c.accountId && `account ${c.accountId}`].filter(Boolean);
  return parts.length ? parts.join(', ') : 'a caller who has not given their name';
}

/** The route as a person would say it: "Triage → Billing (charged twice in March) → you (Billing could not refund)". */
function routeSoFar(route: RouterContext['route']): string {
  return route.map((r) => `${deskName(r.from)} → ${r.to === 'human' ? 'you' : deskName(r.to)} (${r.reason})`).join('; ') || 'straight to you';
}

export interface Briefing {
  /** The briefing agent's instructions (LiveKit's task, in the consultation room). */
  briefing: string;
  /** Said to the person as they pick up. */
  greeting: string;
  /** Said aloud to the caller and the person together when there is no private room (the fallback). */
  introduction: string;
}

export function briefingFor(context: Pick<RouterContext, 'caller' | 'route'>, company: string): Briefing {
  const { caller, route } = context;
  const who = whoIsCalling(caller);
  const need = caller.need ?? route.at(-1)?.reason ?? 'help a desk could not give';
  const lang = caller.language && caller.language !== 'en' ? languageName(caller.language) : null;
  return {
    briefing:
      `You are ${company}'s call-center agent briefing a colleague who is about to take a call. The caller is on hold.\n` +
      `Caller: ${who}. They need: ${need}. Route so far: ${routeSoFar(route)}.\n` +
      (lang ? `The caller speaks ${lang}; tell your colleague so.\n` : '') +
      'Give the brief in two or three sentences, then ask whether they will take the call. If they agree, call ' +
      'connect_to_caller; if they decline, call decline_transfer with their reason; if you reach voicemail, call voicemail_detected.',
    greeting: `Hello, this is ${company}'s call-center agent with a caller for you: ${who}.`,
    introduction: `I have a colleague on the line now. ${who}, about: ${need}. I'll leave you two to it.`,
  };
}
