import type { Broker } from '../broker/broker.js';
import { UnroutableError } from '../broker/broker.js';
import type { RelayMessage } from '../broker/relay-message.js';
import type { Destination, NodeId, SessionId, UserId } from '../ids.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Registry } from '../registry/registry.js';
import type { OfflineStore } from '../store/offline-store.js';
import type { HeaderList } from '../../protocol/index.js';
import { docOfUserDestination, userSubscriptionOf } from './destinations.js';
import type { RouteCache } from './route-cache.js';
import type { LocalSubscriptions, Subscription } from './subscriptions.js';

/** What happened to a user message: it went to live sessions, or into the offline inbox. */
export type RouteResult = 'routed' | 'stored';

export interface RouterDeps {
  readonly nodeId: NodeId;
  readonly broker: Broker;
  readonly registry: Registry;
  readonly store: OfflineStore;
  readonly subscriptions: LocalSubscriptions;
  readonly nextId: () => string;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly routeCache: RouteCache;
}

export interface OutgoingMessage {
  readonly destination: Destination;
  readonly headers: HeaderList;
  readonly body: Buffer;
  /** Keep the sender's message-id (Spring passes a client-supplied one through). */
  readonly id?: string;
}

/**
 * Routes every message the node accepts (SPEC §1, §5): a user message goes to the nodes the
 * registry names for the user — delivered here with no broker hop when this node is one of them —
 * or into the offline inbox; a broadcast reaches local subscribers directly and other nodes through
 * the broker. Resolving means accepted (RECEIPT, HTTP 202).
 */
export class MessageRouter {
  constructor(private readonly deps: RouterDeps) {}

  /** Spring's convertAndSendToUser: `destination` without the `/user/{name}` part (`/42/queue/chat`). */
  async sendToUser(user: UserId, out: OutgoingMessage, sessionId?: SessionId): Promise<RouteResult> {
    const msg: RelayMessage = {
      id: out.id ?? this.deps.nextId(),
      target: sessionId === undefined ? { kind: 'user', user } : { kind: 'user', user, sessionId },
      destination: out.destination,
      headers: out.headers,
      body: out.body,
      origin: this.deps.nodeId,
      sentAt: Date.now(),
    };
    return this.routeUserMessage(msg);
  }

  /** Spring's convertAndSend to a broker destination: every subscriber on every node. */
  async broadcast(out: OutgoingMessage): Promise<void> {
    const msg: RelayMessage = {
      id: out.id ?? this.deps.nextId(),
      target: { kind: 'broadcast' },
      destination: out.destination,
      headers: out.headers,
      body: out.body,
      origin: this.deps.nodeId,
      sentAt: Date.now(),
    };
    const local = this.deliverAll(this.deps.subscriptions.broadcastTargets(msg.destination), msg);
    this.deps.metrics.broadcastPublished.inc();
    await Promise.all([local, this.deps.broker.publish(msg)]);
  }

  /** The broker's handler: a message another node (or this one) relayed here. */
  readonly onRelayed = async (msg: RelayMessage): Promise<void> => {
    this.deps.metrics.relayConsumed.inc({ origin: msg.origin, kind: msg.target.kind });
    if (msg.target.kind === 'broadcast') {
      if (msg.origin === this.deps.nodeId) return; // delivered locally when it was accepted
      await this.deliverAll(this.deps.subscriptions.broadcastTargets(msg.destination), msg);
      return;
    }
    await this.deliverUserHere(msg, true);
  };

  /**
   * Routes a message taken over from a dead node's queue, or from this node's own queue while it
   * drains: user messages go to wherever the user is now (or offline); broadcasts were for the
   * subscribers of that node, who are gone, so they are dropped.
   */
  readonly reroute = async (msg: RelayMessage, from: NodeId): Promise<void> => {
    if (msg.target.kind !== 'user') return;
    await this.routeUserMessage({ ...msg, rerouted: true }, [from], true);
  };

  /** This node saw the user's presence change: its cached routes are no longer to be trusted. */
  forget(user: UserId): void {
    this.deps.routeCache.forget(user);
  }

  /** The nodes holding the user (in the document), through the route cache (see RouteCache). */
  private async locate(user: UserId, doc: string | undefined, fresh: boolean): Promise<readonly NodeId[]> {
    const { routeCache, registry, subscriptions, nodeId } = this.deps;
    const now = Date.now();
    const cached = routeCache.get(user, doc, now);
    if (cached && cached.fresh && !fresh) return cached.nodes;
    if (!registry.isReady()) {
      // Redis is down (SPEC §8): use what is known; with nothing known, local delivery goes on,
      // and anything else waits for Redis (the client queues the lookup until it is back).
      if (cached) return cached.nodes;
      if (subscriptions.sessionsOf(user).size > 0) return [nodeId];
    }
    const nodes = await registry.locate(user, doc);
    routeCache.set(user, doc, nodes, now);
    return nodes;
  }

  /** Locates the user and sends to exactly its nodes; stores it when the user is nowhere. */
  async routeUserMessage(msg: RelayMessage, exclude: readonly NodeId[] = [], fresh = false): Promise<RouteResult> {
    if (msg.target.kind !== 'user') throw new Error('routeUserMessage needs a user target');
    const user = msg.target.user;
    const located = await this.locate(user, docOfUserDestination(msg.destination), fresh || exclude.length > 0);
    const nodes = located.filter((n) => !exclude.includes(n));
    if (nodes.length === 0) {
      await this.store(user, msg);
      return 'stored';
    }
    const self = this.deps.nodeId;
    const remote = nodes.filter((n) => n !== self);
    const work: Promise<unknown>[] = [];
    const localToo = remote.length < nodes.length;
    if (localToo) {
      this.deps.metrics.localShortCircuits.inc();
      work.push(this.deliverUserHere(msg, false));
    }
    if (remote.length > 0) {
      for (const n of remote) this.deps.metrics.relayPublished.inc({ node: n });
      work.push(this.deps.broker.sendToNodes(remote, msg).catch((err: unknown) => this.unroutable(err, msg, remote, exclude, localToo)));
    }
    await Promise.all(work);
    return 'routed';
  }

  /** Some target nodes had no queue (gone between lookup and publish): route again without them. */
  private async unroutable(
    err: unknown,
    msg: RelayMessage,
    remote: readonly NodeId[],
    exclude: readonly NodeId[],
    deliveredHere: boolean,
  ): Promise<void> {
    if (!(err instanceof UnroutableError)) throw err;
    this.deps.log.info({ nodes: err.nodes, id: msg.id }, 'target node gone; re-resolving');
    if (msg.target.kind === 'user') this.forget(msg.target.user);
    // Only re-route when no target took it; otherwise the user's other sessions have it already.
    if (!deliveredHere && err.nodes.length === remote.length) {
      await this.routeUserMessage({ ...msg, rerouted: true }, [...exclude, ...err.nodes, this.deps.nodeId], true);
    }
  }

  /**
   * Delivers a user message to this node's sessions. When none is subscribed to it: if the user
   * left this node after the sender looked it up, route it once more to wherever the user is now;
   * otherwise keep it for the user's next subscription (SPEC §5).
   */
  private async deliverUserHere(msg: RelayMessage, viaBroker: boolean): Promise<void> {
    if (msg.target.kind !== 'user') return;
    const user = msg.target.user;
    const subs = this.deps.subscriptions.userTargets(user, msg.destination, msg.target.sessionId);
    if (subs.length > 0 && (await this.deliverAll(subs, msg)) > 0) return;
    if (viaBroker && !msg.rerouted && this.deps.subscriptions.sessionsOf(user).size === 0) {
      await this.routeUserMessage({ ...msg, rerouted: true }, [this.deps.nodeId], true);
      return;
    }
    await this.store(user, msg);
  }

  private async store(user: UserId, msg: RelayMessage): Promise<void> {
    // A decoded body may be a view into a whole socket chunk: keep only its own bytes.
    await this.deps.store.append(user, userSubscriptionOf(msg.destination), { ...msg, body: Buffer.from(msg.body) });
    this.deps.metrics.offlineStored.inc();
  }

  /** Resolves with how many sessions it was written to. */
  private async deliverAll(subs: readonly Subscription[], msg: RelayMessage): Promise<number> {
    if (subs.length === 1) return (await subs[0]!.session.deliver(subs[0]!, msg)) ? 1 : 0;
    const written = await Promise.all(subs.map((s) => s.session.deliver(s, msg)));
    return written.filter(Boolean).length;
  }
}
