/** Model servers that go wrong as real ones do, for the commands' first-ten-minutes tests. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A server that answers every request 401, as OpenAI does for a wrong key: its `/v1` URL and `close`. */
export async function keyRefusingServer(): Promise<{ url: string; close: () => void }> {
  const server = createServer((_req, res) => {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"Incorrect API key provided: sk-wrong.","type":"invalid_request_error","code":"invalid_api_key"}}');
  }).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, close: () => server.close() };
}

/** A `/v1` URL nothing listens on (a port just closed: fetch refuses some low ports, such as 9, outright). */
export async function closedServerUrl(): Promise<string> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return `http://127.0.0.1:${port}/v1`;
}

/** A server that accepts every request and never answers (a model that hangs): its `/v1` URL and `close`. */
export async function hangingServer(): Promise<{ url: string; close: () => void }> {
  const server = createServer(() => undefined).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
