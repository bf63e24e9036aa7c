/**
 * A worker-like process for the kill test: runs one call through the real orchestrator (scripted LLM
 * server started here) with the recorder on the SQLite file given as argv[2], and prints a marker line
 * on stdout after each event is committed:
 *
 *   READY <callId> <pid>
 *   WROTE <seq> <type>
 *
 * It talks on (with transfers) until it is killed; stdout on a pipe is synchronous on Linux, so a marker
 * printed is a marker the parent will read.
 *
 *   node --import tsx test/support/record-child.ts <calls.sqlite>
 */
import { attachRecorder } from '../../src/records/recorder.js';
import { SqliteStore } from '../../src/records/sqlite.js';
import { callTools, say, startCall, startServer } from './harness.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: record-child.ts <calls.sqlite>\n');
  process.exit(2);
}
const store = new SqliteStore(file);
const server = await startServer();
const call = await startCall(server, { caller: { phoneNumber: '+15550100777' }, maxHandoffs: 1000 });
process.stdout.write(`READY ${call.callId} ${process.pid}\n`);
attachRecorder(call, store, {
  worker: 'kill-test',
  onWritten: (seq, e) => process.stdout.write(`WROTE ${seq} ${e.type}\n`),
  onError: (m) => process.stderr.write(`${m}\n`),
});
const transfer = (to: string, reason: string) => callTools({ name: `pass_control_to_${to}`, arguments: { reason } });
await say(call, 'Hi, my name is Maya');
// Round trips through the hub until killed: a transfer every line.
for (let i = 0; ; i++) {
  await say(call, transfer('billing', `charged twice (${i})`));
  await say(call, `still about my bill, round ${i}`);
  await say(call, transfer('triage', `needs the front desk (${i})`));
  if (call.machineState !== 'triage') break;
}
await new Promise(() => undefined); // stay on the line until killed
