import { commandEscapesHeaders, escapeHeader } from './escape.js';
import type { Command, Frame, HeaderList, StompVersion } from './frame.js';

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
  return withBody(`${frame.command}\n${headerLines(frame.headers, rules)}\n`, frame.body);
}

/**
 * The end of a frame — its last headers, the blank line, the body and the NUL — for frames that
 * differ only in their first headers: a MESSAGE to each subscriber of one destination differs in
 * `subscription` (and `ack`) alone. Encode the tail once, and each frame's own start with `encodeHead`.
 * Escaped as `encodeFrame` would for `version` (MESSAGE escapes its headers).
 */
export function encodeTail(headers: HeaderList, body: Buffer, version: StompVersion): Buffer {
  return withBody(`${headerLines(headers, version)}\n`, body);
}

/** `command` and its first `headers`: what goes before a shared tail from `encodeTail` (same version). */
export function encodeHead(command: Command, headers: HeaderList, version: StompVersion): Buffer {
  const rules: StompVersion = commandEscapesHeaders(command) ? version : '1.0';
  return Buffer.from(`${command}\n${headerLines(headers, rules)}`, 'utf8');
}

/** `head`, then the body, then NUL. The head is short and built as a string; the body is copied once, straight into the result. */
function withBody(head: string, body: Buffer): Buffer {
  const headBytes = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headBytes + body.length + 1);
  out.write(head, 0, 'utf8');
  body.copy(out, headBytes);
  out[out.length - 1] = 0;
  return out;
}

/** One `name:value` LF per header, in order (repeats kept), escaped per `rules`. */
function headerLines(headers: HeaderList, rules: StompVersion): string {
  let lines = '';
  for (const [name, value] of headers) lines += `${escapeHeader(name, rules)}:${escapeHeader(value, rules)}\n`;
  return lines;
}
