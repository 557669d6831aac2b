import { header, type Frame, type HeaderList } from '../../protocol/index.js';
import { RelayError } from '../errors.js';
import type { OutgoingMessage } from '../relay/router.js';

/** Headers of a SEND that describe the frame itself, not the message; never copied into MESSAGE. */
const FRAME_HEADERS = new Set([
  'destination',
  'content-length',
  'receipt',
  'transaction',
  'subscription',
  'ack',
  'message-id',
  'redelivered',
]);

/** A header STOMP requires on this frame: its absence is the client's error, with the header named. */
export function required(frame: Frame, name: string): string {
  const value = header(frame, name);
  if (value === undefined) throw new RelayError('MISSING_HEADER', `${frame.command} frame needs a '${name}' header`);
  return value;
}

/** What a SEND hands to the router: its destination, the headers every MESSAGE copies, its body and id. */
export function outgoing(frame: Frame, destination: string): OutgoingMessage {
  const id = header(frame, 'message-id');
  const headers = messageHeaders(frame.headers);
  return id === undefined ? { destination, headers, body: frame.body } : { destination, headers, body: frame.body, id };
}

/** The SEND's own headers that travel with the message to every MESSAGE (Spring copies custom headers). */
function messageHeaders(headers: HeaderList): HeaderList {
  const out: [string, string][] = [];
  for (const h of headers) if (!FRAME_HEADERS.has(h[0])) out.push([h[0], h[1]]);
  return out;
}

/** A message the relay could not take (publish buffer full, broker closing): the sender is told. */
export function notAccepted(err: unknown): never {
  if (err instanceof RelayError) throw err;
  throw new RelayError('NOT_ACCEPTED', 'message not accepted by the relay; send it again later', true, { cause: err });
}
