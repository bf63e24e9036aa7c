/**
 * Another process's CPU time and memory, and the whole machine's busy time, read from Linux's /proc (the
 * way `top` reads them). Elsewhere every reading is null and the figures that need it say n/a.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const TICKS_PER_S = 100;

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has used so far, in ms; null when it cannot be read. */
export function processCpuMs(pid: number): number | null {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return null;
  // Fields after the command name (which may hold spaces) in parentheses: utime is the 14th field, stime the 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_S) * 1000;
}

/** A process's resident memory, in MB; null when it cannot be read. */
export function processRssMB(pid: number): number | null {
  const m = read(`/proc/${pid}/status`)?.match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number((Number(m[1]) / 1024).toFixed(1)) : null;
}

/** The machine's CPU counters so far: busy and total ticks over all cores. */
export function machineTicks(): { busy: number; total: number } | null {
  const line = read('/proc/stat')?.split('\n')[0];
  if (!line?.startsWith('cpu ')) return null;
  const t = line.trim().split(/\s+/).slice(1).map(Number);
  const total = t.reduce((a, b) => a + b, 0);
  // idle and iowait are the not-busy ones.
  return { busy: total - (t[3] ?? 0) - (t[4] ?? 0), total };
}

/** Share of all cores busy between two readings (0–1), or null. */
export function busyBetween(a: ReturnType<typeof machineTicks>, b: ReturnType<typeof machineTicks>): number | null {
  if (!a || !b || b.total === a.total) return null;
  return (b.busy - a.busy) / (b.total - a.total);
}
