import { readdir } from 'node:fs/promises';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type CounterConfiguration } from 'prom-client';

/** Every metric the node exposes at /metrics. One registry per node, so several nodes can share a process (tests). */
export class Metrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({
    name: 'stomp_connections',
    help: 'Open WebSocket connections',
    registers: [this.registry],
  });
  readonly sessions = new Gauge({
    name: 'stomp_sessions',
    help: 'Connected STOMP sessions',
    registers: [this.registry],
  });
  readonly subscriptions = new Gauge({
    name: 'stomp_subscriptions',
    help: 'Active subscriptions',
    registers: [this.registry],
  });
  // Per-message counters are Tallies: the hot path adds to a number, /metrics folds it in.
  private readonly inByCommand = new Map<string, Tally>();
  private readonly outByCommand = new Map<string, Tally>();
  private readonly publishedTo = new Map<string, Tally>();
  /** By kind, then origin node: no key to build per message. */
  private readonly consumedFrom = { user: new Map<string, Tally>(), broadcast: new Map<string, Tally>() };
  readonly framesIn: Counter<'command'> = new Counter({
    name: 'stomp_frames_in_total',
    help: 'Frames received, by command',
    labelNames: ['command'] as const,
    registers: [this.registry],
    collect: () => flushAll(this.inByCommand),
  });
  readonly framesOut: Counter<'command'> = new Counter({
    name: 'stomp_frames_out_total',
    help: 'Frames sent, by command',
    labelNames: ['command'] as const,
    registers: [this.registry],
    collect: () => flushAll(this.outByCommand),
  });
  private readonly relayPublished: Counter<'node'> = new Counter({
    name: 'stomp_relay_published_total',
    help: 'Messages published to another node, by target node',
    labelNames: ['node'] as const,
    registers: [this.registry],
    collect: () => flushAll(this.publishedTo),
  });
  private readonly relayConsumed: Counter<'origin' | 'kind'> = new Counter({
    name: 'stomp_relay_consumed_total',
    help: 'Messages consumed from the broker, by origin node and kind',
    labelNames: ['origin', 'kind'] as const,
    registers: [this.registry],
    collect: () => {
      flushAll(this.consumedFrom.user);
      flushAll(this.consumedFrom.broadcast);
    },
  });
  readonly flowPaused = new Counter({
    name: 'stomp_flow_paused_total',
    help: 'Times a sending session stopped being read because the relay buffer was above its high-water mark',
    registers: [this.registry],
  });
  readonly inboundPaced = new Counter({
    name: 'stomp_inbound_paced_total',
    help: "WebSocket upgrades and messages handled in a later turn of the event loop: a burst of inbound work over one turn's budget",
    registers: [this.registry],
  });
  readonly broadcastPublished = new Counter({
    name: 'stomp_broadcast_published_total',
    help: 'Broadcast messages published to the broker',
    registers: [this.registry],
  });
  readonly localShortCircuits: Tally = tally({
    name: 'stomp_local_deliveries_total',
    help: 'User messages delivered on the accepting node with no broker hop',
    registers: [this.registry],
  });
  readonly deliveries: Tally = tally({
    name: 'stomp_deliveries_total',
    help: 'MESSAGE frames written to sessions',
    registers: [this.registry],
  });
  readonly offlineStored = new Counter({
    name: 'stomp_offline_stored_total',
    help: 'User messages stored for an offline user',
    registers: [this.registry],
  });
  readonly offlineDropped = new Counter({
    name: 'stomp_offline_dropped_total',
    help: 'Offline messages dropped, by reason (bound, expired)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly offlineReplayed = new Counter({
    name: 'stomp_offline_replayed_total',
    help: 'Stored messages delivered on subscribe',
    registers: [this.registry],
  });
  readonly duplicatesSuppressed = new Counter({
    name: 'stomp_duplicates_suppressed_total',
    help: 'Messages that reached a subscription twice (after a failure) and were written once',
    registers: [this.registry],
  });
  readonly deadLettered = new Counter({
    name: 'stomp_dead_lettered_total',
    help: 'Messages dropped after too many NACKs',
    registers: [this.registry],
  });
  readonly historyResumes = new Counter({
    name: 'stomp_history_resumes_total',
    help: 'Resuming SUBSCRIBEs answered, by x-recovered',
    labelNames: ['recovered'] as const,
    registers: [this.registry],
  });
  readonly historyGapFills = new Counter({
    name: 'stomp_history_gap_fills_total',
    help: "Gaps in a subscription's offsets filled from history",
    registers: [this.registry],
  });
  readonly historyDropped = new Counter({
    name: 'stomp_history_dropped_total',
    help: 'Stream copies not delivered: offset passed (duplicate) or older epoch (stale-epoch)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly historySkipped = new Counter({
    name: 'stomp_history_skipped_total',
    help: 'Offsets given up: not found in history by a gap fill',
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'stomp_errors_total',
    help: 'Errors, by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly relayBatchSize = new Histogram({
    name: 'stomp_relay_batch_size',
    help: 'Relay messages per AMQP message this node published (the batched node hop)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers: [this.registry],
  });
  readonly deliveryLatency = new Histogram({
    name: 'stomp_delivery_latency_seconds',
    help: 'From accepting a message to writing it to the sessions of this node (once per message and node)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  /** Counts a frame in. */
  frameIn(command: string): void {
    tallyOf(this.inByCommand, command, () => this.framesIn.labels(command)).inc();
  }

  frameOut(command: string): void {
    tallyOf(this.outByCommand, command, () => this.framesOut.labels(command)).inc();
  }

  /** Counts a message published to `node`'s queue. */
  relayedTo(node: string): void {
    tallyOf(this.publishedTo, node, () => this.relayPublished.labels(node)).inc();
  }

  /** Counts a message consumed from the broker. */
  consumed(origin: string, kind: 'user' | 'broadcast'): void {
    tallyOf(this.consumedFrom[kind], origin, () => this.relayConsumed.labels(origin, kind)).inc();
  }

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) defaultMetricsWithoutStalls(this.registry);
  }
}

/**
 * prom-client's default metrics, minus what stalls the event loop at many sessions: its
 * `process_open_fds` lists /proc/self/fd synchronously and `nodejs_active_handles` builds an array
 * of every handle, twice — at 18,000 sockets ~20 ms and ~10 ms of each scrape, during which no
 * session is served. `process_open_fds` is read asynchronously instead (the listing runs on
 * libuv's threads); the handles are left to `nodejs_active_resources`, the same by type, cheaper.
 */
function defaultMetricsWithoutStalls(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of ['process_open_fds', 'nodejs_active_handles', 'nodejs_active_handles_total'])
    registry.removeSingleMetric(name);
  if (process.platform !== 'linux') return;
  new Gauge({
    name: 'process_open_fds',
    help: 'Number of open file descriptors.',
    registers: [registry],
    async collect() {
      const fds = await readdir('/proc/self/fd').catch(() => undefined);
      // Less the descriptor the listing itself used.
      if (fds) this.set(fds.length - 1);
    },
  });
}

/**
 * A counter on the hot path: `inc()` adds to a plain number, and the sum goes into its prom-client
 * counter when /metrics is read (the counter's `collect`). prom-client's own `inc` hashes the
 * labels and checks its arguments on every call: a few percent of a node's CPU per message.
 */
export class Tally {
  private n = 0;

  constructor(private readonly into: { inc(value: number): void }) {}

  inc(): void {
    this.n++;
  }

  flush(): void {
    if (this.n === 0) return;
    this.into.inc(this.n);
    this.n = 0;
  }
}

/** A label-less counter counted through a Tally. */
function tally(config: CounterConfiguration<string>): Tally {
  // The counter's collect hook needs the tally made around the counter.
  const made: { tally?: Tally } = {};
  const counter = new Counter({ ...config, collect: () => made.tally?.flush() });
  return (made.tally = new Tally(counter));
}

function tallyOf(cache: Map<string, Tally>, key: string, child: () => Counter.Internal): Tally {
  let t = cache.get(key);
  if (!t) cache.set(key, (t = new Tally(child())));
  return t;
}

function flushAll(tallies: Map<string, Tally>): void {
  for (const t of tallies.values()) t.flush();
}
