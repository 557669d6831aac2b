import { encodeTail, header, type StompVersion } from '../../protocol/index.js';
import type { RelayMessage } from '../relay/relay-message.js';
import { travelsBinary, type MessageTail } from './messaging-deps.js';

/**
 * The message written last: whether it travels binary (decided once, not per subscriber), and its
 * tail once a second session wanted it (a fan-out, in a row). One per process: deliveries of one
 * message to its subscribers run back to back on the event loop.
 */
let last: { msg: RelayMessage; binary: boolean; plain: boolean; tail: MessageTail | undefined } | undefined;

/**
 * What every MESSAGE of `msg` ends with — `redelivered`, the copied headers, `content-length`,
 * the body — encoded once per message and escaping rule (1.0 escapes nothing) when it goes to
 * several sessions. Undefined for its first: most messages go to one session, which is cheaper
 * encoded whole.
 */
export function sharedTail(msg: RelayMessage, version: StompVersion): MessageTail | undefined {
  const plain = version === '1.0';
  if (last === undefined || last.msg !== msg) {
    last = { msg, binary: travelsBinary(header(msg, 'content-type'), msg.body), plain, tail: undefined };
    return undefined;
  }
  if (last.plain !== plain) {
    last.plain = plain;
    last.tail = undefined;
    return undefined;
  }
  if (last.tail === undefined) {
    const headers: [string, string][] = [];
    addTailHeaders(headers, msg);
    last.tail = { bytes: encodeTail(headers, msg.body, version), binary: last.binary };
  }
  return last.tail;
}

/** Whether `msg` travels binary; known once sharedTail has seen it. */
export function lastBinary(msg: RelayMessage): boolean {
  return last !== undefined && last.msg === msg ? last.binary : travelsBinary(header(msg, 'content-type'), msg.body);
}

/** The headers a MESSAGE carries after its own (destination, subscription, ids, position, ack). */
export function addTailHeaders(headers: [string, string][], msg: RelayMessage): void {
  if (msg.redelivered) headers.push(['redelivered', 'true']);
  for (const h of msg.headers) headers.push([h[0], h[1]]);
  headers.push(['content-length', String(msg.body.length)]);
}
