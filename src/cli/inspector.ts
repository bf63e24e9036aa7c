/**
 * `npm run inspector`: the inspector server on its own (calls point INSPECTOR_URL at it). It serves
 * past calls from the same call records the workers write (CALLS_DB, or DATABASE_URL for PostgreSQL).
 *
 *   INSPECTOR_HOST                default 127.0.0.1 (anything else needs INSPECTOR_TOKEN)
 *   INSPECTOR_PORT                default 7300 (0: any free port)
 *   INSPECTOR_TOKEN               required by every endpoint when set
 *   INSPECTOR_HIDE_PHONE_NUMBERS  1/true: pages see only the last 2 digits of phone numbers
 *   REDACT_PII                    on: personal data masked in what calls send and in past calls served
 *   CALLS_DB / DATABASE_URL       where past calls are read from (`CALLS_DB=off`: no past calls)
 *   RECORDINGS_DIR                where their recordings are played from (default data/recordings)
 */
import { pathToFileURL } from 'node:url';
import { inspectorSchema, requireSettings, settingsOrExit } from '../config.js';
import { type Records, openRecords } from '../records/index.js';
import { type InspectorServer, inspectorOptionsFrom, startInspectorServer } from '../inspector/server.js';

export async function main(): Promise<InspectorServer> {
  const settings = settingsOrExit('inspector', () => requireSettings(inspectorSchema));
  const warn = (m: string) => process.stderr.write(`inspector: ${m}\n`);
  // Past calls: a problem with the records is reported and the live view still starts.
  let records: Records | null = null;
  try {
    records = await openRecords(
      { CALLS_DB: settings.CALLS_DB, DATABASE_URL: settings.DATABASE_URL, CALL_WEBHOOK_URL: settings.CALL_WEBHOOK_URL },
      { deliver: false, onError: warn },
    );
  } catch (err) {
    warn(`past calls unavailable: ${(err as Error).message.split('\n')[0]}`);
  }
  let server: InspectorServer;
  try {
    server = await startInspectorServer({ ...inspectorOptionsFrom(settings), records: records?.inspector });
  } catch (err) {
    await records?.close().catch(() => undefined);
    warn((err instanceof Error ? err.message : String(err)).split('\n')[0]!);
    process.exit(2);
  }
  process.stdout.write(`Inspector: ${server.url}\n`);
  if (!records) process.stdout.write('Past calls: off (CALLS_DB=off or unavailable)\n');
  const shutdown = () => {
    void server
      .close()
      .then(() => records?.close())
      .finally(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  return server;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) void main();
