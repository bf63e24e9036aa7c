import { voice } from '@livekit/agents';
import { Call } from '../src/call/call.js';
const t0 = performance.now();
const origStart = Call.prototype.start;
Call.prototype.start = async function (this: Call, ...a: any[]) {
  this.session.on(voice.AgentSessionEventTypes.UserStateChanged, (e: any) => console.log(Math.round(performance.now() - t0), 'user', e.oldState, '->', e.newState));
  this.session.on(voice.AgentSessionEventTypes.AgentStateChanged, (e: any) => console.log(Math.round(performance.now() - t0), 'agent', e.newState, this.session.userState));
  return origStart.apply(this, a as any);
};
const { playVoiceCall } = await import('../test/voice/voice-run.js');
const run = await playVoiceCall(process.argv[2]!, process.argv[3] ? { TURN_DETECTION: process.argv[3] } : {});
for (const u of run.timeline.utterances) console.log(u.speaker, u.startMs, u.endMs, u.heard ?? '', u.text.slice(0, 60), u.interrupted ? 'INT' : '');
process.exit(0);
