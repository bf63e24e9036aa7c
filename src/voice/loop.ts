/**
 * One whole call in audio, in this process, with no LiveKit room (`npm run voice`, the voice tests, the
 * bench): the real `Call` and `AgentSession` with the worker's own factories — the copying VAD, the turn
 * detection of TURN_DETECTION (the local end-of-turn model run in process), the OpenAI plugin's
 * speech-to-text, LLM and voices — the caller's clips sent in real time as 20 ms frames, and what the
 * agents say played and kept as a phone line would.
 *
 *   caller clips ► CallerAudio ► VAD ► turn detection ► STT ► LLM ► TTS ► AgentAudio ► call.wav + timeline
 */
import { Call } from '../call/call.js';
import type { CallEvent } from '../call/events.js';
import type { Settings } from '../config.js';
import { buildSTT, buildTTSFor, callOptionsFrom, llmConnOptions, sttFollower } from '../models.js';
import { AgentAudio } from './agent-audio.js';
import { CallerAudio } from './caller-audio.js';
import type { ScriptLine, VoiceScript } from './script.js';
import { type CallerLine, type Clocked, type Timeline, buildTimeline, callChannels, callWav } from './timeline.js';
import { inProcessEot, turnHandlingFor } from './turn.js';
import { newVAD } from './vad.js';

/** Why a voice call cannot hand the caller to a person (the machine then returns them to their desk). */
export const NO_PERSON_IN_VOICE_LOOP = 'the voice loop has no phone line to reach a person';

export interface VoiceCallOptions {
  settings: Settings;
  script: VoiceScript;
  callId: string;
  /** Each call event as it happens, with the call-clock time. */
  onEvent?: (e: CallEvent, atMs: number) => void;
  /** The call, once made (before it starts): to follow its session too. */
  onCall?: (call: Call) => void;
  /** Before each caller line (1-based) and once the call is over (line = 0). */
  onProgress?: (line: number, of: number, atMs: number) => void;
  /** After the last line, how long the agents may stay quiet before the call is closed (default 3 s). */
  quietEndMs?: number;
  /**
   * The caller's next line once the script's run out, asked for when the agents have answered and gone
   * quiet (a simulated caller: src/simulate/voice-play.ts); null: the caller is done.
   */
  nextLine?: (index: number) => Promise<ScriptLine | null>;
}

export interface VoiceCallResult {
  call: Call;
  events: Clocked[];
  timeline: Timeline;
  /** Stereo 24 kHz WAV: caller left, agents right. */
  wav: Buffer;
  /** Its two channels (24 kHz). */
  channels: { caller: Int16Array; agents: Int16Array };
  /** The end-of-turn model's predictions (TURN_DETECTION=model), on the call's clock. */
  eot: { atMs: number; probability: number; inferenceMs: number }[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The worker's call, with audio ends instead of a room. */
function voiceCall(o: VoiceCallOptions, eot: VoiceCallResult['eot'], clock: () => number): Call {
  const { settings } = o;
  const stt = buildSTT(settings);
  return new Call({
    callId: o.callId,
    ...callOptionsFrom(settings),
    humanAvailable: Boolean(settings.HUMAN_TRANSFER_TO),
    languageChanged: sttFollower(stt),
    ttsFor: buildTTSFor(settings),
    apologyOnLlmError: "I'm sorry, I didn't catch that. Could you say it again?",
    connectHuman: async () => {
      throw new Error(NO_PERSON_IN_VOICE_LOOP);
    },
    sessionOptions: {
      stt,
      vad: newVAD(),
      turnHandling: turnHandlingFor(settings, inProcessEot((probability, inferenceMs) => eot.push({ atMs: Math.round(clock()), probability, inferenceMs }))),
      connOptions: llmConnOptions(settings),
    },
  });
}

/** Plays a voice call to its end and measures it. */
export async function runVoiceCall(o: VoiceCallOptions): Promise<VoiceCallResult> {
  const eot: VoiceCallResult['eot'] = [];
  const t0 = performance.now();
  const clock = () => performance.now() - t0;
  const call = voiceCall(o, eot, clock);
  o.onCall?.(call);
  const caller = new CallerAudio();
  const agents = new AgentAudio(clock);
  const events: Clocked[] = [];
  call.on('event', (event) => {
    const atMs = clock();
    events.push({ event, atMs });
    o.onEvent?.(event, atMs);
  });
  call.session.input.audio = caller;
  call.session.output.audio = agents;
  caller.open(t0);
  const turns = new Turns(call, caller, agents, events, clock);
  const lines: CallerLine[] = [];
  try {
    await call.start();
    await call.greeted;
    for (let i = 0; i < o.script.lines.length || o.nextLine; i++) {
      const planned = o.script.lines[i];
      if (turns.over) break;
      await turns.before(planned ?? WHEN_ANSWERED);
      if (turns.over) break;
      const line = planned ?? (await o.nextLine!(i));
      if (!line || turns.over) break;
      o.onProgress?.(i + 1, o.script.lines.length, clock());
      const spoken = await caller.say(line.samples);
      lines.push({ words: line.words, samples: line.samples, ...spoken });
      turns.spoke(spoken.endMs);
    }
    await turns.finish(o.quietEndMs ?? 3000);
  } finally {
    await call.close('script over');
    caller.stop();
  }
  o.onProgress?.(0, o.script.lines.length, clock());
  const durationMs = clock();
  const timeline = buildTimeline(events, lines, agents.segments, durationMs);
  const channels = callChannels(caller.recording(), agents.segments, durationMs);
  return { call, events, timeline, wav: callWav(channels), channels, eot };
}

/** A line asked for as the call goes: said once the agents have answered and gone quiet. */
const WHEN_ANSWERED: Pick<ScriptLine, 'bargeIn' | 'pauseMs'> = {};

/** When the caller speaks next: after the agents have answered and gone quiet, or over them (barge-in). */
class Turns {
  private lastLineEndMs = 0;

  constructor(
    private readonly call: Call,
    private readonly caller: CallerAudio,
    private readonly agents: AgentAudio,
    private readonly events: Clocked[],
    private readonly clock: () => number,
  ) {}

  get over(): boolean {
    return this.events.some((e) => e.event.type === 'end') || this.call.machineState === 'ended';
  }

  spoke(endMs: number): void {
    this.lastLineEndMs = endMs;
  }

  async before(line: Pick<ScriptLine, 'bargeIn' | 'pauseMs'>): Promise<void> {
    if (line.bargeIn) {
      // Over the agent: once its next sound has started, `pauseMs` into it.
      await this.until(() => this.agents.sounding && this.agentSpokeSince(this.lastLineEndMs), 15_000);
      await sleep(line.pauseMs ?? 400);
    } else if (line.pauseMs !== undefined) {
      await sleep(Math.max(0, this.lastLineEndMs + line.pauseMs - this.clock()));
    } else {
      await this.answeredAndQuiet(600);
    }
  }

  /** After the last line: until the call ends, or the agents have answered and stayed quiet for `quietMs`. */
  async finish(quietMs: number): Promise<void> {
    await this.answeredAndQuiet(quietMs);
  }

  /** The agents have answered the last line (or 10 s passed), and then nothing sounds for `quietMs`. */
  private async answeredAndQuiet(quietMs: number): Promise<void> {
    if (this.lastLineEndMs > 0) await this.until(() => this.agentSpokeSince(this.lastLineEndMs), 10_000);
    let quietSince = this.clock();
    await this.until(() => {
      if (!this.quiet()) quietSince = this.clock();
      return this.clock() - quietSince >= quietMs;
    }, 30_000);
  }

  /** No agent sound, the session not thinking or speaking, and no transfer waiting for its desk's voice. */
  private quiet(): boolean {
    if (this.over) return true;
    if (this.agents.sounding || this.caller.speaking) return false;
    if (['thinking', 'speaking'].includes(this.call.session.agentState)) return false;
    const lastHandoff = this.events.findLastIndex((e) => e.event.type === 'handoff');
    if (lastHandoff < 0) return true;
    const to = (this.events[lastHandoff]!.event as { to: string }).to;
    return this.events.slice(lastHandoff).some((e) => e.event.type === 'agent' && e.event.agent === to);
  }

  private agentSpokeSince(ms: number): boolean {
    return this.over || this.agents.segments.some((s) => s.endMs > ms && s.samples.length > 0) || this.agents.sounding;
  }

  private async until(done: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = this.clock() + timeoutMs;
    while (!done() && this.clock() < deadline) await sleep(20);
  }
}
