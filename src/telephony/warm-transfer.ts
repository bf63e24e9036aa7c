/**
 * Warm transfer on a real call (HUMAN_TRANSFER_MODE=warm): the person is dialled and briefed while the
 * caller holds, then joined to the caller.
 *
 * - On LiveKit Cloud, LiveKit's own `workflows.WarmTransferTask` does it (hold music, the caller's audio
 *   off, a consultation room, the dial, the briefing agent with `connect_to_caller` / `decline_transfer`
 *   / `voicemail_detected`, and `RoomServiceClient.moveParticipant`). Joining that room needs a media
 *   server, so it sits behind the one small `Consultation` interface.
 * - `moveParticipant` is Cloud-only. Before the first dial the server is asked once whether it has it
 *   (a move of nobody: Cloud answers "not found", open-source livekit-server "unimplemented"). Without
 *   it the person is dialled straight into the caller's own room (as Vobiz's human-handoff example
 *   does), the caller hears ringing, and the agent introduces the caller aloud once the person picks
 *   up. The answer is kept for the worker's life (a marker file: jobs run in processes of their own)
 *   and logged once.
 */
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type llm, type voice, workflows } from '@livekit/agents';
import { RoomServiceClient, SipClient } from 'livekit-server-sdk';
import type { PersonSteps } from '../call/person.js';
import { describeSipError, httpURL } from './phone-line.js';

/** The identity of the person's SIP participant (in the consultation room, then the caller's). */
export const PERSON_IDENTITY = 'switchboard-person';

/** HUMAN_TRANSFER_TO as a trunk dials it: `tel:+919876543210` → `+919876543210`, `sip:+91…@host` → `+91…`. */
export const dialTarget = (transferTo: string) => transferTo.replace(/^tel:/, '').replace(/^sips?:([^@]+)@.*$/, '$1');

/** What a dial needs: the outbound trunk, the number, the caller id shown, SIP headers, how long it rings. */
export interface DialOptions {
  trunkId: string;
  /** The number (or SIP user) to dial: HUMAN_TRANSFER_TO without `tel:`. */
  to: string;
  fromNumber?: string;
  headers?: Record<string, string>;
  ringingTimeoutS: number;
}

export interface ConsultOptions extends DialOptions {
  /** The briefing agent's instructions: who the caller is, the route and why, what each desk did. */
  briefing: string;
  /** Said to the person as they pick up (no silence on answer). */
  greeting: string;
  /** The conversation so far (the briefing agent reads it). */
  history: llm.ChatContext;
  steps: PersonSteps;
}

/**
 * The part that needs a LiveKit media server: join a consultation room, dial the person there, brief
 * them, and move them into the caller's room. Resolves once they are joined; rejects with why not.
 * Production: `livekitConsultation` (LiveKit's task); tests: a stand-in that calls the same server API.
 */
export interface Consultation {
  run(o: ConsultOptions): Promise<void>;
}

/** LiveKit's `WarmTransferTask`, wrapped: its greeting marks the answer, our signal cancels it. */
export function livekitConsultation(): Consultation {
  return {
    async run(o) {
      await new workflows.WarmTransferTask({
        sipTrunkId: o.trunkId,
        sipCallTo: o.to,
        sipNumber: o.fromNumber,
        sipHeaders: o.headers,
        ringingTimeout: o.ringingTimeoutS * 1000,
        instructions: o.briefing,
        chatCtx: o.history,
        abortSignal: o.steps.signal,
        // Called when the person picks up: the one step the task lets us see before its result.
        greetingSpeech: (session: voice.AgentSession) => {
          o.steps.answered();
          return session.say(o.greeting);
        },
      }).run();
    },
  };
}

/** Whether the server can move a participant between rooms, asked once per worker (see the header). */
export class MoveSupport {
  private known: Promise<boolean> | null = null;

  constructor(
    private readonly api: { url: string; apiKey: string; apiSecret: string },
    private readonly log: (message: string) => void,
    private readonly marker = join(tmpdir(), `switchboard-no-move-${createHash('sha256').update(api.url).digest('hex').slice(0, 12)}`),
  ) {}

  supported(room: string): Promise<boolean> {
    if (existsSync(this.marker)) return Promise.resolve(false);
    this.known ??= this.ask(room);
    return this.known;
  }

  private async ask(room: string): Promise<boolean> {
    try {
      await new RoomServiceClient(httpURL(this.api.url), this.api.apiKey, this.api.apiSecret).moveParticipant(room, 'switchboard-probe', `${room}-probe`);
      return true;
    } catch (err) {
      const e = err as { code?: string; status?: number };
      if (e.code !== 'unimplemented' && e.code !== 'bad_route' && e.status !== 501) return true; // "not found": it has the method
      writeFileSync(this.marker, new Date().toISOString());
      this.log(
        `this LiveKit server cannot move participants between rooms (${describeSipError(err)}; LiveKit Cloud only): ` +
          'warm transfers dial the person into the caller’s room instead, for the rest of this worker’s life',
      );
      return false;
    }
  }
}

export interface WarmLineOptions {
  api: { url: string; apiKey: string; apiSecret: string };
  /** The caller's room. */
  room: string;
  dial: DialOptions;
  consultation: Consultation;
  moves: MoveSupport;
}

/** What the call hands the line: the briefing, the introduction said aloud in the fallback, the history. */
export interface WarmRequest {
  briefing: string;
  greeting: string;
  introduction: string;
  history: llm.ChatContext;
}

/**
 * A warm transfer through LiveKit: the task where the server can move participants, else the person
 * dialled into the caller's room. Rejects with a reason the agent can pass on (busy, no answer,
 * declined, voicemail, cancelled).
 */
export async function warmTransfer(o: WarmLineOptions, req: WarmRequest, steps: PersonSteps): Promise<void> {
  if (await o.moves.supported(o.room)) {
    await o.consultation.run({ ...o.dial, briefing: req.briefing, greeting: req.greeting, history: req.history, steps });
    return;
  }
  await dialIntoRoom(o, steps);
  steps.answered();
  await steps.say(req.introduction);
}

/** The fallback: the person dialled into the caller's own room; the caller hears it ring. */
async function dialIntoRoom(o: WarmLineOptions, steps: PersonSteps): Promise<void> {
  const host = httpURL(o.api.url);
  const sip = new SipClient(host, o.api.apiKey, o.api.apiSecret);
  const cancel = () => {
    // A ringing SIP participant removed is a cancelled dial.
    void new RoomServiceClient(host, o.api.apiKey, o.api.apiSecret).removeParticipant(o.room, PERSON_IDENTITY).catch(() => undefined);
  };
  steps.signal.addEventListener('abort', cancel, { once: true });
  try {
    await sip.createSipParticipant(o.dial.trunkId, o.dial.to, o.room, {
      participantIdentity: PERSON_IDENTITY,
      participantName: 'Colleague',
      fromNumber: o.dial.fromNumber,
      headers: o.dial.headers,
      ringingTimeout: o.dial.ringingTimeoutS,
      waitUntilAnswered: true,
      playDialtone: true,
    });
  } catch (err) {
    throw new Error(describeSipError(err), { cause: err });
  } finally {
    steps.signal.removeEventListener('abort', cancel);
  }
}
