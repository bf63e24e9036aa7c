/**
 * The voice activity detector of every call: LiveKit's bundled Silero (`inference.VAD`), handing out a
 * copy of each utterance's audio.
 *
 * Why: in @livekit/agents 1.9.0, `src/inference/vad.ts` (`copySpeechBuffer`, line 238) hands out each
 * START_OF_SPEECH / END_OF_SPEECH frame as `this._speechBuffer.subarray(...)` — a view of its own buffer —
 * and right after END_OF_SPEECH `resetWriteCursor()` (line 190) slides the utterance's last 500 ms over the
 * head of that same buffer. HTTP speech-to-text (`buildSTT`, through LiveKit's stream adapter) encodes the
 * frame later, so it would hear the utterance with its first ~480 ms replaced by its own tail: "Thank you,
 * that is all, goodbye" came back empty. Upstream's PR that copies the buffer was closed unmerged and
 * 1.9.0 is the newest release: remove this wrapper once a release copies the frame itself
 * (test/voice/vad.test.ts then passes on a bare `inference.VAD`).
 */
import { inference, type VADEvent, type VADStream } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';

/** A frame that owns its samples: nothing the VAD writes later can change it. */
export function ownFrame(frame: AudioFrame): AudioFrame {
  return new AudioFrame(frame.data.slice(), frame.sampleRate, frame.channels, frame.samplesPerChannel);
}

/** The stream's event sender, protected in LiveKit's class: each event leaves with frames of its own. */
type Sender = { sendVADEvent(event: VADEvent): boolean };

/** `inference.VAD` whose events carry copies of the speech they describe (see the file's note). */
export class CopyingVAD extends inference.VAD {

  override stream(): VADStream {
    const stream = super.stream();
    const sender = stream as unknown as Sender;
    const send = sender.sendVADEvent.bind(stream);
    // The copy is made when the event is sent, before the VAD's loop goes on to reuse its buffer.
    sender.sendVADEvent = (event) => send({ ...event, frames: event.frames.map(ownFrame) });
    return stream;
  }
}

/** The VAD the worker and the voice loop give each call. */
export function newVAD(): inference.VAD {
  return new CopyingVAD();
}
