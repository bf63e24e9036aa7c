/**
 * The routing machine as a test model (`xstate/graph`): which events each state is driven with, and
 * what makes two states the same. Shared by the model-based suite (test/model-based.test.ts) and the
 * path-generation benchmark (bench/paths.ts).
 *
 * The model is the machine plus two facts about the call that the machine does not keep:
 * - whether the desk on the line has heard the caller since it took the line: right after an accepted
 *   transfer to a department it has not, and its entry reply may pass the caller on at once (a chained
 *   TRANSFER, `chained: true`) — generated only with `{ chained: true }`;
 * - whether the last request was refused, so a refusal is a step of its own in the graph (a refusal
 *   leaves the machine where it was: without this the graph would only see a self-loop, and no path
 *   would ever contain a refusal) — with `{ refusals: true }`.
 *
 * The events are offered from what the caller and the agents may *ask*, not from what the machine
 * would accept: a person is asked for whenever the configuration has a human number (also after a
 * failed transfer to a person: the second try must be refused), and at the cap every department route
 * is still asked for when no person can be reached (it must be refused). With a person to escalate to, a
 * desk at the cap is offered only the person, so it asks for nothing else. What the machine answers is
 * for the suite's oracle to judge.
 *
 * With `humanTransferMode: 'warm'` a transfer to a person goes through warm's steps (dialling →
 * briefing → connected), each with the telephony side's answers and the caller hanging up on hold.
 *
 * Path generation is bounded: a state space or a path search larger than the bounds stops with an
 * error that says so (`PathBudgetExceeded`), never with the process running out of memory.
 */
import type { ActorLogic, ActorScope } from 'xstate';
import { TestModel } from 'xstate/graph';
import {
  type HumanTransferMode,
  type PersonStep,
  callStateOf,
  personStepOf,
  type Department,
  ROUTES,
  type RouterEvent,
  type RouterInput,
  type Target,
  isDepartment,
  routerMachine,
} from '../machines/router.js';

export type Snap = ReturnType<typeof routerMachine.getInitialSnapshot>;

/** One state of the test model: the machine's snapshot and what the call knows beside it. */
export interface ModelSnap {
  status: 'active' | 'done';
  output: undefined;
  error: undefined;
  machine: Snap;
  /** The configuration has a human number (fixed for the call). */
  humanNumber: boolean;
  /** The desk on the line took it with the last step and has not heard the caller since: a chain may follow. */
  chainOpen: boolean;
  /** The last step was a refused request for this target. */
  refused: string | null;
  /** Accepted steps so far (transfers, escalations, returns): a bound on path length, not identity. */
  depth: number;
}

export interface ModelOptions {
  /** Generate chained transfers (a TRANSFER with `chained: true` right after an accepted one). */
  chained?: boolean;
  /**
   * Make a refusal a state of its own (see the header), so paths contain refused requests. Off, a
   * refusal is a self-loop no path takes — the graph (and the benchmark's figure) of the plain model.
   */
  refusals?: boolean;
  /**
   * The department routes the agents ask for (default: the machine's `ROUTES`). The suite passes its
   * own table, so a route the machine lost is still asked for.
   */
  routes?: Readonly<Record<Department, readonly Department[]>>;
  /** Bounds on generation; past one, generation stops with `PathBudgetExceeded`. */
  bounds?: Partial<PathBounds>;
  /** How a person is reached (`HUMAN_TRANSFER_MODE`, default cold): warm adds its steps and their failures. */
  humanTransferMode?: HumanTransferMode;
}

export interface PathBounds {
  /** States of the model explored while building its graph (a finite routing model has a few hundred). */
  maxStates: number;
  /** Steps of the path search (each edge the depth-first search of simple paths tries counts one). */
  maxSearchSteps: number;
  /** Paths generated (before those that are a prefix of another are left out). */
  maxPaths: number;
  /** Events in one path. */
  maxPathLength: number;
}

export const DEFAULT_BOUNDS: PathBounds = {
  maxStates: 20_000,
  maxSearchSteps: 5_000_000,
  maxPaths: 50_000,
  maxPathLength: 60,
};

export class PathBudgetExceeded extends Error {
  override name = 'PathBudgetExceeded';
}

export type ModelEvent = RouterEvent;

const chainedEvent = (to: Target) => ({ type: 'TRANSFER' as const, to, reason: `passing the caller on to ${to}`, chained: true });
const plainEvent = (to: Target) => ({ type: 'TRANSFER' as const, to, reason: `caller needs ${to}` });

/** The events offered in a model state (see the header: what may be asked, not what will be accepted). */
export function eventsFor(s: ModelSnap, opts: ModelOptions = {}): ModelEvent[] {
  if (s.status !== 'active') return [];
  const state = callStateOf(s.machine.value);
  if (state === 'human') return personEvents(personStepOf(s.machine.value) ?? 'cold');
  if (!isDepartment(state)) return [];
  const routes = opts.routes ?? ROUTES;
  // At the cap with a person to escalate to, a desk has no tool for another department (it is offered the
  // person alone): the cap's escalation is the keypad's and a supervisor's to ask for, not a desk's.
  const { handoffCount, maxHandoffs, humanAvailable } = s.machine.context;
  const asked = handoffCount >= maxHandoffs && humanAvailable ? [] : routes[state];
  const targets: Target[] = [...asked, ...(s.humanNumber ? (['human'] as const) : [])];
  return [
    ...targets.map(plainEvent),
    ...(opts.chained && s.chainOpen ? targets.map(chainedEvent) : []),
    { type: 'END_CALL', reason: 'caller is done' },
    { type: 'HANGUP' },
  ];
}

/**
 * What can happen at each step of a transfer to a person: the telephony side's answers (each way back
 * a failure LiveKit gives at that step), the call ending, the caller hanging up mid-ring or on hold.
 * Once the person is joined (`connected`) the call's part ends.
 */
function personEvents(step: PersonStep): ModelEvent[] {
  const end: ModelEvent[] = [{ type: 'END_CALL', reason: 'done' }, { type: 'HANGUP' }];
  switch (step) {
    case 'cold':
      return [{ type: 'HUMAN_TRANSFER_FAILED', reason: 'SIP 486 busy' }, ...end];
    case 'dialling':
      return [{ type: 'PERSON_ANSWERED' }, { type: 'HUMAN_TRANSFER_FAILED', reason: 'SIP 480 no answer' }, { type: 'HANGUP' }];
    case 'briefing':
      return [{ type: 'PERSON_CONNECTED' }, { type: 'HUMAN_TRANSFER_FAILED', reason: 'the person declined: in a meeting' }, { type: 'HANGUP' }];
    case 'connected':
      return [{ type: 'END_CALL', reason: 'transferred to a person' }];
  }
}

/** A state value by name: `billing`, `human.dialling`. */
export const stateNameOf = (value: unknown): string => {
  const step = personStepOf(value);
  return step ? `human.${step}` : String(value);
};

/** The machine, with what the call knows beside it (see `ModelSnap`). */
function modelLogic(): ActorLogic<ModelSnap, ModelEvent, RouterInput> {
  type Scope = ActorScope<ModelSnap, ModelEvent>;
  // The machine runs on the scope xstate/graph gives (a mock: nothing is executed, emits go nowhere).
  const asMachineScope = (scope: Scope) => scope as unknown as Parameters<typeof routerMachine.transition>[2];
  return {
    getInitialSnapshot: (scope, input) => {
      const machine = routerMachine.getInitialSnapshot(asMachineScope(scope), input);
      return { status: 'active', output: undefined, error: undefined, machine, humanNumber: input.humanAvailable ?? false, chainOpen: false, refused: null, depth: 0 };
    },
    transition: (s, event, scope) => {
      const machine = routerMachine.transition(s.machine, event, asMachineScope(scope));
      const before = s.machine.context;
      const after = machine.context;
      const moved = after.route.length > before.route.length;
      const refused = event.type === 'TRANSFER' && after.refusals.length > before.refusals.length ? String(event.to) : null;
      return {
        status: machine.status === 'active' ? 'active' : 'done',
        output: undefined,
        error: undefined,
        machine,
        humanNumber: s.humanNumber,
        // Only a desk that took the line through a transfer it did not ask for itself may chain on
        // (a desk the caller returns to after a failed person transfer replies without tools).
        chainOpen: moved && event.type === 'TRANSFER' && isDepartment(callStateOf(machine.value)),
        refused,
        depth: s.depth + (moved ? 1 : 0),
      };
    },
    getPersistedSnapshot: (s) => s,
  };
}

/**
 * Routing identity only (timestamps and reasons would make every vertex unique) — but all of it:
 * whether a person can still be reached, where an escalated caller returns to, whether a chain may
 * follow and from where the caller came (a chain must not go straight back), and a refusal just made.
 */
export function serializeModelState(s: ModelSnap, opts: Pick<ModelOptions, 'chained' | 'refusals'> = {}): string {
  const chained = opts.chained === true;
  const m = s.machine;
  const chainOpen = chained && s.chainOpen;
  const back = callStateOf(m.value) === 'human' || chainOpen ? m.context.route.at(-1)?.from : undefined;
  return JSON.stringify({
    v: m.value,
    n: m.context.handoffCount,
    h: m.context.humanAvailable,
    back,
    c: chainOpen || undefined,
    r: (opts.refusals && s.refused) || undefined,
  });
}

/** A generated path: `steps[0]` is the initial state (event `xstate.init`), each next step an event and the state after it. */
export interface ModelPath {
  state: ModelSnap;
  steps: { state: ModelSnap; event: ModelEvent | { type: 'xstate.init' } }[];
  weight: number;
}
export type PathKind = 'simple' | 'shortest' | 'transitions';

export interface RoutingModel {
  model: TestModel<ModelSnap, ModelEvent, RouterInput>;
  bounds: PathBounds;
  /**
   * Paths of the given kind, within the bounds (else `PathBudgetExceeded`, saying what was exceeded):
   * - `simple`: every simple path (xstate/graph), grows fast with the cap;
   * - `shortest`: the shortest path to every state of the model;
   * - `transitions`: every transition of the model once — the shortest path to each state, then each
   *   event offered there (each request the oracle judges, in every state it can be made in); ending
   *   the call (END_CALL, HANGUP), the same rule everywhere, once per machine state.
   * Paths that are a prefix of another are left out.
   */
  paths(kind: PathKind): ModelPath[];
  /** The simple paths (as the benchmark calls them). */
  getSimplePaths(): ModelPath[];
  getShortestPaths(): ModelPath[];
}

const eventKey = (p: ModelPath) => p.steps.slice(1).map((s) => JSON.stringify(s.event));

/** Drops every path whose events are a prefix of another path's (xstate's own check is quadratic). */
function withoutPrefixes(paths: ModelPath[]): ModelPath[] {
  const keyed = paths.map((p) => ({ p, k: eventKey(p) })).sort((a, b) => b.k.length - a.k.length);
  const prefixes = new Set<string>();
  const kept: ModelPath[] = [];
  for (const { p, k } of keyed) {
    const whole = k.join('\n');
    if (prefixes.has(whole)) continue;
    kept.push(p);
    for (let i = 0; i <= k.length; i++) prefixes.add(k.slice(0, i).join('\n'));
  }
  return kept;
}

export function modelFor(maxHandoffs: number, humanAvailable: boolean, opts: ModelOptions = {}): RoutingModel {
  const bounds: PathBounds = { ...DEFAULT_BOUNDS, ...opts.bounds };
  const what = `cap ${maxHandoffs}, ${humanAvailable ? 'human number' : 'no human number'}${opts.chained ? ', chained' : ''}${opts.humanTransferMode === 'warm' ? ', warm' : ''}`;
  let searchSteps = 0;
  const model = new TestModel<ModelSnap, ModelEvent, RouterInput>(modelLogic(), {
    input: { callId: 'model', maxHandoffs, humanAvailable, humanTransferMode: opts.humanTransferMode },
    events: (s) => eventsFor(s, opts),
    serializeState: (s) => {
      // Called once per state explored and once per edge the path search tries: the search's clock.
      if (++searchSteps > bounds.maxSearchSteps) {
        throw new PathBudgetExceeded(
          `path generation (${what}) stopped after ${bounds.maxSearchSteps} search steps: the model has more paths than the bounds allow`,
        );
      }
      return serializeModelState(s, opts);
    },
    serializeEvent: (e) => JSON.stringify(e),
    // Accepted moves in a call: at most the cap, one more into a person (asked for, or the cap's
    // escalation), one back when that fails. A model that goes deeper is not explored further — its
    // paths stop there, so the suite drives the call that far and the oracle says what is wrong.
    stopWhen: (s) => s.status !== 'active' || s.depth > maxHandoffs + 2,
    limit: bounds.maxStates,
  });
  const generate = (kind: PathKind): ModelPath[] => {
    if (kind === 'simple') return model.getSimplePaths({ allowDuplicatePaths: true }) as ModelPath[];
    const shortest: ModelPath[] = model.getShortestPaths({ allowDuplicatePaths: true });
    if (kind === 'shortest') return shortest;
    const adjacency = model.getAdjacencyMap();
    // Ending the call is the same rule in every live state: once per machine state is enough.
    const ended = new Set<string>();
    const endOnce = (p: ModelPath, e: ModelEvent) => {
      if (e.type !== 'END_CALL' && e.type !== 'HANGUP') return true;
      const key = `${stateNameOf(p.state.machine.value)} ${e.type}`;
      return ended.has(key) ? false : (ended.add(key), true);
    };
    return shortest.flatMap((p) => {
      const out = Object.values(adjacency[serializeModelState(p.state, opts) as keyof typeof adjacency]?.transitions ?? {});
      if (!out.length) return [p];
      const next = out.filter(({ event }) => endOnce(p, event));
      if (!next.length) return [p];
      return next.map(({ event, state }) => ({
        ...p,
        state,
        steps: [...p.steps, { event, state }],
        weight: p.weight + 1,
      }));
    });
  };
  const paths = (kind: PathKind): ModelPath[] => {
    searchSteps = 0;
    let found: ModelPath[];
    try {
      found = generate(kind);
    } catch (err) {
      if (err instanceof Error && err.message === 'Traversal limit exceeded') {
        throw new PathBudgetExceeded(
          `path generation (${what}) explored more than ${bounds.maxStates} model states: the routing model looks unbounded`,
        );
      }
      throw err;
    }
    if (found.length > bounds.maxPaths) {
      throw new PathBudgetExceeded(`path generation (${what}) gave ${found.length} ${kind} paths, more than the bound of ${bounds.maxPaths}`);
    }
    found = withoutPrefixes(found);
    const longest = Math.max(0, ...found.map((p) => p.steps.length - 1));
    if (longest > bounds.maxPathLength) {
      throw new PathBudgetExceeded(`path generation (${what}) gave a path of ${longest} events, longer than the bound of ${bounds.maxPathLength}`);
    }
    return found;
  };
  return { model, bounds, paths, getSimplePaths: () => paths('simple'), getShortestPaths: () => paths('shortest') };
}
