import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import type { SessionSocket, SocketListener } from './session-socket.js';
import { releaseAtTickEnd, type Held } from './tick-cork.js';

/**
 * A `ws` WebSocket as a SessionSocket. Frames sent in one turn of the event loop leave in one
 * write: the TCP socket is corked at the first and uncorked when the turn ends (tick-cork.ts).
 * ws corks and uncorks around each frame itself; Node counts corks, so those nest inside ours.
 */
export class WsSocket implements SessionSocket, Held {
  private corked = false;

  constructor(
    private readonly ws: RelayWebSocket,
    /** The TCP socket under `ws` (from the upgrade). */
    private readonly tcp?: Duplex,
    /**
     * Held bytes past which the burst goes out at once: what is held counts in `bufferedAmount`,
     * which must keep measuring a client that does not read, not a burst (MAX_OUTBOUND_BYTES).
     */
    private readonly holdBytes = 16 * 1024,
  ) {
    ws.on('error', ignoreError);
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

  listen(listener: SocketListener): void {
    // Functions shared by every connection; ws calls them with the RelayWebSocket as `this`.
    this.ws.listener = listener;
    this.ws.on('message', onWsMessage);
    this.ws.on('close', onWsClose);
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }
}

/** The endpoint's WebSocket class (ws's `WebSocket` option): one field for its session's listener. */
export class RelayWebSocket extends WebSocket {
  listener: SocketListener | undefined = undefined;
}

// ws calls a listener with the WebSocket it was added to as `this`: a RelayWebSocket, by `listen`.
function onWsMessage(this: WebSocket, data: WebSocket.RawData): void {
  (this as RelayWebSocket).listener?.socketData(
    Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data),
  );
}

function onWsClose(this: WebSocket): void {
  (this as RelayWebSocket).listener?.socketClosed();
}

function ignoreError(): void {
  // 'close' follows; the session cleans up there
}

/** Shared send options: one object per frame adds up on a fan-out. */
const BINARY = { binary: true } as const;
const TEXT = { binary: false } as const;
const BINARY_FIRST = { binary: true, fin: false } as const;
const TEXT_FIRST = { binary: false, fin: false } as const;
