/** The keypad map setting (`DTMF_MAP`), read with the other settings: no LiveKit client is loaded for it. */
import type { Target } from '../../machines/router.js';
import { DEPARTMENTS, isDepartment } from '../../machines/router.js';

/** Keypad digits → transfer targets. `DTMF_MAP`, e.g. `1:billing,2:sales,3:support,0:human`. */

export function parseDtmfMap(spec: string): Record<string, Target> {
  const map: Record<string, Target> = {};
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([0-9*#A-D]):([a-z]+)$/.exec(part);
    if (!m) throw new Error(`"${part}" is not digit:department (e.g. 1:billing)`);
    const [, digit, target] = m as unknown as [string, string, string];
    if (!isDepartment(target) && target !== 'human') {
      throw new Error(`"${target}" is not one of ${[...DEPARTMENTS, 'human'].join(', ')}`);
    }
    if (map[digit]) throw new Error(`digit ${digit} is mapped twice`);
    map[digit] = target;
  }
  return map;
}
