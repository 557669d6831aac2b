import type { NodeId } from '../ids.js';
import type { RelayPressure } from '../relay/relay-pressure.js';
import type { BrokerLog } from './amqp-util.js';
import type { BatchBounds } from './relay-batcher.js';

/** What a RabbitBroker is built with; only url, nodeId and namePrefix are required. */
export interface RabbitBrokerOptions {
  /**
   * AMQP URL, e.g. `amqp://guest:guest@127.0.0.1:5672`, or the members of a RabbitMQ cluster: one is
   * used, the next when it is lost or unreachable. `heartbeat=10` is added unless a URL sets one.
   */
  readonly url: string | readonly string[];
  /** The node queue's type: quorum (replicated over the cluster's members; default) or classic. Must match an existing queue. */
  readonly queueType?: 'quorum' | 'classic';
  /** This node's id: its queue is `{namePrefix}node.{nodeId}`. 1-64 of A-Z a-z 0-9 . _ - */
  readonly nodeId: NodeId;
  /** Prefix of every exchange and queue name, e.g. `stomp.` (see rabbit-topology.ts). */
  readonly namePrefix: string;
  /** Deliveries in flight to this node's handler (AMQP prefetch). Default 256. */
  readonly prefetch?: number;
  /** Default: no logging. */
  readonly log?: BrokerLog;
  /** `x-expires` of the node queue. Default 3,600,000 (1 h). Must match an existing queue's value. */
  readonly nodeQueueExpiresMs?: number;
  /** Relay messages waiting for RabbitMQ (unconfirmed or buffered): half of it pauses the senders (`pressure`); while disconnected, more are refused. Default 10,000. */
  readonly maxPendingPublishes?: number;
  /** First reconnect delay. Default 100 ms; doubles per attempt, with ±20 % jitter. */
  readonly reconnectMinDelayMs?: number;
  /** Reconnect delay cap. Default 30,000 ms. */
  readonly reconnectMaxDelayMs?: number;
  /** Deliveries of one message whose handler rejected before it is dropped (logged). Default 5. */
  readonly maxDeliveryAttempts?: number;
  /** How long `close()` waits for running handlers and outstanding confirms. Default 5,000 ms. */
  readonly closeTimeoutMs?: number;
  /** Persistent AMQP messages (survive a RabbitMQ restart). Default true; false: transient, still confirmed. */
  readonly persistent?: boolean;
  /** Bounds of one batch of the node hop. Default 512 messages, 256 KiB. */
  readonly batch?: BatchBounds;
  /**
   * Called after each connect: what was meant for this node while it was away (or starting) may
   * have gone to its users' offline inboxes (its queue adopted by a node that took it for dead, or
   * an inbox nudge missed), so the node's sessions take their inboxes again.
   */
  readonly onConnected?: () => void;
  /**
   * Resolves when the node may declare its queue; awaited before each declaration. A node taken
   * for dead waits here while another node takes its old queue over. Default: at once.
   */
  readonly beforeDeclare?: () => Promise<void>;
  /** Called with the number of relay messages in each AMQP message published (a metric). */
  readonly onBatch?: (records: number) => void;
  /** Told of the publish buffer's load, for flow control. Default: none. */
  readonly pressure?: RelayPressure;
  /** How often a consumer without deliveries is checked for a stall (DeliveryWatchdog). @default STALL_CHECK_MS */
  readonly stallCheckMs?: number;
}

export const DEFAULT_BATCH: BatchBounds = { maxRecords: 512, maxBytes: 256 * 1024 };

/** The batch bounds of `options`: a batch never holds more than the publish buffer could take while disconnected. */
export function batchBounds(options: RabbitBrokerOptions, maxPending: number): BatchBounds {
  const bounds = options.batch ?? DEFAULT_BATCH;
  return {
    maxRecords: Math.max(1, Math.min(bounds.maxRecords, maxPending)),
    maxBytes: bounds.maxBytes,
    maxInflight: bounds.maxInflight ?? 1,
  };
}

/** A TCP connect that hangs (black-holed host) counts as a failed attempt after this. */
export const CONNECT_TIMEOUT_MS = 10_000;
