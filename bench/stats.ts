/** Small statistics helper for the benchmarks: every figure is reported as median, p95 and n. */

export interface Summary {
  n: number;
  median: number;
  p95: number;
  min: number;
  max: number;
  mean: number;
}

/** Linear interpolation between closest ranks (the usual "type 7" quantile). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (sorted.length === 1) return sorted[0]!;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function summarize(values: readonly number[], digits = 3): Summary {
  const v = values.filter((x) => Number.isFinite(x));
  const sorted = [...v].sort((a, b) => a - b);
  const r = (x: number) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
  return {
    n: sorted.length,
    median: r(quantile(sorted, 0.5)),
    p95: r(quantile(sorted, 0.95)),
    min: r(sorted[0] ?? Number.NaN),
    max: r(sorted.at(-1) ?? Number.NaN),
    mean: r(sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : Number.NaN),
  };
}

/** "12.3 / 18.9 (n=100)" — median / p95. */
export function fmt(s: Summary, unit = 'ms', digits = 2): string {
  if (!s.n) return 'n/a';
  return `${s.median.toFixed(digits)} / ${s.p95.toFixed(digits)} ${unit} (n=${s.n})`;
}

/** Least-squares slope and intercept of y over x. */
export function linearFit(xs: readonly number[], ys: readonly number[]): { slope: number; intercept: number } {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  const slope = den === 0 ? 0 : num / den;
  return { slope, intercept: my - slope * mx };
}

/** Deterministic PRNG (mulberry32) so every run uses the same "random" schedule and audio. */
export { seededRandom as rng } from '../src/records/webhooks.js';
