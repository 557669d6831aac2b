import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisConnection } from './redis/redis-script.js';
import type { Authenticator } from './auth/authenticator.js';
import { DevAuthenticator } from './auth/dev-authenticator.js';
import { JwtAuthenticator } from './auth/jwt-authenticator.js';
import { RuleListPolicy, type DestinationPolicy } from './auth/policy.js';
import { backoffDelay } from './broker/amqp-util.js';
import { QueueInUseError, type Broker } from './broker/broker.js';
import { MemoryBroker } from './broker/memory-broker.js';
import { RabbitBroker } from './broker/rabbit-broker.js';
import type { Config } from './config.js';
import { createHttpApp } from './http/app.js';
import type { NodeId } from './ids.js';
import { MemoryHistory } from './history/memory-history.js';
import { NodeHistory } from './history/node-history.js';
import { RedisHistory } from './history/redis-history.js';
import { HistoryStreams } from './history/streams.js';
import { silentLogger, type Logger } from './log.js';
import { AppRouter } from './messaging/app-router.js';
import { BrokerBindings } from './messaging/bindings.js';
import { registerChatHandler } from './messaging/chat-handler.js';
import { createIdGenerator } from './messaging/message-ids.js';
import { Messaging } from './messaging/messaging.js';
import { RelayPressure } from './relay/relay-pressure.js';
import { RouteCache } from './relay/route-cache.js';
import { MessageRouter } from './relay/router.js';
import { LocalSubscriptions } from './messaging/subscriptions.js';
import { MessagingTemplate } from './messaging/template.js';
import { PresenceNotices } from './messaging/presence-notices.js';
import { toBody } from './messaging/payload.js';
import { Metrics } from './metrics.js';
import { MemoryRegistry } from './registry/memory-registry.js';
import { RedisRegistry } from './registry/redis-registry.js';
import type { Registry } from './registry/registry.js';
import { MemoryOfflineStore } from './store/memory-offline-store.js';
import type { OfflineStore } from './store/offline-store.js';
import { RedisOfflineStore } from './store/redis-offline-store.js';
import { SockJsEndpoint } from './transport/sockjs-endpoint.js';
import { WsEndpoint } from './transport/ws-endpoint.js';
import { MemoryDocStates } from './yjs/memory-doc-states.js';
import { RedisDocStates } from './yjs/redis-doc-states.js';
import { registerYjsHandlers } from './yjs/yjs-handlers.js';

/** The longest pause between two tries of an interrupted queue takeover. */
const ADOPT_RETRY_MAX_MS = 5_000;

/** The implementations a node runs on; tests may pass their own (e.g. a broker behind a proxy). */
export interface NodeDeps {
  readonly broker: Broker;
  readonly registry: Registry;
  readonly store: OfflineStore;
  readonly authenticator: Authenticator;
  /** Default: AUTHZ_POLICY's rules, or the default rules. */
  readonly policy: DestinationPolicy;
  readonly log: Logger;
  readonly metrics: Metrics;
}

export interface RelayNode {
  readonly nodeId: NodeId;
  readonly config: Config;
  /** Register `/app/**` handlers here (`@MessageMapping` / `@SubscribeMapping`). */
  readonly app: AppRouter;
  /** convertAndSend / convertAndSendToUser for server-side code. */
  readonly template: MessagingTemplate;
  readonly metrics: Metrics;
  readonly registry: Registry;
  /** Starts listening on the configured host and port; resolves with the bound port. */
  listen(): Promise<number>;
  /** Resolves once the broker consumes and the registry is usable. */
  ready(): Promise<void>;
  isReady(): boolean;
  /** Graceful drain (SPEC §8): stop accepting, leave the registry, close sessions with 1012, stop. */
  drain(): Promise<void>;
  /** Stops everything at once, no drain. */
  close(): Promise<void>;
}

/** The composition root: picks the implementations for the mode, wires them, owns their life. */
export async function createNode(config: Config, overrides: Partial<NodeDeps> = {}): Promise<RelayNode> {
  // First, so that a bad policy file stops start-up (ConfigError, exit 2) before anything connects.
  const policy =
    overrides.policy ??
    (config.authzPolicy !== undefined ? RuleListPolicy.fromFile(config.authzPolicy) : RuleListPolicy.defaults());
  const log = overrides.log ?? silentLogger;
  const metrics = overrides.metrics ?? new Metrics();
  const storeLimits = { maxPerUser: config.offlineMaxPerUser, retentionMs: config.offlineRetentionMs };
  const timers: NodeJS.Timeout[] = [];
  const onDropped = (_user: string, count: number, reason: 'bound' | 'expired') =>
    metrics.offlineDropped.inc({ reason }, count);
  let redis: RedisConnection | undefined;

  // The registry is built before the subscriptions it reports resyncs to.
  const subscriptionsRef: { current?: LocalSubscriptions } = {};
  const brokerRef: { current?: Broker } = {};
  const historyOn = config.history.destinations.length > 0;
  const needRedis = config.mode === 'cluster' && (!overrides.registry || !overrides.store || historyOn);
  if (needRedis && (config.redisUrl || config.redisSentinels || config.redisClusterNodes)) {
    const backoff = (times: number): number => Math.min(100 * 2 ** Math.min(times, 6), 5000);
    const options: RedisOptions = { lazyConnect: false, maxRetriesPerRequest: null, retryStrategy: backoff };
    const { redisSentinels: sentinels, redisClusterNodes: members } = config;
    // Through Sentinel, ioredis asks the sentinels for the primary at every (re)connect: a failover
    // is a reconnect. A Cluster follows MOVED redirections and refreshes its slot map when a master fails.
    redis = members
      ? new Cluster(
          members.map((h) => ({ ...h })),
          { redisOptions: options, clusterRetryStrategy: backoff, scaleReads: 'master' },
        )
      : sentinels
        ? new Redis({
            ...options,
            sentinels: sentinels.hosts.map((h) => ({ ...h })),
            name: sentinels.name,
            sentinelRetryStrategy: backoff,
          })
        : new Redis(config.redisUrl as string, options);
    redis.on('error', (err: Error) => log.warn({ err: err.message }, 'redis connection error'));
    redis.on('ready', () => log.info('redis ready'));
  }
  const cluster = config.mode === 'cluster';
  const registry: Registry =
    overrides.registry ??
    (cluster && redis
      ? new RedisRegistry({
          redis,
          nodeId: config.nodeId,
          keyPrefix: config.keyPrefix,
          nodeTtlMs: config.nodeTtlMs,
          onError: (err) => log.warn({ err: err.message }, 'registry update failed'),
          onResynced: () => subscriptionsRef.current?.replayAllStored(),
          // Swept while alive: a live node may have adopted (deleted) this node's queue.
          onRevived: () => brokerRef.current?.redeclare(),
        })
      : new MemoryRegistry(config.nodeId));
  const store: OfflineStore =
    overrides.store ??
    (cluster && redis
      ? new RedisOfflineStore({
          redis,
          keyPrefix: config.keyPrefix,
          limits: storeLimits,
          onDropped,
          waitReplicas: config.redisWaitReplicas,
        })
      : new MemoryOfflineStore(storeLimits, Date.now, onDropped));
  // Senders pause at half the relay buffer and go on at a quarter (SPEC §9): a healthy cluster slows them, never cuts them off.
  const pressure = new RelayPressure(
    Math.max(1, Math.ceil(config.relayBufferMax / 2)),
    Math.floor(config.relayBufferMax / 4),
  );
  const broker: Broker =
    overrides.broker ??
    (cluster && config.amqpUrl
      ? new RabbitBroker({
          url: config.amqpUrls,
          queueType: config.relayQueueType,
          nodeId: config.nodeId,
          namePrefix: config.amqpPrefix,
          maxPendingPublishes: config.relayBufferMax,
          persistent: config.relayPersistent,
          prefetch: config.relayPrefetch,
          maxDeliveryAttempts: config.relayDeliveryAttempts,
          pressure,
          onBatch: (records) => metrics.relayBatchSize.observe(records),
          onConnected: () => subscriptionsRef.current?.replayAllStored(),
          beforeDeclare: () => untilQueueReleased(registry, log),
          log,
        })
      : new MemoryBroker(config.nodeId));
  brokerRef.current = broker;
  const authenticator =
    overrides.authenticator ??
    (config.authMode === 'jwt'
      ? await JwtAuthenticator.create({
          ...(config.jwtSecret !== undefined ? { secret: config.jwtSecret } : {}),
          ...(config.jwtPublicKey !== undefined ? { publicKey: config.jwtPublicKey } : {}),
          ...(config.jwtAudience !== undefined ? { audience: config.jwtAudience } : {}),
          ...(config.jwtIssuer !== undefined ? { issuer: config.jwtIssuer } : {}),
        })
      : new DevAuthenticator());

  // SPEC §11: built only when some destination keeps history, so a node without it pays nothing.
  const historyLimits = { size: config.history.size, ttlMs: config.history.ttlMs };
  const history = historyOn
    ? new NodeHistory(
        new HistoryStreams(config.history.destinations),
        cluster && redis
          ? new RedisHistory({
              redis,
              keyPrefix: config.keyPrefix,
              limits: historyLimits,
              waitReplicas: config.redisWaitReplicas,
            })
          : new MemoryHistory({ limits: historyLimits }),
        config.history.size,
        metrics,
        log,
      )
    : undefined;
  const bindings = new BrokerBindings(broker, log);
  const subscriptions = new LocalSubscriptions(bindings);
  subscriptionsRef.current = subscriptions;
  const routeCache = new RouteCache(config.routeCacheMs);
  const router = new MessageRouter({
    nodeId: config.nodeId,
    broker,
    registry,
    store,
    subscriptions,
    nextId: createIdGenerator(),
    metrics,
    log,
    routeCache,
    ...(history ? { history } : {}),
  });
  const template = new MessagingTemplate(router);
  const presence = new PresenceNotices(config.nodeId, (docId, notice) => {
    const { body, contentType } = toBody(notice);
    router.broadcastBatched(`/topic/docs/${docId}/presence`, contentType, body).catch((err: unknown) => {
      log.warn({ err: String(err), doc: docId }, 'presence notice not published');
    });
  });
  const app = new AppRouter();
  registerChatHandler(app);
  const docLimits = { maxBytes: config.yjs.maxDocBytes, ttlMs: config.yjs.docTtlMs };
  const docStates =
    cluster && redis
      ? new RedisDocStates({
          redis,
          keyPrefix: config.keyPrefix,
          limits: docLimits,
          onError: (err) => log.warn({ err: err.message }, 'merging a document failed'),
        })
      : new MemoryDocStates(docLimits);
  registerYjsHandlers(app, docStates);
  const messaging = new Messaging({
    nodeId: config.nodeId,
    broker,
    registry,
    store,
    router,
    template,
    presence,
    app,
    subscriptions,
    bindings,
    policy,
    limits: config.limits,
    metrics,
    log,
    ...(history ? { history } : {}),
  });
  const endpoint = new WsEndpoint({ config, authenticator, messaging, metrics, log, pressure });

  const isReady = () => broker.isReady() && registry.isReady();
  const httpApp = createHttpApp({ config, template, registry, metrics, isReady, log, pressure });
  const sockJs = new SockJsEndpoint(endpoint, config.wsPath, log, config.limits.maxOutboundBytes);
  const koaHandler = httpApp.callback();
  // An idle keep-alive connection is closed by the client or the balancer, not by us: with Node's
  // 5 s default, nginx (upstream keepalive, 60 s) or a backend's agent reuses a connection just as
  // the node closes it, and a POST then fails with a reset (seen as "socket hang up" in the bench).
  const server = http.createServer({ keepAliveTimeout: config.httpKeepAliveMs }, (req, res) => {
    if (!sockJs.handleRequest(req, res)) void koaHandler(req, res);
  });
  server.on('upgrade', (req, socket, head: Buffer) => {
    if (!endpoint.handleUpgrade(req, socket, head) && !sockJs.handleUpgrade(req, socket, head)) socket.destroy();
  });

  const started = (async () => {
    // Alive before the queue is declared: a sweep that took this node for dead has claimed its
    // queue by then, and the broker waits for that takeover to end (untilQueueReleased).
    await registry.keepAlive();
    await broker.start(router.onRelayed, router.onSignal);
  })();
  started.then(
    () => endpoint.admitConnects(),
    (err: unknown) => log.error({ err }, 'node start failed'),
  );
  const keepAlive = setInterval(
    () => {
      registry.keepAlive().catch((err: unknown) => log.warn({ err: String(err) }, 'liveness refresh failed'));
    },
    Math.max(250, Math.floor(config.nodeTtlMs / 3)),
  );
  timers.push(keepAlive);
  if (cluster) {
    const sweep = setInterval(() => {
      registry
        .sweep()
        .then(async (gone) => {
          if (gone.length === 0) return;
          log.info({ nodes: gone }, 'swept dead nodes; taking over their queues');
          // SPEC §8: what a dead node left in its queue reaches its users, wherever they are now.
          for (const dead of gone) await adoptClaimed(dead);
        })
        .catch((err: unknown) => log.warn({ err: String(err) }, 'sweep failed'));
    }, config.nodeTtlMs);
    timers.push(sweep);
  }

  /**
   * Takes over a swept node's queue, holding the sweep's claim on it meanwhile (Registry.holdClaim).
   * A takeover cut short (RabbitMQ or Redis lost mid-way) is tried again, claim held: no later
   * sweep would return that node, and what is left in its queue must still reach its users;
   * unless the node is back meanwhile: it then consumes its own queue. A queue still consumed (its
   * node alive, its liveness lapsed) is waited on the same way: the node shows up again, or its
   * consumer goes with its connection and the queue is taken over.
   */
  const adoptClaimed = async (dead: NodeId): Promise<void> => {
    const renew = setInterval(() => void registry.holdClaim(dead, true).catch(() => undefined), config.nodeTtlMs);
    try {
      for (let attempt = 1; stopped === undefined; attempt++) {
        try {
          await broker.adoptQueue(dead, (msg) => router.reroute(msg, dead));
          return;
        } catch (err) {
          const delayMs = backoffDelay(attempt, 1_000, ADOPT_RETRY_MAX_MS);
          if (err instanceof QueueInUseError)
            log.info({ node: dead, delayMs }, 'a node taken for dead still consumes its queue; waiting for it');
          else
            log.warn(
              { node: dead, attempt, delayMs, err: String(err) },
              'taking over a dead node’s queue failed; trying again',
            );
          await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
          // Back (restarted, or taken for dead while alive): it consumes its own queue once the
          // claim ends, so the claim must not keep it waiting.
          const live = await registry.liveNodes().catch((): NodeId[] => []);
          if (live.includes(dead)) {
            log.info({ node: dead }, 'a node whose queue was being taken over is back; leaving the queue to it');
            return;
          }
        }
      }
    } finally {
      clearInterval(renew);
      await registry.holdClaim(dead, false).catch(() => undefined); // else it expires
    }
  };

  /** SPEC §8 drain: out of the registry, clients told to reconnect (1012), the queue handed back. */
  const leaveCluster = async (): Promise<void> => {
    await registry
      .removeNode(config.nodeId)
      .catch((err: unknown) => log.warn({ err: String(err) }, 'leaving the registry failed'));
    await endpoint.closeAll(1012, 'node draining, reconnect');
    // Hand back what is still queued for this node: its users reconnect elsewhere.
    await broker
      .adoptQueue(config.nodeId, (msg) => router.reroute(msg, config.nodeId))
      .catch((err: unknown) => log.warn({ err: String(err) }, 'handing back the queue failed'));
  };

  let stopped: Promise<void> | undefined;
  const stop = (drain: boolean) =>
    (stopped ??= (async () => {
      endpoint.stopAccepting();
      for (const t of timers) clearInterval(t);
      presence.close();
      if (drain) {
        // DRAIN_TIMEOUT_MS bounds the steps that wait on Redis, RabbitMQ and clients; past it the node closes as on stop.
        if (!(await settlesWithin(leaveCluster(), config.drainTimeoutMs))) {
          log.warn({ timeoutMs: config.drainTimeoutMs }, 'drain did not finish within DRAIN_TIMEOUT_MS; closing');
          // The sessions may not have been told yet; their cleanup may wait on the same stuck service.
          await settlesWithin(endpoint.closeAll(1012, 'node draining, reconnect'), 2000);
        }
      } else {
        await endpoint.closeAll(1001, 'node stopping');
      }
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await broker.close();
      await store.close();
      await history?.close();
      await docStates.close();
      await registry.close();
      if (redis) await redis.quit().catch(() => redis?.disconnect());
    })());

  return {
    nodeId: config.nodeId,
    config,
    app,
    template,
    metrics,
    registry,
    listen: () =>
      new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          resolve((server.address() as AddressInfo).port);
        });
      }),
    ready: () => started,
    isReady,
    drain: () => stop(true),
    close: () => stop(false),
  };
}

/**
 * Resolves once no other node is taking over this node's queue (it took this node for dead: a
 * restart within NODE_TTL_MS, or a Redis failover longer than it). Declaring the queue meanwhile
 * would have the takeover delete it under this node's consumer.
 */
async function untilQueueReleased(registry: Registry, log: Logger): Promise<void> {
  for (let said = false; ; said = true) {
    const by = await registry.queueClaimedBy();
    if (by === undefined) return;
    if (!said) log.info({ by }, "another node is taking over this node's old queue; waiting");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** True when `work` settled within `ms`; false when the time ran out first (the work goes on unwatched). */
async function settlesWithin(work: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
