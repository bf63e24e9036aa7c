import { initializeLogger } from '@livekit/agents';

/**
 * LiveKit's logger must be initialised before anything logs. It writes to `process.stdout`; a
 * command whose stdout is a data stream (the text call's JSON lines) sends it to stderr instead.
 */
export function initLogging(opts: { level: string; toStderr?: boolean; pretty?: boolean }): void {
  if (!opts.toStderr) {
    initializeLogger({ pretty: opts.pretty ?? false, level: opts.level });
    return;
  }
  const stdout = Object.getOwnPropertyDescriptor(process, 'stdout')!;
  Object.defineProperty(process, 'stdout', { configurable: true, enumerable: stdout.enumerable, get: () => process.stderr });
  try {
    initializeLogger({ pretty: opts.pretty ?? false, level: opts.level });
  } finally {
    Object.defineProperty(process, 'stdout', stdout);
  }
}
