/**
 * `npm run inspector`: the inspector server on its own (calls point INSPECTOR_URL at it).
 *
 *   INSPECTOR_HOST                default 127.0.0.1 (anything else needs INSPECTOR_TOKEN)
 *   INSPECTOR_PORT                default 7300
 *   INSPECTOR_TOKEN               required by every endpoint when set
 *   INSPECTOR_HIDE_PHONE_NUMBERS  1/true: pages see only the last 2 digits of phone numbers
 */
import { pathToFileURL } from 'node:url';
import { loadEnvFile } from '../config.js';
import { type InspectorServer, startInspectorServer } from './server.js';

export interface InspectorEnv {
  host: string;
  port: number;
  token?: string;
  hidePhoneNumbers: boolean;
}

/** Reads the inspector's settings; throws with one line naming the bad setting. */
export function inspectorEnv(env: NodeJS.ProcessEnv = process.env): InspectorEnv {
  const host = env.INSPECTOR_HOST?.trim() || '127.0.0.1';
  const rawPort = env.INSPECTOR_PORT?.trim() || '7300';
  const port = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error('INSPECTOR_PORT: must be a whole number from 0 to 65535');
  }
  const token = env.INSPECTOR_TOKEN?.trim() || undefined;
  const hide = (env.INSPECTOR_HIDE_PHONE_NUMBERS ?? '').trim().toLowerCase();
  return { host, port, token, hidePhoneNumbers: hide === '1' || hide === 'true' };
}

export async function main(): Promise<InspectorServer> {
  let settings: InspectorEnv;
  let server: InspectorServer;
  try {
    loadEnvFile();
    settings = inspectorEnv();
    server = await startInspectorServer(settings);
  } catch (err) {
    process.stderr.write(`inspector: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}\n`);
    process.exit(2);
  }
  process.stdout.write(`Inspector: ${server.url}\n`);
  const shutdown = () => {
    void server.close().finally(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  return server;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) void main();
