import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type Server } from 'ws';
import { subprotocolVersion } from '../../protocol/index.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { SessionSocket } from './session-socket.js';
import { InboundPacer } from './inbound-pacer.js';
import { ConnectAdmission } from './connect-admission.js';
import { sessionBeats } from './session-beats.js';
import { StompSession, type SessionDeps } from './session.js';
import { RelayWebSocket, WsSocket } from './ws-socket.js';

/**
 * The STOMP endpoint: WebSocket upgrades at WS_PATH (and WS_PATH/websocket, the raw WebSocket of a
 * Spring SockJS endpoint), the subprotocols v10/v11/v12.stomp, the origin check and the
 * connection limit. Everything after the handshake is StompSession's.
 */
export class WsEndpoint {
  private readonly wss: Server<typeof RelayWebSocket>;
  private readonly sessions = new Set<StompSession>();
  private accepting = true;
  /** Upgrades waiting for their turn (InboundPacer): connections already, not sessions yet. */
  private upgrading = 0;
  private readonly deps: SessionDeps;

  constructor(
    deps: Omit<SessionDeps, 'beats' | 'admission' | 'ended' | 'pacer'> & {
      readonly config: Config;
      readonly metrics: Metrics;
      readonly log: Logger;
    },
  ) {
    // One set of heart-beat timers for every session of the endpoint.
    this.deps = {
      ...deps,
      beats: sessionBeats(),
      admission: new ConnectAdmission(deps.config.limits.maxPendingConnects, false),
      pacer: new InboundPacer({
        waited: () => deps.metrics.inboundPaced.inc(),
        failed: (err) => deps.log.error({ err }, 'inbound work failed'),
      }),
      ended: (session) => {
        if (this.sessions.delete(session)) this.deps.metrics.connections.dec();
      },
    };
    const { limits } = deps.config;
    this.wss = new WebSocketServer({
      noServer: true,
      // One WebSocket message may hold several frames; the decoder's own limits answer with an
      // ERROR frame, this only bounds what reaches it.
      maxPayload: limits.maxFrameBytes * 4 + 4096,
      perMessageDeflate: false,
      // The endpoint keeps its own set of sessions; ws's would be a second entry and a second
      // 'close' listener per connection.
      clientTracking: false,
      handleProtocols: (protocols) => subprotocolVersion(protocols),
      WebSocket: RelayWebSocket,
    });
  }

  /** The node is ready: STOMP CONNECTs are taken from now on (before, they get BUSY, close 1013). */
  admitConnects(): void {
    this.deps.admission.open();
  }

  get size(): number {
    return this.sessions.size;
  }

  paths(): string[] {
    const base = this.deps.config.wsPath;
    return [base, `${base.replace(/\/$/, '')}/websocket`];
  }

  /**
   * The http server's 'upgrade' handler. Returns false when the path is not ours. A refusal is
   * answered at once; the upgrade itself is inbound work like a frame: in a burst it waits for its
   * turn (see InboundPacer), and counts against MAX_CONNECTIONS while it waits.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!this.paths().includes(url.pathname)) return false;
    // Node's http server leaves an upgraded socket without an 'error' listener; ws adds its own.
    socket.on('error', ignoreSocketError);
    if (!this.accepting) return refuse(socket, 503, 'Service Unavailable');
    if (!this.originAllowed(req.headers.origin, req.headers.host)) {
      this.deps.metrics.errors.inc({ code: 'FORBIDDEN_ORIGIN' });
      return refuse(socket, 403, 'Forbidden');
    }
    if (this.full(socket)) return true;
    this.upgrading++;
    this.deps.pacer.run(() => {
      this.upgrading--;
      if (this.full(socket)) return; // draining or full by now
      socket.off('error', ignoreSocketError); // ws listens from here on
      try {
        this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, socket, url.searchParams));
      } catch (err) {
        socket.destroy();
        this.deps.log.error({ err }, 'WebSocket upgrade failed');
      }
    });
    return true;
  }

  /** Answers an upgrade when the node takes no more (draining, or MAX_CONNECTIONS reached); true if it did. */
  private full(socket: Duplex): boolean {
    if (!this.accepting) return refuse(socket, 503, 'Service Unavailable');
    if (this.sessions.size + this.upgrading < this.deps.config.limits.maxConnections) return false;
    this.deps.metrics.errors.inc({ code: 'TOO_MANY_CONNECTIONS' });
    return refuse(socket, 503, 'Service Unavailable');
  }

  /** Spring's setAllowedOrigins: `*` allows any; otherwise the Origin must be listed or be same-origin. */
  originAllowed(origin: string | undefined, host: string | undefined): boolean {
    const allowed = this.deps.config.allowedOrigins;
    if (allowed.includes('*') || origin === undefined) return true; // non-browser clients send no Origin
    if (allowed.includes(origin)) return true;
    try {
      return new URL(origin).host === host;
    } catch {
      return false;
    }
  }

  private accept(ws: RelayWebSocket, tcp: Duplex, query: URLSearchParams): void {
    // A burst is held (corked) up to a quarter of what makes a slow consumer, so it never looks like one.
    const holdBytes = Math.min(16 * 1024, Math.floor(this.deps.config.limits.maxOutboundBytes / 4));
    this.adopt(new WsSocket(ws, tcp, holdBytes), randomUUID(), query);
  }

  /** Runs a STOMP session over any transport (raw WebSocket here, SockJS from SockJsEndpoint). */
  adopt(socket: SessionSocket, sessionId: string, query: URLSearchParams): void {
    const session = new StompSession(socket, sessionId, query, this.deps);
    this.sessions.add(session);
    this.deps.metrics.connections.inc();
  }

  get isAccepting(): boolean {
    return this.accepting;
  }

  /** Stops accepting new connections (graceful drain). */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Closes every session with `code` and waits for their cleanup. */
  async closeAll(code: 1001 | 1012, reason: string): Promise<void> {
    const all = [...this.sessions];
    for (const s of all) s.close(code, reason);
    await Promise.all(all.map((s) => s.closed()));
    this.wss.close();
  }
}

function ignoreSocketError(): void {
  // a socket that fails while its upgrade waits: ws sees it closed and lets it go
}

/** An HTTP answer that refuses the upgrade; true, for the caller to return. */
function refuse(socket: Duplex, status: number, text: string): true {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  return true;
}
