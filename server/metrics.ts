import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric the node exposes at /metrics. One registry per node, so several nodes can share a process (tests). */
export class Metrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({ name: 'stomp_connections', help: 'Open WebSocket connections', registers: [this.registry] });
  readonly sessions = new Gauge({ name: 'stomp_sessions', help: 'Connected STOMP sessions', registers: [this.registry] });
  readonly subscriptions = new Gauge({ name: 'stomp_subscriptions', help: 'Active subscriptions', registers: [this.registry] });
  readonly framesIn = new Counter({ name: 'stomp_frames_in_total', help: 'Frames received, by command', labelNames: ['command'] as const, registers: [this.registry] });
  readonly framesOut = new Counter({ name: 'stomp_frames_out_total', help: 'Frames sent, by command', labelNames: ['command'] as const, registers: [this.registry] });
  readonly relayPublished = new Counter({ name: 'stomp_relay_published_total', help: 'Messages published to another node, by target node', labelNames: ['node'] as const, registers: [this.registry] });
  readonly relayConsumed = new Counter({ name: 'stomp_relay_consumed_total', help: 'Messages consumed from the broker, by origin node and kind', labelNames: ['origin', 'kind'] as const, registers: [this.registry] });
  readonly broadcastPublished = new Counter({ name: 'stomp_broadcast_published_total', help: 'Broadcast messages published to the broker', registers: [this.registry] });
  readonly localShortCircuits = new Counter({ name: 'stomp_local_deliveries_total', help: 'User messages delivered on the accepting node with no broker hop', registers: [this.registry] });
  readonly deliveries = new Counter({ name: 'stomp_deliveries_total', help: 'MESSAGE frames written to sessions', registers: [this.registry] });
  readonly offlineStored = new Counter({ name: 'stomp_offline_stored_total', help: 'User messages stored for an offline user', registers: [this.registry] });
  readonly offlineDropped = new Counter({ name: 'stomp_offline_dropped_total', help: 'Offline messages dropped, by reason (bound, expired)', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly offlineReplayed = new Counter({ name: 'stomp_offline_replayed_total', help: 'Stored messages delivered on subscribe', registers: [this.registry] });
  readonly duplicatesSuppressed = new Counter({ name: 'stomp_duplicates_suppressed_total', help: 'Messages that reached a subscription twice (after a failure) and were written once', registers: [this.registry] });
  readonly deadLettered = new Counter({ name: 'stomp_dead_lettered_total', help: 'Messages dropped after too many NACKs', registers: [this.registry] });
  readonly errors = new Counter({ name: 'stomp_errors_total', help: 'Errors, by code', labelNames: ['code'] as const, registers: [this.registry] });
  readonly deliveryLatency = new Histogram({
    name: 'stomp_delivery_latency_seconds',
    help: 'From accepting a message to writing it to a session',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  private readonly inByCommand = new Map<string, Counter.Internal>();
  private readonly outByCommand = new Map<string, Counter.Internal>();

  /** Counts a frame in; the labelled child is looked up once per command (hot path). */
  frameIn(command: string): void {
    child(this.framesIn, this.inByCommand, command).inc();
  }

  frameOut(command: string): void {
    child(this.framesOut, this.outByCommand, command).inc();
  }

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }
}

function child(counter: Counter<'command'>, cache: Map<string, Counter.Internal>, command: string): Counter.Internal {
  let c = cache.get(command);
  if (!c) cache.set(command, (c = counter.labels(command)));
  return c;
}
