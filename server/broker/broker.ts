import type { Destination, NodeId, UserId } from '../ids.js';
import type { RelayMessage } from '../relay/relay-message.js';

/**
 * Handles one relayed message. Returns nothing when it finished synchronously (the common case:
 * written to local sessions), so the hot path makes no promise; a rejection means "not handled".
 */
export type MessageHandler = (msg: RelayMessage) => Promise<void> | void;

/** What nodes tell each other besides user messages. No client ever sees one. */
export type ControlSignal =
  /** These users' presence grew on the sender: a cached route for them may miss it. To every node. */
  | { readonly kind: 'routes-changed'; readonly users: readonly UserId[] }
  /** `user` has stored messages for `subscription`: take the inbox now. To the nodes holding the user. */
  | { readonly kind: 'inbox-waiting'; readonly user: UserId; readonly subscription: string }
  /** Small broadcasts of one turn (presence notices) for the local subscribers of every node. To every node. */
  | { readonly kind: 'broadcasts'; readonly messages: readonly BatchedBroadcast[]; readonly sentAt: number };

/** A broadcast with no headers but its content type, sent in a `broadcasts` signal. */
export interface BatchedBroadcast {
  readonly id: string;
  readonly destination: Destination;
  readonly contentType: string;
  readonly body: Buffer;
}

/** Handles a signal from node `from` (this node included). Signals are hints: nothing waits on them. */
export type SignalHandler = (signal: ControlSignal, from: NodeId) => void;

/** A node found dead still consumes its queue: it is alive after all, and the queue stays its own. */
export class QueueInUseError extends Error {
  override readonly name = 'QueueInUseError';
  constructor(queue: string) {
    super(`queue ${queue} has a consumer`);
  }
}

/**
 * Node-to-node delivery. Two forms: MemoryBroker (one process, the embedded default) and
 * RabbitBroker (one exchange for node-targeted messages, a queue per node named after its id).
 *
 * Guarantees every implementation keeps:
 * - A promise that resolves means the message is accepted: RabbitMQ confirmed it (publisher
 *   confirms), or the in-memory broker handed it to the handler. Only then may the caller send a
 *   RECEIPT or an HTTP 202. A rejection means it was not accepted.
 * - Messages from one node to one node arrive in the order they were sent.
 * - A message is acknowledged to the broker only after `onMessage` finished (returned nothing, or
 *   a promise that resolved), so a node that dies mid-delivery leaves it to be delivered again
 *   (at least once).
 */
export interface Broker {
  /**
   * Declares this node's topology and starts consuming. Resolves once consuming. Messages go to
   * `onMessage`, control signals (control-signal.ts) to `onSignal` (none: they are dropped).
   */
  start(onMessage: MessageHandler, onSignal?: SignalHandler): Promise<void>;

  /**
   * Sends a control signal to the given nodes, or to every node (`'all'`, this one included).
   * Resolves once accepted as a message would be; a signal to a node without a queue is dropped.
   */
  signal(to: readonly NodeId[] | 'all', signal: ControlSignal): Promise<void>;

  /**
   * Sends `msg` to exactly the given nodes' queues (never to others). Rejects with
   * `UnroutableError` naming the nodes whose queue does not exist (node gone), after the others
   * were accepted, so the caller can re-resolve those or store the message offline.
   */
  sendToNodes(nodes: readonly NodeId[], msg: RelayMessage): Promise<void>;

  /**
   * Broadcasts `msg` (a `/topic` or `/queue` destination) to every node that bound a destination
   * matching `msg.destination`. The origin node receives its own message too only if it bound one;
   * callers deliver locally themselves and ignore messages whose `origin` is their own node.
   */
  publish(msg: RelayMessage): Promise<void>;

  /**
   * Starts receiving broadcasts for `destination` (exact, or an Ant-style pattern with `*`, `**`,
   * `?`, `{var}`). Called on the first local subscriber. An implementation may receive more than
   * asked (the node filters locally) but never less.
   */
  bind(destination: Destination): Promise<void>;

  /** Stops receiving broadcasts for `destination`. Called after the last local subscriber left. */
  unbind(destination: Destination): Promise<void>;

  /**
   * Takes over what is left in the queue of `nodeId` — a node found dead, or this node while it
   * drains (SPEC §8): nothing new is routed to it any more, each message left is handed to
   * `onMessage` (which re-routes it) and acknowledged after that resolved; the empty queue is
   * left unbound for its node or to expire. Resolves with the number of messages handed over (0:
   * no such queue). Signals for that node are dropped. Rejects with `QueueInUseError`, touching
   * nothing, while another node consumes that queue (alive after all).
   */
  adoptQueue(nodeId: NodeId, onMessage: MessageHandler): Promise<number>;

  /** True while messages can be published and consumed (for `/readyz`). */
  isReady(): boolean;

  /**
   * This node was taken for dead while alive (its registry entries were swept): another node may
   * have adopted, and unbound or deleted, its queue. Declares it again and consumes it (a RabbitMQ reconnect).
   */
  redeclare(): void;

  /** Stops consuming; unacknowledged messages go back to the queue. Idempotent. */
  close(): Promise<void>;
}

/** Some target nodes have no queue any more: the message was not delivered to them. */
export class UnroutableError extends Error {
  override readonly name = 'UnroutableError';
  constructor(readonly nodes: readonly NodeId[]) {
    super(`no queue for node(s) ${nodes.join(', ')}`);
  }
}
