/**
 * The call router: every rule of routing lives here, and nothing else does.
 *
 * Pure XState v5 — no LiveKit, no I/O. Anything may send the actor events (a tool the LLM called,
 * a keypad press, a supervisor, the caller hanging up); the machine decides, and the agent on the
 * line follows the machine.
 *
 *   triage ──TRANSFER──► billing | sales | support ──TRANSFER──► triage      (hub and spoke)
 *   any department ──TRANSFER {to:'human'}──► human      (only when a human number is configured)
 *   a transfer past the cap ──► human when configured, else refused (the caller stays)
 *   human: cold (SIP REFER: the provider takes the caller), or warm (HUMAN_TRANSFER_MODE=warm):
 *     dialling (caller on hold) ──PERSON_ANSWERED──► briefing ──PERSON_CONNECTED──► connected
 *     any step ──HUMAN_TRANSFER_FAILED (busy, no answer, declined, voicemail, failed move, timeout)──►
 *     the department the caller came from, which tells them why
 *   END_CALL | HANGUP from any live state ──► ended (final)
 *
 * A TRANSFER that no guard admits is refused *by the machine*: the catch-all transition records the
 * refusal with a reason a caller can be told (same department, no such route, cap reached, unknown
 * department), so tools, the keypad and a supervisor all get the same answer.
 */
import { and, assign, emit, setup } from 'xstate';

export const DEPARTMENTS = ['triage', 'billing', 'sales', 'support'] as const;
export type Department = (typeof DEPARTMENTS)[number];
export type Target = Department | 'human';
export type CallState = Department | 'human' | 'ended';
export const CALL_STATES: readonly CallState[] = [...DEPARTMENTS, 'human', 'ended'];

/** How a person is reached (`HUMAN_TRANSFER_MODE`): a cold SIP REFER, or warm (dialled and briefed first). */
export type HumanTransferMode = 'cold' | 'warm';
/** The steps of a transfer to a person: `cold`, or warm's `dialling` → `briefing` → `connected`. */
export type PersonStep = 'cold' | 'dialling' | 'briefing' | 'connected';
export const PERSON_STEPS: readonly PersonStep[] = ['cold', 'dialling', 'briefing', 'connected'];

/** A snapshot's state value (`'billing'`, or `{ human: 'dialling' }`) as the call's top-level state. */
export function callStateOf(value: unknown): CallState {
  return (typeof value === 'string' ? value : Object.keys(value as object)[0]) as CallState;
}
/** The step of a transfer to a person a state value is in (null outside `human`). */
export function personStepOf(value: unknown): PersonStep | null {
  return typeof value === 'object' && value !== null && 'human' in value ? ((value as { human: PersonStep }).human ?? null) : null;
}

/** Who asked for a transfer: the LLM through a tool, the caller's keypad, a supervisor, or the machine itself. */
export type TransferSource = 'agent' | 'keypad' | 'supervisor' | 'system';

/** Hub and spoke, as in the Vobiz example: triage reaches every specialist, each specialist returns to triage. */
export const ROUTES: Readonly<Record<Department, readonly Department[]>> = {
  triage: ['billing', 'sales', 'support'],
  billing: ['triage'],
  sales: ['triage'],
  support: ['triage'],
};

/** Default cap on transfers between departments in one call (`MAX_HANDOFFS`). */
export const DEFAULT_MAX_HANDOFFS = 6;

export interface CallerInfo {
  name?: string;
  phoneNumber?: string;
  accountId?: string;
  /** What the caller wants, in a sentence. */
  need?: string;
  /** The language the caller speaks: `en`, `hi`, `hinglish`, or another ISO 639-1 code (see src/language.ts). */
  language?: string;
  /** The number the caller dialled (SIP `sip.trunkPhoneNumber`). */
  dialedNumber?: string;
  /** SIP call ids: LiveKit's and the provider's (`sip.callIDFull`, Vobiz's CDR `bridge_uuid`). */
  sipCallId?: string;
  sipCallIdFull?: string;
}

export interface RouteEntry {
  from: CallState;
  to: Target;
  reason: string;
  /** Epoch milliseconds. */
  at: number;
  source: TransferSource;
  /** True when the cap turned a transfer request into an escalation to a person. */
  escalated?: boolean;
  /** Into `human`: how the person is reached. */
  mode?: HumanTransferMode;
}

export interface Refusal {
  from: CallState;
  to: string;
  /** Why the machine said no, in words an agent can pass on to the caller as they are. */
  reason: string;
  /** What the agent should do now: meant for the agent, never to be read out. */
  guidance: string;
  at: number;
  source: TransferSource;
}

export interface RouterContext {
  callId: string;
  caller: CallerInfo;
  /** Accepted transfers so far (to departments and to a person). */
  handoffCount: number;
  maxHandoffs: number;
  /** A human number is configured (`HUMAN_TRANSFER_TO`): transfer_to_human exists and the cap escalates. */
  humanAvailable: boolean;
  /** How a person is reached (fixed for the call). */
  humanTransferMode: HumanTransferMode;
  route: RouteEntry[];
  refusals: Refusal[];
  endReason: string | null;
}

export interface RouterInput {
  callId: string;
  maxHandoffs?: number;
  humanAvailable?: boolean;
  /** Default `cold`. */
  humanTransferMode?: HumanTransferMode;
  caller?: CallerInfo;
}

/**
 * Facts the machine announces (XState `emit`), in the order they happen: the call listens with
 * `actor.on(...)` and follows. `transferred` covers every accepted move between agents (a department,
 * a person, or back from a failed transfer to a person).
 */
export type RouterEmitted =
  | { type: 'transferred'; entry: RouteEntry; handoffCount: number }
  | { type: 'refused'; refusal: Refusal }
  | { type: 'callerUpdated'; caller: CallerInfo }
  /** A warm transfer's step: the person is being dialled (the caller on hold), briefed, or connected. */
  | { type: 'personStep'; step: PersonStep }
  | { type: 'ended'; reason: string };

export type TransferEvent = {
  type: 'TRANSFER';
  to: string;
  reason: string;
  source?: TransferSource;
  /**
   * Asked by an agent in the reply it gave on taking the line, before the caller said anything to it:
   * a chained transfer (Billing → Triage → Sales from one caller line). A chain may go on, but never
   * straight back to the department the caller just left (no ping-pong).
   */
  chained?: boolean;
};
export type RouterEvent =
  | TransferEvent
  | { type: 'CALLER_INFO'; info: Partial<CallerInfo> }
  | { type: 'END_CALL'; reason: string }
  | { type: 'HANGUP' }
  /** The telephony side could not reach the person (SIP error, no answer): back where the caller came from. */
  | { type: 'HUMAN_TRANSFER_FAILED'; reason: string }
  /** Warm: the person picked up and is being briefed (the caller still on hold). */
  | { type: 'PERSON_ANSWERED' }
  /** Warm: the person agreed and was joined to the caller. */
  | { type: 'PERSON_CONNECTED' };

export const isDepartment = (s: unknown): s is Department =>
  typeof s === 'string' && (DEPARTMENTS as readonly string[]).includes(s);

const capReached = (c: RouterContext) => c.handoffCount >= c.maxHandoffs;

/** The front desk only routes: a caller goes there to be sent on. */
export const FRONT_DESK: Department = 'triage';

/**
 * A hop to the front desk that would spend the call's last transfer: the front desk could send the
 * caller to no department, so the hop would strand them there (and a person, when one can be reached,
 * is reached as well from the desk the caller is at).
 */
const strandsCaller = (c: RouterContext, to: string) => to === FRONT_DESK && c.handoffCount + 1 >= c.maxHandoffs;

/** A chained transfer straight back to the department the caller has just left. */
const straightBack = (c: RouterContext, e: TransferEvent) => e.chained === true && e.to === c.route.at(-1)?.from;

const transfers = (n: number) => `${n} ${n === 1 ? 'transfer' : 'transfers'}`;

/**
 * Why the machine refuses a transfer: a reason the agent can pass on to the caller as it stands, and
 * guidance meant for the agent alone. Pure; used by the catch-all transition.
 */
export function refusalOf(
  from: CallState,
  context: RouterContext,
  to: string,
  chained = false,
): { reason: string; guidance: string } {
  const allowed = isDepartment(from) ? ROUTES[from] : [];
  const stay = 'Keep helping the caller here.';
  if (to === from) return { reason: `The caller is already with ${from}.`, guidance: stay };
  if (from === 'human') {
    return {
      reason: 'The caller is being connected to a person; no other transfer is possible now.',
      guidance: 'Ask the caller to stay on the line.',
    };
  }
  if (to === 'human') return { reason: 'No human agent is available on this line.', guidance: stay };
  if (!isDepartment(to)) {
    return { reason: `There is no "${to}" department.`, guidance: `Available from ${from}: ${allowed.join(', ') || 'none'}.` };
  }
  if (!allowed.includes(to)) {
    return { reason: `${from} cannot transfer directly to ${to}; only to ${allowed.join(', ')}.`, guidance: stay };
  }
  if (chained && to === context.route.at(-1)?.from && !capReached(context)) {
    return {
      reason: `The caller has just come from ${to}.`,
      guidance: `Do not send them straight back to ${to}; help them here or ask what they need.`,
    };
  }
  if (!capReached(context) && strandsCaller(context, to)) {
    return {
      reason: 'This call can be transferred only once more, and going back to the front desk would use that up before you reach another department.',
      guidance:
        'Help the caller here with what you can; if they need another department, say it cannot be reached on this call' +
        (context.humanAvailable ? ' and offer them a person.' : '.'),
    };
  }
  const personTried = !context.humanAvailable && context.route.some((r) => r.from === 'human');
  return {
    reason:
      `This call has reached its limit of ${transfers(context.maxHandoffs)}` +
      (personTried ? ' and a person could not be reached.' : '.'),
    guidance: 'Help the caller here, or end the call if they are done.',
  };
}

/** The caller-facing reason alone (see `refusalOf`). */
export const refusalReason = (from: CallState, context: RouterContext, to: string) => refusalOf(from, context, to).reason;

const NOW = () => Date.now();

/** The fields of a CALLER_INFO event that carry a value (empty strings and non-strings say nothing). */
function callerUpdates(info: Partial<CallerInfo> | undefined): Partial<CallerInfo> {
  return Object.fromEntries(Object.entries(info ?? {}).filter(([, v]) => typeof v === 'string' && v.trim() !== ''));
}

export const routerSetup = setup({
  types: {
    context: {} as RouterContext,
    events: {} as RouterEvent,
    input: {} as RouterInput,
    emitted: {} as RouterEmitted,
    meta: {} as { department?: Department },
  },
  guards: {
    /** The request names `to`, the call is under its handoff cap, and the hop would not strand the caller. */
    canTransferTo: ({ context, event }, params: { to: Department }) =>
      event.type === 'TRANSFER' &&
      event.to === params.to &&
      !capReached(context) &&
      !straightBack(context, event) &&
      !strandsCaller(context, event.to),
    /** Cap reached on a request that would otherwise be allowed, and a person can take over. */
    mustEscalate: ({ context, event }, params: { allowed: readonly Department[] }) =>
      event.type === 'TRANSFER' &&
      capReached(context) &&
      context.humanAvailable &&
      (params.allowed as readonly string[]).includes(event.to),
    /** Explicit request for a person, and a human number is configured. */
    canReachHuman: ({ context, event }) =>
      event.type === 'TRANSFER' && event.to === 'human' && context.humanAvailable,
    /** The caller details in the event add or change something we knew. */
    changesCaller: ({ context, event }) =>
      event.type === 'CALLER_INFO' &&
      Object.entries(callerUpdates(event.info)).some(([k, v]) => context.caller[k as keyof CallerInfo] !== v),
    /** A person is reached warm: dialled and briefed before the caller is joined. */
    warm: ({ context }) => context.humanTransferMode === 'warm',
    cold: ({ context }) => context.humanTransferMode !== 'warm',
    /** The last entry of the route leads into `human` from `params.department`. */
    cameFrom: ({ context }, params: { department: Department }) =>
      context.route.at(-1)?.from === params.department,
  },
  actions: {
    recordTransfer: assign(({ context, event }, params: { from: CallState; to: Target }) => {
      const e = event as TransferEvent;
      return {
        handoffCount: context.handoffCount + 1,
        route: [
          ...context.route,
          {
            from: params.from,
            to: params.to,
            reason: e.reason,
            at: NOW(),
            source: e.source ?? 'agent',
            ...(params.to === 'human' ? { mode: context.humanTransferMode } : {}),
          },
        ],
      };
    }),
    recordEscalation: assign(({ context, event }, params: { from: CallState }) => {
      const e = event as TransferEvent;
      return {
        handoffCount: context.handoffCount + 1,
        route: [
          ...context.route,
          {
            from: params.from,
            to: 'human' as const,
            reason: `Transfer limit of ${context.maxHandoffs} reached (asked for ${e.to}: ${e.reason})`,
            at: NOW(),
            source: 'system' as const,
            escalated: true,
            mode: context.humanTransferMode,
          },
        ],
      };
    }),
    /** A person could not be reached: no second try in this call (it would loop the caller). */
    recordReturn: assign(({ context, event }, params: { to: Department }) => ({
      humanAvailable: false,
      route: [
        ...context.route,
        {
          from: 'human' as const,
          to: params.to,
          reason: event.type === 'HUMAN_TRANSFER_FAILED' ? event.reason : 'transfer to a person failed',
          at: NOW(),
          source: 'system' as const,
        },
      ],
    })),
    recordRefusal: assign(({ context, event }, params: { from: CallState }) => {
      const e = event as TransferEvent;
      const why = refusalOf(params.from, context, String(e.to), e.chained);
      const refusal = { from: params.from, to: String(e.to), ...why };
      return { refusals: [...context.refusals, { ...refusal, at: NOW(), source: e.source ?? 'agent' }] };
    }),

    mergeCallerInfo: assign(({ context, event }) =>
      event.type === 'CALLER_INFO' ? { caller: { ...context.caller, ...callerUpdates(event.info) } } : {},
    ),
    recordEnd: assign((_, params: { reason: string }) => ({ endReason: params.reason })),
    recordEndRequested: assign(({ event }) => ({
      endReason: event.type === 'END_CALL' ? event.reason || 'completed' : 'completed',
    })),
    // Announcements: each runs after the assign of its transition, so it reads the updated context.
    announceTransfer: emit(({ context }) => ({
      type: 'transferred' as const,
      entry: context.route.at(-1)!,
      handoffCount: context.handoffCount,
    })),
    announceRefusal: emit(({ context }) => ({ type: 'refused' as const, refusal: context.refusals.at(-1)! })),
    announceCaller: emit(({ context }) => ({ type: 'callerUpdated' as const, caller: context.caller })),
    announceEnd: emit(({ context }) => ({ type: 'ended' as const, reason: context.endReason ?? 'completed' })),
    announceStep: emit((_, params: { step: PersonStep }) => ({ type: 'personStep' as const, step: params.step })),
  },
});

function departmentState(from: Department, description: string) {
  const allowed = ROUTES[from];
  return {
    description,
    tags: ['department'],
    meta: { department: from },
    on: {
      TRANSFER: [
        ...allowed.map((to) => ({
          guard: { type: 'canTransferTo' as const, params: { to } },
          target: to,
          actions: [{ type: 'recordTransfer' as const, params: { from, to } }, 'announceTransfer' as const],
        })),
        // To a person: warm (dialled and briefed first) or cold, as the call is configured.
        ...(['warm', 'cold'] as const).flatMap((mode) => {
          const target = mode === 'warm' ? ('human.dialling' as const) : ('human.cold' as const);
          return [
            {
              guard: and([{ type: 'mustEscalate' as const, params: { allowed } }, mode]),
              target,
              actions: [{ type: 'recordEscalation' as const, params: { from } }, 'announceTransfer' as const],
            },
            {
              guard: and(['canReachHuman' as const, mode]),
              target,
              actions: [{ type: 'recordTransfer' as const, params: { from, to: 'human' as const } }, 'announceTransfer' as const],
            },
          ];
        }),
        // Nothing above admitted it: refused, the caller stays where they are.
        { actions: [{ type: 'recordRefusal' as const, params: { from } }, 'announceRefusal' as const] },
      ],
      END_CALL: { target: 'ended' as const, actions: ['recordEndRequested' as const, 'announceEnd' as const] },
      HANGUP: {
        target: 'ended' as const,
        actions: [{ type: 'recordEnd' as const, params: { reason: 'hangup' } }, 'announceEnd' as const],
      },
    },
  };
}

export const routerMachine = routerSetup.createMachine({
  id: 'router',
  initial: 'triage',
  context: ({ input }) => ({
    callId: input.callId,
    caller: { ...(input.caller ?? {}) },
    handoffCount: 0,
    maxHandoffs: input.maxHandoffs ?? DEFAULT_MAX_HANDOFFS,
    humanAvailable: input.humanAvailable ?? false,
    humanTransferMode: input.humanTransferMode ?? 'cold',
    route: [],
    refusals: [],
    endReason: null,
  }),
  on: {
    CALLER_INFO: { guard: 'changesCaller', actions: ['mergeCallerInfo', 'announceCaller'] },
  },
  states: {
    triage: departmentState('triage', 'Greets the caller, learns who they are and what they need, routes them.'),
    billing: departmentState('billing', 'Invoices, charges, refunds, payment methods.'),
    sales: departmentState('sales', 'Plans, pricing, upgrades, new purchases.'),
    support: departmentState('support', 'Technical problems and troubleshooting.'),
    human: {
      description: 'Escalated: the call is being handed to a person.',
      initial: 'cold',
      states: {
        cold: { description: 'A SIP REFER: the provider takes the caller to the person; the call ends when it does.' },
        dialling: {
          description: 'Warm: the caller hears hold music (their audio not sent to any agent); the person is being dialled.',
          tags: ['hold'],
          entry: { type: 'announceStep', params: { step: 'dialling' } },
          on: { PERSON_ANSWERED: 'briefing' },
        },
        briefing: {
          description: 'Warm: the person picked up and an agent briefs them; the caller is still on hold.',
          tags: ['hold'],
          entry: { type: 'announceStep', params: { step: 'briefing' } },
          on: { PERSON_CONNECTED: 'connected' },
        },
        connected: {
          description: 'Warm: the person agreed and was joined to the caller; the agent leaves the call.',
          entry: { type: 'announceStep', params: { step: 'connected' } },
          // Joined: nothing can fail back to a desk any more.
          on: { HUMAN_TRANSFER_FAILED: {} },
        },
      },
      on: {
        TRANSFER: { actions: [{ type: 'recordRefusal', params: { from: 'human' } }, 'announceRefusal'] },
        // The person could not be reached: the caller goes back to the department they came from.
        HUMAN_TRANSFER_FAILED: DEPARTMENTS.map((department) => ({
          guard: { type: 'cameFrom' as const, params: { department } },
          target: department,
          actions: [{ type: 'recordReturn' as const, params: { to: department } }, 'announceTransfer' as const],
        })),
        END_CALL: { target: 'ended', actions: ['recordEndRequested', 'announceEnd'] },
        HANGUP: { target: 'ended', actions: [{ type: 'recordEnd', params: { reason: 'hangup' } }, 'announceEnd'] },
      },
    },
    ended: { type: 'final', description: 'The call is over.' },
  },
});
