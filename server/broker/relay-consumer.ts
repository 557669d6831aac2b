import type { Channel, ConsumeMessage } from 'amqplib';
import type { NodeId } from '../ids.js';
import type { EnvelopeRecord } from '../relay/relay-envelope.js';
import type { RelayMessage } from '../relay/relay-message.js';
import type { AckBatcher } from './ack-batcher.js';
import { decodeDelivery, errorMessage, safely, type BrokerLog } from './amqp-util.js';
import type { MessageHandler } from './broker.js';

export interface RelayConsumerOptions {
  readonly log: BrokerLog;
  /** Attempts at one record whose handler keeps rejecting before it is dropped (logged). */
  readonly maxDeliveryAttempts: number;
  /** True once the broker closes: a failing record is not retried; its AMQP message goes back to the queue. */
  readonly closing: () => boolean;
}

/** The broker closes while a record still fails: the whole AMQP message is requeued. */
class GiveBack extends Error {}

/**
 * Hands the records of a node queue's deliveries (one message, or a batch) to the handler, in
 * order. Deliveries run one at a time per origin node (so per-sender order holds at the handler),
 * in parallel across origins. A delivery is acked once every record in it is settled: handled, or
 * given up on. A record whose handler rejects is tried again after a pause (a Redis hiccup passes)
 * up to `maxDeliveryAttempts`, then dropped with an error log; its batch-mates are handled either
 * way, and a node that dies meanwhile leaves the whole delivery to come again (at least once).
 */
export class RelayConsumer {
  /** Last handler promise per origin node: the next delivery from that origin runs after it. */
  private readonly chains = new Map<NodeId, Promise<void>>();

  constructor(
    private readonly handler: MessageHandler,
    private readonly options: RelayConsumerOptions,
  ) {}

  /** A delivery's handler is still running. */
  get busy(): boolean {
    return this.chains.size > 0;
  }

  /** Every handler running now has finished. Never rejects. */
  idle(): Promise<unknown> {
    return Promise.all([...this.chains.values()]);
  }

  /** One delivery of `ch`'s consumer; `acks` batches the acks of that channel. */
  deliver(ch: Channel, acks: AckBatcher<ConsumeMessage>, raw: ConsumeMessage): void {
    const entry = acks.delivered(raw);
    let records: EnvelopeRecord[];
    try {
      records = decodeDelivery(raw);
    } catch (err) {
      this.options.log.error(
        { err: errorMessage(err), messageId: raw.properties.messageId as unknown },
        'dropping undecodable message',
      );
      acks.settled(entry);
      safely(() => ch.nack(raw, false, false));
      return;
    }
    const first = records.find((r): r is { id: string; msg: RelayMessage } => 'msg' in r);
    const origin = first?.msg.origin ?? '';
    const run = (): Promise<void> | undefined => {
      const pending = this.handleFrom(records, 0);
      if (pending === undefined) {
        acks.done(entry);
        return undefined;
      }
      return pending.then(
        () => acks.done(entry),
        () => {
          acks.settled(entry);
          safely(() => ch.nack(raw, false, true));
        },
      );
    };
    const prev = this.chains.get(origin);
    // Nothing of this origin is running: handle it now, and when that finished synchronously
    // (delivered to local sessions), no promise is made at all.
    const next = prev === undefined ? run() : prev.then(run);
    if (next === undefined) return;
    this.chains.set(origin, next);
    void next.then(() => {
      if (this.chains.get(origin) === next) this.chains.delete(origin);
    });
  }

  /**
   * Handles `records` from index `i` on; undefined when all of them finished synchronously, else a
   * promise that resolves once all are settled and rejects (GiveBack) only when the broker closes
   * while one still fails.
   */
  private handleFrom(records: readonly EnvelopeRecord[], i: number): Promise<void> | undefined {
    for (; i < records.length; i++) {
      const r = records[i] as EnvelopeRecord;
      if (!('msg' in r)) {
        this.options.log.error({ err: r.error.message, messageId: r.id }, 'dropping an undecodable record');
        continue;
      }
      let result: Promise<void> | void;
      try {
        result = this.handler(r.msg);
      } catch (err) {
        result = Promise.reject(err);
      }
      if (result !== undefined) {
        const at = i;
        return result.then(
          () => this.handleFrom(records, at + 1),
          (err: unknown) => this.retry(r.msg, err).then(() => this.handleFrom(records, at + 1)),
        );
      }
    }
    return undefined;
  }

  /** The handler rejected `msg` once: tries again after growing pauses, then gives up on it. */
  private async retry(msg: RelayMessage, firstError: unknown): Promise<void> {
    const { log, maxDeliveryAttempts, closing } = this.options;
    let err = firstError;
    for (let attempts = 1; ; attempts++) {
      if (attempts >= maxDeliveryAttempts) {
        log.error(
          { err: errorMessage(err), messageId: msg.id, destination: msg.destination, attempts },
          'handler keeps failing, dropping message',
        );
        return;
      }
      if (closing()) throw new GiveBack();
      log.warn({ err: errorMessage(err), messageId: msg.id, attempts }, 'handler failed, trying the message again');
      // A pause, so a transient failure (Redis hiccup) is not retried in a tight loop.
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempts)).unref());
      try {
        await this.handler(msg);
        return;
      } catch (e) {
        err = e;
      }
    }
  }
}
