import type { ChannelModel } from 'amqplib';
import type { NodeId } from '../ids.js';
import type { EnvelopeRecord } from '../relay/relay-envelope.js';
import { decodeDelivery, errorMessage, type BrokerLog } from './amqp-util.js';
import { QueueInUseError, type MessageHandler } from './broker.js';
import type { RabbitTopology } from './rabbit-topology.js';

/** How long a queue found empty is watched for a message still on its way in. */
const SETTLE_MS = 100;

/**
 * Takes over what is left in `nodeId`'s queue (SPEC §8): first the queue loses its bindings, so
 * nothing new is routed into it (mandatory publishes to that node now come back unroutable), then
 * every message in it is handed to `onMessage` and acked after that resolved. The empty, unbound
 * queue is left to expire (`x-expires`) or to its node, which binds it again when it comes back.
 * Not deleted: a quorum queue deleted while one of its members is down and declared again under
 * the same name (the node restarting) keeps a stale replica on that member, which crashes every
 * new leader once the member is back (RabbitMQ 3.10: the queue then refused every declare and
 * publish for minutes in a soak).
 *
 * A queue with a consumer belongs to a node that is alive after all (taken for dead while its
 * liveness lapsed): it is left alone and `QueueInUseError` thrown, so the caller waits for that
 * node to show up again or its consumer to go. Unless `own` (this node draining, its consumer
 * cancelled a moment ago). Resolves with how many messages were handed over; 0 when the queue
 * does not exist. If `onMessage` rejects, the message goes back to the queue and the promise
 * rejects.
 */
export async function adoptNodeQueue(
  conn: ChannelModel,
  topology: RabbitTopology,
  nodeId: NodeId,
  onMessage: MessageHandler,
  log: BrokerLog,
  own = false,
): Promise<number> {
  const t = topology;
  const queue = t.nodeQueue(nodeId);
  const ch = await conn.createChannel();
  ch.on('error', () => undefined); // a missing queue closes this channel; nothing else uses it
  let handed = 0;
  try {
    const found = await ch.checkQueue(queue).catch(() => undefined);
    if (found === undefined) return 0;
    if (found.consumerCount > 0 && !own) throw new QueueInUseError(queue);
    await ch.unbindQueue(queue, t.relayExchange, t.nodeRoutingKey(nodeId));
    await ch.deleteExchange(t.nodeBroadcastExchange(nodeId));
    for (;;) {
      const raw = await ch.get(queue, { noAck: false });
      if (raw === false) {
        // Unbound, so nothing new is routed here; a publish routed just before may still be on its
        // way into a replicated queue: empty twice, a moment apart, before it is left.
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
        if ((await ch.checkQueue(queue)).messageCount === 0) break;
        continue;
      }
      let records: EnvelopeRecord[];
      let handedHere = 0;
      try {
        records = decodeDelivery(raw);
      } catch (err) {
        log.error({ err: errorMessage(err), queue }, 'dropping undecodable message from an adopted queue');
        ch.nack(raw, false, false);
        continue;
      }
      try {
        // A batch goes back whole if one record fails: the ones handed over already come again (at least once).
        for (const r of records) {
          if ('msg' in r) {
            await onMessage(r.msg);
            handedHere++;
          } else
            log.error(
              { err: r.error.message, messageId: r.id, queue },
              'dropping an undecodable record from an adopted queue',
            );
        }
      } catch (err) {
        ch.nack(raw, false, true);
        throw err;
      }
      ch.ack(raw);
      handed += handedHere;
    }
    // A consumer that came while the queue was emptied (its node alive after all): deleted, so its
    // consumer is cancelled and the node declares and binds its queue again at once.
    if ((await ch.checkQueue(queue)).consumerCount > 0) await ch.deleteQueue(queue);
    log.info({ queue, messages: handed }, 'adopted a node queue');
    return handed;
  } finally {
    await ch.close().catch(() => undefined);
  }
}
