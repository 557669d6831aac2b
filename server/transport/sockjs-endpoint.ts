import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import sockjs from 'sockjs';
import type { Logger } from '../log.js';
import { SockJsSocket } from './sockjs-socket.js';
import type { WsEndpoint } from './ws-endpoint.js';

/** Spring's SockJS heart-beat and disconnect delays (AbstractSockJsService defaults). */
const HEARTBEAT_DELAY_MS = 25_000;
const DISCONNECT_DELAY_MS = 5_000;

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
    /** What a session's connection may send while the session is paused (MAX_OUTBOUND_BYTES, the other way). */
    maxHeldBytes: number,
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
      this.ws.adopt(new SockJsSocket(conn, maxHeldBytes), session, query);
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
