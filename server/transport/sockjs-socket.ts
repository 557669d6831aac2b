import type { SessionSocket, SocketListener } from './session-socket.js';

/** What SockJsSocket uses of a sockjs connection (the package's `Connection`). */
export interface SockJsConnection {
  readonly readyState: number;
  write(data: string): boolean;
  close(code?: string, reason?: string): boolean;
  destroy(): void;
  on(event: 'data', listener: (text: string) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
}

/** A SockJS connection as a SessionSocket. Over SockJS every frame is text (as in Spring). */
export class SockJsSocket implements SessionSocket {
  private listener: SocketListener | undefined;
  /** Messages that came while paused: the sockjs package cannot stop its transports from reading. */
  private held: Buffer[] | undefined;
  private heldBytes = 0;
  /** Sent too much while paused: what comes after is dropped, the connection is closing. */
  private cutOff = false;

  constructor(
    private readonly conn: SockJsConnection,
    /** Past this much held, the client is not waiting for the node: its connection is closed (1008). */
    private readonly maxHeldBytes: number,
  ) {}

  get bufferedAmount(): number {
    return 0; // the sockjs package does not expose its queue
  }

  get isOpen(): boolean {
    return this.conn.readyState === 1;
  }

  sendParts(head: Buffer, tail: Buffer, binary: boolean, done: (err?: Error) => void): void {
    this.send(Buffer.concat([head, tail]), binary, done);
  }

  send(data: Buffer, _binary: boolean, done: (err?: Error) => void): void {
    const ok = this.conn.write(data.toString('utf8'));
    done(ok === false && this.conn.readyState !== 1 ? new Error('SockJS connection closed') : undefined);
  }

  close(code: number, reason: string): void {
    this.conn.close(String(code), reason);
  }

  terminate(): void {
    this.conn.destroy();
    // sockjs's destroy() drops every listener, 'close' too: the session would never hear of it
    // (an xhr-polling client that went away held its session and its connection count for good).
    this.listener?.socketClosed();
  }

  listen(listener: SocketListener): void {
    this.listener = listener;
    this.conn.on('data', (text: string) => {
      if (this.cutOff) return;
      const chunk = Buffer.from(text, 'utf8');
      if (!this.held) {
        listener.socketData(chunk);
        return;
      }
      this.heldBytes += chunk.length;
      if (this.heldBytes <= this.maxHeldBytes) {
        this.held.push(chunk);
        return;
      }
      // A client that keeps sending while its session is paused does not wait for the node.
      this.cutOff = true;
      this.held.length = 0;
      this.conn.close('1008', `over ${this.maxHeldBytes} bytes sent while the session was paused`);
    });
    this.conn.on('close', () => listener.socketClosed());
  }

  pause(): void {
    this.held ??= [];
  }

  resume(): void {
    const held = this.held;
    this.held = undefined;
    this.heldBytes = 0;
    if (!held) return;
    for (let i = 0; i < held.length; i++) {
      this.listener?.socketData(held[i] as Buffer);
      // The listener may have paused again (TypeScript cannot see that).
      const again = this.held as Buffer[] | undefined;
      if (again) {
        // Paused again while handling one: the rest wait, in order.
        again.unshift(...held.slice(i + 1));
        return;
      }
    }
  }
}
