import { StompErrorCode, StompProtocolError } from './errors.js';
import type { StompVersion } from './frame.js';
import { printable } from './printable.js';

/** Versions this server speaks, best first. */
export const SUPPORTED_VERSIONS: readonly StompVersion[] = Object.freeze(['1.2', '1.1', '1.0']);

/** SUPPORTED_VERSIONS as a header value, e.g. the `version` header of an ERROR for a failed negotiation. */
export const SUPPORTED_VERSIONS_HEADER = '1.2,1.1,1.0';

/** WebSocket subprotocols this server accepts, best first. */
export const STOMP_SUBPROTOCOLS = Object.freeze(['v12.stomp', 'v11.stomp', 'v10.stomp'] as const);
export type StompSubprotocol = (typeof STOMP_SUBPROTOCOLS)[number];
const SUBPROTOCOL_SET: ReadonlySet<string> = new Set(STOMP_SUBPROTOCOLS);

/** Largest heart-beat accepted: the longest delay a Node timer supports (a larger one fires after 1 ms). */
export const MAX_HEARTBEAT_MS = 2 ** 31 - 1;

/**
 * The version to speak, from CONNECT's `accept-version` (STOMP 1.2 "Protocol Negotiation").
 *
 * - Absent (`undefined`) means a 1.0 client: '1.0'.
 * - Otherwise the highest supported version listed. The list is split on ',' without trimming, as
 *   Spring does, so "1.1, 1.2" yields '1.1' (" 1.2" is not a version).
 * - `null` when nothing listed is supported; the caller answers with an ERROR.
 */
export function negotiateVersion(acceptVersion: string | undefined): StompVersion | null {
  if (acceptVersion === undefined) return '1.0';
  const offered = acceptVersion.split(',');
  return SUPPORTED_VERSIONS.find((v) => offered.includes(v)) ?? null;
}

const HEARTBEAT = /^([0-9]+),([0-9]+)$/;

/**
 * A `heart-beat` header as `[cx, cy]` (or `[sx, sy]`), in milliseconds. Absent means `[0, 0]`.
 * Anything but two non-negative integers separated by a comma, without spaces, or a value above
 * MAX_HEARTBEAT_MS, throws StompProtocolError(BAD_HEARTBEAT).
 */
export function parseHeartbeat(value: string | undefined): readonly [number, number] {
  if (value === undefined) return [0, 0];
  const match = HEARTBEAT.exec(value);
  const x = Number(match?.[1]);
  const y = Number(match?.[2]);
  if (!match || !(x <= MAX_HEARTBEAT_MS) || !(y <= MAX_HEARTBEAT_MS)) {
    throw new StompProtocolError(StompErrorCode.BAD_HEARTBEAT, `Invalid heart-beat header '${printable(value)}'`);
  }
  return [x, y];
}

/** The heart-beat intervals of a session, in ms; 0 means none in that direction. */
export interface HeartbeatPlan {
  /** How often the server must send something (a frame or an EOL). */
  readonly sendEveryMs: number;
  /** How often the client promised to send something; the read timeout is derived from it. */
  readonly expectEveryMs: number;
}

/**
 * STOMP 1.2 "Heart-beating": `client` is CONNECT's `[cx, cy]`, `server` what CONNECTED advertises,
 * `[sx, sy]`. The server sends every max(sx, cy) if both are non-zero, and expects the client every
 * max(cx, sy) if both are non-zero.
 */
export function negotiateHeartbeat(
  client: readonly [number, number],
  server: readonly [number, number],
): HeartbeatPlan {
  const [cx, cy] = client;
  const [sx, sy] = server;
  return {
    sendEveryMs: sx > 0 && cy > 0 ? Math.max(sx, cy) : 0,
    expectEveryMs: cx > 0 && sy > 0 ? Math.max(cx, sy) : 0,
  };
}

/**
 * The WebSocket subprotocol to accept: the first one in the client's order that is a STOMP
 * subprotocol, returned as the client spelled it (the handshake must echo it exactly). Matching
 * ignores case, as Spring's does. `false` when none matches (the connection may still go ahead
 * without a subprotocol). Fits ws's `handleProtocols`.
 */
export function subprotocolVersion(protocols: Iterable<string>): string | false {
  for (const offered of protocols) {
    if (!SUBPROTOCOL_SET.has(offered.toLowerCase())) continue;
    // The same text as our constant (the usual case): the constant, so a connection keeps no copy.
    return STOMP_SUBPROTOCOLS.find((p) => p === offered) ?? offered;
  }
  return false;
}
