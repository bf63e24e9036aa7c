/**
 * For the fleet benchmark (figure 8): one live call as the inspector hears of it, without its voice.
 * The routing is the real machine (`routerMachine` in an XState actor: its transfers, refusals, caller
 * info and end, and the snapshots `attachInspector` follows); the conversation is a seeded script of
 * schema-valid call events at a fixed pace: per turn the caller's line, then the desk's answer about a
 * second later and the turn's latency (`turn`, as a voice call tells it once the answer is heard), a turn
 * every `turnMs` (3–5 s); the caller's details after the first answer; a transfer at the second turn
 * (triage → a department) and now and then later (back to the front desk and on).
 *
 * It carries exactly what `attachInspector` (src/inspector/client.ts) reads of a `Call` — `callId`,
 * `events`, its `event` emitter, `actor`, `finished`, `machineState`, `requestTransfer`, `endCall` — so
 * the product's own link sends it: hello, every event, every snapshot, and supervisors' commands answered
 * by the machine. A call already `ageMs` old plays its past turns at once (their `at` in the past) before
 * the link is attached, as a call in mid-conversation would have them; from then on it plays in real
 * time, each event stamped `Date.now()` when it is made.
 */
import { EventEmitter } from 'node:events';
import { type Actor, createActor } from 'xstate';
import { type CallState, ROUTES, type RouteEntry, type Target, type TransferSource, callStateOf, isDepartment, routerMachine } from '../machines/router.js';
import type { CallEvent } from '../src/call/events.js';

type EndEvent = CallEvent & { type: 'end' };

export interface FleetCallOptions {
  callId: string;
  /** A seeded random source (the same call plays the same way every run). */
  random: () => number;
  /** How old the call already is when it joins (its past turns are played at once). */
  ageMs: number;
  /** How long it lasts in all; then it ends (`completed`). */
  durationMs: number;
  /** A turn every [min, max] ms. */
  turnMs: [number, number];
  /** Each transcript line played live, with its `at` (the worker counts what the pages should see). */
  onLine?: (at: number) => void;
}

const CALLER_LINES = [
  'I was charged twice on my card this month and I would like the second payment refunded please.',
  'My internet keeps dropping every evening around eight, it has been like this for a week.',
  'I want to upgrade to the family plan, how much more would that be per month?',
  'Can you tell me when the refund will show up on my statement?',
  'मेरा बिल इस महीने दो बार कट गया है, कृपया देखिए।',
  'Haan, mera order number 48213 hai, please check kar dijiye.',
  'Yes, that is right. And is there any discount if I pay for the year?',
  'Okay, thanks. One more thing: the router light is blinking orange.',
];
const AGENT_LINES = [
  'I can see two payments of 1,499 rupees on the 3rd. I have raised a refund for the second one; it should reach your card in five to seven working days.',
  'Thanks for waiting. I have reset the line from our side and scheduled a check of the evening signal; if it drops again tonight we will send a technician.',
  'The family plan adds three lines for 600 rupees more a month, and the first month is free. Shall I switch you over from your next bill?',
  'आपका रिफंड शुरू कर दिया गया है; पाँच से सात कार्यदिवस में आपके कार्ड पर दिखेगा। क्या मैं और कुछ मदद कर सकती हूँ?',
  'Ji, order 48213 mil gaya. Delivery kal shaam tak ho jayegi, aur main aapko SMS se tracking link bhej rahi hoon.',
  'An annual payment takes two months off the price. I can send you the details by email, or set it up now if you prefer.',
];
const NAMES = ['Maya Rao', 'Arjun Mehta', 'Priya Sharma', 'Daniel Cooper', 'Fatima Khan', 'Rohan Iyer'];
const NEEDS = ['double charge on the card', 'internet drops every evening', 'upgrade to the family plan', 'refund status'];

const pick = <T>(xs: readonly T[], r: () => number): T => xs[Math.floor(r() * xs.length)]!;
const between = ([lo, hi]: [number, number], r: () => number) => lo + r() * (hi - lo);

interface Step {
  at: number;
  run: () => void;
}

export class FleetCall extends EventEmitter<{ event: [CallEvent] }> {
  readonly callId: string;
  readonly actor: Actor<typeof routerMachine>;
  readonly events: CallEvent[] = [];
  readonly finished: Promise<EndEvent>;
  private resolveFinished!: (e: EndEvent) => void;
  /** The time the step being played happens at (the past for the backlog, Date.now() live). */
  private now = 0;
  private live = false;
  private readonly plan: Step[] = [];
  private timer: NodeJS.Timeout | null = null;
  private turn = 0;
  private readonly startAt: number;
  private decision: { accepted: boolean; reason?: string } | null = null;

  constructor(private readonly o: FleetCallOptions) {
    super();
    this.callId = o.callId;
    this.startAt = Date.now() - o.ageMs;
    this.finished = new Promise((r) => (this.resolveFinished = r));
    this.actor = createActor(routerMachine, { id: o.callId, input: { callId: o.callId, maxHandoffs: 6, humanAvailable: false } });
    this.actor.on('transferred', ({ entry, handoffCount }) => this.onTransferred(entry, handoffCount));
    this.actor.on('refused', ({ refusal: r }) => {
      this.decision = { accepted: false, reason: r.reason };
      this.emitEvent({ type: 'rejected', from: r.from, to: r.to, reason: r.reason, source: r.source, at: this.now });
    });
    this.actor.on('callerUpdated', ({ caller }) => this.emitEvent({ type: 'caller', caller: { ...caller }, at: this.now }));
    this.actor.on('ended', ({ reason }) => this.onEnded(reason));
  }

  get machineState(): CallState {
    return callStateOf(this.actor.getSnapshot().value);
  }

  /** Starts the call and plays its past (before anything is attached to it). */
  begin(): void {
    this.actor.start();
    this.now = this.startAt;
    this.emitEvent({ type: 'started', callId: this.callId, state: 'triage', caller: {}, maxHandoffs: 6, humanAvailable: false, at: this.now });
    this.say('triage', 'Thank you for calling Acme, this is the front desk. How can I help you today?', this.startAt + 400);
    this.planTurn(this.startAt + 2500);
    this.playUntil(Date.now());
  }

  /** From now on each step plays when its time comes, stamped with the time it actually ran. */
  goLive(): void {
    this.live = true;
    this.arm();
  }

  /** As `Call.requestTransfer`: the machine decides. */
  requestTransfer(to: string, reason: string, source: TransferSource): { accepted: boolean; reason?: string } {
    if (this.actor.getSnapshot().status !== 'active') return { accepted: false, reason: 'The call has already ended.' };
    this.decision = null;
    this.actor.send({ type: 'TRANSFER', to, reason, source });
    return this.decision ?? { accepted: false, reason: 'The transfer was not accepted.' };
  }

  endCall(reason: string): void {
    this.actor.send({ type: 'END_CALL', reason });
  }

  /** Stops playing (the worker is closing); the call does not end. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.plan.length = 0;
  }

  private emitEvent(e: CallEvent): void {
    this.events.push(e);
    this.emit('event', e);
  }

  private onTransferred(entry: RouteEntry, handoffCount: number): void {
    this.decision = { accepted: true };
    const silence = 120 + Math.round(this.o.random() * 80);
    this.emitEvent({
      type: 'handoff',
      from: entry.from,
      to: entry.to,
      handoffCount,
      reason: entry.reason,
      source: entry.source,
      escalated: !!entry.escalated,
      latencyMs: Number((0.5 + this.o.random()).toFixed(2)),
      stages: { decisionMs: 0.2, swapMs: 1.1, llmTtftMs: 310, ttsTtfbMs: 150, silenceMs: silence, preparedPlayed: true, bridged: false },
      at: this.now,
    });
    if (isDepartment(entry.to)) this.say(entry.to, `This is ${entry.to}. I have your details from my colleague; let me look into it now.`, this.now + 700);
  }

  private onEnded(reason: string): void {
    this.stop();
    const snap = this.actor.getSnapshot();
    // The machine is in its final state (the actor is done): the call's last event.
    const end: EndEvent = { type: 'end', state: callStateOf(snap.value), handoffCount: snap.context.handoffCount, reason, at: this.now };
    this.emitEvent(end);
    this.resolveFinished(end);
  }

  /** One turn: the caller's line, the desk's answer (and on some turns a transfer); the next turn after it. */
  private planTurn(at: number): void {
    const r = this.o.random;
    if (at - this.startAt >= this.o.durationMs) {
      this.schedule(at, () => this.endCall('completed'));
      return;
    }
    const n = ++this.turn;
    this.schedule(at, () => this.line({ type: 'user', text: pick(CALLER_LINES, r), at: this.now }));
    const answerAt = at + 800 + r() * 600;
    if (n === 1) {
      const caller = { name: pick(NAMES, r), phoneNumber: `+9198${String(Math.floor(r() * 1e8)).padStart(8, '0')}`, need: pick(NEEDS, r), language: 'en' };
      this.schedule(answerAt - 200, () => this.actor.send({ type: 'CALLER_INFO', info: caller }));
    }
    // The previous turn's transfer, if any, has been played: this is the desk that answers.
    const from = this.machineState;
    const transfers = n === 2 || (n > 2 && r() < 0.06);
    if (transfers && isDepartment(from)) {
      const to = pick(ROUTES[from], r);
      this.say(from, `I understand. Let me transfer you to ${to}; they can sort this out for you.`, answerAt);
      this.schedule(answerAt + 300, () => this.requestTransfer(to, `the caller needs ${to}`, 'agent'));
    } else {
      this.schedule(answerAt, () => this.say(this.machineState as Target, pick(AGENT_LINES, r)));
    }
    this.schedule(answerAt + 100, () => this.answered(n, from));
    this.schedule(at + between(this.o.turnMs, r), () => this.planTurn(this.now));
  }

  /** The turn's latency, told once its answer has been heard (as `TurnLatency` tells a voice call's). */
  private answered(line: number, desk: CallState): void {
    if (!isDepartment(desk) || this.machineState === 'ended') return;
    const r = this.o.random;
    const [eouMs, sttMs, llmTtftMs, ttsTtfbMs] = [300 + r() * 300, 150 + r() * 200, 250 + r() * 250, 120 + r() * 100].map(Math.round) as [number, number, number, number];
    this.emitEvent({ type: 'turn', line, agent: desk, eouMs, sttMs, llmTtftMs, ttsTtfbMs, responseMs: eouMs + llmTtftMs + ttsTtfbMs, at: this.now });
  }

  /** An agent line now, or (with `at`) planned. */
  private say(agent: Target, text: string, at?: number): void {
    if (at !== undefined) {
      this.schedule(at, () => this.say(agent, text));
      return;
    }
    if (this.machineState === 'ended') return;
    this.line({ type: 'agent', agent, text, interrupted: false, at: this.now });
  }

  private line(e: CallEvent & { at: number }): void {
    this.emitEvent(e);
    if (this.live) this.o.onLine?.(e.at);
  }

  private schedule(at: number, run: () => void): void {
    let i = this.plan.length;
    while (i > 0 && this.plan[i - 1]!.at > at) i--;
    this.plan.splice(i, 0, { at, run });
    if (this.live && i === 0) this.arm();
  }

  /** Plays every step due by `until`, in order (each may plan more). */
  private playUntil(until: number): void {
    while (this.plan.length && this.plan[0]!.at <= until) {
      const step = this.plan.shift()!;
      this.now = this.live ? Date.now() : step.at;
      step.run();
    }
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const next = this.plan[0];
    if (!next) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.playUntil(Date.now());
      this.arm();
    }, Math.max(0, next.at - Date.now()));
  }
}
