import { HeartbeatWheel } from './heartbeat-wheel.js';

/** What the wheels call on a session (StompSession). */
export interface BeatingSession {
  /** A heart-beat unless a frame went out lately. */
  sendBeat(now: number): void;
  /** Nothing read for too long ends the session. */
  checkBeat(now: number): void;
}

export interface SessionBeats {
  /** Calls `sendBeat` every send period. */
  readonly send: HeartbeatWheel<BeatingSession>;
  /** Calls `checkBeat` every half expected period. */
  readonly check: HeartbeatWheel<BeatingSession>;
}

/** The node-wide wheels that drive every session's heart-beats. */
export function sessionBeats(): SessionBeats {
  return {
    send: new HeartbeatWheel((s, now) => s.sendBeat(now)),
    check: new HeartbeatWheel((s, now) => s.checkBeat(now)),
  };
}
