/**
 * Unit tests of the routing machine itself (pure XState: no LiveKit, no I/O). Each test checks what a
 * caller or an operator would notice: where the caller ends up, what they are told when a transfer is
 * refused, what the route log shows, and that the tools derived from the machine agree with it.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { type SnapshotFrom, createActor, initialTransition, transition } from 'xstate';
import { supervisorMoves, toMermaid, transferTargets } from '../machines/derive.js';
import {
  type CallState,
  DEFAULT_MAX_HANDOFFS,
  DEPARTMENTS,
  type Department,
  ROUTES,
  type RouterEvent,
  type RouterInput,
  type Target,
  type TransferEvent,
  type TransferSource,
  callStateOf,
  routerMachine,
} from '../machines/router.js';

type Snap = SnapshotFrom<typeof routerMachine>;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function start(input: Partial<RouterInput> = {}): Snap {
  return initialTransition(routerMachine, { callId: 'test-call', ...input })[0];
}

function send(snap: Snap, ...events: RouterEvent[]): Snap {
  for (const event of events) snap = transition(routerMachine, snap, event)[0];
  return snap;
}

const transfer = (to: string, reason = `caller needs ${to}`, source?: TransferSource): TransferEvent =>
  source ? { type: 'TRANSFER', to, reason, source } : { type: 'TRANSFER', to, reason };

/** Every kind of event arriving after the call has ended. */
const lateEvents = (): RouterEvent[] => [
  transfer('triage'),
  transfer('human'),
  { type: 'CALLER_INFO', info: { name: 'Late' } },
  { type: 'END_CALL', reason: 'again' },
  { type: 'HANGUP' },
  { type: 'HUMAN_TRANSFER_FAILED', reason: 'busy' },
];

/** From a fresh call, the accepted transfers that put the caller in `state` (below the cap). */
function pathTo(state: Department | 'human'): RouterEvent[] {
  if (state === 'triage') return [];
  if (state === 'human') return [transfer('human')];
  return [transfer(state)];
}

/**
 * A call sitting in `state` that has used up its transfers (handoffCount === maxHandoffs): the cap is 2
 * for triage (triage → billing → triage) and 3 for a specialist (triage → it → triage → it).
 */
function atCap(state: Department, humanAvailable: boolean): Snap {
  // Nobody reaches the front desk on a call's last transfer (the hop would strand the caller there, a
  // person or not): triage at the cap is a call whose cap is 0.
  const toTriage: ReturnType<typeof transfer>[] = [];
  const events = state === 'triage' ? toTriage : [transfer(state), transfer('triage'), transfer(state)];
  const snap = send(start({ maxHandoffs: events.length, humanAvailable }), ...events);
  expect(callStateOf(snap.value)).toBe(state);
  expect(snap.context.handoffCount).toBe(snap.context.maxHandoffs);
  expect(snap.context.refusals).toEqual([]);
  return snap;
}

/** Sends a transfer that must be refused; checks the caller stays put and returns the refusal. */
function expectRefused(before: Snap, event: TransferEvent) {
  const after = send(before, event);
  expect(callStateOf(after.value), 'a refused transfer leaves the caller where they are').toBe(callStateOf(before.value));
  expect(after.context.handoffCount, 'a refused transfer is not counted').toBe(before.context.handoffCount);
  expect(after.context.route, 'a refused transfer is not in the route').toEqual(before.context.route);
  expect(after.context.refusals).toHaveLength(before.context.refusals.length + 1);
  const refusal = after.context.refusals.at(-1)!;
  expect(refusal).toMatchObject({ from: callStateOf(before.value), to: event.to, source: event.source ?? 'agent' });
  expect(typeof refusal.at).toBe('number');
  expect(refusal.reason.length).toBeGreaterThan(0);
  return { after, refusal };
}

describe('refusals: the caller stays, and is told why', () => {
  it('a transfer to the department the caller is already with', () => {
    for (const dept of DEPARTMENTS) {
      const snap = send(start({ humanAvailable: true }), ...pathTo(dept));
      const { refusal } = expectRefused(snap, transfer(dept));
      expect(refusal.reason).toBe(`The caller is already with ${dept}.`);
    }
  });

  it('a department not reachable from here: billing → sales names triage as the only route', () => {
    const billing = send(start({ humanAvailable: true }), transfer('billing'));
    const { refusal } = expectRefused(billing, transfer('sales'));
    expect(refusal.reason).toBe('billing cannot transfer directly to sales; only to triage.');
    expect(refusal.reason).toContain('only to triage');
  });

  it('every specialist → another specialist is refused, naming triage', () => {
    for (const from of DEPARTMENTS.filter((d) => d !== 'triage')) {
      const snap = send(start(), transfer(from));
      for (const to of DEPARTMENTS.filter((d) => d !== 'triage' && d !== from)) {
        const { refusal } = expectRefused(snap, transfer(to));
        expect(refusal.reason).toContain('only to triage');
      }
    }
  });

  it('an unknown department ("legal")', () => {
    const { refusal } = expectRefused(start(), transfer('legal'));
    // What the caller may hear, and what only the agent needs (kept apart so a model never reads it out).
    expect(refusal.reason).toBe('There is no "legal" department.');
    expect(refusal.guidance).toBe('Available from triage: billing, sales, support.');
    const billing = send(start(), transfer('billing'));
    expect(expectRefused(billing, transfer('legal')).refusal.guidance).toContain('Available from billing: triage');
  });

  it('transfer_to_human when no human number is configured', () => {
    for (const dept of DEPARTMENTS) {
      const snap = send(start({ humanAvailable: false }), ...pathTo(dept));
      const { refusal } = expectRefused(snap, transfer('human', 'caller asked for a person'));
      expect(refusal.reason).toMatch(/No human agent is available/);
    }
  });

  it('any otherwise-allowed transfer once the cap is reached and no human is configured (reason names the limit)', () => {
    for (const dept of DEPARTMENTS) {
      const snap = atCap(dept, false);
      for (const to of ROUTES[dept]) {
        const { refusal } = expectRefused(snap, transfer(to));
        expect(refusal.reason).toContain(`limit of ${snap.context.maxHandoffs} transfers`);
      }
    }
  });

  it('the default cap is DEFAULT_MAX_HANDOFFS', () => {
    let snap = start();
    for (let i = 0; i < DEFAULT_MAX_HANDOFFS - 1; i++) snap = send(snap, transfer(i % 2 === 0 ? 'billing' : 'triage'));
    expect(snap.context.handoffCount).toBe(DEFAULT_MAX_HANDOFFS - 1);
    expect(callStateOf(snap.value)).toBe('billing');
    // One transfer left: spending it on the front desk would strand the caller there.
    expect(expectRefused(snap, transfer('triage')).refusal.reason).toMatch(/only once more/);
    // With a person to reach, too: the front desk could send the caller to no department, and the person is
    // reached from where the caller is (the desk is told to offer one).
    let withPerson = start({ humanAvailable: true });
    for (let i = 0; i < DEFAULT_MAX_HANDOFFS - 1; i++) withPerson = send(withPerson, transfer(i % 2 === 0 ? 'billing' : 'triage'));
    const refused = expectRefused(withPerson, transfer('triage')).refusal;
    expect(refused.reason).toMatch(/only once more/);
    const person = send(withPerson, transfer('human'));
    expect(callStateOf(person.value)).toBe('human');
    // A call whose cap was reached (an odd cap: the last transfer lands on a desk) escalates a request for another.
    let atCap = start({ humanAvailable: true, maxHandoffs: 3 });
    for (const to of ['billing', 'triage', 'sales'] as const) atCap = send(atCap, transfer(to));
    const escalated = send(atCap, transfer('triage'));
    expect(callStateOf(escalated.value)).toBe('human');
    expect(escalated.context.route.at(-1)).toMatchObject({ escalated: true, reason: expect.stringContaining('limit of 3') });
  });

  it('any TRANSFER while the call is being handed to a person', () => {
    const human = send(start({ humanAvailable: true }), transfer('human'));
    expect(callStateOf(human.value)).toBe('human');
    for (const to of ['triage', 'billing', 'sales', 'support', 'legal']) {
      const { refusal } = expectRefused(human, transfer(to, 'changed my mind', 'keypad'));
      expect(refusal.reason).toBe('The caller is being connected to a person; no other transfer is possible now.');
      expect(refusal.source).toBe('keypad');
    }
  });

  it('refusals accumulate in order, with the source that asked', () => {
    let snap = send(start(), transfer('billing'));
    snap = send(snap, transfer('sales', 'x', 'keypad'), transfer('legal', 'y', 'supervisor'), transfer('billing'));
    expect(callStateOf(snap.value)).toBe('billing');
    expect(snap.context.refusals.map((r) => [r.to, r.source])).toEqual([
      ['sales', 'keypad'],
      ['legal', 'supervisor'],
      ['billing', 'agent'],
    ]);
  });
});

describe('escalation to a person', () => {
  it('at the cap with a human available, an otherwise-allowed transfer goes to human (escalated, source system)', () => {
    for (const dept of DEPARTMENTS) {
      for (const to of ROUTES[dept]) {
        const snap = atCap(dept, true);
        const t0 = Date.now();
        const after = send(snap, transfer(to, 'wants more help', 'keypad'));
        expect(callStateOf(after.value)).toBe('human');
        expect(after.context.handoffCount).toBe(snap.context.handoffCount + 1);
        expect(after.context.refusals).toEqual([]);
        const entry = after.context.route.at(-1)!;
        expect(entry).toMatchObject({ from: dept, to: 'human', escalated: true, source: 'system' });
        expect(entry.reason).toContain(`limit of ${snap.context.maxHandoffs}`);
        expect(entry.reason).toContain(to);
        expect(entry.at).toBeGreaterThanOrEqual(t0);
      }
    }
  });

  it('at the cap, a transfer that was never allowed is still refused, not escalated', () => {
    const snap = atCap('billing', true);
    expect(expectRefused(snap, transfer('sales')).refusal.reason).toContain('only to triage');
    expect(expectRefused(snap, transfer('legal')).refusal.reason).toContain('no "legal" department');
    expect(expectRefused(snap, transfer('billing')).refusal.reason).toContain('already with billing');
  });

  it('an explicit TRANSFER to human is allowed below the cap when a human is available', () => {
    for (const dept of DEPARTMENTS) {
      const snap = send(start({ humanAvailable: true }), ...pathTo(dept));
      expect(snap.context.handoffCount).toBeLessThan(snap.context.maxHandoffs);
      const after = send(snap, transfer('human', 'caller asked for a person', 'supervisor'));
      expect(callStateOf(after.value)).toBe('human');
      expect(after.context.handoffCount).toBe(snap.context.handoffCount + 1);
      const entry = after.context.route.at(-1)!;
      expect(entry).toMatchObject({ from: dept, to: 'human', reason: 'caller asked for a person', source: 'supervisor' });
      expect(entry.escalated).toBeUndefined();
    }
  });

  it('an explicit TRANSFER to human is also allowed at the cap when a human is available', () => {
    const after = send(atCap('sales', true), transfer('human', 'please a person'));
    expect(callStateOf(after.value)).toBe('human');
    expect(after.context.route.at(-1)).toMatchObject({ from: 'sales', to: 'human', source: 'agent' });
  });
});

describe('the route log', () => {
  it('records from, to, reason, a numeric time and source (default agent); handoffCount counts accepted transfers', () => {
    const t0 = Date.now();
    const snap = send(
      start({ humanAvailable: true }),
      transfer('billing', 'invoice question'),
      transfer('sales', 'refused hop'),
      transfer('triage', 'pressed 0', 'keypad'),
      transfer('support', 'supervisor moved the call', 'supervisor'),
      transfer('human', 'wants a person'),
    );
    const t1 = Date.now();
    expect(callStateOf(snap.value)).toBe('human');
    expect(snap.context.handoffCount).toBe(4);
    expect(snap.context.refusals).toHaveLength(1);
    expect(snap.context.route.map(({ from, to, reason, source }) => ({ from, to, reason, source }))).toEqual([
      { from: 'triage', to: 'billing', reason: 'invoice question', source: 'agent' },
      { from: 'billing', to: 'triage', reason: 'pressed 0', source: 'keypad' },
      { from: 'triage', to: 'support', reason: 'supervisor moved the call', source: 'supervisor' },
      { from: 'support', to: 'human', reason: 'wants a person', source: 'agent' },
    ]);
    for (const entry of snap.context.route) {
      expect(typeof entry.at).toBe('number');
      expect(entry.at).toBeGreaterThanOrEqual(t0);
      expect(entry.at).toBeLessThanOrEqual(t1);
      expect(entry.escalated).toBeUndefined();
    }
  });

  it('handoffCount increments by one per accepted transfer', () => {
    let snap = start();
    const hops: Department[] = ['sales', 'triage', 'support', 'triage', 'billing'];
    hops.forEach((to, i) => {
      snap = send(snap, transfer(to));
      expect(callStateOf(snap.value)).toBe(to);
      expect(snap.context.handoffCount).toBe(i + 1);
      expect(snap.context.route).toHaveLength(i + 1);
    });
  });

  it('a fresh call starts in triage with nothing counted', () => {
    const snap = start({ caller: { name: 'Ada' } });
    expect(callStateOf(snap.value)).toBe('triage');
    expect(snap.context).toMatchObject({
      callId: 'test-call',
      caller: { name: 'Ada' },
      handoffCount: 0,
      maxHandoffs: DEFAULT_MAX_HANDOFFS,
      humanAvailable: false,
      route: [],
      refusals: [],
      endReason: null,
    });
  });
});

describe('ending the call', () => {
  const LIVE: (Department | 'human')[] = [...DEPARTMENTS, 'human'];

  it('END_CALL from every live state reaches the final ended state with its reason', () => {
    for (const state of LIVE) {
      const snap = send(start({ humanAvailable: true }), ...pathTo(state));
      expect(callStateOf(snap.value)).toBe(state);
      const after = send(snap, { type: 'END_CALL', reason: `resolved in ${state}` });
      expect(callStateOf(after.value)).toBe('ended');
      expect(after.status).toBe('done');
      expect(after.context.endReason).toBe(`resolved in ${state}`);
    }
  });

  it('END_CALL without a reason ends as completed', () => {
    const after = send(start(), { type: 'END_CALL', reason: '' });
    expect(after.status).toBe('done');
    expect(after.context.endReason).toBe('completed');
  });

  it('HANGUP from every live state reaches ended with endReason hangup', () => {
    for (const state of LIVE) {
      const snap = send(start({ humanAvailable: true }), ...pathTo(state));
      const after = send(snap, { type: 'HANGUP' });
      expect(callStateOf(after.value)).toBe('ended');
      expect(after.status).toBe('done');
      expect(after.context.endReason).toBe('hangup');
    }
  });

  it('events after ended change nothing (actor)', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const actor = createActor(routerMachine, { input: { callId: 'a', humanAvailable: true } }).start();
      actor.send(transfer('billing'));
      actor.send({ type: 'HANGUP' });
      const done = actor.getSnapshot();
      expect(done.status).toBe('done');
      expect(callStateOf(done.value)).toBe('ended');
      const context = structuredClone(done.context);
      for (const e of lateEvents()) actor.send(e);
      const after = actor.getSnapshot();
      expect(after.status).toBe('done');
      expect(callStateOf(after.value)).toBe('ended');
      expect(after.context).toEqual(context);
    } finally {
      warn.mockRestore();
    }
  });

  it('events after ended change nothing routing-wise (pure transition)', () => {
    const done = send(start({ humanAvailable: true }), transfer('sales'), { type: 'END_CALL', reason: 'bye' });
    const { caller: _caller, ...context } = structuredClone(done.context);
    const after = send(done, ...lateEvents());
    expect(after.status).toBe('done');
    expect(callStateOf(after.value)).toBe('ended');
    // Not `caller`: the pure `transition()` does not check status, and CALLER_INFO is handled on the
    // root node, so it still merges into a final snapshot. A running actor ignores it (test above).
    expect(after.context).toMatchObject(context);
  });
});

describe('a person could not be reached (HUMAN_TRANSFER_FAILED)', () => {
  it('from triage: back to triage, then no second try and no escalation loop', () => {
    const inHuman = send(start({ humanAvailable: true, maxHandoffs: 2 }), transfer('human', 'asked for a person'));
    expect(callStateOf(inHuman.value)).toBe('human');
    const back = send(inHuman, { type: 'HUMAN_TRANSFER_FAILED', reason: 'SIP 486 busy' });
    expect(callStateOf(back.value)).toBe('triage');
    expect(back.context.humanAvailable).toBe(false);
    expect(back.context.route.at(-1)).toMatchObject({ from: 'human', to: 'triage', reason: 'SIP 486 busy', source: 'system' });

    // A second request for a person is refused.
    expect(expectRefused(back, transfer('human')).refusal.reason).toMatch(/No human agent is available/);

    // Reach the cap: the next allowed request is refused instead of escalating again.
    const atCapAgain = send(back, transfer('billing'));
    expect(callStateOf(atCapAgain.value)).toBe('billing');
    expect(atCapAgain.context.handoffCount).toBe(2);
    const { refusal } = expectRefused(atCapAgain, transfer('triage'));
    expect(refusal.reason).toMatch(/limit of 2 transfers and a person could not be reached/);
  });

  it('from a specialist (cap escalation): back to that specialist, then refused instead of escalating', () => {
    const snap = atCap('billing', true);
    const inHuman = send(snap, transfer('triage', 'wants to start over'));
    expect(callStateOf(inHuman.value)).toBe('human');
    expect(inHuman.context.route.at(-1)).toMatchObject({ from: 'billing', escalated: true });

    const back = send(inHuman, { type: 'HUMAN_TRANSFER_FAILED', reason: 'no answer' });
    expect(callStateOf(back.value)).toBe('billing');
    expect(back.context.humanAvailable).toBe(false);
    expect(back.context.route.at(-1)).toMatchObject({ from: 'human', to: 'billing', reason: 'no answer', source: 'system' });

    expect(expectRefused(back, transfer('human')).refusal.reason).toMatch(/No human agent is available/);
    const { after, refusal } = expectRefused(back, transfer('triage'));
    expect(callStateOf(after.value)).toBe('billing');
    expect(after.context.humanAvailable).toBe(false);
    expect(refusal.reason).toMatch(/limit of 3 transfers and a person could not be reached/);
  });

  it('from every department the caller returns to where they came from', () => {
    for (const dept of DEPARTMENTS) {
      const snap = send(start({ humanAvailable: true }), ...pathTo(dept), transfer('human'));
      expect(callStateOf(snap.value)).toBe('human');
      expect(callStateOf(send(snap, { type: 'HUMAN_TRANSFER_FAILED', reason: 'busy' }).value)).toBe(dept);
    }
  });
});

describe('CALLER_INFO', () => {
  it('merges fields over what is known', () => {
    let snap = start({ caller: { phoneNumber: '+15550100', dialedNumber: '+15550199' } });
    snap = send(snap, { type: 'CALLER_INFO', info: { name: 'Ada', accountId: 'A-1' } });
    snap = send(snap, { type: 'CALLER_INFO', info: { need: 'refund', name: 'Ada Lovelace' } });
    expect(snap.context.caller).toEqual({
      phoneNumber: '+15550100',
      dialedNumber: '+15550199',
      name: 'Ada Lovelace',
      accountId: 'A-1',
      need: 'refund',
    });
  });

  it('ignores empty and blank strings (they do not erase what is known)', () => {
    let snap = start({ caller: { name: 'Ada' } });
    snap = send(snap, { type: 'CALLER_INFO', info: { name: '', accountId: '   ', need: 'upgrade' } });
    expect(snap.context.caller).toEqual({ name: 'Ada', need: 'upgrade' });
  });

  it('a bare CALLER_INFO without info does not throw and changes nothing', () => {
    const snap = start({ caller: { name: 'Ada' } });
    const after = send(snap, { type: 'CALLER_INFO' } as unknown as RouterEvent);
    expect(after.status).toBe('active');
    expect(callStateOf(after.value)).toBe('triage');
    expect(after.context.caller).toEqual({ name: 'Ada' });

    const actor = createActor(routerMachine, { input: { callId: 'bare' } }).start();
    expect(() => actor.send({ type: 'CALLER_INFO' } as unknown as RouterEvent)).not.toThrow();
    expect(actor.getSnapshot().status).toBe('active');
    actor.stop();
  });

  it('works in every live state and does not move the caller', () => {
    for (const state of [...DEPARTMENTS, 'human'] as const) {
      const snap = send(start({ humanAvailable: true }), ...pathTo(state));
      const after = send(snap, { type: 'CALLER_INFO', info: { name: 'Ada' } });
      expect(callStateOf(after.value)).toBe(state);
      expect(after.context.caller.name).toBe('Ada');
      expect(after.context.handoffCount).toBe(snap.context.handoffCount);
    }
  });
});

describe('transferTargets (the tools) agree with the machine', () => {
  it('triage → billing, sales, support, human; each specialist → triage, human; human and ended → none', () => {
    expect(transferTargets('triage')).toEqual(['billing', 'sales', 'support', 'human']);
    for (const d of ['billing', 'sales', 'support'] as const) expect(transferTargets(d)).toEqual(['triage', 'human']);
    expect(transferTargets('human')).toEqual([]);
    expect(transferTargets('ended')).toEqual([]);
  });

  it('the department targets are exactly ROUTES', () => {
    for (const d of DEPARTMENTS) expect(transferTargets(d).filter((t) => t !== 'human')).toEqual([...ROUTES[d]]);
  });

  it('every derived target is accepted, every other department is refused (below the cap, human available)', () => {
    const ALL: Target[] = [...DEPARTMENTS, 'human'];
    for (const state of DEPARTMENTS) {
      const here = send(start({ humanAvailable: true }), ...pathTo(state));
      expect(callStateOf(here.value)).toBe(state);
      expect(here.context.handoffCount).toBeLessThan(here.context.maxHandoffs);
      const targets = transferTargets(state);
      for (const to of ALL) {
        const after = send(here, transfer(to));
        if (targets.includes(to)) {
          expect(callStateOf(after.value), `${state} → ${to} is a tool, the machine must accept it`).toBe(to);
          expect(after.context.handoffCount).toBe(here.context.handoffCount + 1);
          expect(after.context.refusals).toEqual(here.context.refusals);
        } else {
          expect(callStateOf(after.value), `${state} → ${to} is not a tool, the machine must refuse it`).toBe(state);
          expect(after.context.handoffCount).toBe(here.context.handoffCount);
          expect(after.context.refusals).toHaveLength(here.context.refusals.length + 1);
        }
      }
    }
  });

  it('in human, no target is offered and every transfer is refused', () => {
    const human = send(start({ humanAvailable: true }), transfer('human'));
    for (const to of [...DEPARTMENTS, 'human']) {
      const after = send(human, transfer(to));
      expect(callStateOf(after.value)).toBe('human');
      expect(after.context.refusals).toHaveLength(1);
    }
  });
});

describe('the machine definition', () => {
  const machinesDir = join(ROOT, 'machines');
  const sources = readdirSync(machinesDir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ file: f, text: readFileSync(join(machinesDir, f), 'utf8') }));
  const specifiers = (text: string) =>
    [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)].map((m) => m[1]!);

  it('imports nothing from LiveKit (and nothing from outside machines/ that could bring it in)', () => {
    expect(sources.map((s) => s.file)).toEqual(expect.arrayContaining(['router.ts', 'derive.ts']));
    for (const { file, text } of sources) {
      const specs = specifiers(text);
      expect(specs.length, `${file} has imports`).toBeGreaterThan(0);
      for (const spec of specs) {
        expect(spec, `${file} imports ${spec}`).not.toMatch(/@livekit|livekit/i);
        if (spec.startsWith('.')) expect(spec, `${file} imports ${spec} from outside machines/`).toMatch(/^\.\/[^/]+$/);
      }
      expect(text, `${file} mentions an @livekit import`).not.toMatch(/['"]@livekit\//);
    }
  });

  it('toMermaid() has an edge for every ROUTES pair, the start, and ended --> [*]', () => {
    const mermaid = toMermaid();
    const lines = mermaid.split('\n');
    expect(lines[0]).toBe('stateDiagram-v2');
    expect(lines).toContain('    [*] --> triage');
    for (const [from, tos] of Object.entries(ROUTES)) {
      for (const to of tos) {
        const edge = lines.find((l) => l.startsWith(`    ${from} --> ${to}: `));
        expect(edge, `edge ${from} --> ${to}`).toBeDefined();
        expect(edge).toContain('TRANSFER [canTransferTo]');
      }
    }
    for (const d of DEPARTMENTS) {
      // Into a person: the cold step, or warm's first step (the steps drawn inside `human`).
      expect(lines.find((l) => l.startsWith(`    ${d} --> cold: `)), `edge ${d} --> cold`).toContain('[canReachHuman & cold]');
      expect(lines.find((l) => l.startsWith(`    ${d} --> dialling: `)), `edge ${d} --> dialling`).toContain('[canReachHuman & warm]');
      expect(lines.find((l) => l.startsWith(`    ${d} --> ended: `)), `edge ${d} --> ended`).toBeDefined();
      expect(lines.find((l) => l.startsWith(`    human --> ${d}: `)), `edge human --> ${d}`).toBeDefined();
    }
    expect(lines).toContain('    ended --> [*]');
    // Warm transfer's steps, in order, inside `human`.
    expect(mermaid).toContain(
      [
        '    state human {',
        '        [*] --> cold',
        '        dialling --> briefing: PERSON_ANSWERED',
        '        briefing --> connected: PERSON_CONNECTED',
        // The parent's HUMAN_TRANSFER_FAILED edges do not apply once joined: the drawing says so.
        '        note right of connected : ignores HUMAN_TRANSFER_FAILED',
        '    }',
      ].join('\n'),
    );
    // One edge's labels are alternatives ("or"): "A / B" reads as event A with action B in a state diagram.
    expect(lines).toContain('    triage --> ended: END_CALL or HANGUP');
    expect(mermaid).not.toContain(' / ');
  });

  it('every state is a CallState', () => {
    expect(Object.keys(routerMachine.root.states).sort()).toEqual(
      (['triage', 'billing', 'sales', 'support', 'human', 'ended'] satisfies CallState[]).sort(),
    );
  });
});

describe('docs/routing.md', () => {
  it('shows the current diagram: the exact toMermaid() output in a ```mermaid block', () => {
    const path = join(ROOT, 'docs', 'routing.md');
    const block = '```mermaid\n' + toMermaid() + '\n```';
    const fix = 'run `npm run diagram` and paste its output into docs/routing.md inside its ```mermaid fenced block';
    expect(existsSync(path), `docs/routing.md is missing: ${fix}.`).toBe(true);
    const doc = readFileSync(path, 'utf8').replace(/\r\n/g, '\n');
    expect(doc.includes(block), `docs/routing.md's state diagram is missing or stale: ${fix}.`).toBe(true);
  });
});

describe('supervisor moves: the machine\'s own answer, from what a call publishes', () => {
  // Walks calls through many routes; at every step, the moves offered for the published view must be
  // exactly what a real actor in that state answers when each move is sent.
  const targets = ['triage', 'billing', 'sales', 'support', 'human'] as const;
  it('agree with a live actor at every step of many routes (cap, person, failed person)', () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let walk = 0; walk < 60; walk++) {
      const humanAvailable = walk % 2 === 0;
      const maxHandoffs = 1 + (walk % 4);
      const actor = createActor(routerMachine, { input: { callId: `w${walk}`, maxHandoffs, humanAvailable } }).start();
      for (let step = 0; step < 8 && actor.getSnapshot().status === 'active'; step++) {
        const snap = actor.getSnapshot();
        const c = snap.context;
        const timeline = [{ state: c.route[0]?.from ?? callStateOf(snap.value) }, ...c.route.map((r) => ({ state: r.to, reason: r.reason, source: r.source }))];
        const view = { state: callStateOf(snap.value) as string, handoffCount: c.handoffCount, maxHandoffs, humanAvailable, timeline };
        const moves = supervisorMoves(view);
        for (const m of moves) {
          const probe = createActor(routerMachine, { input: { callId: 'probe' }, snapshot: actor.getPersistedSnapshot() as never }).start();
          probe.send({ type: 'TRANSFER', to: m.to, reason: 'probe', source: 'supervisor' });
          const after = probe.getSnapshot();
          const accepted = after.context.handoffCount > c.handoffCount;
          expect(m.allowed, `${JSON.stringify(view)} → ${m.to}`).toBe(accepted);
          if (!accepted) expect(m.reason).toBe(after.context.refusals.at(-1)!.reason);
          else expect(Boolean(m.escalates)).toBe(callStateOf(after.value) === 'human' && m.to !== 'human');
          probe.stop();
        }
        // Move on: a person fails now and then, otherwise a random transfer.
        if (callStateOf(snap.value) === 'human') actor.send({ type: 'HUMAN_TRANSFER_FAILED', reason: 'busy' });
        else actor.send({ type: 'TRANSFER', to: targets[rand(targets.length)]!, reason: 'walk', source: 'agent' });
      }
      actor.stop();
    }
  });

  it('offers nothing for a call that has ended', () => {
    expect(supervisorMoves({ state: 'ended', handoffCount: 1, maxHandoffs: 6, humanAvailable: true, timeline: [{ state: 'triage' }] })).toEqual([]);
  });
});

describe('warm transfer to a person (HUMAN_TRANSFER_MODE=warm)', () => {
  const warm = (input: Partial<RouterInput> = {}) => start({ humanAvailable: true, humanTransferMode: 'warm', ...input });

  it('dialling (the caller on hold) → briefing → connected; the transfer is recorded as warm', () => {
    const dialling = send(warm(), transfer('billing'), transfer('triage'), transfer('human', 'Billing could not refund'));
    expect(dialling.value).toEqual({ human: 'dialling' });
    expect(dialling.hasTag('hold')).toBe(true);
    expect(dialling.context.route.at(-1)).toMatchObject({ from: 'triage', to: 'human', mode: 'warm', reason: 'Billing could not refund' });
    const briefing = send(dialling, { type: 'PERSON_ANSWERED' });
    expect(briefing.value).toEqual({ human: 'briefing' });
    expect(briefing.hasTag('hold')).toBe(true);
    const connected = send(briefing, { type: 'PERSON_CONNECTED' });
    expect(connected.value).toEqual({ human: 'connected' });
    expect(connected.hasTag('hold')).toBe(false);
    // Joined: a late failure does not pull the caller back to a desk.
    expect(send(connected, { type: 'HUMAN_TRANSFER_FAILED', reason: 'late' }).value).toEqual({ human: 'connected' });
    expect(send(connected, { type: 'END_CALL', reason: 'joined to a person' }).value).toBe('ended');
  });

  it('each step is announced (the call shows it live and records it)', () => {
    const actor = createActor(routerMachine, { input: { callId: 'warm', humanAvailable: true, humanTransferMode: 'warm' } });
    const steps: string[] = [];
    actor.on('personStep', ({ step }) => steps.push(step));
    actor.start();
    actor.send(transfer('human'));
    actor.send({ type: 'PERSON_ANSWERED' });
    actor.send({ type: 'PERSON_CONNECTED' });
    expect(steps).toEqual(['dialling', 'briefing', 'connected']);
    actor.stop();
  });

  it.each([
    ['dialling', 'SIP 486 Busy Here', [] as RouterEvent[]],
    ['dialling', 'SIP 480 Temporarily Unavailable', []],
    ['briefing', 'human agent declined to connect: in a meeting', [{ type: 'PERSON_ANSWERED' }]],
    ['briefing', 'voicemail detected', [{ type: 'PERSON_ANSWERED' }]],
  ] as const)('a failure while %s (%s) returns the caller to the desk they came from, with the reason', (_step, reason, steps) => {
    const at = send(warm(), transfer('support'), transfer('human'), ...steps);
    const back = send(at, { type: 'HUMAN_TRANSFER_FAILED', reason });
    expect(back.value).toBe('support');
    expect(back.context.route.at(-1)).toMatchObject({ from: 'human', to: 'support', reason });
    expect(back.context.humanAvailable).toBe(false); // no second try in this call
  });

  it('the caller hanging up mid-ring or on hold ends the call', () => {
    expect(send(warm(), transfer('human'), { type: 'HANGUP' }).value).toBe('ended');
    expect(send(warm(), transfer('human'), { type: 'PERSON_ANSWERED' }, { type: 'HANGUP' }).context.endReason).toBe('hangup');
  });

  it('the cap escalates warm too; cold stays one step (the SIP REFER)', () => {
    const escalated = send(warm({ maxHandoffs: 1 }), transfer('billing'), transfer('triage'));
    expect(escalated.value).toEqual({ human: 'dialling' });
    expect(escalated.context.route.at(-1)).toMatchObject({ escalated: true, mode: 'warm' });
    const cold = send(start({ humanAvailable: true }), transfer('human'));
    expect(cold.value).toEqual({ human: 'cold' });
    expect(cold.context.route.at(-1)).toMatchObject({ mode: 'cold' });
    // Warm's steps mean nothing on a cold transfer.
    expect(send(cold, { type: 'PERSON_ANSWERED' }).value).toEqual({ human: 'cold' });
  });
});
