import type { BeatingSession, SessionBeats } from './session-beats.js';

/** What a session's heart-beats act on (its StompSession). */
export interface HeartbeatPeer {
  /** Writes one heart-beat (an EOL) to the client. */
  sendHeartbeat(): void;
  /** The client has been silent past its limit: the session ends. */
  heartbeatTimedOut(): void;
}

/**
 * One session's heart-beats as negotiated at CONNECT (STOMP 1.1 "Heart-beating"): a beat when
 * nothing else went out for a while, and an end to a client silent for its period × the grace
 * factor. Driven by the node's wheels (SessionBeats), so a session holds no timer of its own.
 */
export class SessionHeartbeat implements BeatingSession {
  private lastReadAt = Date.now();
  private lastWriteAt = Date.now();
  /** 0 = off (not yet negotiated, not asked for, or stopped). */
  private sendEveryMs = 0;
  private checkEveryMs = 0;
  private readLimitMs = 0;
  /** Reading is paused by flow control: the silence is the node's, not the client's. */
  private paused = false;

  constructor(
    private readonly wheels: SessionBeats,
    private readonly peer: HeartbeatPeer,
  ) {}

  /** Something came from the client. */
  read(): void {
    this.lastReadAt = Date.now();
  }

  /** Something went to the client. */
  wrote(): void {
    this.lastWriteAt = Date.now();
  }

  start(plan: { sendEveryMs: number; expectEveryMs: number }, graceFactor: number): void {
    if (plan.sendEveryMs > 0) {
      this.sendEveryMs = plan.sendEveryMs;
      this.wheels.send.add(this.sendEveryMs, this);
    }
    if (plan.expectEveryMs > 0) {
      this.readLimitMs = plan.expectEveryMs * graceFactor;
      this.checkEveryMs = Math.max(50, Math.round(plan.expectEveryMs / 2));
      this.wheels.check.add(this.checkEveryMs, this);
    }
  }

  stop(): void {
    if (this.sendEveryMs > 0) this.wheels.send.remove(this.sendEveryMs, this);
    if (this.checkEveryMs > 0) this.wheels.check.remove(this.checkEveryMs, this);
    this.sendEveryMs = 0;
    this.checkEveryMs = 0;
  }

  /** Flow control holds the client's frames unread: no verdict until reading resumes. */
  pause(): void {
    this.paused = true;
  }

  /** Reading resumes: the silence is counted afresh. */
  resume(): void {
    this.paused = false;
    this.lastReadAt = Date.now();
  }

  /** The send wheel's tick: a heart-beat unless a frame went out lately. */
  sendBeat(now: number): void {
    if (now - this.lastWriteAt >= this.sendEveryMs * 0.8) this.peer.sendHeartbeat();
  }

  /** The check wheel's tick. The verdict waits until after this turn's reads: a stalled loop's beats wait unread. */
  checkBeat(now: number): void {
    if (!this.silentAt(now)) return;
    setImmediate(() => {
      if (this.silentAt(Date.now())) this.peer.heartbeatTimedOut();
    });
  }

  private silentAt(now: number): boolean {
    return this.checkEveryMs > 0 && !this.paused && now - this.lastReadAt > this.readLimitMs;
  }
}
