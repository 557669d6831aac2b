import type { Destination, NodeId } from '../ids.js';
import type { ControlSignal, MessageHandler, SignalHandler } from './broker.js';
import type { RelayMessage } from '../relay/relay-message.js';

/**
 * A signal rides the broker's message path in a relay message whose destination starts with a NUL
 * character: no STOMP destination can (the frame codec and the destination rules refuse it), so a
 * client's message is never taken for a signal, nor a signal delivered to a client.
 */
const ROUTES: Destination = '\u0000routes-changed';
const INBOX: Destination = '\u0000inbox-waiting';
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
  }
}

/** The signal `msg` carries; undefined for a user or broadcast message (or a signal of an unknown kind). */
export function signalOf(msg: RelayMessage): ControlSignal | undefined {
  if (msg.destination.charCodeAt(0) !== 0) return undefined;
  const value = msg.headers[0]?.[1];
  if (value === undefined) return undefined;
  if (msg.destination === ROUTES) return { kind: 'routes-changed', users: msg.headers.map(([, user]) => user) };
  if (msg.destination === INBOX && msg.target.kind === 'user')
    return { kind: 'inbox-waiting', user: msg.target.user, subscription: value };
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
