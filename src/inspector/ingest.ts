/**
 * The call processes' links (`/ingest`). Every message is size-capped, parsed and validated (the
 * protocol's envelope, then the event contract for events) before it reaches the registry; anything
 * else is counted as rejected and dropped, and the link stays. Command results go back to the command
 * that asked (and to the pages). A link that closes ends its live calls and its pending commands.
 */
import type { RawData, WebSocket } from 'ws';
import { type CallRegistry, cap } from './calls.js';
import type { CommandRelay } from './commands.js';
import type { Feed } from './feed.js';
import { type IngestMessage, MAX_MESSAGE_BYTES, ingestMessage } from './protocol.js';

export class Ingest {
  readonly links = new Set<WebSocket>();
  /** Messages dropped as unreadable, invalid or oversized. */
  rejectedMessages = 0;

  constructor(
    private readonly calls: CallRegistry,
    private readonly commands: CommandRelay,
    private readonly feed: Feed,
  ) {}

  add(ws: WebSocket): void {
    this.links.add(ws);
    ws.on('error', (err: Error & { code?: string }) => {
      // Oversized frames (maxPayload) and protocol errors: ws closes the link; count it, never throw.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.rejectedMessages++;
    });
    ws.on('message', (data: RawData) => {
      const msg = parse(data);
      try {
        if (!msg || !this.apply(msg, ws)) this.rejectedMessages++;
      } catch {
        this.rejectedMessages++;
      }
    });
    ws.on('close', () => {
      this.links.delete(ws);
      this.calls.linkLost(ws);
      this.commands.linkLost(ws);
      this.calls.evictEnded();
    });
  }

  /** Applies one validated message. False: it was not acceptable. */
  private apply(msg: IngestMessage, link: WebSocket): boolean {
    switch (msg.kind) {
      case 'hello':
        return this.calls.hello(msg, link);
      case 'snapshot':
        return this.calls.snapshot(msg);
      case 'event':
        return this.calls.event(msg.callId, msg.event);
      case 'command-result': {
        const callId = this.commands.answer(msg, link);
        if (callId === null) return false;
        this.feed.broadcast({
          kind: 'command-result',
          callId,
          commandId: msg.commandId,
          accepted: msg.accepted,
          ...(msg.reason ? { reason: cap(msg.reason) } : {}),
        });
        return true;
      }
    }
  }
}

/** One frame as an ingest message, or null (too big, not JSON, not valid). */
function parse(data: RawData): IngestMessage | null {
  const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer).byteLength;
  if (size > MAX_MESSAGE_BYTES) return null;
  let parsed: unknown;
  try {
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  const msg = ingestMessage.safeParse(parsed);
  return msg.success ? msg.data : null;
}
