/**
 * Supervisor commands in flight: a command goes down the call's ingest link and waits (up to 5 s) for
 * the call process's `command-result`. A command whose call ends, or whose link is lost, is answered
 * at once; nothing waits forever.
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import { cap } from './calls.js';
import type { CommandMessage, IngestMessage } from './protocol.js';

const COMMAND_TIMEOUT_MS = 5000;

/** What the call process answered (the machine's guards decide). */
export interface CommandAnswer {
  accepted: boolean;
  reason?: string;
  state?: string;
}

type CommandResult = Extract<IngestMessage, { kind: 'command-result' }>;

interface Pending {
  callId: string;
  link: WebSocket;
  timer: NodeJS.Timeout;
  resolve: (r: CommandAnswer | null) => void;
}

export class CommandRelay {
  private readonly pending = new Map<string, Pending>();

  /** Sends a command down the call's link; resolves with its answer, or null (no answer in time, link lost). */
  send(link: WebSocket, callId: string, action: CommandMessage['action']): Promise<CommandAnswer | null> {
    const commandId = randomUUID();
    const msg: CommandMessage = { kind: 'command', commandId, callId, action };
    return new Promise((resolveAnswer) => {
      const timer = setTimeout(() => {
        this.pending.delete(commandId);
        resolveAnswer(null);
      }, COMMAND_TIMEOUT_MS);
      timer.unref();
      this.pending.set(commandId, { callId, link, timer, resolve: resolveAnswer });
      link.send(JSON.stringify(msg), (err) => {
        if (err && this.pending.delete(commandId)) {
          clearTimeout(timer);
          resolveAnswer(null);
        }
      });
    });
  }

  /** A `command-result` from `link`: the call it was about, or null when no such command went down that link. */
  answer(msg: CommandResult, link: WebSocket): string | null {
    const p = this.pending.get(msg.commandId);
    if (!p || p.link !== link) return null;
    this.pending.delete(msg.commandId);
    clearTimeout(p.timer);
    p.resolve({ accepted: msg.accepted, reason: msg.reason && cap(msg.reason), state: msg.state && cap(msg.state, 50) });
    return p.callId;
  }

  /** The call ended: its commands are refused. */
  callEnded(callId: string): void {
    this.settle((p) => p.callId === callId, { accepted: false, reason: 'The call has ended.' });
  }

  /** The link closed: its commands get no answer. */
  linkLost(link: WebSocket): void {
    this.settle((p) => p.link === link, null);
  }

  close(): void {
    this.settle(() => true, null);
  }

  private settle(which: (p: Pending) => boolean, answer: CommandAnswer | null): void {
    for (const [id, p] of this.pending) {
      if (!which(p)) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.resolve(answer);
    }
  }
}
