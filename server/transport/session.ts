import {
  EMPTY_BODY,
  FrameDecoder,
  HEARTBEAT_EOL,
  StompProtocolError,
  SUPPORTED_VERSIONS_HEADER,
  encodeFrame,
  encodeHead,
  header,
  isOnlyHeartbeats,
  negotiateHeartbeat,
  negotiateVersion,
  parseHeartbeat,
  type Frame,
  type HeaderList,
  type StompVersion,
} from '../../protocol/index.js';
import type { Authenticator, Principal } from '../auth/authenticator.js';
import type { Config } from '../config.js';
import { RelayError, toRelayError, type CloseCode } from '../errors.js';
import type { SessionId } from '../ids.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ConnectAdmission } from './connect-admission.js';
import type { RelayPressure } from '../relay/relay-pressure.js';
import type { MessageTail, Messaging, SessionLink } from '../messaging/messaging.js';
import type { SessionMessaging } from '../messaging/session-messaging.js';
import type { SessionBeats } from './session-beats.js';
import { SessionHeartbeat, type HeartbeatPeer } from './session-heartbeat.js';
import { truncateReason, type SessionSocket, type SocketListener } from './session-socket.js';
import { connectedFrame, FrameRate } from './connected.js';
import type { InboundPacer, PacedReader } from './inbound-pacer.js';

/** How long a closing socket may take to flush before it is destroyed. */
const CLOSE_GRACE_MS = 1_000;

export interface SessionDeps {
  readonly config: Config;
  readonly authenticator: Authenticator;
  readonly messaging: Messaging;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** The node's heart-beat timers (see HeartbeatWheel); a session joins them after CONNECT. */
  readonly beats: SessionBeats;
  /** Bounds the CONNECTs being authenticated and registered at once (MAX_PENDING_CONNECTS). */
  readonly admission: ConnectAdmission;
  /** Flow control of the node hop: a session that SENDs stops being read while it is closed. */
  readonly pressure?: RelayPressure;
  /** Told once, when the session's connection closed (the endpoint's own count of sessions). */
  readonly ended?: (session: StompSession) => void;
  /** Spreads the node's inbound frames over turns of the event loop (a storm's CONNECTs). */
  readonly pacer: InboundPacer;
}

/** The starting point of every session's receipt chain (shared: one promise fewer per session). */
const SETTLED: Promise<void> = Promise.resolve();

type State = 'connecting' | 'authenticating' | 'connected' | 'disconnecting' | 'closed';

/**
 * One STOMP session over one WebSocket: the CONNECT handshake, heart-beats, the order of inbound
 * frames, RECEIPTs, and the one error boundary (STYLE 3.4): everything thrown while decoding or
 * handling a frame ends here as an ERROR frame plus close code. Nothing escapes into the process.
 */
export class StompSession implements SessionLink, HeartbeatPeer, SocketListener, PacedReader {
  private state: State = 'connecting';
  /** Made on the first bytes, let go at a heart-beat while nothing is half read (see sendHeartbeat). */
  private decoder: FrameDecoder | undefined;
  private authenticated: Principal | undefined;
  private messaging: SessionMessaging | undefined;
  private negotiated: StompVersion = '1.2';
  /** Frames that arrived while CONNECT was being authenticated, handled right after it (made on first use, as timers). */
  private pending: Frame[] | undefined;
  /** RECEIPTs go out in the order their frames came in. */
  private receipts: Promise<unknown> = SETTLED;
  private readonly heartbeat: SessionHeartbeat;
  private timers: NodeJS.Timeout[] | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  /** Made on the first frame of a second; let go with the decoder once a second passed without one. */
  private rate: FrameRate | undefined;
  /** A SEND came in since the last read: this session feeds the relay. */
  private sent = false;
  /** Reading is paused until the relay's pressure drops (flow control). */
  private held = false;

  constructor(
    private readonly socket: SessionSocket,
    readonly id: SessionId,
    /** The upgrade URL's query, for the authenticator; dropped once CONNECT is done with it. */
    private query: URLSearchParams | undefined,
    private readonly deps: SessionDeps,
  ) {
    this.heartbeat = new SessionHeartbeat(deps.beats, this);
    socket.listen(this);
    this.connectTimer = setTimeout(() => {
      if (this.state === 'connecting') this.fail(new RelayError('CONNECT_TIMEOUT', 'no CONNECT frame in time'));
    }, this.deps.config.limits.connectTimeoutMs);
    this.connectTimer.unref();
  }

  get user(): string {
    return this.authenticated?.name ?? this.id;
  }

  /** The principal CONNECT authenticated; before that, an anonymous one named after the session. */
  get principal(): Principal {
    return this.authenticated ?? { name: this.id, anonymous: true };
  }

  get version(): StompVersion {
    return this.negotiated;
  }

  // ---- inbound ----------------------------------------------------------------------------

  /** SocketListener: one WebSocket message. */
  socketData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.heartbeat.read();
    // A client's heart-beat to a session without a decoder: nothing to decode, none to make
    // (unless earlier bytes wait to be decoded: the beat may end one of their frames).
    if (this.decoder === undefined && isOnlyHeartbeats(chunk) && !this.deps.pacer.waits(this)) return;
    this.deps.pacer.take(this, chunk);
  }

  /** PacedReader: one WebSocket message, in its turn. */
  readChunk(chunk: Buffer): void {
    if (this.state === 'closed') return;
    try {
      for (const event of (this.decoder ??= this.newDecoder()).push(chunk)) {
        if (event.kind === 'heartbeat') continue;
        this.deps.metrics.frameIn(event.frame.command);
        (this.rate ??= new FrameRate(this.deps.config.limits.maxInboundFramesPerSecond)).count();
        if (this.state === 'authenticating') (this.pending ??= []).push(event.frame);
        else this.onFrame(event.frame);
        if ((this.state as State) === 'closed') return;
      }
    } catch (err) {
      this.fail(err);
    }
    if (this.sent) {
      this.sent = false;
      if (this.deps.pressure?.closed) this.holdReading(this.deps.pressure);
    }
  }

  /**
   * Flow control: the relay buffer is above its high-water mark while RabbitMQ is reachable, so
   * this sender stops being read (TCP pushes back on the client) until the buffer drains; frames
   * already read are handled. Deliveries to this session go on.
   */
  private holdReading(pressure: RelayPressure): void {
    if (this.held) return;
    this.pauseReading();
    this.held = true;
    this.deps.metrics.flowPaused.inc();
    pressure.onOpen(() => {
      this.held = false;
      if (!this.deps.pacer.waits(this)) this.resumeReading();
    });
  }

  /** PacedReader: its messages wait for their turn; silence meanwhile is the node's, not the client's. */
  pauseReading(): void {
    if (this.held) return;
    this.heartbeat.pause();
    this.socket.pause();
  }

  resumeReading(): void {
    if (this.held || this.state === 'closed') return;
    this.heartbeat.resume();
    this.socket.resume();
  }

  private onFrame(frame: Frame): void {
    const receipt = header(frame, 'receipt');
    try {
      this.dispatch(frame, receipt);
    } catch (err) {
      this.fail(err, receipt);
    }
  }

  private dispatch(frame: Frame, receipt: string | undefined): void {
    const { command } = frame;
    if (command === 'CONNECT' || command === 'STOMP') {
      if (this.state !== 'connecting') throw new RelayError('SESSION_EXISTS', 'Session already exists');
      void this.connect(frame);
      return;
    }
    if (this.state !== 'connected' || !this.messaging)
      throw new RelayError('NOT_CONNECTED', `Unknown session: ${this.id} (send CONNECT first)`);
    if (command !== 'SEND' && frame.body.length > 0) {
      throw new StompProtocolError('STOMP_ERR_UNEXPECTED_BODY', `${command} shouldn't have a payload`);
    }
    if (command === 'DISCONNECT') {
      this.disconnect(receipt);
      return;
    }
    if (command === 'CONNECTED' || command === 'MESSAGE' || command === 'RECEIPT' || command === 'ERROR') {
      throw new StompProtocolError('STOMP_ERR_UNKNOWN_COMMAND', `${command} is a server frame`);
    }
    if (command === 'SEND' || command === 'COMMIT') this.sent = true;
    const effect = this.messaging.handle(frame);
    if (receipt === undefined) {
      effect.catch((err: unknown) => this.fail(err));
      return;
    }
    const done = Promise.all([this.receipts, effect]);
    const chained: Promise<unknown> = done.then(
      ([, extra]) => {
        this.write({
          command: 'RECEIPT',
          headers: extra ? [['receipt-id', receipt], ...extra] : [['receipt-id', receipt]],
          body: EMPTY_BODY,
        });
        // The last RECEIPT is out: an idle session keeps no settled promise.
        if (this.receipts === chained) this.receipts = SETTLED;
      },
      (err: unknown) => this.fail(err, receipt),
    );
    this.receipts = chained;
  }

  /** DISCONNECT: RECEIPT when asked for (after every earlier receipt), else Spring's ERROR "Session closed.". */
  private disconnect(receipt: string | undefined): void {
    if (receipt === undefined) {
      this.fail(new RelayError('SESSION_CLOSED', 'Session closed.'));
      return;
    }
    this.receipts = this.receipts.then(async () => {
      // The client stops reading once it has the RECEIPT: leave the registry first, so what is
      // sent to the user from now on goes to its other sessions or its offline inbox, not here.
      // Not awaited: the local part is done at once; the registry's part may wait for Redis,
      // and the client's DISCONNECT must not.
      this.state = 'disconnecting';
      this.messaging
        ?.close()
        .catch((err: unknown) => this.deps.log.warn({ err: String(err), session: this.id }, 'session cleanup failed'));
      this.write({ command: 'RECEIPT', headers: [['receipt-id', receipt]], body: EMPTY_BODY });
      // The client closes after the RECEIPT; if it does not, close for it.
      const t = setTimeout(() => this.close(1000, 'DISCONNECT'), CLOSE_GRACE_MS);
      t.unref();
      (this.timers ??= []).push(t);
    });
  }

  // ---- CONNECT ----------------------------------------------------------------------------

  private async connect(frame: Frame): Promise<void> {
    this.state = 'authenticating';
    const receipt = header(frame, 'receipt');
    let admitted = false;
    try {
      const refused = this.deps.admission.enter();
      admitted = refused === undefined;
      if (refused !== undefined) throw new RelayError('BUSY', refused);
      const version = negotiateVersion(header(frame, 'accept-version'));
      if (version === null) {
        throw new RelayError('UNSUPPORTED_VERSION', `Supported protocol versions are ${SUPPORTED_VERSIONS_HEADER}`);
      }
      this.negotiated = version;
      const clientBeat = parseHeartbeat(header(frame, 'heart-beat'));
      const principal = await this.deps.authenticator.authenticate({
        headers: frame.headers,
        query: this.query ?? new URLSearchParams(),
        sessionId: this.id,
      });
      this.authenticated = principal;
      this.query = undefined;
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
      if ((this.state as State) === 'closed') return;
      this.messaging = await this.deps.messaging.open(this);
      if ((this.state as State) === 'closed') {
        await this.messaging.close();
        return;
      }
      this.decoder?.setVersion(version);
      const serverBeat = this.deps.config.heartbeat;
      this.state = 'connected';
      this.write(connectedFrame(version, serverBeat, this.id, principal));
      if (receipt !== undefined)
        this.write({ command: 'RECEIPT', headers: [['receipt-id', receipt]], body: EMPTY_BODY });
      // Writing CONNECTED may have failed the session already (and stopped its heart-beats).
      if ((this.state as State) === 'closed') return;
      this.heartbeat.start(negotiateHeartbeat(clientBeat, serverBeat), this.deps.config.heartbeatGraceFactor);
      this.watchExpiry();
      const queued = this.pending ?? [];
      this.pending = undefined;
      for (const f of queued) {
        if (this.state !== 'connected') break;
        this.onFrame(f);
      }
    } catch (err) {
      this.fail(err, receipt);
    } finally {
      if (admitted) this.deps.admission.leave();
    }
  }

  sendHeartbeat(): void {
    this.send(HEARTBEAT_EOL, false);
    // Nothing went out for a period, so the session is likely idle: its decoder goes until the next
    // bytes unless a frame is half read, its frame count once its second is over (~200 bytes).
    if (this.state !== 'connected') return;
    if (this.decoder?.atRest === true) this.decoder = undefined;
    if (this.rate?.isOver() === true) this.rate = undefined;
  }

  private newDecoder(): FrameDecoder {
    const decoder = new FrameDecoder(this.deps.config.limits); // kept as given: one limits object for every session
    // Made again after CONNECT: its version is the negotiated one.
    if (this.state === 'connected' || this.state === 'disconnecting') decoder.setVersion(this.negotiated);
    return decoder;
  }

  heartbeatTimedOut(): void {
    this.fail(new RelayError('HEARTBEAT_TIMEOUT', 'Session closed.'));
  }

  /** A token that expires ends the session with an ERROR (SPEC §7). */
  private watchExpiry(): void {
    const expiresAt = this.authenticated?.expiresAt;
    if (expiresAt === undefined) return;
    const t = setTimeout(
      () => this.fail(new RelayError('AUTH_FAILED', 'token expired')),
      Math.max(0, expiresAt - Date.now()),
    );
    t.unref();
    (this.timers ??= []).push(t);
  }

  // ---- outbound ---------------------------------------------------------------------------

  write(frame: Frame, binary = false): boolean {
    if (this.state === 'closed') return false;
    this.deps.metrics.frameOut(frame.command);
    return this.send(encodeFrame(frame, this.negotiated), binary);
  }

  writeMessage(headers: HeaderList, tail: MessageTail): boolean {
    if (this.state === 'closed') return false;
    this.deps.metrics.frameOut('MESSAGE');
    return this.send(encodeHead('MESSAGE', headers, this.negotiated), tail.binary, tail.bytes);
  }

  /**
   * Hands a frame to the socket — with `tail`, as two parts of one WebSocket message (a shared
   * MESSAGE end). True once it is queued on an open socket — not when the peer has read it:
   * waiting for that would let one client that stops reading hold up every delivery queued
   * behind it (a RECEIPT, a broker ack). What a slow client leaves queued is bounded instead:
   * past MAX_OUTBOUND_BYTES the session is cut off (SPEC §7).
   */
  private send(data: Buffer, binary: boolean, tail?: Buffer): boolean {
    if (this.state === 'closed' || !this.socket.isOpen) return false;
    this.heartbeat.wrote();
    if (tail === undefined) this.socket.send(data, binary, ignore);
    else this.socket.sendParts(data, tail, binary, ignore);
    this.checkBacklog();
    return true;
  }

  /** A client that does not read is cut off once MAX_OUTBOUND_BYTES wait for it (SPEC §7). */
  private checkBacklog(): void {
    if (this.socket.bufferedAmount > this.deps.config.limits.maxOutboundBytes) {
      this.fail(
        new RelayError(
          'SLOW_CONSUMER',
          `outbound buffer over ${this.deps.config.limits.maxOutboundBytes} bytes: the client reads too slowly`,
        ),
      );
    }
  }

  // ---- errors and close -------------------------------------------------------------------

  /** The error boundary: ERROR frame (with receipt-id), close with the error's code, log once. */
  fail(err: unknown, receipt?: string): void {
    if (this.state === 'closed') return;
    const error = toRelayError(err);
    if (error.code === 'INTERNAL') this.deps.log.error({ err, session: this.id }, 'session failed');
    else this.deps.log.debug({ code: error.code, message: error.message, session: this.id }, 'session error');
    this.deps.metrics.errors.inc({ code: error.code });
    const headers: [string, string][] = [['message', error.expose ? error.message : 'internal error']];
    if (receipt !== undefined) headers.push(['receipt-id', receipt]);
    headers.push(['content-length', '0']);
    try {
      this.socket.send(encodeFrame({ command: 'ERROR', headers, body: EMPTY_BODY }, this.negotiated), false, () => {});
      this.deps.metrics.frameOut('ERROR');
    } catch {
      // the socket is already unusable; closing below is all that is left
    }
    this.close(error.closeCode, error.message);
  }

  /** Closes the socket (drain: 1012). Destroys it if the peer does not complete the close in time. */
  close(code: CloseCode | 1000 | 1001, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearTimers();
    try {
      this.socket.close(code, truncateReason(reason));
    } catch {
      this.socket.terminate();
    }
    const t = setTimeout(() => this.socket.terminate(), CLOSE_GRACE_MS);
    t.unref();
    void this.onClose();
  }

  private closing: Promise<void> | undefined;

  /** SocketListener: the connection closed. What the client sent before is handled first. */
  socketClosed(): void {
    this.deps.pacer.flush(this);
    void this.onClose();
    this.deps.ended?.(this);
  }

  private onClose(): Promise<void> {
    this.closing ??= (async () => {
      this.state = 'closed';
      this.clearTimers();
      this.pending = undefined;
      this.decoder = undefined;
      try {
        await this.messaging?.close();
      } catch (err) {
        this.deps.log.error({ err, session: this.id }, 'session cleanup failed');
      }
    })();
    return this.closing;
  }

  /** Resolves once the session's cleanup (registry, unacked messages) is done. */
  closed(): Promise<void> {
    return this.closing ?? Promise.resolve();
  }

  private clearTimers(): void {
    for (const t of this.timers ?? []) clearTimeout(t);
    this.timers = undefined;
    clearTimeout(this.connectTimer);
    this.heartbeat.stop();
  }
}

const ignore = (): void => {};
