import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import sockjs from 'sockjs';
import type { Logger } from '../log.js';
import type { SessionSocket, SocketListener } from './session-socket.js';
import type { WsEndpoint } from './ws-endpoint.js';

/** Spring's SockJS heart-beat and disconnect delays (AbstractSockJsService defaults). */
const HEARTBEAT_DELAY_MS = 25_000;
const DISCONNECT_DELAY_MS = 5_000;

/** A SockJS connection as a SessionSocket. Over SockJS every frame is text (as in Spring). */
class SockJsSocket implements SessionSocket {
  private listener: SocketListener | undefined;
  /** Messages that came while paused: the sockjs package cannot stop its transports from reading. */
  private held: Buffer[] | undefined;

  constructor(private readonly conn: sockjs.Connection) {}

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
      const chunk = Buffer.from(text, 'utf8');
      if (this.held) this.held.push(chunk);
      else listener.socketData(chunk);
    });
    this.conn.on('close', () => listener.socketClosed());
  }

  pause(): void {
    this.held ??= [];
  }

  resume(): void {
    const held = this.held;
    this.held = undefined;
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

/**
 * SockJS on the STOMP endpoint, laid out as Spring's `addEndpoint("/ws").withSockJS()`: `/ws/info`,
 * `/ws/{server}/{session}/{transport}` (websocket, xhr, xhr_streaming, eventsource, htmlfile). The
 * raw WebSocket at `/ws` and `/ws/websocket` stays WsEndpoint's. The STOMP session id is the
 * SockJS session segment, as in Spring.
 */
export class SockJsEndpoint {
  private readonly handler: (req: IncomingMessage, res: ServerResponse | Duplex, head?: Buffer) => boolean;
  private readonly pathRegex: RegExp;

  constructor(
    private readonly ws: WsEndpoint,
    prefix: string,
    log: Logger,
  ) {
    const server = sockjs.createServer({
      prefix,
      heartbeat_delay: HEARTBEAT_DELAY_MS,
      disconnect_delay: DISCONNECT_DELAY_MS,
      log: (severity: string, message: string) => {
        if (severity === 'error') log.warn({ sockjs: message }, 'sockjs');
      },
    });
    server.on('connection', (conn: sockjs.Connection | null) => {
      // sockjs emits null for a connection that closed before it opened
      if (!conn) return;
      if (!this.ws.isAccepting) {
        conn.close('1012', 'node draining');
        return;
      }
      const session = /\/([^/.]+)\/[a-z_]+\/?$/.exec(conn.pathname)?.[1] ?? conn.id;
      const query = new URLSearchParams(conn.url.split('?')[1] ?? '');
      this.ws.adopt(new SockJsSocket(conn), session, query);
    });
    const escaped = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    this.pathRegex = new RegExp(`^${escaped}(/.*)?$`);
    const listener = (
      server as unknown as { listener(o: object): { getHandler(): SockJsEndpoint['handler'] } }
    ).listener({ prefix });
    this.handler = listener.getHandler();
  }

  /** Handles an HTTP request under the prefix; false when it is not SockJS's. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    if (!this.pathRegex.test((req.url ?? '').split('?')[0] ?? '')) return false;
    if (!this.ws.originAllowed(req.headers.origin, req.headers.host)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('Forbidden origin');
      return true;
    }
    return this.handler(req, res);
  }

  /** Handles a SockJS websocket-transport upgrade (`/ws/{server}/{session}/websocket`). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (!this.pathRegex.test((req.url ?? '').split('?')[0] ?? '')) return false;
    if (!this.ws.originAllowed(req.headers.origin, req.headers.host)) {
      socket.on('error', () => {}); // an upgraded socket has no listener: a reset must not crash the node
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return true;
    }
    return this.handler(req, socket, head);
  }
}
