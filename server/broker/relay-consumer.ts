import type { Channel, ConsumeMessage } from 'amqplib';
import type { NodeId } from '../ids.js';
import type { RelayMessage } from '../relay/relay-message.js';
import type { AckBatcher, AckHandle } from './ack-batcher.js';
import { decodeDelivery, errorMessage, safely, type BrokerLog } from './amqp-util.js';
import type { MessageHandler } from './broker.js';

/** Bounds the per-message attempt counters of failing handlers. */
const MAX_TRACKED_FAILURES = 10_000;

export interface RelayConsumerOptions {
  readonly log: BrokerLog;
  /** Deliveries of one message whose handler rejected before it is dropped (logged). */
  readonly maxDeliveryAttempts: number;
  /** True once the broker closes: a failed message is requeued without the pause. */
  readonly closing: () => boolean;
}

/**
 * Hands the deliveries of a node queue to the handler. Handlers run one at a time per origin
 * node (so per-sender order holds at the handler), in parallel across origins. Ack after the
 * handler resolved; on rejection, nack with requeue (after a short pause) up to
 * `maxDeliveryAttempts`, then drop with an error log.
 */
export class RelayConsumer {
  /** Last handler promise per origin node: the next message from that origin runs after it. */
  private readonly chains = new Map<NodeId, Promise<void>>();
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly handler: MessageHandler,
    private readonly options: RelayConsumerOptions,
  ) {}

  /** Every handler running now has finished. Never rejects. */
  idle(): Promise<unknown> {
    return Promise.all([...this.chains.values()]);
  }

  /** One delivery of `ch`'s consumer; `acks` batches the acks of that channel. */
  deliver(ch: Channel, acks: AckBatcher<ConsumeMessage>, raw: ConsumeMessage): void {
    const entry = acks.delivered(raw);
    let msg: RelayMessage;
    try {
      msg = decodeDelivery(raw);
    } catch (err) {
      this.options.log.error({ err: errorMessage(err), messageId: raw.properties.messageId as unknown }, 'dropping undecodable message');
      acks.settled(entry);
      safely(() => ch.nack(raw, false, false));
      return;
    }
    const origin = msg.origin;
    const prev = this.chains.get(origin);
    // Nothing of this origin is running: handle it now, and when that finished synchronously
    // (delivered to local sessions), no promise is made at all.
    const next = prev === undefined ? this.handle(ch, acks, entry, raw, msg) : prev.then(() => this.handle(ch, acks, entry, raw, msg));
    if (next === undefined) return;
    this.chains.set(origin, next);
    void next.then(() => {
      if (this.chains.get(origin) === next) this.chains.delete(origin);
    });
  }

  /** Runs the handler; returns undefined when it finished synchronously. Never rejects. */
  private handle(ch: Channel, acks: AckBatcher<ConsumeMessage>, entry: AckHandle<ConsumeMessage>, raw: ConsumeMessage, msg: RelayMessage): Promise<void> | undefined {
    let result: Promise<void> | void;
    try {
      result = this.handler(msg);
    } catch (err) {
      return this.failed(ch, acks, entry, raw, msg, err);
    }
    if (result === undefined) {
      this.handled(acks, entry, msg);
      return undefined;
    }
    return result.then(
      () => this.handled(acks, entry, msg),
      (err: unknown) => this.failed(ch, acks, entry, raw, msg, err),
    );
  }

  private handled(acks: AckBatcher<ConsumeMessage>, entry: AckHandle<ConsumeMessage>, msg: RelayMessage): void {
    if (this.failures.size > 0) this.failures.delete(msg.id);
    // The channel may be gone (reconnected) by the time the batch goes: then RabbitMQ redelivers it, at least once.
    acks.done(entry);
  }

  private async failed(ch: Channel, acks: AckBatcher<ConsumeMessage>, entry: AckHandle<ConsumeMessage>, raw: ConsumeMessage, msg: RelayMessage, err: unknown): Promise<void> {
    const { log, maxDeliveryAttempts } = this.options;
    const attempts = (this.failures.get(msg.id) ?? 0) + 1;
    if (attempts >= maxDeliveryAttempts) {
      this.failures.delete(msg.id);
      log.error({ err: errorMessage(err), messageId: msg.id, destination: msg.destination, attempts }, 'handler keeps failing, dropping message');
      acks.settled(entry);
      safely(() => ch.nack(raw, false, false));
      return;
    }
    this.failures.delete(msg.id); // re-insert: Map order is age order for the eviction below
    this.failures.set(msg.id, attempts);
    if (this.failures.size > MAX_TRACKED_FAILURES) {
      const oldest = this.failures.keys().next();
      if (!oldest.done) this.failures.delete(oldest.value);
    }
    log.warn({ err: errorMessage(err), messageId: msg.id, attempts }, 'handler failed, requeueing message');
    // A pause, so a transient failure (Redis hiccup) is not retried in a tight loop.
    if (!this.options.closing()) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempts)).unref());
    acks.settled(entry);
    safely(() => ch.nack(raw, false, true));
  }
}
