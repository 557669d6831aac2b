import { commandEscapesHeaders, escapeHeader } from './escape.js';
import type { Frame, StompVersion } from './frame.js';

/** A heart-beat: one LF, sent as its own WebSocket message (as Spring does). Shared; do not modify. */
export const HEARTBEAT_EOL: Buffer = Buffer.from([0x0a]);

/**
 * The wire form of `frame` for a peer speaking `version`: command LF, one `name:value` LF per header
 * in order (repeats kept), LF, body, NUL. Only LF is written, and nothing follows the NUL.
 *
 * Header names and values are escaped per `version` (see escapeHeader), except in CONNECT, STOMP and
 * CONNECTED, which are never escaped; there, as in 1.0, only CR and LF are written as `\r` / `\n`, so
 * no header can inject lines. Headers are written as given: the caller decides about `content-length`.
 */
export function encodeFrame(frame: Frame, version: StompVersion): Buffer {
  const rules: StompVersion = commandEscapesHeaders(frame.command) ? version : '1.0';
  // The head is short and built as a string; the body is copied once, straight into the result.
  let head = `${frame.command}\n`;
  for (const [name, value] of frame.headers) {
    head += `${escapeHeader(name, rules)}:${escapeHeader(value, rules)}\n`;
  }
  head += '\n';
  const headBytes = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headBytes + frame.body.length + 1);
  out.write(head, 0, 'utf8');
  frame.body.copy(out, headBytes);
  out[out.length - 1] = 0;
  return out;
}
