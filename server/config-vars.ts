import { DEFAULTS } from './config-defaults.js';

/** What --help, the tests and the docs say about one configuration variable. */
interface Described {
  readonly meaning: string;
  /** The default when it is not a value of DEFAULTS (unset variables, derived defaults). */
  readonly unset?: string;
}

/**
 * Every environment variable loadConfig reads, in the order --help lists them. A default comes
 * from DEFAULTS (one place); the type makes a variable added there without a meaning here a
 * compile error, and a test checks this list against what loadConfig reads.
 */
export const CONFIG_VARS = {
  PORT: { meaning: 'HTTP and WebSocket port; 0 picks a free port (the "listening" log line names it)' },
  HOST: { meaning: 'address to listen on' },
  NODE_ID: {
    unset: '<hostname>-<random>',
    meaning: "this node's id: its RabbitMQ queue and its registry entries (A-Z a-z 0-9 . _ -, at most 64)",
  },
  WS_PATH: { meaning: 'the STOMP endpoint (also SockJS); the raw WebSocket is also at {WS_PATH}/websocket' },
  REDIS_URL: { meaning: 'redis://… ; with AMQP_URL a cluster node, with neither embedded (in memory)' },
  REDIS_SENTINELS: { meaning: 'host:port,… of Redis Sentinels, instead of REDIS_URL: Redis with failover' },
  REDIS_SENTINEL_NAME: { meaning: 'the name of the primary the sentinels monitor (with REDIS_SENTINELS)' },
  REDIS_WAIT_REPLICAS: {
    meaning:
      'replicas that must have a history append or an offline message (Redis WAIT) before it is accepted, so a failover cannot lose it or roll offsets back; 0: none (REDIS_URL or REDIS_SENTINELS)',
  },
  REDIS_CLUSTER_NODES: {
    meaning:
      'host:port,… of Redis Cluster members, instead of REDIS_URL: a Redis Cluster (any members; the rest are found)',
  },
  AMQP_URL: {
    meaning:
      'amqp://… (RabbitMQ), or the members of a RabbitMQ cluster comma-separated (tried in turn); with REDIS_URL a cluster node',
  },
  KEY_PREFIX: { meaning: "namespace of every Redis key; RabbitMQ names use it with '.' for a trailing ':'" },
  AUTH_MODE: { meaning: 'dev: the CONNECT login header is the user (never in production); jwt: a token' },
  JWT_SECRET: { meaning: 'HS256 secret for AUTH_MODE=jwt' },
  JWT_PUBLIC_KEY: { meaning: 'PEM public key (RS256/ES256) for AUTH_MODE=jwt' },
  JWT_AUDIENCE: { meaning: "when set, a token's aud must match" },
  JWT_ISSUER: { meaning: "when set, a token's iss must match" },
  API_TOKEN: { meaning: 'when set, /api/** needs Authorization: Bearer <API_TOKEN>' },
  AUTHZ_POLICY: { meaning: 'path of a JSON destination policy, checked at start; unset: the default rules' },
  ALLOWED_ORIGINS: {
    meaning: 'comma-separated browser origins allowed to open the WebSocket (* any); same-origin always is',
  },
  LOG_LEVEL: { meaning: 'fatal, error, warn, info, debug, trace or silent; JSON lines on stdout' },
  HEARTBEAT: { meaning: "the server's heart-beat in CONNECTED, sx,sy in ms" },
  HEARTBEAT_GRACE: { meaning: 'a client is dead after its heart-beat interval × this factor of silence' },
  NODE_TTL_MS: { meaning: "TTL of the node's liveness key in Redis" },
  ROUTE_CACHE_MS: { meaning: 'how long a registry lookup is reused for messages to one user (0: off)' },
  OFFLINE_MAX_PER_USER: { meaning: 'messages kept per user with no session (the oldest go first)' },
  OFFLINE_RETENTION_MS: { meaning: 'how long such a message is kept (7 days)' },
  DRAIN_TIMEOUT_MS: { meaning: 'bound on the graceful drain at SIGTERM / Ctrl-C (a second one exits at once)' },
  RELAY_BUFFER_MAX: {
    meaning:
      'messages a node holds for RabbitMQ: past half of it senders are slowed down; while RabbitMQ is unreachable, a full buffer refuses more',
  },
  RELAY_PERSISTENT: {
    meaning:
      'true: relayed messages survive a RabbitMQ restart; false: transient (faster), still confirmed, survive node crashes only',
  },
  RELAY_QUEUE_TYPE: { meaning: 'quorum (replicated over a RabbitMQ cluster) or classic: the type of the node queues' },
  RELAY_PREFETCH: { meaning: 'relayed messages in flight from RabbitMQ to a node at once (AMQP prefetch)' },
  RELAY_DELIVERY_ATTEMPTS: {
    meaning: 'deliveries of a relayed message whose handling keeps failing before it is dropped (logged)',
  },
  MAX_HTTP_BODY_BYTES: { meaning: 'HTTP API request body limit' },
  HTTP_KEEPALIVE_MS: { meaning: "idle keep-alive HTTP connections stay open this long; keep it above your balancer's" },
  MAX_FRAME_BYTES: { meaning: 'STOMP frame size limit' },
  MAX_HEADERS: { meaning: 'headers per frame' },
  MAX_HEADER_LINE_BYTES: { meaning: 'bytes per header line' },
  MAX_SUBSCRIPTIONS: { meaning: 'subscriptions per session' },
  MAX_UNACKED: { meaning: 'unacknowledged messages per subscription' },
  MAX_OUTBOUND_BYTES: { meaning: 'bytes queued for a session that reads too slowly before it is closed' },
  MAX_FRAMES_PER_SECOND: { meaning: 'inbound frames per second per session' },
  MAX_CONNECTIONS: {
    meaning:
      "WebSocket connections per node; auto: the process's open-file limit less 100 (20000 where it cannot be read)",
  },
  MAX_CONNECTIONS_PER_USER: { meaning: 'sessions per user per node' },
  MAX_PENDING_CONNECTS: {
    meaning:
      'CONNECTs being authenticated and registered at once per node; past it a CONNECT gets ERROR and close 1013 (try again later)',
  },
  MAX_TRANSACTION_FRAMES: { meaning: 'frames buffered in one open transaction' },
  MAX_REDELIVERIES: { meaning: 'times a NACKed message is delivered again before it is dead-lettered' },
  CONNECT_TIMEOUT_MS: { meaning: 'how long a new WebSocket may stay without its CONNECT frame' },
  HISTORY_DESTINATIONS: {
    meaning:
      'comma-separated Ant patterns of subscribed /topic/, /queue/ and /user/ destinations that keep history for resume after reconnect; empty: off',
  },
  HISTORY_SIZE: { meaning: 'messages kept per history stream' },
  HISTORY_TTL_MS: { meaning: 'how long a message stays in a history stream (10 min)' },
  YJS_MAX_DOC_BYTES: {
    meaning:
      'stored Yjs updates per collaborative document; an update past it is refused; below MAX_OUTBOUND_BYTES, as a newcomer gets it in one frame (default: 512 KiB, or half of MAX_OUTBOUND_BYTES if smaller)',
  },
  YJS_DOC_TTL_MS: { meaning: 'a collaborative document no one wrote to for this long is forgotten (30 days)' },
} as const satisfies Record<keyof typeof DEFAULTS, Described> & Record<string, Described>;

export type ConfigVarName = keyof typeof CONFIG_VARS;

/** One variable as --help shows it. */
export interface ConfigVariable {
  readonly name: ConfigVarName;
  /** The command-line flag: the name in lower-case kebab (`REDIS_URL` ↔ `--redis-url`). */
  readonly flag: string;
  /** The default as loadConfig applies it; undefined when unset by default. */
  readonly default: string | undefined;
  /** The default as the docs show it: the value, a description (`<hostname>-<random>`), or undefined. */
  readonly shownDefault: string | undefined;
  readonly meaning: string;
}

export function flagOf(name: string): string {
  return `--${name.toLowerCase().replaceAll('_', '-')}`;
}

/** The catalogue as a list, in --help order. */
export function configVariables(): ConfigVariable[] {
  const defaults: Readonly<Record<string, string>> = DEFAULTS;
  return Object.entries(CONFIG_VARS).map(([name, described]: [string, Described]) => ({
    name: name as ConfigVarName,
    flag: flagOf(name),
    default: defaults[name],
    shownDefault: defaults[name] ?? described.unset,
    meaning: described.meaning,
  }));
}
