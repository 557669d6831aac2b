import type { Broker } from '../broker/broker.js';
import { UnroutableError, type BatchedBroadcast, type SignalHandler } from '../broker/broker.js';
import type { RelayMessage } from './relay-message.js';
import type { Destination, NodeId, SessionId, UserId } from '../ids.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Registry } from '../registry/registry.js';
import type { OfflineStore } from '../store/offline-store.js';
import type { HeaderList } from '../../protocol/index.js';
import { docOfUserDestination, userSubscriptionOf } from '../destinations/destinations.js';
import type { RouteCache } from './route-cache.js';
import { TurnBatch } from './turn-batch.js';
import type { LocalSubscriptions, Subscription } from '../messaging/subscriptions.js';
import type { NodeHistory } from '../history/node-history.js';
import { createHash } from 'node:crypto';
import { RecentIds } from '../messaging/recent-ids.js';

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
  /** Set when HISTORY_DESTINATIONS names streams: their messages get a position before routing. */
  readonly history?: NodeHistory;
}

export interface OutgoingMessage {
  readonly destination: Destination;
  readonly headers: HeaderList;
  readonly body: Buffer;
  /** Keep the sender's message-id (Spring passes a client-supplied one through). */
  readonly id?: string;
}

const ROUTED_RESULT: RouteResult = 'routed';
const STORED: RouteResult = 'stored';
/** Shared: most user messages are routed without anything to wait for. */
const ROUTED: Promise<RouteResult> = Promise.resolve(ROUTED_RESULT);
/** At most this many users in one route invalidation (one header each). */
const MAX_ANNOUNCED = 500;
/** At most this many broadcasts in one `broadcasts` signal. */
const MAX_BATCHED = 500;
/**
 * Messages a node remembers having delivered (deliverAll), against a broker's redelivery (a
 * channel lost) or a sender's re-publish (a confirm lost): ~14 MiB at most (~220 B an entry); at
 * the highest rates only a second or two of traffic (docs/guarantees.md). Kept for the node rather
 * than for each session: an idle session holds nothing for it, a busy one no ring of its own.
 */
const RECENT_DELIVERIES = 65_536;
/** A longer key (a client's id may be a header line long, a destination 1,024 characters) is kept by its digest; the usual id and destination are shorter, so no hash on the hot path. */
const LONGEST_REMEMBERED_ID = 256;
/** What a broadcast's entry names instead of its subscriptions: it reached all of them at once. */
const EVERY_SUBSCRIBER = 0;
/**
 * `broadcasts` signals a node remembers having delivered, by the id of their first message: one
 * per other node's turn with presence changes, so this many is seconds of a reconnect storm.
 */
const RECENT_SIGNALS = 8_192;

/** The relay message a batched broadcast stands for (its only header is its content type). */
function batchedMessage(m: BatchedBroadcast, origin: NodeId, sentAt: number): RelayMessage {
  const { id, destination, contentType, body } = m;
  return {
    id,
    target: { kind: 'broadcast' },
    destination,
    headers: [['content-type', contentType]],
    body,
    origin,
    sentAt,
  };
}

/**
 * Routes every message the node accepts (SPEC §1, §5): a user message goes to the nodes the
 * registry names for the user — delivered here with no broker hop when this node is one of them —
 * or into the offline inbox; a broadcast reaches local subscribers directly and other nodes through
 * the broker. Resolving means accepted (RECEIPT, HTTP 202).
 */
export class MessageRouter {
  private readonly lookups = new Map<string, Promise<readonly NodeId[]>>();
  /** Route invalidations of this turn (announceRoutes). */
  private readonly announcing = new TurnBatch<UserId>(MAX_ANNOUNCED, (users) =>
    this.deps.broker.signal('all', { kind: 'routes-changed', users: [...new Set(users)] }).catch((err: unknown) => {
      // Stale routes cost an extra hop at worst (the old node re-routes); never fail a connect.
      this.deps.log.warn({ err: String(err), users: users.length }, 'route invalidation not published');
    }),
  );
  /** (message id, subscription serial) pairs delivered lately; a broadcast's is (id and destination, 0) (see deliverAll). */
  private readonly recent = new RecentIds<number>(RECENT_DELIVERIES);
  /** The first message ids of `broadcasts` signals delivered lately (see deliverBatched). */
  private readonly recentSignals = new RecentIds<number>(RECENT_SIGNALS);
  /** Small broadcasts of this turn for the other nodes (broadcastBatched). */
  private readonly batchedBroadcasts = new TurnBatch<BatchedBroadcast>(MAX_BATCHED, (messages) =>
    this.deps.broker.signal('all', { kind: 'broadcasts', messages, sentAt: Date.now() }),
  );

  constructor(private readonly deps: RouterDeps) {}

  /** Spring's convertAndSendToUser: `destination` without the `/user/{name}` part (`/42/queue/chat`). */
  sendToUser(user: UserId, out: OutgoingMessage, sessionId?: SessionId): Promise<RouteResult> {
    const msg: RelayMessage = {
      id: out.id ?? this.deps.nextId(),
      target: sessionId === undefined ? { kind: 'user', user } : { kind: 'user', user, sessionId },
      destination: out.destination,
      headers: out.headers,
      body: out.body,
      origin: this.deps.nodeId,
      sentAt: Date.now(),
    };
    const stamped = this.deps.history?.stamp(msg);
    if (stamped) return stamped.then((m) => this.routeUserMessage(m));
    return this.routeUserMessage(msg);
  }

  /** Spring's convertAndSend to a broker destination: every subscriber on every node. */
  broadcast(out: OutgoingMessage): Promise<void> {
    const msg: RelayMessage = {
      id: out.id ?? this.deps.nextId(),
      target: { kind: 'broadcast' },
      destination: out.destination,
      headers: out.headers,
      body: out.body,
      origin: this.deps.nodeId,
      sentAt: Date.now(),
    };
    const stamped = this.deps.history?.stamp(msg);
    return stamped ? stamped.then((m) => this.publishBroadcast(m)) : this.publishBroadcast(msg);
  }

  private publishBroadcast(msg: RelayMessage): Promise<void> {
    // Published first: other nodes get it even if a local write were to throw.
    const published = this.deps.broker.publish(msg);
    this.deps.metrics.broadcastPublished.inc();
    this.deliverAll(this.deps.subscriptions.broadcastTargets(msg.destination), msg);
    return published;
  }

  /**
   * The broker's handler: a message another node (or this one) relayed here. Returns nothing
   * when it is done synchronously (written to local sessions), the usual case.
   */
  readonly onRelayed = (msg: RelayMessage): Promise<void> | undefined => {
    this.deps.metrics.consumed(msg.origin, msg.target.kind);
    if (msg.target.kind === 'broadcast') {
      // An own broadcast was delivered locally when it was accepted.
      if (msg.origin !== this.deps.nodeId)
        this.deliverAll(this.deps.subscriptions.broadcastTargets(msg.destination), msg);
      return undefined;
    }
    return this.deliverUserHere(msg, true);
  };

  /** The broker's signal handler: another node's presence news or inbox nudge. */
  readonly onSignal: SignalHandler = (signal, from) => {
    switch (signal.kind) {
      case 'routes-changed':
        if (from !== this.deps.nodeId) for (const user of signal.users) this.forget(user);
        return;
      case 'inbox-waiting':
        this.replayHere(signal.user, signal.subscription);
        return;
      case 'broadcasts':
        // Own ones were delivered locally when they were accepted.
        if (from !== this.deps.nodeId) this.deliverBatched(signal.messages, from, signal.sentAt);
        return;
    }
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

  /**
   * A `broadcasts` signal's messages. The duplicate check keeps one entry for the whole signal,
   * named by its first message, in a ring of its own: a redelivery brings every message again,
   * and their ids are the sending node's, never a client's. One entry per notice in the node's
   * ring filled it with presence notices (~14 MiB a node) on a node of many small documents.
   */
  private deliverBatched(messages: readonly BatchedBroadcast[], origin: NodeId, sentAt: number): void {
    const first = messages[0];
    if (first === undefined) return;
    if (this.recentSignals.has(first.id, EVERY_SUBSCRIBER)) {
      this.deps.metrics.duplicatesSuppressed.inc();
      return;
    }
    let reached = 0;
    for (const m of messages)
      reached += this.writeAll(
        this.deps.subscriptions.broadcastTargets(m.destination),
        batchedMessage(m, origin, sentAt),
      );
    // As for any broadcast: one that reached nobody here leaves no entry, and a write that throws
    // leaves none either, so the broker's retry reaches the rest (its earlier notices go twice).
    if (reached > 0) this.recentSignals.add(first.id, EVERY_SUBSCRIBER);
  }

  /** This node saw the user's presence change: its cached routes are no longer to be trusted. */
  forget(user: UserId): void {
    this.deps.routeCache.forget(user);
  }

  /**
   * The nodes holding the user (in the document), through the route cache (see RouteCache).
   * Lookups for one user and document resolve in the order they were asked: while one is in
   * flight, later ones share it instead of overtaking it on a cache hit, so per-sender order holds.
   */
  private locate(user: UserId, doc: string | undefined, fresh: boolean): Promise<readonly NodeId[]> {
    const { routeCache, registry, subscriptions, nodeId } = this.deps;
    const key = lookupKey(user, doc);
    const inflight = this.lookups.get(key);
    if (inflight && !fresh) return inflight;
    const now = Date.now();
    const cached = routeCache.get(user, doc, now);
    if (cached && cached.fresh && !fresh) return Promise.resolve(cached.nodes);
    if (!registry.isReady()) {
      // Redis is down (SPEC §8): use what is known; with nothing known, local delivery goes on,
      // and anything else waits for Redis (the client queues the lookup until it is back).
      if (cached) return Promise.resolve(cached.nodes);
      if (subscriptions.sessionCount(user) > 0) return Promise.resolve([nodeId]);
    }
    const lookup = registry.locate(user, doc).then(
      (nodes) => {
        if (this.lookups.get(key) === lookup) this.lookups.delete(key);
        routeCache.set(user, doc, nodes, now);
        return nodes;
      },
      (err: unknown) => {
        if (this.lookups.get(key) === lookup) this.lookups.delete(key);
        throw err;
      },
    );
    this.lookups.set(key, lookup);
    return lookup;
  }

  /** `locate`'s answer when it needs no waiting: a fresh cache entry and no lookup in flight. */
  private locateNow(user: UserId, doc: string | undefined): readonly NodeId[] | undefined {
    if (this.lookups.size > 0 && this.lookups.has(lookupKey(user, doc))) return undefined;
    return this.deps.routeCache.fresh(user, doc, Date.now());
  }

  /**
   * Tells every node that `user`'s presence grew here (a session, or a session in a document), so
   * none keeps sending on a cached route that misses this node. Resolves once RabbitMQ has it.
   * The users announced in one turn of the event loop go in one signal (a reconnect storm's
   * thousands of sessions in a few), up to MAX_ANNOUNCED each.
   */
  async announceRoutes(user: UserId): Promise<void> {
    this.forget(user);
    if (this.deps.routeCache.ttlMs <= 0) return;
    const published = this.announcing.add(user);
    // While RabbitMQ is away, do not hold the client's CONNECT or SUBSCRIBE hostage to it.
    if (this.deps.broker.isReady()) await published;
  }

  /**
   * A small broadcast (no headers but its content type) that may share one broker message with
   * the others of this turn: local subscribers get it at once, other nodes in one `broadcasts`
   * signal per turn, up to MAX_BATCHED each. A reconnect storm's presence notices, thousands of
   * documents a second, then cost RabbitMQ a few messages instead of one per document and node.
   * A destination with history goes the usual way (its messages need a position).
   */
  broadcastBatched(destination: Destination, contentType: string, body: Buffer): Promise<void> {
    const batched: BatchedBroadcast = { id: this.deps.nextId(), destination, contentType, body };
    const msg = batchedMessage(batched, this.deps.nodeId, Date.now());
    const stamped = this.deps.history?.stamp(msg);
    if (stamped) return stamped.then((m) => this.publishBroadcast(m));
    this.deps.metrics.broadcastPublished.inc();
    // Not remembered: made here with a fresh id, it can come back through no hop.
    this.writeAll(this.deps.subscriptions.broadcastTargets(destination), msg);
    return this.batchedBroadcasts.add(batched);
  }

  /** Locates the user and sends to exactly its nodes; stores it when the user is nowhere. */
  routeUserMessage(msg: RelayMessage, exclude: readonly NodeId[] = [], fresh = false): Promise<RouteResult> {
    if (msg.target.kind !== 'user') return Promise.reject(new Error('routeUserMessage needs a user target'));
    const user = msg.target.user;
    const doc = docOfUserDestination(msg.destination);
    const forced = fresh || exclude.length > 0;
    // A cache hit routes synchronously: no promise until a broker publish needs one.
    const known = forced ? undefined : this.locateNow(user, doc);
    if (known) return this.routeTo(user, msg, known, exclude);
    return this.locate(user, doc, forced).then((nodes) => this.routeTo(user, msg, nodes, exclude));
  }

  private routeTo(
    user: UserId,
    msg: RelayMessage,
    located: readonly NodeId[],
    exclude: readonly NodeId[],
  ): Promise<RouteResult> {
    const nodes = exclude.length === 0 ? located : located.filter((n) => !exclude.includes(n));
    if (nodes.length === 0) return this.store(user, msg).then(() => STORED);
    const self = this.deps.nodeId;
    let remote: NodeId[] | undefined;
    let localToo = false;
    for (const n of nodes) {
      if (n === self) localToo = true;
      else (remote ??= []).push(n);
    }
    let local: Promise<void> | undefined;
    if (localToo) {
      this.deps.metrics.localShortCircuits.inc();
      local = this.deliverUserHere(msg, false);
    }
    if (remote === undefined) return local === undefined ? ROUTED : local.then(() => ROUTED_RESULT);
    for (const n of remote) this.deps.metrics.relayedTo(n);
    const targets = remote;
    const sent = this.deps.broker
      .sendToNodes(targets, msg)
      .catch((err: unknown) => this.unroutable(err, msg, targets, exclude, localToo));
    return (local === undefined ? sent : Promise.all([local, sent])).then(() => ROUTED_RESULT);
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
   * Delivers a user message to this node's sessions; nothing to wait for when one took it. When
   * none is subscribed to it: if the user left this node after the sender looked it up, route it
   * once more to wherever the user is now; otherwise keep it for the user's next subscription
   * (SPEC §5).
   */
  private deliverUserHere(msg: RelayMessage, viaBroker: boolean): Promise<void> | undefined {
    if (msg.target.kind !== 'user') return undefined;
    const user = msg.target.user;
    const subs = this.deps.subscriptions.userTargets(user, msg.destination, msg.target.sessionId);
    if (subs.length > 0 && this.deliverAll(subs, msg) > 0) return undefined;
    if (viaBroker && !msg.rerouted && this.deps.subscriptions.sessionCount(user) === 0) {
      return this.routeUserMessage({ ...msg, rerouted: true }, [this.deps.nodeId], true).then(() => undefined);
    }
    return this.store(user, msg);
  }

  private async store(user: UserId, msg: RelayMessage): Promise<void> {
    // A decoded body may be a view into a whole socket chunk: keep only its own bytes.
    await this.deps.store.append(user, userSubscriptionOf(msg.destination), { ...msg, body: Buffer.from(msg.body) });
    this.deps.metrics.offlineStored.inc();
    await this.nudgeIfPresent(user, msg.destination);
  }

  /**
   * "Nowhere, so store" takes two steps; a user who subscribed in between already took an inbox
   * without this message. Registration comes before a subscription's take, so a fresh lookup
   * after the append sees such a user: its nodes are told to take the inbox again (a take is
   * atomic, so a second one never delivers twice).
   */
  private async nudgeIfPresent(user: UserId, destination: string): Promise<void> {
    const nodes = await this.locate(user, docOfUserDestination(destination), true);
    if (nodes.length === 0) return;
    const remote = nodes.filter((n) => n !== this.deps.nodeId);
    const subscription = userSubscriptionOf(destination);
    if (remote.length < nodes.length) this.replayHere(user, subscription);
    if (remote.length === 0) return;
    await this.deps.broker.signal(remote, { kind: 'inbox-waiting', user, subscription }).catch((err: unknown) => {
      // The message is stored; at worst it waits for the user's next subscription.
      this.deps.log.debug({ err: String(err), user }, 'inbox nudge not delivered');
    });
  }

  private replayHere(user: UserId, subscription: string): void {
    for (const session of this.deps.subscriptions.sessionsOf(user)) session.replayStored(subscription);
  }

  /**
   * How many subscriptions it was written to (a second copy counts as written; a broadcast's
   * second copy counts 0). At-least-once hops can bring a message twice after a failure, and a
   * client may send one again: each subscription gets one copy of a `message-id`. A broadcast
   * reaches every local subscriber at once, so one entry, made once its fan-out is done (a
   * handler retried after a throw still reaches the rest), stands for all of them.
   */
  private deliverAll(subs: readonly Subscription[], msg: RelayMessage): number {
    if (subs.length === 0) return 0;
    const broadcast = msg.target.kind === 'broadcast';
    const id = remembered(broadcast ? `${msg.id}\u0000${msg.destination}` : msg.id);
    if (broadcast) {
      if (this.recent.has(id, EVERY_SUBSCRIBER)) {
        this.deps.metrics.duplicatesSuppressed.inc();
        return 0;
      }
      const written = this.writeAll(subs, msg);
      this.recent.add(id, EVERY_SUBSCRIBER);
      return written;
    }
    let written = 0;
    let fresh = 0;
    for (const s of subs) {
      if (!this.recent.add(id, s.serial)) {
        this.deps.metrics.duplicatesSuppressed.inc();
        written++;
        continue;
      }
      if (s.session.deliver(s, msg)) fresh++;
    }
    this.observeLatency(msg, fresh);
    return written + fresh;
  }

  /** Writes `msg` to each subscription, with no duplicate check; how many took it. */
  private writeAll(subs: readonly Subscription[], msg: RelayMessage): number {
    let written = 0;
    for (const s of subs) if (s.session.deliver(s, msg)) written++;
    this.observeLatency(msg, written);
    return written;
  }

  private observeLatency(msg: RelayMessage, written: number): void {
    // Once per message and node: the deliveries of one fan-out are written in the same moment.
    if (written > 0) this.deps.metrics.deliveryLatency.observe((Date.now() - msg.sentAt) / 1000);
  }
}

/** A key as the duplicate check keeps it: a long one (a client's id, a long destination) by its digest. */
function remembered(key: string): string {
  return key.length > LONGEST_REMEMBERED_ID ? createHash('sha256').update(key).digest('base64') : key;
}

function lookupKey(user: UserId, doc: string | undefined): string {
  return `${user}\n${doc ?? ''}`;
}
