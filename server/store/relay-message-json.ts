import type { MessagePosition, RelayMessage, RelayTarget } from '../relay/relay-message.js';

interface RelayMessageJson {
  id: string;
  target: RelayTarget;
  destination: string;
  headers: [string, string][];
  body: string;
  origin: string;
  sentAt: number;
  redelivered?: boolean;
  rerouted?: boolean;
  position?: MessagePosition;
}

/** JSON form for stores (Redis). The body travels as base64 so any bytes survive. */
export function relayMessageToJson(msg: RelayMessage): string {
  const json: RelayMessageJson = {
    id: msg.id,
    target: msg.target,
    destination: msg.destination,
    headers: msg.headers.map(([n, v]) => [n, v]),
    body: msg.body.toString('base64'),
    origin: msg.origin,
    sentAt: msg.sentAt,
    ...(msg.redelivered ? { redelivered: true } : {}),
    ...(msg.rerouted ? { rerouted: true } : {}),
    ...(msg.position ? { position: msg.position } : {}),
  };
  return JSON.stringify(json);
}

export function relayMessageFromJson(text: string): RelayMessage {
  const json = JSON.parse(text) as RelayMessageJson;
  return { ...json, body: Buffer.from(json.body, 'base64') };
}
