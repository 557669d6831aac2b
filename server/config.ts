import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { ConfigVarName } from './config-vars.js';
import { DEFAULTS } from './config-defaults.js';
import { autoMaxConnections, openFileLimit } from './open-file-limit.js';
import { compilePattern, DestinationPatternError } from './destinations/destination-pattern.js';

export { DEFAULTS } from './config-defaults.js';

export type AuthMode = 'dev' | 'jwt';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Limits on what one client may make the node hold or do (SPEC §7). */
export interface Limits {
  /** MAX_FRAME_BYTES, default 65536. */
  readonly maxFrameBytes: number;
  /** MAX_HEADERS, default 64. */
  readonly maxHeaders: number;
  /** MAX_HEADER_LINE_BYTES, default 8192. */
  readonly maxHeaderLineBytes: number;
  /** MAX_SUBSCRIPTIONS, per session, default 256. */
  readonly maxSubscriptionsPerSession: number;
  /** MAX_UNACKED, per subscription, default 1000. */
  readonly maxUnackedPerSubscription: number;
  /** MAX_OUTBOUND_BYTES, per session, default 1 MiB: a slower consumer is disconnected. */
  readonly maxOutboundBytes: number;
  /** MAX_FRAMES_PER_SECOND, inbound per session, default 2000. */
  readonly maxInboundFramesPerSecond: number;
  /** MAX_CONNECTIONS, per node; default (auto): the open-file limit less 100, 20000 where unknown. */
  readonly maxConnections: number;
  /** MAX_CONNECTIONS_PER_USER, per node, default 32. */
  readonly maxConnectionsPerUser: number;
  /** MAX_PENDING_CONNECTS, CONNECTs in progress per node before new ones get BUSY (1013), default 5000. */
  readonly maxPendingConnects: number;
  /** MAX_TRANSACTION_FRAMES, frames buffered per open transaction, default 1000. */
  readonly maxTransactionFrames: number;
  /** MAX_REDELIVERIES, times a NACKed message is delivered again before it is dead-lettered, default 3. */
  readonly maxRedeliveries: number;
  /** CONNECT_TIMEOUT_MS, how long a new WebSocket may wait before its CONNECT frame, default 60000. */
  readonly connectTimeoutMs: number;
}

/** Which streams keep history for resume after reconnect, and how much (SPEC §11). */
export interface HistoryConfig {
  /**
   * HISTORY_DESTINATIONS: Ant patterns over subscribed `/topic/`, `/queue/` and `/user/`
   * destinations whose streams keep history; default none (the extension is off).
   */
  readonly destinations: readonly string[];
  /** HISTORY_SIZE, messages kept per stream, default 300. */
  readonly size: number;
  /** HISTORY_TTL_MS, how long a message is kept, default 600000 (10 min). */
  readonly ttlMs: number;
}

/** What the cluster keeps of each collaborative (Yjs) document (SPEC §12). */
export interface YjsConfig {
  /** YJS_MAX_DOC_BYTES, stored updates per document, default 512 KiB (half of MAX_OUTBOUND_BYTES if smaller); below MAX_OUTBOUND_BYTES. */
  readonly maxDocBytes: number;
  /** YJS_DOC_TTL_MS, a document unwritten this long is forgotten, default 30 days. */
  readonly docTtlMs: number;
}

export interface Config {
  /** PORT, default 8080. */
  readonly port: number;
  /** HOST, default 0.0.0.0. */
  readonly host: string;
  /** NODE_ID, default `<hostname>-<random>`: unique per process. */
  readonly nodeId: string;
  /** WS_PATH, the STOMP endpoint, default /ws. */
  readonly wsPath: string;
  /** REDIS_URL (or REDIS_SENTINELS, REDIS_CLUSTER_NODES) and AMQP_URL: both set means cluster mode, neither embedded. */
  readonly redisUrl: string | undefined;
  /** REDIS_SENTINELS (host:port list) and REDIS_SENTINEL_NAME: Redis through Sentinel, with failover. */
  readonly redisSentinels: { readonly hosts: readonly HostPort[]; readonly name: string } | undefined;
  /** REDIS_CLUSTER_NODES (host:port list): a Redis Cluster, found from any of these members. */
  readonly redisClusterNodes: readonly HostPort[] | undefined;
  /** REDIS_WAIT_REPLICAS, replicas that must hold a history append or an offline message before it is accepted, default 0. */
  readonly redisWaitReplicas: number;
  /** The first member of AMQP_URL. */
  readonly amqpUrl: string | undefined;
  /** AMQP_URL: one RabbitMQ, or the members of a RabbitMQ cluster, comma-separated (tried in turn). */
  readonly amqpUrls: readonly string[];
  /** RELAY_QUEUE_TYPE, the node queues' type: quorum (replicated, default) or classic. */
  readonly relayQueueType: 'quorum' | 'classic';
  readonly mode: 'embedded' | 'cluster';
  /** KEY_PREFIX for Redis keys, default `stomp:`; RabbitMQ names use it with `.` for a trailing `:`. */
  readonly keyPrefix: string;
  readonly amqpPrefix: string;
  /** AUTH_MODE, default dev (principal = CONNECT `login`). */
  readonly authMode: AuthMode;
  readonly jwtSecret: string | undefined;
  readonly jwtPublicKey: string | undefined;
  /** JWT_AUDIENCE and JWT_ISSUER: required `aud` / `iss` claims when set. */
  readonly jwtAudience: string | undefined;
  readonly jwtIssuer: string | undefined;
  /** API_TOKEN: when set, /api/** needs `Authorization: Bearer <token>`. */
  readonly apiToken: string | undefined;
  /** AUTHZ_POLICY: path of a JSON destination policy (read and checked at start); unset: the default rules. */
  readonly authzPolicy: string | undefined;
  /** LOG_LEVEL, default info. */
  readonly logLevel: LogLevel;
  /** HEARTBEAT, the server's `sx,sy` in CONNECTED, default 10000,10000. */
  readonly heartbeat: readonly [number, number];
  /** HEARTBEAT_GRACE, the client's interval × this much silence and it counts as dead; default 3, as Spring's simple broker. */
  readonly heartbeatGraceFactor: number;
  /** NODE_TTL_MS, the liveness key TTL in cluster mode, default 15000. */
  readonly nodeTtlMs: number;
  /** ROUTE_CACHE_MS, how long a registry lookup is reused, default 500; 0 turns the cache off. */
  readonly routeCacheMs: number;
  /** OFFLINE_MAX_PER_USER, default 1000. */
  readonly offlineMaxPerUser: number;
  /** OFFLINE_RETENTION_MS, default 7 days. */
  readonly offlineRetentionMs: number;
  /** DRAIN_TIMEOUT_MS, the bound on graceful drain, default 10000. */
  readonly drainTimeoutMs: number;
  /** RELAY_BUFFER_MAX, publishes waiting for RabbitMQ (disconnected or unconfirmed) before a message is NOT_ACCEPTED, default 10000. */
  readonly relayBufferMax: number;
  /** RELAY_PERSISTENT, relayed messages survive a RabbitMQ restart (persistent); false: transient, still confirmed. Default true. */
  readonly relayPersistent: boolean;
  /** RELAY_PREFETCH, relayed messages in flight to this node's handler (AMQP prefetch), default 256. */
  readonly relayPrefetch: number;
  /** RELAY_DELIVERY_ATTEMPTS, deliveries of a relayed message whose handling fails before it is dropped, default 5. */
  readonly relayDeliveryAttempts: number;
  /** ALLOWED_ORIGINS, comma separated; `*` allows any. Default: any (dev); same-origin checks come with it set. */
  readonly allowedOrigins: readonly string[];
  /** MAX_HTTP_BODY_BYTES, default 1 MiB. */
  readonly maxHttpBodyBytes: number;
  /** HTTP_KEEPALIVE_MS, how long an idle keep-alive HTTP connection is kept, default 65 s. */
  readonly httpKeepAliveMs: number;
  readonly limits: Limits;
  readonly history: HistoryConfig;
  readonly yjs: YjsConfig;
}

/** A bad configuration value: start-up stops with this one line and exit code 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    readonly reason: string,
  ) {
    super(`invalid ${variable}: ${reason}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** Every read of the environment goes through here, by a name of the catalogue (config-vars.ts). */
function optional(env: Env, name: ConfigVarName): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

function raw(env: Env, name: keyof typeof DEFAULTS): string {
  return optional(env, name) ?? DEFAULTS[name];
}

function int(env: Env, name: keyof typeof DEFAULTS, min: number, max: number, what = 'an integer'): number {
  const text = raw(env, name);
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(name, `${JSON.stringify(text)} is not ${what} (${min}-${max})`);
  }
  return n;
}

/** WAIT runs on the connection that wrote; a Redis Cluster client writes over one per master, so it has none to offer. */
function waitReplicas(env: Env, cluster: boolean): number {
  const n = int(env, 'REDIS_WAIT_REPLICAS', 0, 16);
  if (n > 0 && cluster)
    throw new ConfigError('REDIS_WAIT_REPLICAS', 'is for REDIS_URL or REDIS_SENTINELS, not a Redis Cluster');
  return n;
}

function optionalUrl(env: Env, name: ConfigVarName, protocols: readonly string[]): string | undefined {
  const text = optional(env, name);
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(name, `${JSON.stringify(text)} is not a URL`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(name, `${JSON.stringify(url.protocol)} is not one of ${protocols.join(', ')}`);
  }
  return text;
}

/** A comma-separated list of URLs (AMQP_URL: the members of a RabbitMQ cluster); empty when unset. */
function urlList(env: Env, name: ConfigVarName, protocols: readonly string[]): string[] {
  const text = optional(env, name);
  if (text === undefined) return [];
  const items = text.split(',').map((u) => u.trim());
  if (items.some((u) => u === ''))
    throw new ConfigError(name, `${JSON.stringify(text)} has an empty member (comma-separated URLs)`);
  return items.map((item) => optionalUrl({ [name]: item }, name, protocols) as string);
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** A `host:port,…` list (an IPv6 host in brackets); undefined when unset. */
function hostPorts(env: Env, name: 'REDIS_SENTINELS' | 'REDIS_CLUSTER_NODES'): HostPort[] | undefined {
  const text = optional(env, name);
  if (text === undefined) return undefined;
  return text.split(',').map((item) => {
    const m = /^\s*([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})\s*$/.exec(item);
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65535) throw new ConfigError(name, `${JSON.stringify(item)} is not host:port`);
    return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
  });
}

/** REDIS_SENTINELS `host:port,…` with REDIS_SENTINEL_NAME (the monitored primary's name). */
function sentinels(env: Env): Config['redisSentinels'] {
  const hosts = hostPorts(env, 'REDIS_SENTINELS');
  const name = optional(env, 'REDIS_SENTINEL_NAME');
  if (hosts === undefined) {
    if (name !== undefined) throw new ConfigError('REDIS_SENTINEL_NAME', 'needs REDIS_SENTINELS');
    return undefined;
  }
  if (name === undefined || !/^[A-Za-z0-9._-]{1,64}$/.test(name)) {
    throw new ConfigError(
      'REDIS_SENTINEL_NAME',
      `${JSON.stringify(name ?? '')} must name the primary the sentinels monitor (A-Z a-z 0-9 . _ -)`,
    );
  }
  return { hosts, name };
}

function oneOf<T extends string>(env: Env, name: keyof typeof DEFAULTS, values: readonly T[]): T {
  const text = raw(env, name);
  if (!(values as readonly string[]).includes(text)) {
    throw new ConfigError(name, `${JSON.stringify(text)} is not one of ${values.join(', ')}`);
  }
  return text as T;
}

/** Ids that become Redis keys and RabbitMQ names: nothing that could address another key or queue. */
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function generatedNodeId(): string {
  const host =
    os
      .hostname()
      .replace(/[^A-Za-z0-9-]/g, '')
      .slice(0, 40) || 'node';
  return `${host}-${randomBytes(4).toString('hex')}`;
}

const HISTORY_PREFIXES = ['/topic/', '/queue/', '/user/'] as const;

/** HISTORY_DESTINATIONS: comma-separated patterns, each checked with the destination matcher's own rules. */
function historyDestinations(env: Env): string[] {
  const patterns = raw(env, 'HISTORY_DESTINATIONS')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  for (const p of patterns) {
    if (!HISTORY_PREFIXES.some((prefix) => p.startsWith(prefix))) {
      throw new ConfigError(
        'HISTORY_DESTINATIONS',
        `${JSON.stringify(p)} is not a pattern of ${HISTORY_PREFIXES.join(', ')} destinations`,
      );
    }
    try {
      compilePattern(p);
    } catch (err) {
      if (err instanceof DestinationPatternError)
        throw new ConfigError('HISTORY_DESTINATIONS', `${JSON.stringify(p)}: ${err.reason}`);
      throw err;
    }
  }
  return patterns;
}

/** Reads the whole configuration from the environment. Pure: nothing else reads process.env. */
/** What loadConfig reads of the process besides its environment (tests pass their own). */
export interface HostFacts {
  openFileLimit(): number | undefined;
}

export function loadConfig(env: Env, host: HostFacts = { openFileLimit }): Config {
  const redisUrl = optionalUrl(env, 'REDIS_URL', ['redis:', 'rediss:']);
  const redisSentinels = sentinels(env);
  const redisClusterNodes = hostPorts(env, 'REDIS_CLUSTER_NODES');
  const redisWays = [
    redisUrl && 'REDIS_URL',
    redisSentinels && 'REDIS_SENTINELS',
    redisClusterNodes && 'REDIS_CLUSTER_NODES',
  ];
  const given = redisWays.filter((w): w is string => typeof w === 'string');
  if (given.length > 1) throw new ConfigError(given[1] as string, `set one of ${given.join(', ')}, not several`);
  const amqpUrls = urlList(env, 'AMQP_URL', ['amqp:', 'amqps:']);
  const amqpUrl = amqpUrls[0];
  const hasRedis = given.length > 0;
  if (hasRedis !== (amqpUrl !== undefined)) {
    const missing = hasRedis ? 'AMQP_URL' : 'REDIS_URL';
    throw new ConfigError(
      missing,
      'cluster mode needs both REDIS_URL (or REDIS_SENTINELS, REDIS_CLUSTER_NODES) and AMQP_URL (set neither for the embedded mode)',
    );
  }

  const nodeId = optional(env, 'NODE_ID') ?? generatedNodeId();
  if (!NODE_ID.test(nodeId)) {
    throw new ConfigError(
      'NODE_ID',
      `${JSON.stringify(nodeId)} must be 1-64 characters of A-Z a-z 0-9 . _ - (starting with a letter or digit)`,
    );
  }

  const keyPrefix = raw(env, 'KEY_PREFIX');
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(keyPrefix)) {
    throw new ConfigError('KEY_PREFIX', `${JSON.stringify(keyPrefix)} must be 1-64 characters of A-Z a-z 0-9 . _ : -`);
  }

  const wsPath = raw(env, 'WS_PATH');
  if (!/^\/[A-Za-z0-9._~/-]*$/.test(wsPath) || wsPath.length > 128) {
    throw new ConfigError('WS_PATH', `${JSON.stringify(wsPath)} is not an absolute URL path`);
  }

  const heartbeatText = raw(env, 'HEARTBEAT');
  const hb = /^(\d{1,9}),(\d{1,9})$/.exec(heartbeatText);
  if (!hb) throw new ConfigError('HEARTBEAT', `${JSON.stringify(heartbeatText)} is not "sx,sy" in milliseconds`);
  const grace = Number(raw(env, 'HEARTBEAT_GRACE'));
  if (!Number.isFinite(grace) || grace < 1 || grace > 10) {
    throw new ConfigError(
      'HEARTBEAT_GRACE',
      `${JSON.stringify(raw(env, 'HEARTBEAT_GRACE'))} is not a factor between 1 and 10`,
    );
  }

  const authMode = oneOf<AuthMode>(env, 'AUTH_MODE', ['dev', 'jwt']);
  const jwtSecret = optional(env, 'JWT_SECRET');
  const jwtPublicKey = optional(env, 'JWT_PUBLIC_KEY');
  if (authMode === 'jwt' && jwtSecret === undefined && jwtPublicKey === undefined) {
    throw new ConfigError('AUTH_MODE', 'jwt needs JWT_SECRET or JWT_PUBLIC_KEY');
  }

  const origins = raw(env, 'ALLOWED_ORIGINS')
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');

  const config: Config = {
    port: int(env, 'PORT', 0, 65535, 'a port'),
    host: raw(env, 'HOST'),
    nodeId,
    wsPath,
    redisUrl,
    redisSentinels,
    redisClusterNodes,
    redisWaitReplicas: waitReplicas(env, redisClusterNodes !== undefined),
    amqpUrl,
    amqpUrls,
    relayQueueType: oneOf(env, 'RELAY_QUEUE_TYPE', ['quorum', 'classic']),
    mode: hasRedis ? 'cluster' : 'embedded',
    keyPrefix,
    amqpPrefix: keyPrefix.endsWith(':') ? `${keyPrefix.slice(0, -1)}.` : keyPrefix,
    authMode,
    jwtSecret,
    jwtPublicKey,
    jwtAudience: optional(env, 'JWT_AUDIENCE'),
    jwtIssuer: optional(env, 'JWT_ISSUER'),
    apiToken: optional(env, 'API_TOKEN'),
    authzPolicy: optional(env, 'AUTHZ_POLICY'),
    logLevel: oneOf<LogLevel>(env, 'LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    heartbeat: [Number(hb[1]), Number(hb[2])],
    heartbeatGraceFactor: grace,
    nodeTtlMs: int(env, 'NODE_TTL_MS', 1000, 3_600_000),
    routeCacheMs: int(env, 'ROUTE_CACHE_MS', 0, 60_000),
    offlineMaxPerUser: int(env, 'OFFLINE_MAX_PER_USER', 1, 1_000_000),
    offlineRetentionMs: int(env, 'OFFLINE_RETENTION_MS', 1000, 365 * 24 * 3600 * 1000),
    drainTimeoutMs: int(env, 'DRAIN_TIMEOUT_MS', 0, 600_000),
    relayBufferMax: int(env, 'RELAY_BUFFER_MAX', 1, 10_000_000),
    relayPersistent: oneOf(env, 'RELAY_PERSISTENT', ['true', 'false']) === 'true',
    relayPrefetch: int(env, 'RELAY_PREFETCH', 1, 65_535),
    relayDeliveryAttempts: int(env, 'RELAY_DELIVERY_ATTEMPTS', 1, 1000),
    allowedOrigins: origins,
    maxHttpBodyBytes: int(env, 'MAX_HTTP_BODY_BYTES', 1, 64 * 1024 * 1024),
    httpKeepAliveMs: int(env, 'HTTP_KEEPALIVE_MS', 1000, 3_600_000),
    limits: Object.freeze({
      maxFrameBytes: int(env, 'MAX_FRAME_BYTES', 256, 64 * 1024 * 1024),
      maxHeaders: int(env, 'MAX_HEADERS', 4, 10_000),
      maxHeaderLineBytes: int(env, 'MAX_HEADER_LINE_BYTES', 64, 1024 * 1024),
      maxSubscriptionsPerSession: int(env, 'MAX_SUBSCRIPTIONS', 1, 100_000),
      maxUnackedPerSubscription: int(env, 'MAX_UNACKED', 1, 1_000_000),
      maxOutboundBytes: int(env, 'MAX_OUTBOUND_BYTES', 1024, 1024 * 1024 * 1024),
      maxInboundFramesPerSecond: int(env, 'MAX_FRAMES_PER_SECOND', 1, 10_000_000),
      maxConnections:
        raw(env, 'MAX_CONNECTIONS') === 'auto'
          ? autoMaxConnections(host.openFileLimit())
          : int(env, 'MAX_CONNECTIONS', 1, 10_000_000, 'an integer or auto'),
      maxConnectionsPerUser: int(env, 'MAX_CONNECTIONS_PER_USER', 1, 1_000_000),
      maxPendingConnects: int(env, 'MAX_PENDING_CONNECTS', 1, 1_000_000),
      maxTransactionFrames: int(env, 'MAX_TRANSACTION_FRAMES', 1, 1_000_000),
      maxRedeliveries: int(env, 'MAX_REDELIVERIES', 0, 1000),
      connectTimeoutMs: int(env, 'CONNECT_TIMEOUT_MS', 1000, 3_600_000),
    }),
    history: Object.freeze({
      destinations: Object.freeze(historyDestinations(env)),
      size: int(env, 'HISTORY_SIZE', 1, 100_000),
      ttlMs: int(env, 'HISTORY_TTL_MS', 1000, 7 * 24 * 3600 * 1000),
    }),
    yjs: Object.freeze({
      // Unset: 512 KiB, or half of MAX_OUTBOUND_BYTES where that is smaller.
      maxDocBytes:
        optional(env, 'YJS_MAX_DOC_BYTES') === undefined
          ? Math.min(
              Number(DEFAULTS.YJS_MAX_DOC_BYTES),
              Math.floor(int(env, 'MAX_OUTBOUND_BYTES', 1024, 1024 * 1024 * 1024) / 2),
            )
          : int(env, 'YJS_MAX_DOC_BYTES', 1024, 512 * 1024 * 1024),
      docTtlMs: int(env, 'YJS_DOC_TTL_MS', 60_000, 365 * 24 * 3600 * 1000),
    }),
  };
  // A newcomer receives the whole document in one MESSAGE: it must fit the session's outbound bound.
  if (optional(env, 'YJS_MAX_DOC_BYTES') !== undefined && config.yjs.maxDocBytes >= config.limits.maxOutboundBytes) {
    throw new ConfigError(
      'YJS_MAX_DOC_BYTES',
      `${config.yjs.maxDocBytes} must be below MAX_OUTBOUND_BYTES (${config.limits.maxOutboundBytes})`,
    );
  }
  return Object.freeze(config);
}
