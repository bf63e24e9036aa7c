/**
 * `npm run bench`: Switchboard's benchmarks, one module per figure. Prints a table and writes
 * bench/results.json (machine, every figure with median / p95 / n, targets, where the time goes);
 * `--quick` and `--only` runs write bench/results.partial.json instead.
 *
 *   npm run bench                      # everything (about 12–13 minutes on 2 cores)
 *   npm run bench -- --quick           # fewer samples, for a smoke run (about 4 minutes)
 *   npm run bench -- --only=handoff,history   # some figures (handoff, deadair, history, longcall, capacity, voicecapacity, inspector, fleet, records, paths)
 *
 * Not part of `npm test`. Fixed seeds; A/B comparisons alternate within the same run.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { type CapacityResult, benchCapacity } from './capacity.js';
import { hasGc, initBenchLogging } from './common.js';
import { type DeadAirResult, benchDeadAir } from './dead-air.js';
import { type HandoffResult, benchHandoff } from './handoff.js';
import { type HistoryResult, benchHistory } from './history.js';
import { type LongCallResult, benchLongCall } from './long-call.js';
import { type InspectorResult, benchInspector } from './inspector.js';
import { type FleetResult, benchFleet } from './fleet.js';
import { type PathsResult, benchPaths } from './paths.js';
import { type RecordsResult, benchRecords } from './records.js';
import { transferNotes } from './report-calls.js';
import { type VoiceCapacityResult, benchVoiceCapacity } from './voice-capacity.js';
import { explainMisses, renderReport } from './report.js';
import { survivesUnhandledRejections } from '../src/logging.js';

export interface Results {
  machine: {
    cpuModel: string;
    cores: number;
    ramGB: number;
    node: string;
    platform: string;
    date: string;
    loadAverageAtStart: number[];
    loadAverageAtEnd?: number[];
    exposeGc: boolean;
  };
  command: string;
  totalRuntimeS?: number;
  handoff?: HandoffResult;
  deadAir?: DeadAirResult;
  history?: HistoryResult;
  capacity?: CapacityResult;
  /** Whole voice calls (the voice loop: VAD, end-of-turn model, STT, LLM, TTS) per process. */
  voiceCapacity?: VoiceCapacityResult;
  inspector?: InspectorResult;
  /** One inspector for a whole fleet: live calls from many worker processes followed within a second. */
  fleet?: FleetResult;
  paths?: PathsResult;
  /** Call records at scale: 10,000 calls listed with their figures, a page of them, one call (SQLite, PostgreSQL). */
  records?: RecordsResult;
  /** Long calls: tokens and time to first token per request with and without the history budget. */
  longCall?: LongCallResult;
  /** For each missed target: where the time goes. */
  missedTargets?: Record<string, string>;
  /** Where the time goes beyond the targets: chain hops, transfers with no line, replies not prepared. */
  transferNotes?: Record<string, string>;
}

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const want = (k: string) => !only || only.includes(k);
const log = (s: string) => process.stderr.write(`${s}\n`);

initBenchLogging();
survivesUnhandledRejections((m) => process.stderr.write(`bench: ${m}\n`));
const t0 = performance.now();
const r3 = (x: number) => Number(x.toFixed(2));
const results: Results = {
  machine: {
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    ramGB: r3(os.totalmem() / 1024 ** 3),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
    loadAverageAtStart: os.loadavg().map(r3),
    exposeGc: hasGc,
  },
  command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`,
};
if (!hasGc) log('note: run with --expose-gc (npm run bench does) for memory figures after a full GC');
log(`bench: ${results.machine.cpuModel}, ${results.machine.cores} cores, node ${results.machine.node}${quick ? ' (quick)' : ''}`);
if (os.loadavg()[0]! > results.machine.cores * 0.75) {
  log(`note: the machine is busy (load average ${os.loadavg()[0]!.toFixed(2)} on ${results.machine.cores} cores): expect noisier figures`);
}

const step = async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
  const t = performance.now();
  log(`[${name}]`);
  const r = await fn();
  log(`[${name}] ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return r;
};

if (want('paths')) {
  results.paths = await step('6. path generation', () => benchPaths({ caps: [1, 2, 3, 4, 5, 6], reps: quick ? 2 : 10, budgetMsPerRun: 5000, log }));
}
if (want('history')) {
  results.history = await step('3. history copy', () => benchHistory({ sizes: [10, 100, 1000, 10_000], samples: quick ? 30 : 200, log }));
}
if (want('longcall')) {
  results.longCall = await step('7. long calls', () => benchLongCall({ turns: 80, log }));
}
if (want('handoff')) {
  results.handoff = await step('1. handoff overhead', () => benchHandoff({ warmup: quick ? 5 : 20, n: quick ? 30 : 200, log }));
}
if (want('deadair')) {
  results.deadAir = await step('2. dead air', () =>
    benchDeadAir({
      speeds: [
        { ttftMs: 200, ttsTtfbMs: 150 },
        { ttftMs: 800, ttsTtfbMs: 400 },
      ],
      // ≈ 17 characters a second: a usual TTS speaking rate (the old line's length is what a prepared reply hides behind).
      ttsMsPerChar: 60,
      rounds: quick ? 1 : 4,
      staggerMs: 300,
      log,
    }),
  );
}
if (want('inspector')) {
  results.inspector = await step('5. inspector cost', () => benchInspector({ warmup: quick ? 1 : 3, rounds: quick ? 5 : 20, log }));
}
if (want('fleet')) {
  results.fleet = await step('8. one inspector for a fleet', () =>
    benchFleet({
      levels: quick ? [100, 1000] : [100, 1000, 2000, 2500, 3000, 4000],
      processes: 10,
      pages: 2,
      // A turn every 3–5 s (caller line, answer, the turn's latency; a transfer now and then): about 0.8
      // messages a second per call, busier than most phone calls (a caller's sentence and the answer take 6–10 s).
      turnMs: [3000, 5000],
      durationMs: [2 * 60_000, 8 * 60_000],
      windowS: quick ? 5 : 10,
      joinPerS: 100,
      settleS: { afterJoinS: 3, maxJoinS: 20 },
      graceS: 2,
      timeBudgetS: quick ? 60 : 160,
      target: { calls: 1000, processes: 10 },
      log,
    }),
  );
}
if (want('records')) {
  results.records = await step('9. call records at scale', () => benchRecords({ calls: quick ? 2000 : 10_000, samples: quick ? 3 : 7, log }));
}
if (want('capacity')) {
  results.capacity = await step('4. calls per process', () =>
    benchCapacity({
      ttftMs: 300,
      voiceLevels: quick ? [1, 10, 25] : [1, 10, 25, 50, 75, 100, 125, 150, 200],
      textLevels: quick ? [10, 25] : [10, 50, 100],
      turnsPerCall: quick ? 2 : 4,
      baselineTurns: quick ? 6 : 12,
      gapMs: [1000, 2000],
      timeBudgetS: quick ? 60 : 180,
      log,
    }),
  );
}

if (want('voicecapacity')) {
  results.voiceCapacity = await step('4b. whole voice calls per process', () =>
    benchVoiceCapacity({ ttftMs: 300, levels: quick ? [1, 10] : [1, 10, 25, 50, 75, 100], staggerMs: 3000, log }),
  );
}

results.machine.loadAverageAtEnd = os.loadavg().map(r3);
results.totalRuntimeS = Number(((performance.now() - t0) / 1000).toFixed(1));
results.missedTargets = explainMisses(results);
results.transferNotes = transferNotes(results.handoff, results.deadAir);
// A partial or quick run does not overwrite the full run's results.
const out = fileURLToPath(new URL(quick || only ? './results.partial.json' : './results.json', import.meta.url));
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
// The long-call figures the README quotes are kept on their own (committed), whichever run measured them last.
if (results.longCall && !quick) {
  const longOut = fileURLToPath(new URL('./long-call.json', import.meta.url));
  writeFileSync(longOut, `${JSON.stringify({ machine: results.machine, command: results.command, longCall: results.longCall }, null, 2)}\n`);
}
// So are the fleet figures docs/bench.md quotes.
if (results.fleet && !quick) {
  const fleetOut = fileURLToPath(new URL('./fleet.json', import.meta.url));
  writeFileSync(fleetOut, `${JSON.stringify({ machine: results.machine, command: results.command, fleet: results.fleet }, null, 2)}\n`);
}
// And the records figures (figure 9).
if (results.records && !quick) {
  const recordsOut = fileURLToPath(new URL('./records.json', import.meta.url));
  writeFileSync(recordsOut, `${JSON.stringify({ machine: results.machine, command: results.command, records: results.records }, null, 2)}\n`);
}
process.stdout.write(`${renderReport(results)}\n`);
log(`wrote ${out} (${results.totalRuntimeS} s)`);
// Framework timers (closing sessions, keep-alive sockets) would keep the process up for a while.
process.exit(0);
