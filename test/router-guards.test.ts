/**
 * The routing machine's finer rules, as an agent or the inspector sees them (pure XState, no I/O):
 * a chained transfer never sends the caller straight back where they just came from; what a refusal
 * tells the caller (and, separately, the agent) in each case; caller details that change nothing are
 * not announced; what the machine announces, in order; and what the inspector's diagram shows of it.
 */
import { describe, expect, it } from 'vitest';
import { type SnapshotFrom, createActor, initialTransition, transition } from 'xstate';
import { machineGraph } from '../machines/derive.js';
import {
  CALL_STATES,
  type RouterContext,
  type RouterEmitted,
  type RouterEvent,
  type RouterInput,
  type TransferEvent,
  callStateOf,
  refusalOf,
  refusalReason,
  routerMachine,
} from '../machines/router.js';

type Snap = SnapshotFrom<typeof routerMachine>;
const start = (input: Partial<RouterInput> = {}): Snap => initialTransition(routerMachine, { callId: 'c', ...input })[0];
const send = (snap: Snap, ...events: RouterEvent[]): Snap => {
  for (const e of events) snap = transition(routerMachine, snap, e)[0];
  return snap;
};
const transfer = (to: string, over: Partial<TransferEvent> = {}): TransferEvent => ({ type: 'TRANSFER', to, reason: `needs ${to}`, ...over });

/** An actor with every announcement collected, in order. */
function actor(input: Partial<RouterInput> = {}) {
  const a = createActor(routerMachine, { input: { callId: 'c', ...input } });
  const heard: RouterEmitted[] = [];
  for (const t of ['transferred', 'refused', 'callerUpdated', 'ended'] as const) a.on(t, (e) => heard.push(e as RouterEmitted));
  a.start();
  return { a, heard };
}

describe('chained transfers: no ping-pong', () => {
  it('a chained transfer straight back to the desk the caller just left is refused, with the reason and guidance', () => {
    let s = send(start(), transfer('billing'));
    s = send(s, transfer('triage', { chained: true }));
    expect(s.value).toBe('billing');
    expect(s.context.refusals.at(-1)).toMatchObject({
      from: 'billing',
      to: 'triage',
      reason: 'The caller has just come from triage.',
      guidance: 'Do not send them straight back to triage; help them here or ask what they need.',
    });
    expect(s.context.handoffCount).toBe(1);
  });

  it('the same transfer asked after the caller spoke (not chained) goes through; so does a chain onward', () => {
    const back = send(start(), transfer('billing'), transfer('triage', { chained: false }));
    expect(back.value).toBe('triage');
    const plain = send(start(), transfer('billing'), transfer('triage'));
    expect(plain.value).toBe('triage');
    // A chain onward (triage → billing, then billing's entry reply routes to triage is back; triage → sales is onward).
    const onward = send(start(), transfer('billing'), transfer('triage'), transfer('sales', { chained: true }));
    expect(onward.value).toBe('sales');
  });

  it('at the cap, a chained request straight back is refused for the limit (or escalated), not as ping-pong', () => {
    const capped = send(start({ maxHandoffs: 1 }), transfer('billing'), transfer('triage', { chained: true }));
    expect(capped.value).toBe('billing');
    expect(capped.context.refusals.at(-1)!.reason).toBe('This call has reached its limit of 1 transfer.');
    const escalated = send(start({ maxHandoffs: 1, humanAvailable: true }), transfer('billing'), transfer('triage', { chained: true }));
    expect(callStateOf(escalated.value)).toBe('human');
  });
});

describe('what a refusal says', () => {
  const ctx = (over: Partial<RouterContext> = {}): RouterContext => ({ ...start().context, ...over });

  it('each case: reason for the caller, guidance for the agent', () => {
    expect(refusalOf('billing', ctx(), 'billing')).toEqual({ reason: 'The caller is already with billing.', guidance: 'Keep helping the caller here.' });
    expect(refusalOf('human', ctx(), 'sales')).toEqual({
      reason: 'The caller is being connected to a person; no other transfer is possible now.',
      guidance: 'Ask the caller to stay on the line.',
    });
    expect(refusalOf('triage', ctx(), 'human')).toEqual({ reason: 'No human agent is available on this line.', guidance: 'Keep helping the caller here.' });
    expect(refusalOf('triage', ctx(), 'legal')).toEqual({ reason: 'There is no "legal" department.', guidance: 'Available from triage: billing, sales, support.' });
    expect(refusalOf('ended', ctx(), 'legal')).toEqual({ reason: 'There is no "legal" department.', guidance: 'Available from ended: none.' });
    expect(refusalOf('billing', ctx(), 'sales')).toEqual({
      reason: 'billing cannot transfer directly to sales; only to triage.',
      guidance: 'Keep helping the caller here.',
    });
    expect(refusalOf('triage', ctx({ handoffCount: 3, maxHandoffs: 3 }), 'sales')).toEqual({
      reason: 'This call has reached its limit of 3 transfers.',
      guidance: 'Help the caller here, or end the call if they are done.',
    });
    expect(refusalOf('triage', ctx({ handoffCount: 1, maxHandoffs: 1 }), 'sales').reason).toBe('This call has reached its limit of 1 transfer.');
    expect(refusalReason('billing', ctx(), 'sales')).toBe(refusalOf('billing', ctx(), 'sales').reason);
  });

  it('the chained rule only applies when asked chained, to the desk just left, under the cap', () => {
    const route = [{ from: 'triage' as const, to: 'billing' as const, reason: 'r', at: 1, source: 'agent' as const }];
    const c = ctx({ route, handoffCount: 1, maxHandoffs: 6 });
    expect(refusalOf('billing', c, 'triage', true).reason).toBe('The caller has just come from triage.');
    // Not chained, or chained elsewhere: the limit reason (the only other reason left at this point).
    expect(refusalOf('billing', c, 'triage').reason).toMatch(/limit/);
    expect(refusalOf('billing', c, 'triage', false).reason).toMatch(/limit/);
    const fromSales = ctx({ route: [{ ...route[0]!, from: 'sales' }], handoffCount: 1 });
    expect(refusalOf('billing', fromSales, 'triage', true).reason).toMatch(/limit/);
    expect(refusalOf('billing', ctx({ route, handoffCount: 6, maxHandoffs: 6 }), 'triage', true).reason).toMatch(/limit/);
  });

  it('at the cap after a person could not be reached, the caller is told so', () => {
    let s = send(start({ humanAvailable: true, maxHandoffs: 2 }), transfer('human'));
    s = send(s, { type: 'HUMAN_TRANSFER_FAILED', reason: 'busy' });
    expect(s.value).toBe('triage');
    expect(s.context.route.at(-1)).toMatchObject({ from: 'human', to: 'triage', reason: 'busy', source: 'system' });
    s = send(s, transfer('billing'), transfer('triage'));
    expect(s.context.refusals.at(-1)!.reason).toBe('This call has reached its limit of 2 transfers and a person could not be reached.');
    // Without the failed person: the plain limit.
    const plain = send(start({ maxHandoffs: 1 }), transfer('billing'), transfer('triage'));
    expect(plain.context.refusals.at(-1)!.reason).toBe('This call has reached its limit of 1 transfer.');
    // A person still available (the number is configured, no failure): the cap escalates instead.
    expect(callStateOf(send(start({ humanAvailable: true, maxHandoffs: 1 }), transfer('billing'), transfer('triage')).value)).toBe('human');
  });
});

describe('what the machine announces', () => {
  it('caller details: announced only when they add or change something; blanks and non-strings say nothing', () => {
    const { a, heard } = actor({ caller: { name: 'Maya' } });
    a.send({ type: 'CALLER_INFO', info: { name: 'Maya' } });
    a.send({ type: 'CALLER_INFO', info: { name: '   ', accountId: '' } });
    a.send({ type: 'CALLER_INFO', info: { phoneNumber: 42 as unknown as string } });
    a.send({ type: 'CALLER_INFO', info: {} });
    expect(heard).toEqual([]);
    a.send({ type: 'CALLER_INFO', info: { name: 'Maya', accountId: 'AC-1', need: '' } });
    expect(heard).toEqual([{ type: 'callerUpdated', caller: { name: 'Maya', accountId: 'AC-1' } }]);
    a.send({ type: 'CALLER_INFO', info: { name: 'Ravi' } });
    expect(heard.at(-1)).toEqual({ type: 'callerUpdated', caller: { name: 'Ravi', accountId: 'AC-1' } });
    expect(a.getSnapshot().context.caller).toEqual({ name: 'Ravi', accountId: 'AC-1' });
    a.stop();
  });

  it('each refusal announces itself (the latest one), each transfer its route entry, the end its reason', () => {
    const { a, heard } = actor();
    a.send(transfer('legal'));
    a.send(transfer('triage'));
    a.send(transfer('human'));
    expect(heard.map((e) => (e.type === 'refused' ? e.refusal.to : e.type))).toEqual(['legal', 'triage', 'human']);
    a.send(transfer('support', { source: 'keypad' }));
    expect(heard.at(-1)).toMatchObject({ type: 'transferred', handoffCount: 1, entry: { from: 'triage', to: 'support', source: 'keypad' } });
    a.send({ type: 'END_CALL', reason: '' });
    expect(heard.at(-1)).toEqual({ type: 'ended', reason: 'completed' });
    expect(a.getSnapshot().context.endReason).toBe('completed');
  });

  it('a failed person transfer brings the caller back with its reason; a hang-up ends with reason hangup', () => {
    const { a, heard } = actor({ humanAvailable: true });
    a.send(transfer('human'));
    a.send({ type: 'HUMAN_TRANSFER_FAILED', reason: 'SIP 486 Busy Here' });
    expect(heard.at(-1)).toMatchObject({ type: 'transferred', entry: { from: 'human', to: 'triage', reason: 'SIP 486 Busy Here', source: 'system' } });
    a.send({ type: 'HANGUP' });
    expect(heard.at(-1)).toEqual({ type: 'ended', reason: 'hangup' });
  });
});

describe('the machine as the inspector draws it', () => {
  it('its id, first state, states and their descriptions', () => {
    expect(routerMachine.id).toBe('router');
    expect(start().value).toBe('triage');
    expect(CALL_STATES).toEqual(['triage', 'billing', 'sales', 'support', 'human', 'ended']);
    const g = machineGraph();
    expect(Object.fromEntries(g.states.map((s) => [s.id, s.description]))).toEqual({
      triage: 'Greets the caller, learns who they are and what they need, routes them.',
      billing: 'Invoices, charges, refunds, payment methods.',
      sales: 'Plans, pricing, upgrades, new purchases.',
      support: 'Technical problems and troubleshooting.',
      human: 'Escalated: the call is being handed to a person.',
      ended: 'The call is over.',
    });
  });

  it('department states are tagged and name their department; the others are not', () => {
    for (const d of ['triage', 'billing', 'sales', 'support'] as const) {
      const s = d === 'triage' ? start() : send(start(), transfer(d));
      expect(s.value).toBe(d);
      expect(s.hasTag('department')).toBe(true);
      expect(Object.values(s.getMeta())).toEqual([{ department: d }]);
    }
    const human = send(start({ humanAvailable: true }), transfer('human'));
    expect(human.hasTag('department')).toBe(false);
    expect(Object.values(human.getMeta())).toEqual([]);
  });
});
