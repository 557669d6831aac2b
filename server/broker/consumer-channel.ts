import type { Channel, ChannelModel, Options } from 'amqplib';
import type { NodeId } from '../ids.js';
import { errorMessage, type BrokerLog } from './amqp-util.js';
import type { BroadcastBindings } from './broadcast-bindings.js';
import { declareNodeTopology, type RabbitTopology } from './rabbit-topology.js';

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
