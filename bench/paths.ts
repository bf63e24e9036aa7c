/**
 * Figure 6 — path generation: time and number of paths of the model-based suite's generation
 * (`modelFor` from dev/routing-model.ts, the model the suite itself uses) — `getSimplePaths()` and
 * `getShortestPaths()` for caps 1 to 6, with and without a human number. Simple paths grow fast with
 * the cap: a configuration whose simple-path run takes longer than the per-run budget is not repeated,
 * and larger caps are skipped (noted).
 */
import { type Summary, summarize } from './stats.js';
import { modelFor } from '../dev/routing-model.js';

export interface PathRow {
  cap: number;
  human: boolean;
  kind: 'simple' | 'shortest';
  paths: number | null;
  /** Longest path, in steps (events). */
  maxSteps: number | null;
  time: Summary | null;
  note?: string;
}

export interface PathsResult {
  rows: PathRow[];
  setup: string;
}

export function benchPaths(opts: { caps: number[]; reps: number; budgetMsPerRun: number; log: (s: string) => void }): PathsResult {
  const rows: PathRow[] = [];
  // Warm-up (JIT): one small run of each kind, not measured.
  modelFor(2, true).getSimplePaths();
  modelFor(2, true).getShortestPaths();
  for (const kind of ['shortest', 'simple'] as const) {
    for (const human of [true, false]) {
      let skipFrom: number | null = null;
      for (const cap of opts.caps) {
        if (skipFrom !== null) {
          rows.push({ cap, human, kind, paths: null, maxSteps: null, time: null, note: `skipped: cap ${skipFrom} already took longer than ${opts.budgetMsPerRun} ms` });
          continue;
        }
        const times: number[] = [];
        let paths = 0;
        let maxSteps = 0;
        for (let r = 0; r < opts.reps; r++) {
          const t = performance.now();
          const model = modelFor(cap, human);
          const ps = kind === 'simple' ? model.getSimplePaths() : model.getShortestPaths();
          const dt = performance.now() - t;
          times.push(dt);
          paths = ps.length;
          maxSteps = Math.max(...ps.map((p) => p.steps.length - 1));
          if (dt > opts.budgetMsPerRun) break; // too slow to repeat
        }
        const over = times.at(-1)! > opts.budgetMsPerRun;
        rows.push({ cap, human, kind, paths, maxSteps, time: summarize(times), ...(over ? { note: `one run took ${times.at(-1)!.toFixed(0)} ms: not repeated` } : {}) });
        if (over) skipFrom = cap;
      }
      opts.log(`  paths: ${kind}, human ${human ? 'available' : 'absent'} done`);
    }
  }
  return {
    rows,
    setup:
      `the suite's routing model (modelFor in dev/routing-model.ts: its events and state identity); each figure includes creating the model; ` +
      `one unmeasured warm-up run of each kind (cap 2), then ${opts.reps} runs per configuration; ` +
      `a run over ${opts.budgetMsPerRun} ms is not repeated and larger caps of that kind are skipped`,
  };
}
