/**
 * The routing machine as a test model (`xstate/graph`): which events each state is driven with, and
 * what makes two states the same. Shared by the model-based suite and the path-generation benchmark.
 */
import { createTestModel } from 'xstate/graph';
import { transferTargets } from '../../machines/derive.js';
import { type CallState, type RouterEvent, routerMachine } from '../../machines/router.js';

export type Snap = ReturnType<typeof routerMachine.getInitialSnapshot>;

export function eventsFor(s: Snap): RouterEvent[] {
  if (s.status !== 'active') return [];
  const state = s.value as CallState;
  if (state === 'human') {
    return [{ type: 'HUMAN_TRANSFER_FAILED', reason: 'SIP 486 busy' }, { type: 'END_CALL', reason: 'done' }, { type: 'HANGUP' }];
  }
  const targets = transferTargets(state).filter((t) => t !== 'human' || s.context.humanAvailable);
  return [
    ...targets.map((to) => ({ type: 'TRANSFER' as const, to, reason: `caller needs ${to}` })),
    { type: 'END_CALL', reason: 'caller is done' },
    { type: 'HANGUP' },
  ];
}

export function modelFor(maxHandoffs: number, humanAvailable: boolean) {
  return createTestModel(routerMachine, {
    input: { callId: 'model', maxHandoffs, humanAvailable },
    events: eventsFor,
    // Routing identity only (timestamps and reasons would make every vertex unique) — but all of
    // it: whether a person can still be reached, and where an escalated caller would return to.
    serializeState: (s) =>
      JSON.stringify({
        v: s.value,
        n: s.context.handoffCount,
        h: s.context.humanAvailable,
        back: s.value === 'human' ? s.context.route.at(-1)?.from : undefined,
      }),
    stopWhen: (s) => s.status !== 'active',
  });
}
