/**
 * The one thing a StompSession needs from its transport. Two forms: a plain WebSocket (`ws`) and
 * a SockJS connection (websocket or xhr fallbacks), so the session never knows which it has.
 */
export interface SessionSocket {
  /** Bytes accepted by `send` and not yet handed to the OS: how far behind the reader is. */
  readonly bufferedAmount: number;
  /** True while frames can still be sent (not closing or closed). */
  readonly isOpen: boolean;
  /** Writes one WebSocket message; `done` runs once it is written (with an error if it was not). */
  send(data: Buffer, binary: boolean, done: (err?: Error) => void): void;
  /**
   * Writes one WebSocket message made of `head` then `tail`. `tail` is shared by many sessions (a
   * fan-out) and must not be changed; a transport may send it without copying it.
   */
  sendParts(head: Buffer, tail: Buffer, binary: boolean, done: (err?: Error) => void): void;
  /** Starts a clean close with a WebSocket close code. */
  close(code: number, reason: string): void;
  /** Drops the connection at once. */
  terminate(): void;
  /** Reports to `listener` from now on; called once, by the session. */
  listen(listener: SocketListener): void;
  /** Stops reading (flow control): no more `socketData` until `resume`, beyond what was already read. */
  pause(): void;
  resume(): void;
}

/**
 * What a transport reports to its session. An object rather than callbacks: a closure and its
 * context per callback per connection would be a part of an idle session's memory.
 */
export interface SocketListener {
  /** One WebSocket message read. */
  socketData(chunk: Buffer): void;
  /** The connection closed (once). */
  socketClosed(): void;
}

/** A WebSocket close reason is at most 123 bytes. */
export function truncateReason(reason: string): string {
  const bytes = Buffer.from(reason);
  return bytes.length <= 123
    ? reason
    : bytes
        .subarray(0, 120)
        .toString('utf8')
        .replace(/\uFFFD$/, '') + '...';
}
