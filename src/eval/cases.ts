/** The labelled caller conversations `npm run eval` plays (`eval/cases.json`), read and checked. */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const department = z.enum(['billing', 'sales', 'support', 'human']);
export const evalCase = z.object({
  id: z.string().min(1),
  /** The language the call starts in. */
  language: z.string().min(1),
  kind: z.enum(['clear', 'ambiguous', 'chain', 'off-topic', 'human', 'hostile', 'switch']),
  turns: z.array(z.string().min(1)).min(1),
  expect: z.object({
    /** The departments the call must reach, in order ([] when no transfer is right). */
    route: z.array(department),
    /** The language the caller speaks at the end: the agents must answer in it. */
    language: z.string().min(1),
  }),
});
export type EvalCase = z.infer<typeof evalCase>;
export type Department = z.infer<typeof department>;

/** The cases of a file, or an error naming the file and the first bad case. */
export function readCases(path: string): EvalCase[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
  const parsed = z.array(evalCase).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${path}: case ${issue.path.join('.')}: ${issue.message}`);
  }
  const ids = new Set<string>();
  for (const c of parsed.data) {
    if (ids.has(c.id)) throw new Error(`${path}: the id ${c.id} is used twice`);
    ids.add(c.id);
  }
  return parsed.data;
}

/**
 * At most `n` cases spread over the set, so `--max-calls 40` on a paid key plays every language and
 * every kind rather than the file's first 40 (all English): round-robin over the language-and-kind
 * groups, languages alternating within each kind (all in the file's order of first appearance).
 */
export function spread(cases: EvalCase[], n: number): EvalCase[] {
  const firsts = (key: (c: EvalCase) => string) => [...new Set(cases.map(key))];
  const groups = firsts((c) => c.kind).flatMap((kind) =>
    firsts((c) => c.language).map((language) => cases.filter((c) => c.kind === kind && c.language === language)),
  );
  const picked: EvalCase[] = [];
  for (let round = 0; picked.length < Math.min(n, cases.length); round++) {
    for (const g of groups) if (g[round] && picked.length < n) picked.push(g[round]!);
  }
  return picked;
}
