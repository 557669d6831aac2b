import type { WebSocket } from 'ws';
import type { SessionSocket } from './session-socket.js';

/** A `ws` WebSocket as a SessionSocket. */
export class WsSocket implements SessionSocket {
  constructor(private readonly ws: WebSocket) {
    ws.on('error', () => {
      // 'close' follows; the session cleans up there
    });
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  get isOpen(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  send(data: Buffer, binary: boolean, done: (err?: Error) => void): void {
    this.ws.send(data, binary ? BINARY : TEXT, done);
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }

  onMessage(listener: (chunk: Buffer) => void): void {
    this.ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      listener(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));
    });
  }

  onClose(listener: () => void): void {
    this.ws.on('close', listener);
  }
}

/** Shared send options: one object per frame adds up on a fan-out. */
const BINARY = { binary: true } as const;
const TEXT = { binary: false } as const;
