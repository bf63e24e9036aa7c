/**
 * The framework's log (LiveKit Agents logs through pino) as a person at a terminal should see it.
 *
 * LiveKit's logger must be initialised before anything logs; it writes JSON lines to whatever
 * `process.stdout` is at that moment. Here it is handed a stream of ours instead, which reads each
 * entry and:
 *
 * - drops the entries a program knows to be harmless or already reported in its own words (`drop`),
 *   at the default level; at `debug` or `trace` everything is shown, as asked;
 * - rewrites an entry into a clear line of its own (`rewrite`, e.g. the worker naming LIVEKIT_URL);
 * - writes the rest as JSON lines (`format: 'json'`, for log collectors) or as one readable line
 *   each (`format: 'line'`: time, level, message, fields; colour only on a terminal);
 * - goes to stderr with `toStderr` (a command whose stdout is a data stream: the text call's JSON);
 * - with `redact` (REDACT_PII=on), masks personal data in every entry before anything else sees it
 *   (`redactDeep`: caller text, caller details, errors), and in lines that are not entries.
 */
import { Writable } from 'node:stream';
import { initializeLogger } from '@livekit/agents';
import { redactDeep, redactText } from './redact.js';

/** One pino entry: `level` (10 trace … 60 fatal), `msg`, and the entry's fields. */
export type LogEntry = Record<string, unknown> & { level: number; msg?: string; time?: number };

export interface LogOptions {
  level: string;
  toStderr?: boolean;
  /** `json` (pino's own lines, the default) or `line` (one readable line per entry). */
  format?: 'json' | 'line';
  /** Entries not worth showing at this level (ignored at debug and trace). */
  drop?: (e: LogEntry) => boolean;
  /** A line of our own for an entry (null: print it as usual); may also act on it (the worker stops). */
  rewrite?: (e: LogEntry) => string | null;
  /** Mask phone numbers, card and account numbers and email addresses (REDACT_PII=on). */
  redact?: boolean;
}

export const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
const NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLOURS: Record<number, string> = { 10: '90', 20: '34', 30: '32', 40: '33', 50: '31', 60: '35' };

/**
 * The framework logs every error a tool throws at ERROR, the call's own refusals too ("Transfer
 * refused: …", a second transfer in one turn, end_call after a transfer). The call reports each in its
 * own words (a `rejected` event, the agent telling the caller); as a log line it is noise, and in
 * production an alert for an ordinary turn of a call. Dropped at the default level by every command.
 */
export function refusalWeReport(e: LogEntry): boolean {
  if (e.msg !== 'exception occurred while executing tool') return false;
  return /^(Transfer refused: |A transfer is already under way|This call has been transferred)/.test(errorMessageOf(e) ?? '');
}

/**
 * What every text call (`npm run chat`, `npm run demo`) leaves out of its log at the default level:
 *
 * - a refusal the call reports itself (`refusalWeReport`);
 * - "speech scheduling is paused": the framework noting, as the session closes, that it is not
 *   answering a turn any more — every text call ends that way; nothing is lost (the call is over).
 * - "failed to generate LLM completion": a failed LLM request; the call reports each failed turn
 *   itself (an `error` line naming the model server), so the framework's stack trace adds nothing.
 */
export function harmlessInTextCalls(e: LogEntry): boolean {
  if (refusalWeReport(e)) return true;
  const msg = typeof e.msg === 'string' ? e.msg : '';
  if (e.level <= LEVELS.warn! && /speech scheduling is paused/.test(msg)) return true;
  if (e.level <= LEVELS.warn! && /^failed to generate LLM completion/.test(msg)) return true;
  return false;
}

/** The message of an `error`/`err` field (no stack: one line). */
export function errorMessageOf(e: LogEntry): string | undefined {
  const err = (e.error ?? e.err) as { message?: unknown; code?: unknown } | string | undefined;
  if (!err) return undefined;
  if (typeof err === 'string') return err;
  const code = typeof err.code === 'string' ? err.code : undefined;
  const message = typeof err.message === 'string' ? err.message : undefined;
  return message ?? code;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'error', 'err', 'v']);

/** One readable line: `12:00:01.234 WARN  message (error: …) key=value …`. */
export function formatLine(e: LogEntry, colour = false): string {
  const d = new Date(e.time ?? Date.now());
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  const name = (NAMES[e.level] ?? String(e.level)).padEnd(5);
  const level = colour ? `\x1b[${COLOURS[e.level] ?? '0'}m${name}\x1b[0m` : name;
  const err = errorMessageOf(e);
  const fields = Object.entries(e)
    .filter(([k, v]) => !SKIP.has(k) && v !== undefined && v !== null && typeof v !== 'object')
    .map(([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : String(v)}`);
  const msg = typeof e.msg === 'string' ? e.msg : '';
  return [time, level, msg + (err && !msg.includes(err) ? ` (${err})` : ''), ...fields].join(' ').trimEnd();
}

/** The stream the framework's logger writes to: entry by entry, filtered, rewritten, formatted. */
export class LogFilter extends Writable {
  private partial = '';
  constructor(
    private readonly target: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly opts: Omit<LogOptions, 'toStderr'>,
  ) {
    super({ decodeStrings: false });
  }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    const text = this.partial + chunk.toString();
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.line(line);
    done();
  }

  override _final(done: (err?: Error | null) => void): void {
    if (this.partial) this.line(this.partial);
    this.partial = '';
    done();
  }

  /** One line from the framework (not JSON: passed on as it is). */
  line(line: string): void {
    if (!line.trim()) return;
    let e: LogEntry;
    try {
      e = JSON.parse(line) as LogEntry;
      if (typeof e !== 'object' || e === null || typeof e.level !== 'number') throw new Error('not an entry');
    } catch {
      this.target.write(`${this.opts.redact ? redactText(line) : line}\n`);
      return;
    }
    if (this.opts.redact) {
      // The entry as it may be seen: its JSON line is written anew from it.
      e = redactDeep(e) as LogEntry;
      line = JSON.stringify(e);
    }
    const verbose = (LEVELS[this.opts.level] ?? LEVELS.info!) <= LEVELS.debug!;
    if (!verbose && this.opts.drop?.(e)) return;
    const own = this.opts.rewrite?.(e);
    if (own !== undefined && own !== null) {
      if (own) this.target.write(`${own}\n`);
      return;
    }
    this.target.write(this.opts.format === 'line' ? `${formatLine(e, Boolean(this.target.isTTY) && !process.env.NO_COLOR)}\n` : `${line}\n`);
  }
}

/** Initialises LiveKit's logger with its output going through a `LogFilter` (see the top of this file). */
export function initLogging(opts: LogOptions): void {
  const target = opts.toStderr ? process.stderr : process.stdout;
  const filter = new LogFilter(target, opts);
  withStdout(filter, () => initializeLogger({ pretty: false, level: opts.level }));
}

/**
 * Runs `fn` with `process.stdout` standing for `stream` (pino takes `process.stdout` when the logger is
 * created, and keeps it).
 */
function withStdout(stream: Writable, fn: () => void): void {
  const stdout = Object.getOwnPropertyDescriptor(process, 'stdout')!;
  Object.defineProperty(process, 'stdout', { configurable: true, enumerable: stdout.enumerable, get: () => stream });
  try {
    fn();
  } finally {
    Object.defineProperty(process, 'stdout', stdout);
  }
}

/**
 * For a process whose logger the framework initialises itself (a worker's job process): from now on,
 * whatever takes `process.stdout` when it creates a logger gets a `LogFilter` writing to the real
 * stdout. Other writes to stdout pass through it unchanged (they are not JSON entries).
 */
export function filterStdoutForFrameworkLogger(opts: Omit<LogOptions, 'toStderr'>): void {
  const real = process.stdout;
  const filter = new LogFilter(real, opts);
  const stdout = Object.getOwnPropertyDescriptor(process, 'stdout')!;
  Object.defineProperty(process, 'stdout', { configurable: true, enumerable: stdout.enumerable, get: () => filter });
}

/**
 * What LiveKit's job process does with a promise rejection nobody handled: it logs it (at debug) and the
 * call goes on. Processes that run calls outside a job (`npm run voice`, the bench) do the same, so a
 * framework stream aborted mid-request (in @livekit/agents 1.9.0 an interrupted or thrown-away speech
 * synthesis rejects a promise nobody awaits) does not end the call where the worker's would go on.
 */
export function survivesUnhandledRejections(report: (message: string) => void): void {
  process.on('unhandledRejection', (reason) => {
    const err = reason as { name?: string; message?: string } | undefined;
    if (err?.name === 'APIUserAbortError' || err?.name === 'AbortError') return; // an aborted request: expected
    report(`unhandled rejection (the call goes on, as in LiveKit's job process): ${err?.message ?? String(reason)}`);
  });
}
