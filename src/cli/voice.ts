/**
 * `npm run voice`: one whole call by voice, in this process, no LiveKit room — the caller's clips in,
 * the agents' audio out, as a phone call would carry them (see src/voice/loop.ts).
 *
 *   npm run -s voice -- --script FILE [--out DIR] [--json]
 *
 * With no OPENAI_API_KEY / OPENAI_BASE_URL the scripted server answers: its model is the keyword script,
 * its speech-to-text hears the script's clips (and only intact ones), its voices are synthetic. DIR
 * (default reports/voice) gets call.wav (caller left, agents right), timeline.json and timeline.svg.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Settings, exitOnConfigError, loadEnvFile, loadSettings } from '../config.js';
import type { CallEvent } from '../call/events.js';
import { type ScriptedServer, startScriptedServer } from '../../dev/scripted-llm.js';
import { CALLER_RATE } from '../voice/caller-audio.js';
import { runVoiceCall } from '../voice/loop.js';
import { ScriptError, type VoiceScript, loadScript } from '../voice/script.js';
import type { Timeline } from '../voice/timeline.js';
import { timelineSvg } from '../voice/timeline-svg.js';
import { toJson, toText } from './call-lines.js';
import { harmlessInTextCalls, initLogging, survivesUnhandledRejections } from '../logging.js';
import { modelServer, modelServerProblem, openRecordsOrSay } from './text-calls.js';
import { recordingProblem } from '../records/recordings.js';
import type { Recorder } from '../records/recorder.js';

const USAGE = `usage: npm run -s voice -- --script FILE [--out DIR] [--json]

  --script FILE  the caller's lines: {"lines": [{"audio": "clip.wav", "words": "…"}, …]}
                 (paths relative to FILE; mono 16-bit WAV; optional "pauseMs", "bargeIn": true)
  --out DIR      where call.wav, timeline.json and timeline.svg go (default reports/voice)
  --json         one JSON object per line on stdout, as npm run chat -- --json`;

interface Args {
  script: string;
  out: string;
  json: boolean;
}

function usageError(message: string): never {
  process.stderr.write(`voice: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  let script: string | undefined;
  let out = 'reports/voice';
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i] ?? usageError(`${flag} needs a value`);
    if (flag === '--script') script = value();
    else if (flag === '--out') out = value();
    else if (flag === '--json' && inline === undefined) json = true;
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else usageError(`unknown option ${a}`);
  }
  if (!script) usageError('--script FILE is required');
  return { script, out, json };
}

/** The settings, with the scripted server (hearing this script's clips) standing in when no model is configured. */
async function voiceSettings(script: VoiceScript): Promise<{ settings: Settings; scripted?: ScriptedServer }> {
  try {
    loadEnvFile();
  } catch (err) {
    exitOnConfigError(err, 'voice');
  }
  const configured = Boolean(process.env.OPENAI_API_KEY?.trim() || process.env.OPENAI_BASE_URL?.trim());
  const scripted = configured
    ? undefined
    : await startScriptedServer({
        clips: script.lines.map((l) => ({ words: l.words, samples: l.samples, sampleRate: CALLER_RATE })),
        // Speech at a speaking pace (~14 characters a second), padded as real voices are.
        ttsMsPerChar: 65,
      });
  try {
    const env = { ...process.env, ...(scripted ? { OPENAI_BASE_URL: scripted.url, LLM_MODEL: 'scripted' } : {}) };
    const settings = loadSettings(env);
    initLogging({ level: settings.LOG_LEVEL ?? 'warn', toStderr: true, drop: harmlessInVoiceLoop, redact: settings.REDACT_PII === 'on' });
    return { settings, scripted };
  } catch (err) {
    await scripted?.close();
    exitOnConfigError(err, 'voice');
  }
}

/**
 * The framework's log lines a voice-loop call always causes: a text call's; the note that its audio
 * output cannot pause (the loop's earpiece plays or is cut, as a phone line without pause would); and a
 * reply begun before the caller's turn ended, started again because the desk's instructions changed on
 * that turn (the call follows the caller's language from the line being answered). And, when the call is
 * recorded, LiveKit's recorder telling of the few tens of ms it placed too late to keep (the resampler's
 * tail where a run of audio restarts; docs/recordings.md): the worker's log keeps it.
 */
function harmlessInVoiceLoop(e: Parameters<typeof harmlessInTextCalls>[0]): boolean {
  const msg = typeof e.msg === 'string' ? e.msg : '';
  return harmlessInTextCalls(e) || /audio output does not support pause|preemptive generation invalidated|recorder dropped audio that reached it after/.test(msg);
}

/** The transfers as the caller heard them: the silence before each new desk's voice. */
function transferLines(t: Timeline): string[] {
  return t.transfers.map((x) => {
    const heard = x.silenceMs === null ? 'its desk never spoke' : `${x.silenceMs} ms of silence before ${x.to}'s voice`;
    const segs = x.segmentGapMs === null ? '' : ` (audio segments ${x.segmentGapMs} ms apart)`;
    return `        ↪ ${x.from} → ${x.to}: ${heard}${segs}`;
  });
}

/** The progress line, on stderr: rewritten in place at a terminal; a line per step otherwise (none with --json into a pipe). */
function progress(json: boolean): (line: number, of: number, atMs: number) => void {
  const tty = Boolean(process.stderr.isTTY);
  return (line, of, atMs) => {
    const text = line === 0 ? `call over at ${(atMs / 1000).toFixed(1)} s` : `caller line ${line}/${of} at ${(atMs / 1000).toFixed(1)} s (real time)`;
    if (tty) process.stderr.write(`\r\x1b[2K${text}${line === 0 ? '\n' : ''}`);
    else if (!json) process.stderr.write(`${text}\n`);
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  survivesUnhandledRejections((m) => process.stderr.write(`voice: ${m}\n`));
  let script: VoiceScript;
  try {
    script = loadScript(resolve(args.script));
  } catch (err) {
    if (err instanceof ScriptError) {
      process.stderr.write(`voice: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const out = resolve(args.out);
  try {
    mkdirSync(out, { recursive: true });
  } catch (err) {
    process.stderr.write(`voice: cannot write to ${out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    process.exit(2);
  }
  const { settings, scripted } = await voiceSettings(script);
  const server = modelServer(settings);
  // A configured model server that is not there, or refuses the key, is said once, before the call.
  const problem = scripted ? null : await modelServerProblem(settings);
  if (problem) {
    process.stderr.write(`voice: ${problem}\n`);
    process.exit(2);
  }
  const show = (e: CallEvent) => {
    const line = args.json ? JSON.stringify(toJson(e, server)) : toText(e, server);
    if (line && line !== 'null') process.stdout.write(`${line}\n`);
  };
  const recordings = recordingProblem(settings);
  if (recordings) {
    process.stderr.write(`voice: ${recordings}\n`);
    process.exit(2);
  }
  // The call is recorded as the worker's are (CALLS_DB / DATABASE_URL; webhooks), and shows in the inspector's Past tab.
  const records = await openRecordsOrSay(settings, 'voice', 'this call is not recorded');
  let recorder: Recorder | undefined;
  if (!args.json) {
    process.stdout.write(scripted ? 'Answered by the SCRIPTED server (keyword model, clip-matching speech-to-text, synthetic voices).\n' : `Answered by ${settings.LLM_MODEL} at ${server}.\n`);
  }
  try {
    const result = await runVoiceCall({
      settings,
      script,
      callId: `voice-${randomUUID().slice(0, 8)}`,
      onEvent: show,
      onProgress: progress(args.json),
      onCall: (call) => (recorder = records?.attach(call, 'voice')),
    });
    await recorder?.done;
    writeFileSync(join(out, 'call.wav'), result.wav);
    const turns = result.events.map((e) => e.event).filter((e) => e.type === 'turn');
    writeFileSync(join(out, 'timeline.json'), `${JSON.stringify({ callId: result.call.callId, ...result.timeline, endOfTurn: result.eot, turns }, null, 2)}\n`);
    writeFileSync(join(out, 'timeline.svg'), timelineSvg(result.timeline, result.channels.caller, result.channels.agents));
    if (!args.json) {
      for (const l of transferLines(result.timeline)) process.stdout.write(`${l}\n`);
      process.stdout.write(`Listen: ${join(out, 'call.wav')} (caller left, agents right); timeline: ${join(out, 'timeline.json')} and timeline.svg\n`);
      const rec = result.events.map((e) => e.event).find((e) => e.type === 'recording');
      if (rec?.type === 'recording') {
        process.stdout.write(`Recorded: ${join(resolve(settings.RECORDINGS_DIR), rec.file)} (Ogg/Opus, caller left, agents right, ${(rec.bytes / 1024).toFixed(0)} KiB)\n`);
      }
      // The recording's name is not the call's: say which record it is.
      if (recorder) process.stdout.write(`Recorded as call ${result.call.callId}: npm run calls -- ${result.call.callId}\n`);
    }
  } finally {
    await records?.close({ drainMs: 2000 });
    await scripted?.close();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    process.stderr.write(`voice: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
