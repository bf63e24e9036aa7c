/**
 * Warm transfer in tests: the one part that needs a LiveKit media server (joining a consultation room
 * and running the briefing agent there) stood in for by `ScriptedConsultation`. It makes the server API
 * calls LiveKit's `WarmTransferTask` makes — the dial into `<room>-human-agent` (CreateSIPParticipant,
 * waitUntilAnswered) and the move (MoveParticipant) — against the fake server, fails as the task does
 * ("could not dial human agent", "human agent declined to connect: …", "voicemail detected"), and lets
 * a test say when the person picks up and what they decide.
 */
import { RoomServiceClient, SipClient } from 'livekit-server-sdk';
import { type ConsultOptions, type Consultation, PERSON_IDENTITY } from '../../src/telephony/warm-transfer.js';

export type Decision = 'connect' | 'voicemail' | { decline: string };

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export class ScriptedConsultation implements Consultation {
  readonly runs: ConsultOptions[] = [];
  private pickedUp = deferred<void>();
  private decided = deferred<Decision>();
  private fail_!: (err: Error) => void;
  private failure = new Promise<never>((_, reject) => (this.fail_ = reject));

  constructor_guard = this.failure.catch(() => undefined); // a failure nobody waits for is not an error

  /** `auto`: the person picks up at once and decides this; otherwise the test calls `pickUp` / `decide`. */
  constructor(
    private readonly api: { url: string; apiKey: string; apiSecret: string },
    private readonly callerRoom: string,
    private readonly auto: Decision | null = 'connect',
  ) {}

  pickUp(): void {
    this.pickedUp.resolve();
  }
  decide(d: Decision): void {
    this.decided.resolve(d);
  }
  /** The task fails now, whatever step it is at, with this reason (a dial that could not be placed, a dropped room). */
  fail(reason: string): void {
    this.fail_(new Error(reason));
  }

  async run(o: ConsultOptions): Promise<void> {
    this.runs.push(o);
    const consult = `${this.callerRoom}-human-agent`;
    const host = this.api.url.replace(/^ws/, 'http');
    const rooms = new RoomServiceClient(host, this.api.apiKey, this.api.apiSecret);
    const aborted = new Promise<never>((_, reject) =>
      o.steps.signal.addEventListener(
        'abort',
        () => {
          // The task tears the consultation room down (ending the SIP call) and completes with an error.
          void rooms.removeParticipant(consult, PERSON_IDENTITY).catch(() => undefined);
          reject(new Error('the warm transfer was cancelled'));
        },
        { once: true },
      ),
    );
    const cancelled = Promise.race([aborted, this.failure]);
    cancelled.catch(() => undefined); // aborted after the transfer is over: nothing waits for it
    const dial = new SipClient(host, this.api.apiKey, this.api.apiSecret)
      .createSipParticipant(o.trunkId, o.to, consult, {
        participantIdentity: PERSON_IDENTITY,
        waitUntilAnswered: true,
        fromNumber: o.fromNumber,
        headers: o.headers,
        ringingTimeout: o.ringingTimeoutS,
      })
      .catch(() => {
        throw new Error('could not dial human agent'); // what the task says, whatever the SIP status
      });
    await Promise.race([dial, cancelled]);
    if (!this.auto) await Promise.race([this.pickedUp.promise, cancelled]);
    o.steps.answered(); // the task's greetingSpeech runs here
    const d = this.auto ?? (await Promise.race([this.decided.promise, cancelled]));
    if (d === 'voicemail') throw new Error('voicemail detected');
    if (typeof d === 'object') throw new Error(`human agent declined to connect: ${d.decline}`);
    await Promise.race([rooms.moveParticipant(consult, PERSON_IDENTITY, this.callerRoom), cancelled]);
  }
}
