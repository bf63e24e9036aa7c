/**
 * Figure 5 — inspector cost: the same text call (greeting + 10 turns, 3 of them transfers) with the inspector off, and on
 * — (a) as specified: a real `startInspectorServer` in this process and the call linked with
 * `attachInspector`; (b) the production topology: the inspector server in another process (the
 * worker's), only the call's link in this one. One page watches `/feed` from another process (a browser
 * would). Arms rotate every round (ABC, BCA, CAB, …). Measured: handoff time (the transfer tool call received
 * from the model → the agent_handoff item: the transfer done, the new agent on the line — with replies
 * prepared, `call.handoffs[].latencyMs` ends inside the machine's send, before the link hears of it)
 * and this process's CPU time per call.
 */
import { WebSocket } from 'ws';
import { attachInspector } from '../src/inspector/client.js';
import { startInspectorServer } from '../src/inspector/server.js';
import {
  type ChildServer,
  cpuMs,
  createBenchCall,
  fullGc,
  sleep,
  spawnBenchChild,
  startChildServer,
  watchSession,
} from './common.js';
import { type Summary, summarize } from './stats.js';

/**
 * Ten caller lines: the caller's name saved, three transfers (triage → billing, then billing → triage →
 * sales from one line: a chain), plain answers otherwise.
 */
const TURNS = [
  'Hi, my name is Maya',
  'I was charged twice on my card',
  'the invoice shows two payments',
  'when will the refund arrive',
  'I also want to upgrade my plan',
  'yes, upgrade my plan please',
  'what does the family plan cost',
  'is there a discount',
  'ok, thanks',
  'great',
];
const TRANSFERS = 3;

interface Sample {
  cpuMs: number;
  handoffs: number[];
  /**
   * Transfer tool call received from the model → function_tools_executed: the tool ran (the machine's
   * send and its subscribers — the link's snapshot post among them — and the swap request) and the
   * framework collected the turn's outputs.
   */
  toolBodies: number[];
  /** The inspector server's CPU during the call, when it runs in its own process. */
  serverCpuMs?: number;
}

async function oneCall(url: string, inspectorOrigin: string | null, serverCpu?: () => Promise<number>): Promise<Sample> {
  const server0 = serverCpu ? await serverCpu() : 0;
  // Each call starts from a collected heap, so no call pays for the garbage of the one before.
  await fullGc();
  const cpu0 = cpuMs();
  const toolCalls: number[] = [];
  const llmProbe = { onToolCalls: (at: number, _req: number, names: string[]) => names.some((n) => n.startsWith('pass_control_to_')) && toolCalls.push(at) };
  const call = createBenchCall({ url, llmProbe });
  const timeline = watchSession(call.session);
  if (inspectorOrigin) attachInspector(call, { url: inspectorOrigin });
  await call.start();
  await call.greeted;
  for (const line of TURNS) await call.session.run({ userInput: line }).wait();
  if (call.handoffs.length !== TRANSFERS) throw new Error(`inspector bench: expected ${TRANSFERS} transfers, got ${call.handoffs.length}`);
  const handoffs = toolCalls.map((t) => (timeline.handoffItems.find((x) => x >= t) ?? Number.NaN) - t);
  const toolBodies = toolCalls.map((t) => (timeline.toolsExecuted.find((x) => x >= t) ?? Number.NaN) - t);
  await call.close();
  // Let the link flush its last messages and the server broadcast them (coalesced per 50 ms).
  await sleep(120);
  const cpu = cpuMs() - cpu0;
  return { cpuMs: cpu, handoffs, toolBodies, serverCpuMs: serverCpu ? (await serverCpu()) - server0 : undefined };
}

export interface InspectorArm {
  handoff: Summary;
  toolBody: Summary;
  cpuPerCall: Summary;
  /** (median on − median off) / median off. */
  handoffOverheadPct: number;
  cpuOverheadPct: number;
  /**
   * Paired within each round (the arms of a round run back to back): median over rounds of
   * (on − off) / off — robust to load drifting during the run. The target is judged on these.
   */
  pairedHandoffOverheadPct: number;
  pairedCpuOverheadPct: number;
}

export interface InspectorResult {
  off: { handoff: Summary; toolBody: Summary; cpuPerCall: Summary };
  inProcess: InspectorArm;
  separateProcess: InspectorArm;
  /** What the link does per call: messages sent (events + snapshots + hello), and a WebSocket open + close (CPU, both ends, in-process). */
  perCall: {
    messages: number;
    wsOpenCloseCpuMs: Summary;
    /** The inspector server's CPU per call, measured in its own process (the separate-process arm). */
    serverCpuMs: Summary;
  };
  target: { text: string; met: boolean };
  setup: string;
}

/** Messages a call's link sends: its hello, every call event, one snapshot per macrostep of the routing actor. */
async function countMessages(url: string): Promise<number> {
  const call = createBenchCall({ url });
  let snapshots = 0;
  call.actor.system.inspect((ev) => {
    if (ev.type === '@xstate.snapshot' && ev.actorRef === call.actor) snapshots++;
  });
  await call.start();
  await call.greeted;
  for (const line of TURNS) await call.session.run({ userInput: line }).wait();
  await call.close();
  return 1 + call.events.length + snapshots;
}

async function wsOpenClose(origin: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    const c0 = cpuMs();
    const ws = new WebSocket(`${origin.replace(/^http/, 'ws')}/ingest`);
    await new Promise((r) => ws.once('open', r));
    ws.close();
    await new Promise((r) => ws.once('close', r));
    out.push(cpuMs() - c0);
  }
  return out;
}

export async function benchInspector(opts: { warmup: number; rounds: number; log: (s: string) => void }): Promise<InspectorResult> {
  const server: ChildServer = await startChildServer({ ttftMs: 0 });
  const local = await startInspectorServer({ port: 0 });
  const localOrigin = new URL(local.url).origin;
  const remote = await spawnBenchChild('./inspector-child.ts', { serve: true });
  const remoteOrigin = remote.info.url as string;
  // The pages: one process watching both servers.
  const viewers = await spawnBenchChild('./inspector-child.ts', { watch: [localOrigin, remoteOrigin] });
  const remoteCpu = async () => (await remote.ask('cpu')).cpuMs as number;
  const arms: { key: 'off' | 'inProcess' | 'separateProcess'; origin: string | null; serverCpu?: () => Promise<number> }[] = [
    { key: 'off', origin: null },
    { key: 'inProcess', origin: localOrigin },
    { key: 'separateProcess', origin: remoteOrigin, serverCpu: remoteCpu },
  ];
  const samples: Record<string, Sample[]> = { off: [], inProcess: [], separateProcess: [] };
  try {
    for (let i = 0; i < opts.warmup; i++) for (const a of arms) await oneCall(server.url, a.origin, a.serverCpu);
    for (let r = 0; r < opts.rounds; r++) {
      for (let k = 0; k < arms.length; k++) {
        const a = arms[(r + k) % arms.length]!;
        samples[a.key]!.push(await oneCall(server.url, a.origin, a.serverCpu));
      }
      if ((r + 1) % 5 === 0) opts.log(`  inspector: ${r + 1}/${opts.rounds} rounds`);
    }
    const h = (key: string) => summarize(samples[key]!.flatMap((s) => s.handoffs));
    const c = (key: string) => summarize(samples[key]!.map((s) => s.cpuMs));
    const pct = (a: number, b: number) => Number((((a - b) / b) * 100).toFixed(2));
    const offH = h('off');
    const offC = c('off');
    const arm = (key: string): InspectorArm => {
      const hh = h(key);
      const cc = c(key);
      const on = samples[key]!;
      const off = samples.off!;
      const pairedCpu = summarize(on.map((s, r) => (s.cpuMs - off[r]!.cpuMs) / off[r]!.cpuMs));
      const pairedHandoff = summarize(on.flatMap((s, r) => s.handoffs.map((x, j) => (x - off[r]!.handoffs[j]!) / off[r]!.handoffs[j]!)));
      return {
        handoff: hh,
        toolBody: summarize(on.flatMap((s) => s.toolBodies)),
        cpuPerCall: cc,
        handoffOverheadPct: pct(hh.median, offH.median),
        cpuOverheadPct: pct(cc.median, offC.median),
        pairedHandoffOverheadPct: Number((pairedHandoff.median * 100).toFixed(2)),
        pairedCpuOverheadPct: Number((pairedCpu.median * 100).toFixed(2)),
      };
    };
    const inProcess = arm('inProcess');
    const separateProcess = arm('separateProcess');
    const messages = await countMessages(server.url);
    await wsOpenClose(localOrigin, 5);
    const wsCost = summarize(await wsOpenClose(localOrigin, 40));
    return {
      perCall: { messages, wsOpenCloseCpuMs: wsCost, serverCpuMs: summarize(samples.separateProcess!.map((x) => x.serverCpuMs!)) },
      off: { handoff: offH, toolBody: summarize(samples.off!.flatMap((s) => s.toolBodies)), cpuPerCall: offC },
      inProcess,
      separateProcess,
      target: {
        text: 'inspector overhead under 5 % (handoff time and CPU per call, paired per round; in-process server as specified)',
        met: inProcess.pairedHandoffOverheadPct < 5 && inProcess.pairedCpuOverheadPct < 5,
      },
      setup:
        `text call, TTFT 0 ms (CPU-bound: the worst case for a relative overhead), greeting + 10 caller turns (3 transfers) per call; ` +
        `one /feed viewer per server in another process; ${opts.warmup} warm-up rounds, ${opts.rounds} rounds rotating the 3 arms; ` +
        `CPU per call = process.cpuUsage() from creating the call to 120 ms after it closed (full GC before each call)`,
    };
  } finally {
    await viewers.close();
    await remote.close();
    await local.close();
    await server.close();
  }
}
