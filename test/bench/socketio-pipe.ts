/**
 * The Socket.IO peer as a Pipe: real socket.io-client sockets in the bench process (what users
 * run), WebSocket transport from the start (the production setting; long polling would need
 * sticky sessions across nodes). The sender emits `chat` (to, text); the receiver's node emits
 * `chat` (text) to the receiver's user room. The text is the stamped body, as with STOMP.
 */
import { io, type Socket } from 'socket.io-client';
import { readStampText, stampedText, type Recorder } from './load.js';
import type { SizedPipe } from './pipes.js';

const MAX_KEPT_PROBLEMS = 20;

/** Opens a Socket.IO connection as `user` and resolves once the server accepted it. */
export function connectSocketIo(url: string, user: string, timeoutMs = 10_000): Promise<Socket> {
  const socket = io(url, {
    transports: ['websocket'],
    auth: { user },
    reconnection: false,
    forceNew: true,
    timeout: timeoutMs,
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`Socket.IO connect to ${url} timed out`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
  });
}

export class SocketIoSendPipe implements SizedPipe {
  recorder: Recorder | undefined;
  size = 100;
  private readonly bad: string[] = [];
  private closing = false;

  constructor(
    private readonly sender: Socket,
    private readonly to: string,
    private readonly receivers: readonly Socket[],
  ) {
    const stamp = { seq: 0, ts: 0 };
    for (const s of [sender, ...receivers]) {
      s.on('disconnect', (reason) => {
        if (!this.closing && this.bad.length < MAX_KEPT_PROBLEMS) this.bad.push(`Socket.IO disconnected: ${reason}`);
      });
    }
    for (const r of receivers) {
      r.on('chat', (text: unknown) => {
        if (typeof text === 'string' && readStampText(text, 0, stamp)) this.recorder?.record(stamp.seq, stamp.ts);
      });
    }
  }

  send(seq: number): void {
    this.sender.emit('chat', this.to, stampedText(seq, this.size));
  }

  problems(): string[] {
    return this.bad;
  }

  close(): void {
    this.closing = true;
    for (const s of [this.sender, ...this.receivers]) s.close();
  }
}
