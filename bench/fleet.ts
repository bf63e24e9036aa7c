/**
 * Figure 8 — one inspector for a whole fleet. The product's inspector (`src/cli/inspector.ts`, started as
 * `npm run inspector` starts it, with a token) in its own process; worker processes (`./fleet-worker.ts`)
 * holding live calls, each call linked by the product's `attachInspector` (one WebSocket per call); pages
 * (`./fleet-page.ts`, another process) watching `/feed` as the page does. The live calls are stepped up
 * level by level; at each, after the new calls' past turns have been taken in, for a window of seconds:
 *
 * - the page update latency: for every transcript line and transfer made in the window, its event's `at`
 *   (stamped by the call, same machine) → the page holding it; lines never seen count as late;
 * - the messages the calls' links posted per second (what the inspector ingested: hellos, events, snapshots);
 * - the inspector process's CPU (% of one core) and resident memory, the machine's busy share and load;
 * - a page opened then (in a process of its own): how long its welcome took, how big it was, and whether
 *   it got it and stayed connected.
 *
 * The steps stop at the first level whose updates are not on the pages within a second at p95, whose
 * pages were cut off, or where a page opened then did not get its welcome and stay.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sleep, spawnBenchChild } from './common.js';
import { busyBetween, machineTicks, processCpuMs, processRssMB } from './proc.js';
import { type Summary, summarize } from './stats.js';

type Child = Awaited<ReturnType<typeof spawnBenchChild>>;

export interface FleetLevel {
  calls: number;
  processes: number;
  pages: number;
  /** How long after the last of the calls added at this level started they were all linked (null: not within `maxJoinS`). */
  joinS: number | null;
  windowS: number;
  /** Messages the calls' links posted per second in the window (hellos, events, routing snapshots). */
  messagesPerS: number;
  /** Transcript lines made per second in the window. */
  linesPerS: number;
  /** Event made → on the page, ms: transcript lines, over every page. */
  lineLatency: Summary;
  /** The same for transfers (a new leg of the route). */
  transferLatency: Summary;
  /** The same for calls that started in the window: the call's start → the page listing it. */
  startLatency: Summary;
  /** Lines made in the window × pages, and how many of them no page had by the end of the grace time. */
  expected: number;
  missing: number;
  /** p95 of the line latency, a missing line counted as later than any (null: the p95 is a line never seen). */
  p95WithMissingMs: number | null;
  inspector: { cpuPct: number | null; rssMB: number | null };
  /** All worker processes together, and the pages' process (% of one core). */
  workersCpuPct: number | null;
  pagesCpuPct: number | null;
  /** Share of the machine's cores busy in the window (every process, ours or not). */
  machineBusyPct: number | null;
  /** CPU of every other process on the machine in the window (% of one core): other work disturbing the figure. */
  othersCpuPct: number | null;
  loadAverage: number[];
  /** What one page received per second. */
  feedPerPage: { messagesPerS: number; MBPerS: number };
  /** Pages cut off and reconnected during the level. */
  reconnects: number;
  /** A page opened at this level: its welcome (every call) and whether it stayed connected 3 s. */
  pageOpen: { welcomeMs: number; welcomeMB: number | null; calls: number; stayed: boolean };
  /**
   * Every kind of update on the pages within a second at p95 (lines, a missing one counted as late;
   * transfers; new calls), no page cut off, and a page opened at this level gets its welcome and stays.
   */
  withinSecond: boolean;
}

export interface FleetResult {
  levels: FleetLevel[];
  /**
   * Levels measured again: a level that missed while other processes used over half a core is measured
   * once more (its first window is kept here), so other work on a shared machine does not end the steps.
   */
  disturbed: FleetLevel[];
  /** The most live calls followed within a second. */
  best: { calls: number; processes: number } | null;
  target: { text: string; met: boolean };
  setup: string;
  /** Why the steps stopped. */
  stopped: string;
}

export interface FleetOptions {
  levels: number[];
  processes: number;
  pages: number;
  /** A turn every [min, max] ms. */
  turnMs: [number, number];
  /** A call lasts [min, max] ms; then it ends and its worker starts another. */
  durationMs: [number, number];
  windowS: number;
  /** Calls added at a level start at most this many a second (each with its past turns, sent at once). */
  joinPerS: number;
  /**
   * The calls added at a level are given until all are linked (their past turns sent; at most `maxJoinS`),
   * then `afterJoinS` more, before the window.
   */
  settleS: { afterJoinS: number; maxJoinS: number };
  /** Updates still arriving this long after the window count (with their latency). */
  graceS: number;
  /** Stop stepping up past this (the levels so far are kept). */
  timeBudgetS: number;
  target: { calls: number; processes: number };
  log: (s: string) => void;
}

// ---- the inspector, as `npm run inspector` runs it ---------------------------------------------------

interface InspectorProcess {
  url: string;
  origin: string;
  pid: number;
  close(): Promise<void>;
}

/**
 * `src/cli/inspector.ts` in its own process (the same node and tsx loader as the bench, minus --expose-gc),
 * on a free loopback port, with a token, past calls off. BENCH_FLEET_CPU_PROF=<dir> profiles it (`--cpu-prof`).
 */
async function startInspector(token: string): Promise<InspectorProcess> {
  const script = fileURLToPath(new URL('../src/cli/inspector.ts', import.meta.url));
  const profDir = process.env.BENCH_FLEET_CPU_PROF;
  const execArgv = [...process.execArgv.filter((a) => a !== '--expose-gc'), ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])];
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('INSPECTOR_') && !['DATABASE_URL', 'REDACT_PII', 'CALL_WEBHOOK_URL'].includes(k)),
  );
  const child: ChildProcess = spawn(process.execPath, [...execArgv, script], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...env, INSPECTOR_HOST: '127.0.0.1', INSPECTOR_PORT: '0', INSPECTOR_TOKEN: token, CALLS_DB: 'off' },
  });
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the inspector did not start in 20 s')), 20_000);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = l.match(/^Inspector: (\S+)/);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`the inspector exited (${code})`)));
  });
  return {
    url,
    origin: new URL(url).origin,
    pid: child.pid!,
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

// ---- one level -------------------------------------------------------------------------------------

interface Fleet {
  inspector: InspectorProcess;
  workers: Child[];
  workerPids: number[];
  pages: Child;
  pagesPid: number;
  /** Opens a page at each level, in a process of its own (as a new browser tab would be). */
  prober: Child;
}

interface PageCounters {
  messages: number;
  bytes: number;
  reconnects: number;
}

const counters = async (f: Fleet) => (await f.pages.ask('counters')).pages as PageCounters[];

const sumOrNull = (xs: (number | null)[]) => (xs.some((x) => x === null) ? null : xs.reduce((a: number, b) => a + b!, 0));
const cpuOf = (pids: number[]) => sumOrNull(pids.map(processCpuMs));
const pctOf = (a: number | null, b: number | null, ms: number) => (a === null || b === null ? null : Number((((b - a) / ms) * 100).toFixed(1)));

async function sumAsk(children: Child[], q: string, key: string): Promise<number> {
  const answers = await Promise.all(children.map((c) => c.ask(q)));
  return answers.reduce((n, a) => n + (a[key] as number), 0);
}

/** Waits until every live call's link is open (at most `maxS`): the seconds it took, or null. */
async function joined(f: Fleet, maxS: number): Promise<number | null> {
  const t0 = performance.now();
  while ((performance.now() - t0) / 1000 < maxS) {
    const answers = await Promise.all(f.workers.map((w) => w.ask('linked')));
    if (answers.every((a) => a.linked === a.calls)) return Number(((performance.now() - t0) / 1000).toFixed(1));
    await sleep(250);
  }
  return null;
}

/** Adds `add` calls across the workers, as evenly as they go. */
async function addAcross(f: Fleet, add: number): Promise<void> {
  const n = f.workers.length;
  await Promise.all(f.workers.map((w, i) => w.ask(`add ${Math.floor(add / n) + (i < add % n ? 1 : 0)}`)));
}

/** Adds calls up to `calls`, at most `perS` a second (a fleet's calls do not all start in the same second). */
async function growTo(f: Fleet, from: number, calls: number, perS: number): Promise<void> {
  for (let n = from; n < calls; ) {
    const batch = Math.min(perS, calls - n);
    await addAcross(f, batch);
    n += batch;
    if (n < calls) await sleep(1000);
  }
}

/** p95 with `missing` values counted as later than any seen; null when the p95 falls among the missing. */
function p95WithMissing(latencies: number[], missing: number): number | null {
  const sorted = [...latencies].sort((a, b) => a - b);
  const pos = (sorted.length + Math.max(0, missing) - 1) * 0.95;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  if (pos < 0 || hi >= sorted.length) return null;
  return Number((sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo)).toFixed(1));
}

/** The counters a level is measured between. */
interface Reading {
  at: number;
  inspectorCpuMs: number | null;
  workersCpuMs: number | null;
  pagesCpuMs: number | null;
  machine: ReturnType<typeof machineTicks>;
  messages: number;
  feed: PageCounters[];
}

async function read(f: Fleet): Promise<Reading> {
  return {
    at: Date.now(),
    inspectorCpuMs: processCpuMs(f.inspector.pid),
    workersCpuMs: cpuOf(f.workerPids),
    pagesCpuMs: cpuOf([f.pagesPid]),
    machine: machineTicks(),
    messages: await sumAsk(f.workers, 'messages', 'messages'),
    feed: await counters(f),
  };
}

/** One level: a window of `o.windowS`, the updates of events made in it (counted until `o.graceS` after), a page opened. */
async function measureLevel(f: Fleet, calls: number, joinS: number | null, o: FleetOptions): Promise<FleetLevel> {
  const before = await read(f);
  await sleep(o.windowS * 1000);
  const after = await read(f);
  const rssMB = processRssMB(f.inspector.pid);
  const loadAverage = os.loadavg().map((x) => Number(x.toFixed(2)));
  await sleep(o.graceS * 1000);
  const ms = after.at - before.at;
  const sent = await sumAsk(f.workers, `lines ${before.at} ${after.at}`, 'lines');
  const seen = (await f.pages.ask(`window ${before.at} ${after.at}`)).pages as { lines: number[]; transfers: number[]; starts: number[] }[];
  const lines = seen.flatMap((p) => p.lines);
  const expected = sent * seen.length;
  const missing = Math.max(0, expected - lines.length);
  const p95 = p95WithMissing(lines, missing);
  const reconnects = (await counters(f)).reduce((n, p, i) => n + p.reconnects - before.feed[i]!.reconnects, 0);
  const pageOpen = (await f.prober.ask('open')) as FleetLevel['pageOpen'];
  const busy = busyBetween(before.machine, after.machine);
  const perS = (n: number) => (n / ms) * 1000;
  const inspectorCpuPct = pctOf(before.inspectorCpuMs, after.inspectorCpuMs, ms);
  const workersCpuPct = pctOf(before.workersCpuMs, after.workersCpuMs, ms);
  const pagesCpuPct = pctOf(before.pagesCpuMs, after.pagesCpuMs, ms);
  const ours = sumOrNull([inspectorCpuPct, workersCpuPct, pagesCpuPct]);
  const level: FleetLevel = {
    calls,
    processes: f.workers.length,
    pages: seen.length,
    joinS,
    windowS: Number((ms / 1000).toFixed(1)),
    messagesPerS: Math.round(perS(after.messages - before.messages)),
    linesPerS: Math.round(perS(sent)),
    lineLatency: summarize(lines, 1),
    transferLatency: summarize(seen.flatMap((p) => p.transfers), 1),
    startLatency: summarize(seen.flatMap((p) => p.starts), 1),
    expected,
    missing,
    p95WithMissingMs: p95,
    inspector: { cpuPct: inspectorCpuPct, rssMB },
    workersCpuPct,
    pagesCpuPct,
    machineBusyPct: busy === null ? null : Number((busy * 100).toFixed(1)),
    othersCpuPct: busy === null || ours === null ? null : Number(Math.max(0, busy * os.cpus().length * 100 - ours).toFixed(1)),
    loadAverage,
    feedPerPage: {
      messagesPerS: Math.round(perS(after.feed[0]!.messages - before.feed[0]!.messages)),
      MBPerS: Number((perS(after.feed[0]!.bytes - before.feed[0]!.bytes) / 1048576).toFixed(2)),
    },
    reconnects,
    pageOpen,
    withinSecond: false,
  };
  level.withinSecond = whyNot(level) === '';
  return level;
}

/** What a level missed, in words ('' when nothing): every kind of update within a second at p95, no page cut off, a new page opens. */
function whyNot(l: FleetLevel): string {
  const why: string[] = [];
  if (l.p95WithMissingMs === null || l.p95WithMissingMs > 1000) why.push('transcript lines not on the pages within a second at p95');
  if (l.transferLatency.n > 0 && l.transferLatency.p95 > 1000) why.push(`transfers on the pages in ${l.transferLatency.p95} ms at p95`);
  if (l.startLatency.n > 0 && l.startLatency.p95 > 1000) why.push(`new calls on the pages in ${l.startLatency.p95} ms at p95`);
  if (l.reconnects > 0) why.push(`pages cut off (${l.reconnects} reconnects)`);
  if (!l.pageOpen.stayed) why.push('a page opened then did not get its welcome or was cut off');
  if (l.joinS === null) why.push('the calls added were not all linked in time');
  return why.join('; ');
}

/** A level in one line, for the bench's progress. */
function describe(l: FleetLevel): string {
  return (
    `  fleet: ${l.calls} calls / ${l.processes} processes (added calls linked in ${l.joinS ?? 'not all'} s): ${l.messagesPerS} msg/s in, page update p50 ${l.lineLatency.median} / p95 ${l.p95WithMissingMs ?? 'not seen'} ms ` +
    `(transfers p95 ${l.transferLatency.p95}, new calls p95 ${l.startLatency.p95}) ` +
    `(${l.missing} of ${l.expected} missing), inspector ${l.inspector.cpuPct} % CPU, ${l.inspector.rssMB} MB; machine ${l.machineBusyPct} % busy, ` +
    `others ${l.othersCpuPct} % of a core, load ${l.loadAverage[0]}; a page opened now: welcome ${l.pageOpen.welcomeMB ?? 'none'} MB in ${l.pageOpen.welcomeMs} ms${l.pageOpen.stayed ? '' : ', not opened'}`
  );
}

/** The worker processes, the pages and the prober, around an inspector already started. */
async function startFleet(o: FleetOptions, inspector: InspectorProcess, token: string, children: Child[]): Promise<Fleet> {
  const workers = await Promise.all(
    Array.from({ length: o.processes }, (_, index) =>
      spawnBenchChild('./fleet-worker.ts', { url: inspector.origin, token, index, seed: 1000 + index, turnMs: o.turnMs, durationMs: o.durationMs }),
    ),
  );
  children.push(...workers);
  const feed = `${inspector.origin.replace(/^http/, 'ws')}/feed?token=${encodeURIComponent(token)}`;
  const pages = await spawnBenchChild('./fleet-page.ts', { feed, origin: inspector.origin, pages: o.pages });
  children.push(pages);
  const prober = await spawnBenchChild('./fleet-page.ts', { feed, origin: inspector.origin, pages: 0 });
  children.push(prober);
  return { inspector, workers, workerPids: workers.map((w) => w.info.pid as number), pages, pagesPid: pages.info.pid as number, prober };
}

/** Other processes' CPU (% of one core) past which a missed level is measured once more. */
const DISTURBED_PCT = 50;

/** Steps the live calls up level by level until one is not within a second (or the time budget is spent). */
async function stepUp(f: Fleet, o: FleetOptions, t0: number): Promise<{ levels: FleetLevel[]; disturbed: FleetLevel[]; stopped: string }> {
  const levels: FleetLevel[] = [];
  const disturbed: FleetLevel[] = [];
  let current = 0;
  for (const calls of o.levels) {
    if ((performance.now() - t0) / 1000 > o.timeBudgetS) return { levels, disturbed, stopped: `time budget (${o.timeBudgetS} s) reached before ${calls} calls` };
    await growTo(f, current, calls, o.joinPerS);
    current = calls;
    const joinS = await joined(f, o.settleS.maxJoinS);
    await sleep(o.settleS.afterJoinS * 1000);
    let level = await measureLevel(f, calls, joinS, o);
    o.log(describe(level));
    if (!level.withinSecond && (level.othersCpuPct ?? 0) > DISTURBED_PCT) {
      o.log(`  fleet: other processes used ${level.othersCpuPct} % of a core during that window: measuring ${calls} calls again`);
      disturbed.push(level);
      level = await measureLevel(f, calls, joinS, o);
      o.log(describe(level));
    }
    levels.push(level);
    if (!level.withinSecond) return { levels, disturbed, stopped: `at ${calls} calls: ${whyNot(level)}` };
  }
  return { levels, disturbed, stopped: 'every level was within a second' };
}

function setupText(o: FleetOptions): string {
  return (
    `the inspector as \`npm run inspector\` runs it (its own process, a token, past calls off); ${o.processes} worker processes, each call linked by ` +
    `\`attachInspector\` (one WebSocket per call); calls play the real routing machine and a scripted conversation: a turn every ` +
    `${o.turnMs[0] / 1000}–${o.turnMs[1] / 1000} s (the caller's line, the desk's answer ~1 s later, the turn's latency), caller info after the first answer, a transfer at turn 2 ` +
    `and at 6 % of later turns; each lasts ${o.durationMs[0] / 60000}–${o.durationMs[1] / 60000} min and is replaced when it ends; calls added at a level join ` +
    `${o.joinPerS} a second at ages spread over their length (their past turns sent at once); the window starts ${o.settleS.afterJoinS} s after all are linked; ` +
    `${o.pages} pages in another process, and at each level one more page opened in a third; ${o.windowS} s window per level, updates arriving up to ` +
    `${o.graceS} s after it counted; latency = the event's \`at\` (the call's Date.now()) → the page holding it`
  );
}

export async function benchFleet(o: FleetOptions): Promise<FleetResult> {
  const t0 = performance.now();
  const token = randomBytes(18).toString('base64url');
  const inspector = await startInspector(token);
  const children: Child[] = [];
  try {
    const fleet = await startFleet(o, inspector, token, children);
    o.log(`  fleet: inspector pid ${inspector.pid}, ${o.processes} worker processes, ${o.pages} pages`);
    const { levels, disturbed, stopped } = await stepUp(fleet, o, t0);
    const last = levels.filter((l) => l.withinSecond).at(-1);
    const best = last ? { calls: last.calls, processes: last.processes } : null;
    return {
      levels,
      disturbed,
      best,
      target: {
        text: `≥ ${o.target.calls} live calls from ≥ ${o.target.processes} worker processes followed with page updates within a second at p95`,
        met: !!best && best.calls >= o.target.calls && best.processes >= o.target.processes,
      },
      setup: setupText(o),
      stopped,
    };
  } finally {
    await Promise.all(children.map((c) => c.close()));
    await inspector.close();
  }
}
