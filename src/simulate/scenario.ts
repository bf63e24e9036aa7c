/**
 * The scenarios `npm run simulate` plays (`eval/scenarios/*.yaml`), read and checked: who the caller
 * is, what they want, how they behave, and what must happen. A bad file is one error naming the file
 * and the field.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';

const desk = z.enum(['triage', 'billing', 'sales', 'support']);
/** The departments a call can reach: the desks, or a person. */
const reached = z.enum(['billing', 'sales', 'support', 'human']);
export const LANGUAGES = ['en', 'hi', 'hinglish'] as const;

/** What the caller can do besides stating a need (each with a default line per language; `say` overrides it). */
export const BEHAVIOURS = ['off_topic', 'injection', 'ask_person', 'change_mind', 'silent'] as const;

const need = z
  .object({
    /** What the caller says to ask for it ({name}, {account}… are the caller's facts). */
    say: z.string().min(1),
    /** The department this need belongs to (none: any desk may answer it). */
    desk: desk.optional(),
    /** Said only when an agent asks what else the caller needs ("anything else?"); otherwise left unsaid. */
    only_when_asked: z.boolean().default(false),
  })
  .strict();

const behaviour = z
  .object({
    kind: z.enum(BEHAVIOURS),
    /** After which need (1-based; 0: before the first) the caller does it. */
    after: z.number().int().min(0),
    /** The caller's words (default: a line of this kind in the caller's language). */
    say: z.string().min(1).optional(),
  })
  .strict();

export const scenarioSchema = z
  .object({
    /** Unique; the file name without `.yaml` when left out. */
    id: z.string().regex(/^[\w-]+$/, 'letters, digits, - and _ only').optional(),
    title: z.string().min(1),
    tags: z.array(z.string().min(1)).default([]),
    caller: z
      .object({
        persona: z.string().min(1),
        language: z.enum(LANGUAGES),
        mood: z.string().min(1).default('calm'),
        /** What the caller knows and gives when asked (name, account, phone, email, …), never volunteered. */
        facts: z.record(z.string().regex(/^[a-z_]+$/, 'lower-case words joined by _'), z.union([z.string().min(1), z.number()]).transform(String)).default({}),
      })
      .strict(),
    needs: z.array(need).min(1),
    behaviour: z.array(behaviour).default([]),
    expect: z
      .object({
        /** The departments reached, in order ([]: no transfer is right). */
        route: z.array(reached),
        /** resolved: the caller leaves with their needs met; person: handed to a person; unresolved: leaves without. */
        outcome: z.enum(['resolved', 'person', 'unresolved']).default('resolved'),
        /** The new desk's reply after each transfer within this many ms. */
        reply_after_transfer_ms: z.number().int().positive().default(4000),
        /** Words no agent may say (case-insensitive), e.g. its instructions after a prompt injection. */
        never_say: z.array(z.string().min(1)).default([]),
      })
      .strict(),
    /** What the LLM judge (JUDGE_MODEL) checks, one criterion per line. */
    rubric: z.array(z.string().min(1)).default([]),
    /** The caller gives up after this many lines of theirs. */
    max_turns: z.number().int().min(1).max(60).default(12),
  })
  .strict();

export type ScenarioInput = z.input<typeof scenarioSchema>;
export type Scenario = z.infer<typeof scenarioSchema> & { id: string; file: string };
export type Need = Scenario['needs'][number];
export type Behaviour = Scenario['behaviour'][number];

/** A scenario file that cannot be used: the message names the file and the field. */
export class ScenarioError extends Error {}

const fieldOf = (path: (string | number)[]) =>
  path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${p}` : p), '') || '(the file)';

/** One scenario file, checked; throws ScenarioError naming the file and the field. */
export function readScenario(path: string): Scenario {
  const name = basename(path);
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ScenarioError(`${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = scenarioSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ScenarioError(`${path}: ${fieldOf(issue.path)}: ${issue.message}`);
  }
  const s = parsed.data;
  const problem = planProblem(s);
  if (problem) throw new ScenarioError(`${path}: ${problem}`);
  return { ...s, id: s.id ?? name.replace(/\.ya?ml$/, ''), file: name };
}

/** What makes a scenario's plan impossible to play (a behaviour after a need that is not there, a fact never defined). */
function planProblem(s: z.infer<typeof scenarioSchema>): string | null {
  for (const [i, b] of s.behaviour.entries()) {
    if (b.after > s.needs.length) return `behaviour[${i}].after: ${b.after}, but there are ${s.needs.length} needs`;
  }
  const lines = [...s.needs.map((n, i) => [`needs[${i}].say`, n.say] as const), ...s.behaviour.map((b, i) => [`behaviour[${i}].say`, b.say ?? ''] as const)];
  for (const [field, line] of lines) {
    for (const [, fact] of line.matchAll(/\{(\w+)\}/g)) {
      if (!(fact! in s.caller.facts)) return `${field}: {${fact}} is not one of caller.facts`;
    }
  }
  return null;
}

/** Every `*.yaml` scenario of a folder, in file-name order; ids must be unique. */
export function readScenarios(dir: string): Scenario[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (err) {
    throw new ScenarioError(`cannot read the scenarios in ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!files.length) throw new ScenarioError(`${dir}: no scenario files (*.yaml)`);
  const seen = new Map<string, string>();
  return files.map((f) => {
    const s = readScenario(join(dir, f));
    const other = seen.get(s.id);
    if (other) throw new ScenarioError(`${join(dir, f)}: id: ${s.id} is also the id of ${other}`);
    seen.set(s.id, f);
    return s;
  });
}

/** A line with the caller's facts filled in ("my account is {account}"). */
export const withFacts = (line: string, facts: Record<string, string>) => line.replace(/\{(\w+)\}/g, (m, k: string) => facts[k] ?? m);
