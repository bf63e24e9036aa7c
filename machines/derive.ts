/**
 * What other parts read off the machine instead of repeating it: the transfer targets each state
 * offers (→ the agents' tools), the drawing (→ docs/routing.md, inspector) and a supervisor's possible moves on a
 * live call (→ the inspector's buttons).
 */
import { type AnyStateMachine, transition } from 'xstate';
import {
  type CallState,
  DEPARTMENTS,
  ROUTES,
  type Target,
  type TransferSource,
  isDepartment,
  callStateOf,
  routerMachine,
} from './router.js';

interface GuardRef {
  type?: string;
}

/**
 * The targets a TRANSFER may name from `state`: the department routes (`ROUTES`, which the machine's
 * transitions are built from) and, from any department, a person — `canReachHuman` admits it only
 * when a human number is configured, so the tool exists only then (`humanAvailable`). Cap escalation
 * is not a request a caller makes, so it gives no tool.
 */
export function transferTargets(state: CallState, opts: { humanAvailable?: boolean } = {}): Target[] {
  if (!isDepartment(state)) return [];
  return [...ROUTES[state], ...(opts.humanAvailable === false ? [] : (['human'] as const))];
}

/**
 * The transfers a desk is offered now (→ its tools): each of `transferTargets` run through the machine's
 * pure `transition` from the call's snapshot, kept when the machine would take the caller there itself —
 * not refused, not turned into an escalation by the cap. A desk is never offered a transfer the machine
 * would refuse; at the cap only a person remains, when one can be reached.
 */
export function openTransfers(snap: RouterSnapshot): Target[] {
  const before = snap.context.handoffCount;
  return transferTargets(callStateOf(snap.value), { humanAvailable: snap.context.humanAvailable }).filter((to) => {
    const [next] = transition(routerMachine, snap, { type: 'TRANSFER', to, reason: 'offered', source: 'agent' });
    return next.context.handoffCount > before && callStateOf(next.value) === to;
  });
}

/** A supervisor's move on a live call, as the machine would answer it now. */
export interface SupervisorMove {
  to: Target;
  /** The machine would accept it. */
  allowed: boolean;
  /** Accepted, but the cap sends the caller to a person instead. */
  escalates?: boolean;
  /** The machine's refusal, as it would say it (when not allowed). */
  reason?: string;
}

type RouterSnapshot = ReturnType<typeof routerMachine.resolveState>;

/** What a call publishes that the machine's state can be rebuilt from (the inspector's `CallView`). */
export interface PublishedCall {
  state: string;
  handoffCount: number;
  maxHandoffs: number;
  humanAvailable: boolean;
  /** Each department visited, in order; each after the first came by the transfer described. */
  timeline: readonly { state: string; reason?: string; source?: string }[];
}

/**
 * The machine's state of a call, rebuilt by the machine itself: its route replayed through XState's pure
 * `transition` (each transfer, each return from a person), so context the call never publishes comes
 * out as the machine would have it (e.g. no second attempt at a person after one failed). A route that
 * does not replay to where the call is (cut short) falls back to the call's own state and count.
 */
export function machineSnapshotOf(call: PublishedCall): RouterSnapshot | null {
  const start = call.timeline[0]?.state ?? 'triage';
  if (!isDepartment(call.state) && call.state !== 'human') return null;
  let snap = routerMachine.resolveState({
    value: isDepartment(start) ? start : 'triage',
    context: {
      callId: 'replay',
      caller: {},
      handoffCount: 0,
      maxHandoffs: call.maxHandoffs,
      humanAvailable: call.humanAvailable,
      humanTransferMode: 'cold',
      route: [],
      refusals: [],
      endReason: null,
    },
  });
  for (const leg of call.timeline.slice(1)) {
    const reason = leg.reason ?? '';
    const source = (['agent', 'keypad', 'supervisor', 'system'].includes(leg.source ?? '') ? leg.source : 'agent') as TransferSource;
    [snap] = transition(
      routerMachine,
      snap,
      callStateOf(snap.value) === 'human' ? { type: 'HUMAN_TRANSFER_FAILED', reason } : { type: 'TRANSFER', to: leg.state, reason, source },
    );
  }
  if (callStateOf(snap.value) !== call.state || snap.context.handoffCount !== call.handoffCount) {
    snap = routerMachine.resolveState({ value: call.state, context: { ...snap.context, handoffCount: call.handoffCount } });
  }
  return snap;
}

/**
 * Every supervisor transfer (to each department and to a person) from where a live call is, answered by
 * the machine: each TRANSFER run through XState's pure `transition` from the call's rebuilt state
 * (`machineSnapshotOf`) — the guards decide, no rule is repeated here. A refused move carries the
 * machine's own reason (`refusalOf`), the one the call would give if asked.
 */
export function supervisorMoves(call: PublishedCall): SupervisorMove[] {
  const snap = machineSnapshotOf(call);
  if (!snap) return [];
  const before = snap.context.handoffCount;
  return [...DEPARTMENTS, 'human' as const].map((to) => {
    const [next] = transition(routerMachine, snap, { type: 'TRANSFER', to, reason: 'supervisor', source: 'supervisor' });
    if (next.context.handoffCount > before) {
      return { to, allowed: true, ...(callStateOf(next.value) === 'human' && to !== 'human' ? { escalates: true } : {}) };
    }
    return { to, allowed: false, reason: next.context.refusals.at(-1)?.reason ?? 'The machine would not accept it.' };
  });
}

/** The statechart as plain data: states and labelled edges (one per source/target pair). */
export interface MachineGraph {
  id: string;
  initial: string;
  /** Top-level states; a compound one (`human`) lists its own steps and the edges between them. */
  states: { id: string; description?: string; final: boolean; steps?: MachineGraph; ignores?: string[] }[];
  /** `target` is a top-level state; `step`, when the edge enters one of its steps directly (`dialling`). */
  edges: { source: string; target: string; step?: string; labels: string[] }[];
}

type Node = AnyStateMachine['root'];

/** A guard as a diagram label: `canReachHuman`, or `canReachHuman & warm` for XState's `and(...)`. */
function guardLabel(guard: unknown): string | undefined {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function' && Array.isArray((guard as { guards?: unknown[] }).guards)) {
    return (guard as unknown as { guards: unknown[] }).guards.map(guardLabel).join(' & ');
  }
  return (guard as GuardRef | undefined)?.type;
}

/**
 * The states under `parent` and the edges out of each. `bySteps`: an edge into a deeper state names it
 * as `step` (the Mermaid diagram draws it there); otherwise edges into one state are one edge, and the
 * transfer mode's guards (`& warm`, `& cold`) are left out of the labels (the inspector's drawing).
 */
function graphOf(id: string, parent: Node, bySteps: boolean): MachineGraph {
  const graph: MachineGraph = { id, initial: parent.initial?.target[0]?.key ?? '', states: [], edges: [] };
  for (const node of Object.values(parent.states)) {
    const steps = Object.keys(node.states).length ? graphOf(node.key, node, bySteps) : undefined;
    // An event a state takes and does nothing with: it overrides what its parent would do (`connected`
    // ignores a late HUMAN_TRANSFER_FAILED), which the drawing must say.
    const ignores = [...node.transitions].filter(([, ts]) => ts.some((t) => !t.target && !t.actions.length && !t.guard)).map(([e]) => e);
    graph.states.push({
      id: node.key,
      description: node.description,
      final: node.type === 'final',
      ...(steps ? { steps } : {}),
      ...(ignores.length ? { ignores } : {}),
    });
    const edges = new Map<string, { target: string; step?: string; labels: string[] }>();
    for (const [eventType, transitions] of node.transitions) {
      for (const t of transitions) {
        let target = t.target?.[0];
        if (!target || target === node) continue;
        const step = bySteps && target.parent !== parent ? target.key : undefined;
        while (target.parent && target.parent !== parent) target = target.parent;
        const gtype = bySteps ? guardLabel(t.guard) : guardLabel(t.guard)?.replace(/ & (warm|cold)$/, '');
        const label = gtype ? `${eventType} [${gtype}]` : eventType;
        const key = `${target.key}.${step ?? ''}`;
        const edge = edges.get(key) ?? { target: target.key, ...(step ? { step } : {}), labels: [] };
        if (!edge.labels.includes(label)) edge.labels.push(label);
        edges.set(key, edge);
      }
    }
    for (const edge of edges.values()) graph.edges.push({ source: node.key, ...edge });
  }
  return graph;
}

export function machineGraph(machine: AnyStateMachine = routerMachine, bySteps = false): MachineGraph {
  return graphOf(machine.id, machine.root, bySteps);
}

/** The statechart as Mermaid `stateDiagram-v2`, generated from the machine definition (a compound state as a block). */
export function toMermaid(machine: AnyStateMachine = routerMachine): string {
  const g = machineGraph(machine, true);
  const lines = ['stateDiagram-v2', `    [*] --> ${g.initial}`];
  for (const s of g.states) {
    // ` / ` would read as "event / action" in a state diagram: the labels of one edge are alternatives.
    for (const e of g.edges.filter((e) => e.source === s.id)) lines.push(`    ${e.source} --> ${e.step ?? e.target}: ${e.labels.join(' or ')}`);
    if (s.final) lines.push(`    ${s.id} --> [*]`);
    if (s.steps) {
      lines.push(`    state ${s.id} {`, `        [*] --> ${s.steps.initial}`);
      for (const e of s.steps.edges) lines.push(`        ${e.source} --> ${e.step ?? e.target}: ${e.labels.join(' or ')}`);
      for (const step of s.steps.states) for (const e of step.ignores ?? []) lines.push(`        note right of ${step.id} : ignores ${e}`);
      lines.push('    }');
    }
  }
  return lines.join('\n');
}
