import type { Destination, NodeId } from '../ids.js';
import type { BatchedBroadcast, ControlSignal, MessageHandler, SignalHandler } from './broker.js';
import type { RelayMessage } from '../relay/relay-message.js';

/**
 * A signal rides the broker's message path in a relay message whose destination starts with a NUL
 * character: no STOMP destination can (the frame codec and the destination rules refuse it), so a
 * client's message is never taken for a signal, nor a signal delivered to a client.
 */
const ROUTES: Destination = '\u0000routes-changed';
const INBOX: Destination = '\u0000inbox-waiting';
const BROADCASTS: Destination = '\u0000broadcasts';
const EMPTY = Buffer.alloc(0);

/** The broadcast destination a broker binds so that `routes-changed` reaches it. */
export const SIGNAL_BROADCAST: Destination = ROUTES;

/** The relay message that carries `signal`. */
export function signalMessage(signal: ControlSignal, origin: NodeId, id: string): RelayMessage {
  const base = { id, body: EMPTY, origin, sentAt: Date.now() };
  switch (signal.kind) {
    case 'routes-changed':
      return {
        ...base,
        target: { kind: 'broadcast' },
        destination: ROUTES,
        headers: signal.users.map((user): [string, string] => ['user', user]),
      };
    case 'inbox-waiting':
      return {
        ...base,
        target: { kind: 'user', user: signal.user },
        destination: INBOX,
        headers: [['subscription', signal.subscription]],
      };
    case 'broadcasts':
      // One header per message, `destination: "{id} {bytes} {content-type}"`; the bodies one after another.
      return {
        ...base,
        sentAt: signal.sentAt,
        target: { kind: 'broadcast' },
        destination: BROADCASTS,
        headers: signal.messages.map((m): [string, string] => [
          m.destination,
          `${m.id} ${m.body.length} ${m.contentType}`,
        ]),
        body: Buffer.concat(signal.messages.map((m) => m.body)),
      };
  }
}

/** The messages of a `broadcasts` signal; undefined when its headers do not add up to its body. */
function batchedBroadcasts(msg: RelayMessage): BatchedBroadcast[] | undefined {
  const messages: BatchedBroadcast[] = [];
  let at = 0;
  for (const [destination, value] of msg.headers) {
    const m = /^(\S+) (\d+) (.+)$/.exec(value);
    if (!m) return undefined;
    const end = at + Number(m[2]);
    if (end > msg.body.length) return undefined;
    messages.push({ id: m[1]!, destination, contentType: m[3]!, body: msg.body.subarray(at, end) });
    at = end;
  }
  return at === msg.body.length ? messages : undefined;
}

/** The signal `msg` carries; undefined for a user or broadcast message (or a signal of an unknown kind). */
export function signalOf(msg: RelayMessage): ControlSignal | undefined {
  if (msg.destination.charCodeAt(0) !== 0) return undefined;
  const value = msg.headers[0]?.[1];
  if (value === undefined) return undefined;
  if (msg.destination === ROUTES) return { kind: 'routes-changed', users: msg.headers.map(([, user]) => user) };
  if (msg.destination === INBOX && msg.target.kind === 'user')
    return { kind: 'inbox-waiting', user: msg.target.user, subscription: value };
  if (msg.destination === BROADCASTS) {
    const messages = batchedBroadcasts(msg);
    return messages && { kind: 'broadcasts', messages, sentAt: msg.sentAt };
  }
  return undefined;
}

/**
 * One handler for the broker's deliveries: signals to `onSignal`, everything else to `onMessage`.
 * Without `onSignal` (a dead node's queue being adopted) signals are dropped: they were for that node.
 */
export function splitSignals(onMessage: MessageHandler, onSignal?: SignalHandler): MessageHandler {
  return (msg) => {
    if (msg.destination.charCodeAt(0) !== 0) return onMessage(msg);
    const signal = signalOf(msg);
    if (signal && onSignal) onSignal(signal, msg.origin);
    return undefined;
  };
}
