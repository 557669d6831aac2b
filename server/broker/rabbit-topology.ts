import type { Channel, Options } from 'amqplib';
import type { Destination, NodeId } from '../ids.js';
import { isPattern } from '../destinations/destination-pattern.js';

/**
 * Node ids become queue names and routing keys; the same rule as `NODE_ID` in config.ts, so an
 * id can never spell AMQP syntax or a reserved `amq.` name.
 */
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Name prefixes as config.ts derives them from `KEY_PREFIX` (`stomp:` → `stomp.`). */
const NAME_PREFIX = /^[A-Za-z0-9._:-]{0,64}$/;

/** AMQP short strings: routing and binding keys longer than this are refused by the server. */
export const MAX_ROUTING_KEY_BYTES = 255;

/**
 * The routing key of every broadcast whose destination is too long to be a routing key, and a
 * binding every pattern and every over-long destination adds. A lone `%` never comes out of
 * `encodeWord` (which escapes `%` as `%25`), so no real destination can collide with it.
 */
export const OVERFLOW_ROUTING_KEY = '%overflow';

/** Default `x-expires` of a node queue: a queue unused this long (no consumer) is deleted. */
export const DEFAULT_NODE_QUEUE_EXPIRES_MS = 3_600_000;

/** True when `nodeId` may name a node queue. */
export function isValidNodeId(nodeId: string): boolean {
  return NODE_ID.test(nodeId);
}

/** Throws unless `nodeId` may name a node queue (see `isValidNodeId`). */
export function assertNodeId(nodeId: string): void {
  if (!isValidNodeId(nodeId)) {
    throw new Error(
      `invalid node id ${JSON.stringify(nodeId)}: 1-64 characters of A-Z a-z 0-9 . _ - (starting with a letter or digit)`,
    );
  }
}

/**
 * Every RabbitMQ name of one deployment, built from its name prefix (e.g. `stomp.`). Nothing
 * else in the code base spells an exchange or queue name (STYLE 3.3).
 *
 * - `relayExchange` `{prefix}relay`: direct, durable; node-targeted messages, routing key = node id.
 * - `nodeQueue(id)` `{prefix}node.{id}`: durable, bound to the relay exchange with the node id
 *   (SPEC §5). Not exclusive and not auto-delete, so it outlives its node's connection and
 *   messages sent during a restart wait in it; `x-expires` reclaims queues of ids that never return.
 * - `broadcastExchange` `{prefix}broadcast`: topic, durable; routing key from the destination.
 * - `nodeBroadcastExchange(id)` `{prefix}node-broadcast.{id}`: fanout, transient, auto-delete, bound to the
 *   node queue; the node's broadcast bindings hang off it instead of off the queue, so a node that
 *   starts again deletes it and with it every binding of its previous run (which it cannot list),
 *   without touching the queue's messages. Auto-delete removes it once the queue expires.
 */
export class RabbitTopology {
  readonly relayExchange: string;
  readonly broadcastExchange: string;

  /** Throws for a prefix that is not 0-64 characters of A-Z a-z 0-9 . _ : - or starts with `amq.`. */
  constructor(readonly namePrefix: string) {
    if (!NAME_PREFIX.test(namePrefix) || namePrefix.startsWith('amq.')) {
      throw new Error(
        `invalid RabbitMQ name prefix ${JSON.stringify(namePrefix)}: 0-64 characters of A-Z a-z 0-9 . _ : -, not starting with "amq."`,
      );
    }
    this.relayExchange = `${namePrefix}relay`;
    this.broadcastExchange = `${namePrefix}broadcast`;
  }

  /** The queue of `nodeId`. Distinct ids give distinct names. Throws for an invalid id. */
  nodeQueue(nodeId: NodeId): string {
    assertNodeId(nodeId);
    return `${this.namePrefix}node.${nodeId}`;
  }

  /** The per-node exchange that carries the node's broadcast bindings. Throws for an invalid id. */
  nodeBroadcastExchange(nodeId: NodeId): string {
    assertNodeId(nodeId);
    return `${this.namePrefix}node-broadcast.${nodeId}`;
  }

  /** Routing key on the relay exchange for messages to `nodeId`: the id itself (SPEC §5). */
  nodeRoutingKey(nodeId: NodeId): string {
    assertNodeId(nodeId);
    return nodeId;
  }
}

export const RELAY_EXCHANGE_TYPE = 'direct';
export const BROADCAST_EXCHANGE_TYPE = 'topic';
export const NODE_BROADCAST_EXCHANGE_TYPE = 'fanout';
export const DURABLE_EXCHANGE: Options.AssertExchange = { durable: true, autoDelete: false };
/**
 * Transient: its bindings are then kept in memory only, which costs RabbitMQ a third of a durable
 * binding's CPU (a reconnect storm makes one per document and node). A node declares it and binds
 * its keys again at every connect (BroadcastBindings.restore), so only a full RabbitMQ restart
 * loses it until then, and broadcasts are not kept anyway.
 */
export const NODE_BROADCAST_EXCHANGE: Options.AssertExchange = { durable: false, autoDelete: true };

/**
 * Declaration options of a node queue; `expiresMs` becomes `x-expires`. A quorum queue is
 * replicated over the RabbitMQ cluster's members and survives the loss of a minority of them;
 * it keeps every message on disk whatever its delivery mode.
 */
export function nodeQueueOptions(
  expiresMs: number = DEFAULT_NODE_QUEUE_EXPIRES_MS,
  type: 'quorum' | 'classic' = 'quorum',
): Options.AssertQueue {
  // A classic queue is declared as before (no x-queue-type), so queues of earlier versions stay equivalent.
  const args = type === 'quorum' ? { 'x-expires': expiresMs, 'x-queue-type': 'quorum' } : { 'x-expires': expiresMs };
  return { durable: true, exclusive: false, autoDelete: false, arguments: args };
}

const WORD_SYNTAX = /[%.*#]/;
const WORD_SYNTAX_ALL = /[%.*#]/g;
const WORD_ESCAPES: Readonly<Record<string, string>> = { '%': '%25', '.': '%2E', '*': '%2A', '#': '%23' };

/**
 * One destination segment as one topic word: `.` would split the word, `*` and `#` would be
 * wildcards in a binding key, so they are percent-encoded, and `%` too so the encoding is
 * injective.
 */
export function encodeWord(segment: string): string {
  return WORD_SYNTAX.test(segment) ? segment.replace(WORD_SYNTAX_ALL, (c) => WORD_ESCAPES[c] ?? c) : segment;
}

function fitsRoutingKey(key: string): boolean {
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so short keys skip the byte count.
  return key.length * 3 <= MAX_ROUTING_KEY_BYTES || Buffer.byteLength(key) <= MAX_ROUTING_KEY_BYTES;
}

/**
 * The topic routing key of a concrete destination: its `/`-separated segments as words
 * (`/topic/docs/42` → `.topic.docs.42`, the leading `/` giving an empty first word), each
 * encoded by `encodeWord`; `OVERFLOW_ROUTING_KEY` when that exceeds 255 bytes.
 */
export function broadcastRoutingKey(destination: Destination): string {
  const key = WORD_SYNTAX.test(destination)
    ? destination.split('/').map(encodeWord).join('.')
    : destination.replaceAll('/', '.');
  return fitsRoutingKey(key) ? key : OVERFLOW_ROUTING_KEY;
}

/**
 * The binding keys that make a node receive at least every broadcast whose destination equals,
 * or matches (Ant-style, see destination-pattern.ts), `destination`. Possibly more: the node
 * filters locally.
 *
 * A plain destination binds its routing key. A pattern binds a key word per segment: `**` → `#`,
 * a segment with `*`, `?` or `{…}` anywhere (`*`, `{id}`, `foo*`) → `*`, a literal → its word;
 * plus `OVERFLOW_ROUTING_KEY`, since a wildcard can match a destination too long for a routing
 * key. A pattern whose key would be too long binds `#` (everything).
 */
export function broadcastBindingKeys(destination: Destination): readonly string[] {
  if (!isPattern(destination)) return [broadcastRoutingKey(destination)];
  const words = destination.split('/').map((s) => (s === '**' ? '#' : isPattern(s) ? '*' : encodeWord(s)));
  const key = words.join('.');
  return fitsRoutingKey(key) ? [key, OVERFLOW_ROUTING_KEY] : ['#'];
}

/**
 * Declares what node `nodeId` uses: the shared exchanges, its queue bound to the relay exchange,
 * and its own broadcast exchange bound to the queue. `firstRun`: a new run of this node id, whose
 * previous run's broadcast bindings are unknown; SPEC §5 wants no traffic for destinations nobody
 * here subscribes to, so its broadcast exchange is deleted first (dropping them all; the queue and
 * its messages stay).
 */
export async function declareNodeTopology(
  ch: Channel,
  t: RabbitTopology,
  nodeId: NodeId,
  queueOptions: Options.AssertQueue,
  firstRun: boolean,
): Promise<void> {
  const queue = t.nodeQueue(nodeId);
  const nodeExchange = t.nodeBroadcastExchange(nodeId);
  await ch.assertExchange(t.relayExchange, RELAY_EXCHANGE_TYPE, DURABLE_EXCHANGE);
  await ch.assertExchange(t.broadcastExchange, BROADCAST_EXCHANGE_TYPE, DURABLE_EXCHANGE);
  await ch.assertQueue(queue, queueOptions);
  await ch.bindQueue(queue, t.relayExchange, t.nodeRoutingKey(nodeId));
  if (firstRun) await ch.deleteExchange(nodeExchange);
  await ch.assertExchange(nodeExchange, NODE_BROADCAST_EXCHANGE_TYPE, NODE_BROADCAST_EXCHANGE);
  await ch.bindQueue(queue, nodeExchange, '');
}
