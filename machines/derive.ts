/**
 * What other parts read off the machine instead of repeating it: the transfer targets each state
 * offers (→ the agents' tools) and the drawing (→ README, inspector).
 */
import type { AnyStateMachine } from 'xstate';
import { type CallState, ROUTES, type Target, isDepartment, routerMachine } from './router.js';

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

/** The statechart as plain data: states and labelled edges (one per source/target pair). */
export interface MachineGraph {
  id: string;
  initial: string;
  states: { id: string; description?: string; final: boolean }[];
  edges: { source: string; target: string; labels: string[] }[];
}

export function machineGraph(machine: AnyStateMachine = routerMachine): MachineGraph {
  const root = machine.root;
  const graph: MachineGraph = { id: machine.id, initial: root.initial?.target[0]?.key ?? '', states: [], edges: [] };
  for (const node of Object.values(root.states)) {
    graph.states.push({ id: node.key, description: node.description, final: node.type === 'final' });
    const edges = new Map<string, string[]>();
    for (const [eventType, transitions] of node.transitions) {
      for (const t of transitions) {
        const target = t.target?.[0];
        if (!target || target === node) continue;
        const guard = t.guard as GuardRef | string | undefined;
        const gtype = typeof guard === 'string' ? guard : guard?.type;
        const label = gtype ? `${eventType} [${gtype}]` : eventType;
        const labels = edges.get(target.key) ?? [];
        if (!labels.includes(label)) labels.push(label);
        edges.set(target.key, labels);
      }
    }
    for (const [target, labels] of edges) graph.edges.push({ source: node.key, target, labels });
  }
  return graph;
}

/** The statechart as Mermaid `stateDiagram-v2`, generated from the machine definition. */
export function toMermaid(machine: AnyStateMachine = routerMachine): string {
  const g = machineGraph(machine);
  const lines = ['stateDiagram-v2', `    [*] --> ${g.initial}`];
  for (const s of g.states) {
    for (const e of g.edges.filter((e) => e.source === s.id)) lines.push(`    ${e.source} --> ${e.target}: ${e.labels.join(' / ')}`);
    if (s.final) lines.push(`    ${s.id} --> [*]`);
  }
  return lines.join('\n');
}
