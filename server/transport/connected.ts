import { EMPTY_BODY, type Frame, type HeaderList, type StompVersion } from '../../protocol/index.js';
import type { Principal } from '../auth/authenticator.js';
import { RelayError } from '../errors.js';
import type { SessionId } from '../ids.js';

export const SERVER_NAME = 'stomp-relay/0.1.0';

/** The CONNECTED frame, with the headers Spring's broker relay sends (user-name for a known user). */
export function connectedFrame(
  version: StompVersion,
  [sx, sy]: readonly [number, number],
  session: SessionId,
  principal: Principal,
): Frame {
  const headers: HeaderList = [
    ['version', version],
    ['heart-beat', `${sx},${sy}`],
    ['server', SERVER_NAME],
    ['session', session],
    ...(principal.anonymous ? [] : [['user-name', principal.name] as const]),
  ];
  return { command: 'CONNECTED', headers, body: EMPTY_BODY };
}

/** MAX_INBOUND_FRAMES_PER_SECOND over fixed one-second windows: two numbers per session, no timer. */
export class FrameRate {
  private windowStart = Date.now();
  private frames = 0;

  constructor(private readonly perSecond: number) {}

  /** Counts one inbound frame; throws RATE_LIMITED past the limit. */
  count(now = Date.now()): void {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.frames = 0;
    }
    if (++this.frames > this.perSecond)
      throw new RelayError('RATE_LIMITED', `more than ${this.perSecond} frames per second`);
  }

  /** Its second is over: the next frame starts a new count, as a new FrameRate's would. */
  isOver(now = Date.now()): boolean {
    return now - this.windowStart >= 1000;
  }
}
