import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { SessionSocket } from './session-socket.js';
import { releaseAtTickEnd, type Held } from './tick-cork.js';

/**
 * A `ws` WebSocket as a SessionSocket. Frames sent in one turn of the event loop leave in one
 * write: the TCP socket is corked at the first and uncorked when the turn ends (tick-cork.ts).
 * ws corks and uncorks around each frame itself; Node counts corks, so those nest inside ours.
 */
export class WsSocket implements SessionSocket, Held {
  private corked = false;

  constructor(
    private readonly ws: WebSocket,
    /** The TCP socket under `ws` (from the upgrade). */
    private readonly tcp?: Duplex,
    /**
     * Held bytes past which the burst goes out at once: what is held counts in `bufferedAmount`,
     * which must keep measuring a client that does not read, not a burst (MAX_OUTBOUND_BYTES).
     */
    private readonly holdBytes = 16 * 1024,
  ) {
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
    this.hold();
    this.ws.send(data, binary ? BINARY : TEXT, done);
    this.releaseIfBig();
  }

  /**
   * Two fragments of one WebSocket message (RFC 6455 §5.4): the shared tail goes out as it is,
   * not copied behind each subscriber's head. Both are queued at once, so nothing can come
   * between them; receivers see one message.
   */
  sendParts(head: Buffer, tail: Buffer, binary: boolean, done: (err?: Error) => void): void {
    this.hold();
    this.ws.send(head, binary ? BINARY_FIRST : TEXT_FIRST);
    this.ws.send(tail, binary ? BINARY : TEXT, done);
    this.releaseIfBig();
  }

  private hold(): void {
    if (this.tcp === undefined || this.corked) return;
    this.corked = true;
    this.tcp.cork();
    releaseAtTickEnd(this);
  }

  private releaseIfBig(): void {
    if (this.corked && (this.tcp as Duplex).writableLength >= this.holdBytes) this.release();
  }

  /** Ends the hold (at the end of the turn, or early for a big burst); a second call does nothing. */
  release(): void {
    if (!this.corked) return;
    this.corked = false;
    this.tcp?.uncork();
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

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  onClose(listener: () => void): void {
    this.ws.on('close', listener);
  }
}

/** Shared send options: one object per frame adds up on a fan-out. */
const BINARY = { binary: true } as const;
const TEXT = { binary: false } as const;
const BINARY_FIRST = { binary: true, fin: false } as const;
const TEXT_FIRST = { binary: false, fin: false } as const;
