import type { Channel, ChannelModel, ConsumeMessage, Options } from 'amqplib';
import type { NodeId } from '../ids.js';
import { AckBatcher } from './ack-batcher.js';
import { errorMessage, safely, type BrokerLog } from './amqp-util.js';
import type { BroadcastBindings } from './broadcast-bindings.js';
import { DeliveryWatchdog } from './delivery-watchdog.js';
import { declareNodeTopology, type RabbitTopology } from './rabbit-topology.js';
import type { RelayConsumer } from './relay-consumer.js';

export interface ConsumerChannelOptions {
  readonly topology: RabbitTopology;
  readonly nodeId: NodeId;
  readonly queueOptions: Options.AssertQueue;
  /** The first connection of this process: the node's earlier bindings are dropped (declareNodeTopology). */
  readonly firstRun: boolean;
  /** Awaited before the queue is declared (see RabbitBrokerOptions.beforeDeclare). */
  readonly beforeDeclare: (() => Promise<void>) | undefined;
  readonly bindings: BroadcastBindings;
  readonly prefetch: number;
  readonly log: BrokerLog;
  readonly onClose: () => void;
}

/** The channel that declares the node's topology, restores its broadcast bindings and will consume its queue. */
export async function openConsumerChannel(conn: ChannelModel, o: ConsumerChannelOptions): Promise<Channel> {
  const sub = await conn.createChannel();
  sub.on('close', o.onClose);
  sub.on('error', (err: Error) => o.log.warn({ err: errorMessage(err) }, 'RabbitMQ consumer channel error'));
  await o.beforeDeclare?.();
  await declareNodeTopology(sub, o.topology, o.nodeId, o.queueOptions, o.firstRun);
  await o.bindings.restore(sub);
  await sub.prefetch(o.prefetch);
  return sub;
}

/**
 * Consumes the node queue `queue` on `sub` into `consumer`. `onLost` when RabbitMQ cancels the
 * consumer (queue deleted) or stops feeding it (DeliveryWatchdog): reconnecting declares the queue
 * and consumes afresh. Stop the returned watchdog when the consumer ends otherwise.
 */
export async function consumeNodeQueue(
  sub: Channel,
  queue: string,
  consumer: RelayConsumer,
  o: {
    readonly prefetch: number;
    readonly log: BrokerLog;
    readonly stallCheckMs?: number | undefined;
    readonly onLost: (reason: string) => void;
  },
): Promise<{ consumerTag: string; watchdog: DeliveryWatchdog; acks: AckBatcher<ConsumeMessage> }> {
  // At most a quarter of the prefetch window waits behind a slow handler (see AckBatcher).
  const acks = new AckBatcher<ConsumeMessage>(
    { ack: (m, allUpTo) => safely(() => sub.ack(m, allUpTo)) }, // a closed channel: RabbitMQ redelivers
    Math.max(1, Math.floor(o.prefetch / 4)),
  );
  const watchdog = new DeliveryWatchdog(
    () => sub.checkQueue(queue).then((q) => q.messageCount),
    () => consumer.busy,
    (ready) => {
      o.log.warn({ queue, ready }, 'RabbitMQ stopped delivering to this node; reconnecting');
      o.onLost('consumer stalled');
    },
    o.stallCheckMs,
  );
  const onDelivery = (m: ConsumeMessage | null): void => {
    if (m !== null) {
      watchdog.delivered();
      return consumer.deliver(sub, acks, m);
    }
    watchdog.stop();
    o.log.warn({ queue }, 'RabbitMQ cancelled the consumer');
    o.onLost('consumer cancelled');
  };
  try {
    const { consumerTag } = await sub.consume(queue, onDelivery, { noAck: false });
    return { consumerTag, watchdog, acks };
  } catch (err) {
    watchdog.stop();
    throw err;
  }
}
